// wstool record: a WebSocket-aware recording proxy. Clients connect to it as to the server; it
// opens the upstream first, relays frame for frame (fragmentation, pings and close codes kept),
// writes the session log (man/wstool-session.5) and shows each frame live on stdout.
#include <fmt/format.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <mutex>
#include <optional>

#include "lib/ascii.h"
#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/fd_limit.h"
#include "lib/frame_filter.h"
#include "lib/har.h"
#include "lib/json_limits.h"
#include "lib/listen_address.h"
#include "lib/redact.h"
#include "lib/session_log.h"
#include "lib/units.h"
#include "lib/utf8.h"
#include "lib/ws_url.h"
#include "tools/common_options.h"
#include "tools/message_format.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::uint16_t kDefaultRecordPort = 9002;
constexpr std::uint64_t kDefaultMaxConnections = 1000;
constexpr std::uint64_t kDefaultPreviewBytes = 80;
// The client's handshake may wait this much longer than the upstream's connect timeout, so the
// proxy answers 504 itself before its own handshake timeout cuts the client off.
constexpr milliseconds kHandshakeMargin{2000};

struct RecordOptions {
  ServerOptions server{ListenAddress{std::string(kDefaultListenHost), kDefaultRecordPort},
                       1,
                       kDefaultMaxConnections,
                       ws::kDefaultMaxMessageBytes,
                       ws::kDefaultMaxHeaderBytes,
                       ws::kDefaultMaxSendQueueBytes,
                       std::chrono::seconds(10)};
  std::string upstream;
  std::string output;
  ClientOptions client;  // the upstream side
  bool rewrite_host = false;
  bool keep_secrets = false;
  bool quiet = false;
  bool no_client_compress = false;
  std::string filter;
  std::uint64_t preview_bytes = kDefaultPreviewBytes;
  ColorMode color = ColorMode::kAuto;
  std::string convert;
  // How long a side's close waits for the other side's answer (held, RFC 6455 5.5.1), and for
  // the closing handshake on each side.
  std::chrono::nanoseconds close_timeout = std::chrono::seconds(5);
};

// Request headers a proxy must not copy to its upstream: the engine writes its own handshake
// (key, version, extensions, subprotocols), and hop-by-hop fields end at the proxy (RFC 9110
// 7.6.1). Host and Origin are copied unless --rewrite-host / --origin say otherwise.
bool is_hop_header(std::string_view name) {
  static constexpr std::string_view kDropped[] = {
      "Upgrade",  "Connection",        "Sec-WebSocket-Key", "Sec-WebSocket-Version",
      "Sec-WebSocket-Extensions", "Sec-WebSocket-Protocol", "Keep-Alive", "Proxy-Connection",
      "Proxy-Authorization", "TE", "Trailer", "Transfer-Encoding", "Content-Length"};
  for (std::string_view dropped : kDropped) {
    if (ascii_iequals(name, dropped)) return true;
  }
  return false;
}

// Headers of the upstream's refusal worth relaying to the client (framing headers are ours).
bool is_relayed_refusal_header(std::string_view name) {
  return !ascii_iequals(name, "Content-Length") && !ascii_iequals(name, "Connection") &&
         !ascii_iequals(name, "Transfer-Encoding") && !ascii_iequals(name, "Keep-Alive");
}

std::string log_file_name_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  char buffer[64];
  std::strftime(buffer, sizeof buffer, "wstool-%Y%m%d-%H%M%S.jsonl", &tm);
  return buffer;
}

std::string hex_preview(std::string_view bytes, std::size_t max_bytes) {
  std::string out;
  const std::size_t shown = std::min(bytes.size(), max_bytes);
  out.reserve(shown * 3);
  for (std::size_t i = 0; i < shown; ++i) {
    if (i > 0) out += ' ';
    out += fmt::format("{:02x}", static_cast<unsigned char>(bytes[i]));
  }
  if (shown < bytes.size()) out += " …";
  return out;
}

