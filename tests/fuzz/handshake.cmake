# The handshake fuzz target (clang only; WSTOOL_FUZZ=ON). Included from the tests' CMake files:
#   include(${PROJECT_SOURCE_DIR}/tests/fuzz/handshake.cmake)
#   CXX=clang++ cmake -S . -B build-fuzz -DWSTOOL_FUZZ=ON && cmake --build build-fuzz --target handshake_fuzz
#   build-fuzz/tests/.../handshake_fuzz -max_total_time=60 NEW_DIR tests/fuzz/corpus/handshake_fuzz
# (libFuzzer adds new inputs to the first directory: keep it outside the repository.)
# The handshake sources are compiled into the target so they carry the fuzzer's coverage
# instrumentation (wscore is built without it, and would drag in the engine).
include_guard(GLOBAL)
if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "WSTOOL_FUZZ needs clang (libFuzzer): configure with CXX=clang++")
endif()

add_executable(handshake_fuzz
  ${CMAKE_CURRENT_LIST_DIR}/handshake_fuzz.cpp
  ${PROJECT_SOURCE_DIR}/lib/handshake.cpp)
target_include_directories(handshake_fuzz PRIVATE ${PROJECT_SOURCE_DIR})
target_compile_options(handshake_fuzz PRIVATE
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -g)
target_link_options(handshake_fuzz PRIVATE -fsanitize=fuzzer,address,undefined)
target_link_libraries(handshake_fuzz PRIVATE wstool_asio wstool_warnings OpenSSL::Crypto)
# Replays the committed corpus, so a regression there fails ctest in a fuzz build.
add_test(NAME handshake_fuzz_corpus
  COMMAND handshake_fuzz -runs=0 ${CMAKE_CURRENT_LIST_DIR}/corpus/handshake_fuzz)
