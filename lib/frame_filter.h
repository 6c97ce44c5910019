// The small filter language of `record --filter` (man/wstool-record.1, FILTERS): which relayed
// frames the live view shows, by connection, direction, opcode and a PCRE2 pattern on the payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/user_regex.h"

namespace wstool {

// What a filter looks at.
struct FilterSubject {
  std::uint64_t conn = 0;
  bool from_client = true;   // client → server
  std::uint8_t opcode = 1;   // raw opcode; a continuation is 0 ("cont")
  std::string_view payload;  // decompressed
};

// A conjunction of terms, each optionally negated:
//   conn=N[|N…]                      the connection ids
//   dir=client|server                who sent the frame (client: towards the upstream)
//   opcode=NAME[|NAME…]              text binary cont close ping pong, or a number 0-15;
//                                    "data" = text|binary|cont, "control" = close|ping|pong
//   /REGEX/ or /REGEX/i              PCRE2 search in the payload (\/ for a slash)
//   not TERM                         the opposite
// joined by spaces or the word `and`. The empty filter matches everything.
class FrameFilter {
 public:
  // nullopt on a syntax error; `error` says what and where: "at 7: unknown field 'cnn'".
  static std::optional<FrameFilter> parse(std::string_view text, std::string& error);
  bool matches(const FilterSubject& subject) const;
  // Whether some frame of connection `conn` could match: only its conn= terms decide (the live
  // view shows a connection's opening and closing lines then).
  bool may_match_connection(std::uint64_t conn) const;

 private:
  struct Term {
    enum class Kind { kConn, kDir, kOpcode, kRegex };
    Kind kind = Kind::kConn;
    bool negated = false;
    std::vector<std::uint64_t> conns;
    bool from_client = true;
    std::uint16_t opcodes = 0;  // bit per opcode 0-15
    std::optional<UserRegex> regex;
  };
  std::vector<Term> terms_;
};

}  // namespace wstool