// The payload shown after a frame's header: compact JSON when it is JSON, else the text made
// safe for a terminal, binary in hex; cut to `max_bytes`.
std::string payload_preview(std::uint8_t opcode, bool text_message, std::string_view payload, std::size_t max_bytes) {
  if (payload.empty()) return {};
  if (opcode == ws::opcode::kClose && payload.size() >= 2) {
    // The code as a number, the reason as text: "1000 bye".
    const session::ClosePayload close = session::parse_close_frame_payload(payload);
    const std::string reason = is_valid_utf8(close.reason.data(), close.reason.size())
                                   ? terminal_safe(truncate_for_display(close.reason, max_bytes))
                                   : hex_preview(close.reason, max_bytes);
    return reason.empty() ? std::to_string(close.code) : fmt::format("{} {}", close.code, reason);
  }
  const bool textual = is_valid_utf8(payload.data(), payload.size()) &&
                       (text_message || ws::is_control_opcode(opcode));
  if (!textual) return hex_preview(payload, max_bytes);
  std::string shown;
  const char first = payload.front();
  if (first == '{' || first == '[') {
    nlohmann::json json;
    if (!parse_untrusted_json(payload, json)) {
      shown = json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
  }
  if (shown.empty()) shown.assign(payload);
  for (char& c : shown) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  return terminal_safe(truncate_for_display(shown, max_bytes));
}

// What every pair shares: the log, the live view, the upstream settings.
struct Recorder;

// One client and its upstream. Lives on one worker thread; freed once both sides are done.
// It is the upstream connection's handler.
struct Pair final : ws::ConnectionHandler {
  Pair(Recorder& r, std::shared_ptr<ws::PendingUpgrade> p, std::uint64_t pair_id)
      : rec(r), pending(std::move(p)), id(pair_id) {}

  void on_open(ws::Connection& conn) override;
  void on_message(ws::Connection&, std::uint8_t, const std::uint8_t*, std::size_t) override {}
  void on_data_frame(ws::Connection& conn, const ws::DataFrame& frame) override;
  void on_ping(ws::Connection& conn, std::string_view payload) override;
  void on_pong(ws::Connection& conn, std::string_view payload) override;
  void on_invalid_frame(ws::Connection& conn, const ws::InvalidFrame& frame) override;
  void on_close_frame(ws::Connection& conn, std::uint16_t code, std::string_view reason) override;
  void on_close(ws::Connection& conn, const ws::CloseEvent& event) override;
  void upstream_done(const ws::ClientResult& result);
  // A close frame from the client (`from_client`) or the upstream: the first, or the answer.
  void close_frame(bool from_client, std::uint16_t code, std::string_view reason) {
    if (!first_code) {
      (from_client ? client_closed_first : upstream_closed_first) = true;
      first_code = code;
      first_reason.assign(reason);
    } else if (from_client == upstream_closed_first && !reply_code) {
      reply_code = code;
      reply_reason.assign(reason);
    }
  }
  void maybe_free() {
    if (down_done && up_done) delete this;
  }

  Recorder& rec;
  std::shared_ptr<ws::PendingUpgrade> pending;
  std::uint64_t id;
  std::string url;  // as the client asked for it, on the proxy
  ws::Connection* down = nullptr;  // the client's connection, while open
  ws::Connection* up = nullptr;    // the upstream connection, while open
  bool down_done = false;
  bool up_done = false;
  bool upstream_closed_first = false;  // whose close frame came first, for the close record
  bool client_closed_first = false;
  // The first close frame (either side's) and the other side's answer to it, once they came.
  std::optional<std::uint16_t> first_code;
  std::string first_reason;
  std::optional<std::uint16_t> reply_code;
  std::string reply_reason;
  // Per side (0: the client, 1: the upstream): the proxy closed it on its own (the other side
  // vanished or broke the protocol), so that side's close frame answers the proxy, not a peer.
  bool proxy_closed[2] = {false, false};
  // The upstream's connection ended without a close frame and without a closing handshake under
  // way: the log says so (1006), not the 1014 the proxy closes the client with in its place.
  bool upstream_dropped = false;
  bool text_message[2] = {false, false};  // per direction: the message in progress is text
  bool unfinished[2] = {false, false};    // per direction: a message's final frame has not come
};

struct Recorder final : ws::ConnectionHandler {
  Recorder(const RecordOptions& o, ws::WsUrl u, Logger& l) : options(o), upstream(std::move(u)), log(l) {}

  // --- the client side (the proxy's server connections) ---
  void on_upgrade_deferred(std::shared_ptr<ws::PendingUpgrade> pending) override;
  void on_open(ws::Connection& conn) override;
  void on_message(ws::Connection&, std::uint8_t, const std::uint8_t*, std::size_t) override {}
  void on_data_frame(ws::Connection& conn, const ws::DataFrame& frame) override {
    Pair* pair = static_cast<Pair*>(conn.user_data());
    if (pair == nullptr) return;
    relay(*pair, true, frame, pair->up);
  }
  void on_ping(ws::Connection& conn, std::string_view payload) override {
    Pair* pair = static_cast<Pair*>(conn.user_data());
    if (pair == nullptr) return;
    if (pair->up != nullptr) pair->up->ping(payload);
    control(*pair, true, ws::opcode::kPing, payload);
  }
  void on_pong(ws::Connection& conn, std::string_view payload) override {
    Pair* pair = static_cast<Pair*>(conn.user_data());
    if (pair == nullptr) return;
    if (pair->up != nullptr) pair->up->pong(payload);
    control(*pair, true, ws::opcode::kPong, payload);
  }
  void on_invalid_frame(ws::Connection& conn, const ws::InvalidFrame& frame) override {
    Pair* pair = static_cast<Pair*>(conn.user_data());
    if (pair == nullptr) return;
    pair->proxy_closed[0] = true;  // the engine fails the client's side with its own close
    invalid(*pair, true, frame);
  }
  void on_close_frame(ws::Connection& conn, std::uint16_t code, std::string_view reason) override {
    Pair* pair = static_cast<Pair*>(conn.user_data());
    if (pair == nullptr) return;
    const bool answer = pair->first_code.has_value();
    // The client answering the proxy's own 1001 (a signal came): relayed upstream as the proxy's
    // close, so the upstream's answer is not a close the upstream began either.
    if (!answer && shutting_down.load(std::memory_order_relaxed)) pair->proxy_closed[1] = true;
    pair->close_frame(true, code, reason);
    record_close_frame(*pair, true, answer, code, reason);
    // At once, not when the client's TCP ends: the upstream's close when the client began
    // (the client's reply is held until the upstream answers), else the upstream's held reply.
    if (pair->up != nullptr) pair->up->close(code, reason);
  }
  void on_close(ws::Connection& conn, const ws::CloseEvent& event) override;

  // --- shared by both directions ---
  void relay(Pair& pair, bool from_client, const ws::DataFrame& frame, ws::Connection* to) {
    bool& text = pair.text_message[from_client ? 0 : 1];
    if (frame.opcode != ws::opcode::kContinuation) text = frame.opcode == ws::opcode::kText;
    pair.unfinished[from_client ? 0 : 1] = !frame.fin;
    const std::string_view payload(reinterpret_cast<const char*>(frame.data), frame.size);
    // Relayed first (the engine writes it to the socket at once), logged after: formatting and
    // writing the log line stays off the relayed frame's latency.
    if (to != nullptr) to->send_frame(frame.opcode, frame.fin, frame.data, frame.size);
    record_frame(pair.id, from_client, frame.opcode, frame.fin, frame.rsv, frame.compressed, payload, text);
  }
  void control(Pair& pair, bool from_client, std::uint8_t opcode, std::string_view payload) {
    record_frame(pair.id, from_client, opcode, true, 0, false, payload, false);
  }
  // A side's close frame, logged where it came among that side's frames (session log 1.3): a
  // replay sends the client's close there. What the proxy sends for want of an answer is not a
  // peer's frame; the close record tells of it.
  // `answer`: the other side's close came first (relayed). A frame answering a close the proxy
  // sent on its own (a side vanished, the proxy shuts down) is left out: it would read as that
  // side beginning to close.
  void record_close_frame(Pair& pair, bool from_client, bool answer, std::uint16_t code, std::string_view reason) {
    if (pair.proxy_closed[from_client ? 0 : 1]) return;
    if (!answer && shutting_down.load(std::memory_order_relaxed)) return;
    const std::string payload = session::close_frame_payload(code, reason);
    record_frame(pair.id, from_client, ws::opcode::kClose, true, 0, false, payload, false);
  }
  // A frame that broke the protocol: logged as it came (what had arrived of it), then the engine
  // fails that side's connection and the close is relayed and logged as for any close.
  void invalid(Pair& pair, bool from_client, const ws::InvalidFrame& frame) {
    const std::string_view payload(reinterpret_cast<const char*>(frame.data), frame.size);
    const bool text = frame.header.opcode == ws::opcode::kText ||
                      (frame.header.opcode == ws::opcode::kContinuation && pair.text_message[from_client ? 0 : 1]);
    record_frame(pair.id, from_client, frame.header.opcode, frame.header.fin, frame.header.rsv,
                 (frame.header.rsv & ws::kRsv1) != 0, payload, text, frame.why);
  }

  // A client whose handshake was refused (session log 1.4): the upstream's answer as it came
  // (`upstream_answer`), or the proxy's own 502 or 504 when there was none.
  void record_refused(const Pair& pair, const ws::Rejection& rejection, const ws::UpgradeResponse* upstream_answer) {
    if (!writer) return;
    session::RefusedRecord record;
    record.conn = pair.id;
    record.t_us = writer->now_us();
    record.by = upstream_answer != nullptr ? session::Refuser::kServer : session::Refuser::kProxy;
    record.url = pair.url;
    record.request = pair.pending->request().headers;
    record.status = rejection.status;
    record.reason = rejection.reason;
    record.response = upstream_answer != nullptr ? upstream_answer->headers : rejection.headers;
    record.body = rejection.body;
    if (upstream_answer != nullptr) {
      record.body_length = session::declared_body_length(upstream_answer->headers, rejection.body.size());
    }
    writer->write(record);
  }

  void record_frame(std::uint64_t conn, bool from_client, std::uint8_t opcode, bool fin, std::uint8_t rsv,
                    bool compressed, std::string_view payload, bool text_message, std::string_view invalid = {}) {
    frames.fetch_add(1, std::memory_order_relaxed);
    if (writer) {
      // By reference: the line is formatted from the engine's buffer, no copy of the payload.
      session::FrameRef record;
      record.conn = conn;
      record.t_us = writer->now_us();
      record.dir = from_client ? session::Direction::kClient : session::Direction::kServer;
      record.opcode = opcode;
      record.fin = fin;
      record.rsv = rsv;
      record.compressed = compressed;
      record.payload = payload;
      record.invalid = invalid;
      writer->write(record);
    }
    if (options.quiet) return;
    if (filter && !filter->matches(FilterSubject{conn, from_client, opcode, payload})) return;
    std::string line = fmt::format("{} #{} {} {}{}{}{} {}", clock_time_now(), conn,
                                   paint(from_client ? "→" : "←", from_client ? kGreen : kCyan),
                                   paint(std::string(ws::opcode_name(opcode)), kBold), fin ? "" : " (more)",
                                   compressed ? " deflate" : "", rsv_note(rsv, compressed), payload.size());
    if (!invalid.empty()) line += " " + paint(fmt::format("INVALID ({})", invalid), kRed);
    const std::string preview = payload_preview(opcode, text_message, payload, static_cast<std::size_t>(options.preview_bytes));
    if (!preview.empty()) line += " " + preview;
    print_line(line);
  }

  void note(std::uint64_t conn, const std::string& text) {
    if (options.quiet) return;
    if (filter && !filter->may_match_connection(conn)) return;
    print_line(fmt::format("{} #{} {}", clock_time_now(), conn, paint(text, kDim)));
  }

  void print_line(const std::string& line) {
    std::lock_guard<std::mutex> lock(stdout_mutex);
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);  // a live view, read by people and pipes as it happens
  }

  static constexpr std::string_view kGreen = "32";
  static constexpr std::string_view kCyan = "36";
  static constexpr std::string_view kRed = "31";
  static constexpr std::string_view kBold = "1";
  static constexpr std::string_view kDim = "2";
  std::string paint(const std::string& text, std::string_view sgr) const {
    if (!color) return text;
    return fmt::format("\x1b[{}m{}\x1b[0m", sgr, text);
  }
  // RSV bits beyond the compression bit are worth seeing (an extension, or a peer's bug).
  static std::string rsv_note(std::uint8_t rsv, bool compressed) {
    const std::uint8_t odd = compressed ? static_cast<std::uint8_t>(rsv & ~ws::kRsv1) : rsv;
    if (odd == 0) return {};
    return fmt::format(" rsv={}{}{}", (rsv & ws::kRsv1) ? 1 : 0, (rsv & ws::kRsv2) ? 1 : 0, (rsv & ws::kRsv3) ? 1 : 0);
  }

  ws::ClientConfig upstream_config(const ws::UpgradeRequest& request) const;

  const RecordOptions& options;
  ws::WsUrl upstream;
  Logger& log;
  ws::Server* server = nullptr;
  std::unique_ptr<session::SessionWriter> writer;
  std::optional<FrameFilter> filter;
  bool color = false;
  std::mutex stdout_mutex;
  std::atomic<std::uint64_t> frames{0};
  std::atomic<bool> shutting_down{false};  // a signal came: the proxy closes every side with 1001
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> next_pair_id{0};
};

