// Tests for lib/replay_compare: byte and JSON comparison, ignored pointers (with wildcards), the
// path-level diff replay prints, message descriptions, the pairing of expected and received
// messages, and --compare-frames' comparison of how messages were framed.
#include "lib/replay_compare.h"

#include <gtest/gtest.h>

namespace wstool::replay {
namespace {

PayloadComparer json_comparer(const std::vector<std::string>& ignores = {}) {
  std::vector<std::vector<std::string>> parsed;
  for (const auto& p : ignores) {
    std::vector<std::string> tokens;
    std::string error;
    EXPECT_TRUE(PayloadComparer::parse_pointer(p, tokens, error)) << p << ": " << error;
    parsed.push_back(tokens);
  }
  return PayloadComparer(CompareMode::kJson, parsed);
}

Message text(std::string s) { return Message{1, std::move(s)}; }

TEST(ReplayCompare, BytesModeIsExact) {
  const PayloadComparer c(CompareMode::kBytes, {});
  EXPECT_TRUE(c.equal(text("{\"a\":1}"), text("{\"a\":1}")));
  EXPECT_FALSE(c.equal(text("{\"a\":1}"), text("{ \"a\": 1 }")));
  EXPECT_FALSE(c.equal(text("x"), Message{2, "x"}));  // text is not binary
}

TEST(ReplayCompare, JsonModeIsSemantic) {
  const PayloadComparer c = json_comparer();
  EXPECT_TRUE(c.equal(text(R"({"a":1,"b":[true,null]})"), text(R"({ "b": [true, null], "a": 1.0 })")));
  EXPECT_FALSE(c.equal(text(R"({"a":[1,2]})"), text(R"({"a":[2,1]})")));
  EXPECT_TRUE(c.equal(text("not json"), text("not json")));  // falls back to bytes
  EXPECT_FALSE(c.equal(text("not json"), text("not json ")));
}

TEST(ReplayCompare, DiffNamesJsonPointers) {
  const PayloadComparer c = json_comparer();
  const Comparison d = c.compare(text(R"({"user":{"id":1,"a/b":"x"},"list":[1,2],"gone":0})"),
                                 text(R"({"user":{"id":2,"a/b":"y"},"list":[1],"new":true})"), 10);
  EXPECT_FALSE(d.equal);
  EXPECT_TRUE(d.as_json);
  std::vector<std::string> lines;
  for (const auto& p : d.paths) lines.push_back(p.path + " " + p.expected + " " + p.got);
  EXPECT_EQ(lines, (std::vector<std::string>{"/gone 0 (absent)", "/list/1 2 (absent)", "/user/a~1b \"x\" \"y\"",
                                             "/user/id 1 2", "/new (absent) true"}));
  const Comparison capped = c.compare(text(R"([1,2,3])"), text(R"([4,5,6])"), 1);
  EXPECT_EQ(capped.paths.size(), 1U);
  EXPECT_EQ(capped.more_paths, 2U);
}

TEST(ReplayCompare, IgnoredPointersAndWildcards) {
  EXPECT_TRUE(json_comparer({"/sessionId"}).equal(text(R"({"type":"welcome","sessionId":"a1"})"),
                                                  text(R"({"type":"welcome","sessionId":"b2"})")));
  // Present on one side only is ignored too.
  EXPECT_TRUE(json_comparer({"/ts"}).equal(text(R"({"x":1,"ts":5})"), text(R"({"x":1})")));
  EXPECT_FALSE(json_comparer({"/ts"}).equal(text(R"({"x":1,"ts":5})"), text(R"({"x":2,"ts":5})")));
  EXPECT_TRUE(json_comparer({"/users/*/id"}).equal(text(R"({"users":[{"id":1,"n":"a"},{"id":2,"n":"b"}]})"),
                                                   text(R"({"users":[{"id":7,"n":"a"},{"id":8,"n":"b"}]})")));
  EXPECT_FALSE(json_comparer({"/users/*/id"}).equal(text(R"({"users":[{"id":1,"n":"a"}]})"),
                                                    text(R"({"users":[{"id":1,"n":"z"}]})")));
  EXPECT_TRUE(json_comparer({"/a/0"}).equal(text(R"({"a":[1,2]})"), text(R"({"a":[9,2]})")));
  EXPECT_TRUE(json_comparer({""}).equal(text(R"({"a":1})"), text(R"({"b":2})")));
}

TEST(ReplayCompare, PointerSyntax) {
  std::vector<std::string> tokens;
  std::string error;
  ASSERT_TRUE(PayloadComparer::parse_pointer("/a~1b/~0c/", tokens, error));
  EXPECT_EQ(tokens, (std::vector<std::string>{"a/b", "~c", ""}));
  EXPECT_FALSE(PayloadComparer::parse_pointer("sessionId", tokens, error));
  EXPECT_NE(error.find("must start with '/'"), std::string::npos);
  EXPECT_FALSE(PayloadComparer::parse_pointer("/a~2", tokens, error));
}

TEST(ReplayCompare, Describe) {
  EXPECT_EQ(describe(text("hi \"x\""), 100), R"(text "hi \"x\"")");
  EXPECT_EQ(describe(text("abcdef"), 3), R"(text "abc"… (6 bytes))");
  EXPECT_EQ(describe(Message{2, std::string("\x00\xff", 2)}, 100), "binary 00 ff (2 bytes)");
  EXPECT_EQ(describe(Message{9, "p"}, 100), R"(ping "p")");
}

// Two long messages that differ past their previews say where, or they would read alike.
TEST(Describe, TheFirstDifferencePastThePreviewIsShown) {
  const std::string head(200, 'a');
  EXPECT_EQ(describe_first_difference(text(head + "xyz"), text(head + "xqz"), 120),
            R"(first difference at byte 201: expected …"aaaaaaaaaaaxyz", got …"aaaaaaaaaaaxqz")");
  EXPECT_EQ(describe_first_difference(text(head + "x"), text(head), 120),
            R"(first difference at byte 200: expected …"aaaaaaaaaaaax", got …"aaaaaaaaaaaa")");
  EXPECT_EQ(describe_first_difference(text("abc" + head), text("abd" + head), 120), "");  // in the preview
  EXPECT_EQ(describe_first_difference(text(head), text(head), 120), "");
  EXPECT_EQ(describe_first_difference(text(head), Message{2, head}, 120), "");  // kinds differ
  const std::string zeros(40, '\0');
  EXPECT_EQ(describe_first_difference(Message{2, zeros + "\x01"}, Message{2, zeros + "\x02"}, 120),
            "first difference at byte 40: expected …00 00 00 00 00 00 00 00 00 00 00 00 01, "
            "got …00 00 00 00 00 00 00 00 00 00 00 00 02");
}

// ---- ReplayMatcher ----------------------------------------------------------------------------

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct MatcherFixture : ::testing::Test {
  PayloadComparer bytes{CompareMode::kBytes, {}};
  Clock::time_point t0{};
  std::vector<Mismatch> out;

  static ExpectedMessage expected(std::uint64_t index, std::string payload) {
    return ExpectedMessage{index, "log:" + std::to_string(index), text(std::move(payload)), 0, 0};
  }
};

TEST_F(MatcherFixture, InOrderMatchesAndDiffers) {
  ReplayMatcher m(bytes, 1, milliseconds(100), 10);
  m.expect(expected(1, "a"), t0);
  m.expect(expected(2, "b"), t0);
  m.receive(text("a"), out);
  m.receive(text("x"), out);
  EXPECT_EQ(m.match(false, t0, out), 1U);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kDifferent);
  EXPECT_EQ(out[0].expected.index, 2U);
  EXPECT_EQ(out[0].got.payload, "x");
  EXPECT_EQ(m.expected(), 0U);
}

TEST_F(MatcherFixture, WindowToleratesReordering) {
  ReplayMatcher m(bytes, 2, milliseconds(100), 10);
  m.expect(expected(1, "a"), t0);
  m.expect(expected(2, "b"), t0);
  m.receive(text("b"), out);
  m.receive(text("a"), out);
  EXPECT_EQ(m.match(false, t0, out), 2U);
  EXPECT_TRUE(out.empty());
}

TEST_F(MatcherFixture, WaitsForExpectationsNotAddedYetWhileTheWindowHasRoom) {
  ReplayMatcher m(bytes, 4, milliseconds(100), 10);
  m.expect(expected(1, "a"), t0);
  m.receive(text("b"), out);
  EXPECT_EQ(m.match(true, t0, out), 0U);  // "b" may be the next expectation
  EXPECT_TRUE(out.empty());
  m.expect(expected(2, "b"), t0);
  EXPECT_EQ(m.match(true, t0, out), 1U);
  EXPECT_EQ(m.expected(), 1U);
  m.receive(text("z"), out);
  EXPECT_EQ(m.match(false, t0, out), 0U);  // nothing more will come: a difference
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kDifferent);
}

