// The session log: JSON Lines formatting and parsing of its records, the thread-safe rotating
// writer and the streaming reader (format in man/wstool-session.5).
#include "lib/session_log.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "lib/ascii.h"
#include "lib/base64.h"
#include "lib/json_limits.h"
#include "lib/redact.h"
#include "lib/utf8.h"
#include "lib/versions.h"

namespace wstool::session {
namespace {

using Json = nlohmann::json;

// A record nests at most three deep (object > header list > [name, value]); a little slack.
constexpr std::size_t kMaxRecordDepth = 8;
// The writer's stdio buffer: one write(2) per this many bytes at high frame rates.
constexpr std::size_t kWriteBufferBytes = 64 * 1024;
// Buffered lines reach the file at least this often while records keep coming, so a capture
// killed by SIGKILL loses at most about this much.
constexpr std::chrono::milliseconds kAutoFlushInterval{1000};
// While records keep coming, the writer thread takes them this often (or at once when the queue
// is full, on flush() and close()): one wake-up per interval on a busy capture, not per record.
constexpr std::chrono::milliseconds kWriterBatchInterval{10};
// The writer thread's nice value (Linux: per thread), relative to the process's.
constexpr int kWriterThreadNice = 10;
constexpr int kMaxNice = 19;
// A batch buffer grown past this (the disk stalled, the queue filled) is freed once written.
constexpr std::size_t kMaxKeptBatchBytes = 4 * 1024 * 1024;
// The reader's read(2) chunk.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// A line longer than this is bad data rather than a reason to exhaust memory: a 64 MiB message
// in base64 is about 86 MiB.
constexpr std::size_t kMaxLineBytes = 128 * 1024 * 1024;
// Warnings kept by a reader (unknown record types, a truncated tail); later ones are dropped.
constexpr std::size_t kMaxWarnings = 100;
// RFC 6455 7.4.1: the close code that stands for "no status" (an empty close frame).
constexpr std::uint16_t kNoStatusCode = 1005;

// ---- formatting ----------------------------------------------------------------------------

void append_hex4(std::string& out, unsigned v) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\u00";
  out += kHex[v >> 4 & 0xF];
  out += kHex[v & 0xF];
}

// A JSON string literal. `s` must be valid UTF-8 (callers check); bytes are copied as they are
// except the ones JSON requires escaped.
void append_escaped_utf8(std::string& out, std::string_view s) {
  out += '"';
  std::size_t run = 0;  // start of the current run of bytes that need no escaping
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: append_hex4(out, c); break;
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

// Header values, URLs and close reasons come off the wire and need not be UTF-8; JSON strings
// must be. Invalid bytes become U+FFFD (lossy, documented): these fields are for people and for
// replaying headers, not byte-exact comparison.
std::string to_valid_utf8(std::string_view s) {
  if (is_valid_utf8(s.data(), s.size())) return std::string(s);
  std::string out;
  std::size_t i = 0;
  while (i < s.size()) {
    // Find the longest valid prefix of the rest by feeding one byte at a time.
    Utf8Validator v;
    std::size_t j = i;
    std::size_t last_boundary = i;
    while (j < s.size()) {
      const auto byte = static_cast<std::uint8_t>(s[j]);
      if (!v.feed(&byte, 1)) break;
      ++j;
      if (v.at_boundary()) last_boundary = j;
    }
    out.append(s.data() + i, last_boundary - i);
    if (last_boundary < s.size()) {
      out += "\xEF\xBF\xBD";
      i = last_boundary + 1;
    } else {
      i = last_boundary;
    }
  }
  return out;
}

void append_string(std::string& out, std::string_view s) {
  if (is_valid_utf8(s.data(), s.size())) {
    append_escaped_utf8(out, s);
  } else {
    append_escaped_utf8(out, to_valid_utf8(s));
  }
}

void append_key(std::string& out, std::string_view key) {
  out += ',';
  out += '"';
  out += key;
  out += "\":";
}

void append_field(std::string& out, std::string_view key, std::string_view value) {
  append_key(out, key);
  append_string(out, value);
}

void append_field(std::string& out, std::string_view key, std::uint64_t value) {
  append_key(out, key);
  char digits[std::numeric_limits<std::uint64_t>::digits10 + 1];
  const auto end = std::to_chars(digits, digits + sizeof digits, value).ptr;
  out.append(digits, static_cast<std::size_t>(end - digits));
}

void append_bool(std::string& out, std::string_view key, bool value) {
  append_key(out, key);
  out += value ? "true" : "false";
}

void append_headers(std::string& out, std::string_view key, const ws::HttpHeaders& headers) {
  append_key(out, key);
  out += '[';
  bool first = true;
  for (const auto& h : headers) {
    if (!first) out += ',';
    first = false;
    out += '[';
    append_string(out, h.name);
    out += ',';
    append_string(out, h.value);
    out += ']';
  }
  out += ']';
}

std::string_view direction_name(Direction d) { return d == Direction::kClient ? "client" : "server"; }

std::string_view closer_name(Closer c) {
  switch (c) {
    case Closer::kClient: return "client";
    case Closer::kServer: return "server";
    case Closer::kNone: break;
  }
  return "none";
}

struct LineFormatter {
  std::string& out;

  void operator()(const HeaderRecord& r) const {
    out += "{\"type\":\"header\"";
    append_field(out, "version", static_cast<std::uint64_t>(r.version < 0 ? 0 : r.version));
    if (r.minor > 0) append_field(out, "minor", static_cast<std::uint64_t>(r.minor));
    append_field(out, "tool", r.tool);
    append_field(out, "started", r.started);
    append_field(out, "capturedBy", r.captured_by);
    out += '}';
  }
  void operator()(const OpenRecord& r) const {
    out += "{\"type\":\"open\"";
    append_field(out, "conn", r.conn);
    append_field(out, "t", r.t_us);
    append_field(out, "url", r.url);
    append_field(out, "subprotocol", r.subprotocol);
    append_field(out, "extensions", r.extensions);
    append_headers(out, "request", r.request);
    append_headers(out, "response", r.response);
    append_field(out, "status", static_cast<std::uint64_t>(r.status < 0 ? 0 : r.status));
    out += '}';
  }
  void operator()(const FrameRecord& r) const {
    (*this)(FrameRef{r.conn, r.t_us, r.dir, r.opcode, r.fin, r.rsv, r.compressed, r.payload, r.invalid});
  }
  void operator()(const FrameRef& r) const {
    out += "{\"type\":\"frame\"";
    append_field(out, "conn", r.conn);
    append_field(out, "t", r.t_us);
    append_key(out, "dir");
    out += '"';
    out += direction_name(r.dir);
    out += '"';
    append_field(out, "opcode", std::uint64_t{r.opcode});
    append_bool(out, "fin", r.fin);
    append_field(out, "rsv", std::uint64_t{r.rsv});
    append_bool(out, "compressed", r.compressed);
    append_field(out, "len", static_cast<std::uint64_t>(r.payload.size()));
    if (is_valid_utf8(r.payload.data(), r.payload.size())) {
      append_key(out, "text");
      append_escaped_utf8(out, r.payload);
    } else {
      append_key(out, "bytes");
      out += '"';
      base64_append(out, r.payload);
      out += '"';
    }
    if (!r.invalid.empty()) append_field(out, "invalid", r.invalid);
    out += '}';
  }
  void operator()(const CloseRecord& r) const {
    out += "{\"type\":\"close\"";
    append_field(out, "conn", r.conn);
    append_field(out, "t", r.t_us);
    append_field(out, "code", std::uint64_t{r.code});
    append_field(out, "reason", r.reason);
    append_key(out, "by");
    out += '"';
    out += closer_name(r.by);
    out += '"';
    append_bool(out, "clean", r.clean);
    if (r.reply_code) {
      append_field(out, "reply", std::uint64_t{*r.reply_code});
      append_field(out, "replyReason", r.reply_reason);
    }
    out += '}';
  }
  void operator()(const EndRecord& r) const {
    out += "{\"type\":\"end\"";
    append_field(out, "t", r.t_us);
    append_field(out, "connections", r.connections);
    append_field(out, "frames", r.frames);
    if (r.refused > 0) append_field(out, "refused", r.refused);
    out += '}';
  }
  void operator()(const RefusedRecord& r) const {
    out += "{\"type\":\"refused\"";
    append_field(out, "conn", r.conn);
    append_field(out, "t", r.t_us);
    append_key(out, "by");
    out += r.by == Refuser::kProxy ? "\"proxy\"" : "\"server\"";
    append_field(out, "url", r.url);
    append_headers(out, "request", r.request);
    append_field(out, "status", static_cast<std::uint64_t>(r.status < 0 ? 0 : r.status));
    append_field(out, "reason", r.reason);
    append_headers(out, "response", r.response);
    std::string_view body(r.body);
    if (body.size() > kMaxRefusalBodyBytes) body = body.substr(0, kMaxRefusalBodyBytes);
    bool text = is_valid_utf8(body.data(), body.size());
    // Cut inside a character: back to the last whole one, so that a text body stays text.
    constexpr std::size_t kMaxUtf8Tail = 3;
    const bool cut = body.size() < r.body.size();
    for (std::size_t back = 1; !text && cut && back <= kMaxUtf8Tail && back < body.size(); ++back) {
      if (is_valid_utf8(body.data(), body.size() - back)) {
        body = body.substr(0, body.size() - back);
        text = true;
      }
    }
    if (text) {
      append_key(out, "body");
      append_escaped_utf8(out, body);
    } else {
      append_key(out, "bodyBytes");
      out += '"';
      base64_append(out, body);
      out += '"';
    }
    const std::uint64_t whole = std::max<std::uint64_t>(r.body_length, r.body.size());
    if (whole > body.size()) append_field(out, "bodyLength", whole);
    out += '}';
  }
};

// ---- parsing -------------------------------------------------------------------------------

enum class ParseResult { kOk, kUnknownType, kBad };

// Field access with the error messages the reader reports: `frame: missing "opcode"`.
class Fields {
 public:
  Fields(const Json& object, std::string_view type, std::string& error)
      : object_(object), type_(type), error_(error) {}

  bool failed() const { return failed_; }

  const Json* find(std::string_view key) const {
    const auto it = object_.find(key);
    return it == object_.end() || it->is_null() ? nullptr : &*it;
  }

  void fail(std::string message) {
    if (failed_) return;
    failed_ = true;
    error_ = fmt::format("{}: {}", type_, message);
  }

  bool require(std::string_view key) {
    if (find(key) != nullptr) return true;
    fail(fmt::format("missing \"{}\"", key));
    return false;
  }

  void unsigned_field(std::string_view key, std::uint64_t& out, std::uint64_t max) {
    const Json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_number_unsigned() || v->get<std::uint64_t>() > max) {
      fail(fmt::format("\"{}\" must be an integer from 0 to {}", key, max));
      return;
    }
    out = v->get<std::uint64_t>();
  }

  template <typename T>
  void small_unsigned(std::string_view key, T& out, std::uint64_t max) {
    auto v = static_cast<std::uint64_t>(out);
    unsigned_field(key, v, max);
    out = static_cast<T>(v);
  }

  void string_field(std::string_view key, std::string& out) {
    const Json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_string()) {
      fail(fmt::format("\"{}\" must be a string", key));
      return;
    }
    out = v->get_ref<const std::string&>();
  }