// The pair whose client is being accepted: PendingUpgrade::accept calls on_open synchronously,
// on this thread, and on_open needs to find its pair.
thread_local Pair* t_accepting = nullptr;

ws::ClientConfig Recorder::upstream_config(const ws::UpgradeRequest& request) const {
  ws::ClientConfig config;
  ws::WsUrl url = upstream;
  // The client's path and query go upstream unless --upstream names a path of its own.
  if (url.target == "/") url.target = request.target.empty() ? "/" : request.target;
  config.url = ws::to_string(url);
  for (const ws::HttpHeader& header : request.headers) {
    if (is_hop_header(header.name)) continue;
    if (ascii_iequals(header.name, "Host") && options.rewrite_host) continue;
    config.headers.push_back(header);
  }
  // The shared client options (--origin, --bearer, -H) replace what the client sent.
  for (const ws::HttpHeader& extra : extra_request_headers(options.client)) {
    config.headers.erase(std::remove_if(config.headers.begin(), config.headers.end(),
                                        [&](const ws::HttpHeader& h) { return ascii_iequals(h.name, extra.name); }),
                         config.headers.end());
    config.headers.push_back(extra);
  }
  config.subprotocols = ws::requested_subprotocols(request);
  if (config.subprotocols.empty()) config.subprotocols = options.client.subprotocols;
  config.proxy = effective_proxy(options.client, url, [](const char* name) { return std::getenv(name); });
  config.connect_timeout = duration_cast<milliseconds>(options.client.connect_timeout);
  config.limits.max_message_bytes = static_cast<std::size_t>(options.server.max_message_size);
  config.limits.max_send_queue_bytes = static_cast<std::size_t>(options.server.max_send_queue);
  config.deflate.enabled = options.client.compress;
  config.ca_file = options.client.ca_file;
  config.insecure = options.client.insecure;
  config.cert_file = options.client.cert_file;
  config.key_file = options.client.key_file;
  config.key_passphrase = options.client.key_passphrase;
  config.deliver_frames = true;
  // What the upstream sends after the client's close, and the client after the upstream's, is
  // relayed and logged: each side's close reply waits for the other side's close.
  config.deliver_after_close = true;
  config.hold_close_reply = true;
  config.limits.close_timeout = duration_cast<milliseconds>(options.close_timeout);
  return config;
}

