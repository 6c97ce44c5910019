// Tests for lib/base64: RFC 4648 vectors both ways and the strict decoder's refusals.
#include "lib/base64.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <utility>

namespace wstool {
namespace {

TEST(Base64, KnownVectors) {
  // RFC 4648 section 10.
  const std::pair<const char*, const char*> cases[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : cases) {
    EXPECT_EQ(base64_encode(plain), encoded);
    std::string decoded;
    ASSERT_TRUE(base64_decode(encoded, decoded)) << encoded;
    EXPECT_EQ(decoded, plain);
  }
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  std::string back;
  ASSERT_TRUE(base64_decode(base64_encode(all), back));
  EXPECT_EQ(back, all);
}

TEST(Base64, RejectsMalformedInput) {
  std::string out;
  EXPECT_FALSE(base64_decode("Zg=", out));    // wrong padding
  EXPECT_FALSE(base64_decode("Z", out));      // a lone sextet
  EXPECT_FALSE(base64_decode("Zm9v!", out));  // not in the alphabet
  EXPECT_FALSE(base64_decode("Zm 9v", out));  // whitespace
  EXPECT_FALSE(base64_decode("Zh==", out));   // non-zero leftover bits
  EXPECT_TRUE(base64_decode("Zg", out));      // unpadded is accepted
  EXPECT_EQ(out, "f");
}

// The plainest encoder there is, six bits at a time: what the table-driven one must equal.
std::string reference_encode(const std::string& bytes) {
  static const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : bytes) {
    acc = acc << 8 | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[acc >> bits & 0x3F];
    }
  }
  if (bits > 0) out += alphabet[acc << (6 - bits) & 0x3F];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

// Every length around the encoder's 6-byte steps and the decoder's 4-character steps, random
// bytes (every byte value turns up), appended after existing text as record does.
TEST(Base64, EqualsTheReferenceAtEveryLengthAndRoundTrips) {
  std::mt19937 random(6455);
  for (std::size_t size = 0; size <= 300; ++size) {
    std::string bytes(size, '\0');
    for (char& c : bytes) c = static_cast<char>(random() & 0xFF);
    const std::string expected = reference_encode(bytes);
    ASSERT_EQ(base64_encode(bytes), expected) << "size " << size;
    std::string appended = "prefix:";
    base64_append(appended, bytes);
    ASSERT_EQ(appended, "prefix:" + expected) << "size " << size;
    std::string decoded;
    ASSERT_TRUE(base64_decode(expected, decoded)) << "size " << size;
    ASSERT_EQ(decoded, bytes) << "size " << size;
    // Unpadded too.
    std::string unpadded = expected;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    ASSERT_TRUE(base64_decode(unpadded, decoded)) << "size " << size;
    ASSERT_EQ(decoded, bytes) << "size " << size;
  }
}

// A character outside the alphabet is refused wherever it is: in a 4-character step or the tail.
TEST(Base64, RefusesABadCharacterAtEveryPosition) {
  const std::string good = base64_encode(std::string(42, '\x5a'));  // 56 characters, no padding
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (const char bad : {'!', ' ', '\n', '-', '_', '\x80', '\xff', '\0', '='}) {
      std::string text = good;
      text[at] = bad;
      std::string out;
      EXPECT_FALSE(base64_decode(text, out)) << "position " << at << " char " << static_cast<int>(bad);
    }
  }
  std::string out;
  EXPECT_FALSE(base64_decode("Zm9vYmE!", out));  // in a 3-character tail after a full step
  EXPECT_FALSE(base64_decode("Zm9vY!", out));    // in a 2-character tail
  EXPECT_FALSE(base64_decode("Zm9vYR==", out));  // non-zero leftover bits after a full step
  EXPECT_FALSE(base64_decode("Zm9vYmF=", out));  // the same, 3-character tail
  EXPECT_FALSE(base64_decode("Zm9vYI==", out));  // each leftover bit counts: 'I' is 001000
  EXPECT_FALSE(base64_decode("Zm9vYmG=", out));  // 'G' is 000110
}

}  // namespace
}  // namespace wstool
