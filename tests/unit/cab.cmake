sd_unit_test(test_cab SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_cab.c LIBS sd_cab sd_common)