void Recorder::on_upgrade_deferred(std::shared_ptr<ws::PendingUpgrade> pending) {
  // The proxy numbers its own pairs: the engine's ids count upstream connections too.
  auto* pair = new Pair(*this, pending, next_pair_id.fetch_add(1, std::memory_order_relaxed) + 1);
  const ws::UpgradeRequest& request = pending->request();
  pair->url = "ws://" + header_value(request.headers, "Host") + request.target;
  pending->on_abandoned([pair](const std::string& why) {
    pair->down_done = true;
    pair->rec.note(pair->id, "client left before the upstream answered: " + why);
    if (pair->up != nullptr) {
      pair->proxy_closed[1] = true;
      pair->up->close(ws::close_code::kGoingAway, "client went away");
    }
    pair->maybe_free();
  });
  server->connect(pending->worker(), upstream_config(request), *pair,
                  [pair](const ws::ClientResult& result) { pair->upstream_done(result); });
}

void Recorder::on_open(ws::Connection& conn) {
  Pair* pair = t_accepting;
  if (pair == nullptr) return;
  conn.set_user_data(pair);
  pair->down = &conn;
  connections.fetch_add(1, std::memory_order_relaxed);
  if (writer) {
    session::OpenRecord record;
    record.conn = pair->id;
    record.t_us = writer->now_us();
    record.url = pair->url;
    record.subprotocol = conn.subprotocol();
    record.extensions = conn.extensions();
    record.request = pair->pending->request().headers;
    if (!conn.subprotocol().empty()) record.response.push_back({"Sec-WebSocket-Protocol", conn.subprotocol()});
    if (!conn.extensions().empty()) record.response.push_back({"Sec-WebSocket-Extensions", conn.extensions()});
    writer->write(record);
  }
  // The screen never shows secrets (--keep-secrets is about the log).
  note(pair->id, fmt::format("open {} from {}{}{}", redact_url(pair->url), conn.remote_address(),
                             conn.subprotocol().empty() ? "" : " subprotocol " + conn.subprotocol(),
                             conn.extensions().empty() && pair->up->extensions().empty()
                                 ? ""
                                 : fmt::format(" [client: {}; upstream: {}]",
                                               conn.extensions().empty() ? "none" : conn.extensions(),
                                               pair->up->extensions().empty() ? "none" : pair->up->extensions())));
}

