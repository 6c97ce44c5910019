// wstool replay: a recorded session (session log or HAR) played against a server as a
// regression test — client frames sent with their recorded timing, server frames checked.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/ascii.h"
#include "lib/base64.h"
#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/har.h"
#include "lib/redact.h"
#include "lib/replay_compare.h"
#include "lib/session_log.h"
#include "lib/units.h"
#include "lib/utf8.h"
#include "lib/versions.h"
#include "lib/ws_url.h"
#include "tools/common_options.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using SteadyClock = std::chrono::steady_clock;
using Json = nlohmann::ordered_json;
using session::Direction;
using session::Record;

constexpr const char* kProg = "wsreplay";
constexpr int kResultsVersion = 1;
// Additions within version 1 that older readers may ignore. 1: message, line and serverFrame on
// differences; the fragmentation, compression and rsv kinds (--compare-frames). 2: received and
// after on extra differences. 3: the handshake kind (refused records, session log 1.4), the
// connections' expectedStatus and status, the summary's refusalsExpected and refusalsMatched.
constexpr int kResultsMinor = 3;
// How a negotiated permessage-deflate shows in Sec-WebSocket-Extensions (and the log's open record).
constexpr std::string_view kDeflate = "permessage-deflate";
constexpr unsigned kDefaultUnorderedWindow = 16;
// Records waiting for one connection's driver: the reader stays at most this far ahead, so a
// log of any size replays in flat memory.
constexpr std::size_t kMaxQueuedRecords = 1024;
// Expected server messages read ahead of the network (besides the --unordered window).
constexpr std::size_t kExpectLookahead = 64;
// Server messages received and not yet matched; beyond this the oldest is an extra message.
constexpr std::size_t kMaxUnmatchedReceived = 4096;
// Differences kept for the results document and printed; all are counted.
constexpr std::size_t kMaxReportedDifferences = 1000;
// JSON paths shown per differing message.
constexpr std::size_t kMaxPathsPerDifference = 8;
// Payload bytes shown in a diff line.
constexpr std::size_t kPreviewBytes = 120;
constexpr std::uint8_t kContinuation = 0;
constexpr std::uint8_t kBinary = 2;
constexpr std::uint8_t kClose = 8;
constexpr std::uint8_t kPing = 9;
constexpr std::uint8_t kPong = 10;
constexpr std::uint16_t kNormalClose = 1000;
constexpr std::uint16_t kNoStatus = 1005;
constexpr std::uint16_t kAbnormal = 1006;
constexpr int kSwitchingProtocols = 101;

struct ReplayOptions {
  std::string file;
  std::string url;
  bool har = false;
  ClientOptions client;
  std::string speed = "1";
  std::string compare = "bytes";
  std::vector<std::string> ignore;
  unsigned unordered = 0;  // 0: strict order
  nanoseconds timeout = std::chrono::seconds(5);
  bool compare_control = false;
  bool compare_frames = false;
  std::string output;
  bool parallel = false;
  std::uint64_t max_message_size = ws::kDefaultMaxMessageBytes;
  bool quiet = false;
};

// Parsed --speed: a factor, or as fast as the server answers.
struct Speed {
  bool max = false;
  double factor = 1;
};

// ---- the records to replay: a session log (streamed) or a HAR file (in memory) -----------

class RecordSource {
 public:
  virtual ~RecordSource() = default;
  virtual std::optional<Record> next(Error& error) = 0;
  virtual session::SessionReader::Position position() const = 0;
  virtual Error seek(const session::SessionReader::Position& p) = 0;
  // "file:line" of the record last returned.
  virtual std::string where() const = 0;
  // Its line in the file; 0 when the source has no lines to show (HAR).
  virtual std::size_t line() const = 0;
  virtual std::vector<std::string> warnings() const = 0;
  // Who captured the records ("record", "connect", "serve", "har").
  virtual std::string captured_by() const = 0;
};

class LogSource final : public RecordSource {
 public:
  explicit LogSource(std::unique_ptr<session::SessionReader> reader) : reader_(std::move(reader)) {}
  std::optional<Record> next(Error& error) override { return reader_->next(error); }
  session::SessionReader::Position position() const override { return reader_->position(); }
  Error seek(const session::SessionReader::Position& p) override { return reader_->seek(p); }
  std::string where() const override { return fmt::format("{}:{}", short_name(), reader_->line_number()); }
  std::size_t line() const override { return reader_->line_number(); }
  std::vector<std::string> warnings() const override { return reader_->warnings(); }
  std::string captured_by() const override { return reader_->header().captured_by; }

 private:
  std::string short_name() const {
    const std::string& p = reader_->path();
    const std::size_t slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
  }
  std::unique_ptr<session::SessionReader> reader_;
};

class HarSource final : public RecordSource {
 public:
  HarSource(har::HarSession session, std::string name) : session_(std::move(session)), name_(std::move(name)) {}
  std::optional<Record> next(Error& error) override { return session_.next(error); }
  session::SessionReader::Position position() const override { return session_.position(); }
  Error seek(const session::SessionReader::Position& p) override {
    session_.seek(p);
    return {};
  }
  // The record last returned, counted from 1.
  std::string where() const override { return fmt::format("{} record {}", name_, session_.position().line); }
  std::size_t line() const override { return 0; }
  std::vector<std::string> warnings() const override { return {}; }
  std::string captured_by() const override { return "har"; }

 private:
  har::HarSession session_;
  std::string name_;
};

// ---- results shared by every connection ----------------------------------------------------

// kFragmentation, kCompression, kRsv: --compare-frames (replay::FrameComparison's kinds).
// kHandshake: a refused record's status not answered again (session log 1.4).
enum class DiffKind { kDifferent, kMissing, kExtra, kCloseCode, kFragmentation, kCompression, kRsv, kHandshake };

std::string_view diff_kind_name(DiffKind k) {
  switch (k) {
    case DiffKind::kDifferent: return "different";
    case DiffKind::kMissing: return "missing";
    case DiffKind::kExtra: return "extra";
    case DiffKind::kFragmentation: return "fragmentation";
    case DiffKind::kCompression: return "compression";
    case DiffKind::kRsv: return "rsv";
    case DiffKind::kHandshake: return "handshake";
    case DiffKind::kCloseCode: break;
  }
  return "close";
}

DiffKind diff_kind(replay::FrameComparison::Kind k) {
  switch (k) {
    case replay::FrameComparison::Kind::kCompression: return DiffKind::kCompression;
    case replay::FrameComparison::Kind::kRsv: return DiffKind::kRsv;
    case replay::FrameComparison::Kind::kNone:
    case replay::FrameComparison::Kind::kFragmentation: break;
  }
  return DiffKind::kFragmentation;
}

// Where a difference is, so that `sed -n LINEp log` shows it: the recorded message (its index
// among the connection's expected server messages) and its first frame's record.
struct Location {
  std::uint64_t message = 0;       // 0: not about one recorded message (extra, close)
  std::string where;               // "session.jsonl:42", "chat.har record 7"; "" when nowhere
  std::size_t line = 0;            // the record's line; 0 when the source has none (HAR)
  std::uint64_t server_frame = 0;  // its index among the connection's recorded server frames; 0: none

  // An extra message: its 1-based index among the server messages received on the connection;
  // the fields above are then the recorded message it came after (message 0: before any).
  std::uint64_t received = 0;

  static Location of(const replay::ExpectedMessage& e) { return {e.index, e.where, e.line, e.server_frame, 0}; }
  static Location extra(const replay::Mismatch& m) {
    Location at = of(m.expected);
    at.received = m.received;
    return at;
  }

  // "conn 1 message 3 (session.jsonl:42, server frame 5)", "conn 1 (session.jsonl:50)", "conn 2";
  // an extra: "conn 1 received message 6, after message 3 (session.jsonl:42, server frame 5)".
  std::string head(std::uint64_t conn) const {
    std::string text = fmt::format("conn {}", conn);
    if (received > 0) {
      text += fmt::format(" received message {}, ", received);
      if (message == 0) return text + "before message 1";
      text += "after";
    }
    if (message > 0) text += fmt::format(" message {}", message);
    if (!where.empty()) {
      text += " (" + where;
      if (server_frame > 0) text += fmt::format(", server frame {}", server_frame);
      text += ")";
    }
    return text;
  }

  // The results document's fields for it (man/wstool-replay.1, RESULTS DOCUMENT).
  void add_to(Json& detail) const {
    Json* target = &detail;
    if (received > 0) {
      detail["received"] = received;
      if (message == 0) return;
      detail["after"] = Json::object();
      target = &detail["after"];
    }
    if (message > 0) {
      (*target)["message"] = message;
      if (received == 0) (*target)["frame"] = message;  // its name in results 1.0, kept for readers of those
    }
    if (!where.empty()) (*target)["where"] = where;
    if (line > 0) (*target)["line"] = line;
    if (server_frame > 0) (*target)["serverFrame"] = server_frame;
  }
};

struct ConnectionSummary {
  std::uint64_t conn = 0;
  std::string url;
  bool opened = false;
  std::string error;
  std::uint64_t sent = 0;
  std::uint64_t expected = 0;
  std::uint64_t matched = 0;
  std::uint64_t differences = 0;
  std::optional<std::uint16_t> close_code;
  std::uint64_t frames_not_compared = 0;  // --compare-frames: compressed on one side only
  // A refused record: the status the recording expects, and the one the handshake got (101 when
  // it opened; none when nothing answered).
  std::optional<int> expected_status;
  std::optional<int> status;
};

