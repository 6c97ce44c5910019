// Standard base64 (RFC 4648 section 4, with padding) for payloads that are not UTF-8 text:
// session logs, HAR files and --json output carry binary data this way.
#pragma once

#include <string>
#include <string_view>

namespace wstool {

std::string base64_encode(std::string_view bytes);
// The same, appended to `out` (a reused buffer: no allocation of its own).
void base64_append(std::string& out, std::string_view bytes);

// Strict decoding: the standard alphabet, padding optional but, when present, correct; no
// whitespace. False (and `out` unspecified) on anything else.
bool base64_decode(std::string_view text, std::string& out);

}  // namespace wstool