  void bool_field(std::string_view key, bool& out) {
    const Json* v = find(key);
    if (v == nullptr) return;
    if (!v->is_boolean()) {
      fail(fmt::format("\"{}\" must be true or false", key));
      return;
    }
    out = v->get<bool>();
  }

  void headers_field(std::string_view key, ws::HttpHeaders& out) {
    const Json* v = find(key);
    if (v == nullptr) return;
    const auto bad = [&] { fail(fmt::format("\"{}\" must be a list of [name, value] pairs", key)); };
    if (!v->is_array()) return bad();
    out.clear();
    out.reserve(v->size());
    for (const auto& pair : *v) {
      if (!pair.is_array() || pair.size() != 2 || !pair[0].is_string() || !pair[1].is_string()) {
        return bad();
      }
      out.push_back({pair[0].get<std::string>(), pair[1].get<std::string>()});
    }
  }

 private:
  const Json& object_;
  std::string_view type_;
  std::string& error_;
  bool failed_ = false;
};

constexpr std::uint64_t kMaxU64 = ~std::uint64_t{0};
constexpr std::uint64_t kMaxOpcode = 15;
constexpr std::uint64_t kMaxRsv = 7;
constexpr std::uint64_t kMaxCloseCode = 65535;
constexpr std::uint64_t kMaxStatus = 999;
constexpr std::uint64_t kMaxVersion = 1000000;

