// wstool connect: the terminal and scripting WebSocket client (wscat's job). Lines in, messages
// out; expectations and exit codes for CI; --listen for the reversed roles; --reconnect.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>

#include "lib/backoff.h"
#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/expectation.h"
#include "lib/listen_address.h"
#include "lib/redact.h"
#include "lib/session_log.h"
#include "lib/units.h"
#include "lib/utf8.h"
#include "lib/ws_url.h"
#include "tools/client_link.h"
#include "tools/client_setup.h"
#include "tools/common_options.h"
#include "tools/line_editor.h"
#include "tools/message_format.h"
#include "tools/shutdown_signals.h"
#include "tools/slash_command.h"
#include "tools/stdin_reader.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;
using std::chrono::nanoseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr const char* kProg = "wsconnect";
constexpr std::uint64_t kDefaultQueueLimit = 100000;          // messages waiting to be sent
constexpr std::size_t kSendHighWater = std::size_t{4} << 20;  // engine bytes queued before pausing
constexpr milliseconds kDrainRetry{5};                         // re-check a full send queue
constexpr milliseconds kInitialBackoff{250};
constexpr milliseconds kListenCloseGrace{1500};

enum class BinaryAs { kHex, kBase64, kRaw };

struct ConnectOptions {
  std::string url;
  std::string listen_text;
  ClientOptions client;
  std::vector<std::string> sends;
  std::string send_file;
  bool nul_delimited = false;
  bool whole = false;
  bool binary_input = false;
  bool slash = false;
  nanoseconds wait = std::chrono::seconds(1);
  nanoseconds timeout{0};
  std::uint64_t count = 0;
  std::vector<std::string> expect_regex;
  std::vector<std::string> expect_json;
  BinaryAs binary_as = BinaryAs::kHex;
  bool pretty = false;
  ColorMode color = ColorMode::kAuto;
  std::uint64_t max_display = 0;
  bool timestamps = false;
  bool show_control = false;
  bool json = false;
  nanoseconds ping_interval{0};
  nanoseconds ping_timeout = std::chrono::seconds(10);
  bool reconnect = false;
  nanoseconds reconnect_max_delay = std::chrono::seconds(30);
  std::uint64_t reconnect_max_attempts = 0;  // 0: no limit
  std::uint64_t queue_limit = kDefaultQueueLimit;
  std::uint64_t max_message_size = ws::kDefaultMaxMessageBytes;
  std::string record_file;
  bool keep_secrets = false;  // --record: Authorization, cookies and ?token= as they are
  bool follow_redirects = false;
  std::uint64_t max_redirects = kDefaultMaxRedirects;
  bool verbose = false;
};


// What the input asks for: mostly a message to send (kSend), or a slash command's action.
using Outgoing = SlashCommand;

Outgoing make_outgoing(std::string payload, bool binary) {
  const bool text = !binary && is_valid_utf8(payload.data(), payload.size());
  Outgoing out;
  out.opcode = text ? ws::opcode::kText : ws::opcode::kBinary;
  out.payload = std::move(payload);
  return out;
}

// Messages waiting to be sent, in order: filled by the stdin thread, drained on the connection
// thread whenever a connection is open. Bounded: a full queue blocks the reader (nothing is
// dropped), with a warning.
class Outbox {
 public:
  Outbox(std::size_t limit, Logger& log) : limit_(limit == 0 ? 1 : limit), log_(log) {}

  // Adds a message; blocks while the queue is full. False when the session is over. `was_empty`
  // tells the caller whether a drain must be asked for.
  bool push(Outgoing message, bool& was_empty) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (queue_.size() >= limit_ && !closed_) {
      log_.log(LogLevel::kWarning,
               fmt::format("{} messages are waiting to be sent (--queue-limit); reading paused", queue_.size()));
      space_.wait(lock, [this] { return queue_.size() < limit_ || closed_; });
    }
    if (closed_) return false;
    was_empty = queue_.empty();
    queue_.push_back(std::move(message));
    return true;
  }
  void finish() {
    std::lock_guard<std::mutex> lock(mutex_);
    eof_ = true;
  }
  bool pop(Outgoing& out) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (queue_.empty()) return false;
    out = std::move(queue_.front());
    queue_.pop_front();
    space_.notify_all();
    return true;
  }
  bool exhausted() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return eof_ && queue_.empty();
  }
  void close() {
    std::lock_guard<std::mutex> lock(mutex_);
    closed_ = true;
    space_.notify_all();
  }

 private:
  std::size_t limit_;
  Logger& log_;
  mutable std::mutex mutex_;
  std::condition_variable space_;
  std::deque<Outgoing> queue_;
  bool eof_ = false;
  bool closed_ = false;
};

// Why we ended the session ourselves.
enum class EndReason { kNone, kInputDone, kCount, kExpectations, kTimeout, kSignal };

// Everything written to stdout: messages (as text, hex, base64 or raw, or --json records) and,
// with --show-control, control frames. Only the connection thread calls it.
class Printer {
 public:
  Printer(const ConnectOptions& options, bool stdout_tty, bool color)
      : options_(options), tty_(stdout_tty), color_(color), pretty_(options.pretty) {}

  // At a terminal with line editing, output goes above the prompt.
  void set_editor(LineEditor* editor) { editor_.store(editor); }

  void open(const ws::Connection& conn, const std::string& peer) {
    if (!options_.json) return;
    nlohmann::ordered_json record;
    record["type"] = "open";
    record["time"] = iso_time_now();
    record["peer"] = peer;
    record["subprotocol"] = conn.subprotocol();
    record["extensions"] = conn.extensions();
    emit(record);
  }