TEST_F(MatcherFixture, OverdueExpectationsAreMissingOneTimeoutEach) {
  ReplayMatcher m(bytes, 1, milliseconds(100), 10);
  m.expect(expected(1, "a"), t0);
  m.expect(expected(2, "b"), t0);
  EXPECT_FALSE(m.expire(t0 + milliseconds(99), out));
  EXPECT_TRUE(m.expire(t0 + milliseconds(100), out));
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kMissing);
  EXPECT_EQ(out[0].expected.index, 1U);
  // The next one gets its own timeout from when it became the oldest.
  EXPECT_EQ(m.deadline(), t0 + milliseconds(200));
  EXPECT_FALSE(m.expire(t0 + milliseconds(150), out));
}

TEST_F(MatcherFixture, UnmatchedReceptionsAreBoundedAndExtraAtTheEnd) {
  ReplayMatcher m(bytes, 1, milliseconds(100), 2);
  m.receive(text("1"), out);
  m.receive(text("2"), out);
  EXPECT_TRUE(out.empty());
  m.receive(text("3"), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kExtra);
  EXPECT_EQ(out[0].got.payload, "1");
  out.clear();
  m.expect(expected(1, "never"), t0);
  m.finish(false, out);
  ASSERT_EQ(out.size(), 3U);  // "never" is missing (the match step did not run), 2 and 3 extra
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kMissing);
  EXPECT_EQ(out[1].kind, Mismatch::Kind::kExtra);
  EXPECT_EQ(m.unmatched(), 0U);
}