// The code to pass on for how one side ended: its close code, the code we failed it with, or
// `lost` when it vanished without a close frame.
std::uint16_t relay_code(const ws::CloseEvent& event, std::uint16_t lost) {
  if (event.we_failed && event.sent_code != ws::close_code::kNoStatus) return event.sent_code;
  if (event.code == ws::close_code::kAbnormal) return lost;
  return event.code;
}

std::string describe(const ws::CloseEvent& event) {
  std::string text = event.code == ws::close_code::kAbnormal ? std::string("1006 (no close frame)")
                                                              : std::to_string(event.code);
  if (!event.reason.empty()) text += fmt::format(" \"{}\"", event.reason);
  if (event.we_failed) text += fmt::format(", failed by the proxy with {}", event.sent_code);
  if (!event.error.empty()) text += ": " + event.error;
  return text;
}

void Recorder::on_close(ws::Connection& conn, const ws::CloseEvent& event) {
  Pair* pair = static_cast<Pair*>(conn.user_data());
  if (pair == nullptr) return;
  conn.set_user_data(nullptr);
  pair->down = nullptr;
  pair->down_done = true;
  if (writer) {
    session::CloseRecord record;
    record.conn = pair->id;
    record.t_us = writer->now_us();
    record.code = pair->first_code ? *pair->first_code : event.we_failed ? event.sent_code : event.code;
    record.reason = pair->first_code ? pair->first_reason : event.reason;
    record.reply_code = pair->reply_code;
    record.reply_reason = pair->reply_reason;
    record.by = pair->upstream_closed_first ? session::Closer::kServer
                : event.by_peer || event.we_failed || event.code == ws::close_code::kAbnormal
                    ? session::Closer::kClient
                    : session::Closer::kNone;
    // Clean when both closing handshakes completed: the first close was answered by the other
    // side, not by the proxy for want of an answer.
    record.clean = event.clean && (!pair->first_code || pair->reply_code.has_value());
    if (pair->upstream_dropped) {
      // What the upstream did; a replay then expects the server to drop again. The client's close
      // frame only answered the proxy's 1014.
      record.code = ws::close_code::kAbnormal;
      record.reason.clear();
      record.reply_code.reset();
      record.reply_reason.clear();
      record.by = session::Closer::kServer;
      record.clean = false;
    }
    writer->write(record);
  }
  note(pair->id, "client closed: " + describe(event));
  // Its frames are in the log (fin false); said here too, as nothing else would show it.
  if (pair->unfinished[0]) note(pair->id, "the client left a message unfinished (no final frame)");
  if (pair->unfinished[1]) note(pair->id, "the upstream left a message unfinished (no final frame)");
  if (event.reply_timed_out) {
    note(pair->id, fmt::format("the upstream did not answer the client's close within {}: the proxy answered it",
                               format_duration(options.close_timeout)));
  }
  if (pair->up != nullptr) {
    if (pair->upstream_closed_first && pair->first_code && !pair->reply_code) {
      // The client never answered the upstream's close: the upstream's held reply echoes it.
      pair->up->close(*pair->first_code, {});
    } else {
      const std::uint16_t code = relay_code(event, ws::close_code::kGoingAway);
      if (!pair->first_code) pair->proxy_closed[1] = true;  // the client left without a close frame
      pair->up->close(code, event.we_failed ? std::string_view("client broke the protocol") : event.reason);
    }
  }
  pair->maybe_free();
}

