// The connection engine: WebSocket servers and clients on standalone Asio, plain and TLS, one
// implementation for every subcommand. Asio stays inside engine.cpp; callers see connections,
// handlers and configuration only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lib/error.h"
#include "lib/frame.h"
#include "lib/handshake.h"
#include "lib/logger.h"
#include "lib/permessage_deflate.h"
#include "lib/session.h"

namespace wstool::ws {

constexpr std::size_t kDefaultMaxMessageBytes = std::size_t{16} << 20;
constexpr std::size_t kDefaultMaxSendQueueBytes = std::size_t{64} << 20;

// How a connection ended.
struct CloseEvent {
  std::uint16_t code = close_code::kAbnormal;  // the peer's close code; kAbnormal: no close frame
  std::string reason;                          // the peer's close reason
  std::uint16_t sent_code = close_code::kNoStatus;  // the code we sent, if we sent a close frame
  bool clean = false;    // close frames went both ways before the TCP connection closed
  bool by_peer = false;  // the peer started the closing handshake
  bool we_failed = false;  // we failed the connection (the peer broke a rule, or a limit)
  // hold_close_reply: the handler had not answered the peer's close within the close timeout,
  // so the engine did (echoing the peer's code).
  bool reply_timed_out = false;
  std::string error;     // why it was not clean, for people
};

// A data message encoded once and sent to many connections (a broadcast, a room message): the
// payload is shared, and its frame is built once, not once per receiver. Immutable, so one
// instance may be sent from several threads at once.
class SharedMessage {
 public:
  SharedMessage(std::uint8_t opcode, std::string payload);
  std::uint8_t opcode() const { return opcode_; }
  std::string_view payload() const {
    return std::string_view(frame_).substr(header_bytes_);
  }
  // The whole unmasked, uncompressed frame (what a server sends without compression).
  const std::string& frame() const { return frame_; }
  std::size_t header_bytes() const { return header_bytes_; }

 private:
  std::uint8_t opcode_;
  std::size_t header_bytes_;
  std::string frame_;
};
using SharedMessagePtr = std::shared_ptr<const SharedMessage>;

// A connection as handlers see it. Methods must be called on the connection's own thread
// (inside a handler callback); they queue output and return at once.
class Connection {
 public:
  virtual ~Connection() = default;
  virtual std::uint64_t id() const = 0;
  virtual const std::string& remote_address() const = 0;  // "127.0.0.1:54321", "[::1]:80"
  virtual const std::string& subprotocol() const = 0;     // negotiated, or ""
  virtual const std::string& extensions() const = 0;      // negotiated Sec-WebSocket-Extensions
  virtual const UpgradeRequest& request() const = 0;      // the opening request (server role)

