// ws:// and wss:// URLs: one strict parser for every client subcommand, and the Host header a
// URL implies.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wstool::ws {

inline constexpr std::uint16_t kDefaultWsPort = 80;
inline constexpr std::uint16_t kDefaultWssPort = 443;

struct WsUrl {
  bool secure = false;    // wss:// (or https://)
  std::string host;       // as written, IPv6 literals without brackets
  std::uint16_t port = kDefaultWsPort;
  std::string target;     // path and query, "/" when the URL has no path
  std::string userinfo;   // "user:pass" before '@', "" when absent (a secret: redact in logs)
};

// Parses `text` into `out`. Accepts ws://, wss:// and, as a convenience, http:// and https://
// (mapped to ws:// and wss://); schemes are case-insensitive. Refuses fragments (RFC 6455 3),
// empty or malformed hosts, bad IPv6 literals, ports outside 1..65535, and spaces or control
// characters. On failure returns false with a lowercase reason in `error` and leaves `out`
// unspecified.
bool parse_ws_url(std::string_view text, WsUrl& out, std::string& error);

// "host", "host:port" when the port is not the scheme's default, "[v6]" bracketed.
std::string host_header(const WsUrl& url);

// The URL back as text: ws[s]://host[:port]/target, without user-info (safe to print).
std::string to_string(const WsUrl& url);

// Where a redirect's Location points, resolved against the URL that answered it (RFC 3986 5.2):
// absolute URLs (http:// and https:// mapped to ws:// and wss://), scheme-relative "//host/p",
// absolute paths, relative paths (dot segments removed) and query-only references. A fragment
// is dropped. False with a reason when the result is not a valid WebSocket URL.
bool resolve_location(const WsUrl& base, std::string_view location, WsUrl& out, std::string& error);

// Same scheme, host (case-insensitive) and port: credentials may follow a redirect only there.
bool same_origin(const WsUrl& a, const WsUrl& b);

}  // namespace wstool::ws
