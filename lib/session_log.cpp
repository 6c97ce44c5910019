// The session log: JSON Lines formatting and parsing of its records, the thread-safe rotating
// writer and the streaming reader (format in man/wstool-session.5).
#include "lib/session_log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>

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
// The reader's read(2) chunk.
constexpr std::size_t kReadChunkBytes = 64 * 1024;
// A line longer than this is bad data rather than a reason to exhaust memory: a 64 MiB message
// in base64 is about 86 MiB.
constexpr std::size_t kMaxLineBytes = 128 * 1024 * 1024;
// Warnings kept by a reader (unknown record types, a truncated tail); later ones are dropped.
constexpr std::size_t kMaxWarnings = 100;

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
  out += std::to_string(value);
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
      out += base64_encode(r.payload);
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
    out += '}';
  }
  void operator()(const EndRecord& r) const {
    out += "{\"type\":\"end\"";
    append_field(out, "t", r.t_us);
    append_field(out, "connections", r.connections);
    append_field(out, "frames", r.frames);
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
    if (f.failed()) return ParseResult::kBad;
    out = r;
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

bool from_json_line(std::string_view line, Record& out, std::string& error) {
  return parse_line(line, out, error) == ParseResult::kOk;
}

// ---- writer --------------------------------------------------------------------------------

struct SessionWriter::Impl {
  std::string path;
  WriterOptions options;
  HeaderRecord header;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  std::mutex mutex;  // guards everything below
  // The stdio buffer, ours: glibc ignores setvbuf's size when it is to allocate the buffer itself
  // and uses st_blksize (4 KiB), which made a write(2) every few frames on the relay thread.
  // Declared before `file`, and every file is closed before the writer goes.
  std::unique_ptr<char[]> buffer = std::make_unique<char[]>(kWriteBufferBytes);
  std::FILE* file = nullptr;
  std::uint64_t file_bytes = 0;    // bytes in the current file, header included
  std::uint64_t header_bytes = 0;  // the current file's header line
  std::uint64_t connections = 0;
  std::uint64_t frames = 0;
  std::chrono::steady_clock::time_point last_flush = start;
  bool closed = false;
  Error error;  // the first write or rotation failure; later records are dropped

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

  bool put(const std::string& line, Error& out_error) {
    if (std::fwrite(line.data(), 1, line.size(), file) != line.size()) {
      out_error = Error(Errc::kIoError, fmt::format("{}: {}", path, std::strerror(errno)));
      return false;
    }
    file_bytes += line.size();
    return true;
  }

  // FILE -> FILE.1 -> ... -> FILE.N (the oldest dropped), then a fresh FILE with its header.
  bool rotate() {
    std::fclose(file);
    file = nullptr;
    const unsigned keep = options.keep_rotated;
    if (keep > 0) {
      std::remove(fmt::format("{}.{}", path, keep).c_str());
      for (unsigned i = keep; i > 1; --i) {
        std::rename(fmt::format("{}.{}", path, i - 1).c_str(), fmt::format("{}.{}", path, i).c_str());
      }
      if (std::rename(path.c_str(), fmt::format("{}.1", path).c_str()) != 0) {
        error = Error(Errc::kIoError, fmt::format("{}: cannot rotate: {}", path, std::strerror(errno)));
        return false;
      }
    }
    return open_file(error);
  }

  void append(const std::string& line) {
    const std::lock_guard<std::mutex> lock(mutex);
    if (closed || error) return;
    if (options.max_bytes > 0 && file_bytes + line.size() > options.max_bytes &&
        file_bytes > header_bytes && !rotate()) {
      return;
    }
    if (!put(line, error)) return;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_flush >= kAutoFlushInterval) {
      std::fflush(file);
      last_flush = now;
    }
  }

  void close_locked(std::uint64_t t_us) {
    if (closed) return;
    closed = true;
    if (file == nullptr) return;
    if (!error) {
      const EndRecord end{t_us, connections, frames};
      put(to_json_line(end) + '\n', error);
    }
    if (std::fclose(file) != 0 && !error) {
      error = Error(Errc::kIoError, fmt::format("{}: {}", path, std::strerror(errno)));
    }
    file = nullptr;
  }
};

std::unique_ptr<SessionWriter> SessionWriter::open(const std::string& path, const std::string& captured_by,
                                                   const WriterOptions& options, Error& error) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  impl->header.minor = kFormatMinor;
  impl->header.tool = fmt::format("wstool {}", wstool_version());
  impl->header.started = rfc3339_now();
  impl->header.captured_by = captured_by;
  if (!impl->open_file(error)) {
    if (impl->file != nullptr) std::fclose(impl->file);
    impl->file = nullptr;
    return nullptr;
  }
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

void SessionWriter::write(const OpenRecord& record) {
  std::string line;
  if (impl_->options.keep_secrets) {
    line = to_json_line(record);
  } else {
    line = to_json_line(redacted(record));
  }
  line += '\n';
  impl_->append(line);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  ++impl_->connections;
}

void SessionWriter::write(const FrameRecord& record) {
  std::string line;
  LineFormatter{line}(record);
  line += '\n';
  impl_->append(line);
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  ++impl_->frames;
}

void SessionWriter::write(const CloseRecord& record) {
  std::string line;
  LineFormatter{line}(record);
  line += '\n';
  impl_->append(line);
}

void SessionWriter::flush() {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  if (impl_->file != nullptr) {
    std::fflush(impl_->file);
    impl_->last_flush = std::chrono::steady_clock::now();
  }
}

void SessionWriter::close() {
  const std::uint64_t t = now_us();
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  impl_->close_locked(t);
}

Error SessionWriter::error() const {
  const std::lock_guard<std::mutex> lock(impl_->mutex);
  return impl_->error;
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
