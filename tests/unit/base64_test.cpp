// Tests for lib/base64: RFC 4648 vectors both ways and the strict decoder's refusals.
#include "lib/base64.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace wstool
