// Base64 without OpenSSL's BIO machinery: the decoder must be strict (a session log with a
// damaged payload is bad data, not silently shorter) and the encoder allocation-exact.
#include "lib/base64.h"

#include <array>
#include <cstdint>
#include <cstring>

namespace wstool {
namespace {

constexpr std::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::uint8_t kInvalid = 0xFF;

constexpr std::array<std::uint8_t, 256> make_decode_table() {
  std::array<std::uint8_t, 256> table{};
  for (auto& v : table) v = kInvalid;
  for (std::size_t i = 0; i < kAlphabet.size(); ++i) {
    table[static_cast<unsigned char>(kAlphabet[i])] = static_cast<std::uint8_t>(i);
  }
  return table;
}
constexpr std::array<std::uint8_t, 256> kDecode = make_decode_table();

// Every 12-bit value's two characters, so the encoder looks up and stores two at a time.
struct CharPairs {
  std::array<char, 2 * 4096> chars{};
};
constexpr CharPairs make_char_pairs() {
  CharPairs pairs;
  for (std::size_t v = 0; v < 4096; ++v) {
    pairs.chars[2 * v] = kAlphabet[v >> 6];
    pairs.chars[2 * v + 1] = kAlphabet[v & 0x3F];
  }
  return pairs;
}
constexpr CharPairs kCharPairs = make_char_pairs();

void put_pair(char* out, std::uint64_t twelve_bits) { std::memcpy(out, &kCharPairs.chars[2 * twelve_bits], 2); }

// Eight bytes as one number, the first byte the most significant.
std::uint64_t load_big_endian(const unsigned char* in) {
  std::uint64_t word;
  std::memcpy(&word, in, sizeof word);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return word;
}

}  // namespace

void base64_append(std::string& out, std::string_view bytes) {
  // Written through a pointer into a string sized once, six bytes (eight characters) a step
  // through a table of character pairs: record's binary frames are mostly this (byte at a time
  // it took about 10 instructions per payload byte, half the proxy's CPU per relayed frame).
  const std::size_t at = out.size();
  out.resize(at + (bytes.size() + 2) / 3 * 4, '=');
  char* p = out.data() + at;
  const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t size = bytes.size();
  std::size_t i = 0;
  for (; i + 8 <= size; i += 6) {  // reads 8 bytes, encodes the first 6
    const std::uint64_t word = load_big_endian(in + i);
    put_pair(p, word >> 52 & 0xFFF);
    put_pair(p + 2, word >> 40 & 0xFFF);
    put_pair(p + 4, word >> 28 & 0xFFF);
    put_pair(p + 6, word >> 16 & 0xFFF);
    p += 8;
  }
  for (; i + 3 <= size; i += 3) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8 | in[i + 2];
    put_pair(p, v >> 12);
    put_pair(p + 2, v & 0xFFF);
    p += 4;
  }
  const std::size_t rest = size - i;
  if (rest == 1) {
    put_pair(p, std::uint32_t{in[i]} << 4);  // the two '=' are already there
  } else if (rest == 2) {
    const std::uint32_t v = std::uint32_t{in[i]} << 16 | std::uint32_t{in[i + 1]} << 8;
    put_pair(p, v >> 12);
    p[2] = kAlphabet[v >> 6 & 0x3F];
  }
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  base64_append(out, bytes);
  return out;
}

bool base64_decode(std::string_view text, std::string& out) {
  std::size_t padding = 0;
  while (padding < 2 && !text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++padding;
  }
  // With padding, the whole must be a multiple of 4; a lone trailing sextet is never valid.
  if (padding > 0 && (text.size() + padding) % 4 != 0) return false;
  const std::size_t rest = text.size() % 4;
  if (rest == 1) return false;
  const std::size_t groups = text.size() / 4;
  out.resize(groups * 3 + (rest == 0 ? 0 : rest - 1));
  const auto* in = reinterpret_cast<const unsigned char*>(text.data());
  char* o = out.data();
  // Four characters (three bytes) a step; kInvalid is the only table value with its top bit.
  for (std::size_t g = 0; g < groups; ++g, in += 4, o += 3) {
    const std::uint32_t a = kDecode[in[0]], b = kDecode[in[1]], c = kDecode[in[2]], d = kDecode[in[3]];
    if (((a | b | c | d) & 0x80) != 0) return false;
    const std::uint32_t v = a << 18 | b << 12 | c << 6 | d;
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>(v >> 8 & 0xFF);
    o[2] = static_cast<char>(v & 0xFF);
  }
  // Leftover bits must be zero (canonical encoding), else the text was not made by an encoder.
  if (rest == 2) {
    const std::uint32_t a = kDecode[in[0]], b = kDecode[in[1]];
    if (((a | b) & 0x80) != 0 || (b & 0x0F) != 0) return false;
    o[0] = static_cast<char>(a << 2 | b >> 4);
  } else if (rest == 3) {
    const std::uint32_t a = kDecode[in[0]], b = kDecode[in[1]], c = kDecode[in[2]];
    if (((a | b | c) & 0x80) != 0 || (c & 0x03) != 0) return false;
    const std::uint32_t v = a << 18 | b << 12 | c << 6;
    o[0] = static_cast<char>(v >> 16);
    o[1] = static_cast<char>(v >> 8 & 0xFF);
  }
  return true;
}

}  // namespace wstool
