# Unit tests for the wire protocol (proto/) and the bounded buffers it uses (common/buf.c).
sd_unit_test(test_buf SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_buf.c LIBS sd_common)
sd_unit_test(test_proto SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_proto.c LIBS sd_proto sd_common)
# The test compares the worked examples of docs/PROTOCOL.md with the encoder's output.
target_compile_definitions(test_proto PRIVATE SD_PROTOCOL_MD="${CMAKE_SOURCE_DIR}/docs/PROTOCOL.md")
