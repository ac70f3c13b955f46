# One helper declares every library, executable and test the same way (as Abseil's
# absl_cc_library): repository root on the include path, C++20, our warnings as errors on our
# targets only, sanitizers on LibTorch-free targets when TURNWISE_SANITIZE is on.

set(TURNWISE_WARNINGS -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Werror)

function(_turnwise_common target uses_torch)
  target_compile_features(${target} PUBLIC cxx_std_20)
  target_compile_options(${target} PRIVATE ${TURNWISE_WARNINGS})
  if(TURNWISE_SANITIZE AND NOT uses_torch)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined -fno-omit-frame-pointer
                                             -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# LibTorch's headers take most of a torch translation unit's compile time on 2 cores: each torch
# library (agents, training) precompiles them once for its many sources. Test executables have
# one or two sources each and other macros (GCC would reject a shared header), so they parse the
# headers themselves.
function(_turnwise_torch_pch target uses_torch)
  if(uses_torch AND target MATCHES "^turnwise_")
    target_precompile_headers(${target} PRIVATE <torch/torch.h>)
  endif()
endfunction()

# turnwise_library(NAME core SRCS a.cc b.cc DEPS Threads::Threads [PUBLIC_DEPS x] [TORCH])
# Declares static library turnwise_<NAME> with alias turnwise::<NAME>.
function(turnwise_library)
  cmake_parse_arguments(T "TORCH" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  set(target turnwise_${T_NAME})
  add_library(${target} STATIC ${T_SRCS})
  add_library(turnwise::${T_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_link_libraries(${target} PUBLIC ${T_PUBLIC_DEPS} PRIVATE ${T_DEPS})
  _turnwise_common(${target} ${T_TORCH})
  _turnwise_torch_pch(${target} ${T_TORCH})
  if(TURNWISE_SANITIZE AND NOT T_TORCH)
    # Consumers of a sanitized static library must link the runtime too.
    target_link_options(${target} INTERFACE -fsanitize=address,undefined)
  endif()
endfunction()

# turnwise_test(NAME store_test SRCS a_test.cc DEPS turnwise::storage LABELS unit [TORCH]
#               [TIMEOUT s])
# Each test binary is discovered at test time (PRE_TEST), so a slow-loading binary never breaks
# the build, and every discovered test carries the given ctest labels.
function(turnwise_test)
  if(NOT TURNWISE_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(T "TORCH" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_executable(${T_NAME} ${T_SRCS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest_main GTest::gmock)
  target_include_directories(${T_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  _turnwise_common(${T_NAME} ${T_TORCH})
  _turnwise_torch_pch(${T_NAME} ${T_TORCH})
  target_compile_definitions(${T_NAME} PRIVATE
    TURNWISE_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    TURNWISE_BINARY="$<TARGET_FILE:turnwise>")
  gtest_discover_tests(${T_NAME}
    DISCOVERY_MODE PRE_TEST
    DISCOVERY_TIMEOUT 120
    PROPERTIES LABELS "${T_LABELS}" TIMEOUT ${T_TIMEOUT})
endfunction()
