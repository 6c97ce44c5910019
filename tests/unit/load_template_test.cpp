// lib/load_template: what `wstool load` puts in messages and how it finds its id or send time in
// what comes back.
#include "lib/load_template.h"

#include <gtest/gtest.h>

namespace wstool {
namespace {

TEST(LoadTemplate, RendersEveryField) {
  LoadTemplate t;
  std::string error;
  ASSERT_TRUE(t.parse(R"({"id":"{{id}}","c":{{conn}},"s":{{seq}},"t":{{time_ns}},"r":"{{rand 5}}"})", error)) << error;
  EXPECT_TRUE(t.has_id());
  EXPECT_TRUE(t.has_time());
  LoadRng rng(1);
  std::string out;
  t.render(out, {0xabc, 7, 42, 1764130000123456789ULL}, rng);
  const std::string prefix = R"({"id":"0000000000000abc","c":7,"s":42,"t":1764130000123456789,"r":")";
  ASSERT_EQ(out.substr(0, prefix.size()), prefix) << out;
  const std::string random = out.substr(prefix.size(), 5);
  EXPECT_EQ(random.find_first_not_of("ghijklmnopqrstuvwxyz"), std::string::npos) << random;
  EXPECT_EQ(out.substr(prefix.size() + 5), "\"}");
}

TEST(LoadTemplate, RendersLargeAndZeroNumbersInFull) {
  LoadTemplate t;
  std::string error;
  ASSERT_TRUE(t.parse("{{id}} {{conn}} {{seq}}", error)) << error;
  LoadRng rng(1);
  std::string out;
  t.render(out, {0xffffffffffffffffULL, 0, 18446744073709551615ULL, 0}, rng);
  EXPECT_EQ(out, "ffffffffffffffff 0 18446744073709551615");
}

// A message whose only field is the id is built once and re-stamped per send: the result must
// be exactly what a fresh rendering gives.
TEST(LoadTemplate, SetIdRewritesEveryIdAsARenderingWould) {
  LoadTemplate t;
  std::string error;
  ASSERT_TRUE(t.parse("<{{id}}> padding {{id}}.", error)) << error;
  ASSERT_TRUE(t.id_only());
  LoadRng rng(1);
  std::string stamped, fresh;
  t.render(stamped, {1, 0, 0, 0}, rng);
  t.set_id(stamped, 0x123456789abcdef0ULL);
  t.render(fresh, {0x123456789abcdef0ULL, 0, 0, 0}, rng);
  EXPECT_EQ(stamped, fresh);
  EXPECT_EQ(stamped, "<123456789abcdef0> padding 123456789abcdef0.");
  // Any other field varies in width or content: no stamping then.
  for (const char* other : {"{{id}} {{seq}}", "{{id}}{{rand 3}}", "{{time_ns}} {{id}}", "plain text"}) {
    ASSERT_TRUE(t.parse(other, error)) << error;
    EXPECT_FALSE(t.id_only()) << other;
  }
}

TEST(LoadTemplate, TheSameSeedGivesTheSameText) {
  LoadTemplate t;
  std::string error;
  ASSERT_TRUE(t.parse("{{rand 32}}", error));
  EXPECT_FALSE(t.has_id());
  LoadRng a(7), b(7), c(8);
  std::string x, y, z;
  t.render(x, {}, a);
  t.render(y, {}, b);
  t.render(z, {}, c);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  EXPECT_EQ(x.size(), 32u);
}

TEST(LoadTemplate, RefusesUnknownAndMalformedFields) {
  LoadTemplate t;
  std::string error;
  EXPECT_FALSE(t.parse("{{uuid}}", error));
  EXPECT_NE(error.find("unknown template field '{{uuid}}'"), std::string::npos) << error;
  EXPECT_FALSE(t.parse("{{id", error));
  EXPECT_FALSE(t.parse("{{rand}}", error));
  EXPECT_FALSE(t.parse("{{rand x}}", error));
  EXPECT_FALSE(t.parse("{{rand 99999999999}}", error));
  EXPECT_TRUE(t.parse("plain text, no fields", error));
}

TEST(LoadTemplate, FindsTheIdItRenderedWhereverTheReplyPutsIt) {
  LoadTemplate t;
  std::string error;
  ASSERT_TRUE(t.parse("{{id}} {{rand 100}}", error));
  LoadRng rng(3);
  std::string sent;
  t.render(sent, {0x0123456789abcdefULL}, rng);
  std::uint64_t id = 0;
  ASSERT_TRUE(find_correlation_id(R"({"type":"echo","data":")" + sent + "\"}", id));
  EXPECT_EQ(id, 0x0123456789abcdefULL);
  // Longer or shorter hex runs are not ids; a 19-digit timestamp is not one either.
  EXPECT_FALSE(find_correlation_id("deadbeef 0123456789abcdef0 1764130000123456789", id));
  EXPECT_TRUE(find_correlation_id("1764130000123456789 x00000000000000ff", id));
  EXPECT_EQ(id, 0xffu);
}

TEST(LoadTemplate, FindsATimestampOfExactlyNineteenDigits) {
  std::uint64_t ns = 0;
  ASSERT_TRUE(find_timestamp_ns(R"({"content":"1764130000123456789 0000000000000001"})", ns));
  EXPECT_EQ(ns, 1764130000123456789ULL);
  EXPECT_FALSE(find_timestamp_ns("123 17641300001234567890", ns));
}

}  // namespace
}  // namespace wstool
