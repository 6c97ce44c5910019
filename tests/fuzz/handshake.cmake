# The handshake fuzz target. Included by tests/fuzz/CMakeLists.txt (built only under WSTOOL_FUZZ,
# with clang): include(${CMAKE_CURRENT_LIST_DIR}/handshake.cmake)
# Run: handshake_fuzz -max_total_time=60 tests/fuzz/corpus/handshake_fuzz
add_executable(handshake_fuzz ${CMAKE_CURRENT_LIST_DIR}/handshake_fuzz.cpp)
target_link_libraries(handshake_fuzz PRIVATE wscore wstool_warnings)
target_compile_options(handshake_fuzz PRIVATE -fsanitize=fuzzer)
target_link_options(handshake_fuzz PRIVATE -fsanitize=fuzzer)
