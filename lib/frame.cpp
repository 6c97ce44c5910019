// The RFC 6455 frame codec: header decoding and encoding, payload masking and the close-frame
// rules (see frame.h). Pure functions; the connection engine calls them on its hot path.
#include "lib/frame.h"

#include <array>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
// AVX2 is not in the x86-64 baseline the build targets: one function is compiled for it and
// chosen at run time (GCC and Clang on x86-64).
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WSTOOL_MASK_AVX2 1
#endif

#include "lib/utf8.h"

namespace wstool::ws {
namespace {

// The header's layout constants are in frame.h (the session's fast path shares them).
constexpr std::uint64_t kLength64Msb = std::uint64_t{1} << 63;
constexpr std::size_t kCloseCodeBytes = 2;

std::uint64_t load_big_endian(const std::uint8_t* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

void store_big_endian(std::uint8_t* p, std::uint64_t v, std::size_t n) {
  for (std::size_t i = n; i-- > 0;) {
    p[i] = static_cast<std::uint8_t>(v);
    v >>= 8;
  }
}

}  // namespace

std::string_view opcode_name(std::uint8_t op) {
  static constexpr std::array<std::string_view, 16> kNames = {
      "cont", "text", "binary", "op3", "op4", "op5", "op6", "op7",
      "close", "ping", "pong", "opB", "opC", "opD", "opE", "opF"};
  return kNames[op & kOpcodeBits];
}

HeaderStatus decode_header(const std::uint8_t* data, std::size_t size, FrameHeader& out) {
  if (size < kBaseHeaderBytes) {
    // The second byte decides the rest; until then only the minimum is known.
    out.header_length = kBaseHeaderBytes;
    return HeaderStatus::kIncomplete;
  }
  const std::uint8_t b0 = data[0];
  const std::uint8_t b1 = data[1];
  out.fin = (b0 & kFinBit) != 0;
  out.rsv = static_cast<std::uint8_t>((b0 >> kRsvShift) & kRsvBits);
  out.opcode = static_cast<std::uint8_t>(b0 & kOpcodeBits);
  out.masked = (b1 & kMaskBit) != 0;
  const std::uint8_t len7 = static_cast<std::uint8_t>(b1 & kLength7Bits);
  const std::size_t ext_bytes = len7 == kLength16Marker   ? kLength16Bytes
                                : len7 == kLength64Marker ? kLength64Bytes
                                                          : 0;
  const std::size_t need = kBaseHeaderBytes + ext_bytes + (out.masked ? kMaskKeyBytes : 0);
  out.header_length = need;
  if (size < kBaseHeaderBytes + ext_bytes) return HeaderStatus::kIncomplete;

  // The length is judged as soon as its bytes are here, before the masking key arrives, so a
  // bad header fails at the earliest byte possible.
  std::uint64_t length = len7;
  if (ext_bytes != 0) {
    length = load_big_endian(data + kBaseHeaderBytes, ext_bytes);
    if (ext_bytes == kLength64Bytes) {
      if ((length & kLength64Msb) != 0) return HeaderStatus::kLengthTooLarge;
      if (length <= kMaxLength16) return HeaderStatus::kNonMinimalLength;
    } else if (length <= kMaxLength7) {
      return HeaderStatus::kNonMinimalLength;
    }
  }
  out.payload_length = length;
  if (size < need) return HeaderStatus::kIncomplete;
  out.mask_key = 0;
  if (out.masked) std::memcpy(&out.mask_key, data + kBaseHeaderBytes + ext_bytes, kMaskKeyBytes);
  return HeaderStatus::kComplete;
}

std::size_t encode_header(std::uint8_t* out, const FrameHeader& h) {
  out[0] = static_cast<std::uint8_t>((h.fin ? kFinBit : 0) | ((h.rsv & kRsvBits) << kRsvShift) |
                                     (h.opcode & kOpcodeBits));
  const std::uint8_t mask_bit = h.masked ? kMaskBit : 0;
  std::size_t n = kBaseHeaderBytes;
  if (h.payload_length <= kMaxLength7) {
    out[1] = static_cast<std::uint8_t>(mask_bit | h.payload_length);
  } else if (h.payload_length <= kMaxLength16) {
    out[1] = static_cast<std::uint8_t>(mask_bit | kLength16Marker);
    store_big_endian(out + n, h.payload_length, kLength16Bytes);
    n += kLength16Bytes;
  } else {
    out[1] = static_cast<std::uint8_t>(mask_bit | kLength64Marker);
    store_big_endian(out + n, h.payload_length, kLength64Bytes);
    n += kLength64Bytes;
  }
  if (h.masked) {
    std::memcpy(out + n, &h.mask_key, kMaskKeyBytes);
    n += kMaskKeyBytes;
  }
  return n;
}

namespace {

#if defined(WSTOOL_MASK_AVX2)
// Payloads at least this long are masked 32 bytes at a time where the CPU has AVX2: twice the
// SSE2 loop's bytes per instruction, for the big frames both ends of a connection mask.
constexpr std::size_t kAvx2MinBytes = 256;

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2") != 0;
  return has;
}

// Masks whole 128-byte steps of [from, from + size) into `to` with `half` (the key at phase 0
// of the first byte); returns the bytes done, the rest is the caller's.
[[gnu::target("avx2")]] std::size_t mask_avx2(std::uint8_t* to, const std::uint8_t* from, std::size_t size,
                                              std::uint32_t half) {
  constexpr std::size_t kVectorBytes = sizeof(__m256i);
  constexpr std::size_t kVectorsPerStep = 4;
  const __m256i pattern = _mm256_set1_epi32(static_cast<int>(half));
  std::size_t i = 0;
  for (; size - i >= kVectorBytes * kVectorsPerStep; i += kVectorBytes * kVectorsPerStep) {
    const auto* in = reinterpret_cast<const __m256i*>(from + i);
    auto* out = reinterpret_cast<__m256i*>(to + i);
    const __m256i a = _mm256_xor_si256(_mm256_loadu_si256(in), pattern);
    const __m256i b = _mm256_xor_si256(_mm256_loadu_si256(in + 1), pattern);
    const __m256i c = _mm256_xor_si256(_mm256_loadu_si256(in + 2), pattern);
    const __m256i d = _mm256_xor_si256(_mm256_loadu_si256(in + 3), pattern);
    _mm256_storeu_si256(out, a);
    _mm256_storeu_si256(out + 1, b);
    _mm256_storeu_si256(out + 2, c);
    _mm256_storeu_si256(out + 3, d);
  }
  return i;
}
#endif

// Masks `size` bytes from `from` into `to` (the same place for apply_mask: every word is loaded
// before it is stored, so in place is safe). The key rotated to the current phase, repeated
// across a word: a word is a whole number of key periods, so the same pattern applies to every
// word. Words are read and written unaligned (memcpy): no bytewise head, which costs as much as
// the rest for small frames. Inlined into both callers, so each gets its own tight loop.
inline void mask_into(std::uint8_t* to, const std::uint8_t* from, std::size_t size, std::uint32_t mask_key,
                      std::size_t offset) {
  std::uint8_t rotated[kMaskKeyBytes];
  std::memcpy(rotated, &mask_key, kMaskKeyBytes);
  const std::size_t phase = offset % kMaskKeyBytes;
  if (phase != 0) {
    std::uint8_t key[kMaskKeyBytes];
    std::memcpy(key, rotated, kMaskKeyBytes);
    for (std::size_t j = 0; j < kMaskKeyBytes; ++j) rotated[j] = key[(phase + j) % kMaskKeyBytes];
  }
  std::uint32_t half;
  std::memcpy(&half, rotated, sizeof half);
  const std::uint64_t pattern = (std::uint64_t{half} << 32) | half;  // the same either endianness

  std::size_t i = 0;
#if defined(WSTOOL_MASK_AVX2)
  if (size >= kAvx2MinBytes && cpu_has_avx2()) i = mask_avx2(to, from, size, half);
#endif
#if defined(__SSE2__)
  // Every x86-64 has SSE2: 64 bytes per step in four 16-byte registers (big frames are masked
  // and unmasked once per byte on each side: this is a load test's per-byte cost).
  constexpr std::size_t kVectorBytes = sizeof(__m128i);
  constexpr std::size_t kVectorsPerStep = 4;
  const __m128i vector_pattern = _mm_set1_epi32(static_cast<int>(half));
  for (; size - i >= kVectorBytes * kVectorsPerStep; i += kVectorBytes * kVectorsPerStep) {
    const auto* in = reinterpret_cast<const __m128i*>(from + i);
    auto* out = reinterpret_cast<__m128i*>(to + i);
    const __m128i a = _mm_xor_si128(_mm_loadu_si128(in), vector_pattern);
    const __m128i b = _mm_xor_si128(_mm_loadu_si128(in + 1), vector_pattern);
    const __m128i c = _mm_xor_si128(_mm_loadu_si128(in + 2), vector_pattern);
    const __m128i d = _mm_xor_si128(_mm_loadu_si128(in + 3), vector_pattern);
    _mm_storeu_si128(out, a);
    _mm_storeu_si128(out + 1, b);
    _mm_storeu_si128(out + 2, c);
    _mm_storeu_si128(out + 3, d);
  }
#endif
  constexpr std::size_t kWordsPerStep = 4;
  constexpr std::size_t kStepBytes = kWordsPerStep * sizeof(std::uint64_t);
  for (; size - i >= kStepBytes; i += kStepBytes) {
    std::uint64_t w[kWordsPerStep];
    std::memcpy(w, from + i, kStepBytes);
    for (auto& x : w) x ^= pattern;
    std::memcpy(to + i, w, kStepBytes);
  }
  for (; size - i >= sizeof(std::uint64_t); i += sizeof(std::uint64_t)) {
    std::uint64_t w;
    std::memcpy(&w, from + i, sizeof(w));
    w ^= pattern;
    std::memcpy(to + i, &w, sizeof(w));
  }
  for (std::size_t j = 0; i < size; ++i, ++j) to[i] = static_cast<std::uint8_t>(from[i] ^ rotated[j % kMaskKeyBytes]);
}

}  // namespace

void apply_mask(std::uint8_t* data, std::size_t size, std::uint32_t mask_key, std::size_t offset) {
  mask_into(data, data, size, mask_key, offset);
}

void copy_masked(std::uint8_t* to, const std::uint8_t* from, std::size_t size, std::uint32_t mask_key,
                 std::size_t offset) {
  mask_into(to, from, size, mask_key, offset);
}

bool is_valid_wire_close_code(std::uint16_t code) {
  constexpr std::uint16_t kFirstPrivate = 3000;  // 3000-3999 registered, 4000-4999 private use
  constexpr std::uint16_t kLastPrivate = 4999;
  return (code >= close_code::kNormal && code <= close_code::kUnsupportedData) ||
         (code >= close_code::kInvalidPayload && code <= close_code::kBadGateway) ||
         (code >= kFirstPrivate && code <= kLastPrivate);
}

CloseStatus parse_close_payload(const std::uint8_t* data, std::size_t size, ClosePayload& out) {
  out = ClosePayload{};
  if (size == 0) return CloseStatus::kEmpty;
  if (size < kCloseCodeBytes) return CloseStatus::kBadLength;
  out.code = static_cast<std::uint16_t>(load_big_endian(data, kCloseCodeBytes));
  out.reason = std::string_view(reinterpret_cast<const char*>(data + kCloseCodeBytes),
                                size - kCloseCodeBytes);
  if (!is_valid_wire_close_code(out.code)) return CloseStatus::kBadCode;
  if (!is_valid_utf8(data + kCloseCodeBytes, size - kCloseCodeBytes)) {
    return CloseStatus::kBadReason;
  }
  return CloseStatus::kOk;
}

}  // namespace wstool::ws
