// A strict single-pass JSON validator that builds nothing, and hands back a top-level object's
// members as spans of the text: hot paths (the room protocol) read a few fields without a DOM.
#pragma once

#include <cstddef>
#include <string_view>

namespace wstool::json_scan {

enum class Kind : unsigned char { kString, kNumber, kObject, kArray, kTrue, kFalse, kNull };

// One member of the top-level object, as it appears in the text.
struct Member {
  std::string_view key;    // between the quotes, escapes not decoded
  std::string_view value;  // the whole value: a string's includes its quotes
  Kind kind = Kind::kNull;
  bool key_escaped = false;    // the key has a backslash escape
  bool value_escaped = false;  // a string value has a backslash escape
};

// Receives the top-level object's members in text order (duplicates included).
class MemberSink {
 public:
  virtual void member(const Member& member) = 0;

 protected:
  ~MemberSink() = default;
};

// The deepest nesting scan() follows; deeper text is reported as not accepted.
inline constexpr std::size_t kMaxScanDepth = 512;

// True when `text` is exactly one JSON value (RFC 8259, surrounding whitespace allowed) that
// nlohmann::json::parse certainly accepts, with arrays and objects nested at most `max_depth`
// deep (counted as json_limits.h counts). `top` is its kind; when it is an object and `sink` is
// set, the sink got every member before scan() returned (members of a text that then turns out
// invalid may have been delivered too: use them only on true).
// False when the text is invalid, too deep, or not certainly accepted: a number that might
// overflow a double, a leading byte order mark (nlohmann skips it). Callers then take a full
// parser, which says why. Strings are checked for valid UTF-8, escapes and \u surrogate pairs
// as nlohmann checks them, and for unescaped control characters.
bool scan(std::string_view text, std::size_t max_depth, Kind& top, MemberSink* sink = nullptr);

// How many bytes from the start of `text` may stand in a JSON string as they are, needing
// neither an escape nor a UTF-8 check: printable ASCII other than " and \. Eight at a time.
std::size_t plain_run(std::string_view text);

}  // namespace wstool::json_scan