// An extra message says where it came in: after which recorded message, and its own number.
TEST_F(MatcherFixture, AnExtraNamesTheRecordedMessageItFollowed) {
  ReplayMatcher m(bytes, 1, milliseconds(100), 10);
  ExpectedMessage first = expected(1, "a");
  first.line = 7;
  first.server_frame = 3;
  m.expect(first, t0);
  m.expect(expected(2, "b"), t0);
  m.receive(text("early"), out);  // before anything was settled: "after" is none
  EXPECT_EQ(m.match(false, t0, out), 0U);  // "early" against "a": different, "a" settled
  ASSERT_EQ(out.size(), 1U);
  out.clear();
  m.receive(text("b"), out);
  EXPECT_EQ(m.match(false, t0, out), 1U);
  m.receive(text("late"), out);
  EXPECT_EQ(m.match(false, t0, out), 0U);
  m.finish(false, out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kExtra);
  EXPECT_EQ(out[0].got.payload, "late");
  EXPECT_EQ(out[0].received, 3U);
  EXPECT_EQ(out[0].expected.index, 2U);
  EXPECT_EQ(out[0].expected.where, "log:2");
  EXPECT_TRUE(out[0].expected.message.payload.empty());

  // One that overflowed the unmatched bound before any expectation existed.
  ReplayMatcher n(bytes, 1, milliseconds(100), 1);
  n.receive(text("1"), out);
  out.clear();
  n.receive(text("2"), out);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].received, 1U);
  EXPECT_EQ(out[0].expected.index, 0U);
}

// --compare-frames ------------------------------------------------------------------------

// A message's frames, uncompressed unless `compressed`: opcode on the first, FIN on the last.
std::vector<FrameShape> frames(std::uint8_t opcode, std::vector<std::uint64_t> sizes, bool compressed = false) {
  std::vector<FrameShape> out;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    FrameShape f;
    f.opcode = i == 0 ? opcode : 0;
    f.fin = i + 1 == sizes.size();
    f.rsv = i == 0 && compressed ? 4 : 0;
    f.compressed = compressed;
    f.size = sizes[i];
    out.push_back(f);
  }
  return out;
}

constexpr FrameRule kFrames{true, false};
constexpr FrameRule kFramesAndCompression{true, true};

TEST(CompareFrames, ThreeFragmentsAgainstOneFrameIsFragmentation) {
  const auto c = compare_frames(frames(1, {4096, 4096, 812}), frames(1, {9004}), kFrames);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kFragmentation);
  EXPECT_EQ(c.text, "recorded as 3 frames (4096+4096+812 bytes), got 1 frame (9004 bytes)");
  EXPECT_EQ(frame_kind_name(c.kind), "fragmentation");
}

