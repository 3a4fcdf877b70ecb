sd_unit_test(test_timestamp SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_timestamp.c
             LIBS sd_timestamp sd_authenticode sd_common OpenSSL::Crypto)
