// How `wstool replay` decides that a server message matches the recording (exact bytes, or JSON
// compared semantically with ignored JSON pointers, with a diff naming the JSON paths that
// differ) and pairs a connection's expected and received messages (ReplayMatcher). No sockets:
// replay's connection driver calls it, unit tests drive it alone.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace wstool::replay {

enum class CompareMode { kBytes, kJson };

struct Message {
  std::uint8_t opcode = 1;  // 1 text, 2 binary, 9 ping, 10 pong
  std::string payload;
};

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
  std::uint64_t index = 0;  // 1-based, among the connection's expected server messages
  std::string where;        // "session.jsonl:17"
  Message message;
};

// A difference between the recording and what the server did.
struct Mismatch {
  enum class Kind { kDifferent, kMissing, kExtra };
  Kind kind = Kind::kDifferent;
  ExpectedMessage expected;  // not for kExtra
  Message got;               // not for kMissing
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

  // Adds the next expectation; the oldest one's wait starts when it becomes the oldest.
  void expect(ExpectedMessage expected, TimePoint now);
  // A message from the server.
  void receive(Message message, std::vector<Mismatch>& out);
  // Pairs received messages with expected ones; returns how many matched. A received message
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

 private:
  const PayloadComparer& comparer_;
  std::size_t window_;
  std::chrono::milliseconds timeout_;
  std::size_t max_unmatched_;
  std::deque<ExpectedMessage> expected_;
  std::deque<Message> received_;
  TimePoint front_since_{};
};

// A message for a one-line diff: `text "hello"` (JSON-escaped, cut at `max_bytes` with "…"),
// `binary 00 01 ff (3 bytes)`, `ping "x"`.
std::string describe(const Message& message, std::size_t max_bytes);

}  // namespace wstool::replay