TEST(CompareFrames, SameCountOtherBoundariesIsFragmentation) {
  const auto c = compare_frames(frames(2, {10, 5}), frames(2, {8, 7}), kFrames);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kFragmentation);
  EXPECT_EQ(c.text, "recorded as 2 frames (10+5 bytes), got 2 frames (8+7 bytes)");
  EXPECT_TRUE(compare_frames(frames(2, {10, 5}), frames(2, {10, 5}), kFrames).equal());
}

TEST(CompareFrames, OffOrWithoutFramesComparesNothing) {
  EXPECT_TRUE(compare_frames(frames(1, {1, 2}), frames(1, {3}), FrameRule{}).equal());
  EXPECT_TRUE(compare_frames({}, frames(1, {3}), kFrames).equal());  // e.g. a ping
}

TEST(CompareFrames, OpcodeOrFinOfAFrameIsFragmentation) {
  auto got = frames(1, {1, 1});
  got[0].fin = true;  // not a valid sequence, but the comparison says where
  const auto c = compare_frames(frames(1, {1, 1}), got, kFrames);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kFragmentation);
  EXPECT_EQ(c.text, "frame 1 of 2: recorded opcode 1, got opcode 1 FIN");
}

TEST(CompareFrames, CompressedMessagesCompareCountNotSizes) {
  // The log's sizes of compressed frames are where the inflater stopped: not compared.
  EXPECT_TRUE(compare_frames(frames(1, {100, 50}, true), frames(1, {120, 30}, true), kFrames).equal());
  const auto c = compare_frames(frames(1, {100, 50}, true), frames(1, {150}, true), kFrames);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kFragmentation);
  EXPECT_EQ(c.text, "recorded as 2 compressed frames, got 1 compressed frame");
}

TEST(CompareFrames, CompressionComparedOnlyWhenBothSidesNegotiatedIt) {
  // One side compressed, the other not: the frames carry different bytes, nothing to compare...
  EXPECT_TRUE(compare_frames(frames(1, {10, 10}, true), frames(1, {20}), kFrames).equal());
  // ...unless both negotiated permessage-deflate: then whether the server compressed is compared.
  const auto c = compare_frames(frames(1, {20}, true), frames(1, {20}), kFramesAndCompression);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kCompression);
  EXPECT_EQ(c.text, "recorded compressed (RSV1), got it uncompressed");
  EXPECT_EQ(frame_kind_name(c.kind), "compression");
}

TEST(CompareFrames, Rsv2AndRsv3AreComparedRsv1IsTheCompressions) {
  auto got = frames(1, {5});
  got[0].rsv = 2;
  const auto c = compare_frames(frames(1, {5}), got, kFrames);
  EXPECT_EQ(c.kind, FrameComparison::Kind::kRsv);
  EXPECT_EQ(c.text, "frame 1 of 1: recorded rsv 0, got rsv 2 (RSV1 aside)");
  auto rsv1 = frames(1, {5}, true);
  auto rsv1_and_2 = rsv1;
  rsv1_and_2[0].rsv = 6;
  EXPECT_EQ(compare_frames(rsv1, rsv1_and_2, kFrames).kind, FrameComparison::Kind::kRsv);
  EXPECT_TRUE(compare_frames(rsv1, rsv1, kFramesAndCompression).equal());
}

TEST(CompareFrames, LongListsGiveTheTotal) {
  EXPECT_EQ(describe_frames(frames(2, std::vector<std::uint64_t>(10, 100))),
            "10 frames (100+100+100+100+100+100+100+100+… bytes, 1000 in all)");
}

TEST_F(MatcherFixture, FramesDifferingOnAMatchedPayloadAreAFramedMismatch) {
  ReplayMatcher m(bytes, 1, milliseconds(100), 10);
  m.set_frame_rule(kFrames);
  auto whole = expected(1, "abc");
  whole.message.frames = frames(1, {2, 1});
  m.expect(std::move(whole), t0);
  auto same = expected(2, "de");
  same.message.frames = frames(1, {2});
  m.expect(std::move(same), t0);
  m.receive(Message{1, "abc", frames(1, {3})}, out);
  m.receive(Message{1, "de", frames(1, {2})}, out);
  EXPECT_EQ(m.match(false, t0, out), 1U);  // "de"; "abc" was paired but framed otherwise
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].kind, Mismatch::Kind::kFramed);
  EXPECT_EQ(out[0].expected.index, 1U);
  EXPECT_EQ(out[0].frames.kind, FrameComparison::Kind::kFragmentation);
  EXPECT_EQ(m.expected(), 0U);
  EXPECT_EQ(m.unmatched(), 0U);
}

}  // namespace
}  // namespace wstool::replay
