// What the client subcommands (connect, chat) share on the way to a connection: the engine's
// configuration from the shared client options (asking for an encrypted key's passphrase),
// following redirects, and showing a refused handshake.
#pragma once

#include <cstdint>
#include <set>
#include <string>

#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/error.h"
#include "lib/ws_url.h"

namespace wstool::tools {

inline constexpr std::uint64_t kDefaultMaxRedirects = 5;

// Fills the connection part of `config` (URL, headers, subprotocols, proxy, TLS files, timeout,
// compression) for `url`. An encrypted --key (or --cert holding the key) without
// --key-passphrase is asked for without echo on /dev/tty when standard input is a terminal;
// otherwise it is a usage error naming --key-passphrase. `credentials` false leaves out
// Authorization and Cookie (a redirect to another origin, as curl does).
Error make_client_config(const ClientOptions& options, const std::string& url_text,
                         const ws::WsUrl& url, bool credentials, ws::ClientConfig& config);

// The server's answer to a refused upgrade as a person reads it: the status line, the headers
// (secret values redacted), and the body after a blank line; control characters and escapes
// shown as \xHH so the server cannot drive the terminal. "" when there was no answer.
std::string describe_refusal(const ws::UpgradeResponse& response);

// 301, 302, 303, 307, 308.
bool is_redirect_status(int status);

// Follows the redirects of one connection: -L/--location and --max-redirects.
class RedirectFollower {
 public:
  enum class Verdict { kNotRedirect, kFollow, kStop };

  RedirectFollower(const ws::WsUrl& start, bool follow, std::uint64_t max_redirects);

  // After a refused handshake. kFollow: current() is where to connect next. kStop: a redirect
  // that is not followed (no -L, a loop, more than --max-redirects, a bad Location); `message`
  // says why, for people. kNotRedirect: any other answer.
  Verdict on_refusal(const ws::UpgradeResponse& response, std::string& message);

  const ws::WsUrl& current() const { return current_; }
  std::string current_text() const;
  // Credentials go only to the origin the user named.
  bool credentials_allowed() const { return ws::same_origin(start_, current_); }

 private:
  ws::WsUrl start_;
  ws::WsUrl current_;
  bool follow_;
  std::uint64_t max_redirects_;
  std::uint64_t followed_ = 0;
  std::set<std::string> seen_;
};

}  // namespace wstool::tools