  virtual bool send(std::uint8_t opcode, const std::uint8_t* data, std::size_t size) = 0;
  bool send_text(std::string_view text) {
    return send(opcode::kText, reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
  }
  bool send_binary(const std::uint8_t* data, std::size_t size) {
    return send(opcode::kBinary, data, size);
  }
  // One data frame of a message, fragmentation kept (a proxy relaying frame by frame): see
  // Session::send_frame. Compressed when this connection negotiated permessage-deflate. The
  // engine's connections implement it; test doubles that never relay need not.
  virtual bool send_frame(std::uint8_t /*opcode*/, bool /*fin*/, const std::uint8_t* /*data*/,
                          std::size_t /*size*/) {
    return false;
  }
  virtual bool ping(std::string_view payload) = 0;
  virtual bool pong(std::string_view payload) = 0;
  // Starts the closing handshake; kNoStatus sends an empty close frame. With hold_close_reply,
  // after the peer's close (on_close_frame), it sends the reply and completes the handshake.
  virtual void close(std::uint16_t code, std::string_view reason) = 0;
  // The frame-level API: any frame, valid or not, or raw bytes.
  virtual void send_raw_frame(const RawFrame& frame) = 0;
  virtual void send_raw_bytes(const std::uint8_t* data, std::size_t size) = 0;
  // Bytes queued and not yet written to the socket.
  virtual std::size_t queued_bytes() const = 0;

  // Sends a shared message: its frame bytes as they are when nothing is negotiated that changes
  // them (server role, no compression), otherwise encoded for this connection.
  virtual bool send_shared(const SharedMessage& message) = 0;
  // The index of the thread (worker) this connection runs on: 0 .. Server::worker_count()-1.
  virtual unsigned worker() const = 0;
  // Calls ConnectionHandler::on_timer once, `after` from now; a new call replaces the previous
  // one; a negative duration cancels it. Closed connections get no timer calls.
  virtual void set_timer(std::chrono::milliseconds after) = 0;
  // While our close frame waits for the peer's (we started the closing handshake), waits
  // `after` from now for it instead of what is left of limits.close_timeout; at other times it
  // does nothing. For a client that still expects the peer's messages after its close (replay
  // keeps the connection for as long as its own --timeout lets it wait).
  virtual void set_close_timeout(std::chrono::milliseconds /*after*/) {}

  // The steady-clock time of the event being handled (the socket read that delivered this
  // message, the timer that fired), read once per event rather than once per message: what a
  // load generator stamps replies with. Engine connections read the clock at most once per read.
  virtual std::chrono::steady_clock::time_point event_time() const {
    return std::chrono::steady_clock::now();
  }

  // One pointer the handler may keep with the connection (its own per-connection state).
  void* user_data() const { return user_data_; }
  void set_user_data(void* data) { user_data_ = data; }

 private:
  void* user_data_ = nullptr;
};

// A server-side upgrade request whose answer the handler gives later (ServerConfig::
// defer_upgrades): a proxy first opens its upstream, then accepts with the upstream's
// subprotocol or relays its refusal. Call accept/reject on the connection's worker thread, once;
// after the client went away (or the handshake timed out) they do nothing.
class PendingUpgrade {
 public:
  virtual ~PendingUpgrade() = default;
  // The id the connection keeps once accepted (Connection::id()).
  virtual std::uint64_t id() const = 0;
  virtual const UpgradeRequest& request() const = 0;
  virtual const std::string& remote_address() const = 0;
  virtual unsigned worker() const = 0;
  // Answers 101 with `subprotocol` ("" for none; the caller vouches the client offered it) and
  // `extra` headers; permessage-deflate is negotiated with ServerConfig::deflate as usual.
  // ConnectionHandler::on_open follows at once.
  virtual void accept(const std::string& subprotocol, const HttpHeaders& extra = {}) = 0;
  virtual void reject(const Rejection& rejection) = 0;
  // Called (on the worker thread) if the connection ends before accept or reject: the client
  // left, the handshake timeout passed, or the server shut down.
  virtual void on_abandoned(std::function<void(const std::string& why)> callback) = 0;
};

// Callbacks, on the connection's thread.
class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(Connection& /*conn*/) {}
  virtual void on_message(Connection& conn, std::uint8_t opcode, const std::uint8_t* data,
                          std::size_t size) = 0;
  // Only with deliver_frames in the configuration, instead of on_message: each data frame as
  // it completes, fragment boundaries kept (pings are then not answered automatically).
  virtual void on_data_frame(Connection& /*conn*/, const DataFrame& /*frame*/) {}
  // Only when the configuration asks for frame reports.
  virtual void on_frame_header(Connection& /*conn*/, const FrameHeader& /*header*/, bool /*outgoing*/) {}
  virtual void on_ping(Connection& /*conn*/, std::string_view /*payload*/) {}
  virtual void on_pong(Connection& /*conn*/, std::string_view /*payload*/) {}
  // A received frame that broke RFC 6455 (see InvalidFrame), just before the engine fails the
  // connection with 1002 or 1007 (on_close follows, we_failed set): a proxy logs the frame.
  virtual void on_invalid_frame(Connection& /*conn*/, const InvalidFrame& /*frame*/) {}
  // The peer's valid close frame as it arrives, before the closing handshake completes (a
  // proxy passes it on at once); kNoStatus for an empty one. on_close still follows.
  virtual void on_close_frame(Connection& /*conn*/, std::uint16_t /*code*/, std::string_view /*reason*/) {}
  virtual void on_close(Connection& /*conn*/, const CloseEvent& /*event*/) {}
  // A connection that never opened (bad request, timeout, TLS failure); server role.
  virtual void on_handshake_failed(const std::string& /*remote*/, const std::string& /*why*/) {}
  // Server role: a valid upgrade request, before it is accepted. A Rejection refuses it with
  // that HTTP answer (401, 403, ...); nullopt accepts. Runs on the connection's thread.
  virtual std::optional<Rejection> on_upgrade_request(const UpgradeRequest& /*request*/,
                                                      const std::string& /*remote*/) {
    return std::nullopt;
  }
  // Server role: an upgrade request was refused with `rejection` (by on_upgrade_request or a
  // PendingUpgrade, a connection limit, or the engine's own checks), its answer on its way:
  // for a log of refusals. `id` is the connection's, as Connection::id would have been;
  // `request` is null when the request could not be parsed.
  virtual void on_upgrade_refused(std::uint64_t /*id*/, const UpgradeRequest* /*request*/,
                                  const std::string& /*remote*/, const Rejection& /*rejection*/) {}
  // Server role with ServerConfig::defer_upgrades, instead of on_upgrade_request: a valid
  // upgrade request the handler answers later through `pending`.
  virtual void on_upgrade_deferred(std::shared_ptr<PendingUpgrade> /*pending*/) {}
  // Server role: a well-formed HTTP request that asks for no upgrade (GET /metrics...). An
  // HttpResponse answers it, then the connection closes; nullopt answers as a WebSocket
  // endpoint does (400, naming the missing Upgrade header).
  virtual std::optional<HttpResponse> on_http_request(const UpgradeRequest& /*request*/,
                                                      const std::string& /*remote*/) {
    return std::nullopt;
  }
  // The timer set with Connection::set_timer fired.
  virtual void on_timer(Connection& /*conn*/) {}
};

struct ConnectionLimits {
  std::size_t max_message_bytes = kDefaultMaxMessageBytes;
  std::size_t max_send_queue_bytes = kDefaultMaxSendQueueBytes;
  std::chrono::milliseconds idle_timeout{0};  // 0: none
  std::chrono::milliseconds close_timeout{5000};
  // Heartbeat: a ping frame every ping_interval (0: none); a peer that has not answered with a
  // pong within ping_timeout is closed (close code 1001) without waiting for its close.
  std::chrono::milliseconds ping_interval{0};
  std::chrono::milliseconds ping_timeout{10000};
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 9001;
  unsigned threads = 1;
  std::size_t max_connections = 10000;
  std::size_t max_header_bytes = kDefaultMaxHeaderBytes;
  std::chrono::milliseconds handshake_timeout{10000};
  ConnectionLimits limits;
  DeflateOptions deflate;  // deflate.enabled: accept permessage-deflate offers
  // Subprotocols the server speaks; it picks the client's first offer found here.
  std::vector<std::string> subprotocols;
  bool keep_request = false;  // keep the opening request for Connection::request()
  std::string tls_cert_file;  // both set: serve wss://
  std::string tls_key_file;
  // Or the certificate chain and key themselves, PEM (e.g. generated at start).
  std::string tls_cert_pem;
  std::string tls_key_pem;
  bool report_frames = false;
  bool deliver_frames = false;  // ConnectionHandler::on_data_frame instead of on_message
  bool defer_upgrades = false;  // ConnectionHandler::on_upgrade_deferred decides each upgrade
  // Data messages (or frames) the client sends after our close frame and before its own are
  // delivered too, as ClientConfig::deliver_after_close does for a client.
  bool deliver_after_close = false;
  // A client's close frame is not answered at once: the handler answers it with
  // Connection::close (any code) and may send data until then; the engine answers it itself,
  // echoing the client's code, once limits.close_timeout has passed (CloseEvent::reply_timed_out).
  // For a proxy, which answers when the other side's close arrives (RFC 6455 5.5.1 lets the reply
  // wait). Off: the close is echoed at once.
  bool hold_close_reply = false;
};

struct ClientConfig {
  std::string url;
  HttpHeaders headers;                    // extra request headers (Origin, Authorization, -H)
  std::vector<std::string> subprotocols;
  // An HTTP proxy ("http://host:port" or "host:port") to tunnel through with CONNECT; "" = direct.
  std::string proxy;
  std::chrono::milliseconds connect_timeout{10000};  // resolve + connect + TLS + upgrade
  ConnectionLimits limits;
  DeflateOptions deflate;  // deflate.enabled: offer permessage-deflate
  std::string ca_file;     // "" = the system store
  bool insecure = false;   // skip certificate verification
  std::string cert_file;   // client certificate
  std::string key_file;
  std::string key_passphrase;
  bool report_frames = false;
  bool deliver_frames = false;  // ConnectionHandler::on_data_frame instead of on_message
  // Data messages (or frames) the server sends after our close frame and before its own are
  // delivered too (RFC 6455 5.5.1 lets it send them); otherwise they are parsed and dropped.
  bool deliver_after_close = false;
  // The server's close frame is not answered at once: as ServerConfig::hold_close_reply.
  bool hold_close_reply = false;
  // Keep the 101 answer's headers in ClientResult::response (its status is always kept, and a
  // refusal whole). Off for a load generator's thousands of connections, which never read them.
  bool keep_response = true;
};

// The result of a client run: why it ended and how.
struct ClientResult {
  Error error;          // kOk: the connection opened and ended (see close)
  bool opened = false;
  CloseEvent close;
  // The server's answer to the upgrade request, when one was parsed (status 0 otherwise): the
  // 101 with its headers, or the refusal (status, headers, up to 64 KiB of body), so callers
  // can follow a redirect (Location), show the headers, or relay the answer as a proxy. Only the
  // status of a 101 without ClientConfig::keep_response.
  UpgradeResponse response;
};

class Server {
 public:
  Server(ServerConfig config, ConnectionHandler& handler, Logger& logger);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads TLS material, binds and listens. Errors: kOsError (bind), kMissingInput/kBadData (TLS files).
  Error listen();
  std::uint16_t port() const;
  const std::string& address() const;  // the literal bound address
  bool tls() const;