bool parse_direction(Fields& f, std::string_view key, Direction& out) {
  std::string s;
  f.string_field(key, s);
  if (f.failed()) return false;
  if (s == "client") {
    out = Direction::kClient;
  } else if (s == "server") {
    out = Direction::kServer;
  } else {
    f.fail(fmt::format("\"{}\" must be \"client\" or \"server\"", key));
    return false;
  }
  return true;
}

ParseResult parse_record(const Json& j, Record& out, std::string& error) {
  if (!j.is_object()) {
    error = "not a JSON object";
    return ParseResult::kBad;
  }
  const auto type_it = j.find("type");
  if (type_it == j.end() || !type_it->is_string()) {
    error = "missing \"type\"";
    return ParseResult::kBad;
  }
  const std::string& type = type_it->get_ref<const std::string&>();
  Fields f(j, type, error);
  if (type == "frame") {
    FrameRecord r;
    if (!f.require("conn") || !f.require("t") || !f.require("dir") || !f.require("opcode")) {
      return ParseResult::kBad;
    }
    f.unsigned_field("conn", r.conn, kMaxU64);
    f.unsigned_field("t", r.t_us, kMaxU64);
    parse_direction(f, "dir", r.dir);
    f.small_unsigned("opcode", r.opcode, kMaxOpcode);
    f.bool_field("fin", r.fin);
    f.small_unsigned("rsv", r.rsv, kMaxRsv);
    f.bool_field("compressed", r.compressed);
    if (f.failed()) return ParseResult::kBad;
    const Json* text = f.find("text");
    const Json* bytes = f.find("bytes");
    if ((text == nullptr) == (bytes == nullptr)) {
      f.fail("needs exactly one of \"text\" and \"bytes\"");
      return ParseResult::kBad;
    }
    if (text != nullptr) {
      f.string_field("text", r.payload);
    } else {
      std::string encoded;
      f.string_field("bytes", encoded);
      if (!f.failed() && !base64_decode(encoded, r.payload)) f.fail("\"bytes\" is not valid base64");
    }
    if (f.failed()) return ParseResult::kBad;
    std::uint64_t len = r.payload.size();
    f.unsigned_field("len", len, kMaxU64);
    if (!f.failed() && len != r.payload.size()) {
      f.fail(fmt::format("\"len\" is {} but the payload has {} bytes", len, r.payload.size()));
    }
    f.string_field("invalid", r.invalid);
    if (f.failed()) return ParseResult::kBad;
    out = std::move(r);
    return ParseResult::kOk;
  }
  if (type == "open") {
    OpenRecord r;
    if (!f.require("conn")) return ParseResult::kBad;
    f.unsigned_field("conn", r.conn, kMaxU64);
    f.unsigned_field("t", r.t_us, kMaxU64);
    f.string_field("url", r.url);
    f.string_field("subprotocol", r.subprotocol);
    f.string_field("extensions", r.extensions);
    f.headers_field("request", r.request);
    f.headers_field("response", r.response);
    f.small_unsigned("status", r.status, kMaxStatus);
    if (f.failed()) return ParseResult::kBad;
    out = std::move(r);
    return ParseResult::kOk;
  }
  if (type == "close") {
    CloseRecord r;
    if (!f.require("conn")) return ParseResult::kBad;
    f.unsigned_field("conn", r.conn, kMaxU64);
    f.unsigned_field("t", r.t_us, kMaxU64);
    f.small_unsigned("code", r.code, kMaxCloseCode);
    f.string_field("reason", r.reason);
    std::string by = "none";
    f.string_field("by", by);
    if (by == "client") {
      r.by = Closer::kClient;
    } else if (by == "server") {
      r.by = Closer::kServer;
    } else if (by == "none") {
      r.by = Closer::kNone;
    } else {
      f.fail("\"by\" must be \"client\", \"server\" or \"none\"");
    }
    f.bool_field("clean", r.clean);
    if (f.find("reply") != nullptr) {
      std::uint16_t reply = 0;
      f.small_unsigned("reply", reply, kMaxCloseCode);
      r.reply_code = reply;
      f.string_field("replyReason", r.reply_reason);
    }
    if (f.failed()) return ParseResult::kBad;
    out = std::move(r);
    return ParseResult::kOk;
  }
  if (type == "header") {
    HeaderRecord r;
    if (!f.require("version")) return ParseResult::kBad;
    f.small_unsigned("version", r.version, kMaxVersion);
    f.small_unsigned("minor", r.minor, kMaxVersion);
    f.string_field("tool", r.tool);
    f.string_field("started", r.started);
    f.string_field("capturedBy", r.captured_by);
    if (f.failed()) return ParseResult::kBad;
    out = std::move(r);
    return ParseResult::kOk;
  }
  if (type == "end") {
    EndRecord r;
    f.unsigned_field("t", r.t_us, kMaxU64);
    f.unsigned_field("connections", r.connections, kMaxU64);
    f.unsigned_field("frames", r.frames, kMaxU64);
    f.unsigned_field("refused", r.refused, kMaxU64);
    if (f.failed()) return ParseResult::kBad;
    out = r;
    return ParseResult::kOk;
  }
  if (type == "refused") {
    RefusedRecord r;
    if (!f.require("conn") || !f.require("status")) return ParseResult::kBad;
    f.unsigned_field("conn", r.conn, kMaxU64);
    f.unsigned_field("t", r.t_us, kMaxU64);
    std::string by = "server";
    f.string_field("by", by);
    if (by == "server") {
      r.by = Refuser::kServer;
    } else if (by == "proxy") {
      r.by = Refuser::kProxy;
    } else {
      f.fail("\"by\" must be \"server\" or \"proxy\"");
    }
    f.string_field("url", r.url);
    f.headers_field("request", r.request);
    f.small_unsigned("status", r.status, kMaxStatus);
    f.string_field("reason", r.reason);
    f.headers_field("response", r.response);
    if (f.failed()) return ParseResult::kBad;
    const Json* text = f.find("body");
    const Json* bytes = f.find("bodyBytes");
    if (text != nullptr && bytes != nullptr) {
      f.fail("needs at most one of \"body\" and \"bodyBytes\"");
      return ParseResult::kBad;
    }
    if (text != nullptr) {
      f.string_field("body", r.body);
    } else if (bytes != nullptr) {
      std::string encoded;
      f.string_field("bodyBytes", encoded);
      if (!f.failed() && !base64_decode(encoded, r.body)) f.fail("\"bodyBytes\" is not valid base64");
    }
    f.unsigned_field("bodyLength", r.body_length, kMaxU64);
    if (f.failed()) return ParseResult::kBad;
    out = std::move(r);
    return ParseResult::kOk;
  }
  error = fmt::format("unknown record type \"{}\"", type);
  return ParseResult::kUnknownType;
}

