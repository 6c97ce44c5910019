// HAR <-> session log. Chrome's HAR 1.2 export keeps a WebSocket connection as an entry whose
// `_webSocketMessages` list holds {type: send|receive, time: epoch seconds, opcode, data}.
#include "lib/har.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "lib/ascii.h"
#include "lib/base64.h"
#include "lib/utf8.h"
#include "lib/versions.h"

namespace wstool::har {
namespace {

using Json = nlohmann::json;
using session::Direction;
using session::FrameRecord;
using session::OpenRecord;
using session::Record;
using session::RefusedRecord;

constexpr double kMicrosPerSecond = 1e6;
constexpr double kMillisPerSecond = 1e3;
constexpr std::uint8_t kTextOpcode = 1;
constexpr std::uint8_t kBinaryOpcode = 2;
constexpr std::uint8_t kContinuationOpcode = 0;
constexpr std::uint8_t kFirstControlOpcode = 8;
constexpr std::uint8_t kCloseOpcode = 8;
constexpr int kSwitchingProtocols = 101;
// The lowest HTTP status a refusal can have (Chrome writes 0 for a request that got no answer).
constexpr int kMinStatus = 100;
// A message buffer larger than this is given back after use rather than kept for the next one.
constexpr std::size_t kKeptMessageBytes = std::size_t{1} << 20;

// RFC 3339 ("2026-11-26T04:05:06.123Z", or with a "+01:00" offset) to epoch seconds.
bool parse_rfc3339(const std::string& text, double& out) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  double seconds = static_cast<double>(timegm(&tm));
  std::size_t i = static_cast<std::size_t>(consumed);
  if (i < text.size() && text[i] == '.') {
    // Digits as an integer first: summing tenths, hundredths... drifts below the written value.
    double fraction = 0;
    double scale = 1;
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
      fraction = fraction * 10 + (text[i] - '0');
      scale *= 10;
    }
    seconds += fraction / scale;
  }
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int hours = 0;
    int minutes = 0;
    if (std::sscanf(text.c_str() + i + 1, "%2d:%2d", &hours, &minutes) != 2) return false;
    const double offset = hours * 3600.0 + minutes * 60.0;
    seconds += text[i] == '+' ? -offset : offset;
  } else if (i >= text.size() || (text[i] != 'Z' && text[i] != 'z')) {
    return false;
  }
  out = seconds;
  return true;
}

std::string format_rfc3339(double epoch_seconds) {
  constexpr long long kMillis = 1000;
  const long long total_ms = std::llround(epoch_seconds * kMillisPerSecond);
  const auto whole = static_cast<std::time_t>(total_ms / kMillis);
  const auto ms = static_cast<int>(total_ms % kMillis);
  std::tm tm{};
  gmtime_r(&whole, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

std::string lower_extension(const std::string& path) {
  const std::size_t dot = path.rfind('.');
  const std::size_t slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return ascii_lowercase(path.substr(dot + 1));
}

Json headers_to(const ws::HttpHeaders& headers) {
  Json list = Json::array();
  for (const auto& h : headers) list.push_back({{"name", h.name}, {"value", h.value}});
  return list;
}

// An unlinked temporary file written and read at offsets: what the HAR conversions keep on disk
// instead of in memory. Gone when closed, whatever happens.
class SpoolFile {
 public:
  SpoolFile() = default;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() { close(); }
  // Gives the file's disk space back; nothing can be read or written after.
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Beside `beside` (an output: a disk with room for it, where /tmp may be a small tmpfs), or in
  // $TMPDIR (/tmp) when that directory cannot take it (-o /dev/stdout), or when `beside` is "".
  Error open(const std::string& beside) {
    std::string pattern;
    if (!beside.empty()) {
      pattern = beside + ".spool-XXXXXX";
      fd_ = ::mkstemp(pattern.data());
    }
    if (fd_ < 0) {
      const char* tmpdir = std::getenv("TMPDIR");
      pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/wstool-har-spool-XXXXXX";
      fd_ = ::mkstemp(pattern.data());
    }
    if (fd_ < 0) {
      return Error(Errc::kCannotCreateOutput, fmt::format("cannot create the HAR spool file {} (set TMPDIR to a "
                                                          "writable directory): {}",
                                                          pattern, std::strerror(errno)));
    }
    ::unlink(pattern.c_str());
    return {};
  }

  void write_at(const void* data, std::size_t size, std::uint64_t at) {
    const char* p = static_cast<const char*>(data);
    if (at + size > end_) end_ = at + size;
    while (size > 0 && !error_) {
      const ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = Error(Errc::kIoError, fmt::format("HAR spool: {}", std::strerror(errno)));
        return;
      }
      p += n;
      size -= static_cast<std::size_t>(n);
      at += static_cast<std::uint64_t>(n);
    }
  }
  void append(const void* data, std::size_t size) { write_at(data, size, end_); }
  void read_at(void* data, std::size_t size, std::uint64_t at) {
    char* p = static_cast<char*>(data);
    while (size > 0 && !error_) {
      const ssize_t n = ::pread(fd_, p, size, static_cast<off_t>(at));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        error_ = Error(Errc::kIoError, fmt::format("HAR spool: {}", n == 0 ? "short read" : std::strerror(errno)));
        return;
      }
      p += n;
      size -= static_cast<std::size_t>(n);
      at += static_cast<std::uint64_t>(n);
    }
  }
  // Where the next append goes; truncate_to() forgets what came after `at` (rewritten over).
  std::uint64_t end() const { return end_; }
  void truncate_to(std::uint64_t at) { end_ = at; }
  bool is_open() const { return fd_ >= 0; }
  // The first I/O failure, if any (later calls do nothing useful after one).
  const Error& error() const { return error_; }

 private:
  int fd_ = -1;
  std::uint64_t end_ = 0;
  Error error_;
};