  void message(bool incoming, std::uint8_t opcode, std::string_view payload) {
    if (options_.json) {
      nlohmann::ordered_json record;
      record["type"] = "message";
      record["time"] = iso_time_now();
      record["direction"] = incoming ? "in" : "out";
      record["opcode"] = opcode == ws::opcode::kText ? "text" : "binary";
      add_payload(record, payload);
      emit(record);
      return;
    }
    if (!incoming) return;  // the user knows what they sent
    std::string out = prefix("<");
    if (opcode == ws::opcode::kText) {
      std::string shown;
      if (pretty_) shown = pretty_json(payload, color_);
      if (shown.empty()) shown = std::string(payload);
      if (tty_) shown = terminal_safe(truncate_for_display(shown, static_cast<std::size_t>(options_.max_display)));
      out += shown + "\n";
    } else {
      std::string_view bytes = payload;
      std::string note;
      if (tty_ && options_.max_display > 0 && bytes.size() > options_.max_display) {
        note = fmt::format("… ({} bytes)\n", bytes.size());
        bytes = bytes.substr(0, static_cast<std::size_t>(options_.max_display));
      }
      switch (options_.binary_as) {
        case BinaryAs::kHex: {
          const std::string dump = hex_dump(bytes);
          out += (out.empty() ? "" : "\n") + (dump.empty() ? "(empty binary message)\n" : dump);
          break;
        }
        case BinaryAs::kBase64: out += base64_encode(bytes) + "\n"; break;
        case BinaryAs::kRaw: out += std::string(bytes); break;
      }
      out += note;
    }
    write(out);
  }

  void control(const char* kind, std::string_view payload) {
    if (!options_.show_control) return;
    if (options_.json) {
      nlohmann::ordered_json record;
      record["type"] = kind;
      record["time"] = iso_time_now();
      record["direction"] = "in";
      add_payload(record, payload);
      emit(record);
      return;
    }
    write(prefix("<", true) + paint(kind) + (payload.empty() ? "" : " " + terminal_safe(payload)) + "\n");
  }

  void close(const ws::CloseEvent& event) {
    if (options_.json) {
      nlohmann::ordered_json record;
      record["type"] = "close";
      record["time"] = iso_time_now();
      record["code"] = event.code;
      record["reason"] = is_valid_utf8(event.reason.data(), event.reason.size()) ? event.reason : "";
      record["by_peer"] = event.by_peer;
      record["clean"] = event.clean;
      emit(record);
      return;
    }
    if (!options_.show_control) return;
    write(prefix("<", true) + paint("close") + fmt::format(" {}{}\n", event.code,
                                                            event.reason.empty() ? "" : " " + terminal_safe(event.reason)));
  }

  void toggle_pretty() { pretty_ = !pretty_; }

  // News for a person (connected, reconnecting): on stderr, or above the prompt when editing.
  // Thread-safe.
  void notice(const std::string& text) {
    const std::string line = fmt::format("{}: {}\n", kProg, text);
    if (LineEditor* editor = editor_.load()) {
      editor->print_above(line);
    } else {
      std::fputs(line.c_str(), stderr);
    }
  }