ParseResult parse_line(std::string_view line, Record& out, std::string& error) {
  Json j;
  if (const auto e = parse_untrusted_json(line, j, kMaxRecordDepth)) {
    error = "invalid JSON: " + e->message;
    return ParseResult::kBad;
  }
  return parse_record(j, out, error);
}

std::string rfc3339_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

ws::HttpHeaders redact_for_log(const ws::HttpHeaders& headers) {
  ws::HttpHeaders out = redact_headers(headers);
  for (auto& h : out) {
    if (ascii_iequals(h.name, "Sec-WebSocket-Key")) h.value = std::string(kRedacted);
  }
  return out;
}

}  // namespace

std::string close_frame_payload(std::uint16_t code, std::string_view reason) {
  std::string payload;
  if (code == kNoStatusCode) return payload;
  payload.reserve(2 + reason.size());
  payload += static_cast<char>(code >> 8);
  payload += static_cast<char>(code & 0xFF);
  payload.append(reason);
  return payload;
}

ClosePayload parse_close_frame_payload(std::string_view payload) {
  ClosePayload out;
  if (payload.size() < 2) return out;
  out.code = static_cast<std::uint16_t>(static_cast<unsigned char>(payload[0]) << 8 |
                                        static_cast<unsigned char>(payload[1]));
  out.reason.assign(payload.substr(2));
  return out;
}

std::string to_json_line(const Record& record) {
  std::string out;
  std::visit(LineFormatter{out}, record);
  return out;
}

OpenRecord redacted(const OpenRecord& record) {
  OpenRecord out = record;
  out.url = redact_url(record.url);
  out.request = redact_for_log(record.request);
  out.response = redact_for_log(record.response);
  return out;
}

RefusedRecord redacted(const RefusedRecord& record) {
  RefusedRecord out = record;
  out.url = redact_url(record.url);
  out.request = redact_for_log(record.request);
  out.response = redact_for_log(record.response);
  return out;
}

std::uint64_t declared_body_length(const ws::HttpHeaders& headers, std::size_t received) {
  std::string length = ws::header_value(headers, "Content-Length");
  length.erase(0, std::min(length.size(), length.find_first_not_of(" \t")));
  length.erase(length.find_last_not_of(" \t") + 1);
  constexpr std::size_t kMaxDigits = 15;
  if (length.empty() || length.size() > kMaxDigits ||
      length.find_first_not_of("0123456789") != std::string::npos) {
    return 0;
  }
  const std::uint64_t declared = std::stoull(length);
  return declared > received ? declared : 0;
}

