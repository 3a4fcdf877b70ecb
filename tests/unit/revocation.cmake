sd_unit_test(test_revocation SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_revocation.c LIBS sd_daemon)
