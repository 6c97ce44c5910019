// Hand-built WebSocket frames for tests that play a peer over a raw socket: encoded with our
// codec's header writer, masked with a fixed key when asked (a test needs reproducible bytes,
// not unpredictable keys). Header-only: the tests that use it link lib/ already.
#pragma once

#include <cstdint>
#include <string>

#include "lib/frame.h"

namespace wstool::test {

inline constexpr std::uint32_t kTestMaskKey = 0x0badf00d;

// One frame: unmasked as a server sends it, masked as a client does.
inline std::string ws_frame(std::uint8_t opcode, const std::string& payload, bool masked, bool fin = true) {
  ws::FrameHeader h;
  h.fin = fin;
  h.opcode = opcode;
  h.masked = masked;
  h.mask_key = kTestMaskKey;
  h.payload_length = payload.size();
  std::uint8_t header[ws::kMaxFrameHeaderBytes];
  const std::size_t n = ws::encode_header(header, h);
  std::string body = payload;
  if (masked) ws::apply_mask(reinterpret_cast<std::uint8_t*>(body.data()), body.size(), h.mask_key, 0);
  return std::string(reinterpret_cast<const char*>(header), n) + body;
}

// A close frame's payload: the code in network order, then the reason.
inline std::string close_payload(std::uint16_t code, const std::string& reason) {
  return std::string{static_cast<char>(code >> 8), static_cast<char>(code & 0xFF)} + reason;
}

}  // namespace wstool::test