// A HAR message as the reader spools it, in file order per entry: this head, then the payload.
struct SpooledMessage {
  double time = 0;     // epoch seconds
  std::uint8_t send = 0;  // 1: the client sent it
  std::uint8_t opcode = 0;
  std::uint32_t size = 0;
};
constexpr std::size_t kMessageHeadBytes = sizeof(double) + 2 + sizeof(std::uint32_t);

void encode_message_head(const SpooledMessage& m, char* head) {
  std::memcpy(head, &m.time, sizeof m.time);
  head[sizeof m.time] = static_cast<char>(m.send);
  head[sizeof m.time + 1] = static_cast<char>(m.opcode);
  std::memcpy(head + sizeof m.time + 2, &m.size, sizeof m.size);
}

SpooledMessage decode_message_head(const char* head) {
  SpooledMessage m;
  std::memcpy(&m.time, head, sizeof m.time);
  m.send = static_cast<std::uint8_t>(head[sizeof m.time]);
  m.opcode = static_cast<std::uint8_t>(head[sizeof m.time + 1]);
  std::memcpy(&m.size, head + sizeof m.time + 2, sizeof m.size);
  return m;
}

void put_message_head(SpoolFile& file, const SpooledMessage& m, std::uint64_t at) {
  char head[kMessageHeadBytes];
  encode_message_head(m, head);
  file.write_at(head, kMessageHeadBytes, at);
}

SpooledMessage get_message_head(SpoolFile& file, std::uint64_t at) {
  char head[kMessageHeadBytes] = {};
  file.read_at(head, kMessageHeadBytes, at);
  return decode_message_head(head);
}

// A record in the session's time-ordered spool: its connection, 1 for an open record (else a
// message), the message's head, then its payload.
constexpr std::size_t kOrderedHeadBytes = sizeof(std::uint64_t) + 1 + kMessageHeadBytes;

}  // namespace

// One WebSocket entry's messages in the reader's spool.
struct SpooledEntry {
  std::uint64_t begin = 0;  // its messages: [begin, end) of the spool
  std::uint64_t end = 0;
  std::uint64_t count = 0;
  bool in_order = true;     // their times never go back (Chrome writes them so)
  double open_time = 0;
};

struct HarSession::Impl {
  SpoolFile messages;  // while reading: each WebSocket entry's messages, in file order
  SpoolFile ordered;   // then: every record in time order (kOrderedHeadBytes of head, payload)
  std::vector<session::OpenRecord> opens;  // by connection id - 1; t_us set
  // By connection id - 1: the entry was a refused handshake (session log 1.4), read as this
  // record instead of its open (its t_us is the open's).
  std::vector<std::optional<session::RefusedRecord>> refusals;
  std::vector<SpooledEntry> entries;       // by connection id - 1 (while reading)
  std::size_t count = 0;                   // records in `ordered`
  double base = 0;                         // header.started, as epoch seconds
  std::uint64_t read_offset = 0;           // next() reads here
  std::size_t read_index = 0;

  std::uint64_t t_us(double time) const {
    const double us = std::max(0.0, (time - base) * kMicrosPerSecond);
    return static_cast<std::uint64_t>(std::llround(us));
  }
  // Puts `entries` in time order into `ordered`: each entry's messages sorted (stably) when they
  // were not, then merged across entries, one message in memory at a time.
  Error order();
};

HarSession::HarSession() : impl_(std::make_unique<Impl>()) {}
HarSession::~HarSession() = default;
HarSession::HarSession(HarSession&&) noexcept = default;
HarSession& HarSession::operator=(HarSession&&) noexcept = default;
std::size_t HarSession::size() const { return impl_->count; }
session::SessionReader::Position HarSession::position() const { return {impl_->read_offset, impl_->read_index}; }
void HarSession::seek(const session::SessionReader::Position& position) {
  impl_->read_offset = position.offset;
  impl_->read_index = position.line;
}

std::optional<Record> HarSession::next(Error& error) {
  Impl& d = *impl_;
  if (d.read_index >= d.count) return std::nullopt;
  char head[kOrderedHeadBytes] = {};
  d.ordered.read_at(head, kOrderedHeadBytes, d.read_offset);
  std::uint64_t conn = 0;
  std::memcpy(&conn, head, sizeof conn);
  const bool open = head[sizeof conn] != 0;
  const SpooledMessage m = decode_message_head(head + sizeof conn + 1);
  FrameRecord f;
  if (!open) {
    f.payload.resize(m.size);
    d.ordered.read_at(f.payload.data(), m.size, d.read_offset + kOrderedHeadBytes);
  }
  if (d.ordered.error() || conn == 0 || conn > d.opens.size()) {
    error = d.ordered.error() ? d.ordered.error() : Error(Errc::kIoError, "HAR spool: corrupt record");
    return std::nullopt;
  }
  d.read_offset += kOrderedHeadBytes + (open ? 0 : m.size);
  ++d.read_index;
  if (open && d.refusals[conn - 1]) {
    RefusedRecord refused = *d.refusals[conn - 1];
    refused.t_us = d.opens[conn - 1].t_us;
    return refused;
  }
  if (open) return d.opens[conn - 1];
  f.conn = conn;
  f.t_us = d.t_us(m.time);
  f.dir = m.send ? Direction::kClient : Direction::kServer;
  f.opcode = m.opcode;
  return f;
}