Json message_json(const replay::Message& m) {
  Json j = {{"opcode", m.opcode}};
  if (m.opcode != 2 && is_valid_utf8(m.payload.data(), m.payload.size())) {
    j["text"] = m.payload;
  } else {
    j["bytes"] = base64_encode(m.payload);
  }
  return j;
}

class Report {
 public:
  explicit Report(bool quiet) : quiet_(quiet) {}

  // One difference: printed (a concise line or a few) and kept for -o, within the limits.
  void difference(DiffKind kind, std::uint64_t conn, const Location& at, const std::vector<std::string>& lines,
                  Json detail) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++total_;
    ++by_kind_[std::string(diff_kind_name(kind))];
    if (kept_.size() >= kMaxReportedDifferences) return;
    const std::string head = at.head(conn);
    if (!quiet_) {
      for (const auto& line : lines) fmt::print("{}: {}\n", head, line);
      std::fflush(stdout);
    }
    detail["kind"] = diff_kind_name(kind);
    detail["conn"] = conn;
    at.add_to(detail);
    kept_.push_back(std::move(detail));
  }

  void add_connection(ConnectionSummary s) {
    std::lock_guard<std::mutex> lock(mutex_);
    connections_.push_back(std::move(s));
  }

  std::uint64_t total() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return total_;
  }

  // For people, on stderr: something in the recording that could not be replayed as it is.
  void warning(const std::string& text) {
    std::lock_guard<std::mutex> lock(mutex_);
    fmt::print(stderr, "wsreplay: warning: {}\n", text);
  }

  Json to_json() const {
    std::lock_guard<std::mutex> lock(mutex_);
    Json conns = Json::array();
    std::uint64_t sent = 0;
    std::uint64_t expected = 0;
    std::uint64_t matched = 0;
    std::uint64_t failed = 0;
    std::uint64_t refusals = 0;
    std::uint64_t refusals_matched = 0;
    for (const auto& c : connections_) {
      Json j = {{"conn", c.conn}, {"url", redact_url(c.url)}, {"opened", c.opened}, {"sent", c.sent},
                {"expected", c.expected}, {"matched", c.matched}, {"differences", c.differences}};
      if (!c.error.empty()) j["error"] = c.error;
      if (c.close_code) j["closeCode"] = *c.close_code;
      if (c.frames_not_compared > 0) j["framesNotCompared"] = c.frames_not_compared;
      if (c.expected_status) j["expectedStatus"] = *c.expected_status;
      if (c.status) j["status"] = *c.status;
      conns.push_back(std::move(j));
      sent += c.sent;
      expected += c.expected;
      matched += c.matched;
      // An expected refusal that was answered is not a connection that failed.
      if (!c.opened && !(c.expected_status && c.status)) ++failed;
      if (c.expected_status) ++refusals;
      if (c.expected_status && c.status == c.expected_status) ++refusals_matched;
    }
    Json kinds = Json::object();
    for (const auto& [k, n] : by_kind_) kinds[k] = n;
    return {{"summary",
             {{"connections", connections_.size()},
              {"connectionsFailed", failed},
              {"framesSent", sent},
              {"framesExpected", expected},
              {"framesMatched", matched},
              {"refusalsExpected", refusals},
              {"refusalsMatched", refusals_matched},
              {"differences", total_},
              {"differencesByKind", kinds}}},
            {"connections", std::move(conns)},
            {"differences", kept_},
            {"differencesOmitted", total_ - kept_.size()}};
  }

  std::string summary_line() const {
    const Json j = to_json()["summary"];
    const auto refusals = j["refusalsExpected"].get<std::uint64_t>();
    return fmt::format("replay: {} connection(s), {} frame(s) sent, {} expected, {} matched, {}{} difference(s)",
                       j["connections"].get<std::uint64_t>(), j["framesSent"].get<std::uint64_t>(),
                       j["framesExpected"].get<std::uint64_t>(), j["framesMatched"].get<std::uint64_t>(),
                       refusals == 0 ? std::string()
                                     : fmt::format("{} refusal(s) expected, {} matched, ", refusals,
                                                   j["refusalsMatched"].get<std::uint64_t>()),
                       j["differences"].get<std::uint64_t>());
  }

 private:
  bool quiet_;
  mutable std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::map<std::string, std::uint64_t> by_kind_;
  std::vector<Json> kept_;
  std::vector<ConnectionSummary> connections_;
};

// ---- one recorded connection, replayed ----------------------------------------------------

// A record with where it came from, queued for a connection's driver.
struct Item {
  Record record;
  std::string where;
  std::size_t line = 0;
};

// What both directions' fragments add up to: whole messages, as the engine sends and delivers;
// with `keep_frames` (--compare-frames) each with the shapes of its frames.
struct Assembler {
  bool keep_frames = false;
  bool active = false;
  std::uint8_t opcode = 0;
  std::string payload;
  std::vector<replay::FrameShape> frames;
  std::size_t frame_count = 0;  // of the message in progress, kept or not
  std::size_t first_line = 0;   // its first frame's record

  // A complete message, or nothing yet (or a stray continuation). `line`: a recorded frame's.
  std::optional<replay::Message> add(std::uint8_t frame_opcode, bool fin, std::string_view data, std::uint8_t rsv = 0,
                                     bool compressed = false, std::size_t line = 0) {
    if (frame_opcode != kContinuation) {
      active = true;
      opcode = frame_opcode;
      payload.assign(data);
      frames.clear();
      frame_count = 0;
      first_line = line;
    } else if (active) {
      payload.append(data);
    } else {
      return std::nullopt;
    }
    ++frame_count;
    if (keep_frames) {
      replay::FrameShape shape;
      shape.opcode = frame_opcode;
      shape.fin = fin;
      shape.rsv = rsv;
      // Per message: a recording's continuation frames may say either.
      shape.compressed = frame_opcode == kContinuation && !frames.empty() ? frames.front().compressed : compressed;
      shape.size = data.size();
      shape.line = line;
      frames.push_back(shape);
    }
    if (!fin) return std::nullopt;
    active = false;
    return replay::Message{opcode, std::move(payload), std::move(frames)};
  }
};

struct Settings {
  Speed speed;
  const replay::PayloadComparer* comparer = nullptr;
  unsigned window = 1;
  milliseconds timeout{5000};
  bool compare_control = false;
  bool compare_frames = false;
  // Answer the server's pings as the engine would: for logs whose writer did not see every pong
  // the client sent (connect's automatic ones; serve and HAR keep none). Logs of record hold them
  // all, and replay resends those instead.
  bool answer_pings = true;
};

// Drives one connection: the client's recorded messages go out on schedule, each server message
// is matched against the recording. Everything but push()/finish_input() runs on the client's
// thread (inside ws::Client::run), through the engine's callbacks and timer.
class ConnectionReplay final : public ws::ConnectionHandler {
 public:
  // `scheduled`: when the connection's open is due on the replay's timeline; its messages are due
  // relative to that, not to when the connection happened to open, so connections that took
  // longer to connect than others keep their recorded order relative to them.
  // `recorded_deflate`: the recorded connection negotiated permessage-deflate.
  ConnectionReplay(std::uint64_t conn, std::uint64_t open_t_us, bool recorded_deflate, SteadyClock::time_point scheduled,
                   const Settings& settings, Report& report)
      : start_(scheduled),
        conn_(conn),
        open_t_us_(open_t_us),
        recorded_deflate_(recorded_deflate),
        settings_(settings),
        report_(report),
        matcher_(*settings.comparer, settings.window, settings.timeout, kMaxUnmatchedReceived) {
    summary_.conn = conn;
    server_assembler_.keep_frames = settings.compare_frames;
    received_assembler_.keep_frames = settings.compare_frames;
  }

  void set_client(ws::Client* client) { client_ = client; }
  // A refused record: the handshake is all there is to compare (Replayer::finish does); should
  // it open, it is closed with 1000 at once and nothing it sends is compared.
  void expect_refusal() { expect_refusal_ = true; }

  // Reader side: blocks while the queue is full. False once the connection is over (the rest
  // of its records are then dropped).
  bool push(Item item) {
    std::unique_lock<std::mutex> lock(mutex_);
    space_.wait(lock, [this] { return queue_.size() < kMaxQueuedRecords || over_; });
    if (over_) return false;
    queue_.push_back(std::move(item));
    wake_locked();
    return true;
  }

  void finish_input() {
    std::lock_guard<std::mutex> lock(mutex_);
    input_done_ = true;
    wake_locked();
  }

  // The log broke off (bad data past this point): what the server sends from now on cannot be
  // compared with records never read, so nothing more is reported; close as on SIGINT. Set
  // before the input ends, so no match on this connection's thread sees the end first.
  void abandon() {
    log_broke_off_.store(true);
    stop();
  }

  // Signals: close now, going away.
  void stop() {
    if (client_ != nullptr) {
      client_->post([this] {
        stopped_ = true;
        if (conn_ptr_ != nullptr && !closing_ && !close_sent_) begin_close(ws::close_code::kGoingAway, "");
      });
    }
  }

  // After run() returned: the connection is over; unblock the reader.
  void mark_over() {
    std::lock_guard<std::mutex> lock(mutex_);
    over_ = true;
    space_.notify_all();
  }

