// Fuzzes the frame codec: decode_header's verdicts and lengths, decode-encode identity on
// accepted headers, encode-decode round trips, masking against a bytewise reference, and the
// close payload rules.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lib/frame.h"
#include "lib/utf8.h"

namespace {

using namespace wstool::ws;

void check(bool ok) {
  if (!ok) std::abort();
}

std::uint64_t big_endian(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void check_decode(const std::uint8_t* data, std::size_t size) {
  FrameHeader h;
  const HeaderStatus status = decode_header(data, size, h);
  if (size < 2) {
    check(status == HeaderStatus::kIncomplete && h.header_length == 2);
    return;
  }
  const std::uint8_t len7 = data[1] & 0x7F;
  const std::size_t ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
  const std::size_t need = 2 + ext + ((data[1] & 0x80) != 0 ? 4 : 0);
  check(h.header_length == need);
  check(h.opcode == (data[0] & 0x0F) && h.rsv == ((data[0] >> 4) & 7));
  check(h.fin == ((data[0] & 0x80) != 0) && h.masked == ((data[1] & 0x80) != 0));
  if (size < 2 + ext) {
    check(status == HeaderStatus::kIncomplete);
    return;
  }
  const std::uint64_t length = ext == 0 ? len7 : big_endian(data + 2, ext);
  if (ext == 8 && (length >> 63) != 0) {
    check(status == HeaderStatus::kLengthTooLarge);
  } else if ((ext == 2 && length < 126) || (ext == 8 && length < 65536)) {
    check(status == HeaderStatus::kNonMinimalLength);
  } else if (size < need) {
    check(status == HeaderStatus::kIncomplete);
  } else {
    check(status == HeaderStatus::kComplete && h.payload_length == length);
    // Strict decoding means encoding gives back exactly the bytes decoded.
    std::uint8_t out[kMaxFrameHeaderBytes];
    check(encode_header(out, h) == need && std::memcmp(out, data, need) == 0);
    // Every shorter prefix is incomplete and already knows the total.
    for (std::size_t n = 0; n < need; ++n) {
      FrameHeader p;
      check(decode_header(data, n, p) == HeaderStatus::kIncomplete);
      check(p.header_length == (n < 2 ? 2 : need));
    }
  }
}

void check_encode(const std::uint8_t* data, std::size_t size) {
  if (size < 13) return;
  FrameHeader h;
  h.fin = (data[0] & 1) != 0;
  h.masked = (data[0] & 2) != 0;
  h.rsv = static_cast<std::uint8_t>((data[0] >> 2) & 7);
  h.opcode = static_cast<std::uint8_t>(data[0] >> 4);
  if (h.masked) std::memcpy(&h.mask_key, data + 1, 4);
  // Spread lengths over every encoding: shift a 63-bit value right by a fuzzed amount.
  h.payload_length = (big_endian(data + 5, 8) >> 1) >> (data[0] % 64);
  std::uint8_t out[kMaxFrameHeaderBytes];
  const std::size_t n = encode_header(out, h);
  const std::size_t expected = 2 + (h.payload_length <= 125 ? 0 : h.payload_length <= 0xFFFF ? 2 : 8) +
                               (h.masked ? 4 : 0);
  check(n == expected);
  FrameHeader d;
  check(decode_header(out, n, d) == HeaderStatus::kComplete);
  check(d.fin == h.fin && d.rsv == h.rsv && d.opcode == h.opcode && d.masked == h.masked &&
        d.mask_key == h.mask_key && d.payload_length == h.payload_length && d.header_length == n);
}

void check_mask(const std::uint8_t* data, std::size_t size) {
  if (size < 6) return;
  std::uint32_t key;
  std::memcpy(&key, data, 4);
  const std::size_t offset = data[4];
  const std::size_t split = data[5];
  std::vector<std::uint8_t> ours(data + 6, data + size);
  std::vector<std::uint8_t> ref = ours;
  std::uint8_t k[4];
  std::memcpy(k, &key, 4);
  for (std::size_t i = 0; i < ref.size(); ++i) ref[i] ^= k[(offset + i) % 4];
  const std::size_t first = split < ours.size() ? split : ours.size();
  apply_mask(ours.data(), first, key, offset);
  apply_mask(ours.data() + first, ours.size() - first, key, offset + first);
  check(ours == ref);
}

void check_close(const std::uint8_t* data, std::size_t size) {
  ClosePayload p;
  const CloseStatus status = parse_close_payload(data, size, p);
  if (size == 0) {
    check(status == CloseStatus::kEmpty && p.code == close_code::kNoStatus);
    return;
  }
  if (size == 1) {
    check(status == CloseStatus::kBadLength);
    return;
  }
  const auto code = static_cast<std::uint16_t>(big_endian(data, 2));
  check(p.code == code);
  const bool code_ok = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                       (code >= 3000 && code <= 4999);
  if (!code_ok) {
    check(status == CloseStatus::kBadCode);
  } else if (!wstool::is_valid_utf8(data + 2, size - 2)) {
    check(status == CloseStatus::kBadReason);
  } else {
    check(status == CloseStatus::kOk && p.reason.size() == size - 2 &&
          (size == 2 || reinterpret_cast<const std::uint8_t*>(p.reason.data()) == data + 2));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_decode(data, size);
  check_encode(data, size);
  check_mask(data, size);
  check_close(data, size);
  return 0;
}
