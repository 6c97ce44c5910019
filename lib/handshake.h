// The RFC 6455 opening handshake as bytes in, bytes out: incremental parsers for the HTTP
// upgrade request and response, the section 4.2.1 checks, Sec-WebSocket-Accept, and builders.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wstool::ws {

struct HttpHeader {
  std::string name;
  std::string value;
};
using HttpHeaders = std::vector<HttpHeader>;

// The value of header `name` (case-insensitive); all occurrences joined with ", " as RFC 9110
// 5.3 allows for list-valued fields; "" when absent.
std::string header_value(const HttpHeaders& headers, std::string_view name);

// True when the comma-separated list `list` holds `token` (case-insensitive, OWS trimmed), as
// Connection: keep-alive, Upgrade needs.
bool list_has_token(std::string_view list, std::string_view token);

// True when `s` is a non-empty RFC 9110 token (header names, subprotocol names).
bool is_http_token(std::string_view s);

// The comma-separated elements of `list`, OWS trimmed, empty elements dropped.
std::vector<std::string> split_list(std::string_view list);

// Heads larger than this are refused with 431 unless the caller asks otherwise; browsers send
// well under 8 KiB, and websocketpp's parser refuses more than 16000 bytes anyway.
inline constexpr std::size_t kDefaultMaxHeaderBytes = 8 * 1024;
// How much of a non-101 answer's body a client keeps to show the user.
inline constexpr std::size_t kDefaultMaxErrorBodyBytes = 4 * 1024;

struct UpgradeRequest {
  std::string method;
  std::string target;
  std::string version;  // as sent, e.g. "HTTP/1.1"
  HttpHeaders headers;
};

enum class ParseState { kIncomplete, kComplete, kError };

// Server side: parses the request head incrementally. Stops exactly at the blank line that ends
// the head, so bytes the client pipelined after it (its first frames) stay with the caller.
// request().headers come back one entry per field name, repeated fields joined with ", ", in
// case-insensitive name order (websocketpp keeps them in a map): the wire order is not kept.
class RequestParser {
 public:
  // Heads above `max_header_bytes` fail with 431; websocketpp caps them at 16000 bytes whatever
  // this says.
  explicit RequestParser(std::size_t max_header_bytes = kDefaultMaxHeaderBytes);

  // Consumes bytes of the request head; returns how many it used (fewer than `size` only once
  // the head is complete, or on error). Does nothing after completion or an error.
  std::size_t consume(const char* data, std::size_t size);

  ParseState state() const { return state_; }
  int error_status() const { return error_status_; }  // 400 malformed, 431 head too large
  const std::string& error() const { return error_; }  // human reason
  const UpgradeRequest& request() const { return request_; }

 private:
  void fail(int status, std::string reason);
  void finish_head();

  std::size_t max_header_bytes_;
  std::string head_;  // bytes of the head received so far
  ParseState state_ = ParseState::kIncomplete;
  int error_status_ = 0;
  std::string error_;
  UpgradeRequest request_;
};

// An HTTP answer refusing an upgrade. `reason` is the status line's reason phrase; `body` says
// why, in words a developer who hit the endpoint with curl understands.
struct Rejection {
  int status = 400;
  std::string reason;
  HttpHeaders headers;
  std::string body;
};

// An ordinary HTTP answer (a server's /healthz, /metrics): sent, then the connection closes.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  HttpHeaders headers;
  std::string body;
  bool head_only = false;  // answer a HEAD request: headers with the body's length, no body
};
std::string make_http_response(const HttpResponse& response);

// The request target split: "/rooms?id=a%20b" -> path "/rooms", query "id=a%20b".
struct RequestTarget {
  std::string path;
  std::string query;
};
RequestTarget split_target(std::string_view target);
// The first value of `name` in a query string, percent-decoded ('+' as space); nullopt when
// absent.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

// RFC 6455 4.2.1: GET, HTTP/1.1 or later, Host, Upgrade: websocket, Connection: upgrade, a
// Sec-WebSocket-Key that is base64 of 16 bytes, well-formed Sec-WebSocket-Protocol tokens
// (400 otherwise), and Sec-WebSocket-Version: 13 (426 with `Sec-WebSocket-Version: 13`
// otherwise, RFC 6455 4.4). nullopt when the request may be upgraded.
std::optional<Rejection> check_upgrade_request(const UpgradeRequest& request);

// The subprotocols a client offered, in its order of preference.
std::vector<std::string> requested_subprotocols(const UpgradeRequest& request);

// base64(SHA-1(client_key + the RFC 6455 GUID)).
std::string accept_key_for(std::string_view client_key);

// The 101 answer. Empty `subprotocol`/`extensions` leave those headers out; `extra` headers are
// appended (CR and LF in them are replaced by spaces: no header injection).
std::string make_switching_response(std::string_view accept_key, std::string_view subprotocol,
                                    std::string_view extensions, const HttpHeaders& extra);

// The refusal on the wire, with Content-Type (when there is a body), Content-Length and
// Connection: close.
std::string make_rejection_response(const Rejection& rejection);

// The standard reason phrase for `status` ("Bad Request"), "" when unknown.
std::string_view reason_phrase(int status);

// ---- Client side ----

// 16 random bytes from OpenSSL's CSPRNG, base64-encoded (RFC 6455 4.1).
std::string make_client_key();

// The upgrade request. An `extra` header named like one of the generated ones (Host, Upgrade,
// Connection, Sec-WebSocket-*) replaces it, so a tester can send deliberately odd handshakes;
// the others are appended in order.
std::string make_upgrade_request(std::string_view host_header, std::string_view target,
                                 std::string_view key,
                                 const std::vector<std::string>& subprotocols,
                                 std::string_view extensions_offer, const HttpHeaders& extra);

struct UpgradeResponse {
  int status = 0;
  std::string reason;
  std::string version;
  HttpHeaders headers;
  std::string body;  // non-101 only, at most the parser's max_body_bytes
};

// Client side: parses the server's answer incrementally. On 101 it stops exactly at the end of
// the head (the server's first frames stay with the caller). On any other status it also keeps
// up to `max_body_bytes` of the body for error display: bounded by Content-Length when given,
// else until end_of_stream().
class ResponseParser {
 public:
  explicit ResponseParser(std::size_t max_header_bytes = kDefaultMaxHeaderBytes,
                          std::size_t max_body_bytes = kDefaultMaxErrorBodyBytes);

  std::size_t consume(const char* data, std::size_t size);
  // The peer closed the stream: a response whose body was being read is complete, one whose
  // head was not is an error.
  void end_of_stream();

  ParseState state() const { return state_; }
  bool head_complete() const { return head_complete_; }
  const std::string& error() const { return error_; }
  const UpgradeResponse& response() const { return response_; }

 private:
  void fail(std::string reason);
  void finish_head();

  std::size_t max_header_bytes_;
  std::size_t max_body_bytes_;
  std::string head_;
  bool head_complete_ = false;
  std::size_t body_wanted_ = 0;  // body bytes still to keep
  ParseState state_ = ParseState::kIncomplete;
  std::string error_;
  UpgradeResponse response_;
};

// Checks a server's answer to our upgrade: 101, Upgrade: websocket, Connection: upgrade,
// Sec-WebSocket-Accept matching `key`, and a Sec-WebSocket-Protocol we offered (or none).
// "" when fine, else a human reason ("server answered 403 Forbidden", "bad Sec-WebSocket-Accept").
std::string check_upgrade_response(const UpgradeResponse& response, std::string_view key,
                                   const std::vector<std::string>& offered_subprotocols);

}  // namespace wstool::ws