  // Runs the event loops on config.threads threads (the caller's among them) until shutdown()
  // completes.
  void run();
  // Thread-safe. Stops accepting, sends every open connection a close frame with `code`, and
  // makes run() return once they are closed or `grace` has passed.
  void shutdown(std::uint16_t code = close_code::kGoingAway,
                std::chrono::milliseconds grace = std::chrono::milliseconds(1500));

  struct Stats {
    std::uint64_t accepted = 0;
    std::uint64_t rejected = 0;           // answered with an HTTP error
    std::uint64_t send_queue_overflows = 0;
    std::uint64_t open = 0;
    std::uint64_t bytes_read = 0;      // from sockets, handshakes and TLS records included
    std::uint64_t bytes_written = 0;
    std::uint64_t ping_timeouts = 0;   // connections closed for want of a pong
  };
  Stats stats() const;

  // The event-loop threads (config.threads, resolved); valid after construction.
  unsigned worker_count() const;
  // Thread-safe: runs `task` on worker `index`'s thread (where its connections live). Tasks
  // posted after run() returned are dropped.
  void post(unsigned index, std::function<void()> task);

  // Opens a client connection on worker `worker`'s event loop, beside the connections it
  // accepted (record's proxy opens its upstream next to the accepted downstream, so both live on
  // one thread and relay without locks). Call on that worker's thread (inside a handler or a
  // post()). `handler` gets the connection's callbacks on that thread and must outlive it;
  // `on_done` is called once, later, on that thread, when the connection has ended or could not
  // be made. Server::shutdown closes it with the server's connections.
  void connect(unsigned worker, const ClientConfig& config, ConnectionHandler& handler,
               std::function<void(const ClientResult&)> on_done);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Many client connections on one event loop, run on the calling thread: what `wstool load` runs
// per thread. Connections share the loop's read buffer, timeout sweep and TLS contexts.
class ClientLoop {
 public:
  explicit ClientLoop(Logger& logger);
  ~ClientLoop();
  ClientLoop(const ClientLoop&) = delete;
  ClientLoop& operator=(const ClientLoop&) = delete;