  ConnectionSummary& summary() { return summary_; }

  // ---- engine callbacks ----
  void on_open(ws::Connection& conn) override {
    conn_ptr_ = &conn;
    summary_.opened = true;
    if (expect_refusal_) {
      closing_ = true;
      conn.close(kNormalClose, "");
      return;
    }
    replay_deflate_ = conn.extensions().find(kDeflate) != std::string::npos;
    update_frame_rule();
    if (settings_.speed.max) start_ = SteadyClock::now();
    advance();
  }

  void on_message(ws::Connection& /*conn*/, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
    received(replay::Message{opcode, std::string(reinterpret_cast<const char*>(data), size)});
  }
  // Frame delivery (so the client's frames can go out as recorded and pings are ours to answer):
  // the server's frames are joined into messages, which is what is compared.
  void on_data_frame(ws::Connection& /*conn*/, const ws::DataFrame& frame) override {
    auto m = received_assembler_.add(frame.opcode, frame.fin,
                                     std::string_view(reinterpret_cast<const char*>(frame.data), frame.size), frame.rsv,
                                     frame.compressed);
    if (m) received(std::move(*m));
  }
  void on_ping(ws::Connection& conn, std::string_view payload) override {
    ++server_pings_received_;
    if (settings_.answer_pings) conn.pong(payload);
    if (settings_.compare_control) {
      received(replay::Message{kPing, std::string(payload)});
    } else {
      advance();  // a recorded pong may have been waiting for this ping
    }
  }
  void on_pong(ws::Connection& /*conn*/, std::string_view payload) override {
    if (settings_.compare_control) received(replay::Message{kPong, std::string(payload)});
  }
  void on_timer(ws::Connection& /*conn*/) override { advance(); }

  void on_close(ws::Connection& /*conn*/, const ws::CloseEvent& event) override {
    closed_ = true;
    summary_.close_code = event.code;
    if (expect_refusal_) return;
    match(true);
    // Expectations never met and messages never expected.
    matcher_.finish(stopped_, mismatches_);
    report_mismatches("the connection closed first");
    if (!stopped_) compare_unfinished();
    summary_.frames_not_compared = matcher_.frames_not_compared();
    if (summary_.frames_not_compared > 0) {
      report_.warning(fmt::format("conn {}: the frames of {} message(s) were not compared: the server compressed them "
                                  "in the recording or in the replay, not both{}",
                                  conn_, summary_.frames_not_compared,
                                  replay_deflate_ ? " (--no-compress keeps the replay uncompressed)" : ""));
    }
    if (stopped_) return;
    // When this side failed the connection (the server broke the protocol, as a recorded invalid
    // server frame says it did), the code that counts is the one we sent, as in the recording.
    const std::uint16_t got_code =
        event.we_failed && event.sent_code != kNoStatus ? event.sent_code : event.code;
    if (expected_close_code_ && *expected_close_code_ != got_code) {
      const std::string got = got_code == kAbnormal
                                  ? (event.error.empty() ? std::string("1006 (no close frame)")
                                                         : fmt::format("1006 ({})", event.error))
                              : event.we_failed      ? fmt::format("{} (the server broke the protocol: {})", got_code, event.error)
                                                     : close_text(got_code, event.reason);
      report_.difference(DiffKind::kCloseCode, conn_, close_at_,
                         {fmt::format("close: expected {} from the server, got {}",
                                      close_text(*expected_close_code_, expected_close_reason_), got)},
                         {{"expected", *expected_close_code_}, {"got", got_code}});
      ++summary_.differences;
    }
  }

 private:
  // kCloseFrame: the client's close where the recording has it (its frame record, session log 1.3).
  enum class Outgoing { kData, kPingFrame, kPongFrame, kRaw, kCloseFrame };
  // The next client frame, waiting for its time (and the server messages recorded before it).
  struct Pending {
    Outgoing kind = Outgoing::kData;
    session::FrameRecord frame;
    SteadyClock::time_point due;
    std::uint64_t pings_before = 0;       // kPong: server pings recorded before it
    SteadyClock::time_point hold_until;   // kPong: how long it waits for them
  };

  static std::string close_text(std::uint16_t code, const std::string& reason) {
    return reason.empty() ? std::to_string(code) : fmt::format("{} {}", code, Json(reason).dump());
  }

  void wake_locked() {
    if (starved_ && client_ != nullptr) {
      starved_ = false;
      client_->post([this] { advance(); });
    }
  }

