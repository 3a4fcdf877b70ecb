# The audit log (signer/audit*.c, common/audit_*.c): library unit tests, and
# audit_writer, the helper that tests/integration/test_audit_tool.sh uses to
# write logs through the library without a token.
sd_unit_test(test_audit SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_audit.c
             LIBS sd_daemon sd_common OpenSSL::Crypto Threads::Threads)
add_executable(audit_writer ${CMAKE_SOURCE_DIR}/tests/unit/audit_writer.c)
target_link_libraries(audit_writer PRIVATE sd_daemon sd_common OpenSSL::Crypto)
