// How `wstool replay` decides that a server message matches the recording (exact bytes, or JSON
// compared semantically with ignored JSON pointers, with a diff naming the JSON paths that
// differ; with --compare-frames also how it was framed) and pairs a connection's expected and
// received messages (ReplayMatcher). No sockets: replay's connection driver calls it, unit tests
// drive it alone.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wstool::replay {

enum class CompareMode { kBytes, kJson };

// One frame of a data message as it was on the wire: what --compare-frames compares.
struct FrameShape {
  std::uint8_t opcode = 1;  // the first frame's 1 or 2, then 0 (continuation)
  bool fin = true;
  std::uint8_t rsv = 0;     // RSV1..3 as sent, 0..7 (RSV1 = 4)
  bool compressed = false;  // the message was compressed on the wire (RSV1 on its first frame)
  std::uint64_t size = 0;   // payload bytes as logged and delivered: decompressed when compressed
  std::size_t line = 0;     // where a recorded frame is in the log (0: received, or not a log)
};

struct Message {
  Message() = default;
  Message(std::uint8_t op, std::string data, std::vector<FrameShape> shapes = {})
      : opcode(op), payload(std::move(data)), frames(std::move(shapes)) {}

  std::uint8_t opcode = 1;  // 1 text, 2 binary, 9 ping, 10 pong
  std::string payload;
  std::vector<FrameShape> frames;  // data messages under --compare-frames; else empty
};

// What --compare-frames compares for a message whose payload matched. The log holds
// decompressed payloads, and an inflater hands out a compressed message's bytes wherever its
// stream allows, not at the sender's boundaries: so the frames' sizes are compared only when
// neither side was compressed, their number, opcodes and FIN bits whenever both sides were
// compressed alike. RSV1 is the compression's own bit; RSV2 and RSV3 are compared always.
struct FrameRule {
  bool enabled = false;
  // Both the recording and the replay negotiated permessage-deflate, so the server could have
  // compressed both times: whether it did is compared. Otherwise it is not (a server cannot
  // compress on a connection that did not negotiate it), and a message compressed on one side
  // only has nothing comparable in its framing.
  bool compression = false;
};

struct FrameComparison {
  enum class Kind { kNone, kFragmentation, kCompression, kRsv };
  Kind kind = Kind::kNone;
  // For people, after the kind: "recorded as 3 frames (4096+4096+812 bytes), got 1 frame (9004 bytes)".
  std::string text;
  // False when there was nothing to compare: compressed on one side only, and not FrameRule::compression.
  bool compared = true;
  bool equal() const { return kind == Kind::kNone; }
};

// Frame sizes a description lists before it gives only the total.
inline constexpr std::size_t kMaxListedFrameSizes = 8;

// Compares two messages' frames under `rule`; equal when either list is empty (a control
// message, or a side that kept no frames).
FrameComparison compare_frames(const std::vector<FrameShape>& expected, const std::vector<FrameShape>& got,
                               const FrameRule& rule);
// "3 frames (4096+4096+812 bytes)", "1 frame (9004 bytes)", "2 compressed frames"; at most
// kMaxListedFrameSizes sizes are listed, then the total.
std::string describe_frames(const std::vector<FrameShape>& frames);
// "fragmentation", "compression", "rsv" ("" for kNone): the results document's difference kinds.
std::string_view frame_kind_name(FrameComparison::Kind kind);

// One difference inside a JSON document: its RFC 6901 pointer ("" for the whole document), the
// values as compact JSON, "(absent)" when a member or element exists on one side only.
struct PathDifference {
  std::string path;
  std::string expected;
  std::string got;
};

struct Comparison {
  bool equal = true;
  bool as_json = false;  // both sides were JSON and compared as such
  std::vector<PathDifference> paths;  // at most the asked number, when as_json
  std::size_t more_paths = 0;         // differences beyond that
};

class PayloadComparer {
 public:
  // An --ignore pointer split into its unescaped tokens (~1 is '/', ~0 is '~'); "*" as a token
  // matches every member or element. False with a reason when `text` is not a JSON pointer.
  static bool parse_pointer(std::string_view text, std::vector<std::string>& tokens, std::string& error);

  // Ignore pointers apply in JSON mode only (replay turns it on when --ignore is given).
  PayloadComparer(CompareMode mode, std::vector<std::vector<std::string>> ignores);

  // Opcodes must agree. kBytes: payloads byte for byte. kJson: when both payloads parse as JSON
  // (nesting limited), the documents minus ignored members are equal as JSON values (member
  // order, whitespace and number spelling do not matter); otherwise bytes.
  bool equal(const Message& expected, const Message& got) const;

  // Like equal(), with the differences: up to `max_paths` JSON paths.
  Comparison compare(const Message& expected, const Message& got, std::size_t max_paths) const;

