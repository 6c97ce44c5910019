// The RFC 6455 frame codec: pure functions from bytes to frame headers and back, masking, and
// the close-frame rules. No I/O and no allocation; the connection engine and the tests share it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace wstool::ws {

enum class Role : std::uint8_t { kServer, kClient };

// Opcodes are kept as raw 4-bit values in headers because a testing tool must be able to
// carry (and send) reserved ones; these are the defined ones.
namespace opcode {
constexpr std::uint8_t kContinuation = 0x0;
constexpr std::uint8_t kText = 0x1;
constexpr std::uint8_t kBinary = 0x2;
constexpr std::uint8_t kClose = 0x8;
constexpr std::uint8_t kPing = 0x9;
constexpr std::uint8_t kPong = 0xA;
}  // namespace opcode

constexpr bool is_control_opcode(std::uint8_t op) { return (op & 0x8) != 0; }
constexpr bool is_defined_opcode(std::uint8_t op) {
  return op <= opcode::kBinary || (op >= opcode::kClose && op <= opcode::kPong);
}
// A short name for displays and logs: "text", "binary", "cont", "close", "ping", "pong", "op3"...
std::string_view opcode_name(std::uint8_t op);

constexpr std::uint8_t kRsv1 = 0x4;  // permessage-deflate's "compressed" bit
constexpr std::uint8_t kRsv2 = 0x2;
constexpr std::uint8_t kRsv3 = 0x1;

constexpr std::size_t kMaxFrameHeaderBytes = 14;
constexpr std::size_t kMaxControlPayloadBytes = 125;

// The header's wire layout (RFC 6455 5.2), for the codec and for the session's inline fast
// path for common headers: byte 0 holds FIN, RSV1-3 and the opcode; byte 1 the MASK bit and
// the 7-bit length, which is the length itself up to kMaxLength7 and otherwise a marker for a
// 16- or 64-bit length that follows; then the 4-byte masking key when MASK is set.
constexpr std::uint8_t kFinBit = 0x80;
constexpr std::uint8_t kRsvBits = 0x07;  // after shifting byte 0 right by kRsvShift
constexpr unsigned kRsvShift = 4;
constexpr std::uint8_t kOpcodeBits = 0x0F;
constexpr std::uint8_t kMaskBit = 0x80;
constexpr std::uint8_t kLength7Bits = 0x7F;
constexpr std::uint8_t kLength16Marker = 126;
constexpr std::uint8_t kLength64Marker = 127;
constexpr std::size_t kMaxLength7 = 125;
constexpr std::size_t kMaxLength16 = 0xFFFF;
constexpr std::size_t kBaseHeaderBytes = 2;
constexpr std::size_t kLength16Bytes = 2;
constexpr std::size_t kLength64Bytes = 8;
constexpr std::size_t kMaskKeyBytes = 4;

struct FrameHeader {
  bool fin = true;
  std::uint8_t rsv = 0;     // kRsv1 | kRsv2 | kRsv3
  std::uint8_t opcode = 0;  // raw 4 bits, possibly reserved
  bool masked = false;
  // The masking key exactly as its 4 bytes appear on the wire, loaded with memcpy (so it is
  // host-order-agnostic: apply_mask stores it back the same way).
  std::uint32_t mask_key = 0;
  std::uint64_t payload_length = 0;
  std::size_t header_length = 0;  // bytes the header occupies (2..14)
};

enum class HeaderStatus : std::uint8_t {
  kComplete,          // `out` is filled
  kIncomplete,        // need more bytes; out.header_length says how many in total, when known
  kNonMinimalLength,  // length not in its minimal encoding (RFC 6455 5.2: MUST be minimal)
  kLengthTooLarge,    // 64-bit length with the most significant bit set
};

// Decodes the frame header at the front of `data`. Checks only what the header's own encoding
// demands; role, extension and fragmentation rules are the session's.
// Once two bytes are present, fin, rsv, opcode, masked and header_length are filled even when
// the result is kIncomplete, so the session can fail a bad frame before the rest arrives. The
// length is judged as soon as its own bytes are present, before the masking key.
HeaderStatus decode_header(const std::uint8_t* data, std::size_t size, FrameHeader& out);

// Encodes `h` (fin, rsv, opcode, masked, mask_key, payload_length; header_length is ignored)
// into `out`, which must hold kMaxFrameHeaderBytes, in the minimal length encoding.
// Returns the bytes written.
std::size_t encode_header(std::uint8_t* out, const FrameHeader& h);

// XOR-masks (or unmasks) `data` in place. `offset` is the position of data[0] within the frame
// payload, so a payload can be processed in pieces as they arrive. Works a machine word at a time.
void apply_mask(std::uint8_t* data, std::size_t size, std::uint32_t mask_key, std::size_t offset);
// apply_mask fused with a copy: writes `size` bytes of `from`, masked, to `to` (which must not
// overlap `from` unless it is `from`). One pass over the payload instead of a copy and then a
// masking pass: what a client does with every payload it sends.
void copy_masked(std::uint8_t* to, const std::uint8_t* from, std::size_t size, std::uint32_t mask_key,
                 std::size_t offset);

// Close status codes (RFC 6455 7.4, IANA registry).
namespace close_code {
constexpr std::uint16_t kNormal = 1000;
constexpr std::uint16_t kGoingAway = 1001;
constexpr std::uint16_t kProtocolError = 1002;
constexpr std::uint16_t kUnsupportedData = 1003;
constexpr std::uint16_t kNoStatus = 1005;         // never on the wire
constexpr std::uint16_t kAbnormal = 1006;         // never on the wire
constexpr std::uint16_t kInvalidPayload = 1007;
constexpr std::uint16_t kPolicyViolation = 1008;
constexpr std::uint16_t kMessageTooBig = 1009;
constexpr std::uint16_t kMandatoryExtension = 1010;
constexpr std::uint16_t kInternalError = 1011;
constexpr std::uint16_t kServiceRestart = 1012;
constexpr std::uint16_t kTryAgainLater = 1013;
constexpr std::uint16_t kBadGateway = 1014;
constexpr std::uint16_t kTlsHandshake = 1015;     // never on the wire
}  // namespace close_code

// True when `code` may appear in a close frame: 1000-1003, 1007-1014, 3000-4999.
bool is_valid_wire_close_code(std::uint16_t code);

enum class CloseStatus : std::uint8_t {
  kOk,          // code (and possibly a reason) present and valid
  kEmpty,       // no payload: code reads as kNoStatus
  kBadLength,   // a 1-byte payload
  kBadCode,     // code not allowed on the wire
  kBadReason,   // reason not valid UTF-8
};

struct ClosePayload {
  std::uint16_t code = close_code::kNoStatus;
  std::string_view reason;  // points into the parsed buffer
};

// Parses and validates an (unmasked) close frame payload.
CloseStatus parse_close_payload(const std::uint8_t* data, std::size_t size, ClosePayload& out);

}  // namespace wstool::ws