Error HarSession::Impl::order() {
  if (!ordered.is_open()) {
    if (Error e = ordered.open("")) return e;
  }
  std::string payload;
  // An entry out of time order (a hand-edited file): its messages sorted by time, file order
  // within equal times, rewritten after the others. This alone holds 16 bytes per message of it.
  for (SpooledEntry& e : entries) {
    if (e.in_order) continue;
    std::vector<std::pair<double, std::uint64_t>> index;
    index.reserve(static_cast<std::size_t>(e.count));
    for (std::uint64_t at = e.begin; at < e.end && !messages.error();) {
      const SpooledMessage m = get_message_head(messages, at);
      index.emplace_back(m.time, at);
      at += kMessageHeadBytes + m.size;
    }
    std::stable_sort(index.begin(), index.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    const std::uint64_t begin = messages.end();
    for (const auto& [time, at] : index) {
      const SpooledMessage m = get_message_head(messages, at);
      payload.resize(m.size);
      messages.read_at(payload.data(), m.size, at + kMessageHeadBytes);
      put_message_head(messages, m, messages.end());
      messages.append(payload.data(), payload.size());
    }
    e.begin = begin;
    e.end = messages.end();
    e.in_order = true;
  }
  // The merge: per entry a cursor (its open first, then its messages); the earliest goes next,
  // the lower connection id first at equal times.
  struct Cursor {
    double time = 0;
    std::uint64_t conn = 0;
    bool open = true;
    std::uint64_t at = 0;  // its next message
  };
  const auto later = [](const Cursor& a, const Cursor& b) {
    return a.time != b.time ? a.time > b.time : a.conn > b.conn;
  };
  std::vector<Cursor> heap;
  heap.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    heap.push_back({entries[i].open_time, i + 1, true, entries[i].begin});
  }
  std::make_heap(heap.begin(), heap.end(), later);
  char head[kOrderedHeadBytes];
  while (!heap.empty() && !messages.error() && !ordered.error()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Cursor& c = heap.back();
    SpooledMessage m;
    if (!c.open) {
      m = get_message_head(messages, c.at);
      payload.resize(m.size);
      messages.read_at(payload.data(), m.size, c.at + kMessageHeadBytes);
      c.at += kMessageHeadBytes + m.size;
    }
    std::memcpy(head, &c.conn, sizeof c.conn);
    head[sizeof c.conn] = static_cast<char>(c.open ? 1 : 0);
    encode_message_head(m, head + sizeof c.conn + 1);
    ordered.append(head, kOrderedHeadBytes);
    if (!c.open) ordered.append(payload.data(), payload.size());
    ++count;
    c.open = false;
    const SpooledEntry& e = entries[c.conn - 1];
    if (c.at < e.end) {
      c.time = get_message_head(messages, c.at).time;
      std::push_heap(heap.begin(), heap.end(), later);
    } else {
      heap.pop_back();
    }
    // A huge message must not pin its buffer for the rest of the merge.
    if (payload.capacity() > kKeptMessageBytes) std::string().swap(payload);
  }
  if (messages.error()) return messages.error();
  if (ordered.error()) return ordered.error();
  messages.close();  // all in `ordered` now
  entries.clear();
  entries.shrink_to_fit();
  return {};
}

// Reads a HAR document as a stream of SAX events (nlohmann/json's sax_parse) and keeps only what
// becomes session records: of each entry its request URL and headers, response status and
// headers, startedDateTime, _resourceType and _webSocketMessages. Everything else (response
// bodies, timings, initiator stacks) passes by without being built: memory follows the
// WebSocket traffic, not the file.
class HarReader {
 public:
  HarReader(std::string path, HarSession& out) : path_(std::move(path)), out_(out) {}

  // The spool the messages go to as they are read.
  Error open_spool() { return out_.impl_->messages.open(""); }

