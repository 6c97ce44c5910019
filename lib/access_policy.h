// Who may open a WebSocket on a server: the Origin policy (so a random web page cannot drive a
// developer's local server) and the shared-secret token, checked on the upgrade request.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/handshake.h"

namespace wstool {

// Parses an origin and serializes it as browsers do (RFC 6454 6.1, the URL standard):
// "scheme://host[:port]" with scheme and host lowercase, the scheme's default port dropped and
// IPv6 hosts bracketed in their canonical form; "null" (an opaque origin) stays "null". With
// `from_user` (an --allow-origin value) a trailing "/" is tolerated; an Origin header must be
// exact. False with a lowercase reason for anything else (paths, user-info, bad ports).
bool normalize_origin(std::string_view text, bool from_user, std::string& out, std::string& error);

// True for an origin (serialized) whose host is localhost, 127.0.0.1 or [::1], over http or
// https, on any port: the pages a developer runs on the same machine.
bool is_loopback_origin(std::string_view serialized_origin);

// The handshake's security policy. Pure: it sees the request, never a socket, and is safe to
// call from several threads at once once configured.
class AccessPolicy {
 public:
  using Digest = std::array<unsigned char, 32>;  // SHA-256

  // Without configuration: the loopback default (no Origin, or a loopback origin) and no token.
  AccessPolicy() = default;

  // Adds an --allow-origin value; the first one replaces the loopback default. "*" allows every
  // origin. False with a reason (naming no flag) for a value that is not an origin.
  bool allow_origin(std::string_view origin, std::string& error);

  // Requires `token` (--token) as `Authorization: Bearer TOKEN` or `?token=TOKEN`. An empty
  // token requires nothing.
  void require_token(std::string_view token);

  bool token_required() const { return token_required_; }

  // The origin check, then the token check: nullopt accepts the request; otherwise a 403
  // (origin) or 401 (token, with `WWW-Authenticate: Bearer`) whose body tells the developer
  // what to change. Bodies never echo untrusted bytes: a malformed Origin is not repeated.
  std::optional<ws::Rejection> check(const ws::UpgradeRequest& request) const;

 private:
  std::optional<ws::Rejection> check_origin(const ws::HttpHeaders& headers) const;
  std::optional<ws::Rejection> check_token(const ws::UpgradeRequest& request) const;
  bool token_matches(std::string_view candidate) const;

  bool allow_any_origin_ = false;
  std::vector<std::string> allowed_origins_;  // serialized; empty and not any: loopback default
  bool token_required_ = false;
  // SHA-256 of the token: comparing digests takes the same time whatever the candidate's length
  // or how much of it matches.
  Digest token_digest_{};
};

}  // namespace wstool
