// The handshake's Origin and token checks. Origins are compared in the form browsers send them,
// so `--allow-origin HTTPS://App.Example:443/` matches `Origin: https://app.example`.
#include "lib/access_policy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "lib/ascii.h"

namespace wstool {
namespace {

constexpr std::string_view kOpaqueOrigin = "null";
constexpr std::string_view kAnyOrigin = "*";
constexpr std::string_view kTokenParameter = "token";
constexpr std::string_view kBearerScheme = "bearer";
constexpr int kStatusUnauthorized = 401;
constexpr int kStatusForbidden = 403;
constexpr std::uint32_t kMaxPort = 65535;
constexpr std::size_t kMaxPortDigits = 5;
// Longer than any origin a browser sends (hosts are at most 253 characters); bounds the work
// done on a hostile header.
constexpr std::size_t kMaxOriginBytes = 1024;

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3986 3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
bool is_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '+' || c == '-' || c == '.';
  });
}

// A registered name as browsers serialize it (punycode for IDNs) or an IPv4 address.
bool is_host_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_';
  });
}

// The default port of the schemes that have one in origins; 0 for the others.
std::uint32_t default_port(std::string_view scheme) {
  if (scheme == "http" || scheme == "ws") return 80;
  if (scheme == "https" || scheme == "wss") return 443;
  return 0;
}

bool fail(std::string& error, std::string why) {
  error = std::move(why);
  return false;
}

// "[v6]" in its canonical compressed form (the form browsers serialize), or false.
bool canonical_ipv6(std::string_view bracketed, std::string& out) {
  const std::string inner(bracketed.substr(1, bracketed.size() - 2));
  in6_addr address{};
  if (inet_pton(AF_INET6, inner.c_str(), &address) != 1) return false;
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(AF_INET6, &address, text, sizeof text) == nullptr) return false;
  out = "[" + std::string(text) + "]";
  return true;
}

// SHA-256, for the constant-time token comparison.
AccessPolicy::Digest sha256(std::string_view data) {
  AccessPolicy::Digest digest{};
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr);
  return digest;
}

ws::Rejection rejection(int status, std::string why) {
  ws::Rejection r;
  r.status = status;
  r.reason = std::string(ws::reason_phrase(status));
  r.body = std::to_string(status) + " " + r.reason + ": " + std::move(why) + "\n";
  return r;
}

}  // namespace

bool normalize_origin(std::string_view text, bool from_user, std::string& out, std::string& error) {
  if (text.size() > kMaxOriginBytes) return fail(error, "the origin is too long");
  if (text == kOpaqueOrigin) {
    out = std::string(kOpaqueOrigin);
    return true;
  }
  const std::size_t separator = text.find("://");
  if (separator == std::string_view::npos || !is_scheme(text.substr(0, separator))) {
    return fail(error, "an origin is scheme://host[:port], e.g. https://app.example");
  }
  const std::string scheme = ascii_lowercase(text.substr(0, separator));
  std::string_view authority = text.substr(separator + 3);
  if (from_user && !authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("/?#") != std::string_view::npos) {
    return fail(error, "an origin has no path, query or fragment (scheme://host[:port])");
  }
  if (authority.find('@') != std::string_view::npos) {
    return fail(error, "an origin has no user name or password");
  }

  std::string host;
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || !canonical_ipv6(authority.substr(0, close + 1), host)) {
      return fail(error, "the origin's IPv6 address is malformed");
    }
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return fail(error, "junk after the origin's IPv6 address");
    if (!rest.empty()) port_text = rest.substr(1);
    if (rest.size() == 1) return fail(error, "the origin's port is empty");
  } else {
    const std::size_t colon = authority.find(':');
    if (!is_host_name(authority.substr(0, colon))) return fail(error, "the origin's host is missing or malformed");
    host = ascii_lowercase(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return fail(error, "the origin's port is empty");
    }
  }

  std::uint32_t port = 0;
  if (!port_text.empty()) {
    if (port_text.size() > kMaxPortDigits || !std::all_of(port_text.begin(), port_text.end(), is_digit)) {
      return fail(error, "the origin's port is not a number from 0 to 65535");
    }
    for (const char c : port_text) port = port * 10 + static_cast<std::uint32_t>(c - '0');
    if (port > kMaxPort) return fail(error, "the origin's port is not a number from 0 to 65535");
  }

  out = scheme + "://" + host;
  if (!port_text.empty() && port != default_port(scheme)) out += ":" + std::to_string(port);
  return true;
}

