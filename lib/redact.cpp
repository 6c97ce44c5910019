// Redaction of secret header values and URL parts.
#include "lib/redact.h"
#include "lib/ascii.h"

#include <array>
#include <cctype>

namespace wstool {
namespace {

constexpr std::array<std::string_view, 4> kSecretHeaders = {
    "Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie"};
constexpr std::array<std::string_view, 2> kSecretQueryKeys = {"token", "access_token"};

bool is_secret_query_key(std::string_view key) {
  for (const auto k : kSecretQueryKeys) {
    if (ascii_iequals(key, k)) return true;
  }
  return false;
}

// Redacts the values of secret parameters in `query` (the part after '?', without '#').
std::string redact_query(std::string_view query) {
  std::string out;
  while (true) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    const std::size_t eq = param.find('=');
    if (eq != std::string_view::npos && is_secret_query_key(param.substr(0, eq))) {
      out += param.substr(0, eq + 1);
      out += kRedacted;
    } else {
      out += param;
    }
    if (amp == std::string_view::npos) break;
    out += '&';
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace

bool is_secret_header(std::string_view name) {
  for (const auto h : kSecretHeaders) {
    if (ascii_iequals(name, h)) return true;
  }
  return false;
}

std::string redact_header_value(std::string_view name, std::string_view value) {
  return is_secret_header(name) ? std::string(kRedacted) : std::string(value);
}

ws::HttpHeaders redact_headers(const ws::HttpHeaders& headers) {
  ws::HttpHeaders out = headers;
  for (auto& h : out) {
    if (is_secret_header(h.name)) h.value = std::string(kRedacted);
  }
  return out;
}

std::string redact_url(std::string_view url) {
  std::string out;
  std::string_view rest = url;
  // User-info: between "://" and an '@' that comes before the end of the authority.
  if (const std::size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::size_t authority_start = scheme_end + 3;
    out += rest.substr(0, authority_start);
    rest.remove_prefix(authority_start);
    const std::size_t authority_end = rest.find_first_of("/?#");
    const std::size_t at = rest.substr(0, authority_end).rfind('@');
    if (at != std::string_view::npos) {
      out += kRedacted;
      rest.remove_prefix(at);  // keeps the '@'
    }
  }
  const std::size_t question = rest.find('?');
  if (question == std::string_view::npos) {
    out += rest;
    return out;
  }
  out += rest.substr(0, question + 1);
  rest.remove_prefix(question + 1);
  const std::size_t hash = rest.find('#');
  out += redact_query(rest.substr(0, hash));
  if (hash != std::string_view::npos) out += rest.substr(hash);
  return out;
}

std::string url_diagnostic(std::string_view url, std::string_view message) {
  std::string out = redact_url(url);
  if (!url.empty() && message.substr(0, url.size()) == url) {
    message.remove_prefix(url.size());
  } else if (message.substr(0, out.size()) == out) {
    message.remove_prefix(out.size());
  } else {
    out += ": ";
  }
  out += message;
  return out;
}

}  // namespace wstool
