// The RFC 6455 opening handshake. websocketpp's HTTP parser splits header lines; wstool frames
// the head itself (so pipelined bytes stay unconsumed and the size limit is ours) and validates
// what websocketpp leaves loose (request line, version, control characters, line folding).
#include "lib/handshake.h"
#include "lib/ascii.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <random>
#include <string>
#include <utility>

#include <websocketpp/http/request.hpp>
#include <websocketpp/http/response.hpp>

namespace wstool::ws {
namespace {

constexpr std::string_view kWebSocketGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr std::string_view kSupportedVersion = "13";
constexpr std::string_view kHeadTerminator = "\r\n\r\n";
constexpr std::string_view kCrlf = "\r\n";
constexpr std::size_t kClientKeyBytes = 16;
// base64 of 16 bytes: 22 significant characters and "==".
constexpr std::size_t kClientKeyChars = 24;
constexpr std::size_t kSha1Bytes = 20;
constexpr int kStatusSwitchingProtocols = 101;
constexpr int kStatusBadRequest = 400;
constexpr int kStatusUpgradeRequired = 426;
constexpr int kStatusHeaderTooLarge = 431;
// The first byte of a TLS record carrying a handshake message (a ClientHello, here).
constexpr unsigned char kTlsHandshakeRecord = 0x16;
constexpr int kStatusDigits = 3;

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// RFC 9110 5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar);
}

bool is_base64_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '+' ||
         c == '/';
}

bool is_key_of_16_bytes(std::string_view key) {
  if (key.size() != kClientKeyChars) return false;
  if (key.substr(kClientKeyChars - 2) != "==") return false;
  const std::string_view significant = key.substr(0, kClientKeyChars - 2);
  return std::all_of(significant.begin(), significant.end(), is_base64_char);
}

std::string base64_encode(const unsigned char* data, std::size_t size) {
  // EVP_EncodeBlock writes 4 output bytes per 3 input bytes, plus a NUL.
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data,
                                      static_cast<int>(size));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

// No CR or LF may reach the wire inside a header: one would start a new header line.
std::string sanitize_field(std::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  return out;
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
  out += sanitize_field(name);
  out += ": ";
  out += sanitize_field(value);
  out += kCrlf;
}

// "HTTP/<digit>.<digit>": the only versions HTTP/1.x framing can carry.
bool parse_http_version(std::string_view v, int& major, int& minor) {
  constexpr std::string_view kPrefix = "HTTP/";
  constexpr std::size_t kVersionChars = kPrefix.size() + 3;
  if (v.size() != kVersionChars || v.substr(0, kPrefix.size()) != kPrefix) return false;
  const char maj = v[kPrefix.size()];
  const char dot = v[kPrefix.size() + 1];
  const char min = v[kPrefix.size() + 2];
  if (!std::isdigit(static_cast<unsigned char>(maj)) || dot != '.' ||
      !std::isdigit(static_cast<unsigned char>(min))) {
    return false;
  }
  major = maj - '0';
  minor = min - '0';
  return true;
}

// Checks what websocketpp's line splitter does not: every CR is followed by LF and every LF
// preceded by CR, no control characters besides HT, and no obsolete line folding (RFC 9112 5.2).
// Also refuses whitespace between a field name and its colon (RFC 9112 5.1), which websocketpp
// would strip. Returns "" or the reason the head (of a `what`: "request", "response") is malformed.
std::string check_head_bytes(std::string_view head, std::string_view what) {
  const std::string in_head = " in the " + std::string(what) + " head";
  for (std::size_t i = 0; i < head.size(); ++i) {
    const auto c = static_cast<unsigned char>(head[i]);
    if (c == '\r') {
      if (i + 1 >= head.size() || head[i + 1] != '\n') return "bare CR" + in_head;
      ++i;
      // A line that starts with whitespace continues the previous header (obs-fold).
      if (i + 1 < head.size() && is_ows(head[i + 1])) return "obsolete line folding in a header";
      continue;
    }
    if (c == '\n') return "bare LF" + in_head + " (lines must end with CRLF)";
    constexpr unsigned char kDel = 0x7f;
    if ((c < 0x20 && c != '\t') || c == kDel) return "control character" + in_head;
  }
  // Header lines: everything after the start line, before the blank line.
  std::size_t pos = head.find(kCrlf) + kCrlf.size();
  while (pos < head.size()) {
    const std::size_t end = head.find(kCrlf, pos);
    if (end == pos || end == std::string_view::npos) break;
    const std::string_view field = head.substr(pos, end - pos);
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return "header line without a colon" + in_head;
    if (colon == 0) return "empty header name" + in_head;
    if (is_ows(field[colon - 1])) return "whitespace before a header's colon" + in_head;
    pos = end + kCrlf.size();
  }
  return {};
}

