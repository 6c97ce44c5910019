// Client options: request headers and proxy selection.
#include "lib/client_options.h"
#include "lib/ascii.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <cstring>

namespace wstool {
namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

const char* first_set(const EnvGetter& getenv, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const char* value = getenv(name);
    if (value != nullptr && *value != '\0') return value;
  }
  return nullptr;
}

std::string strip_brackets(std::string s) {
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') return s.substr(1, s.size() - 2);
  return s;
}

// no_proxy entry matching: "*", the host itself, or a domain suffix ("example.com" and
// ".example.com" both match "api.example.com"). A ":port" on an entry is ignored.
bool no_proxy_matches(std::string_view list, const std::string& host) {
  const std::string h = ascii_lowercase(host);
  for (const std::string& raw : ws::split_list(list)) {
    std::string entry = ascii_lowercase(raw);
    if (entry == "*") return true;
    if (!entry.empty() && entry.front() == '[') {
      entry = strip_brackets(entry.substr(0, entry.find(']') + 1));
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));
    }
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (h == entry) return true;
    if (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
        h[h.size() - entry.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

}  // namespace

ws::HttpHeaders extra_request_headers(const ClientOptions& options) {
  ws::HttpHeaders out;
  if (!options.origin.empty()) out.push_back({"Origin", options.origin});
  if (!options.bearer_token.empty()) {
    out.push_back({"Authorization", "Bearer " + options.bearer_token});
  } else if (!options.basic_auth.empty()) {
    out.push_back({"Authorization", "Basic " + base64(options.basic_auth)});
  }
  const std::size_t generated = out.size();
  for (const auto& h : options.headers) {
    const auto end = out.begin() + static_cast<std::ptrdiff_t>(generated);
    const auto same = std::find_if(out.begin(), end, [&](const ws::HttpHeader& g) {
      return ascii_lowercase(g.name) == ascii_lowercase(h.name);
    });
    if (same != end) {
      same->value = h.value;
    } else {
      out.push_back(h);
    }
  }
  return out;
}

bool parse_header_argument(std::string_view text, ws::HttpHeader& out, std::string& error) {
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    error = "header must not contain CR or LF";
    return false;
  }
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos) {
    error = "expected 'Name: value', got '" + std::string(text) + "'";
    return false;
  }
  const std::string_view name = text.substr(0, colon);
  if (!ws::is_http_token(name)) {
    error = "invalid header name '" + std::string(name) + "'";
    return false;
  }
  std::string_view value = text.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  out = {std::string(name), std::string(value)};
  return true;
}

bool is_loopback_host(const std::string& host) {
  const std::string h = ascii_lowercase(strip_brackets(host));
  constexpr std::string_view kLocalhost = "localhost";
  constexpr std::string_view kDotLocalhost = ".localhost";
  if (h == kLocalhost) return true;
  if (h.size() > kDotLocalhost.size() &&
      h.compare(h.size() - kDotLocalhost.size(), kDotLocalhost.size(), kDotLocalhost) == 0) {
    return true;
  }
  in_addr v4{};
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) {
    constexpr std::uint32_t kLoopbackNet = 0x7f000000;
    constexpr std::uint32_t kLoopbackMask = 0xff000000;
    return (ntohl(v4.s_addr) & kLoopbackMask) == kLoopbackNet;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // ::ffff:127.x.y.z
    constexpr std::size_t kMappedV4Offset = 12;
    constexpr unsigned char kLoopbackFirstOctet = 127;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[kMappedV4Offset] == kLoopbackFirstOctet;
  }
  return false;
}

std::string effective_proxy(const ClientOptions& options, const ws::WsUrl& url,
                            const EnvGetter& getenv) {
  if (!options.proxy.empty()) return options.proxy;
  if (is_loopback_host(url.host)) return {};
  const char* proxy = url.secure ? first_set(getenv, {"https_proxy", "HTTPS_PROXY"})
                                 : first_set(getenv, {"http_proxy"});
  if (proxy == nullptr) proxy = first_set(getenv, {"all_proxy", "ALL_PROXY"});
  if (proxy == nullptr) return {};
  if (const char* no_proxy = first_set(getenv, {"no_proxy", "NO_PROXY"})) {
    if (no_proxy_matches(no_proxy, url.host)) return {};
  }
  return proxy;
}

bool is_encrypted_pem_key(std::string_view pem) {
  return pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

}  // namespace wstool