  std::optional<Item> pop_item() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty()) {
      if (!input_done_) starved_ = true;
      return std::nullopt;
    }
    Item item = std::move(queue_.front());
    queue_.pop_front();
    space_.notify_all();
    return item;
  }

  bool input_finished() {
    std::lock_guard<std::mutex> lock(mutex_);
    return input_done_ && queue_.empty();
  }

  SteadyClock::time_point due_time(std::uint64_t t_us) const {
    if (settings_.speed.max) return start_;
    const double offset_us = static_cast<double>(t_us > open_t_us_ ? t_us - open_t_us_ : 0) / settings_.speed.factor;
    return start_ + duration_cast<SteadyClock::duration>(std::chrono::duration<double, std::micro>(offset_us));
  }

  void received(replay::Message m) {
    if (closed_ || expect_refusal_) return;
    matcher_.receive(std::move(m), mismatches_);
    report_mismatches("");
    match(false);
    advance();
  }

  // Pairs received messages with expected ones (in order, or within the --unordered window).
  // `final`: nothing more will be expected before the next client message or the close.
  void match(bool final) {
    const bool more_may_come = !final && !pending_ && !reading_done_;
    summary_.matched += matcher_.match(more_may_come, SteadyClock::now(), mismatches_);
    report_mismatches("");
  }

  void report_mismatches(std::string_view missing_why) {
    if (log_broke_off_.load()) {
      mismatches_.clear();
      return;
    }
    for (const auto& m : mismatches_) {
      switch (m.kind) {
        case replay::Mismatch::Kind::kDifferent: different(m.expected, m.got); break;
        case replay::Mismatch::Kind::kMissing: missing(m.expected, missing_why); break;
        case replay::Mismatch::Kind::kExtra: extra(m); break;
        case replay::Mismatch::Kind::kFramed: framed(m); break;
      }
    }
    mismatches_.clear();
  }

  void different(const replay::ExpectedMessage& e, const replay::Message& got) {
    const replay::Comparison c = settings_.comparer->compare(e.message, got, kMaxPathsPerDifference);
    std::vector<std::string> lines;
    Json paths = Json::array();
    if (c.as_json && !c.paths.empty()) {
      for (const auto& p : c.paths) {
        lines.push_back(fmt::format("{}: expected {}, got {}", p.path.empty() ? "(document)" : p.path, p.expected, p.got));
        paths.push_back({{"path", p.path}, {"expected", p.expected}, {"got", p.got}});
      }
      if (c.more_paths > 0) lines.push_back(fmt::format("... and {} more path(s)", c.more_paths));
    } else {
      lines.push_back(fmt::format("expected {}, got {}", replay::describe(e.message, kPreviewBytes),
                                  replay::describe(got, kPreviewBytes)));
      // Long messages that differ past the previews: the previews alone would look equal.
      const std::string where = replay::describe_first_difference(e.message, got, kPreviewBytes);
      if (!where.empty()) lines.push_back(where);
    }
    Json detail = {{"expected", message_json(e.message)}, {"got", message_json(got)}};
    if (!paths.empty()) detail["paths"] = std::move(paths);
    if (!e.message.frames.empty()) detail["expectedFrames"] = frames_json(e.message.frames);
    if (!got.frames.empty()) detail["gotFrames"] = frames_json(got.frames);
    report_.difference(DiffKind::kDifferent, conn_, Location::of(e), lines, std::move(detail));
    ++summary_.differences;
  }

  // The payload matched; the frames did not (--compare-frames).
  void framed(const replay::Mismatch& m) {
    const DiffKind kind = diff_kind(m.frames.kind);
    report_.difference(kind, conn_, Location::of(m.expected),
                       {fmt::format("{}: {}", diff_kind_name(kind), m.frames.text)},
                       {{"description", m.frames.text},
                        {"expectedFrames", frames_json(m.expected.message.frames)},
                        {"gotFrames", frames_json(m.got.frames)}});
    ++summary_.differences;
  }

  static Json frames_json(const std::vector<replay::FrameShape>& frames) {
    Json out = Json::array();
    for (const auto& f : frames) {
      Json j = {{"opcode", f.opcode}, {"fin", f.fin}, {"rsv", f.rsv}, {"compressed", f.compressed}, {"len", f.size}};
      if (f.line > 0) j["line"] = f.line;
      out.push_back(std::move(j));
    }
    return out;
  }

  void missing(const replay::ExpectedMessage& e, std::string_view why) {
    report_.difference(DiffKind::kMissing, conn_, Location::of(e),
                       {fmt::format("missing: expected {}, got nothing ({})", replay::describe(e.message, kPreviewBytes), why)},
                       {{"expected", message_json(e.message)}});
    ++summary_.differences;
  }

  void extra(const replay::Mismatch& m) {
    report_.difference(DiffKind::kExtra, conn_, Location::extra(m),
                       {fmt::format("extra: got {}, not in the recording", replay::describe(m.got, kPreviewBytes))},
                       {{"got", message_json(m.got)}});
    ++summary_.differences;
  }

  // Reads queued records until one must wait: a client message (sent when due, once the server
  // messages recorded before it have come), or the lookahead is full.
  void read_records() {
    while (!pending_ && !reading_done_ && matcher_.expected() < settings_.window + kExpectLookahead) {
      auto item = pop_item();
      if (!item) {
        if (input_finished()) reading_done_ = true;
        return;
      }
      if (const auto* f = std::get_if<session::FrameRecord>(&item->record)) {
        take_frame(*f, item->where, item->line);
      } else if (const auto* c = std::get_if<session::CloseRecord>(&item->record)) {
        take_close(*c, item->where, item->line);
      }
    }
  }

  void take_frame(const session::FrameRecord& f, const std::string& where, std::size_t line) {
    if (f.dir == Direction::kServer) ++server_frames_;
    if (invalid_sent_) return;  // the connection is failing; the recording ends here too
    // After its close the client sends nothing (RFC 6455 5.5.1); the server's frames that follow
    // are still expected.
    if (f.dir == Direction::kClient && close_queued_) return;
    const bool defined = f.opcode <= kBinary || (f.opcode >= kClose && f.opcode <= kPong);
    if (!f.invalid.empty() || !defined) {
      if (f.dir == Direction::kClient) {
        // Sent as recorded, raw; the server is expected to fail the connection as the capturing
        // side did (the close record's code).
        pending_ = Pending{Outgoing::kRaw, f, due_time(f.t_us), 0, {}};
        invalid_queued_ = true;
      } else {
        // Not a message to compare: the server is expected to break the protocol the same way,
        // so that this side fails the connection with the recorded close code.
        server_invalid_seen_ = true;
      }
      return;
    }
    if (f.opcode == kClose) {
      // The close frames say what each side sent, and where: the first one began the closing
      // handshake; the other side's is its answer.
      session::ClosePayload close = session::parse_close_frame_payload(f.payload);
      if (f.dir == Direction::kServer) {
        expected_close_code_ = close.code;
        expected_close_reason_ = std::move(close.reason);
        close_at_ = Location{0, where, line, server_frames_, 0};
        if (!client_close_seen_) server_closed_first_ = true;
        recorded_server_close_ = true;
      } else if (!recorded_server_close_) {
        // The client began: its close goes out here, after the server messages recorded before
        // it and at its recorded time; the server messages recorded after it are still expected.
        client_close_code_ = close.code;
        client_close_reason_ = std::move(close.reason);
        client_close_seen_ = true;
        close_queued_ = true;
        pending_ = Pending{Outgoing::kCloseFrame, f, due_time(f.t_us), 0, {}};
      }
      // A client close after the server's is its answer, which the engine sends by itself.
      return;
    }
    const bool control = f.opcode >= kClose;
    if (f.dir == Direction::kClient && !control) {
      client_unfinished_ = f.opcode == kContinuation ? client_unfinished_ && !f.fin : !f.fin;
    }
    if (f.dir == Direction::kClient) {
      // Each client frame goes out as recorded: data frames with their fragment boundaries,
      // pings and pongs where they were.
      const auto due = due_time(f.t_us);
      if (f.opcode == kPong) {
        // A pong answering a recorded server ping waits (up to --timeout) for that ping to come.
        pending_ = Pending{Outgoing::kPongFrame, f, due, server_pings_recorded_,
                           std::max(due, SteadyClock::now()) + settings_.timeout};
      } else {
        pending_ = Pending{f.opcode == kPing ? Outgoing::kPingFrame : Outgoing::kData, f, due, 0, {}};
      }
      return;
    }
    if (f.opcode == kPing) ++server_pings_recorded_;
    if (f.compressed && !recorded_deflate_) {
      recorded_deflate_ = true;
      update_frame_rule();
    }
    std::optional<replay::Message> m;
    if (control) {
      m = replay::Message{f.opcode, f.payload};
    } else {
      // A message is where its first frame is.
      if (f.opcode != kContinuation) message_at_ = Location{0, where, line, server_frames_, 0};
      m = server_assembler_.add(f.opcode, f.fin, f.payload, f.rsv, f.compressed, line);
    }
    if (!m) return;
    if (control && !settings_.compare_control) return;
    ++summary_.expected;
    const Location at = control ? Location{0, where, line, server_frames_, 0} : message_at_;
    matcher_.expect(replay::ExpectedMessage{++expected_index_, at.where, std::move(*m), at.line, at.server_frame},
                    SteadyClock::now());
  }

  // A message whose final frame never came before the connection ended, in the recording (its
  // frame records with fin false, then the close) or in the replay: never dropped in silence.
  // The same unfinished message both times is a note; otherwise a difference.
  void compare_unfinished() {
    if (!recorded_unfinished_ && server_assembler_.active && reading_done_) {
      // No close record (a capture that was cut): the recording ends inside the message all the same.
      recorded_unfinished_ = replay::Message{server_assembler_.opcode, server_assembler_.payload};
      recorded_unfinished_frames_ = server_assembler_.frame_count;
      recorded_unfinished_at_ = message_at_;
    }
    const bool recorded = recorded_unfinished_.has_value();
    const bool got = received_assembler_.active;
    if (!recorded && !got) return;
    const auto describe_partial = [](std::uint8_t opcode, const std::string& payload, std::size_t frames) {
      return fmt::format("{} ({} frame(s) without the final one)",
                         replay::describe(replay::Message{opcode, payload}, kPreviewBytes), frames);
    };
    if (recorded && got && recorded_unfinished_->opcode == received_assembler_.opcode &&
        recorded_unfinished_->payload == received_assembler_.payload) {
      report_.warning(fmt::format("conn {}: the server left a message unfinished at the close, as in the recording "
                                  "({}): {}",
                                  conn_, recorded_unfinished_at_.where,
                                  describe_partial(recorded_unfinished_->opcode, recorded_unfinished_->payload,
                                                   recorded_unfinished_frames_)));
      return;
    }
    Json detail = {{"unfinished", true}};
    if (recorded) detail["expected"] = message_json(*recorded_unfinished_);
    if (got) detail["got"] = message_json(replay::Message{received_assembler_.opcode, received_assembler_.payload});
    std::string line;
    DiffKind kind = DiffKind::kDifferent;
    if (recorded && got) {
      line = fmt::format("unfinished message: expected {}, got {}",
                         describe_partial(recorded_unfinished_->opcode, recorded_unfinished_->payload,
                                          recorded_unfinished_frames_),
                         describe_partial(received_assembler_.opcode, received_assembler_.payload,
                                          received_assembler_.frame_count));
    } else if (recorded) {
      kind = DiffKind::kMissing;
      line = fmt::format("unfinished message: the recorded server left {} unfinished at the close; the server did not",
                         describe_partial(recorded_unfinished_->opcode, recorded_unfinished_->payload,
                                          recorded_unfinished_frames_));
    } else {
      kind = DiffKind::kExtra;
      line = fmt::format("unfinished message: the server left {} unfinished at the close, not in the recording",
                         describe_partial(received_assembler_.opcode, received_assembler_.payload,
                                          received_assembler_.frame_count));
    }
    report_.difference(kind, conn_, recorded ? recorded_unfinished_at_ : Location{0, "", 0, 0, 0}, {line},
                       std::move(detail));
    ++summary_.differences;
  }

  void take_close(const session::CloseRecord& c, const std::string& where, std::size_t line) {
    if (server_assembler_.active && !recorded_unfinished_) {
      // The recording ends inside a server message: what a replay's server should leave the same.
      recorded_unfinished_ = replay::Message{server_assembler_.opcode, server_assembler_.payload};
      recorded_unfinished_frames_ = server_assembler_.frame_count;
      recorded_unfinished_at_ = message_at_;
    }
    if (client_unfinished_ && !warned_client_unfinished_) {
      warned_client_unfinished_ = true;
      report_.warning(fmt::format("conn {}: the recorded client left a message unfinished at the close ({}): its "
                                  "frames were sent as recorded, without a final one",
                                  conn_, where));
    }
    if (invalid_queued_ || server_invalid_seen_) {
      // The capturing side failed the connection over an invalid frame with this code: after our
      // invalid frame the server should close with it; after the server's, we should. Either way
      // the connection ends without our closing it: wait --timeout for that.
      expected_close_code_ = c.code;
      expected_close_reason_.clear();
      close_at_ = Location{0, where, line, 0, 0};
      server_closed_first_ = true;
      close_due_ = due_time(c.t_us);
      return;
    }
    if (c.by == session::Closer::kServer) {
      server_closed_first_ = !client_close_seen_;
      if (!expected_close_code_) {
        expected_close_code_ = c.code;
        expected_close_reason_ = c.reason;
        close_at_ = Location{0, where, line, 0, 0};
      }
    } else if (c.by == session::Closer::kClient && !client_close_seen_) {
      client_close_code_ = c.code;
      client_close_reason_ = c.reason;
      client_close_seen_ = true;
    }
    if (c.by == session::Closer::kClient && c.reply_code && !expected_close_code_) {
      // (1.2) The server answered the client's close with this code: it should again.
      expected_close_code_ = *c.reply_code;
      expected_close_reason_ = c.reply_reason;
      close_at_ = Location{0, where, line, 0, 0};
    }
    close_due_ = due_time(c.t_us);
  }

  // Whether the server compressed is comparable only when it could have, both times.
  void update_frame_rule() {
    matcher_.set_frame_rule({settings_.compare_frames, recorded_deflate_ && replay_deflate_});
  }

  // The server gets --timeout to answer, as for any message it is expected to send.
  void begin_close(std::uint16_t code, const std::string& reason) {
    closing_ = true;
    conn_ptr_->close(code, reason);
    conn_ptr_->set_close_timeout(settings_.timeout);
  }

  // The one loop: read, match, send what is due, time out what is overdue, close at the end.
  void advance() {
    if (conn_ptr_ == nullptr || closed_ || closing_) return;
    auto now = SteadyClock::now();
    for (;;) {
      read_records();
      match(false);
      // Overdue expectations are missing; the next one gets a fresh --timeout.
      if (matcher_.expected() > 0 &&
          (pending_ || reading_done_ || matcher_.expected() >= settings_.window + kExpectLookahead)) {
        now = SteadyClock::now();
        if (matcher_.expire(now, mismatches_)) {
          report_mismatches(fmt::format("within {}", format_duration(settings_.timeout)));
          continue;
        }
        const auto wait = duration_cast<milliseconds>(matcher_.deadline() - now) + milliseconds(1);
        conn_ptr_->set_timer(wait);
        // After our close, the engine would end the connection at its close timeout whatever
        // was still expected: keep it past this wait, and --timeout more for the server's close.
        if (close_sent_) conn_ptr_->set_close_timeout(wait + settings_.timeout);
        return;
      }
      if (pending_) {
        now = SteadyClock::now();
        if (now < pending_->due) {
          conn_ptr_->set_timer(duration_cast<milliseconds>(pending_->due - now) + milliseconds(1));
          return;
        }
        if (pending_->kind == Outgoing::kPongFrame && server_pings_received_ < pending_->pings_before &&
            now < pending_->hold_until) {
          conn_ptr_->set_timer(duration_cast<milliseconds>(pending_->hold_until - now) + milliseconds(1));
          return;
        }
        send(*pending_);
        pending_.reset();
        continue;
      }
      if (!reading_done_) return;  // starved: the reader wakes us
      // Everything recorded has been sent and received: close as the recording did.
      finish();
      return;
    }
  }

  void send(const Pending& p) {
    const session::FrameRecord& f = p.frame;
    const auto* data = reinterpret_cast<const std::uint8_t*>(f.payload.data());
    bool sent = false;
    switch (p.kind) {
      case Outgoing::kData:
        // One frame of a message; compressed per message across its frames when the replay
        // negotiated permessage-deflate, whatever the recording negotiated.
        sent = conn_ptr_->send_frame(f.opcode, f.fin, data, f.payload.size());
        if (!sent && !warned_unsendable_) {
          warned_unsendable_ = true;
          report_.warning(fmt::format("conn {}: a recorded client frame (opcode {}, fin {}) could not be sent: it does "
                                      "not continue the fragment sequence, or the connection is closing",
                                      conn_, f.opcode, f.fin));
        }
        break;
      case Outgoing::kPingFrame: sent = conn_ptr_->ping(f.payload); break;
      case Outgoing::kPongFrame: sent = conn_ptr_->pong(f.payload); break;
      case Outgoing::kRaw: {
        conn_ptr_->send_raw_frame(ws::RawFrame::from_bits(f.fin, f.rsv, f.opcode, f.payload));
        invalid_sent_ = true;
        sent = true;
        break;
      }
      case Outgoing::kCloseFrame:
        // Not counted as sent (nor was the close sent at the end): framesSent counts the rest.
        conn_ptr_->close(client_close_code_, client_close_reason_);
        close_sent_ = true;
        return;
    }
    if (sent) ++summary_.sent;
  }

  void finish() {
    if (close_sent_) {
      // The client's close went out in place and what the server sent after it has been
      // matched (or reported missing): its close, within --timeout, ends the connection.
      closing_ = true;
      conn_ptr_->set_close_timeout(settings_.timeout);
      return;
    }
    const auto now = SteadyClock::now();
    if (server_closed_first_ && !waited_for_server_close_) {
      // The server closed in the recording: give it --timeout to do so again.
      waited_for_server_close_ = true;
      server_close_deadline_ = now + settings_.timeout;
    }
    if (waited_for_server_close_) {
      if (now < server_close_deadline_) {
        conn_ptr_->set_timer(duration_cast<milliseconds>(server_close_deadline_ - now) + milliseconds(1));
        return;
      }
      report_.difference(DiffKind::kCloseCode, conn_, close_at_,
                         {fmt::format("close: expected the server to close with {} within {}, it did not",
                                      close_text(expected_close_code_.value_or(kNoStatus), expected_close_reason_),
                                      format_duration(settings_.timeout))},
                         {{"expected", expected_close_code_.value_or(kNoStatus)}, {"got", nullptr}});
      ++summary_.differences;
      expected_close_code_.reset();
      begin_close(kNormalClose, "");
      return;
    }
    if (close_due_ && now < *close_due_) {
      conn_ptr_->set_timer(duration_cast<milliseconds>(*close_due_ - now) + milliseconds(1));
      return;
    }
    if (client_close_seen_) {
      begin_close(client_close_code_, client_close_reason_);
    } else {
      begin_close(kNormalClose, "");
    }
  }

  SteadyClock::time_point start_;  // the connection's open on the replay's timeline
  const std::uint64_t conn_;
  const std::uint64_t open_t_us_;
  // The recorded server could compress: the open record says permessage-deflate (for record's
  // logs, what the client side negotiated), or a recorded server message was compressed.
  bool recorded_deflate_;
  bool replay_deflate_ = false;  // this replay's connection negotiated permessage-deflate
  const Settings& settings_;
  Report& report_;
  bool expect_refusal_ = false;
  ws::Client* client_ = nullptr;
  ws::Connection* conn_ptr_ = nullptr;
  ConnectionSummary summary_;

  // Shared with the reader thread.
  std::mutex mutex_;
  std::condition_variable space_;
  std::deque<Item> queue_;
  bool input_done_ = false;
  bool starved_ = false;
  bool over_ = false;

  // Client thread only.
  bool reading_done_ = false;
  bool closing_ = false;
  bool closed_ = false;
  std::atomic<bool> log_broke_off_{false};  // abandon(): set from the reading thread
  bool stopped_ = false;
  std::optional<Pending> pending_;
  replay::ReplayMatcher matcher_;
  std::vector<replay::Mismatch> mismatches_;
  std::uint64_t expected_index_ = 0;
  std::uint64_t server_frames_ = 0;  // recorded server frames read so far
  Location message_at_;              // the recorded server message being read: its first frame
  Assembler server_assembler_;    // the recorded server frames, joined
  Assembler received_assembler_;  // the live server frames, joined
  std::uint64_t server_pings_recorded_ = 0;
  std::uint64_t server_pings_received_ = 0;
  bool invalid_queued_ = false;      // a recorded invalid client frame is queued to be sent
  bool invalid_sent_ = false;
  bool server_invalid_seen_ = false;  // the recording has the server break the protocol
  bool warned_unsendable_ = false;
  // A recorded server message the close record found unfinished (compare_unfinished).
  std::optional<replay::Message> recorded_unfinished_;
  std::size_t recorded_unfinished_frames_ = 0;
  Location recorded_unfinished_at_;
  bool client_unfinished_ = false;  // the recorded client's message in progress lacks its final frame
  bool warned_client_unfinished_ = false;
  std::optional<std::uint16_t> expected_close_code_;
  std::string expected_close_reason_;
  Location close_at_;  // the recorded close (the server's close frame, or the close record)
  bool client_close_seen_ = false;
  bool recorded_server_close_ = false;  // the recording's server close frame has been read
  bool close_queued_ = false;           // the client's recorded close is pending, or sent
  bool close_sent_ = false;             // ... and has gone out: only the server's frames follow
  std::uint16_t client_close_code_ = kNormalClose;
  std::string client_close_reason_;
  bool server_closed_first_ = false;
  bool waited_for_server_close_ = false;
  SteadyClock::time_point server_close_deadline_;
  std::optional<SteadyClock::time_point> close_due_;
};

