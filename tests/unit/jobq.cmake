sd_unit_test(test_jobq SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_jobq.c LIBS sd_daemon)
