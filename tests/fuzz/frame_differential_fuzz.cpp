// Fuzzes the frame decoder against websocketpp's hybi13 processor (see tests/unit/frame_oracle.h):
// both must agree on the verdict and the unmasked messages wherever both define the outcome.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "tests/unit/frame_oracle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The first byte picks the role and how websocketpp is fed; the rest is the wire.
  if (size == 0) return 0;
  const auto role = (data[0] & 1) != 0 ? wstool::ws::Role::kServer : wstool::ws::Role::kClient;
  const std::size_t chunk = data[0] >> 1;  // 0: all at once
  const std::vector<std::uint8_t> wire(data + 1, data + size);
  const auto ours = wstool::oracle::run_ours(wire.data(), wire.size(), role);
  if (ours.end == wstool::oracle::End::kUndefined) return 0;
  const auto theirs = wstool::oracle::run_websocketpp(wire, role, chunk);
  if (!(ours == theirs)) std::abort();
  return 0;
}
