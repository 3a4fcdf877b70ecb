sd_unit_test(test_pkcs11 SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_pkcs11.c LIBS sd_pkcs11)