  // Opens a connection. Call on the loop's thread (inside a callback, a post() or call_at()
  // task) or before run(). `handler` gets the connection's callbacks and must outlive it;
  // `on_done` is called exactly once, later, on the loop thread, when the connection has ended
  // or could not be made (a bad URL or TLS file included). Refused (on_done with an error) once
  // stop() has taken effect. TLS contexts are made once per (ca, insecure, cert, key,
  // passphrase) and shared by every wss:// connection that asks for the same.
  void connect(const ClientConfig& config, ConnectionHandler& handler,
               std::function<void(const ClientResult&)> on_done);
  // The same with a configuration many connections share: connections opened in a row with one
  // configuration object keep a pointer to it and to what is made from it (the parsed URL, the
  // settings) instead of a copy each, and it is checked once. It must not change afterwards.
  void connect(std::shared_ptr<const ClientConfig> config, ConnectionHandler& handler,
               std::function<void(const ClientResult&)> on_done);

  // Runs the loop on the calling thread: until stop() has completed, or, when keep_running is
  // off, until no connection, task or scheduled call is left.
  void run();
  // Default true: an idle loop waits for work until stop(). Set before run().
  void set_keep_running(bool keep_running);
  // Thread-safe: sends every connection a close frame with `code`, gives up connections still
  // connecting, drops calls scheduled with call_at, and makes run() return once every
  // connection has ended or `grace` has passed (what is left is then cut).
  void stop(std::uint16_t code = close_code::kNormal,
            std::chrono::milliseconds grace = std::chrono::milliseconds(1500));
  // Thread-safe: runs `task` on the loop thread. Tasks posted before run() wait for it.
  void post(std::function<void()> task);
  // Loop thread (or before run()): runs `task` once at `when` (at once when it has passed).
  // Calls due at the same time run in the order they were made. One timer serves every call,
  // so a rate schedule costs a heap entry per tick, not a timer per message. What the calls due
  // together send is written once they have all run: one write per connection per tick.
  void call_at(std::chrono::steady_clock::time_point when, std::function<void()> task);
  // Thread-safe: connections whose opening handshake completed and that have not ended.
  std::size_t open_connections() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

class Client {
 public:
  Client(ClientConfig config, ConnectionHandler& handler, Logger& logger);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Connects and runs the connection on the calling thread until it ends.
  ClientResult run();
  // Thread-safe: close with `code` (or give up connecting).
  void shutdown(std::uint16_t code = close_code::kGoingAway);
  // Thread-safe: runs `task` on the thread inside run() (where the connection and its handler
  // live), e.g. to send what another thread read from stdin. Tasks posted before run() wait for
  // it. A task may run after the connection closed (on_close tells the handler); tasks posted
  // after run() returned never run.
  void post(std::function<void()> task);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The CPUs this process may run on (its affinity mask), at least 1.
unsigned available_cpus();

}  // namespace wstool::ws