  // nlohmann::json_sax's interface. Returning false stops the parse (error_ says why).
  bool null() { return scalar(Value::kOther); }
  bool boolean(bool /*value*/) { return scalar(Value::kOther); }
  bool number_integer(Json::number_integer_t value) {
    number_ = static_cast<double>(value);
    return scalar(Value::kInteger, value);
  }
  bool number_unsigned(Json::number_unsigned_t value) {
    number_ = static_cast<double>(value);
    unsigned_ = value;
    return scalar(Value::kUnsigned);
  }
  bool number_float(Json::number_float_t value, const Json::string_t& /*text*/) {
    number_ = value;
    return scalar(Value::kFloat);
  }
  bool string(Json::string_t& value) {
    string_ = &value;
    return scalar(Value::kString);
  }
  bool binary(Json::binary_t& /*value*/) { return scalar(Value::kOther); }
  bool key(Json::string_t& value) {
    if (skip_depth_ == 0) key_ = value;  // keys of skipped objects are not looked at
    return true;
  }
  bool start_object(std::size_t /*elements*/) { return open(true); }
  bool start_array(std::size_t /*elements*/) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string& /*last_token*/, const nlohmann::detail::exception& e) {
    // nlohmann's byte is 1-based and points just past the offending character.
    const std::size_t at = position > 0 ? position - 1 : 0;
    std::string what = e.what();
    // Its explanation without the "[json.exception.parse_error.101] parse error at line 1,
    // column 5: " prefix (the byte offset says where).
    if (const std::size_t colon = what.find(": "); colon != std::string::npos) what.erase(0, colon + 2);
    error_ = Error(Errc::kBadData, fmt::format("{}: not a HAR file: invalid JSON at byte {}: {}", path_, at, what));
    return false;
  }

  // After sax_parse: the records in time order, or why not.
  Error finish() {
    if (error_) return error_;
    if (!saw_entries_) return Error(Errc::kBadData, fmt::format("{}: not a HAR file (no log.entries)", path_));
    HarSession::Impl& d = *out_.impl_;
    if (d.messages.error()) return d.messages.error();
    // Time order across connections; within equal times file order, an entry's open first.
    if (Error e = d.order()) return e;
    out_.header.tool = fmt::format("wstool {}", wstool_version());
    out_.header.captured_by = "har";
    out_.header.minor = session::kFormatMinor;  // written by this wstool, in the format it writes
    out_.header.started = format_rfc3339(earliest_ == HUGE_VAL ? 0 : earliest_);
    parse_rfc3339(out_.header.started, d.base);  // the millisecond-rounded start "t" counts from
    for (auto& open : d.opens) open.t_us = d.t_us(open_times_[open.conn - 1]);
    return {};
  }

 private:
  // Where an event is: the containers that matter, anything else is skipped whole.
  enum class Context : std::uint8_t {
    kDocument, kLog, kEntries, kEntry, kRequest, kResponse, kContent, kHeaders, kHeader, kMessages, kMessage
  };
  enum class Value : std::uint8_t { kString, kInteger, kUnsigned, kFloat, kOther };
  // A message's fields as they came (any order), checked when it ends.
  struct Message {
    bool type_seen = false;
    std::string type;
    bool time_ok = false;
    double time = 0;
    bool opcode_ok = false;
    std::uint64_t opcode = 0;
    bool data_ok = false;
    std::string data;
  };

  Error entry_error(const std::string& what) const {
    return Error(Errc::kBadData, fmt::format("{}: entry {}: {}", path_, entry_index_, what));
  }
  void message_error(const std::string& what) {
    if (!message_error_) message_error_ = entry_error(fmt::format("message {}: {}", message_index_, what));
  }

  // A container starts: its context from the parent's and the key, or skipped.
  bool open(bool object) {
    if (skip_depth_ > 0 || (stack_.empty() && started_)) {
      ++skip_depth_;
      return true;
    }
    if (!started_) {
      started_ = true;
      if (!object) {
        ++skip_depth_;
        return true;
      }
      stack_.push_back(Context::kDocument);
      return true;
    }
    const Context parent = stack_.back();
    std::optional<Context> child;
    switch (parent) {
      case Context::kDocument:
        if (object && key_ == "log") child = Context::kLog;
        break;
      case Context::kLog:
        if (key_ == "entries") {
          if (object) break;
          saw_entries_ = true;
          child = Context::kEntries;
        }
        break;
      case Context::kEntries:
        ++entry_index_;
        if (object) {
          start_entry();
          child = Context::kEntry;
        }
        break;
      case Context::kEntry:
        if (key_ == "_webSocketMessages") {
          // Repeated, the last one counts (as a JSON object's last member does).
          restart_messages(/*not_a_list=*/object);
          if (!object) child = Context::kMessages;
        } else if (object && key_ == "request") {
          child = Context::kRequest;
        } else if (object && key_ == "response") {
          child = Context::kResponse;
        }
        break;
      case Context::kRequest:
      case Context::kResponse:
        if (!object && key_ == "headers") {
          headers_ = parent == Context::kRequest ? &open_.request : &open_.response;
          headers_->clear();
          child = Context::kHeaders;
        } else if (object && parent == Context::kResponse && key_ == "content") {
          child = Context::kContent;
        }
        break;
      case Context::kHeaders:
        if (object) {
          header_name_.reset();
          header_value_.reset();
          child = Context::kHeader;
        }
        break;
      case Context::kMessages:
        ++message_index_;
        if (object) {
          message_ = Message{};
          child = Context::kMessage;
        } else {
          message_error("not an object");
        }
        break;
      case Context::kHeader:
      case Context::kMessage:
      case Context::kContent:
        break;
    }
    if (!child) {
      ++skip_depth_;
      return true;
    }
    stack_.push_back(*child);
    return true;
  }

  bool close() {
    if (skip_depth_ > 0) {
      --skip_depth_;
      return true;
    }
    const Context done = stack_.back();
    stack_.pop_back();
    switch (done) {
      case Context::kHeader:
        if (header_name_ && header_value_) headers_->push_back({std::move(*header_name_), std::move(*header_value_)});
        return true;
      case Context::kMessage:
        end_message();
        return true;
      case Context::kEntry:
        return end_entry();
      default:
        return true;
    }
  }

  // A scalar: kept when it is a field we read, else dropped.
  bool scalar(Value kind, std::int64_t integer = 0) {
    if (skip_depth_ > 0 || stack_.empty()) {
      if (!started_) started_ = true;  // a document that is a lone scalar: no log.entries
      return true;
    }
    switch (stack_.back()) {
      case Context::kEntries:
        ++entry_index_;  // an entry that is not an object: skipped, but counted
        break;
      case Context::kEntry:
        if (key_ == "_webSocketMessages") {
          restart_messages(/*not_a_list=*/true);
        } else if (kind == Value::kString && key_ == "startedDateTime") {
          started_text_ = *string_;
        } else if (kind == Value::kString && key_ == "_resourceType") {
          if (*string_ == "websocket") websocket_ = true;
        } else if (kind == Value::kString && key_ == "_refusedBy") {
          refused_by_proxy_ = *string_ == "proxy";
        }
        break;
      case Context::kRequest:
        if (kind == Value::kString && key_ == "url") open_.url = *string_;
        break;
      case Context::kResponse:
        if (key_ == "status") {
          if (kind == Value::kUnsigned && unsigned_ <= static_cast<std::uint64_t>(std::numeric_limits<int>::max())) {
            open_.status = static_cast<int>(unsigned_);
          } else if (kind == Value::kInteger && integer >= std::numeric_limits<int>::min()) {
            open_.status = static_cast<int>(integer);
          } else {
            open_.status = kDefaultStatus;
          }
        } else if (kind == Value::kString && key_ == "statusText") {
          status_text_ = *string_;
        }
        break;
      case Context::kContent:
        // A refusal's body (only a WebSocket entry's is kept, and only what a refused record
        // holds of it: whatever the other entries' bodies are, memory holds one cut copy).
        if (kind == Value::kString && key_ == "text") {
          content_bytes_ = string_->size();
          content_text_.assign(*string_, 0, kMaxKeptContentChars);
        } else if (kind == Value::kString && key_ == "encoding") {
          content_encoding_ = *string_;
        } else if (kind == Value::kUnsigned && key_ == "size") {
          content_size_ = unsigned_;
        }
        break;
      case Context::kHeader:
        if (key_ == "name") header_name_ = kind == Value::kString ? std::optional<std::string>(*string_) : std::nullopt;
        if (key_ == "value") header_value_ = kind == Value::kString ? std::optional<std::string>(*string_) : std::nullopt;
        break;
      case Context::kMessages:
        ++message_index_;
        message_error("not an object");
        break;
      case Context::kMessage:
        if (key_ == "type") {
          message_.type_seen = kind == Value::kString;
          if (message_.type_seen) message_.type = *string_;
        } else if (key_ == "time") {
          message_.time_ok = kind != Value::kString && kind != Value::kOther;
          message_.time = number_;
        } else if (key_ == "opcode") {
          message_.opcode_ok = kind == Value::kUnsigned;
          message_.opcode = unsigned_;
        } else if (key_ == "data") {
          message_.data_ok = kind == Value::kString;
          if (message_.data_ok) message_.data = *string_;
        }
        break;
      case Context::kDocument:
      case Context::kLog:
      case Context::kHeaders:
        break;
    }
    return true;
  }

  // A repeated "_webSocketMessages": the last one counts (as a JSON object's last member does).
  void drop_messages() {
    out_.impl_->messages.truncate_to(entry_.begin);
    entry_.end = entry_.begin;
    entry_.count = 0;
    entry_.in_order = true;
    last_message_time_ = -HUGE_VAL;
    first_message_time_ = HUGE_VAL;
  }

  // An entry's `_webSocketMessages` begins (again): it marks a WebSocket entry, and what an
  // earlier one of the same entry gave is forgotten. `not_a_list`: the value is no array.
  void restart_messages(bool not_a_list) {
    websocket_ = true;
    drop_messages();
    message_index_ = 0;
    message_error_ = Error();
    messages_not_list_ = not_a_list;
  }

  void start_entry() {
    open_ = OpenRecord{};
    status_text_.clear();
    content_text_.clear();
    content_encoding_.clear();
    content_bytes_ = 0;
    content_size_ = 0;
    refused_by_proxy_ = false;
    started_text_.clear();
    websocket_ = false;
    messages_not_list_ = false;
    entry_ = SpooledEntry{};
    entry_.begin = entry_.end = out_.impl_->messages.end();
    last_message_time_ = -HUGE_VAL;
    first_message_time_ = HUGE_VAL;
    message_index_ = 0;
    message_error_ = Error();
  }

  void end_message() {
    if (message_error_) return;  // the entry fails with the first
    Message& m = message_;
    SpooledMessage item;
    if (m.type_seen && m.type == "send") {
      item.send = 1;
    } else if (!(m.type_seen && m.type == "receive")) {
      return message_error("\"type\" must be \"send\" or \"receive\"");
    }
    if (!m.time_ok) return message_error("missing \"time\"");
    if (!m.opcode_ok || m.opcode > kMaxOpcode) return message_error("\"opcode\" must be an integer from 0 to 15");
    if (!m.data_ok) return message_error("missing \"data\"");
    item.opcode = static_cast<std::uint8_t>(m.opcode);
    const std::string* payload = &m.data;
    if (item.opcode != kTextOpcode) {
      if (!base64_decode(m.data, decoded_)) return message_error("\"data\" is not valid base64");
      payload = &decoded_;
    }
    if (payload->size() > std::numeric_limits<std::uint32_t>::max()) return message_error("\"data\" is too large");
    item.time = m.time;
    item.size = static_cast<std::uint32_t>(payload->size());
    // Straight to the spool, kept if the entry is whole (else the read fails and nothing is).
    SpoolFile& spool = out_.impl_->messages;
    put_message_head(spool, item, spool.end());
    spool.append(payload->data(), payload->size());
    entry_.end = spool.end();
    ++entry_.count;
    if (item.time < last_message_time_) entry_.in_order = false;
    last_message_time_ = item.time;
    first_message_time_ = std::min(first_message_time_, item.time);
    // Message buffers grown by a huge one are given back rather than kept for the rest.
    if (decoded_.capacity() > kKeptMessageBytes) std::string().swap(decoded_);
    if (m.data.capacity() > kKeptMessageBytes) std::string().swap(m.data);
  }

  // An entry ends: a WebSocket one becomes an open record and its messages, checked first; one
  // whose handshake was answered with another status than 101, and that has no messages, a
  // refused record (session log 1.4).
  bool end_entry() {
    const bool upgrade = ws::list_has_token(ws::header_value(open_.request, "Upgrade"), "websocket");
    const bool refused = (websocket_ || upgrade) && entry_.count == 0 && open_.status != kSwitchingProtocols &&
                         open_.status >= kMinStatus;
    if (!websocket_ && !refused) return true;
    if (open_.url.empty()) {
      error_ = entry_error("no request.url");
      return false;
    }
    if (messages_not_list_) {
      error_ = entry_error("\"_webSocketMessages\" is not a list");
      return false;
    }
    if (message_error_) {
      error_ = message_error_;
      return false;
    }
    double open_time = HUGE_VAL;
    double started = 0;
    if (parse_rfc3339(started_text_, started)) open_time = started;
    open_time = std::min(open_time, first_message_time_);
    if (open_time == HUGE_VAL) {
      error_ = entry_error("no startedDateTime and no messages: no time to place it at");
      return false;
    }
    earliest_ = std::min(earliest_, open_time);
    HarSession::Impl& d = *out_.impl_;
    open_.conn = d.opens.size() + 1;
    open_.subprotocol = ws::header_value(open_.response, "Sec-WebSocket-Protocol");
    open_.extensions = ws::header_value(open_.response, "Sec-WebSocket-Extensions");
    entry_.open_time = open_time;
    d.entries.push_back(entry_);
    open_times_.push_back(open_time);
    d.refusals.push_back(refused ? std::optional<RefusedRecord>(refusal()) : std::nullopt);
    d.opens.push_back(std::move(open_));
    return true;
  }

  // The entry being read as a refused record (its t_us is set with the opens').
  RefusedRecord refusal() {
    RefusedRecord r;
    r.conn = open_.conn;
    r.by = refused_by_proxy_ ? session::Refuser::kProxy : session::Refuser::kServer;
    r.url = open_.url;
    r.request = open_.request;
    r.status = open_.status;
    r.reason = status_text_;
    r.response = open_.response;
    std::uint64_t whole = content_bytes_;
    if (content_encoding_ == "base64") {
      const bool cut = content_bytes_ > content_text_.size();
      // Cut at a whole group of four: what was kept of it decodes.
      if (cut) content_text_.resize(content_text_.size() / 4 * 4);
      if (!base64_decode(content_text_, r.body)) r.body.clear();
      whole = cut ? content_bytes_ / 4 * 3 : 0;
    } else {
      r.body = std::move(content_text_);
    }
    r.body_length = std::max<std::uint64_t>(content_size_, whole);
    if (r.body_length <= r.body.size()) r.body_length = 0;
    return r;
  }

  static constexpr int kDefaultStatus = 101;
  // What is kept of an entry's content.text: a refused record's body in base64 and a little.
  static constexpr std::size_t kMaxKeptContentChars = (session::kMaxRefusalBodyBytes / 3 + 2) * 4;
  static constexpr std::uint64_t kMaxOpcode = 15;

  std::string path_;
  HarSession& out_;
  Error error_;
  bool started_ = false;
  bool saw_entries_ = false;
  std::vector<Context> stack_;    // the containers that matter, outermost first
  std::size_t skip_depth_ = 0;    // > 0: inside a skipped container, this deep
  std::string key_;               // the current object's last key
  // The string value being handed over: the parser's own buffer, copied rather than moved from,
  // so a kept payload is allocated at its size (a moved one keeps the buffer's doubled growth)
  // and the parser keeps its buffer for the next string.
  const Json::string_t* string_ = nullptr;
  double number_ = 0;
  std::uint64_t unsigned_ = 0;
  // The entry being read.
  std::size_t entry_index_ = 0;
  OpenRecord open_;
  std::string started_text_;
  std::string status_text_;       // response.statusText
  std::string content_text_;      // response.content.text, cut to kMaxKeptContentChars
  std::string content_encoding_;  // response.content.encoding ("base64")
  std::uint64_t content_bytes_ = 0;  // content.text's whole length
  std::uint64_t content_size_ = 0;   // response.content.size
  bool refused_by_proxy_ = false;    // "_refusedBy":"proxy" (written by write_har)
  bool websocket_ = false;
  bool messages_not_list_ = false;
  SpooledEntry entry_;                    // where its messages are in the spool
  double last_message_time_ = -HUGE_VAL;  // the latest message's time (are they in order?)
  double first_message_time_ = HUGE_VAL;  // the earliest of them
  std::string decoded_;                   // a base64 message's payload, decoded
  std::size_t message_index_ = 0;
  Error message_error_;  // the first malformed message
  Message message_;
  ws::HttpHeaders* headers_ = nullptr;
  std::optional<std::string> header_name_;
  std::optional<std::string> header_value_;
  double earliest_ = HUGE_VAL;
  std::vector<double> open_times_;  // by connection id - 1
};

