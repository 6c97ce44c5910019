// How `wstool replay` decides that a server message matches the recording: exact bytes, or
// JSON compared semantically with ignored JSON pointers, and a diff naming the JSON paths that
// differ. No sockets: replay's connection driver calls it, unit tests drive it alone.
#pragma once

#include <cstddef>
#include <cstdint>
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

// A message for a one-line diff: `text "hello"` (JSON-escaped, cut at `max_bytes` with "…"),
// `binary 00 01 ff (3 bytes)`, `ping "x"`.
std::string describe(const Message& message, std::size_t max_bytes);

}  // namespace wstool::replay