// ---- connection setup ---------------------------------------------------------------------

// Headers a replay must not copy from the recording: hop-by-hop ones (RFC 9110 7.6.1), the
// handshake's own (the engine makes fresh ones), and those the capture redacted.
bool replayable_header(const ws::HttpHeader& h) {
  static const char* const kSkip[] = {"Host", "Connection", "Upgrade", "Keep-Alive", "Proxy-Connection", "TE",
                                      "Trailer", "Transfer-Encoding", "Content-Length", "Sec-WebSocket-Key",
                                      "Sec-WebSocket-Version", "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol",
                                      "Sec-WebSocket-Accept", "Proxy-Authorization"};
  for (const char* name : kSkip) {
    if (ascii_iequals(h.name, name)) return false;
  }
  return h.value != kRedacted;
}

// `target` (a path and query) without the query parameters the capture redacted (`token=[redacted]`):
// a replay cannot know the secret, and sending the placeholder would be a wrong one. Their
// names go to `dropped`.
std::string without_redacted_parameters(const std::string& target, std::vector<std::string>* dropped) {
  const std::size_t question = target.find('?');
  if (question == std::string::npos) return target;
  std::string kept;
  std::size_t start = question + 1;
  while (start <= target.size()) {
    std::size_t end = target.find('&', start);
    if (end == std::string::npos) end = target.size();
    const std::string_view parameter(target.data() + start, end - start);
    const std::size_t equals = parameter.find('=');
    const std::string_view value = equals == std::string_view::npos ? std::string_view() : parameter.substr(equals + 1);
    if (value == kRedacted || ascii_iequals(value, "%5Bredacted%5D")) {
      if (dropped != nullptr) dropped->emplace_back(parameter.substr(0, equals));
    } else if (!parameter.empty()) {
      kept += kept.empty() ? "?" : "&";
      kept += parameter;
    }
    start = end + 1;
  }
  return target.substr(0, question) + kept;
}