bool from_json_line(std::string_view line, Record& out, std::string& error) {
  return parse_line(line, out, error) == ParseResult::kOk;
}

// ---- writer --------------------------------------------------------------------------------

namespace {

// "64 MiB", "8 KiB": the queue cap as people set it.
std::string queue_cap_text(std::uint64_t cap) {
  constexpr std::uint64_t kKiB = 1024;
  constexpr std::uint64_t kMiB = kKiB * kKiB;
  return cap >= kMiB ? fmt::format("{:g} MiB", static_cast<double>(cap) / kMiB)
                     : fmt::format("{:g} KiB", static_cast<double>(cap) / kKiB);
}

std::string describe_full_queue(std::uint64_t cap) {
  return fmt::format("the session log is falling behind: its {} queue is full and traffic waits for the disk "
                     "(further waits are counted and reported at the end)",
                     queue_cap_text(cap));
}

}  // namespace

// The writer: callers append whole lines to `pending` under the mutex (a memcpy); the writer
// thread swaps `pending` for its own empty batch and writes that with the mutex released. Only
// the writer thread touches the file once open() has returned.
struct SessionWriter::Impl {
  enum class Kind { kOpen, kFrame, kRefused, kOther };

  std::string path;
  WriterOptions options;
  HeaderRecord header;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  // --- the writer thread's own (and open()'s, before the thread starts) ---
  // The stdio buffer, ours: glibc ignores setvbuf's size when it is to allocate the buffer itself
  // and uses st_blksize (4 KiB). Declared before `file`, and every file is closed before the
  // writer goes.
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kWriteBufferBytes);
  std::FILE* file = nullptr;
  std::uint64_t file_bytes = 0;    // bytes in the current file, header included
  std::uint64_t header_bytes = 0;  // the current file's header line
  std::string batch;               // what the thread is writing now
  std::thread thread;
  std::mutex join_mutex;  // close() from several threads: one joins

  mutable std::mutex mutex;  // guards everything below
  // The writer thread waits on `work`; callers waiting for room and flush() wait on `done`.
  std::condition_variable work;
  std::condition_variable done;
  std::string pending;              // whole lines, '\n'-terminated, in arrival order
  std::uint64_t queued_bytes = 0;   // pending plus the batch being written
  bool writer_asleep = false;       // waiting with nothing to do: the next line must wake it
  std::uint64_t room_waiters = 0;   // callers waiting in append() for the queue to shrink
  std::uint64_t flush_requested = 0;  // flush() calls so far
  std::uint64_t flush_done = 0;       // the last of them whose lines are in the file
  bool closing = false;             // close() called: drain, end record, exit
  std::uint64_t close_t_us = 0;
  std::uint64_t connections = 0;
  std::uint64_t frames = 0;
  std::uint64_t refused = 0;
  WriterStats stats;
  bool warned_full = false;  // on_first_full_wait was called
  Error error;  // the first write, flush or rotation failure; later records are dropped

  // ---- callers' side ----

  void append(const std::string& line, Kind kind) {
    std::unique_lock<std::mutex> lock(mutex);
    const std::uint64_t size = line.size();
    const auto full = [&] { return queued_bytes > 0 && queued_bytes + size > options.max_queued_bytes && !closing && !error; };
    if (full() && !warned_full && options.on_first_full_wait) {
      // Told once, outside the lock (the callback prints), before this caller waits.
      warned_full = true;
      lock.unlock();
      options.on_first_full_wait(describe_full_queue(options.max_queued_bytes));
      lock.lock();
    }
    if (full()) {
      // Full: the disk is behind by the whole cap. Wait rather than lose records.
      const auto waiting_since = std::chrono::steady_clock::now();
      ++stats.full_waits;
      ++room_waiters;
      work.notify_one();  // take the queue now, not at the next batch interval
      done.wait(lock, [&] {
        return queued_bytes == 0 || queued_bytes + size <= options.max_queued_bytes || closing || error;
      });
      --room_waiters;
      stats.full_wait_us += static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                           std::chrono::steady_clock::now() - waiting_since)
                                                           .count());
    }
    if (closing || error) {
      ++stats.dropped;
      return;
    }
    pending += line;
    queued_bytes += size;
    if (queued_bytes > stats.peak_queued_bytes) stats.peak_queued_bytes = queued_bytes;
    if (kind == Kind::kOpen) ++connections;
    if (kind == Kind::kFrame) ++frames;
    if (kind == Kind::kRefused) ++refused;
    if (writer_asleep || pending.size() >= options.max_queued_bytes / 2) {
      writer_asleep = false;
      work.notify_one();
    }
  }

  // ---- the writer thread ----

  bool open_file(Error& out_error) {
    file = std::fopen(path.c_str(), "w");
    if (file == nullptr) {
      out_error = Error(Errc::kCannotCreateOutput, fmt::format("{}: {}", path, std::strerror(errno)));
      return false;
    }
    std::setvbuf(file, buffer.get(), _IOFBF, kWriteBufferBytes);
    const std::string line = to_json_line(header) + '\n';
    file_bytes = 0;
    header_bytes = line.size();
    return put(line, out_error);
  }

  Error io_error(std::string_view what = {}) const {
    return Error(Errc::kIoError, fmt::format("{}: {}{}", path, what, std::strerror(errno)));
  }

  bool put(std::string_view bytes, Error& out_error) {
    if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
      out_error = io_error();
      return false;
    }
    file_bytes += bytes.size();
    return true;
  }

  // FILE -> FILE.1 -> ... -> FILE.N (the oldest dropped), then a fresh FILE with its header.
  bool rotate(Error& out_error) {
    const bool flushed = std::fclose(file) == 0;
    file = nullptr;
    if (!flushed) {
      out_error = io_error();
      return false;
    }
    const unsigned keep = options.keep_rotated;
    if (keep > 0) {
      std::remove(fmt::format("{}.{}", path, keep).c_str());
      for (unsigned i = keep; i > 1; --i) {
        std::rename(fmt::format("{}.{}", path, i - 1).c_str(), fmt::format("{}.{}", path, i).c_str());
      }
      if (std::rename(path.c_str(), fmt::format("{}.1", path).c_str()) != 0) {
        out_error = io_error("cannot rotate: ");
        return false;
      }
    }
    return open_file(out_error);
  }

  // The batch to the file, rotating before any line that would take the file past max_bytes.
  bool write_batch(Error& out_error) {
    if (file == nullptr) return true;  // a failed rotation left none; error already set
    if (options.max_bytes == 0) return put(batch, out_error);
    std::string_view rest(batch);
    while (!rest.empty()) {
      const std::size_t newline = rest.find('\n');  // lines are JSON: no raw newline inside
      const std::size_t size = newline == std::string_view::npos ? rest.size() : newline + 1;
      if (file_bytes + size > options.max_bytes && file_bytes > header_bytes && !rotate(out_error)) return false;
      if (!put(rest.substr(0, size), out_error)) return false;
      rest.remove_prefix(size);
    }
    return true;
  }

  bool flush_file(Error& out_error) {
    if (file != nullptr && std::fflush(file) != 0) {
      out_error = io_error();
      return false;
    }
    return true;
  }

  static std::uint64_t count_lines(std::string_view bytes) {
    return static_cast<std::uint64_t>(std::count(bytes.begin(), bytes.end(), '\n'));
  }

  // Lines are worth taking before the batch interval is up: someone waits, or half the cap.
  bool urgent() const {
    return closing || flush_requested != flush_done || room_waiters > 0 ||
           (!pending.empty() && pending.size() >= options.max_queued_bytes / 2);
  }

  void run() {
#ifdef __linux__
    // Below the threads that relay traffic: on a busy core the relay wins the CPU and the writer
    // catches up in the gaps (a full queue stops the callers, so it cannot starve). Best effort.
    const auto tid = static_cast<id_t>(syscall(SYS_gettid));
    errno = 0;
    const int nice = getpriority(PRIO_PROCESS, tid);
    if (errno == 0) setpriority(PRIO_PROCESS, tid, std::min(nice + kWriterThreadNice, kMaxNice));
#endif
    auto last_flush = std::chrono::steady_clock::now();
    bool unflushed = true;  // the header sits in the stdio buffer
    std::unique_lock<std::mutex> lock(mutex);
    for (;;) {
      if (pending.empty() && !urgent()) {
        // Idle: the next line wakes the thread; lines still in the stdio buffer reach the file
        // within kAutoFlushInterval whatever comes.
        const auto has_work = [&] { return !pending.empty() || urgent(); };
        writer_asleep = true;
        if (unflushed) {
          work.wait_until(lock, last_flush + kAutoFlushInterval, has_work);
        } else {
          work.wait(lock, has_work);
        }
        writer_asleep = false;
      }
      const std::uint64_t flush_target = flush_requested;
      const bool close_now = closing;
      batch.swap(pending);
      const bool failed_before = static_cast<bool>(error);
      lock.unlock();

      Error batch_error;
      std::uint64_t lost = 0;
      if (!batch.empty()) {
        if (failed_before || !write_batch(batch_error)) {
          lost = count_lines(batch);  // after a failure some may be in the file; none count
        }
        unflushed = true;
      }
      const auto now = std::chrono::steady_clock::now();
      if (flush_target != flush_done || close_now || now - last_flush >= kAutoFlushInterval) {
        if (unflushed && !failed_before && !batch_error) flush_file(batch_error);
        last_flush = now;
        unflushed = false;
      }
      const std::uint64_t taken = batch.size();
      if (batch.capacity() > kMaxKeptBatchBytes) {
        std::string().swap(batch);  // after a stall: do not keep tens of MiB for good
      } else {
        batch.clear();
      }

      lock.lock();
      if (batch_error && !error) error = std::move(batch_error);
      stats.dropped += lost;
      queued_bytes -= taken;
      flush_done = flush_target;
      done.notify_all();
      if (close_now) break;  // append() takes nothing once closing: the queue is drained
      // Busy: let lines gather for a batch interval rather than take them one by one, each
      // wake-up a context switch on a core the relay threads need.
      if (taken > 0) work.wait_for(lock, kWriterBatchInterval, [&] { return urgent(); });
    }
    // Drained and closing: the end record, then the file.
    const EndRecord end{close_t_us, connections, frames, refused};
    const bool failed = static_cast<bool>(error);
    lock.unlock();
    Error close_error;
    if (file != nullptr) {
      if (!failed) put(to_json_line(end) + '\n', close_error);
      if (std::fclose(file) != 0 && !close_error) close_error = io_error();
      file = nullptr;
    }
    lock.lock();
    if (close_error && !error) error = std::move(close_error);
    done.notify_all();
  }
};