void Pair::on_open(ws::Connection& conn) {
  up = &conn;
  if (down_done) {  // the client left while the upstream was opening
    proxy_closed[1] = true;
    conn.close(ws::close_code::kGoingAway, "client went away");
    return;
  }
  t_accepting = this;
  pending->accept(conn.subprotocol());
  t_accepting = nullptr;
}

void Pair::on_data_frame(ws::Connection&, const ws::DataFrame& frame) { rec.relay(*this, false, frame, down); }

void Pair::on_ping(ws::Connection&, std::string_view payload) {
  if (down != nullptr) down->ping(payload);
  rec.control(*this, false, ws::opcode::kPing, payload);
}

void Pair::on_pong(ws::Connection&, std::string_view payload) {
  if (down != nullptr) down->pong(payload);
  rec.control(*this, false, ws::opcode::kPong, payload);
}

void Pair::on_invalid_frame(ws::Connection&, const ws::InvalidFrame& frame) {
  proxy_closed[1] = true;  // the engine fails the upstream's side with its own close
  rec.invalid(*this, false, frame);
}

void Pair::on_close_frame(ws::Connection&, std::uint16_t code, std::string_view reason) {
  const bool answer = first_code.has_value();
  close_frame(false, code, reason);
  rec.record_close_frame(*this, false, answer, code, reason);
  // The client's close when the upstream began, else the client's held reply: everything the
  // upstream sent after the client's close has been relayed before it.
  if (down != nullptr) down->close(code, reason);
}