// The URL a recorded connection replays to: the target's scheme and authority, with the
// target's path and query when it has them, else the recorded ones (less redacted parameters,
// named in `dropped`).
std::string connection_url(const ws::WsUrl& target, const std::string& recorded,
                           std::vector<std::string>* dropped = nullptr) {
  ws::WsUrl url = target;
  const bool target_has_path = target.target != "/" && !target.target.empty();
  if (!target_has_path) {
    ws::WsUrl rec;
    std::string error;
    if (ws::parse_ws_url(recorded, rec, error)) url.target = without_redacted_parameters(rec.target, dropped);
  }
  std::string text = ws::to_string(url);
  if (!target.userinfo.empty()) text.insert(text.find("://") + 3, target.userinfo + "@");
  return text;
}

ws::ClientConfig client_config(const ReplayOptions& options, const ws::WsUrl& target, const session::OpenRecord& open) {
  ws::ClientConfig config;
  config.url = connection_url(target, open.url);
  ws::HttpHeaders extra = extra_request_headers(options.client);  // Origin, auth, -H
  ws::HttpHeaders headers;
  for (const auto& h : open.request) {
    if (!replayable_header(h)) continue;
    const bool overridden = std::any_of(extra.begin(), extra.end(),
                                        [&](const ws::HttpHeader& x) { return ascii_iequals(x.name, h.name); });
    if (!overridden) headers.push_back(h);
  }
  headers.insert(headers.end(), extra.begin(), extra.end());
  config.headers = std::move(headers);
  config.subprotocols = options.client.subprotocols;
  if (config.subprotocols.empty() && !open.subprotocol.empty()) config.subprotocols = {open.subprotocol};
  ws::WsUrl url;
  std::string error;
  ws::parse_ws_url(config.url, url, error);
  config.proxy = effective_proxy(options.client, url, [](const char* name) { return std::getenv(name); });
  config.connect_timeout = duration_cast<milliseconds>(options.client.connect_timeout);
  config.limits.max_message_bytes = static_cast<std::size_t>(options.max_message_size);
  config.deflate.enabled = options.client.compress;
  config.deliver_frames = true;  // the client's frames go out as recorded; pings are answered by the replay
  // What the server sends after the replay's close frame, until its own, is its output too (at
  // --speed max the close goes out in the middle of the read that brought the last reply).
  config.deliver_after_close = true;
  config.ca_file = options.client.ca_file;
  config.insecure = options.client.insecure;
  config.cert_file = options.client.cert_file;
  config.key_file = options.client.key_file;
  config.key_passphrase = options.client.key_passphrase;
  return config;
}

// A connection being replayed on its own thread (one ws::Client each).
// A refused record's expectation (session log 1.4): the status to get again, and where it is.
struct RefusalExpectation {
  int status = 0;
  std::string reason;
  std::string where;
  std::size_t line = 0;
};

// An HTTP answer's body in a difference line: text when valid UTF-8, else bytes, trimmed.
std::string describe_body(const std::string& body) {
  const bool text = is_valid_utf8(body.data(), body.size());
  return replay::describe(replay::Message{text ? std::uint8_t{1} : kBinary, body}, kPreviewBytes);
}

// "401 Unauthorized": a status with its reason phrase (the standard one when none was sent).
std::string status_text(int status, const std::string& reason) {
  const std::string phrase = reason.empty() ? std::string(ws::reason_phrase(status)) : reason;
  return phrase.empty() ? std::to_string(status) : fmt::format("{} {}", status, phrase);
}

// A refusal's body in a results document: text when valid UTF-8, else base64 bytes.
void add_body(Json& j, const std::string& body) {
  if (is_valid_utf8(body.data(), body.size())) {
    j["body"] = body;
  } else {
    j["bodyBytes"] = base64_encode(body);
  }
}

struct Worker {
  std::unique_ptr<ConnectionReplay> replay;
  std::unique_ptr<ws::Client> client;
  std::thread thread;
  Error error;  // a connection that never opened
  std::optional<RefusalExpectation> refusal;  // a refused record's connection
  ws::ClientResult result;                    // how its run ended (set by its thread)
  std::string where;                          // its open (or refused) record, for differences
  std::size_t line = 0;
};

ExitCode fail(const std::string& message, ExitCode code) {
  fmt::print(stderr, "{}: error: {}\n", kProg, message);
  return code;
}

class Replayer {
 public:
  Replayer(const ReplayOptions& options, const ws::WsUrl& target, const Settings& settings, Report& report,
           Logger& log)
      : options_(options), target_(target), settings_(settings), report_(report), log_(log) {}

  // Replays everything `source` holds. Returns the first error that ends the run (a bad log).
  Error run(RecordSource& source) {
    return options_.parallel ? run_parallel(source) : run_sequential(source);
  }

  void stop() {
    std::lock_guard<std::mutex> lock(mutex_);
    stopped_ = true;
    for (auto& [conn, w] : active_) w->replay->stop();
    // Those whose records are all read and that are being waited for: still running.
    for (Worker* w : finishing_) w->replay->stop();
    stop_cv_.notify_all();
  }

  ExitCode connect_status() const { return connect_status_; }