Error read_har(const std::string& path, HarSession& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::kMissingInput, fmt::format("{}: {}", path, std::strerror(errno)));
  out = HarSession{};
  HarReader reader(path, out);
  if (Error e = reader.open_spool()) return e;
  try {
    Json::sax_parse(in, &reader);
  } catch (const Json::exception& e) {
    // sax_parse reports through parse_error(); this is for anything it throws besides.
    return Error(Errc::kBadData, fmt::format("{}: not a HAR file: {}", path, e.what()));
  }
  if (in.bad()) return Error(Errc::kIoError, fmt::format("{}: {}", path, std::strerror(errno)));
  return reader.finish();
}

Error write_session_log(HarSession& session, const std::string& log_path, bool keep_secrets) {
  std::ofstream out(log_path, std::ios::binary | std::ios::trunc);
  if (!out) return Error(Errc::kCannotCreateOutput, fmt::format("{}: {}", log_path, std::strerror(errno)));
  out << session::to_json_line(session.header) << '\n';
  session::EndRecord end;
  session.seek({});
  Error read_error;
  while (auto record = session.next(read_error)) {
    const Record& r = *record;
    if (const auto* open = std::get_if<OpenRecord>(&r)) {
      out << session::to_json_line(keep_secrets ? *open : session::redacted(*open)) << '\n';
      ++end.connections;
      end.t_us = std::max(end.t_us, open->t_us);
      continue;
    }
    if (const auto* refused = std::get_if<RefusedRecord>(&r)) {
      out << session::to_json_line(keep_secrets ? *refused : session::redacted(*refused)) << '\n';
      ++end.refused;
      end.t_us = std::max(end.t_us, refused->t_us);
      continue;
    }
    if (const auto* f = std::get_if<FrameRecord>(&r)) {
      ++end.frames;
      end.t_us = std::max(end.t_us, f->t_us);
    }
    out << session::to_json_line(r) << '\n';
  }
  if (read_error) return read_error;
  out << session::to_json_line(end) << '\n';
  out.flush();
  if (!out) return Error(Errc::kIoError, fmt::format("{}: {}", log_path, std::strerror(errno)));
  return {};
}

