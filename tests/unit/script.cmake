sd_unit_test(test_script SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_script.c
             LIBS sd_script sd_authenticode sd_common OpenSSL::Crypto)
