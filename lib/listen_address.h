// `--listen HOST:PORT`, parsed once for every server subcommand, and the readiness line servers
// print as their first stdout line once listening.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wstool {

inline constexpr std::string_view kDefaultListenHost = "127.0.0.1";

struct ListenAddress {
  std::string host{kDefaultListenHost};  // IPv6 without brackets
  std::uint16_t port = 0;                // 0 lets the OS pick a free port
};

// `127.0.0.1:9001`, `[::1]:0`, `:9001` (host 127.0.0.1), `localhost:80`, `0.0.0.0:8080`.
// Refuses a missing port, ports above 65535, unbracketed IPv6 and malformed hosts; `error` is a
// lowercase reason.
bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error);

// `listening on ws://127.0.0.1:PORT` (`wss://` under TLS; IPv6 addresses bracketed), with no
// trailing newline. `bound_address` is the literal address the socket is bound to.
std::string readiness_line(bool tls, const std::string& bound_address, std::uint16_t port);

// "HOST:PORT" with IPv6 bracketed, for messages.
std::string to_string(const ListenAddress& address);

}  // namespace wstool
