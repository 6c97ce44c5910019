// A small strict RFC 3986 authority parser for WebSocket URLs. websocketpp::uri accepts too
// much (ports above 65535 wrap, junk hosts pass), so wstool has its own.
#include "lib/ws_url.h"
#include "lib/ascii.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

namespace wstool::ws {
namespace {

bool is_unreserved_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_' ||
         c == '~';
}

// Characters a URL may carry unescaped in its path or query; spaces, controls, '#', quotes and
// non-ASCII must be percent-encoded.
bool is_target_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  constexpr unsigned char kFirstPrintable = 0x21;
  constexpr unsigned char kLastPrintable = 0x7e;
  if (u < kFirstPrintable || u > kLastPrintable) return false;
  return c != '#' && c != '"' && c != '<' && c != '>' && c != '\\' && c != '^' && c != '`' &&
         c != '{' && c != '|' && c != '}';
}

bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Every '%' starts a two-digit escape.
bool percent_escapes_ok(std::string_view s) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') continue;
    if (i + 2 >= s.size()) return false;
    if (!is_hex(s[i + 1]) || !is_hex(s[i + 2])) return false;
    i += 2;
  }
  return true;
}

bool fail(std::string& error, std::string reason) {
  error = std::move(reason);
  return false;
}

}  // namespace

bool parse_ws_url(std::string_view text, WsUrl& out, std::string& error) {
  out = WsUrl{};
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    return fail(error, "'" + std::string(text) + "' is not a URL (expected ws://HOST[:PORT]/PATH)");
  }
  const std::string scheme = ascii_lowercase(text.substr(0, sep));
  if (scheme == "ws" || scheme == "http") {
    out.secure = false;
  } else if (scheme == "wss" || scheme == "https") {
    out.secure = true;
  } else {
    return fail(error, "unsupported scheme '" + std::string(text.substr(0, sep)) +
                           "' (expected ws:// or wss://)");
  }
  std::string_view rest = text.substr(sep + 3);
  if (rest.find('#') != std::string_view::npos) {
    return fail(error, "WebSocket URLs cannot have a fragment ('#' must be escaped as %23)");
  }
  const std::size_t authority_end = rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
    out.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }

  std::string_view port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return fail(error, "unterminated IPv6 literal '['");
    out.host = std::string(authority.substr(1, close - 1));
    in6_addr addr{};
    if (out.host.empty() || inet_pton(AF_INET6, out.host.c_str(), &addr) != 1) {
      return fail(error, "invalid IPv6 address '" + out.host + "'");
    }
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        return fail(error, "unexpected '" + std::string(after) + "' after the IPv6 address");
      }
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    if (std::count(authority.begin(), authority.end(), ':') > 1) {
      return fail(error, "invalid host '" + std::string(authority) +
                             "' (IPv6 addresses go in brackets: ws://[::1]:9001/)");
    }
    const std::size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) return fail(error, "the URL has no host");
    if (!std::all_of(out.host.begin(), out.host.end(), is_unreserved_host_char)) {
      return fail(error, "invalid host '" + out.host + "'");
    }
  }

  out.port = out.secure ? kDefaultWssPort : kDefaultWsPort;
  // RFC 3986 allows an empty port ("host:"), meaning the default.
  if (has_port && !port_text.empty()) {
    constexpr std::size_t kMaxPortDigits = 5;
    if (port_text.size() > kMaxPortDigits ||
        !std::all_of(port_text.begin(), port_text.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      return fail(error, "invalid port '" + std::string(port_text) + "' (expected 1-65535)");
    }
    const unsigned long value = std::stoul(std::string(port_text));
    if (value == 0 || value > std::numeric_limits<std::uint16_t>::max()) {
      return fail(error, "invalid port '" + std::string(port_text) + "' (expected 1-65535)");
    }
    out.port = static_cast<std::uint16_t>(value);
  }

  if (!std::all_of(target.begin(), target.end(), is_target_char)) {
    return fail(error, "the path or query has a character that must be percent-encoded");
  }
  if (!percent_escapes_ok(target)) return fail(error, "bad percent-escape in the path or query");
  out.target = target.empty() || target.front() == '?' ? "/" + std::string(target)
                                                       : std::string(target);
  return true;
}

std::string host_header(const WsUrl& url) {
  std::string out = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  const std::uint16_t default_port = url.secure ? kDefaultWssPort : kDefaultWsPort;
  if (url.port != default_port) out += ":" + std::to_string(url.port);
  return out;
}

std::string to_string(const WsUrl& url) {
  return std::string(url.secure ? "wss://" : "ws://") + host_header(url) + url.target;
}

namespace {

// RFC 3986 5.2.4: removes "." and ".." segments from an absolute path.
std::string remove_dot_segments(std::string_view path) {
  std::vector<std::string_view> kept;
  std::size_t start = 1;  // after the leading '/'
  bool trailing_slash = false;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    trailing_slash = false;
    if (segment == "..") {
      if (!kept.empty()) kept.pop_back();
      trailing_slash = true;
    } else if (segment == ".") {
      trailing_slash = true;
    } else {
      kept.push_back(segment);
    }
    start = end + 1;
  }
  std::string out;
  for (const std::string_view segment : kept) {
    out += '/';
    out += segment;
  }
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

}  // namespace

bool resolve_location(const WsUrl& base, std::string_view location, WsUrl& out, std::string& error) {
  while (!location.empty() && (location.front() == ' ' || location.front() == '\t')) location.remove_prefix(1);
  while (!location.empty() && (location.back() == ' ' || location.back() == '\t')) location.remove_suffix(1);
  if (const std::size_t hash = location.find('#'); hash != std::string_view::npos) location = location.substr(0, hash);
  if (location.empty()) {
    error = "empty Location";
    return false;
  }
  const std::string scheme = base.secure ? "wss:" : "ws:";
  const std::size_t colon = location.find(':');
  const std::size_t first_delimiter = location.find_first_of("/?");
  if (colon != std::string_view::npos && (first_delimiter == std::string_view::npos || colon < first_delimiter)) {
    return parse_ws_url(location, out, error);  // absolute: scheme://...
  }
  if (location.rfind("//", 0) == 0) return parse_ws_url(scheme + std::string(location), out, error);
  const std::string authority = scheme + "//" + host_header(base);
  std::string target;
  if (location.front() == '/') {
    target = std::string(location);
  } else {
    const std::string_view base_path = std::string_view(base.target).substr(0, base.target.find('?'));
    if (location.front() == '?') {
      target = std::string(base_path) + std::string(location);
    } else {
      const std::size_t slash = base_path.rfind('/');
      target = std::string(base_path.substr(0, slash == std::string_view::npos ? 0 : slash + 1));
      if (target.empty()) target = "/";
      target += std::string(location);
    }
  }
  const std::size_t query = target.find('?');
  const std::string path = remove_dot_segments(std::string_view(target).substr(0, query));
  target = path + (query == std::string::npos ? "" : target.substr(query));
  return parse_ws_url(authority + target, out, error);
}

bool same_origin(const WsUrl& a, const WsUrl& b) {
  if (a.secure != b.secure || a.port != b.port || a.host.size() != b.host.size()) return false;
  return std::equal(a.host.begin(), a.host.end(), b.host.begin(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
  });
}

}  // namespace wstool::ws