 private:
  bool is_stopped() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stopped_;
  }

  // Starts connection `open` after `delay` (parallel: its recorded start). `refusal`: the
  // recording has the handshake refused; the connection's records are none.
  Worker* start(const session::OpenRecord& open, SteadyClock::time_point when, std::string where, std::size_t line,
                std::optional<RefusalExpectation> refusal = std::nullopt) {
    auto w = std::make_unique<Worker>();
    w->where = std::move(where);
    w->line = line;
    w->replay = std::make_unique<ConnectionReplay>(open.conn, open.t_us,
                                                   open.extensions.find(kDeflate) != std::string::npos, when,
                                                   settings_, report_);
    if (refusal) {
      w->replay->expect_refusal();
      w->replay->summary().expected_status = refusal->status;
      w->refusal = std::move(refusal);
    }
    std::vector<std::string> dropped;
    w->replay->summary().url = connection_url(target_, open.url, &dropped);
    if (!dropped.empty() && !warned_redacted_query_.exchange(true)) {
      report_.warning(fmt::format(
          "conn {}: the recording redacted ?{}= in its URL, so replay leaves it out; give the secret in URL's "
          "query (or as a header, e.g. --bearer), or record with --keep-secrets",
          open.conn, dropped.front()));
    }
    w->client = std::make_unique<ws::Client>(client_config(options_, target_, open), *w->replay, log_);
    w->replay->set_client(w->client.get());
    Worker* raw = w.get();
    w->thread = std::thread([this, raw, when] {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        stop_cv_.wait_until(lock, when, [this] { return stopped_; });
        if (stopped_) {
          lock.unlock();
          raw->replay->mark_over();
          return;
        }
      }
      const ws::ClientResult result = raw->client->run();
      if (result.error && !result.opened) raw->error = result.error;
      raw->result = result;
      raw->replay->mark_over();
    });
    std::lock_guard<std::mutex> lock(mutex_);
    active_[open.conn] = std::move(w);
    return raw;
  }

  // `abandon`: the log broke off (bad data): the connection is closed as on SIGINT, without
  // calling what the server sent past the last good record extra.
  void finish(std::uint64_t conn, bool abandon = false) {
    std::unique_ptr<Worker> w;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      const auto it = active_.find(conn);
      if (it == active_.end()) return;
      w = std::move(it->second);
      active_.erase(it);
      finishing_.insert(w.get());
    }
    if (abandon) w->replay->abandon();
    w->replay->finish_input();
    w->thread.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      finishing_.erase(w.get());
    }
    ConnectionSummary s = w->replay->summary();
    if (w->refusal) {
      compare_refusal(*w, s);
    } else if (w->error && w->result.response.status != 0) {
      // The server answered, not as recorded (it opened then): a refusal, a redirect, or a 101
      // that failed the handshake's checks. A regression to report, not an unreachable server.
      s.error = w->error.message;
      s.status = w->result.response.status;
      const ws::UpgradeResponse& answer = w->result.response;
      std::string got = status_text(answer.status, answer.reason);
      if (answer.status == kSwitchingProtocols) got += fmt::format(" ({})", w->error.message);
      std::vector<std::string> lines{fmt::format("handshake: expected {}, got {}", status_text(kSwitchingProtocols, {}), got)};
      if (!answer.body.empty()) lines.push_back("got body: " + describe_body(answer.body));
      Json got_json = {{"status", answer.status}, {"reason", answer.reason}};
      add_body(got_json, answer.body);
      Json detail = {{"expected", {{"status", kSwitchingProtocols}, {"reason", "Switching Protocols"}}},
                     {"got", std::move(got_json)}};
      report_.difference(DiffKind::kHandshake, s.conn, Location{0, w->where, w->line, 0, 0}, lines, std::move(detail));
      ++s.differences;
    } else if (w->error) {
      s.error = w->error.message;
      fail(w->error.message.rfind(s.url, 0) == 0 ? w->error.message : redact_url(s.url) + ": " + w->error.message,
           exit_code_for(w->error.code));
      connect_status_ = most_basic(connect_status_, exit_code_for(w->error.code));
    }
    report_.add_connection(std::move(s));
  }

  // A refused record replayed: the same status is a match; another status, a 101 or no answer
  // at all is a difference (the last also the exit status of a connection that could not connect).
  void compare_refusal(const Worker& w, ConnectionSummary& s) {
    const RefusalExpectation& e = *w.refusal;
    const ws::ClientResult& r = w.result;
    const bool answered = r.response.status != 0;
    if (answered) s.status = r.opened ? kSwitchingProtocols : r.response.status;
    if (!r.opened && answered && r.response.status == e.status) return;
    Json expected = {{"status", e.status}, {"reason", e.reason}};
    Json detail = {{"expected", std::move(expected)}};
    std::vector<std::string> lines;
    const std::string wanted = status_text(e.status, e.reason);
    if (r.opened) {
      lines.push_back(fmt::format("handshake: expected {}, got {}", wanted,
                                  status_text(kSwitchingProtocols, r.response.reason)));
      detail["got"] = {{"status", kSwitchingProtocols}, {"reason", r.response.reason}};
    } else if (answered) {
      std::string got = status_text(r.response.status, r.response.reason);
      // A 101 that failed the handshake's checks (a wrong Sec-WebSocket-Accept): why.
      if (r.response.status == kSwitchingProtocols && r.error) got += fmt::format(" ({})", r.error.message);
      lines.push_back(fmt::format("handshake: expected {}, got {}", wanted, got));
      if (!r.response.body.empty()) lines.push_back("got body: " + describe_body(r.response.body));
      Json answer = {{"status", r.response.status}, {"reason", r.response.reason}};
      add_body(answer, r.response.body);
      detail["got"] = std::move(answer);
    } else {
      const std::string why = r.error ? r.error.message : std::string("no answer");
      lines.push_back(fmt::format("handshake: expected {}, got no answer ({})", wanted, why));
      detail["got"] = nullptr;
      detail["error"] = why;
      s.error = why;
      if (r.error) connect_status_ = most_basic(connect_status_, exit_code_for(r.error.code));
    }
    report_.difference(DiffKind::kHandshake, s.conn, Location{0, e.where, e.line, 0, 0}, lines, std::move(detail));
    ++s.differences;
  }

  // A refused record: its handshake made again, as an open record's would be. The proxy's own
  // answer (record could not reach its upstream) is nothing a server is expected to repeat.
  void start_refusal(const session::RefusedRecord& refused, SteadyClock::time_point when, const std::string& where,
                     std::size_t line) {
    if (refused.by == session::Refuser::kProxy) {
      report_.warning(fmt::format("conn {}: the recording's proxy answered {} itself ({}): not replayed", refused.conn,
                                  refused.status,
                                  refused.status == 504 ? "its upstream did not answer in time"
                                                        : "its upstream could not be reached"));
      return;
    }
    session::OpenRecord open;
    open.conn = refused.conn;
    open.t_us = refused.t_us;
    open.url = refused.url;
    open.request = refused.request;
    start(open, when, where, line, RefusalExpectation{refused.status, refused.reason, where, line});
  }

  Worker* find(std::uint64_t conn) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = active_.find(conn);
    return it == active_.end() ? nullptr : it->second.get();
  }

  void skipped(std::uint64_t conn) {
    if (warned_orphans_ < 1) log_.log(LogLevel::kWarning, fmt::format("records of connection {} before its open record (a rotated log?): skipped", conn));
    ++warned_orphans_;
  }

  // Every connection at its recorded start, all at once. The reader feeds each connection's
  // bounded queue; a full one makes it wait (the recording's order is causal, so the
  // connection it waits for is never waiting for a record further on).
  Error run_parallel(RecordSource& source) {
    Error error;
    std::optional<std::uint64_t> first_t;
    const auto begin = SteadyClock::now();
    while (!is_stopped()) {
      auto record = source.next(error);
      if (!record) break;
      if (const auto* open = std::get_if<session::OpenRecord>(&*record)) {
        if (!first_t) first_t = open->t_us;
        auto when = begin;
        if (!settings_.speed.max) {
          const double offset = static_cast<double>(open->t_us - std::min(open->t_us, *first_t)) / settings_.speed.factor;
          when += duration_cast<SteadyClock::duration>(std::chrono::duration<double, std::micro>(offset));
        }
        if (find(open->conn) != nullptr) finish(open->conn);  // a reused id: the old one is over
        start(*open, when, source.where(), source.line());
        continue;
      }
      if (const auto* refused = std::get_if<session::RefusedRecord>(&*record)) {
        if (!first_t) first_t = refused->t_us;
        auto when = begin;
        if (!settings_.speed.max) {
          const double offset =
              static_cast<double>(refused->t_us - std::min(refused->t_us, *first_t)) / settings_.speed.factor;
          when += duration_cast<SteadyClock::duration>(std::chrono::duration<double, std::micro>(offset));
        }
        if (find(refused->conn) != nullptr) finish(refused->conn);
        start_refusal(*refused, when, source.where(), source.line());
        continue;
      }
      dispatch(*record, source.where(), source.line());
    }
    std::vector<std::uint64_t> conns;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const auto& [conn, w] : active_) conns.push_back(conn);
    }
    for (const auto conn : conns) finish(conn, static_cast<bool>(error));
    return error;
  }

  // Routes a frame or close record to its connection; a close record ends its input.
  void dispatch(const Record& record, const std::string& where, std::size_t line) {
    std::uint64_t conn = 0;
    bool is_close = false;
    if (const auto* f = std::get_if<session::FrameRecord>(&record)) {
      conn = f->conn;
    } else if (const auto* c = std::get_if<session::CloseRecord>(&record)) {
      conn = c->conn;
      is_close = true;
    } else {
      return;  // header (of a concatenated rotated part), end
    }
    Worker* w = find(conn);
    if (w == nullptr) {
      skipped(conn);
      return;
    }
    w->replay->push(Item{record, where, line});
    if (is_close) w->replay->finish_input();
  }

  // One connection after another, in order of their open records. A connection whose records
  // interleave with the current one's is remembered by position and replayed afterwards (the
  // reader seeks back), so nothing is held in memory but positions.
  Error run_sequential(RecordSource& source) {
    Error error;
    std::set<std::uint64_t> done;
    std::map<std::uint64_t, std::uint64_t> deferred;  // position offset -> conn
    std::map<std::uint64_t, session::SessionReader::Position> deferred_positions;
    std::set<std::uint64_t> deferred_conns;
    std::optional<std::uint64_t> current;
    // A connection that begins while another is replayed: its start is remembered for later.
    auto defer = [&](std::uint64_t conn, const session::SessionReader::Position& at) {
      deferred[at.offset] = conn;
      deferred_positions[at.offset] = at;
      deferred_conns.insert(conn);
    };
    // Back to the earliest remembered start (false when there is none).
    auto resume_deferred = [&]() -> bool {
      if (deferred.empty()) return false;
      const auto it = deferred.begin();
      deferred_conns.erase(it->second);
      error = source.seek(deferred_positions[it->first]);
      deferred_positions.erase(it->first);
      deferred.erase(it);
      return !error;
    };
    while (!is_stopped()) {
      const auto position = source.position();
      auto record = source.next(error);
      if (!record) {
        if (error) break;
        if (current) {
          finish(*current);
          done.insert(*current);
          current.reset();
        }
        if (!resume_deferred()) break;
        continue;
      }
      if (const auto* open = std::get_if<session::OpenRecord>(&*record)) {
        if (done.count(open->conn) != 0 || deferred_conns.count(open->conn) != 0) continue;
        if (current) {
          defer(open->conn, position);
          continue;
        }
        current = open->conn;
        start(*open, SteadyClock::now(), source.where(), source.line());
        continue;
      }
      if (const auto* refused = std::get_if<session::RefusedRecord>(&*record)) {
        // A connection of its own, in its place among the others: after the current one.
        if (done.count(refused->conn) != 0 || deferred_conns.count(refused->conn) != 0) continue;
        if (current) {
          defer(refused->conn, position);
          continue;
        }
        start_refusal(*refused, SteadyClock::now(), source.where(), source.line());
        finish(refused->conn);
        done.insert(refused->conn);
        if (!resume_deferred() && error) break;
        continue;
      }
      std::uint64_t conn = 0;
      if (const auto* f = std::get_if<session::FrameRecord>(&*record)) conn = f->conn;
      if (const auto* c = std::get_if<session::CloseRecord>(&*record)) conn = c->conn;
      if (!current || conn != *current) {
        if (done.count(conn) == 0 && deferred_conns.count(conn) == 0 &&
            (std::holds_alternative<session::FrameRecord>(*record) || std::holds_alternative<session::CloseRecord>(*record))) {
          skipped(conn);
        }
        continue;
      }
      dispatch(*record, source.where(), source.line());
      if (std::holds_alternative<session::CloseRecord>(*record)) {
        finish(*current);
        done.insert(*current);
        current.reset();
        if (!deferred.empty()) {
          const auto it = deferred.begin();
          deferred_conns.erase(it->second);
          if ((error = source.seek(deferred_positions[it->first]))) break;
          deferred_positions.erase(it->first);
          deferred.erase(it);
        }
      }
    }
    if (current) finish(*current, static_cast<bool>(error));
    return error;
  }

  const ReplayOptions& options_;
  const ws::WsUrl& target_;
  std::atomic<bool> warned_redacted_query_{false};  // said once per run, not per connection
  const Settings& settings_;
  Report& report_;
  Logger& log_;
  std::mutex mutex_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::map<std::uint64_t, std::unique_ptr<Worker>> active_;
  // Out of active_ (every record of theirs dispatched), joined by finish(): a signal reaches them too.
  std::set<Worker*> finishing_;
  ExitCode connect_status_ = ExitCode::kOk;
  std::uint64_t warned_orphans_ = 0;
};

