// `--listen` parsing and the readiness line.
#include "lib/listen_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <limits>

namespace wstool {
namespace {

bool fail(std::string& error, std::string reason) {
  error = std::move(reason);
  return false;
}

bool is_host_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
}

std::string bracketed(const std::string& host) {
  return host.find(':') != std::string::npos ? "[" + host + "]" : host;
}

}  // namespace

bool parse_listen_address(std::string_view text, ListenAddress& out, std::string& error) {
  const std::string shown = "'" + std::string(text) + "'";
  std::string host;
  std::string_view port_text;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) return fail(error, shown + ": unterminated '['");
    host = std::string(text.substr(1, close - 1));
    in6_addr addr{};
    if (inet_pton(AF_INET6, host.c_str(), &addr) != 1) {
      return fail(error, shown + ": invalid IPv6 address '" + host + "'");
    }
    const std::string_view after = text.substr(close + 1);
    if (after.empty() || after.front() != ':') {
      return fail(error, shown + ": expected HOST:PORT, e.g. [::1]:9001");
    }
    port_text = after.substr(1);
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return fail(error, shown + ": expected HOST:PORT, e.g. 127.0.0.1:9001 or :9001");
    }
    host = std::string(text.substr(0, colon));
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return fail(error, shown + ": IPv6 addresses go in brackets, e.g. [::1]:9001");
    }
    if (host.empty()) host = std::string(kDefaultListenHost);
    if (!std::all_of(host.begin(), host.end(), is_host_char)) {
      return fail(error, shown + ": invalid host '" + host + "'");
    }
  }
  constexpr std::size_t kMaxPortDigits = 5;
  if (port_text.empty()) return fail(error, shown + ": missing port (use 0 for any free port)");
  if (port_text.size() > kMaxPortDigits ||
      !std::all_of(port_text.begin(), port_text.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return fail(error, shown + ": invalid port '" + std::string(port_text) + "' (0-65535)");
  }
  const unsigned long port = std::stoul(std::string(port_text));
  if (port > std::numeric_limits<std::uint16_t>::max()) {
    return fail(error, shown + ": invalid port '" + std::string(port_text) + "' (0-65535)");
  }
  out.host = std::move(host);
  out.port = static_cast<std::uint16_t>(port);
  return true;
}

std::string readiness_line(bool tls, const std::string& bound_address, std::uint16_t port) {
  return std::string("listening on ") + (tls ? "wss://" : "ws://") + bracketed(bound_address) +
         ":" + std::to_string(port);
}

std::string to_string(const ListenAddress& address) {
  return bracketed(address.host) + ":" + std::to_string(address.port);
}

}  // namespace wstool