void Pair::on_close(ws::Connection&, const ws::CloseEvent& event) {
  up = nullptr;
  rec.note(id, "upstream closed: " + describe(event));
  if (down != nullptr) {
    if (client_closed_first && !reply_code) {
      // The upstream ended without answering the client's close (no answer within the close
      // timeout, or a drop): the client's held reply echoes its own code, as a server's would.
      rec.note(id, "the upstream ended without answering the client's close: the proxy answered it");
      down->close(*first_code, first_reason);
      return;
    }
    if (!client_closed_first) upstream_closed_first = true;
    if (!first_code) {
      proxy_closed[0] = true;  // the upstream left without a close frame
      upstream_dropped = event.code == ws::close_code::kAbnormal && !event.we_failed;
    }
    // A drop without a close frame is the gateway's failure: 1014 (RFC 6455 7.4.1, IANA).
    const std::uint16_t code = relay_code(event, ws::close_code::kBadGateway);
    down->close(code, code == ws::close_code::kBadGateway && event.code == ws::close_code::kAbnormal
                          ? std::string_view("upstream connection lost")
                          : std::string_view(event.reason));
  }
}

void Pair::upstream_done(const ws::ClientResult& result) {
  up = nullptr;
  up_done = true;
  if (!result.opened && !down_done) {
    ws::Rejection rejection;
    if (result.response.status != 0 && result.response.status != 101) {
      // The upstream refused: its answer goes to the client as it came.
      rejection.status = result.response.status;
      rejection.reason = result.response.reason;
      for (const ws::HttpHeader& h : result.response.headers) {
        if (is_relayed_refusal_header(h.name)) rejection.headers.push_back(h);
      }
      rejection.body = result.response.body;
    } else if (result.error.code == Errc::kTimeout) {
      rejection.status = 504;
      rejection.reason = "Gateway Timeout";
      rejection.body = "upstream " + ws::to_string(rec.upstream) + ": " + result.error.message + "\n";
    } else {
      rejection.status = 502;
      rejection.reason = "Bad Gateway";
      rejection.body = "upstream " + ws::to_string(rec.upstream) + ": " + result.error.message + "\n";
    }
    rec.note(id, fmt::format("refused with {}: {}", rejection.status, result.error.message));
    const bool answered = result.response.status != 0 && result.response.status != 101;
    rec.record_refused(*this, rejection, answered ? &result.response : nullptr);
    pending->reject(rejection);
    down_done = true;  // a refused client never opens
  }
  maybe_free();
}

ExitCode run_record(const RecordOptions& options) {
  StderrLog log("wsrecord", LogLevel::kWarning);
  ws::WsUrl upstream;
  std::string url_error;
  if (!ws::parse_ws_url(options.upstream, upstream, url_error)) {
    fmt::print(stderr, "wsrecord: error: --upstream {}: {}\n", options.upstream, url_error);
    return ExitCode::kUsage;
  }
  Recorder recorder(options, upstream, log);
  if (!options.filter.empty()) {
    std::string filter_error;
    recorder.filter = FrameFilter::parse(options.filter, filter_error);
    if (!recorder.filter) {
      fmt::print(stderr, "wsrecord: error: --filter: {}\n", filter_error);
      return ExitCode::kUsage;
    }
  }
  recorder.color = color_enabled(options.color, isatty(STDOUT_FILENO) == 1, std::getenv("NO_COLOR"));
  std::string fd_error;
  raise_fd_limit(&fd_error);
  if (!fd_error.empty()) log.log(LogLevel::kWarning, fd_error);

  ws::ServerConfig config;
  apply_server_options(options.server, config);
  config.limits.max_message_bytes = static_cast<std::size_t>(options.server.max_message_size);
  config.limits.max_send_queue_bytes = static_cast<std::size_t>(options.server.max_send_queue);
  config.handshake_timeout = std::max(config.handshake_timeout,
                                      duration_cast<milliseconds>(options.client.connect_timeout) + kHandshakeMargin);
  config.deflate.enabled = !options.no_client_compress;
  config.deliver_frames = true;
  config.deliver_after_close = true;
  config.hold_close_reply = true;
  config.limits.close_timeout = duration_cast<milliseconds>(options.close_timeout);
  config.defer_upgrades = true;
  ws::Server server(config, recorder, log);
  recorder.server = &server;
  if (Error error = server.listen()) {
    fmt::print(stderr, "wsrecord: error: {}\n", error.message);
    return exit_code_for(error.code);
  }

  const std::string path = options.output.empty() ? log_file_name_now() : options.output;
  session::WriterOptions writer_options;
  writer_options.keep_secrets = options.keep_secrets;
  writer_options.on_first_full_wait = [](const std::string& warning) {
    fmt::print(stderr, "wsrecord: warning: {}\n", warning);
  };
  Error open_error;
  recorder.writer = session::SessionWriter::open(path, "record", writer_options, open_error);
  if (!recorder.writer) {
    fmt::print(stderr, "wsrecord: error: {}\n", open_error.message);
    return exit_code_for(open_error.code == Errc::kOk ? Errc::kCannotCreateOutput : open_error.code);
  }
  if (options.output.empty()) fmt::print(stderr, "wsrecord: recording to {}\n", path);

  ShutdownSignals signals([&server, &recorder](int) {
    recorder.shutting_down.store(true, std::memory_order_relaxed);
    server.shutdown(ws::close_code::kGoingAway);
  });
  fmt::print("{}\n", readiness_line(server.tls(), server.address(), server.port()));
  std::fflush(stdout);
  server.run();
  // Drains the writer's queue: records relayed just before the signal are in the file.
  recorder.writer->close();
  // Backpressure is never silent loss (man/wstool-record.1, LOG WRITING): say when it happened.
  const std::string note = session::describe_stats(recorder.writer->stats());
  if (Error write_error = recorder.writer->error()) {
    fmt::print(stderr, "wsrecord: error: {}{}\n", write_error.message, note.empty() ? "" : " (" + note + ")");
    return exit_code_for(write_error.code);
  }
  if (!note.empty()) fmt::print(stderr, "wsrecord: warning: {}\n", note);
  return ExitCode::kOk;
}

}  // namespace