 private:
  CompareMode mode_;
  std::vector<std::vector<std::string>> ignores_;
};

// A server message the recording says comes next on a connection.
struct ExpectedMessage {
  std::uint64_t index = 0;         // 1-based, among the connection's expected server messages
  std::string where;               // "session.jsonl:17": its first frame's record
  Message message;
  std::size_t line = 0;            // that record's line in the log (0: not a log, e.g. HAR)
  std::uint64_t server_frame = 0;  // 1-based index of its first frame among the connection's
                                   // recorded server frames (control and invalid ones included)
};

// A difference between the recording and what the server did.
struct Mismatch {
  // kFramed: the payloads matched, the frames did not (FrameRule).
  enum class Kind { kDifferent, kMissing, kExtra, kFramed };
  Kind kind = Kind::kDifferent;
  // kExtra: where it came in, the recorded message settled (matched, different or missing) last
  // when it arrived: its index, where, line and server_frame, no payload; index 0 when none was.
  ExpectedMessage expected;
  Message got;               // not for kMissing
  FrameComparison frames;    // kFramed only
  std::uint64_t received = 0;  // kExtra: 1-based index of `got` among the server messages received
};

// One connection's expected and received server messages, paired: in order, or within a window
// (--unordered); overdue expectations are missing, unpaired receptions extra. No sockets and no
// clock of its own (times are passed in), so tests drive it directly.
class ReplayMatcher {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `window`: how many of the oldest expectations a received message may match (1: strict
  // order). `max_unmatched`: received messages kept waiting for an expectation; beyond it the
  // oldest is extra (bounded memory whatever the server sends).
  ReplayMatcher(const PayloadComparer& comparer, std::size_t window, std::chrono::milliseconds timeout,
                std::size_t max_unmatched);

  // Under an enabled rule, a message paired with its expectation whose frames differ is a
  // kFramed mismatch rather than a match (set when the connection's negotiation is known).
  void set_frame_rule(FrameRule rule) { frame_rule_ = rule; }

  // Adds the next expectation; the oldest one's wait starts when it becomes the oldest.
  void expect(ExpectedMessage expected, TimePoint now);
  // A message from the server.
  void receive(Message message, std::vector<Mismatch>& out);
  // Pairs received messages with expected ones; returns how many matched (kFramed pairs do not
  // count). A received message
  // matching none of the window's expectations is a kDifferent against the oldest, unless
  // `more_may_come` (expectations not added yet) and the window is not full: then it waits.
  std::size_t match(bool more_may_come, TimePoint now, std::vector<Mismatch>& out);
  // The oldest expectation, when it has waited `timeout`, is kMissing; true when one was.
  bool expire(TimePoint now, std::vector<Mismatch>& out);
  // When the oldest expectation times out (meaningful when expected() > 0).
  TimePoint deadline() const { return front_since_ + timeout_; }
  // The connection is over: every expectation left is kMissing (unless `quiet`, when they are
  // dropped), every unmatched reception kExtra.
  void finish(bool quiet, std::vector<Mismatch>& out);

  std::size_t expected() const { return expected_.size(); }
  std::size_t unmatched() const { return received_.size(); }
  std::size_t window() const { return window_; }
  // Messages matched whose frames could not be compared (FrameComparison::compared false).
  std::uint64_t frames_not_compared() const { return frames_not_compared_; }

 private:
  const PayloadComparer& comparer_;
  std::size_t window_;
  std::chrono::milliseconds timeout_;
  std::size_t max_unmatched_;
  FrameRule frame_rule_;
  std::uint64_t frames_not_compared_ = 0;
  // A received message waiting for its expectation, and where it came in (for kExtra).
  struct Received {
    Message message;
    ExpectedMessage after;  // last_settled_ when it arrived
    std::uint64_t number = 0;
  };
  void settle(const ExpectedMessage& e);

  std::deque<ExpectedMessage> expected_;
  std::deque<Received> received_;
  ExpectedMessage last_settled_;  // the expectation taken out last, without its payload
  std::uint64_t received_count_ = 0;
  TimePoint front_since_{};
};

// A message for a one-line diff: `text "hello"` (JSON-escaped, cut at `max_bytes` with "…"),
// `binary 00 01 ff (3 bytes)`, `ping "x"`.
std::string describe(const Message& message, std::size_t max_bytes);

// Two payloads of one kind whose first difference lies past what describe(…, max_bytes) shows of
// them: where, with a little of each from just before it —
// `first difference at byte 290: expected …"ab1\",\"x\"…", got …"ab2\",\"x\"…"`. "" when the
// previews already show it (or the kinds differ).
std::string describe_first_difference(const Message& expected, const Message& got, std::size_t max_bytes);

}  // namespace wstool::replay
