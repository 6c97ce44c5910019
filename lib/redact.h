// Secrets never reach logs or screens: one place that knows which header values and URL parts
// are secret and blanks them.
#pragma once

#include <string>
#include <string_view>

#include "lib/handshake.h"

namespace wstool {

inline constexpr std::string_view kRedacted = "[redacted]";

// Authorization, Proxy-Authorization, Cookie, Set-Cookie (case-insensitive).
bool is_secret_header(std::string_view name);

// `value`, or "[redacted]" when `name` is a secret header.
std::string redact_header_value(std::string_view name, std::string_view value);

// A copy of `headers` with secret values redacted.
ws::HttpHeaders redact_headers(const ws::HttpHeaders& headers);

// A URL (or any text holding one) with user-info replaced (`wss://[redacted]@host/`) and the
// values of `token` and `access_token` query parameters replaced (`?token=[redacted]`).
std::string redact_url(std::string_view url);

// A diagnostic about the connection to `url`: "URL: message" with the URL redacted, whether
// `message` already starts with the URL as given (some engine errors do) or not.
std::string url_diagnostic(std::string_view url, std::string_view message);

}  // namespace wstool