Runner make_record(CLI::App& app) {
  auto options = std::make_shared<RecordOptions>();
  app.description(
      "A WebSocket-aware recording proxy: clients connect to it as to the server at --upstream; "
      "it relays every frame both ways (fragmentation, pings and close codes kept), writes a "
      "session log for replay, and shows each frame live on stdout.");
  add_server_options(app, options->server);
  // Not the CPUs as for echo and serve: RecordOptions starts with one thread.
  app.get_option("--threads")->description("event-loop threads (default: 1; a client and its upstream share one)");
  app.add_option("--upstream", options->upstream, "the server to relay to (ws:// or wss:// URL)");
  app.add_option("-o,--output", options->output,
                 "the session log to write (default: wstool-YYYYmmdd-HHMMSS.jsonl here)");
  add_client_options(app, options->client);
  app.add_flag("--rewrite-host", options->rewrite_host,
               "send the upstream's own Host header instead of the client's");
  app.add_flag("--no-client-compress", options->no_client_compress,
               "decline permessage-deflate on the client side (--no-compress is the upstream side)");
  app.add_flag("--keep-secrets", options->keep_secrets,
               "log Authorization, Cookie and tokens as they are instead of redacted");
  app.add_option("--filter", options->filter, "which frames to show live (see FILTERS in the man page)");
  add_size_option(app, "--preview", options->preview_bytes, "payload bytes shown per frame");
  add_color_option(app, options->color);
  add_duration_option(app, "--close-timeout", options->close_timeout,
                      "how long one side's close waits for the other side's answer, and each closing handshake");
  app.add_flag("-q,--quiet", options->quiet, "no live view: write the log only");
  app.add_option("--convert", options->convert,
                 "convert IN to -o OUT between a session log and a HAR file (format by extension), then exit");
  return [options]() -> ExitCode {
    if (!options->convert.empty()) {
      if (options->output.empty()) {
        fmt::print(stderr, "wsrecord: error: --convert IN needs -o OUT\n");
        return ExitCode::kUsage;
      }
      std::vector<std::string> warnings;
      const Error error =
          har::convert_session_file(options->convert, options->output, &warnings, options->keep_secrets);
      for (const std::string& warning : warnings) fmt::print(stderr, "wsrecord: warning: {}\n", warning);
      if (error) {
        fmt::print(stderr, "wsrecord: error: {}\n", error.message);
        return exit_code_for(error.code);
      }
      return ExitCode::kOk;
    }
    if (options->upstream.empty()) {
      fmt::print(stderr, "wsrecord: error: --upstream URL is required\n");
      return ExitCode::kUsage;
    }
    return run_record(*options);
  };
}

}  // namespace wstool::tools
