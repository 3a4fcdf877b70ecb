sd_unit_test(test_chain SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_chain.c LIBS sd_daemon)