std::string describe_stats(const WriterStats& stats) {
  std::string out;
  if (stats.full_waits > 0) {
    constexpr double kUsPerMs = 1000.0;
    const std::string cap_text = queue_cap_text(stats.max_queued_bytes);
    out = fmt::format("the session log fell behind: {} time{} its {} queue was full and {} waited for the disk "
                      "({:.1f} ms in all)",
                      stats.full_waits, stats.full_waits == 1 ? "" : "s", cap_text,
                      stats.full_waits == 1 ? "the caller" : "callers", static_cast<double>(stats.full_wait_us) / kUsPerMs);
  }
  if (stats.dropped > 0) {
    if (!out.empty()) out += "; ";
    out += fmt::format("{} record{} not written", stats.dropped, stats.dropped == 1 ? "" : "s");
  }
  return out;
}

std::unique_ptr<SessionWriter> SessionWriter::open(const std::string& path, const std::string& captured_by,
                                                   const WriterOptions& options, Error& error) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->header.minor = kFormatMinor;
  impl->header.tool = fmt::format("wstool {}", wstool_version());
  impl->header.started = rfc3339_now();
  impl->header.captured_by = captured_by;
  impl->stats.max_queued_bytes = options.max_queued_bytes;
  if (!impl->open_file(error)) {
    if (impl->file != nullptr) std::fclose(impl->file);
    impl->file = nullptr;
    return nullptr;
  }
  // The writer thread takes no signals: the tools handle theirs by sigwait on a thread of their
  // own with the signals blocked everywhere else, and a thread started before that (the log is
  // opened before the signals are set up) would otherwise take SIGTERM with its default action.
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] { raw->run(); });
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  std::unique_ptr<SessionWriter> writer(new SessionWriter());
  writer->impl_ = std::move(impl);
  return writer;
}

