# The fault-injecting PKCS#11 shim (tests/p11shim): its grammar, and its faults on SoftHSM2.
# The grammar is tested by linking shim_rules.c directly; the faults through the built module.
sd_unit_test(test_p11shim
             SOURCES ${CMAKE_SOURCE_DIR}/tests/unit/test_p11shim.c
                     ${CMAKE_SOURCE_DIR}/tests/p11shim/shim_rules.c
             LIBS ${CMAKE_DL_LIBS} Threads::Threads)
target_compile_definitions(test_p11shim PRIVATE P11SHIM_PATH="$<TARGET_FILE:p11shim>")
add_dependencies(test_p11shim p11shim)
# 77: softhsm2-util or the SoftHSM2 module is not installed.
set_tests_properties(unit.test_p11shim PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
