sd_unit_test(test_authenticode SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_authenticode.c
             LIBS sd_authenticode sd_common OpenSSL::Crypto)