SessionWriter::~SessionWriter() {
  if (impl_) close();
}

std::uint64_t SessionWriter::now_us() const {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - impl_->start)
          .count());
}

namespace {
// Each calling thread formats into its own reused buffer: no allocation per record once warm.
// One huge message does not pin its size for the thread's life.
constexpr std::size_t kMaxKeptLineBuffer = 1024 * 1024;
std::string& line_buffer() {
  thread_local std::string line;
  if (line.capacity() > kMaxKeptLineBuffer) {
    std::string().swap(line);
  } else {
    line.clear();
  }
  return line;
}
}  // namespace

void SessionWriter::write(const OpenRecord& record) {
  std::string& line = line_buffer();
  if (impl_->options.keep_secrets) {
    LineFormatter{line}(record);
  } else {
    LineFormatter{line}(redacted(record));
  }
  line += '\n';
  impl_->append(line, Impl::Kind::kOpen);
}

void SessionWriter::write(const FrameRecord& record) {
  std::string& line = line_buffer();
  LineFormatter{line}(record);
  line += '\n';
  impl_->append(line, Impl::Kind::kFrame);
}

void SessionWriter::write(const FrameRef& frame) {
  std::string& line = line_buffer();
  LineFormatter{line}(frame);
  line += '\n';
  impl_->append(line, Impl::Kind::kFrame);
}

void SessionWriter::write(const CloseRecord& record) {
  std::string& line = line_buffer();
  LineFormatter{line}(record);
  line += '\n';
  impl_->append(line, Impl::Kind::kOther);
}

void SessionWriter::write(const RefusedRecord& record) {
  std::string& line = line_buffer();
  if (impl_->options.keep_secrets) {
    LineFormatter{line}(record);
  } else {
    LineFormatter{line}(redacted(record));
  }
  line += '\n';
  impl_->append(line, Impl::Kind::kRefused);
}

void SessionWriter::flush() {
  std::unique_lock<std::mutex> lock(impl_->mutex);
  if (impl_->closing) return;
  const std::uint64_t target = ++impl_->flush_requested;
  impl_->writer_asleep = false;
  impl_->work.notify_one();
  impl_->done.wait(lock, [&] { return impl_->flush_done >= target || impl_->closing; });
}

void SessionWriter::close() {
  const std::uint64_t t = now_us();
  {
    const std::lock_guard<std::mutex> lock(impl_->mutex);
    if (!impl_->closing) {
      impl_->closing = true;
      impl_->close_t_us = t;
      impl_->writer_asleep = false;
      impl_->work.notify_one();
    }
  }
  // Several threads may call close(); one joins, the others find the thread gone.
  const std::lock_guard<std::mutex> join_lock(impl_->join_mutex);
  if (impl_->thread.joinable()) impl_->thread.join();
}

Error SessionWriter::error() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->error;
}

WriterStats SessionWriter::stats() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->stats;
}

const HeaderRecord& SessionWriter::header() const { return impl_->header; }

// ---- reader --------------------------------------------------------------------------------

struct SessionReader::Impl {
  std::string path;
  std::FILE* file = nullptr;
  HeaderRecord header;
  std::string buffer;          // bytes read but not yet returned as lines
  std::size_t buffer_pos = 0;  // start of the unconsumed part of `buffer`
  std::uint64_t buffer_offset = 0;  // file offset of buffer[0]
  std::string line;
  std::size_t line_number = 0;
  bool eof = false;
  bool done = false;
  std::vector<std::string> warnings;

  ~Impl() {
    if (file != nullptr) std::fclose(file);
  }

  void warn(std::string message) {
    if (warnings.size() < kMaxWarnings) warnings.push_back(std::move(message));
  }