// Copies websocketpp's parsed headers out, refusing names websocketpp lets through.
bool copy_headers(const websocketpp::http::parser::header_list& in, HttpHeaders& out) {
  out.clear();
  for (const auto& [name, value] : in) {
    if (!is_token(name)) return false;
    out.push_back({name, value});
  }
  return true;
}

// Splits "A SP B SP C" into its three parts; C may contain spaces (a reason phrase).
bool split_start_line(std::string_view line, std::string_view& a, std::string_view& b,
                      std::string_view& c) {
  const std::size_t s1 = line.find(' ');
  if (s1 == std::string_view::npos) return false;
  const std::size_t s2 = line.find(' ', s1 + 1);
  a = line.substr(0, s1);
  if (s2 == std::string_view::npos) {
    b = line.substr(s1 + 1);
    c = {};
  } else {
    b = line.substr(s1 + 1, s2 - s1 - 1);
    c = line.substr(s2 + 1);
  }
  return true;
}

// Appends `data` to `head` until the blank line that ends an HTTP head. Returns how many bytes
// were taken; sets `complete` once the terminator is in, `too_large` when `max` was reached
// first.
std::size_t take_head_bytes(std::string& head, std::size_t max, const char* data,
                            std::size_t size, bool& complete, bool& too_large) {
  complete = false;
  too_large = false;
  const std::size_t old = head.size();
  const std::size_t take = std::min(size, max - old);
  head.append(data, take);
  // The terminator may straddle the previous chunk.
  const std::size_t from = old >= kHeadTerminator.size() - 1 ? old - (kHeadTerminator.size() - 1)
                                                             : 0;
  const std::size_t pos = head.find(kHeadTerminator, from);
  if (pos != std::string::npos) {
    const std::size_t end = pos + kHeadTerminator.size();
    head.resize(end);
    complete = true;
    return end - old;
  }
  if (head.size() >= max) too_large = true;
  return take;
}

Rejection reject(int status, std::string why) {
  Rejection r;
  r.status = status;
  r.reason = std::string(reason_phrase(status));
  r.body = std::to_string(status) + " " + r.reason + ": " + std::move(why) + "\n";
  return r;
}

}  // namespace