namespace {

// Connections overlap in a log but each HAR entry holds its own messages, so the writer cannot
// emit messages as it reads them. It spools them instead, in one pass, to an unlinked file beside
// the output: each message is appended with room for a link to the connection's next one, which
// is patched in when that one comes. Memory holds a few numbers per connection; disk holds about
// the HAR's size once more, until the entries are written out by following the links.
class Spool {
 public:
  static constexpr std::uint64_t kNone = ~std::uint64_t{0};

  Error open(const std::string& beside) { return file_.open(beside); }

  // Appends `text`, linked after `previous` (kNone for a chain's first); returns its offset.
  std::uint64_t append(std::string_view text, std::uint64_t previous) {
    const std::uint64_t at = file_.end();
    char head[kHeadBytes];
    const std::uint64_t next = kNone;
    const auto size = static_cast<std::uint32_t>(text.size());
    std::memcpy(head, &next, sizeof next);
    std::memcpy(head + sizeof next, &size, sizeof size);
    file_.append(head, kHeadBytes);
    file_.append(text.data(), text.size());
    if (previous != kNone) file_.write_at(&at, sizeof at, previous);
    return at;
  }

  // The text at `at` into `text`; returns the offset of the next one in its chain.
  std::uint64_t read(std::uint64_t at, std::string& text) {
    char head[kHeadBytes];
    file_.read_at(head, kHeadBytes, at);
    std::uint64_t next = kNone;
    std::uint32_t size = 0;
    std::memcpy(&next, head, sizeof next);
    std::memcpy(&size, head + sizeof next, sizeof size);
    text.resize(size);
    file_.read_at(text.data(), size, at + kHeadBytes);
    return next;
  }