  // Reads the next line into `line` (without its newline). False at the end of the file.
  // `complete` says whether the line ended with a newline.
  enum class LineResult { kLine, kEnd, kTooLong, kIoError };
  LineResult read_line(bool& complete) {
    line.clear();
    while (true) {
      const std::size_t nl = buffer.find('\n', buffer_pos);
      if (nl != std::string::npos) {
        line.append(buffer, buffer_pos, nl - buffer_pos);
        buffer_pos = nl + 1;
        complete = true;
        ++line_number;
        return line.size() > kMaxLineBytes ? LineResult::kTooLong : LineResult::kLine;
      }
      line.append(buffer, buffer_pos, std::string::npos);
      buffer_offset += buffer.size();
      buffer.clear();
      buffer_pos = 0;
      if (line.size() > kMaxLineBytes) {
        ++line_number;
        return LineResult::kTooLong;
      }
      if (eof) {
        if (line.empty()) return LineResult::kEnd;
        complete = false;
        ++line_number;
        return LineResult::kLine;
      }
      buffer.resize(kReadChunkBytes);
      const std::size_t n = std::fread(buffer.data(), 1, kReadChunkBytes, file);
      buffer.resize(n);
      if (n < kReadChunkBytes) {
        if (std::ferror(file) != 0) return LineResult::kIoError;
        eof = true;
      }
    }
  }

  std::string where() const { return fmt::format("{}:{}", path, line_number); }
};

std::unique_ptr<SessionReader> SessionReader::open(const std::string& path, Error& error) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->file = std::fopen(path.c_str(), "rb");
  if (impl->file == nullptr) {
    error = Error(Errc::kMissingInput, fmt::format("{}: {}", path, std::strerror(errno)));
    return nullptr;
  }
  bool complete = false;
  const auto result = impl->read_line(complete);
  if (result == Impl::LineResult::kIoError) {
    error = Error(Errc::kIoError, fmt::format("{}: {}", path, std::strerror(errno)));
    return nullptr;
  }
  if (result != Impl::LineResult::kLine) {
    error = Error(Errc::kBadData, fmt::format("{}: empty file, not a session log", path));
    return nullptr;
  }
  Record record;
  std::string why;
  if (parse_line(impl->line, record, why) != ParseResult::kOk || !std::holds_alternative<HeaderRecord>(record)) {
    error = Error(Errc::kBadData,
                  fmt::format("{}: not a session log (the first line must be a header record{})",
                              impl->where(), why.empty() ? "" : ": " + why));
    return nullptr;
  }
  impl->header = std::get<HeaderRecord>(record);
  if (impl->header.version < 1 || impl->header.version > kFormatVersion) {
    error = Error(Errc::kBadData,
                  fmt::format("{}: session log format version {} is not supported (this wstool reads "
                              "version {}); a newer wstool wrote it",
                              impl->where(), impl->header.version, kFormatVersion));
    return nullptr;
  }
  std::unique_ptr<SessionReader> reader(new SessionReader());
  reader->impl_ = std::move(impl);
  return reader;
}

SessionReader::~SessionReader() = default;

const HeaderRecord& SessionReader::header() const { return impl_->header; }

std::size_t SessionReader::line_number() const { return impl_->line_number; }

const std::vector<std::string>& SessionReader::warnings() const { return impl_->warnings; }

const std::string& SessionReader::path() const { return impl_->path; }

SessionReader::Position SessionReader::position() const {
  return Position{impl_->buffer_offset + impl_->buffer_pos, impl_->line_number};
}

Error SessionReader::seek(const Position& position) {
  Impl& m = *impl_;
  if (std::fseek(m.file, static_cast<long>(position.offset), SEEK_SET) != 0) {
    return Error(Errc::kIoError, fmt::format("{}: cannot seek: {}", m.path, std::strerror(errno)));
  }
  m.buffer.clear();
  m.buffer_pos = 0;
  m.buffer_offset = position.offset;
  m.line_number = position.line;
  m.eof = false;
  m.done = false;
  return {};
}

std::optional<Record> SessionReader::next(Error& error) {
  Impl& m = *impl_;
  while (!m.done) {
    bool complete = false;
    const auto result = m.read_line(complete);
    if (result == Impl::LineResult::kEnd) break;
    if (result == Impl::LineResult::kIoError) {
      m.done = true;
      error = Error(Errc::kIoError, fmt::format("{}: {}", m.where(), std::strerror(errno)));
      return std::nullopt;
    }
    if (result == Impl::LineResult::kTooLong) {
      m.done = true;
      error = Error(Errc::kBadData, fmt::format("{}: line longer than {} bytes", m.where(), kMaxLineBytes));
      return std::nullopt;
    }
    const std::string_view line = m.line;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank line
    Record record;
    std::string why;
    const ParseResult parsed = parse_line(line, record, why);
    if (parsed == ParseResult::kOk) {
      if (const auto* h = std::get_if<HeaderRecord>(&record)) {
        // Rotated files concatenated: each part starts with its own header.
        if (h->version < 1 || h->version > kFormatVersion) {
          m.done = true;
          error = Error(Errc::kBadData, fmt::format("{}: session log format version {} is not supported",
                                                    m.where(), h->version));
          return std::nullopt;
        }
      }
      return record;
    }
    if (parsed == ParseResult::kUnknownType) {
      // A newer minor revision added a record type: skipped (the compatibility rule).
      m.warn(fmt::format("{}: {}, skipped", m.where(), why));
      continue;
    }
    if (!complete) {
      m.warn(fmt::format("{}: truncated last line ignored (the capture was cut short)", m.where()));
      break;
    }
    m.done = true;
    error = Error(Errc::kBadData, fmt::format("{}: {}", m.where(), why));
    return std::nullopt;
  }
  m.done = true;
  return std::nullopt;
}

}  // namespace wstool::session