std::string now_rfc3339() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, ms);
}

ExitCode run_replay(const ReplayOptions& options) {
  if (options.file.empty() || options.url.empty()) {
    return fail("a recorded session FILE and the URL to replay it against are required", ExitCode::kUsage);
  }
  ws::WsUrl target;
  std::string error_text;
  if (!ws::parse_ws_url(options.url, target, error_text)) return fail(options.url + ": " + error_text, ExitCode::kUsage);
  Speed speed;
  if (ascii_iequals(options.speed, "max")) {
    speed.max = true;
  } else {
    // Plain decimals only: strtod would also take " 2", "0x10" (16) and "1e3".
    const bool decimal = !options.speed.empty() && options.speed.find_first_not_of("0123456789.") == std::string::npos;
    char* end = nullptr;
    speed.factor = decimal ? std::strtod(options.speed.c_str(), &end) : 0;
    if (!decimal || end == options.speed.c_str() || *end != '\0' || !(speed.factor > 0) || speed.factor > 1e6) {
      return fail(fmt::format("--speed: '{}' is not a positive factor or 'max'", options.speed), ExitCode::kUsage);
    }
  }
  if (options.timeout <= nanoseconds::zero()) {
    // Every expected message would be missing before it could come.
    return fail("--timeout: must be more than 0 (how long each expected server message is waited for)",
                ExitCode::kUsage);
  }
  replay::CompareMode mode = replay::CompareMode::kBytes;
  if (options.compare == "json" || !options.ignore.empty()) {
    mode = replay::CompareMode::kJson;
  } else if (options.compare != "bytes") {
    return fail(fmt::format("--compare: '{}' is neither bytes nor json", options.compare), ExitCode::kUsage);
  }
  std::vector<std::vector<std::string>> ignores;
  for (const auto& p : options.ignore) {
    std::vector<std::string> tokens;
    if (!replay::PayloadComparer::parse_pointer(p, tokens, error_text)) return fail("--ignore: " + error_text, ExitCode::kUsage);
    ignores.push_back(std::move(tokens));
  }
  const replay::PayloadComparer comparer(mode, std::move(ignores));
  Settings settings;
  settings.speed = speed;
  settings.comparer = &comparer;
  settings.window = options.unordered == 0 ? 1 : options.unordered;
  settings.timeout = duration_cast<milliseconds>(options.timeout);
  settings.compare_control = options.compare_control;
  settings.compare_frames = options.compare_frames;

  // Open the input before anything else: a bad log is 65/66 whatever the target.
  std::unique_ptr<RecordSource> source;
  Error error;
  if (options.har) {
    har::HarSession session;
    if ((error = har::read_har(options.file, session))) return fail(error.message, exit_code_for(error.code));
    const std::size_t slash = options.file.rfind('/');
    source = std::make_unique<HarSource>(std::move(session),
                                         slash == std::string::npos ? options.file : options.file.substr(slash + 1));
  } else {
    auto reader = session::SessionReader::open(options.file, error);
    if (!reader) return fail(error.message, exit_code_for(error.code));
    source = std::make_unique<LogSource>(std::move(reader));
  }
  // Only record's proxy logs the server's frames as they were; connect and serve log each
  // message as one frame, HAR files keep messages. Comparing frames against those would report
  // every fragmented reply.
  const std::string captured_by = source->captured_by();
  if (options.compare_frames && (captured_by == "connect" || captured_by == "serve" || captured_by == "har")) {
    return fail(fmt::format("--compare-frames: {} was {}, which keeps whole messages, not the server's frames; "
                            "record the session with 'wstool record'",
                            options.file, captured_by == "har" ? "exported as HAR" : "written by " + captured_by),
                ExitCode::kUsage);
  }
  // record's proxy saw every pong the client sent, and those are resent as recorded; connect's
  // log lacks the pongs its engine sent by itself, serve's logs data messages only, HAR has none.
  settings.answer_pings = captured_by != "record";
  // The results file is created up front: a run must not end in "cannot write the results".
  std::ofstream output;
  if (!options.output.empty()) {
    output.open(options.output, std::ios::trunc);
    if (!output) return fail(fmt::format("{}: {}", options.output, std::strerror(errno)), ExitCode::kCannotCreate);
  }

  StderrLog log(kProg, LogLevel::kWarning);
  Report report(options.quiet);
  Replayer replayer(options, target, settings, report, log);
  ShutdownSignals signals([&replayer](int) { replayer.stop(); });
  const auto started_wall = now_rfc3339();
  const auto started = SteadyClock::now();
  error = replayer.run(*source);
  for (const auto& w : source->warnings()) log.log(LogLevel::kWarning, w);

  ExitCode code = ExitCode::kOk;
  if (error) code = most_basic(code, fail(error.message, exit_code_for(error.code)));
  code = most_basic(code, replayer.connect_status());
  if (report.total() > 0) code = most_basic(code, ExitCode::kCheckFailed);
  if (signals.received() == SIGINT) code = most_basic(code, ExitCode::kInterrupted);
  if (!options.quiet) fmt::print("{}\n", report.summary_line());
  std::fflush(stdout);

  if (output.is_open()) {
    Json doc = report.to_json();
    Json result = {{"version", kResultsVersion},
                   {"minor", kResultsMinor},
                   {"tool", fmt::format("wstool {}", wstool_version())},
                   {"input", options.file},
                   {"inputFormat", options.har ? "har" : "session"},
                   {"target", redact_url(options.url)},
                   {"started", started_wall},
                   {"durationMs", duration_cast<milliseconds>(SteadyClock::now() - started).count()},
                   {"options",
                    {{"compare", mode == replay::CompareMode::kJson ? "json" : "bytes"},
                     {"ignore", options.ignore},
                     {"unordered", options.unordered},
                     {"speed", speed.max ? Json("max") : Json(speed.factor)},
                     {"timeoutMs", settings.timeout.count()},
                     {"compareControl", options.compare_control},
                     {"compareFrames", options.compare_frames},
                     {"parallel", options.parallel}}},
                   {"summary", doc["summary"]},
                   {"connections", doc["connections"]},
                   {"differences", doc["differences"]},
                   {"differencesOmitted", doc["differencesOmitted"]},
                   {"exitCode", static_cast<int>(code)}};
    output << result.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
    output.flush();
    if (!output) code = most_basic(code, fail(fmt::format("{}: write failed", options.output), ExitCode::kIoError));
  }
  return code;
}

}  // namespace

Runner make_replay(CLI::App& app) {
  auto options = std::make_shared<ReplayOptions>();
  app.description(
      "Replay a recorded session (a session log, or with --har a Chrome HAR file) against URL: each recorded "
      "connection is recreated, its client messages sent with their recorded timing and the server's "
      "messages checked against the recording. Exit 0 when everything matches, 1 when anything differs.");
  app.add_option("FILE", options->file, "the session log (or HAR file with --har)");
  app.add_option("URL", options->url, "ws:// or wss:// URL of the server to replay against");
  app.add_flag("--har", options->har, "FILE is a HAR file (Chrome DevTools' WebSocket entries)");
  add_client_options(app, options->client);
  app.add_option("--speed", options->speed, "replay at N times the recorded pace, or 'max' (as fast as the server answers)")
      ->type_name("N|max")
      ->capture_default_str();
  app.add_option("--compare", options->compare, "how server messages are compared: bytes or json (semantic)")
      ->type_name("MODE")
      ->capture_default_str();
  app.add_option("--ignore", options->ignore, "a JSON pointer to leave out of comparisons (repeatable; '*' matches any member); implies --compare json")
      ->type_name("POINTER");
  app.add_flag(fmt::format("--unordered{{{}}}", kDefaultUnorderedWindow), options->unordered,
               "tolerate server messages reordered within N (--unordered=N; default 16)")
      ->type_name("N")
      ->transform(decimal_count());
  add_duration_option(app, "--timeout", options->timeout, "how long to wait for each expected server message, and for its close");
  app.add_flag("--compare-control", options->compare_control, "also compare pings and pongs");
  app.add_flag("--compare-frames", options->compare_frames,
               "also compare how the server framed each message: fragments, their sizes, compression, RSV bits");
  app.add_option("-o,--output", options->output, "write the results as a JSON document to FILE")->type_name("FILE");
  app.add_flag("--parallel", options->parallel, "replay the connections concurrently, at their recorded start times");
  add_size_option(app, "--max-message-size", options->max_message_size, "largest message accepted");
  app.add_flag("-q,--quiet", options->quiet, "print nothing on stdout; the exit status and -o tell");
  return [options]() -> ExitCode { return run_replay(*options); };
}

}  // namespace wstool::tools