  // The first I/O failure, if any (later calls do nothing useful after one).
  const Error& error() const { return file_.error(); }

 private:
  static constexpr std::size_t kHeadBytes = sizeof(std::uint64_t) + sizeof(std::uint32_t);
  SpoolFile file_;
};

// A HAR entry's fixed part (everything but its duration and messages), compact JSON.
std::string entry_head(const std::string& url, const ws::HttpHeaders& request, int status, const std::string& reason,
                       const ws::HttpHeaders& response, Json content, std::uint64_t body_size, double open_time) {
  Json head = {
      {"startedDateTime", format_rfc3339(open_time)},
      {"request",
       {{"method", "GET"},
        {"url", url},
        {"httpVersion", "HTTP/1.1"},
        {"headers", headers_to(request)},
        {"queryString", Json::array()},
        {"cookies", Json::array()},
        {"headersSize", -1},
        {"bodySize", 0}}},
      {"response",
       {{"status", status},
        {"statusText", reason.empty() ? std::string(ws::reason_phrase(status)) : reason},
        {"httpVersion", "HTTP/1.1"},
        {"headers", headers_to(response)},
        {"cookies", Json::array()},
        {"content", std::move(content)},
        {"redirectURL", ""},
        {"headersSize", -1},
        {"bodySize", body_size}}},
      {"cache", Json::object()},
      {"timings", {{"blocked", -1}, {"dns", -1}, {"ssl", -1}, {"connect", -1}, {"send", 0}, {"wait", 0}, {"receive", 0}}},
      {"_resourceType", "websocket"}};
  // Invalid UTF-8 cannot reach here (headers were made valid by the log; a body that is not
  // UTF-8 is base64).
  return head.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string entry_head(const OpenRecord& open, double open_time) {
  return entry_head(open.url, open.request, open.status, {}, open.response, {{"size", 0}, {"mimeType", "x-unknown"}},
                    0, open_time);
}

// A refused record's entry: its answer with the body as content (base64 when it is not UTF-8),
// no messages; "_refusedBy" says when it was the recording proxy's own answer.
std::string entry_head(const RefusedRecord& refused, double open_time) {
  const std::uint64_t size = std::max<std::uint64_t>(refused.body_length, refused.body.size());
  const std::string type = ws::header_value(refused.response, "Content-Type");
  Json content = {{"size", size}, {"mimeType", type.empty() ? std::string("x-unknown") : type}};
  if (is_valid_utf8(refused.body.data(), refused.body.size())) {
    content["text"] = refused.body;
  } else {
    content["text"] = base64_encode(refused.body);
    content["encoding"] = "base64";
  }
  std::string head = entry_head(refused.url, refused.request, refused.status, refused.reason, refused.response,
                                std::move(content), size, open_time);
  if (refused.by == session::Refuser::kProxy) head.insert(head.size() - 1, ",\"_refusedBy\":\"proxy\"");
  return head;
}

// A buffered output file that remembers its first failure.
class Output {
 public:
  ~Output() {
    if (file_ != nullptr) std::fclose(file_);
  }
  bool open(const std::string& path) {
    path_ = path;
    file_ = std::fopen(path.c_str(), "wb");
    return file_ != nullptr;
  }
  void put(std::string_view text) {
    if (file_ != nullptr && std::fwrite(text.data(), 1, text.size(), file_) != text.size() && !error_) {
      error_ = Error(Errc::kIoError, fmt::format("{}: {}", path_, std::strerror(errno)));
    }
  }
  Error close() {
    if (file_ != nullptr && std::fclose(file_) != 0 && !error_) {
      error_ = Error(Errc::kIoError, fmt::format("{}: {}", path_, std::strerror(errno)));
    }
    file_ = nullptr;
    return error_;
  }

 private:
  std::FILE* file_ = nullptr;
  std::string path_;
  Error error_;
};

}  // namespace

Error write_har(const std::string& log_path, const std::string& har_path, std::vector<std::string>* warnings) {
  Error error;
  auto reader = session::SessionReader::open(log_path, error);
  if (!reader) return error;
  Output out;
  if (!out.open(har_path)) return Error(Errc::kCannotCreateOutput, fmt::format("{}: {}", har_path, std::strerror(errno)));
  Spool spool;
  if ((error = spool.open(har_path))) return error;
  double started = 0;
  parse_rfc3339(reader->header().started, started);
  // Per connection: where its parts are in the spool, and the message being joined per direction.
  struct Entry {
    std::uint64_t head = Spool::kNone;
    std::uint64_t first = Spool::kNone;
    std::uint64_t last = Spool::kNone;
    double open_time = 0;
    double duration_ms = 0;
    std::string message[2];
    std::uint8_t message_opcode[2] = {0, 0};
    bool in_message[2] = {false, false};
    bool refused = false;  // a refused record's: no messages
  };
  std::map<std::uint64_t, Entry> entries;  // by connection id; HAR lists them in that order
  std::uint64_t orphan_frames = 0;  // frames of connections with no open record before them
  std::uint64_t first_orphan_conn = 0;
  std::size_t first_orphan_line = 0;
  const auto at = [&](std::uint64_t t_us) { return started + static_cast<double>(t_us) / kMicrosPerSecond; };
  while (auto record = reader->next(error)) {
    if (spool.error()) return spool.error();
    if (const auto* open = std::get_if<OpenRecord>(&*record)) {
      Entry& e = entries[open->conn];
      e = Entry{};
      e.open_time = at(open->t_us);
      e.head = spool.append(entry_head(*open, e.open_time), Spool::kNone);
      continue;
    }
    if (const auto* refused = std::get_if<RefusedRecord>(&*record)) {
      Entry& e = entries[refused->conn];
      e = Entry{};
      e.refused = true;
      e.open_time = at(refused->t_us);
      e.head = spool.append(entry_head(*refused, e.open_time), Spool::kNone);
      continue;
    }
    const auto* f = std::get_if<FrameRecord>(&*record);
    if (f == nullptr) continue;
    const auto it = entries.find(f->conn);
    if (it == entries.end()) {
      // A rotated capture's later file, or a log cut at the front: no entry to put it in.
      if (orphan_frames++ == 0) {
        first_orphan_conn = f->conn;
        first_orphan_line = reader->line_number();
      }
      continue;
    }
    if (!f->invalid.empty()) continue;  // never relayed: no place in HAR
    Entry& e = it->second;
    const int d = f->dir == Direction::kClient ? 0 : 1;
    if (f->opcode == kCloseOpcode) {
      // Where the close came among the messages (DevTools shows opcode 8 as a close frame);
      // its code and reason in base64, as every payload that is not text.
      const Json m = {{"type", d == 0 ? "send" : "receive"},
                      {"time", at(f->t_us)},
                      {"opcode", kCloseOpcode},
                      {"data", base64_encode(f->payload)}};
      e.last = spool.append(m.dump(), e.last);
      if (e.first == Spool::kNone) e.first = e.last;
      e.duration_ms = (at(f->t_us) - e.open_time) * kMillisPerSecond;
      continue;
    }
    if (f->opcode >= kFirstControlOpcode) continue;  // pings and pongs have no place in HAR
    if (f->opcode != kContinuationOpcode) {
      e.message[d] = f->payload;
      e.message_opcode[d] = f->opcode;
      e.in_message[d] = true;
    } else if (e.in_message[d]) {
      e.message[d] += f->payload;
    } else {
      continue;  // a continuation without its start: the capture began mid-message
    }
    if (!f->fin) continue;
    e.in_message[d] = false;
    std::string& payload = e.message[d];
    const bool text = e.message_opcode[d] == kTextOpcode;
    Json m = {{"type", d == 0 ? "send" : "receive"},
              {"time", at(f->t_us)},
              {"opcode", text ? kTextOpcode : e.message_opcode[d]}};
    if (text && is_valid_utf8(payload.data(), payload.size())) {
      m["data"] = payload;
    } else if (text) {
      // A text message that was not UTF-8 (a broken peer): keep its bytes, as binary.
      m["opcode"] = kBinaryOpcode;
      m["data"] = base64_encode(payload);
    } else {
      m["data"] = base64_encode(payload);
    }
    e.last = spool.append(m.dump(-1, ' ', false, Json::error_handler_t::replace), e.last);
    if (e.first == Spool::kNone) e.first = e.last;
    e.duration_ms = (at(f->t_us) - e.open_time) * kMillisPerSecond;
    // A huge message must not pin its buffer for the rest of the conversion.
    if (payload.capacity() > kKeptMessageBytes) std::string().swap(payload);
  }
  if (error) return error;
  if (warnings != nullptr) {
    for (const std::string& w : reader->warnings()) warnings->push_back(w);
    if (orphan_frames > 0) {
      warnings->push_back(fmt::format("{}: {} frame record(s) of connections with no open record in the file left out "
                                      "(first: conn {}, line {})",
                                      log_path, orphan_frames, first_orphan_conn, first_orphan_line));
    }
  }
  out.put(fmt::format("{{\n  \"log\": {{\n    \"version\": \"1.2\",\n    \"creator\": {},\n    \"pages\": [],\n"
                      "    \"entries\": [",
                      Json({{"name", "wstool"}, {"version", std::string(wstool_version())}}).dump()));
  std::string text;
  bool first_entry = true;
  for (const auto& [conn, e] : entries) {
    spool.read(e.head, text);
    text.pop_back();  // the head's closing brace: the duration and messages follow
    out.put(first_entry ? "\n      " : ",\n      ");
    first_entry = false;
    out.put(text);
    if (e.refused) {
      out.put(",\"time\":0}");
      continue;
    }
    out.put(fmt::format(",\"time\":{},\"_webSocketMessages\":[", Json(e.duration_ms).dump()));
    for (std::uint64_t m = e.first; m != Spool::kNone && !spool.error();) {
      const bool first_message = m == e.first;
      m = spool.read(m, text);
      out.put(first_message ? "\n        " : ",\n        ");
      out.put(text);
    }
    out.put(e.first == Spool::kNone ? "]}" : "\n      ]}");
    if (spool.error()) return spool.error();
  }
  out.put("\n    ]\n  }\n}\n");
  return out.close();
}

Error convert_session_file(const std::string& in, const std::string& out, std::vector<std::string>* warnings,
                           bool keep_secrets) {
  const bool in_har = lower_extension(in) == "har";
  const bool out_har = lower_extension(out) == "har";
  if (in_har == out_har) {
    return Error(Errc::kUsage, fmt::format("--convert: one of '{}' and '{}' must be a .har file and the other a "
                                           "session log",
                                           in, out));
  }
  if (in_har) {
    HarSession session;
    if (Error e = read_har(in, session)) return e;
    return write_session_log(session, out, keep_secrets);
  }
  return write_har(in, out, warnings);
}

}  // namespace wstool::har