std::string header_value(const HttpHeaders& headers, std::string_view name) {
  std::string out;
  for (const auto& h : headers) {
    if (!ascii_iequals(h.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

bool is_http_token(std::string_view s) { return is_token(s); }

std::vector<std::string> split_list(std::string_view list) {
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim_ows(list.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

bool list_has_token(std::string_view list, std::string_view token) {
  const auto items = split_list(list);
  return std::any_of(items.begin(), items.end(),
                     [&](const std::string& item) { return ascii_iequals(item, token); });
}

// ---- RequestParser ----

RequestParser::RequestParser(std::size_t max_header_bytes) : max_header_bytes_(max_header_bytes) {}

void RequestParser::fail(int status, std::string reason) {
  state_ = ParseState::kError;
  error_status_ = status;
  error_ = std::move(reason);
  head_.clear();
}

std::size_t RequestParser::consume(const char* data, std::size_t size) {
  if (state_ != ParseState::kIncomplete || size == 0) return 0;
  bool complete = false;
  bool too_large = false;
  const std::size_t used =
      take_head_bytes(head_, max_header_bytes_, data, size, complete, too_large);
  if (complete) {
    finish_head();
  } else if (!head_.empty() && !is_tchar(head_.front())) {
    // A request line starts with its method, a token: anything else can be refused now rather
    // than after the handshake timeout. The usual case is a TLS client (wss://) at a plain server,
    // whose ClientHello has no blank line to wait for.
    fail(kStatusBadRequest, static_cast<unsigned char>(head_.front()) == kTlsHandshakeRecord
                                ? "a TLS handshake arrived: this server speaks plain ws://, not wss://"
                                : "malformed request line");
  } else if (too_large) {
    fail(kStatusHeaderTooLarge,
         "request head larger than " + std::to_string(max_header_bytes_) + " bytes");
  }
  return used;
}

void RequestParser::finish_head() {
  if (std::string why = check_head_bytes(head_, "request"); !why.empty()) {
    fail(kStatusBadRequest, std::move(why));
    return;
  }
  const std::string_view head(head_);
  const std::string_view line = head.substr(0, head.find(kCrlf));
  std::string_view method, target, version;
  int major = 0, minor = 0;
  if (!split_start_line(line, method, target, version) || !is_token(method) || target.empty() ||
      !parse_http_version(version, major, minor)) {
    fail(kStatusBadRequest, "malformed request line");
    return;
  }
  // websocketpp gets the head without its final CRLF: it then splits every header line but does
  // not apply its own end-of-head checks (Host, bodies); those are ours.
  websocketpp::http::parser::request parser;
  try {
    const std::size_t without_blank = head_.size() - kCrlf.size();
    parser.consume(head_.data(), without_blank);
  } catch (const websocketpp::http::exception& e) {
    const int status = static_cast<int>(e.m_error_code);
    fail(status == kStatusHeaderTooLarge ? kStatusHeaderTooLarge : kStatusBadRequest,
         std::string("malformed request head: ") + e.what());
    return;
  }
  if (!copy_headers(parser.get_headers(), request_.headers)) {
    fail(kStatusBadRequest, "malformed header name");
    return;
  }
  request_.method = std::string(method);
  request_.target = std::string(target);
  request_.version = std::string(version);
  state_ = ParseState::kComplete;
  head_.clear();
  head_.shrink_to_fit();
}

// ---- Server-side checks and answers ----

std::optional<Rejection> check_upgrade_request(const UpgradeRequest& request) {
  if (request.method != "GET") {
    return reject(kStatusBadRequest, "a WebSocket handshake must use GET, not " + request.method);
  }
  int major = 0, minor = 0;
  if (!parse_http_version(request.version, major, minor) || major < 1 ||
      (major == 1 && minor < 1)) {
    return reject(kStatusBadRequest,
                  "a WebSocket handshake needs HTTP/1.1 or later, not " + request.version);
  }
  if (trim_ows(header_value(request.headers, "Host")).empty()) {
    return reject(kStatusBadRequest, "the request has no Host header");
  }
  if (!list_has_token(header_value(request.headers, "Upgrade"), "websocket")) {
    return reject(kStatusBadRequest,
                  "this is a WebSocket endpoint; the request lacks 'Upgrade: websocket'");
  }
  if (!list_has_token(header_value(request.headers, "Connection"), "upgrade")) {
    return reject(kStatusBadRequest,
                  "this is a WebSocket endpoint; the request lacks 'Connection: Upgrade'");
  }
  const std::string version = header_value(request.headers, "Sec-WebSocket-Version");
  if (trim_ows(version) != kSupportedVersion) {
    Rejection r = reject(kStatusUpgradeRequired,
                         version.empty()
                             ? "the request has no Sec-WebSocket-Version; this server speaks 13"
                             : "unsupported Sec-WebSocket-Version " + version +
                                   "; this server speaks 13");
    r.headers.push_back({"Sec-WebSocket-Version", std::string(kSupportedVersion)});
    return r;
  }
  const std::string key = header_value(request.headers, "Sec-WebSocket-Key");
  if (key.empty()) return reject(kStatusBadRequest, "the request has no Sec-WebSocket-Key");
  if (!is_key_of_16_bytes(key)) {
    return reject(kStatusBadRequest,
                  "Sec-WebSocket-Key must be the base64 encoding of 16 bytes, got '" + key + "'");
  }
  const std::string protocols = header_value(request.headers, "Sec-WebSocket-Protocol");
  for (const std::string& p : split_list(protocols)) {
    if (!is_token(p)) {
      return reject(kStatusBadRequest, "Sec-WebSocket-Protocol '" + p + "' is not a token");
    }
  }
  return std::nullopt;
}

std::vector<std::string> requested_subprotocols(const UpgradeRequest& request) {
  return split_list(header_value(request.headers, "Sec-WebSocket-Protocol"));
}

std::string accept_key_for(std::string_view client_key) {
  std::string input(client_key);
  input += kWebSocketGuid;
  std::array<unsigned char, kSha1Bytes> digest{};
  unsigned int digest_size = 0;
  // Fetched once: OpenSSL 3 otherwise looks the algorithm up on every call, a sixth of the
  // cost of a handshake (measured with callgrind).
  static EVP_MD* const sha1 = EVP_MD_fetch(nullptr, "SHA1", nullptr);
  if (sha1 == nullptr ||
      EVP_Digest(input.data(), input.size(), digest.data(), &digest_size, sha1, nullptr) !=
          1 ||
      digest_size != kSha1Bytes) {
    return {};  // SHA-1 unavailable: an empty accept key never matches, the handshake fails
  }
  return base64_encode(digest.data(), digest.size());
}

std::string make_switching_response(std::string_view accept_key, std::string_view subprotocol,
                                    std::string_view extensions, const HttpHeaders& extra) {
  std::string out = "HTTP/1.1 101 Switching Protocols\r\n";
  append_header(out, "Upgrade", "websocket");
  append_header(out, "Connection", "Upgrade");
  append_header(out, "Sec-WebSocket-Accept", accept_key);
  if (!subprotocol.empty()) append_header(out, "Sec-WebSocket-Protocol", subprotocol);
  if (!extensions.empty()) append_header(out, "Sec-WebSocket-Extensions", extensions);
  for (const auto& h : extra) append_header(out, h.name, h.value);
  out += kCrlf;
  return out;
}

std::string make_rejection_response(const Rejection& rejection) {
  std::string out = "HTTP/1.1 " + std::to_string(rejection.status) + " " +
                    sanitize_field(rejection.reason) + "\r\n";
  bool has_type = false;
  for (const auto& h : rejection.headers) {
    // We own the framing headers: a caller's copy would contradict ours.
    if (ascii_iequals(h.name, "Content-Length") || ascii_iequals(h.name, "Connection")) continue;
    if (ascii_iequals(h.name, "Content-Type")) has_type = true;
    append_header(out, h.name, h.value);
  }
  if (!rejection.body.empty() && !has_type) {
    // The body may quote the request back; browsers must not sniff it into HTML.
    append_header(out, "Content-Type", "text/plain; charset=utf-8");
    append_header(out, "X-Content-Type-Options", "nosniff");
  }
  append_header(out, "Content-Length", std::to_string(rejection.body.size()));
  append_header(out, "Connection", "close");
  out += kCrlf;
  out += rejection.body;
  return out;
}

std::string make_http_response(const HttpResponse& response) {
  std::string_view reason = reason_phrase(response.status);
  std::string out = "HTTP/1.1 " + std::to_string(response.status) + " " +
                    std::string(reason.empty() ? std::string_view("Unknown") : reason) + "\r\n";
  for (const auto& h : response.headers) {
    if (ascii_iequals(h.name, "Content-Length") || ascii_iequals(h.name, "Connection") ||
        ascii_iequals(h.name, "Content-Type")) {
      continue;  // ours, from the fields below
    }
    append_header(out, h.name, h.value);
  }
  if (!response.content_type.empty()) append_header(out, "Content-Type", response.content_type);
  append_header(out, "X-Content-Type-Options", "nosniff");
  append_header(out, "Cache-Control", "no-store");
  append_header(out, "Content-Length", std::to_string(response.body.size()));
  append_header(out, "Connection", "close");
  out += kCrlf;
  if (!response.head_only) out += response.body;
  return out;
}

RequestTarget split_target(std::string_view target) {
  RequestTarget result;
  const std::size_t fragment = target.find('#');
  if (fragment != std::string_view::npos) target = target.substr(0, fragment);
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) {
    result.path = std::string(target);
  } else {
    result.path = std::string(target.substr(0, question));
    result.query = std::string(target.substr(question + 1));
  }
  return result;
}

namespace {

int hex_digit_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// application/x-www-form-urlencoded decoding; a malformed escape is kept as it is.
std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out += ' ';
    } else if (c == '%' && i + 2 < text.size() && hex_digit_value(text[i + 1]) >= 0 &&
               hex_digit_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_digit_value(text[i + 1]) * 16 + hex_digit_value(text[i + 2]));
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t eq = pair.find('=');
    const std::string key = percent_decode(pair.substr(0, eq));
    if (key != name) continue;
    return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
  }
  return std::nullopt;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return {};
  }
}

// ---- Client side ----

std::string make_client_key() {
  std::array<unsigned char, kClientKeyBytes> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) {
    // The key is a nonce against caching proxies, not a secret (RFC 6455 10.3): the system
    // generator is an acceptable fallback if OpenSSL's cannot be seeded.
    std::random_device rd;
    for (auto& b : nonce) b = static_cast<unsigned char>(rd());
  }
  return base64_encode(nonce.data(), nonce.size());
}

std::string make_upgrade_request(std::string_view host_header, std::string_view target,
                                 std::string_view key,
                                 const std::vector<std::string>& subprotocols,
                                 std::string_view extensions_offer, const HttpHeaders& extra) {
  std::string protocols;
  for (const auto& p : subprotocols) {
    if (!protocols.empty()) protocols += ", ";
    protocols += p;
  }
  HttpHeaders headers = {{"Host", std::string(host_header)},
                         {"Upgrade", "websocket"},
                         {"Connection", "Upgrade"},
                         {"Sec-WebSocket-Key", std::string(key)},
                         {"Sec-WebSocket-Version", std::string(kSupportedVersion)}};
  if (!protocols.empty()) headers.push_back({"Sec-WebSocket-Protocol", protocols});
  if (!extensions_offer.empty()) {
    headers.push_back({"Sec-WebSocket-Extensions", std::string(extensions_offer)});
  }
  const std::size_t generated = headers.size();
  for (const auto& h : extra) {
    const auto same = std::find_if(headers.begin(), headers.begin() + static_cast<std::ptrdiff_t>(generated),
                                   [&](const HttpHeader& g) { return ascii_iequals(g.name, h.name); });
    if (same != headers.begin() + static_cast<std::ptrdiff_t>(generated)) {
      same->value = h.value;
    } else {
      headers.push_back(h);
    }
  }
  std::string out = "GET " + sanitize_field(target.empty() ? "/" : target) + " HTTP/1.1\r\n";
  for (const auto& h : headers) append_header(out, h.name, h.value);
  out += kCrlf;
  return out;
}

// ---- ResponseParser ----

ResponseParser::ResponseParser(std::size_t max_header_bytes, std::size_t max_body_bytes)
    : max_header_bytes_(max_header_bytes), max_body_bytes_(max_body_bytes) {}

void ResponseParser::fail(std::string reason) {
  state_ = ParseState::kError;
  error_ = std::move(reason);
  head_.clear();
}

std::size_t ResponseParser::consume(const char* data, std::size_t size) {
  if (state_ != ParseState::kIncomplete || size == 0) return 0;
  if (head_complete_) {
    const std::size_t take = std::min(size, body_wanted_);
    response_.body.append(data, take);
    body_wanted_ -= take;
    if (body_wanted_ == 0) state_ = ParseState::kComplete;
    return take;
  }
  bool complete = false;
  bool too_large = false;
  std::size_t used = take_head_bytes(head_, max_header_bytes_, data, size, complete, too_large);
  if (complete) {
    finish_head();
    if (state_ == ParseState::kIncomplete && used < size) {
      used += consume(data + used, size - used);
    }
  } else if (too_large) {
    fail("response head larger than " + std::to_string(max_header_bytes_) + " bytes");
  }
  return used;
}

void ResponseParser::end_of_stream() {
  if (state_ != ParseState::kIncomplete) return;
  if (head_complete_) {
    state_ = ParseState::kComplete;
  } else {
    fail(head_.empty() ? "connection closed before any response"
                       : "connection closed in the middle of the response head");
  }
}

void ResponseParser::finish_head() {
  if (std::string why = check_head_bytes(head_, "response"); !why.empty()) {
    fail(std::move(why));
    return;
  }
  const std::string_view head(head_);
  const std::size_t line_end = head.find(kCrlf);
  const std::string_view line = head.substr(0, line_end);
  std::string_view version, code, reason;
  int major = 0, minor = 0;
  if (!split_start_line(line, version, code, reason) || !parse_http_version(version, major, minor) ||
      code.size() != kStatusDigits ||
      !std::all_of(code.begin(), code.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    fail("malformed status line '" + std::string(line) + "'");
    return;
  }
  // websocketpp splits the header lines; it is handed a fixed status line (it insists on a
  // reason phrase, which RFC 9112 allows to be empty, and casts any status number into its
  // status enum, undefined behaviour for codes it does not list; wstool parsed the line above)
  // and no final CRLF (its body handling would otherwise start).
  websocketpp::http::parser::response parser;
  const std::string normalised = "HTTP/1.1 200 -" +
                                 std::string(head.substr(line_end, head.size() - line_end - kCrlf.size()));
  try {
    parser.consume(normalised.data(), normalised.size());
  } catch (const websocketpp::http::exception& e) {
    fail(std::string("malformed response head: ") + e.what());
    return;
  }
  if (!copy_headers(parser.get_headers(), response_.headers)) {
    fail("malformed header name in the response");
    return;
  }
  response_.version = std::string(version);
  response_.status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  response_.reason = std::string(reason);
  head_complete_ = true;
  head_.clear();
  head_.shrink_to_fit();

  if (response_.status == kStatusSwitchingProtocols || max_body_bytes_ == 0) {
    state_ = ParseState::kComplete;
    return;
  }
  // Keep some of the body for the error message. Chunked bodies are not decoded: the raw
  // chunks would be noise, so none is kept.
  if (list_has_token(header_value(response_.headers, "Transfer-Encoding"), "chunked")) {
    state_ = ParseState::kComplete;
    return;
  }
  const std::string length = std::string(trim_ows(header_value(response_.headers, "Content-Length")));
  if (!length.empty()) {
    if (!std::all_of(length.begin(), length.end(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
      state_ = ParseState::kComplete;  // an unusable length: show no body rather than guess
      return;
    }
    constexpr std::size_t kMaxLengthDigits = 15;
    const std::size_t declared =
        length.size() > kMaxLengthDigits ? max_body_bytes_ : std::stoull(length);
    body_wanted_ = std::min(declared, max_body_bytes_);
  } else {
    body_wanted_ = max_body_bytes_;  // until end_of_stream()
  }
  if (body_wanted_ == 0) state_ = ParseState::kComplete;
}

std::string check_upgrade_response(const UpgradeResponse& response, std::string_view key,
                                   const std::vector<std::string>& offered_subprotocols) {
  if (response.status != kStatusSwitchingProtocols) {
    std::string reason = response.reason;
    if (reason.empty()) reason = std::string(reason_phrase(response.status));
    std::string out = "server answered " + std::to_string(response.status);
    if (!reason.empty()) out += " " + reason;
    return out;
  }
  if (!list_has_token(header_value(response.headers, "Upgrade"), "websocket")) {
    return "server answered 101 without 'Upgrade: websocket'";
  }
  if (!list_has_token(header_value(response.headers, "Connection"), "upgrade")) {
    return "server answered 101 without 'Connection: Upgrade'";
  }
  const std::string accept = std::string(trim_ows(header_value(response.headers, "Sec-WebSocket-Accept")));
  if (accept.empty()) return "server answered 101 without Sec-WebSocket-Accept";
  if (accept != accept_key_for(key)) return "bad Sec-WebSocket-Accept";
  const std::string protocol = std::string(trim_ows(header_value(response.headers, "Sec-WebSocket-Protocol")));
  if (!protocol.empty()) {
    if (offered_subprotocols.empty()) {
      return "server chose subprotocol '" + protocol + "' but none was offered";
    }
    if (std::find(offered_subprotocols.begin(), offered_subprotocols.end(), protocol) ==
        offered_subprotocols.end()) {
      return "server chose subprotocol '" + protocol + "', which was not offered";
    }
  }
  return {};
}

}  // namespace wstool::ws
