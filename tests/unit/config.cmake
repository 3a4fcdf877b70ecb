sd_unit_test(test_config
  SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_config.c
  LIBS sd_config)