bool is_loopback_origin(std::string_view serialized_origin) {
  std::string_view rest;
  if (serialized_origin.substr(0, 7) == "http://") {
    rest = serialized_origin.substr(7);
  } else if (serialized_origin.substr(0, 8) == "https://") {
    rest = serialized_origin.substr(8);
  } else {
    return false;
  }
  std::string_view host = rest;
  if (!host.empty() && host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "127.0.0.1" || host == "[::1]";
}

bool AccessPolicy::allow_origin(std::string_view origin, std::string& error) {
  if (origin == kAnyOrigin) {
    allow_any_origin_ = true;
    return true;
  }
  std::string serialized;
  if (!normalize_origin(origin, true, serialized, error)) return false;
  if (std::find(allowed_origins_.begin(), allowed_origins_.end(), serialized) == allowed_origins_.end()) {
    allowed_origins_.push_back(std::move(serialized));
  }
  return true;
}

void AccessPolicy::require_token(std::string_view token) {
  token_required_ = !token.empty();
  token_digest_ = token_required_ ? sha256(token) : AccessPolicy::Digest{};
}

std::optional<ws::Rejection> AccessPolicy::check(const ws::UpgradeRequest& request) const {
  if (auto refused = check_origin(request.headers)) return refused;
  return check_token(request);
}

std::optional<ws::Rejection> AccessPolicy::check_origin(const ws::HttpHeaders& headers) const {
  if (allow_any_origin_) return std::nullopt;
  const bool has_origin = std::any_of(headers.begin(), headers.end(), [](const ws::HttpHeader& h) {
    return ascii_iequals(h.name, "Origin");
  });
  const bool loopback_default = allowed_origins_.empty();
  // Clients that are not browsers send no Origin; browsers always do on a WebSocket upgrade.
  if (!has_origin && loopback_default) return std::nullopt;
  if (!has_origin) {
    return rejection(kStatusForbidden,
                     "this server accepts only the origins given with --allow-origin, and the "
                     "request has no Origin header; send one, or start the server with "
                     "--allow-origin '*'");
  }

  std::string origin;
  std::string error;
  if (!normalize_origin(ws::header_value(headers, "Origin"), false, origin, error)) {
    return rejection(kStatusForbidden, "malformed Origin header: " + error);
  }
  if (loopback_default) {
    if (is_loopback_origin(origin)) return std::nullopt;
    return rejection(kStatusForbidden,
                     "origin " + origin +
                         " is not allowed (by default only pages from localhost, 127.0.0.1 and "
                         "[::1] may connect); start the server with --allow-origin " + origin);
  }
  if (std::find(allowed_origins_.begin(), allowed_origins_.end(), origin) != allowed_origins_.end()) {
    return std::nullopt;
  }
  return rejection(kStatusForbidden, "origin " + origin +
                                         " is not allowed; start the server with --allow-origin " +
                                         origin + " too");
}

std::optional<ws::Rejection> AccessPolicy::check_token(const ws::UpgradeRequest& request) const {
  if (!token_required_) return std::nullopt;
  bool presented = false;
  const std::string authorization = ws::header_value(request.headers, "Authorization");
  if (!authorization.empty()) {
    const std::size_t space = authorization.find(' ');
    if (space != std::string::npos && ascii_iequals(authorization.substr(0, space), kBearerScheme)) {
      presented = true;
      std::string_view credentials = std::string_view(authorization).substr(space + 1);
      while (!credentials.empty() && credentials.front() == ' ') credentials.remove_prefix(1);
      if (token_matches(credentials)) return std::nullopt;
    }
  }
  if (const auto query_token =
          ws::query_parameter(ws::split_target(request.target).query, kTokenParameter)) {
    presented = true;
    if (token_matches(*query_token)) return std::nullopt;
  }

  ws::Rejection refused;
  if (presented) {
    refused = rejection(kStatusUnauthorized,
                        "the token is not valid; use the one the server was started with "
                        "(--token)");
    refused.headers.push_back({"WWW-Authenticate", "Bearer error=\"invalid_token\""});
  } else {
    refused = rejection(kStatusUnauthorized,
                        "this server requires a token: send `Authorization: Bearer TOKEN` or "
                        "add ?token=TOKEN to the URL");
    refused.headers.push_back({"WWW-Authenticate", "Bearer"});
  }
  return refused;
}

bool AccessPolicy::token_matches(std::string_view candidate) const {
  const AccessPolicy::Digest digest = sha256(candidate);
  return CRYPTO_memcmp(digest.data(), token_digest_.data(), digest.size()) == 0;
}

}  // namespace wstool
