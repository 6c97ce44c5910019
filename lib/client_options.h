// The options every client subcommand shares (connect, chat, load, replay, record's upstream
// side), the request headers they imply, and which proxy a connection goes through.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/handshake.h"
#include "lib/ws_url.h"

namespace wstool {

inline constexpr std::chrono::seconds kDefaultConnectTimeout{10};

struct ClientOptions {
  ws::HttpHeaders headers;                 // -H "Name: value", in order
  std::string origin;                      // --origin
  std::vector<std::string> subprotocols;   // --subprotocol, in order of preference
  std::string bearer_token;                // --bearer (a secret)
  std::string basic_auth;                  // --auth "user:pass" (a secret)
  std::string ca_file;                     // --ca
  bool insecure = false;                   // --insecure: skip TLS verification
  std::string cert_file;                   // --cert
  std::string key_file;                    // --key
  std::string key_passphrase;              // --key-passphrase (a secret)
  std::chrono::nanoseconds connect_timeout = kDefaultConnectTimeout;  // TCP + TLS + handshake
  bool compress = true;                    // offer permessage-deflate
  std::string proxy;                       // --proxy URL; "" = from the environment
};

// The headers the options add to the upgrade request: Origin, then Authorization (Bearer, else
// Basic with base64 user:pass), then the user's -H headers. A -H header named Origin or
// Authorization replaces the generated one rather than sending it twice.
ws::HttpHeaders extra_request_headers(const ClientOptions& options);

// Parses a -H argument "Name: value" (value trimmed; may be empty). Refuses a missing colon, a
// name that is not a token, and CR/LF anywhere (header injection).
bool parse_header_argument(std::string_view text, ws::HttpHeader& out, std::string& error);

// Reads an environment variable; nullptr when unset. Injected so tests need no real environment.
using EnvGetter = std::function<const char*(const char*)>;

// The proxy URL a connection to `url` goes through, "" for a direct connection.
// - An explicit --proxy always applies (so it can be tested against a loopback server).
// - Else the environment: https_proxy/HTTPS_PROXY for wss://, http_proxy for ws:// (only the
//   lowercase name: CGI servers set HTTP_PROXY from a request header, "httpoxy"), then
//   all_proxy/ALL_PROXY; but never for loopback hosts (localhost, 127.0.0.0/8, ::1), nor for
//   hosts no_proxy/NO_PROXY lists ("*", exact names, domain suffixes with or without a leading
//   dot, IP literals).
std::string effective_proxy(const ClientOptions& options, const ws::WsUrl& url,
                            const EnvGetter& getenv);

// Whether PEM text holds an encrypted private key (PKCS#8 "ENCRYPTED PRIVATE KEY", or the
// traditional "Proc-Type: 4,ENCRYPTED" header), which needs a passphrase to load.
bool is_encrypted_pem_key(std::string_view pem);

// True for localhost, *.localhost, 127.0.0.0/8 and ::1.
bool is_loopback_host(const std::string& host);

}  // namespace wstool