 private:
  std::string prefix(const char* marker, bool always_mark = false) const {
    std::string out;
    if (options_.timestamps) out += "[" + clock_time_now() + "] ";
    if (tty_ || always_mark) out += std::string(color_ ? "\x1b[2m" : "") + marker + (color_ ? "\x1b[0m" : "") + " ";
    return out;
  }
  std::string paint(const char* kind) const {
    return color_ ? fmt::format("\x1b[33m{}\x1b[0m", kind) : std::string(kind);
  }
  static void add_payload(nlohmann::ordered_json& record, std::string_view payload) {
    if (is_valid_utf8(payload.data(), payload.size())) {
      record["text"] = std::string(payload);
    } else {
      record["bytes"] = base64_encode(payload);
    }
  }
  void emit(const nlohmann::ordered_json& record) {
    write(record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
  }
  void write(const std::string& text) {
    if (LineEditor* editor = editor_.load()) {
      editor->print_above(text);
      return;
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
  }

  const ConnectOptions& options_;
  bool tty_;
  bool color_;
  bool pretty_;
  std::atomic<LineEditor*> editor_{nullptr};
};

// --record: every frame of the session that carries something (data, pings, pongs, closes) and
// each connection's open and close, in the session log format (man/wstool-session.5). On the
// connection thread only; the writer redacts secrets.
class Recorder {
 public:
  Recorder(session::SessionWriter& writer, bool we_are_server) : writer_(writer), we_are_server_(we_are_server) {}

  void open(const ws::Connection& conn, const std::string& url, const ws::HttpHeaders& request) {
    ++conn_id_;
    our_close_code_.reset();
    our_close_reason_.clear();
    deflate_ = conn.extensions().find("permessage-deflate") != std::string::npos;
    session::OpenRecord record;
    record.conn = conn_id_;
    record.t_us = writer_.now_us();
    record.url = url;
    record.subprotocol = conn.subprotocol();
    record.extensions = conn.extensions();
    record.request = request;
    writer_.write(record);
  }
  // A handshake the server answered with something else than 101 (session log 1.4): its answer
  // as the client kept it. It takes the next connection id, as an open would.
  void refused(const std::string& url, const ws::HttpHeaders& request, const ws::UpgradeResponse& answer) {
    ++conn_id_;
    session::RefusedRecord record;
    record.conn = conn_id_;
    record.t_us = writer_.now_us();
    record.url = url;
    record.request = request;
    record.status = answer.status;
    record.reason = answer.reason;
    record.response = answer.headers;
    record.body = answer.body;
    record.body_length = session::declared_body_length(answer.headers, answer.body.size());
    writer_.write(record);
  }
  // A frame we sent (`ours`) or received. Data frames we send are compressed whenever
  // permessage-deflate was negotiated; for received ones the peer's RSV1 bit says.
  void frame(bool ours, std::uint8_t opcode, std::string_view payload) {
    const bool data = opcode == ws::opcode::kText || opcode == ws::opcode::kBinary;
    const bool compressed = data && (ours ? deflate_ : last_in_compressed_);
    write_frame(ours, opcode, true, compressed ? ws::kRsv1 : std::uint8_t{0}, compressed, payload);
  }
  // A hand-built frame (/frame): its bits exactly as sent, its payload never compressed.
  void raw_frame(std::uint8_t opcode, bool fin, std::uint8_t rsv, std::string_view payload) {
    write_frame(true, opcode, fin, rsv, false, payload);
  }
  // Ours when we send it, the peer's in close() (nothing the peer sends comes after it).
  void close_frame(bool ours, std::uint16_t code, std::string_view reason) {
    if (ours && !our_close_code_) {
      our_close_code_ = code;
      our_close_reason_.assign(reason);
    }
    frame(ours, ws::opcode::kClose, session::close_frame_payload(code, reason));
  }
  // A received frame that broke RFC 6455, as `record` logs one: its header as received, what had
  // arrived of its payload, and why (session log 1.1 "invalid"). The engine then fails the
  // connection, and close() follows with the code it sent.
  void invalid_frame(const ws::InvalidFrame& frame) {
    const std::string_view payload(reinterpret_cast<const char*>(frame.data), frame.size);
    write_frame(false, frame.header.opcode, frame.header.fin, frame.header.rsv, (frame.header.rsv & ws::kRsv1) != 0,
                payload, frame.why);
  }
  void incoming_header(const ws::FrameHeader& header) {
    if (header.opcode == ws::opcode::kText || header.opcode == ws::opcode::kBinary) {
      last_in_compressed_ = (header.rsv & ws::kRsv1) != 0;
    }
  }
  void close(const ws::CloseEvent& event) {
    // We failed the connection (an invalid frame): the engine sent its close frame (1002, 1007)
    // itself, and that code is the close's, as `record` logs it.
    const bool we_failed = event.we_failed && event.sent_code != ws::close_code::kNoStatus;
    const std::optional<std::uint16_t> closed_first = event.by_peer ? std::nullopt : our_close_code_;
    if (we_failed) close_frame(true, event.sent_code, "");
    if (event.code != ws::close_code::kAbnormal) close_frame(false, event.code, event.reason);
    if (event.by_peer && !we_failed && event.sent_code != ws::close_code::kNoStatus) {
      close_frame(true, event.sent_code, "");
    }
    session::CloseRecord record;
    record.conn = conn_id_;
    record.t_us = writer_.now_us();
    record.code = we_failed ? event.sent_code : event.code;
    record.reason = event.reason;
    if (!we_failed && closed_first) {
      // We began the closing handshake: the record has our close, the peer's is its reply.
      record.code = *closed_first;
      record.reason = our_close_reason_;
      if (event.code != ws::close_code::kAbnormal) {
        record.reply_code = event.code;
        record.reply_reason = event.reason;
      }
    } else if (event.by_peer && !we_failed && event.sent_code != ws::close_code::kNoStatus) {
      record.reply_code = event.sent_code;  // our answer to the peer's close
    }
    const session::Closer peer = we_are_server_ ? session::Closer::kClient : session::Closer::kServer;
    const session::Closer us = we_are_server_ ? session::Closer::kServer : session::Closer::kClient;
    record.by = event.by_peer ? peer : event.sent_code != ws::close_code::kNoStatus ? us : session::Closer::kNone;
    record.clean = event.clean;
    writer_.write(record);
  }

 private:
  void write_frame(bool ours, std::uint8_t opcode, bool fin, std::uint8_t rsv, bool compressed,
                   std::string_view payload, std::string_view invalid = {}) {
    session::FrameRef record;
    record.conn = conn_id_;
    record.t_us = writer_.now_us();
    record.dir = ours == we_are_server_ ? session::Direction::kServer : session::Direction::kClient;
    record.opcode = opcode;
    record.fin = fin;
    record.rsv = rsv;
    record.compressed = compressed;
    record.payload = payload;
    record.invalid = invalid;
    writer_.write(record);
  }

  session::SessionWriter& writer_;
  bool we_are_server_;
  std::uint64_t conn_id_ = 0;
  bool deflate_ = false;
  bool last_in_compressed_ = false;
  // The first close frame we sent on this connection, and its reason: the close record's when
  // we closed first.
  std::optional<std::uint16_t> our_close_code_;
  std::string our_close_reason_;
};

// The session: one handler for every connection of a run (reconnects keep its state), on the
// connection's thread.
class Session final : public ws::ConnectionHandler {
 public:
  Session(const ConnectOptions& options, Outbox& outbox, Printer& printer, ExpectationList& expectations,
          Logger& log, bool listen)
      : options_(options), outbox_(outbox), printer_(printer), expectations_(expectations),
        log_(log), listen_(listen) {}

  // Called on the connection thread: ends the session with a close frame, or, when nothing is
  // open, tells the caller to stop connecting.
  void end(EndReason reason, std::uint16_t code, std::string_view why = {}) {
    if (end_reason_ == EndReason::kNone) {
      end_reason_ = reason;
      end_code_ = code;
    }
    if (conn_ != nullptr && !closing_) {
      closing_ = true;
      conn_->close(code, why);
      if (recorder_ != nullptr) recorder_->close_frame(true, code, why);
    }
  }
  bool ended() const { return end_reason_ != EndReason::kNone; }
  EndReason end_reason() const { return end_reason_; }
  std::uint64_t received() const { return received_; }
  bool ever_opened() const { return ever_opened_; }
  bool connection_open() const { return conn_ != nullptr; }
  const ws::CloseEvent& last_close() const { return last_close_; }
  void set_on_closed(std::function<void()> callback) { on_closed_ = std::move(callback); }
  // --record: what the open record says the client asked with.
  void set_recorder(Recorder* recorder, ws::HttpHeaders request_headers) {
    recorder_ = recorder;
    request_headers_ = std::move(request_headers);
  }

  void drain() {
    if (conn_ == nullptr || closing_) return;
    Outgoing message;
    while (!closing_ && conn_->queued_bytes() < kSendHighWater && outbox_.pop(message)) {
      perform(message);
    }
    if (closing_) return;
    const bool more = conn_->queued_bytes() >= kSendHighWater;
    drain_retry_ = more;
    if (!more && outbox_.exhausted()) {
      if (!input_done_) {
        input_done_ = true;
        silence_deadline_ = SteadyClock::now() + duration_cast<milliseconds>(options_.wait);
      }
      check_done();
    }
    rearm();
  }

  // One input item on the open connection: a message, or a slash command's action.
  void perform(const Outgoing& message) {
    using Kind = SlashCommand::Kind;
    switch (message.kind) {
      case Kind::kSend:
        conn_->send(message.opcode, reinterpret_cast<const std::uint8_t*>(message.payload.data()),
                    message.payload.size());
        printer_.message(false, message.opcode, message.payload);
        if (recorder_ != nullptr) recorder_->frame(true, message.opcode, message.payload);
        return;
      case Kind::kPing:
        conn_->ping(message.payload);
        if (recorder_ != nullptr) recorder_->frame(true, ws::opcode::kPing, message.payload);
        return;
      case Kind::kPong:
        conn_->pong(message.payload);
        if (recorder_ != nullptr) recorder_->frame(true, ws::opcode::kPong, message.payload);
        return;
      case Kind::kClose: end(EndReason::kInputDone, message.close_code, message.payload); return;
      case Kind::kQuit: end(EndReason::kInputDone, ws::close_code::kNormal); return;
      case Kind::kPretty: printer_.toggle_pretty(); return;
      case Kind::kFrame: {
        conn_->send_raw_frame(ws::RawFrame::from_bits(message.fin, message.rsv, message.opcode, message.payload));
        if (recorder_ != nullptr) recorder_->raw_frame(message.opcode, message.fin, message.rsv, message.payload);
        return;
      }
      case Kind::kHelp: return;  // answered by the reader
    }
  }

  void on_open(ws::Connection& conn) override {
    conn_ = &conn;
    closing_ = false;
    ever_opened_ = true;
    const std::string peer = listen_ ? conn.remote_address() : redact_url(options_.url);
    if (options_.verbose || isatty(STDIN_FILENO) == 1) {
      printer_.notice(fmt::format("connected to {}{}{}", peer,
                           conn.subprotocol().empty() ? "" : " (subprotocol " + conn.subprotocol() + ")",
                           conn.extensions().empty() ? "" : " [" + conn.extensions() + "]"));
    }
    printer_.open(conn, peer);
    if (recorder_ != nullptr) {
      recorder_->open(conn, listen_ ? "ws://" + conn.remote_address() + conn.request().target : options_.url,
                      listen_ ? conn.request().headers : request_headers_);
    }
    if (ended()) {  // the deadline or a signal came while connecting
      closing_ = true;
      conn.close(end_code_, "");
      if (recorder_ != nullptr) recorder_->close_frame(true, end_code_, "");
      return;
    }
    input_done_ = false;
    drain();
  }

  void on_message(ws::Connection& /*conn*/, std::uint8_t opcode, const std::uint8_t* data,
                  std::size_t size) override {
    const std::string_view payload(reinterpret_cast<const char*>(data), size);
    if (recorder_ != nullptr) recorder_->frame(false, opcode, payload);
    ++received_;
    printer_.message(true, opcode, payload);
    if (opcode == ws::opcode::kText && expectations_.on_text(payload) && options_.verbose) {
      log_.log(LogLevel::kInfo, fmt::format("expectation {} met", expectations_.met()));
    }
    if (input_done_) silence_deadline_ = SteadyClock::now() + duration_cast<milliseconds>(options_.wait);
    check_done();
    rearm();
  }

  void on_ping(ws::Connection& /*conn*/, std::string_view payload) override {
    if (recorder_ != nullptr) recorder_->frame(false, ws::opcode::kPing, payload);
    printer_.control("ping", payload);
  }
  void on_pong(ws::Connection& /*conn*/, std::string_view payload) override {
    if (recorder_ != nullptr) recorder_->frame(false, ws::opcode::kPong, payload);
    printer_.control("pong", payload);
  }
  void on_invalid_frame(ws::Connection& /*conn*/, const ws::InvalidFrame& frame) override {
    if (recorder_ != nullptr) recorder_->invalid_frame(frame);
  }
  void on_frame_header(ws::Connection& /*conn*/, const ws::FrameHeader& header, bool outgoing) override {
    if (recorder_ != nullptr && !outgoing) recorder_->incoming_header(header);
  }

  void on_close(ws::Connection& /*conn*/, const ws::CloseEvent& event) override {
    conn_ = nullptr;
    last_close_ = event;
    if (recorder_ != nullptr) recorder_->close(event);
    printer_.close(event);
    if (on_closed_) on_closed_();
  }

  void on_timer(ws::Connection& /*conn*/) override {
    if (conn_ == nullptr || closing_) return;
    if (drain_retry_) drain();
    if (input_done_ && SteadyClock::now() >= silence_deadline_) {
      end(EndReason::kInputDone, ws::close_code::kNormal);
      return;
    }
    rearm();
  }

  std::optional<ws::Rejection> on_upgrade_request(const ws::UpgradeRequest& /*request*/,
                                                  const std::string& /*remote*/) override {
    if (!taken_) {
      taken_ = true;
      return std::nullopt;
    }
    return ws::Rejection{503, "Service Unavailable", {}, "wstool connect --listen serves one client\n"};
  }

 private:
  // The count reached, or every expectation met once all input is sent: nothing left to wait for.
  void check_done() {
    if (closing_ || conn_ == nullptr) return;
    if (options_.count > 0 && received_ >= options_.count) {
      end(EndReason::kCount, ws::close_code::kNormal);
    } else if (options_.count == 0 && input_done_ && !expectations_.empty() && expectations_.all_met()) {
      end(EndReason::kExpectations, ws::close_code::kNormal);
    }
  }

  void rearm() {
    if (conn_ == nullptr || closing_) return;
    std::optional<milliseconds> after;
    if (drain_retry_) after = kDrainRetry;
    if (input_done_) {
      const auto left = duration_cast<milliseconds>(silence_deadline_ - SteadyClock::now());
      const milliseconds until = std::max(left, milliseconds(0));
      after = after ? std::min(*after, until) : until;
    }
    if (after) conn_->set_timer(*after);
  }

  const ConnectOptions& options_;
  Outbox& outbox_;
  Printer& printer_;
  ExpectationList& expectations_;
  Logger& log_;
  bool listen_;
  ws::Connection* conn_ = nullptr;
  bool closing_ = false;
  bool ever_opened_ = false;
  bool input_done_ = false;
  bool drain_retry_ = false;
  bool taken_ = false;
  SteadyClock::time_point silence_deadline_{};
  std::uint64_t received_ = 0;
  EndReason end_reason_ = EndReason::kNone;
  std::uint16_t end_code_ = ws::close_code::kNormal;
  ws::CloseEvent last_close_;
  std::function<void()> on_closed_;
  Recorder* recorder_ = nullptr;
  ws::HttpHeaders request_headers_;
};

// Standard input as the session's input: each line (or record) a message or a slash command,
// queued in the outbox. stop() (and the destructor) closes the outbox first, so a reader waiting
// for space in it wakes up.
class ConnectInput {
 public:
  ConnectInput(InputMode mode, bool binary, bool slash, LineEditor* editor, Outbox& outbox,
               std::function<void()> kick)
      : binary_(binary), slash_(slash), outbox_(outbox), kick_(std::move(kick)),
        reader_(mode, editor, [this](std::string item) { return emit(std::move(item)); },
                [this] {
                  outbox_.finish();
                  kick_();
                }) {}
  ~ConnectInput() { stop(); }
  ConnectInput(const ConnectInput&) = delete;
  ConnectInput& operator=(const ConnectInput&) = delete;

  void stop() {
    outbox_.close();
    reader_.stop();
  }

 private:
  bool emit(std::string payload) {
    Outgoing item;
    if (slash_ && !payload.empty() && payload[0] == '/') {
      std::string error;
      std::optional<SlashCommand> command = parse_slash_command(payload, error);
      if (!command) {
        fmt::print(stderr, "{}: {}\n", kProg, error);
        return true;
      }
      if (command->kind == SlashCommand::Kind::kHelp) {
        std::fputs(slash_help(), stderr);
        return true;
      }
      item = std::move(*command);
    } else {
      item = make_outgoing(std::move(payload), binary_);
    }
    bool was_empty = false;
    if (!outbox_.push(std::move(item), was_empty)) return false;
    if (was_empty) kick_();
    return true;
  }

  bool binary_;
  bool slash_;
  Outbox& outbox_;
  std::function<void()> kick_;
  StdinReader reader_;  // last: its thread uses the members above
};

ws::ConnectionLimits limits_from(const ConnectOptions& options) {
  ws::ConnectionLimits limits;
  limits.max_message_bytes = static_cast<std::size_t>(options.max_message_size);
  limits.ping_interval = duration_cast<milliseconds>(options.ping_interval);
  limits.ping_timeout = duration_cast<milliseconds>(options.ping_timeout);
  return limits;
}

std::string close_text(std::uint16_t code, const std::string& reason) {
  return reason.empty() ? std::to_string(code) : fmt::format("{} \"{}\"", code, terminal_safe(reason));
}

ExitCode fail(const std::string& message, ExitCode code) {
  fmt::print(stderr, "{}: error: {}\n", kProg, message);
  return code;
}

// Whether a failed attempt is worth another: local mistakes (a bad URL, a missing file) are not.
bool retryable(Errc errc) {
  return errc != Errc::kUsage && errc != Errc::kMissingInput && errc != Errc::kBadData;
}

// How the session's end maps to an exit status (man/wstool-connect.1, EXIT STATUS).
ExitCode session_exit(const ConnectOptions& options, const std::string& peer, const Session& session,
                      const Error& error, const ws::UpgradeResponse& refusal, bool deadline_fired,
                      int signal_received) {
  ExitCode code = ExitCode::kOk;
  if (deadline_fired && !session.ever_opened()) {
    code = fail(fmt::format("{}: no connection within --timeout {}", peer, format_duration(options.timeout)),
                ExitCode::kTimeout);
  } else if (error) {
    if (signal_received == 0) {
      const std::string message = !options.url.empty() ? url_diagnostic(options.url, error.message)
                                  : error.message.rfind(peer, 0) == 0 ? error.message
                                                                      : peer + ": " + error.message;
      code = fail(message, exit_code_for(error.code));
      // A refusal: the server's whole answer, which usually says why (a login page, a JSON error).
      if (error.code == Errc::kHandshakeRejected && refusal.status != 0 && refusal.status != 101) {
        std::fputs(describe_refusal(refusal).c_str(), stderr);
      }
    }
  } else if (session.ever_opened() && signal_received == 0) {
    const ws::CloseEvent& close = session.last_close();
    const bool normal = close.code == ws::close_code::kNormal || close.code == ws::close_code::kGoingAway ||
                        close.code == ws::close_code::kNoStatus;
    if (session.ended() && !close.we_failed && !(close.by_peer && !normal)) {
      // We ended the session; a peer that then fumbles the closing handshake changes nothing.
      if (!close.clean && !close.error.empty()) {
        fmt::print(stderr, "{}: warning: {}: {}\n", kProg, peer, close.error);
      }
    } else if (close.we_failed) {
      code = fail(fmt::format("{}: the peer broke the protocol: {}", peer, close.error), ExitCode::kProtocolError);
    } else if (close.code == ws::close_code::kAbnormal) {
      code = fail(fmt::format("{}: connection lost (1006, no close frame){}", peer,
                              close.error.empty() ? "" : ": " + close.error),
                  ExitCode::kIoError);
    } else if (close.by_peer && !normal) {
      code = fail(fmt::format("{}: the peer closed the connection with {}", peer, close_text(close.code, close.reason)),
                  ExitCode::kIoError);
    }
  }
  if (signal_received == SIGINT) code = most_basic(code, ExitCode::kInterrupted);
  return code;
}

// Unmet expectations and counts: exit 1 whatever ended the wait, each one named.
ExitCode check_exit(const ConnectOptions& options, const Session& session, const ExpectationList& expectations) {
  ExitCode code = ExitCode::kOk;
  if (const Expectation* unmet = expectations.next_unmet()) {
    code = fail(fmt::format("expectation {} of {} not met: {} '{}'", expectations.met() + 1, expectations.size(),
                            unmet->kind == Expectation::Kind::kRegex ? "--expect" : "--expect-json", unmet->source),
                ExitCode::kCheckFailed);
  }
  if (options.count > 0 && session.received() < options.count) {
    code = fail(fmt::format("--count {}: received {} message(s)", options.count, session.received()),
                ExitCode::kCheckFailed);
  }
  return code;
}

ExitCode run_connect(const ConnectOptions& options, ExpectationList& expectations) {
  const bool listen = !options.listen_text.empty();
  ListenAddress listen_address;
  ws::WsUrl url;
  std::string error;
  if (listen) {
    if (!options.url.empty()) return fail("give a URL or --listen, not both", ExitCode::kUsage);
    // wscat's `-l 8080`: a bare port means 127.0.0.1:PORT.
    const bool bare_port = options.listen_text.find_first_not_of("0123456789") == std::string::npos;
    if (!parse_listen_address(bare_port ? ":" + options.listen_text : options.listen_text, listen_address, error)) {
      return fail("--listen: " + error, ExitCode::kUsage);
    }
    if (options.reconnect) return fail("--reconnect is for clients, not with --listen", ExitCode::kUsage);
  } else {
    if (options.url.empty()) return fail("a URL is required (or --listen HOST:PORT)", ExitCode::kUsage);
    if (!ws::parse_ws_url(options.url, url, error)) return fail(options.url + ": " + error, ExitCode::kUsage);
  }
  if (options.nul_delimited && options.whole) return fail("-0 and --whole exclude each other", ExitCode::kUsage);

  StderrLog log(kProg, options.verbose ? LogLevel::kInfo : LogLevel::kWarning);
  StderrLog people(kProg, LogLevel::kInfo);  // connection news a person at a terminal wants
  Outbox outbox(static_cast<std::size_t>(options.queue_limit), log);
  bool was_empty = false;
  for (const std::string& message : options.sends) outbox.push(make_outgoing(message, options.binary_input), was_empty);
  if (!options.send_file.empty()) {
    std::ifstream file(options.send_file, std::ios::binary);
    if (!file) return fail(fmt::format("--send-file {}: cannot read it", options.send_file), ExitCode::kNoInput);
    std::ostringstream contents;
    contents << file.rdbuf();
    outbox.push(make_outgoing(contents.str(), options.binary_input), was_empty);
  }

  // Before anything reads the terminal: an encrypted key's passphrase may be asked for there.
  ws::ClientConfig config;
  RedirectFollower redirects(url, options.follow_redirects, options.max_redirects);
  if (!listen) {
    if (Error setup_error = make_client_config(options.client, options.url, url, true, config)) {
      return fail(setup_error.message, exit_code_for(setup_error.code));
    }
    config.limits = limits_from(options);
    // What the server sends after our close and before its own (RFC 6455 5.5.1) is shown and
    // recorded, never dropped unseen.
    config.deliver_after_close = true;
  }
  std::unique_ptr<session::SessionWriter> writer;
  std::optional<Recorder> recorder;
  if (!options.record_file.empty()) {
    Error open_error;
    session::WriterOptions writer_options;
    writer_options.keep_secrets = options.keep_secrets;
    writer_options.on_first_full_wait = [&log](const std::string& warning) {
      log.log(LogLevel::kWarning, "--record: " + warning);
    };
    writer = session::SessionWriter::open(options.record_file, "connect", writer_options, open_error);
    if (!writer) return fail("--record: " + open_error.message, exit_code_for(open_error.code));
    recorder.emplace(*writer, listen);
    config.report_frames = true;  // a received message's RSV1 bit: was it compressed
  }

  const bool stdout_tty = isatty(STDOUT_FILENO) == 1;
  const bool stdin_tty = isatty(STDIN_FILENO) == 1;
  Printer printer(options, stdout_tty, color_enabled(options.color, stdout_tty, std::getenv("NO_COLOR")));
  Link link;
  Session session(options, outbox, printer, expectations,
                  options.verbose || isatty(STDIN_FILENO) == 1 ? static_cast<Logger&>(people) : log, listen);
  if (recorder) session.set_recorder(&*recorder, config.headers);
  auto end_all = [&link, &session](EndReason reason, std::uint16_t code) {
    link.stop();
    link.post([&session, reason, code] { session.end(reason, code); });
  };

  // Signals first: ShutdownSignals blocks them before any other thread starts.
  std::function<void(int)> on_signal;  // set per mode below
  std::mutex signal_mutex;
  ShutdownSignals signals([&](int) {
    std::lock_guard<std::mutex> lock(signal_mutex);
    if (on_signal) on_signal(0);
  });
  // A person at a terminal gets line editing, unless the input is not lines.
  std::unique_ptr<LineEditor> editor;
  if (stdin_tty && stdout_tty && !options.nul_delimited && !options.whole) {
    editor = std::make_unique<LineEditor>("> ", LineEditor::history_path("connect_history"));
    printer.set_editor(editor.get());
  }
  ConnectInput reader(options.nul_delimited ? InputMode::kNul : options.whole ? InputMode::kWhole : InputMode::kLines,
                     options.binary_input, options.slash || stdin_tty, editor.get(), outbox, [&link, &session] { link.post([&session] { session.drain(); }); });

  std::function<void()> on_deadline;
  std::mutex deadline_mutex;
  Deadline deadline(options.timeout, [&] {
    std::lock_guard<std::mutex> lock(deadline_mutex);
    if (on_deadline) on_deadline();
  });

  Error last_error;
  ws::UpgradeResponse last_refusal;
  const std::string peer = listen ? to_string(listen_address) : redact_url(options.url);
  if (listen) {
    ws::ServerConfig server_config;
    server_config.host = listen_address.host;
    server_config.port = listen_address.port;
    server_config.threads = 1;
    server_config.limits = limits_from(options);
    server_config.deflate.enabled = options.client.compress;
    server_config.deliver_after_close = true;  // as a client: what comes after our close is shown
    server_config.subprotocols = options.client.subprotocols;
    server_config.keep_request = recorder.has_value();
    server_config.report_frames = recorder.has_value();
    ws::Server server(server_config, session, log);
    if (Error listen_error = server.listen()) return fail(listen_error.message, exit_code_for(listen_error.code));
    fmt::print("{}\n", readiness_line(server.tls(), server.address(), server.port()));
    std::fflush(stdout);
    link.attach([&server](std::function<void()> task) { server.post(0, std::move(task)); });
    session.set_on_closed([&server] { server.shutdown(ws::close_code::kNormal, kListenCloseGrace); });
    auto stop_server = [&server, &session, &link](EndReason reason, std::uint16_t code) {
      link.stop();
      link.post([&server, &session, reason, code] {
        session.end(reason, code);
        if (!session.connection_open()) server.shutdown(code, kListenCloseGrace);
      });
    };
    {
      std::lock_guard<std::mutex> lock(signal_mutex);
      on_signal = [&stop_server](int) { stop_server(EndReason::kSignal, ws::close_code::kGoingAway); };
    }
    {
      std::lock_guard<std::mutex> lock(deadline_mutex);
      on_deadline = [&stop_server] { stop_server(EndReason::kTimeout, ws::close_code::kNormal); };
    }
    server.run();
    link.detach();
    {
      std::lock_guard<std::mutex> lock(signal_mutex);
      on_signal = nullptr;
    }
    {
      std::lock_guard<std::mutex> lock(deadline_mutex);
      on_deadline = nullptr;
    }
  } else {
    std::mt19937_64 random(std::random_device{}());
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    Backoff backoff(kInitialBackoff, duration_cast<milliseconds>(options.reconnect_max_delay),
                    [&] { return uniform(random); });
    std::uint64_t failures = 0;
    auto stop_client = [&](EndReason reason, std::uint16_t code) {
      end_all(reason, code);
      // Not open yet: give up connecting (an open connection closes with `code` via end_all).
      link.abandon_if_connecting([&session] { return session.connection_open(); }, code);
    };
    {
      std::lock_guard<std::mutex> lock(signal_mutex);
      on_signal = [&stop_client](int) { stop_client(EndReason::kSignal, ws::close_code::kGoingAway); };
    }
    {
      std::lock_guard<std::mutex> lock(deadline_mutex);
      on_deadline = [&stop_client] { stop_client(EndReason::kTimeout, ws::close_code::kNormal); };
    }
    for (;;) {
      ws::ClientResult result;
      {
        ws::Client client(config, session, log);
        result = link.run(client);
      }
      last_error = result.error;
      last_refusal = result.response;
      if (recorder && result.response.status != 0 && result.response.status != 101) {
        // Before a redirect is followed: the log tells of each answer, as a replay will get them.
        recorder->refused(redirects.current_text(), config.headers, result.response);
      }
      if (result.error.code == Errc::kHandshakeRejected && !link.stopped()) {
        std::string why;
        const RedirectFollower::Verdict verdict = redirects.on_refusal(result.response, why);
        if (verdict == RedirectFollower::Verdict::kFollow) {
          // Another place, not a failure: no backoff, and the refusal is not shown.
          const std::string next = redirects.current_text();
          if (options.verbose || stdin_tty) printer.notice("following the redirect to " + redact_url(next));
          if (Error setup_error = make_client_config(options.client, next, redirects.current(),
                                                     redirects.credentials_allowed(), config)) {
            last_error = setup_error;
            break;
          }
          continue;
        }
        if (verdict == RedirectFollower::Verdict::kStop) {
          last_error = Error(Errc::kHandshakeRejected, redact_url(redirects.current_text()) + ": " + why);
          last_refusal = {};
          break;
        }
      }
      if (!options.reconnect || link.stopped() || session.ended()) break;
      if (result.error && !retryable(result.error.code)) break;
      if (result.opened) {
        backoff.reset();
        failures = 0;
      }
      ++failures;
      if (options.reconnect_max_attempts > 0 && failures > options.reconnect_max_attempts) {
        log.log(LogLevel::kWarning, fmt::format("giving up after {} reconnect attempt(s)", failures - 1));
        break;
      }
      const milliseconds delay = backoff.next_delay();
      const std::string why = result.error ? result.error.message
                                           : fmt::format("connection closed ({})",
                                                         close_text(session.last_close().code, session.last_close().reason));
      printer.notice(fmt::format("{}; reconnecting in {} (attempt {})", why, format_duration(delay), failures));
      if (!link.sleep_unless_stopped(delay)) break;
    }
    {
      std::lock_guard<std::mutex> lock(signal_mutex);
      on_signal = nullptr;
    }
    {
      std::lock_guard<std::mutex> lock(deadline_mutex);
      on_deadline = nullptr;
    }
  }
  reader.stop();
  printer.set_editor(nullptr);
  editor.reset();

  const bool deadline_fired = deadline.fired();
  const ExitCode session_code =
      session_exit(options, peer, session, last_error, last_refusal, deadline_fired, signals.received());
  // A connection that never opened checked nothing: its own status says why.
  ExitCode record_code = ExitCode::kOk;
  if (writer) {
    writer->close();
    if (Error write_error = writer->error()) record_code = fail("--record: " + write_error.message, ExitCode::kIoError);
    const std::string note = session::describe_stats(writer->stats());
    if (!note.empty()) log.log(LogLevel::kWarning, "--record: " + note);
  }
  if (!session.ever_opened()) return most_basic(session_code, record_code);
  return most_basic(most_basic(session_code, record_code), check_exit(options, session, expectations));
}

}  // namespace

Runner make_connect(CLI::App& app) {
  auto options = std::make_shared<ConnectOptions>();
  app.description(
      "Connect to a WebSocket server (or with --listen, accept one client) and exchange messages: "
      "stdin lines out, received messages on stdout. Expectations and exit codes make it a CI check.");
  app.add_option("URL", options->url, "ws:// or wss:// URL to connect to");
  app.add_option("-c,--connect", options->url, "the URL, as wscat takes it")->type_name("URL");
  app.add_flag("-n,--no-check", options->client.insecure, "wscat's name for --insecure");
  app.add_option("-l,--listen", options->listen_text, "accept one client on HOST:PORT instead of connecting")
      ->type_name("HOST:PORT");
  add_client_options(app, options->client);
  app.add_option("-x,--send", options->sends, "send MSG once connected (repeatable, in order, before stdin)")
      ->type_name("MSG");
  app.add_option("--send-file", options->send_file, "send the contents of FILE as one message, after --send")
      ->type_name("FILE");
  app.add_flag("-0,--null", options->nul_delimited, "stdin messages end with NUL bytes, not newlines");
  app.add_flag("--whole", options->whole, "all of stdin is one message");
  app.add_flag("--binary", options->binary_input, "send stdin, --send and --send-file messages as binary");
  app.add_flag("--slash", options->slash, "read /commands (/ping, /close, /frame, /help...) from stdin even when it is not a terminal");
  add_duration_option(app, "-w,--wait", options->wait,
                      "after the input ends, close once nothing has arrived for this long");
  add_duration_option(app, "--timeout", options->timeout, "end the session this long after start (0: never)");
  app.add_option("--count", options->count, "end after N received data messages; fewer exits 1")
      ->type_name("N")
      ->transform(decimal_count());
  auto* expect = app.add_option("--expect", options->expect_regex,
                                "a received text message must match REGEX (PCRE2 search); repeatable, in order")
                     ->type_name("REGEX");
  auto* expect_json = app.add_option("--expect-json", options->expect_json,
                                     "a received JSON message must have POINTER (POINTER=VALUE: equal to VALUE); repeatable")
                          ->type_name("POINTER");
  static const std::map<std::string, BinaryAs> kBinaryAs = {
      {"hex", BinaryAs::kHex}, {"base64", BinaryAs::kBase64}, {"raw", BinaryAs::kRaw}};
  app.add_option("--binary-as", options->binary_as, "show binary messages as hex, base64 or raw")
      ->type_name("FORMAT")
      ->transform(CLI::CheckedTransformer(kBinaryAs, CLI::ignore_case))
      ->default_str("hex");
  app.add_flag("--pretty", options->pretty, "pretty-print JSON messages (coloured with --color)");
  add_color_option(app, options->color);
  app.add_option("--max-display", options->max_display, "on a terminal, cut messages longer than N bytes (0: never)")
      ->type_name("N")
      ->transform(decimal_count())
      ->capture_default_str();
  app.add_flag("--timestamps", options->timestamps, "prefix each message with the time received");
  app.add_flag("-P,--show-control", options->show_control, "show pings, pongs and close frames");
  app.add_flag("--json", options->json, "one JSON Lines record per event on stdout");
  add_duration_option(app, "--ping-interval", options->ping_interval, "send a ping this often (0: never)");
  add_duration_option(app, "--ping-timeout", options->ping_timeout, "close when a ping is unanswered this long");
  app.add_flag("--reconnect", options->reconnect, "reconnect when the connection drops, with backoff");
  add_duration_option(app, "--reconnect-max-delay", options->reconnect_max_delay, "longest wait between attempts");
  app.add_option("--reconnect-max-attempts", options->reconnect_max_attempts,
                 "give up after N failed attempts in a row (0: never)")
      ->type_name("N")
      ->transform(decimal_count())
      ->capture_default_str();
  app.add_option("--queue-limit", options->queue_limit, "messages waiting to be sent at most; then reading pauses")
      ->type_name("N")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100'000'000}))
      ->capture_default_str();
  add_size_option(app, "--max-message-size", options->max_message_size, "largest message accepted");
  app.add_option("--record", options->record_file,
                 "write the session to FILE in the session log format (wstool-session(5)), secrets redacted")
      ->type_name("FILE");
  app.add_flag("--keep-secrets", options->keep_secrets,
               "with --record: write Authorization, Cookie and ?token= values into the log instead of [redacted]");
  app.add_flag("-L,--location", options->follow_redirects,
               "follow redirects (301, 302, 303, 307, 308); credentials only to the same origin");
  app.add_option("--max-redirects", options->max_redirects, "follow at most N redirects with -L")
      ->type_name("N")
      ->transform(decimal_count())
      ->capture_default_str();
  app.add_flag("-v,--verbose", options->verbose, "say on stderr when connected and what was negotiated");
  return [options, &app, expect, expect_json]() -> ExitCode {
    // --expect and --expect-json in command-line order, interleaved.
    ExpectationList expectations;
    std::size_t next_regex = 0;
    std::size_t next_json = 0;
    for (const CLI::Option* option : app.parse_order()) {
      std::string error;
      std::optional<Expectation> parsed;
      if (option == expect && next_regex < options->expect_regex.size()) {
        parsed = parse_regex_expectation(options->expect_regex[next_regex++], error);
        if (!parsed) return fail("--expect: " + error, ExitCode::kUsage);
      } else if (option == expect_json && next_json < options->expect_json.size()) {
        parsed = parse_json_expectation(options->expect_json[next_json++], error);
        if (!parsed) return fail("--expect-json: " + error, ExitCode::kUsage);
      } else {
        continue;
      }
      expectations.add(std::move(*parsed));
    }
    return run_connect(*options, expectations);
  };
}

}  // namespace wstool::tools
