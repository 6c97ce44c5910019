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
#include <map>
#include <sstream>

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include "lib/ascii.h"
#include "lib/base64.h"
#include "lib/json_limits.h"
#include "lib/utf8.h"
#include "lib/versions.h"

namespace wstool::har {
namespace {

using Json = nlohmann::json;
using session::Direction;
using session::FrameRecord;
using session::OpenRecord;
using session::Record;

// A HAR document nests about six deep (log > entries > entry > request > headers > header).
constexpr std::size_t kMaxHarDepth = 16;
constexpr double kMicrosPerSecond = 1e6;
constexpr double kMillisPerSecond = 1e3;
constexpr std::uint8_t kTextOpcode = 1;
constexpr std::uint8_t kBinaryOpcode = 2;
constexpr std::uint8_t kContinuationOpcode = 0;
constexpr std::uint8_t kFirstControlOpcode = 8;
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

ws::HttpHeaders headers_from(const Json& list) {
  ws::HttpHeaders out;
  if (!list.is_array()) return out;
  for (const auto& h : list) {
    if (!h.is_object()) continue;
    const auto name = h.find("name");
    const auto value = h.find("value");
    if (name == h.end() || value == h.end() || !name->is_string() || !value->is_string()) continue;
    out.push_back({name->get<std::string>(), value->get<std::string>()});
  }
  return out;
}

Json headers_to(const ws::HttpHeaders& headers) {
  Json list = Json::array();
  for (const auto& h : headers) list.push_back({{"name", h.name}, {"value", h.value}});
  return list;
}

std::string string_or(const Json& object, const char* key, std::string fallback = {}) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

struct PendingFrame {
  double time;  // epoch seconds
  std::size_t order;
  Record record;
};

}  // namespace

Error read_har(const std::string& path, HarSession& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::kMissingInput, fmt::format("{}: {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  Json doc;
  if (const auto e = parse_untrusted_json(text.str(), doc, kMaxHarDepth)) {
    return Error(Errc::kBadData, fmt::format("{}: not a HAR file: {}", path, e->message));
  }
  const auto log = doc.is_object() ? doc.find("log") : doc.end();
  if (log == doc.end() || !log->is_object() || !log->contains("entries") || !(*log)["entries"].is_array()) {
    return Error(Errc::kBadData, fmt::format("{}: not a HAR file (no log.entries)", path));
  }
  std::vector<PendingFrame> items;
  double earliest = HUGE_VAL;
  std::uint64_t conn = 0;
  std::size_t entry_index = 0;
  for (const auto& entry : (*log)["entries"]) {
    ++entry_index;
    if (!entry.is_object()) continue;
    const auto messages = entry.find("_webSocketMessages");
    const bool websocket = string_or(entry, "_resourceType") == "websocket";
    if (messages == entry.end() && !websocket) continue;
    const auto where = [&](const std::string& what) {
      return Error(Errc::kBadData, fmt::format("{}: entry {}: {}", path, entry_index, what));
    };
    OpenRecord open;
    open.conn = ++conn;
    const Json empty = Json::object();
    const Json& request = entry.contains("request") && entry["request"].is_object() ? entry["request"] : empty;
    const Json& response = entry.contains("response") && entry["response"].is_object() ? entry["response"] : empty;
    open.url = string_or(request, "url");
    if (open.url.empty()) return where("no request.url");
    open.request = headers_from(request.value("headers", Json::array()));
    open.response = headers_from(response.value("headers", Json::array()));
    const auto status = response.find("status");
    open.status = status != response.end() && status->is_number_integer() ? status->get<int>() : 101;
    open.subprotocol = ws::header_value(open.response, "Sec-WebSocket-Protocol");
    open.extensions = ws::header_value(open.response, "Sec-WebSocket-Extensions");
    double open_time = HUGE_VAL;
    double started = 0;
    if (parse_rfc3339(string_or(entry, "startedDateTime"), started)) open_time = started;
    std::size_t message_index = 0;
    std::vector<PendingFrame> frames;
    if (messages != entry.end()) {
      if (!messages->is_array()) return where("\"_webSocketMessages\" is not a list");
      for (const auto& m : *messages) {
        ++message_index;
        const auto bad = [&](const std::string& what) {
          return where(fmt::format("message {}: {}", message_index, what));
        };
        if (!m.is_object()) return bad("not an object");
        const std::string type = string_or(m, "type");
        FrameRecord f;
        f.conn = open.conn;
        if (type == "send") {
          f.dir = Direction::kClient;
        } else if (type == "receive") {
          f.dir = Direction::kServer;
        } else {
          return bad("\"type\" must be \"send\" or \"receive\"");
        }
        const auto time = m.find("time");
        if (time == m.end() || !time->is_number()) return bad("missing \"time\"");
        const auto opcode = m.find("opcode");
        if (opcode == m.end() || !opcode->is_number_unsigned() || opcode->get<std::uint64_t>() > 15) {
          return bad("\"opcode\" must be an integer from 0 to 15");
        }
        f.opcode = static_cast<std::uint8_t>(opcode->get<std::uint64_t>());
        const auto data = m.find("data");
        if (data == m.end() || !data->is_string()) return bad("missing \"data\"");
        if (f.opcode == kTextOpcode) {
          f.payload = data->get<std::string>();
        } else if (!base64_decode(data->get<std::string>(), f.payload)) {
          return bad("\"data\" is not valid base64");
        }
        const double t = time->get<double>();
        open_time = std::min(open_time, t);
        frames.push_back({t, 0, std::move(f)});
      }
    }
    if (open_time == HUGE_VAL) return where("no startedDateTime and no messages: no time to place it at");
    earliest = std::min(earliest, open_time);
    items.push_back({open_time, 0, std::move(open)});
    for (auto& f : frames) items.push_back(std::move(f));
  }
  for (std::size_t i = 0; i < items.size(); ++i) items[i].order = i;
  // Time order across connections, file order within equal times (an open before its frames).
  std::stable_sort(items.begin(), items.end(),
                   [](const PendingFrame& a, const PendingFrame& b) { return a.time < b.time; });
  out = HarSession{};
  out.header.tool = fmt::format("wstool {}", wstool_version());
  out.header.captured_by = "har";
  out.header.started = format_rfc3339(earliest == HUGE_VAL ? 0 : earliest);
  double base = 0;
  parse_rfc3339(out.header.started, base);  // the millisecond-rounded start "t" counts from
  out.records.reserve(items.size());
  for (auto& item : items) {
    const double us = std::max(0.0, (item.time - base) * kMicrosPerSecond);
    const auto t = static_cast<std::uint64_t>(std::llround(us));
    std::visit(
        [t](auto& r) {
          if constexpr (std::is_same_v<std::decay_t<decltype(r)>, OpenRecord> ||
                        std::is_same_v<std::decay_t<decltype(r)>, FrameRecord>) {
            r.t_us = t;
          }
        },
        item.record);
    out.records.push_back(std::move(item.record));
  }
  return {};
}

Error write_session_log(const HarSession& session, const std::string& log_path) {
  std::ofstream out(log_path, std::ios::binary | std::ios::trunc);
  if (!out) return Error(Errc::kCannotCreateOutput, fmt::format("{}: {}", log_path, std::strerror(errno)));
  out << session::to_json_line(session.header) << '\n';
  session::EndRecord end;
  for (const auto& r : session.records) {
    if (const auto* open = std::get_if<OpenRecord>(&r)) {
      out << session::to_json_line(session::redacted(*open)) << '\n';
      ++end.connections;
      end.t_us = std::max(end.t_us, open->t_us);
      continue;
    }
    if (const auto* f = std::get_if<FrameRecord>(&r)) {
      ++end.frames;
      end.t_us = std::max(end.t_us, f->t_us);
    }
    out << session::to_json_line(r) << '\n';
  }
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

  ~Spool() {
    if (fd_ >= 0) ::close(fd_);
  }

  // Beside `beside` (the output: a disk with room for it, where /tmp may be a small tmpfs), or
  // in $TMPDIR (/tmp) when that directory cannot take it (-o /dev/stdout).
  Error open(const std::string& beside) {
    std::string pattern = beside + ".spool-XXXXXX";
    fd_ = ::mkstemp(pattern.data());
    if (fd_ < 0) {
      const char* tmpdir = std::getenv("TMPDIR");
      pattern = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/wstool-har-spool-XXXXXX";
      fd_ = ::mkstemp(pattern.data());
    }
    if (fd_ < 0) return Error(Errc::kCannotCreateOutput, fmt::format("{}: {}", pattern, std::strerror(errno)));
    ::unlink(pattern.c_str());  // gone when closed, whatever happens
    return {};
  }

  // Appends `text`, linked after `previous` (kNone for a chain's first); returns its offset.
  std::uint64_t append(std::string_view text, std::uint64_t previous) {
    const std::uint64_t at = end_;
    char head[kHeadBytes];
    const std::uint64_t next = kNone;
    const auto size = static_cast<std::uint32_t>(text.size());
    std::memcpy(head, &next, sizeof next);
    std::memcpy(head + sizeof next, &size, sizeof size);
    write_at(head, kHeadBytes, at);
    write_at(text.data(), text.size(), at + kHeadBytes);
    end_ += kHeadBytes + text.size();
    if (previous != kNone) write_at(&at, sizeof at, previous);
    return at;
  }

  // The text at `at` into `text`; returns the offset of the next one in its chain.
  std::uint64_t read(std::uint64_t at, std::string& text) {
    char head[kHeadBytes];
    read_at(head, kHeadBytes, at);
    std::uint64_t next = kNone;
    std::uint32_t size = 0;
    std::memcpy(&next, head, sizeof next);
    std::memcpy(&size, head + sizeof next, sizeof size);
    text.resize(size);
    read_at(text.data(), size, at + kHeadBytes);
    return next;
  }

  // The first I/O failure, if any (later calls do nothing useful after one).
  const Error& error() const { return error_; }

 private:
  static constexpr std::size_t kHeadBytes = sizeof(std::uint64_t) + sizeof(std::uint32_t);

  void write_at(const void* data, std::size_t size, std::uint64_t at) {
    const char* p = static_cast<const char*>(data);
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

  int fd_ = -1;
  std::uint64_t end_ = 0;
  Error error_;
};

// A HAR entry's fixed part (everything but its duration and messages), compact JSON.
std::string entry_head(const OpenRecord& open, double open_time) {
  const Json head = {
      {"startedDateTime", format_rfc3339(open_time)},
      {"request",
       {{"method", "GET"},
        {"url", open.url},
        {"httpVersion", "HTTP/1.1"},
        {"headers", headers_to(open.request)},
        {"queryString", Json::array()},
        {"cookies", Json::array()},
        {"headersSize", -1},
        {"bodySize", 0}}},
      {"response",
       {{"status", open.status},
        {"statusText", std::string(ws::reason_phrase(open.status))},
        {"httpVersion", "HTTP/1.1"},
        {"headers", headers_to(open.response)},
        {"cookies", Json::array()},
        {"content", {{"size", 0}, {"mimeType", "x-unknown"}}},
        {"redirectURL", ""},
        {"headersSize", -1},
        {"bodySize", 0}}},
      {"cache", Json::object()},
      {"timings", {{"blocked", -1}, {"dns", -1}, {"ssl", -1}, {"connect", -1}, {"send", 0}, {"wait", 0}, {"receive", 0}}},
      {"_resourceType", "websocket"}};
  // Invalid UTF-8 cannot reach here (headers were made valid by the log).
  return head.dump(-1, ' ', false, Json::error_handler_t::replace);
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

Error write_har(const std::string& log_path, const std::string& har_path) {
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
  };
  std::map<std::uint64_t, Entry> entries;  // by connection id; HAR lists them in that order
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
    const auto* f = std::get_if<FrameRecord>(&*record);
    if (f == nullptr) continue;
    const auto it = entries.find(f->conn);
    // Control frames have no place in HAR, nor do frames that broke the protocol (never relayed).
    if (it == entries.end() || f->opcode >= kFirstControlOpcode || !f->invalid.empty()) continue;
    Entry& e = it->second;
    const int d = f->dir == Direction::kClient ? 0 : 1;
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

Error convert_session_file(const std::string& in, const std::string& out) {
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
    return write_session_log(session, out);
  }
  return write_har(in, out);
}

}  // namespace wstool::har
