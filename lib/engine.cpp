// The connection engine on standalone Asio: one event loop per thread, connections pinned to a
// thread (no locks on the data path), plain sockets read through one buffer per thread so an
// idle connection holds almost no memory, output batched and written without waiting when the
// socket can take it, timeouts checked by a periodic sweep instead of a timer per connection.
#include "lib/engine.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>

#include "lib/ws_url.h"

namespace wstool::ws {

namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using TlsStream = asio::ssl::stream<tcp::socket>;
using std::chrono::milliseconds;

// One read buffer per thread serves every plain connection on it.
constexpr std::size_t kSharedReadBufferBytes = std::size_t{256} << 10;
// TLS connections read into a buffer of their own (a pending TLS read owns its buffer).
constexpr std::size_t kTlsReadBufferBytes = std::size_t{32} << 10;
// A plain connection that receives small reads reads into a buffer of its own, this size: a
// pending read of its own lets the reactor wait for the next bytes without re-arming the socket
// (one epoll_ctl per read otherwise, ~5% of a busy client's time with small messages). A read
// that fills it sends the connection back to the thread's shared buffer for good (until it goes
// quiet): with big reads the re-arm is a small share, and one cache-hot buffer beats a cold one
// per connection (measured: 16 KiB echo over 100 connections lost 10-20% with own buffers).
// Given back when the connection goes quiet.
constexpr std::size_t kOwnReadBufferBytes = std::size_t{4} << 10;
// Zero copy: a data payload at least this large, sent by a server without compression over a
// plain socket, is not copied into the output but written straight from the sender's buffer
// (borrowed: see BasicConnection::can_borrow), header and payloads in one gathered write per
// batch. Below it, copying costs less than the gathered write's extra pieces.
constexpr std::size_t kBorrowMinBytes = std::size_t{1} << 10;
// At most this many payloads are borrowed for one write; later ones are copied. Asio's gathered
// write takes at most 64 pieces: each borrowed payload and the output before it, and a tail.
constexpr std::size_t kMaxBorrowedPayloads = 31;
// A connection quiet for this long gives back its empty buffers, so idle connections stay small.
constexpr milliseconds kBufferReleaseAfter{1000};
// Timeouts are checked this often at most (and at least every kMaxSweepInterval).
constexpr milliseconds kMinSweepInterval{10};
constexpr milliseconds kMaxSweepInterval{250};
// After an accept failure (out of file descriptors, say), wait before accepting again.
constexpr milliseconds kAcceptRetryDelay{100};
// The most of a refused upgrade's body we keep: enough for `record` to relay an error page whole.
constexpr std::size_t kKeptRefusalBodyBytes = 64 * 1024;
// The most of a proxy's answer to CONNECT we read.
constexpr std::size_t kProxyAnswerMaxBytes = 16 * 1024;
// The socket listen backlog.
constexpr int kListenBacklog = 4096;

std::string endpoint_string(const tcp::endpoint& ep) {
  const asio::ip::address addr = ep.address();
  if (addr.is_v6()) return "[" + addr.to_string() + "]:" + std::to_string(ep.port());
  return addr.to_string() + ":" + std::to_string(ep.port());
}

std::string_view as_view(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

milliseconds sweep_interval_for(std::initializer_list<milliseconds> timeouts) {
  milliseconds interval = kMaxSweepInterval;
  for (milliseconds t : timeouts) {
    if (t.count() > 0) interval = std::min(interval, t / 4);
  }
  return std::max(interval, kMinSweepInterval);
}

std::string openssl_error_string() {
  unsigned long code = ERR_get_error();
  if (code == 0) return "unknown TLS error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  return text;
}

// A PEM file OpenSSL would not load: a file that cannot be opened is missing input, named with
// the system's reason (OpenSSL's own, "BIO routines::system lib", says nothing to a user);
// anything else is bad data, with OpenSSL's reason.
Error tls_file_error(const std::string& path, const char* what) {
  if (access(path.c_str(), R_OK) != 0) {
    const int cause = errno;
    ERR_clear_error();
    return Error(Errc::kMissingInput, path + ": cannot load " + what + ": " + std::strerror(cause));
  }
  return Error(Errc::kBadData, path + ": cannot load " + what + ": " + openssl_error_string());
}

class ConnectionNode;
struct ClientShared;

// One event loop and what its connections share.
struct Worker {
  // One thread runs this loop, and every socket on it is opened, read, written, cancelled and
  // closed from that thread only (a connection lives on its worker; others reach it by post()):
  // Asio's per-socket lock then guards nothing, and costs a lock and an unlock on every read and
  // every completion. Posts from other threads (Server::post, shutdown, ClientLoop::stop) and a
  // socket registered here by the accepting thread keep their locks (scheduler, registration).
  asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  unsigned index = 0;
  // Written by this worker's thread only; others read them for statistics.
  std::atomic<std::uint64_t> bytes_read{0};
  std::atomic<std::uint64_t> bytes_written{0};
  std::vector<std::uint8_t> read_buffer;
  // Zero copy, kept here rather than in every connection (idle connections' memory counts): a
  // gathered write's pieces; where what it left is copied (swapped with the connection's write
  // buffer); and the bytes of the read batch being consumed (one at a time per thread), whose
  // payloads stay put until the batch's end.
  std::vector<asio::const_buffer> gather;
  OutputBuffer spare;
  // The output buffer big payloads are copied (a client's: masked) into, lent to one connection
  // at a time and given back once written: one cache-hot buffer per thread rather than a cold
  // one per connection (see BasicConnection::lend_output_buffer).
  OutputBuffer hot_output;
  const std::uint8_t* batch_begin = nullptr;
  const std::uint8_t* batch_end = nullptr;
  ConnectionNode* head = nullptr;
  std::size_t connections = 0;
  asio::steady_timer sweep{io};
  milliseconds sweep_every{kMaxSweepInterval};
  bool sweeping = false;
  Clock::time_point now = Clock::now();  // refreshed by every sweep; coarse is enough
  // Set by every socket read: `now` is then re-read on demand (Connection::event_time), so a
  // handler that stamps messages reads the clock once per read, and one that never asks not at all.
  bool now_stale = false;
  Clock::time_point event_time() {
    if (now_stale) {
      now = Clock::now();
      now_stale = false;
    }
    return now;
  }
  bool stopping = false;
  // Whether the sweep (and so the loop) keeps going with no connection left: a server's and a
  // long-lived client loop's do; a single client's loop ends with its connection.
  bool lingers = true;
  Clock::time_point hard_stop = Clock::time_point::max();
  // Client TLS contexts by what configures them, made once and shared by every wss://
  // connection on this thread that asks for the same (a context is costly to build).
  std::map<std::string, std::shared_ptr<asio::ssl::context>> client_tls;
  // The shared state of the last client configuration connected with: a run opening thousands
  // of connections with one configuration prepares it once.
  std::shared_ptr<const ClientShared> last_client;
  // Connections given shared messages outside their own read batch: one posted task flushes
  // them all, after every fan-out already queued on this thread has added its message, so a
  // busy server writes several messages per system call instead of one each (a room of 1,000
  // members: 1,000 writes per message otherwise). Declared after `io`: destroyed before it.
  std::vector<std::shared_ptr<ConnectionNode>> dirty;
  bool flush_posted = false;
  // Set while a batch of scheduled tasks runs (ClientLoop::call_at): what they send is written
  // once they have all run, one write per connection per batch rather than one per message.
  bool batching = false;
  void mark_dirty(std::shared_ptr<ConnectionNode> node);
  void flush_dirty();

  void count_read(std::size_t n) {
    bytes_read.store(bytes_read.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void count_written(std::size_t n) {
    bytes_written.store(bytes_written.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  void link(ConnectionNode* node);
  void unlink(ConnectionNode* node);
  void start_sweep();
  void stop_sweep();
  void sweep_once();
  bool winding_down() const { return connections == 0 && (stopping || !lingers); }
};

// The part of a connection the worker's list and sweep see.
class ConnectionNode {
 public:
  virtual ~ConnectionNode() = default;
  virtual void on_tick(Clock::time_point now) = 0;
  virtual void begin_shutdown(std::uint16_t code) = 0;
  virtual void abort_now() = 0;
  virtual void deferred_flush() = 0;
  bool dirty_ = false;  // listed in Worker::dirty

  ConnectionNode* prev_ = nullptr;
  ConnectionNode* next_ = nullptr;
  std::shared_ptr<ConnectionNode> self_;  // keeps the connection alive while it is listed
};

void Worker::mark_dirty(std::shared_ptr<ConnectionNode> node) {
  if (node->dirty_) return;
  node->dirty_ = true;
  dirty.push_back(std::move(node));
  if (flush_posted || batching) return;  // a batch flushes when it ends
  flush_posted = true;
  asio::post(io, [this] {
    flush_posted = false;
    flush_dirty();
  });
}

void Worker::flush_dirty() {
  std::vector<std::shared_ptr<ConnectionNode>> list;
  list.swap(dirty);
  for (auto& listed : list) {
    listed->dirty_ = false;
    listed->deferred_flush();
  }
  // Kept for the next batch: no allocation per tick.
  list.clear();
  if (dirty.empty()) dirty.swap(list);
}

void Worker::link(ConnectionNode* node) {
  node->next_ = head;
  if (head != nullptr) head->prev_ = node;
  head = node;
  ++connections;
  // A loop that stopped sweeping when it went empty gets a new connection (a client loop).
  if (!sweeping) start_sweep();
}

void Worker::unlink(ConnectionNode* node) {
  if (node->prev_ != nullptr) node->prev_->next_ = node->next_;
  else head = node->next_;
  if (node->next_ != nullptr) node->next_->prev_ = node->prev_;
  node->prev_ = node->next_ = nullptr;
  --connections;
  if (winding_down()) stop_sweep();
}

// A new wait replaces a pending one (its handler sees operation_aborted and does nothing).
void Worker::start_sweep() {
  sweeping = true;
  sweep.expires_after(sweep_every);
  sweep.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    sweep_once();
    if (winding_down()) {
      sweeping = false;
      return;
    }
    start_sweep();
  });
}

void Worker::stop_sweep() {
  sweeping = false;
  sweep.cancel();
}

void Worker::sweep_once() {
  now = Clock::now();
  const bool hard = stopping && now >= hard_stop;
  // A node may unlink itself (and others may not): take the next pointer first.
  for (ConnectionNode* node = head; node != nullptr;) {
    ConnectionNode* next = node->next_;
    std::shared_ptr<ConnectionNode> keep = node->self_;
    if (hard) node->abort_now();
    else node->on_tick(now);
    node = next;
  }
}

enum class Phase : std::uint8_t {
  kResolving,     // client: DNS
  kConnecting,    // client: TCP connect
  kTlsHandshake,
  kHttp,          // the opening handshake
  kOpen,
  kClosing,       // the session ended; flushing, then closing TCP (or waiting for the server to)
  kDone,
};

// What a server or client counts, across its threads.
struct Counters {
  std::atomic<std::uint64_t> next_id{0};
  std::atomic<std::uint64_t> open{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> rejected{0};
  std::atomic<std::uint64_t> send_queue_overflows{0};
  std::atomic<std::uint64_t> ping_timeouts{0};
};

// Settings shared by every connection of one server or client.
struct EngineSettings {
  Role role = Role::kServer;
  ConnectionLimits limits;
  milliseconds handshake_timeout{10000};
  std::size_t max_header_bytes = kDefaultMaxHeaderBytes;
  DeflateOptions deflate;
  std::vector<std::string> subprotocols;
  bool keep_request = false;
  bool report_frames = false;
  bool deliver_frames = false;  // frame delivery mode (ConnectionHandler::on_data_frame)
  bool deliver_after_close = false;  // ClientConfig/ServerConfig::deliver_after_close
  bool hold_close_reply = false;     // ClientConfig/ServerConfig::hold_close_reply
  bool defer_upgrades = false;  // server: ConnectionHandler::on_upgrade_deferred
  ConnectionHandler* handler = nullptr;
  Logger* logger = nullptr;
  struct Counters* counters = nullptr;
  // Where connection ids come from: the server's counter also for the client connections it
  // opens (Server::connect), so ids stay unique within one server.
  std::atomic<std::uint64_t>* ids = nullptr;
};

// --- client-only state ---
// What every connection opened with one ClientConfig object shares, made once: a load run's
// thousands of connections hold a pointer to it, not a copy each (idle memory counts).
struct ClientShared {
  std::shared_ptr<const ClientConfig> config;
  EngineSettings settings;  // handler unset: each connection has its own
  WsUrl url;
  WsUrl proxy;  // used when config->proxy is set
  std::string host;  // the Host header
  std::string deflate_offer;
  Counters* counters = nullptr;  // what the settings were made for (the cache checks them)
  std::atomic<std::uint64_t>* ids = nullptr;
};

// Owned by its connection; what is needed only to open it is dropped once it is open.
struct ClientSide {
  std::shared_ptr<const ClientShared> shared;
  const ClientConfig& config() const { return *shared->config; }
  std::string proxy_exchange;  // the CONNECT request, then the proxy's answer
  std::string key;
  std::unique_ptr<ResponseParser> response_parser;
  std::unique_ptr<tcp::resolver> resolver;  // only while resolving a host name
  // What becomes the ClientResult when the connection ends (the rest comes from the connection).
  Error error;
  int status = 0;  // the answer's status
  std::unique_ptr<UpgradeResponse> response;  // the answer, when kept
  std::function<void(const ClientResult&)> on_done;
};

// PendingUpgrade for a connection waiting on its handler: holds the connection weakly, so an
// answer that comes after the client left does nothing.
template <class Conn>
class DeferredUpgrade final : public PendingUpgrade {
 public:
  DeferredUpgrade(const std::shared_ptr<Conn>& conn, UpgradeRequest request, std::string remote,
                  std::uint64_t id, unsigned worker)
      : conn_(conn), request_(std::move(request)), remote_(std::move(remote)), id_(id), worker_(worker) {}
  std::uint64_t id() const override { return id_; }
  const UpgradeRequest& request() const override { return request_; }
  const std::string& remote_address() const override { return remote_; }
  unsigned worker() const override { return worker_; }
  void accept(const std::string& subprotocol, const HttpHeaders& extra) override {
    if (auto conn = conn_.lock()) conn->accept_upgrade(subprotocol, extra);
  }
  void reject(const Rejection& rejection) override {
    if (auto conn = conn_.lock()) conn->reject_upgrade(rejection);
  }
  void on_abandoned(std::function<void(const std::string&)> callback) override {
    if (auto conn = conn_.lock()) conn->set_abandoned(std::move(callback));
  }

 private:
  std::weak_ptr<Conn> conn_;
  UpgradeRequest request_;
  std::string remote_;
  std::uint64_t id_;
  unsigned worker_;
};

template <class Stream>
class BasicConnection final : public Connection,
                              public ConnectionNode,
                              private SessionEvents,
                              public std::enable_shared_from_this<BasicConnection<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

 public:
  // Server role: an accepted socket (the stream is built around it).
  template <class... StreamArgs>
  BasicConnection(Worker& worker, const EngineSettings& settings, StreamArgs&&... stream_args)
      : worker_(worker),
        settings_(settings),
        stream_(std::forward<StreamArgs>(stream_args)...),
        session_(settings.role, settings.limits.max_message_bytes),
        handler_(settings.handler),
        id_(settings.ids->fetch_add(1) + 1) {
    if (settings.deliver_frames) session_.set_frame_delivery(true);
    if (settings.deliver_after_close) session_.set_deliver_after_close(true);
    if (settings.hold_close_reply) session_.set_hold_close_reply(true);
  }

  ~BasicConnection() override = default;

  // --- Connection ---
  std::uint64_t id() const override { return id_; }
  const std::string& remote_address() const override { return remote_; }
  const std::string& subprotocol() const override { return subprotocol_; }
  const std::string& extensions() const override { return extensions_; }
  const UpgradeRequest& request() const override {
    static const UpgradeRequest kEmpty;
    return request_ ? *request_ : kEmpty;
  }

  bool send(std::uint8_t op, const std::uint8_t* data, std::size_t size) override {
    if (phase_ != Phase::kOpen) return false;
    if (size >= kBorrowMinBytes) return send_large(op, true, false, data, size);
    const bool ok = session_.send_message(op, data, size);
    after_output();
    return ok;
  }
  bool send_frame(std::uint8_t op, bool fin, const std::uint8_t* data, std::size_t size) override {
    if (phase_ != Phase::kOpen) return false;
    if (size >= kBorrowMinBytes) return send_large(op, fin, true, data, size);
    const bool ok = session_.send_frame(op, fin, data, size);
    after_output();
    return ok;
  }
  bool ping(std::string_view payload) override {
    if (phase_ != Phase::kOpen) return false;
    const bool ok = session_.send_ping(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    after_output();
    return ok;
  }
  bool pong(std::string_view payload) override {
    if (phase_ != Phase::kOpen) return false;
    const bool ok = session_.send_pong(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size());
    after_output();
    return ok;
  }
  void close(std::uint16_t code, std::string_view reason) override {
    if (phase_ != Phase::kOpen) return;
    session_.send_close(code, reason);
    after_session_change();
  }
  void send_raw_frame(const RawFrame& frame) override {
    if (phase_ != Phase::kOpen) return;
    session_.send_raw_frame(frame);
    after_output();
  }
  void send_raw_bytes(const std::uint8_t* data, std::size_t size) override {
    if (phase_ != Phase::kOpen) return;
    session_.send_raw_bytes(data, size);
    after_output();
  }
  std::size_t queued_bytes() const override {
    return session_.output_size() + borrowed_bytes_ + (writing_.size() - write_offset_);
  }
  bool send_shared(const SharedMessage& message) override {
    if (phase_ != Phase::kOpen) return false;
    const std::string& frame = message.frame();
    const bool ok = session_.send_encoded(message.opcode(), reinterpret_cast<const std::uint8_t*>(frame.data()),
                                          frame.size(), message.header_bytes());
    // Inside a read batch the batch's end writes it; a full queue is judged now; otherwise the
    // worker's deferred flush writes it with whatever else arrives for this connection.
    if (consuming_ || queued_bytes() > settings_.limits.max_send_queue_bytes) {
      after_output();
    } else {
      worker_.mark_dirty(this->shared_from_this());
    }
    return ok;
  }
  unsigned worker() const override { return worker_.index; }
  Clock::time_point event_time() const override { return worker_.event_time(); }
  void set_timer(milliseconds after) override {
    if (phase_ == Phase::kDone) return;
    if (after.count() < 0) {
      if (timer_) timer_->cancel();
      return;
    }
    // Allocated on first use: most connections never set one, and idle memory counts.
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(worker_.io);
    timer_->expires_after(after);
    timer_->async_wait([self = this->shared_from_this()](const asio::error_code& ec) {
      if (ec || self->phase_ != Phase::kOpen) return;
      self->worker_.now = Clock::now();
      self->handler_->on_timer(*self);
    });
  }

  void set_close_timeout(milliseconds after) override {
    if (phase_ != Phase::kOpen || session_.state() != Session::State::kCloseSent) return;
    close_deadline_set_ = true;
    deadline_ = Clock::now() + std::max(after, milliseconds(0));
    // The sweep checks deadlines every sweep_every, which a shorter wait may undercut: it is
    // then late by at most that much, as every other timeout here.
  }

  // --- lifecycle ---
  Stream& stream() { return stream_; }
  void set_handler(ConnectionHandler& handler) { handler_ = &handler; }
  tcp::socket& socket() {
    if constexpr (kTls) return stream_.next_layer();
    else return stream_;
  }

  // Registers with the worker; from here on the sweep sees it.
  void attach() {
    self_ = this->shared_from_this();
    worker_.link(this);
  }

  // Server role: the socket is connected.
  void start_server(std::size_t reject_status) {
    reject_status_ = reject_status;
    attach();
    asio::error_code ec;
    socket().set_option(tcp::no_delay(true), ec);
    socket().non_blocking(true, ec);
    const tcp::endpoint remote = socket().remote_endpoint(ec);
    remote_ = ec ? std::string("unknown") : endpoint_string(remote);
    deadline_ = worker_.now + settings_.handshake_timeout;
    request_parser_ = std::make_unique<RequestParser>(settings_.max_header_bytes);
    if constexpr (kTls) {
      phase_ = Phase::kTlsHandshake;
      stream_.async_handshake(asio::ssl::stream_base::server,
                              [self = this->shared_from_this()](const asio::error_code& error) {
                                if (self->phase_ == Phase::kDone) return;
                                if (error) {
                                  self->fail_handshake("TLS handshake failed: " + error.message());
                                  return;
                                }
                                self->phase_ = Phase::kHttp;
                                self->start_read();
                              });
    } else {
      phase_ = Phase::kHttp;
      start_read();
    }
  }

  // Client role: takes ownership of the client state (whose settings this connection was made with).
  void start_client(std::unique_ptr<ClientSide> client);
  void connect_to(const tcp::endpoint& endpoint);
  template <class Next>
  void proxy_connect(Next next);

  void deferred_flush() override { flush(); }
  void on_tick(Clock::time_point now) override {
    if (phase_ == Phase::kDone) return;
    if (now - last_activity_ >= kBufferReleaseAfter) {
      release_idle_buffers();
      session_.release_idle_buffers();
      if constexpr (!kTls) {
        bulk_reads_ = false;  // the traffic may have changed by the time it resumes
        cool_down();
      }
    }
    if (phase_ == Phase::kOpen && session_.state() == Session::State::kOpen &&
        settings_.limits.ping_interval.count() > 0 && heartbeat(now)) {
      return;
    }
    if (phase_ == Phase::kOpen && session_.state() == Session::State::kOpen &&
        settings_.limits.idle_timeout.count() > 0 &&
        now - last_activity_ >= settings_.limits.idle_timeout) {
      last_activity_ = now;
      session_.send_close(close_code::kGoingAway, "idle timeout");
      after_session_change();
      return;
    }
    if (now < deadline_) return;
    switch (phase_) {
      case Phase::kResolving:
      case Phase::kConnecting:
      case Phase::kTlsHandshake:
      case Phase::kHttp:
        fail_handshake("opening handshake timed out", Errc::kTimeout);
        return;
      case Phase::kOpen:
        if (session_.state() == Session::State::kCloseReceived) {
          // The handler held the peer's close reply past the close timeout: answer it now,
          // echoing the peer's code as an unheld reply would have.
          reply_timed_out_ = true;
          session_.send_close(session_.received_close_code(), {});
          after_session_change();
          return;
        }
        [[fallthrough]];  // our close frame got no answer in time
      case Phase::kClosing:
        close_transport(session_.state() == Session::State::kClosed || draining_
                            ? std::string()
                            : std::string("closing handshake timed out"));
        return;
      case Phase::kDone:
        return;
    }
  }

  void begin_shutdown(std::uint16_t code) override {
    switch (phase_) {
      case Phase::kOpen:
        session_.send_close(code, "going away");
        after_session_change();
        return;
      case Phase::kClosing:
      case Phase::kDone:
        return;
      default:
        fail_handshake("shutting down");
        return;
    }
  }

  void abort_now() override {
    if (phase_ == Phase::kDone) return;
    close_transport("closed at shutdown without a closing handshake");
  }

  // Pings every ping_interval; a peer silent for ping_timeout after a ping is gone (a dead
  // laptop, a dropped NAT mapping): closed without waiting for a close frame that will not come.
  // True when the connection was closed.
  bool heartbeat(Clock::time_point now) {
    if (ping_outstanding_ && now - ping_sent_ >= settings_.limits.ping_timeout) {
      settings_.counters->ping_timeouts.fetch_add(1, std::memory_order_relaxed);
      drop_borrowed();
      session_.fail(close_code::kGoingAway, "ping timeout", *this, true);
      after_session_change();
      if (phase_ != Phase::kDone) close_transport("no pong within the ping timeout");
      return true;
    }
    if (!ping_outstanding_ && now >= next_ping_) {
      ping_outstanding_ = true;
      ping_sent_ = now;
      next_ping_ = now + settings_.limits.ping_interval;
      session_.send_ping(nullptr, 0);
      after_output();
    }
    return false;
  }

 private:
  // --- SessionEvents: forward to the handler ---
  void on_frame_header(const FrameHeader& header) override {
    if (settings_.report_frames) handler_->on_frame_header(*this, header, false);
  }
  void on_message(std::uint8_t op, const std::uint8_t* data, std::size_t size) override {
    handler_->on_message(*this, op, data, size);
  }
  void on_data_frame(const DataFrame& frame) override { handler_->on_data_frame(*this, frame); }
  void on_ping(const std::uint8_t* data, std::size_t size) override {
    handler_->on_ping(*this, as_view(data, size));
  }
  void on_pong(const std::uint8_t* data, std::size_t size) override {
    ping_outstanding_ = false;
    handler_->on_pong(*this, as_view(data, size));
  }
  void on_close_frame(std::uint16_t code, std::string_view reason) override {
    if (session_.state() == Session::State::kOpen) peer_started_close_ = true;
    handler_->on_close_frame(*this, code, reason);
  }
  void on_invalid_frame(const InvalidFrame& frame) override { handler_->on_invalid_frame(*this, frame); }
  void on_fail(std::uint16_t /*code*/, std::string_view why) override { fail_reason_.assign(why); }

  // --- reading ---
  void start_read() {
    if (read_in_flight_ || phase_ == Phase::kDone) return;
    read_in_flight_ = true;
    if constexpr (kTls) {
      if (inbuf_.size() < kTlsReadBufferBytes) inbuf_.resize(kTlsReadBufferBytes);
      stream_.async_read_some(
          asio::buffer(inbuf_.data() + inbuf_used_, inbuf_.size() - inbuf_used_),
          [self = this->shared_from_this()](const asio::error_code& ec, std::size_t n) {
            self->read_in_flight_ = false;
            if (self->phase_ == Phase::kDone) return;
            if (ec) {
              self->on_read_error(ec);
              return;
            }
            self->worker_.count_read(n);
            self->worker_.now_stale = true;
            const std::size_t total = self->inbuf_used_ + n;
            const std::size_t used = self->process(self->inbuf_.data(), total);
            if (self->phase_ == Phase::kDone) return;
            std::memmove(self->inbuf_.data(), self->inbuf_.data() + used, total - used);
            self->inbuf_used_ = total - used;
            self->start_read();
          });
    } else if (own_read_buffer_) {
      socket().async_read_some(
          asio::buffer(inbuf_.data() + inbuf_used_, inbuf_.size() - inbuf_used_),
          [self = this->shared_from_this()](const asio::error_code& ec, std::size_t n) {
            self->read_in_flight_ = false;
            if (self->phase_ == Phase::kDone) return;
            if (ec == asio::error::operation_aborted && self->cooling_) {
              self->give_back_read_buffer();
              return;
            }
            self->cooling_ = false;
            if (ec) {
              self->on_read_error(ec);
              return;
            }
            self->on_own_read(n);
          });
    } else {
      socket().async_wait(tcp::socket::wait_read,
                          [self = this->shared_from_this()](const asio::error_code& ec) {
                            self->read_in_flight_ = false;
                            if (self->phase_ == Phase::kDone) return;
                            if (ec) {
                              self->on_read_error(ec);
                              return;
                            }
                            self->on_readable();
                          });
    }
  }

  // Plain sockets: read what is there into the thread's buffer, after any leftover bytes.
  void on_readable() {
    std::vector<std::uint8_t>& buffer = worker_.read_buffer;
    const std::size_t carried = pending_.size();
    if (carried > 0) std::memcpy(buffer.data(), pending_.data(), carried);
    asio::error_code ec;
    const std::size_t n = socket().read_some(asio::buffer(buffer.data() + carried, buffer.size() - carried), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) {
      start_read();
      return;
    }
    if (ec) {
      on_read_error(ec);
      return;
    }
    worker_.count_read(n);
    worker_.now_stale = true;
    const bool was_open = phase_ == Phase::kOpen;
    const std::size_t total = carried + n;
    const std::size_t used = process(buffer.data(), total);
    if (phase_ == Phase::kDone) return;
    if (was_open && phase_ == Phase::kOpen && !bulk_reads_) {
      // Data flows: from now on read into a buffer of its own (see kOwnReadBufferBytes). Not
      // on the opening handshake's read: a connection that never receives stays small.
      own_read_buffer_ = true;
      inbuf_.resize(kOwnReadBufferBytes);
      inbuf_used_ = total - used;  // at most an incomplete header or control frame
      std::memcpy(inbuf_.data(), buffer.data() + used, inbuf_used_);
      std::vector<std::uint8_t>().swap(pending_);
    } else {
      pending_.assign(buffer.data() + used, buffer.data() + total);
      if (pending_.empty() && pending_.capacity() > 0) std::vector<std::uint8_t>().swap(pending_);
    }
    start_read();
  }

  // Plain sockets with a buffer of their own: `n` bytes arrived after the carried ones.
  void on_own_read(std::size_t n) {
    worker_.count_read(n);
    worker_.now_stale = true;
    const bool filled = inbuf_used_ + n == inbuf_.size();
    const std::size_t total = inbuf_used_ + n;
    const std::size_t used = process(inbuf_.data(), total);
    if (phase_ == Phase::kDone) return;
    std::memmove(inbuf_.data(), inbuf_.data() + used, total - used);
    inbuf_used_ = total - used;
    if (filled) {
      // Big reads: back to the thread's shared buffer (see kOwnReadBufferBytes), carried bytes too.
      bulk_reads_ = true;
      own_read_buffer_ = false;
      pending_.assign(inbuf_.data(), inbuf_.data() + inbuf_used_);
      inbuf_used_ = 0;
      std::vector<std::uint8_t>().swap(inbuf_);
      start_read();
      return;
    }
    start_read_deferred();
  }

  // The next read of a connection that just received, started once the handlers already queued
  // on this thread have run. Asio tries a read at once when one is started: right after this
  // connection answered, its peer has not had time to send again, so that try is a system call
  // returning EAGAIN, one per message in a request/response exchange. Started after the
  // other ready connections' turns, it finds the peer's next message already there on a busy
  // thread (and costs one post on an idle one).
  void start_read_deferred() {
    if (read_in_flight_ || phase_ == Phase::kDone) return;
    read_in_flight_ = true;
    read_deferred_ = true;
    asio::post(worker_.io, [self = this->shared_from_this()] {
      self->read_deferred_ = false;
      self->read_in_flight_ = false;
      self->start_read();
    });
  }

  // A quiet connection stops reading into its own buffer: the pending read is cancelled (the
  // socket has no other operation then) and its handler gives the buffer back.
  void cool_down() {
    if (!own_read_buffer_ || !read_in_flight_ || read_deferred_ || write_in_flight_ || inbuf_used_ != 0 || cooling_) {
      return;
    }
    cooling_ = true;
    asio::error_code ec;
    socket().cancel(ec);
  }

  void give_back_read_buffer() {
    cooling_ = false;
    own_read_buffer_ = false;
    inbuf_used_ = 0;
    std::vector<std::uint8_t>().swap(inbuf_);
    start_read();
  }

  void on_read_error(const asio::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    if (draining_) {
      close_transport({});  // the peer closed its half after ours (or reset): the end we waited for
      return;
    }
    const bool eof = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
    switch (phase_) {
      case Phase::kHttp:
        if (client_ != nullptr && client_->response_parser && eof) {
          client_->response_parser->end_of_stream();
          if (client_->response_parser->state() == ParseState::kComplete) {
            process_response(nullptr, 0);
            if (phase_ == Phase::kDone) return;
          }
        }
        [[fallthrough]];
      case Phase::kTlsHandshake:
        fail_handshake(eof ? "connection closed during the opening handshake"
                           : "read failed during the opening handshake: " + ec.message(),
                       Errc::kConnectionLost);
        return;
      case Phase::kOpen:
      case Phase::kClosing:
        if (session_.state() == Session::State::kClosed) {
          close_transport({});
        } else if (session_.state() == Session::State::kCloseReceived) {
          close_transport("connection closed before our close reply");
        } else {
          close_transport(eof ? "connection closed without a close frame" : "read failed: " + ec.message());
        }
        return;
      default:
        return;
    }
  }

  // Consumes received bytes; returns how many were used.
  std::size_t process(std::uint8_t* data, std::size_t size) {
    if (draining_) return size;
    last_activity_ = worker_.now;
    std::size_t used = 0;
    if (phase_ == Phase::kHttp) {
      if (upgrade_pending_) return hold_while_pending(size);
      used = settings_.role == Role::kServer ? process_request(data, size) : process_response(data, size);
      if (upgrade_pending_) return hold_while_pending(size - used) == 0 ? used : size;
      if (phase_ != Phase::kOpen) return size;
    }
    if (phase_ == Phase::kOpen || phase_ == Phase::kClosing) {
      if (session_.state() == Session::State::kOpen || session_.state() == Session::State::kCloseSent) {
        // Replies queued by handlers while this batch is parsed go out in one write at the end.
        consuming_ = true;
        worker_.batch_begin = data + used;
        worker_.batch_end = data + size;
        used += session_.consume(data + used, size - used, *this);
        consuming_ = false;
        worker_.batch_begin = worker_.batch_end = nullptr;
        after_session_change();  // writes the batch's output while borrowed payloads are in place
      } else {
        used = size;  // after the closing handshake, input is ignored
      }
    }
    return used;
  }

  std::size_t process_request(std::uint8_t* data, std::size_t size);
  std::size_t process_response(std::uint8_t* data, std::size_t size);
  void complete_upgrade(const UpgradeRequest& request, const HttpHeaders& extra);

 public:
  // --- a deferred upgrade decision (ServerConfig::defer_upgrades) ---
  void accept_upgrade(const std::string& subprotocol, const HttpHeaders& extra) {
    if (!upgrade_pending_ || phase_ != Phase::kHttp) return;
    upgrade_pending_ = false;
    abandoned_ = nullptr;
    subprotocol_ = subprotocol;
    const UpgradeRequest request = request_parser_->request();
    complete_upgrade(request, extra);
    // Bytes the client sent early are read with its next data (a client must wait for the 101
    // before sending frames, RFC 6455 4.1, so there are normally none).
  }
  void reject_upgrade(const Rejection& rejection) {
    if (!upgrade_pending_ || phase_ != Phase::kHttp) return;
    upgrade_pending_ = false;
    abandoned_ = nullptr;
    reject(rejection.status, rejection.reason, rejection.body, rejection.headers, &request_parser_->request());
    request_parser_.reset();
  }
  void set_abandoned(std::function<void(const std::string&)> callback) {
    if (upgrade_pending_ && phase_ != Phase::kDone) abandoned_ = std::move(callback);
  }

 private:
  // While the handler decides, bytes past the request head are held (bounded: a client that
  // talks before the answer gets at most a header's worth kept). Returns what to consume: 0
  // keeps everything for later, `size` (after failing) drops it.
  std::size_t hold_while_pending(std::size_t held) {
    if (held <= settings_.max_header_bytes) return 0;
    fail_handshake("the client sent data before the upgrade was answered");
    return held;
  }

  // --- writing ---
  void after_output() {
    if (queued_bytes() > settings_.limits.max_send_queue_bytes) {
      settings_.counters->send_queue_overflows.fetch_add(1, std::memory_order_relaxed);
      drop_borrowed();
      session_.fail(close_code::kPolicyViolation, "send queue full: the peer is not reading", *this, true);
      after_session_change();
      return;
    }
    if (consuming_) return;  // the read batch's end writes it
    if (worker_.batching) {
      if (!dirty_) worker_.mark_dirty(this->shared_from_this());
      return;
    }
    flush();
  }

  void after_session_change() {
    switch (session_.state()) {
      case Session::State::kOpen:
        break;
      case Session::State::kCloseSent:
      case Session::State::kCloseReceived:  // the held reply is bounded by the close timeout too
        if (!close_deadline_set_) {
          close_deadline_set_ = true;
          deadline_ = worker_.now + settings_.limits.close_timeout;
        }
        break;
      case Session::State::kClosed:
      case Session::State::kFailed:
        if (phase_ == Phase::kOpen) {
          phase_ = Phase::kClosing;
          deadline_ = worker_.now + settings_.limits.close_timeout;
          // RFC 6455 7.1.1: the server closes TCP first; a client waits for it, unless it
          // failed the connection.
          close_after_flush_ = settings_.role == Role::kServer || session_.state() == Session::State::kFailed;
        }
        break;
    }
    flush();
  }

  void flush() {
    if (write_in_flight_ || phase_ == Phase::kDone) return;
    if (!session_.has_output()) {
      if (close_after_flush_) end_output();
      return;
    }
    writing_.clear();
    write_offset_ = 0;
    session_.take_output(writing_);
    if (settings_.report_frames && phase_ != Phase::kHttp) report_outgoing_frames();
    if constexpr (!kTls) {
      asio::error_code ec;
      const std::size_t n = borrowed_.empty() ? socket().write_some(asio::buffer(writing_), ec) : write_gathered(ec);
      if (ec && ec != asio::error::would_block && ec != asio::error::try_again) {
        close_transport("write failed: " + ec.message());
        return;
      }
      if (!ec) {
        write_offset_ = n;
        worker_.count_written(n);
      }
      if (!borrowed_.empty()) keep_unwritten();
      if (write_offset_ == writing_.size()) {
        written();
        return;
      }
    }
    write_in_flight_ = true;
    asio::async_write(stream_, asio::buffer(writing_.data() + write_offset_, writing_.size() - write_offset_),
                      [self = this->shared_from_this()](const asio::error_code& ec, std::size_t n) {
                        self->write_in_flight_ = false;
                        self->worker_.count_written(n);
                        if (self->phase_ == Phase::kDone) return;
                        if (ec) {
                          self->close_transport("write failed: " + ec.message());
                          return;
                        }
                        self->written();
                      });
  }

  // --- zero copy (kBorrowMinBytes) ---
  // Whether a data payload may be borrowed rather than copied: the session sends payloads
  // unchanged, nothing is being written (what is queued waits in the session's output, and the
  // payload's place in it is kept), and the payload stays put until it is written: the write
  // comes before send() returns, or, inside a read batch, at the batch's end, which is in time
  // for a payload within the batch's own bytes (what the echo sends back). Anything else, and
  // frame reports (which parse the written bytes), take the copying path.
  bool can_borrow(const std::uint8_t* data, std::size_t size) const {
    if constexpr (kTls) {
      return false;
    } else {
      if (size < kBorrowMinBytes || write_in_flight_ || borrowed_.size() >= kMaxBorrowedPayloads ||
          settings_.report_frames || !session_.payloads_verbatim()) {
        return false;
      }
      if (!consuming_) return !worker_.batching;
      const std::less<const std::uint8_t*> before;
      return worker_.batch_begin != nullptr && !before(data, worker_.batch_begin) &&
             !before(worker_.batch_end, data + size);
    }
  }

  // send() (`frame` off) or send_frame() of a payload of kBorrowMinBytes or more: borrowed when
  // it can be, then only its header is queued, the payload written after it from where it is.
  // Out of line, so small messages' sends stay as short as they were (inlined, the zero-copy
  // code cost every 32-byte echo 2.5% more instructions).
  [[gnu::noinline]] bool send_large(std::uint8_t op, bool fin, bool frame, const std::uint8_t* data,
                                    std::size_t size) {
    if (!can_borrow(data, size)) {
      lend_output_buffer();
      const bool copied = frame ? session_.send_frame(op, fin, data, size) : session_.send_message(op, data, size);
      after_output();
      return copied;
    }
    const bool ok = frame ? session_.send_frame_header(op, fin, size) : session_.send_message_header(op, size);
    if (!ok) return false;
    borrowed_.push_back(Borrowed{session_.output_size(), data, size});
    borrowed_bytes_ += size;
    after_output();
    return true;
  }

  // Before a big payload is copied into the output: when nothing is queued or being written, the
  // session writes into the thread's hot buffer, which written() takes back. Copying 16 KiB into
  // a connection's own buffer, cold since its last message, cost a load client about as much as
  // the kernel's copies (measured: 100 connections, 16 KiB echo).
  void lend_output_buffer() {
    if (output_lent_ || write_in_flight_ || session_.has_output() || !writing_.empty()) return;
    session_.swap_output_buffer(worker_.hot_output);
    output_lent_ = true;
  }

  void drop_borrowed() {
    borrowed_.clear();
    borrowed_bytes_ = 0;
  }

  // Calls `piece(data, size)` for what a flush writes, in wire order: the output taken from the
  // session (writing_) with the borrowed payloads in their places.
  template <class Piece>
  void for_each_piece(Piece&& piece) const {
    std::size_t at = 0;
    for (const Borrowed& b : borrowed_) {
      if (b.at > at) piece(writing_.data() + at, b.at - at);
      piece(b.data, b.size);
      at = b.at;
    }
    if (writing_.size() > at) piece(writing_.data() + at, writing_.size() - at);
  }

  // One non-blocking gathered write of the output and the borrowed payloads.
  std::size_t write_gathered(asio::error_code& ec) {
    std::vector<asio::const_buffer>& pieces = worker_.gather;
    pieces.clear();
    for_each_piece([&](const std::uint8_t* data, std::size_t size) { pieces.push_back(asio::buffer(data, size)); });
    return socket().write_some(pieces, ec);
  }

  // After a gathered write: what the kernel did not take (from write_offset_ on, in wire
  // order) is copied into writing_, for the ordinary write path; the payloads are then free.
  void keep_unwritten() {
    const std::size_t done = write_offset_;
    if (done == writing_.size() + borrowed_bytes_) {  // the kernel took it all (the usual case)
      writing_.clear();
      write_offset_ = 0;
      drop_borrowed();
      return;
    }
    OutputBuffer& rest = worker_.spare;
    rest.clear();
    rest.reserve(writing_.size() + borrowed_bytes_ - done);
    std::size_t at = 0;
    for_each_piece([&](const std::uint8_t* data, std::size_t size) {
      if (at + size > done) {
        const std::size_t skip = done > at ? done - at : 0;
        append_bytes(rest, data + skip, size - skip);
      }
      at += size;
    });
    writing_.swap(rest);
    // The thread keeps the old write buffer for next time, unless it is big (a burst's).
    rest.clear();
    if (rest.capacity() > kSharedReadBufferBytes) OutputBuffer().swap(rest);
    write_offset_ = 0;
    drop_borrowed();
  }

  void written() {
    // The buffer keeps its capacity while the connection is busy (the two output buffers swap
    // without reallocating); on_tick releases it once the connection goes quiet.
    write_offset_ = 0;
    writing_.clear();
    if (output_lent_) {
      // The lent buffer has been written (it went from the session into writing_): back to the
      // thread, unless a burst made it big.
      output_lent_ = false;
      writing_.swap(worker_.hot_output);
      if (worker_.hot_output.capacity() > kSharedReadBufferBytes) OutputBuffer().swap(worker_.hot_output);
    }
    flush();
  }

  // A quiet connection gives back its write buffer (busy ones keep theirs: the two output
  // buffers swap without reallocating).
  void release_idle_buffers() {
    if (borrowed_.empty() && borrowed_.capacity() > 0) std::vector<Borrowed>().swap(borrowed_);
    if (write_in_flight_ || writing_.capacity() == 0) return;
    OutputBuffer().swap(writing_);
  }

  void report_outgoing_frames() {
    std::size_t pos = skip_report_bytes_;
    skip_report_bytes_ = 0;
    while (pos < writing_.size()) {
      FrameHeader h;
      if (decode_header(writing_.data() + pos, writing_.size() - pos, h) != HeaderStatus::kComplete) break;
      handler_->on_frame_header(*this, h, true);
      pos += h.header_length + static_cast<std::size_t>(h.payload_length);
    }
  }

  // --- ending ---
  // `request`: the refused one, for the handler's on_upgrade_refused (null: it did not parse).
  void reject(int status, std::string reason, std::string body, HttpHeaders headers = {},
              const UpgradeRequest* request = nullptr) {
    settings_.counters->rejected.fetch_add(1, std::memory_order_relaxed);
    Rejection rejection{status, std::move(reason), std::move(headers), std::move(body)};
    if (handler_ != nullptr) handler_->on_upgrade_refused(id_, request, remote_, rejection);
    const std::string response = make_rejection_response(rejection);
    session_.send_raw_bytes(reinterpret_cast<const std::uint8_t*>(response.data()), response.size());
    handshake_error_ = std::to_string(rejection.status) + " " + rejection.reason +
                       (rejection.body.empty() ? std::string() : ": " + rejection.body);
    phase_ = Phase::kClosing;
    close_after_flush_ = true;
    deadline_ = worker_.now + settings_.limits.close_timeout;
    flush();
  }

  // Answers a plain HTTP request, then closes.
  void respond(const HttpResponse& response) {
    const std::string bytes = make_http_response(response);
    session_.send_raw_bytes(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    phase_ = Phase::kClosing;
    close_after_flush_ = true;
    deadline_ = worker_.now + settings_.limits.close_timeout;
    flush();
  }

  void fail_handshake(std::string why, Errc errc = Errc::kConnectionLost);
  void fail_connect(const asio::error_code& error) {
    const Errc errc = error == asio::error::timed_out ? Errc::kTimeout : Errc::kConnectionRefused;
    fail_handshake("cannot connect: " + error.message(), errc);
  }

  // Everything is written and the connection is to end. On a server, a client that may still
  // be sending (it was failed, or its request refused or answered without an upgrade) is not
  // cut off at once: closing a socket with unread input makes the kernel send a reset, and a
  // reset throws away what is still on its way to the client, the close frame or the HTTP
  // answer with it, which a client under test must see. So the sending half is shut (the
  // client reads our last bytes, then end of stream) and its input is read and dropped until
  // it closes too, or until the close timeout (deadline_) runs out. A client that failed the
  // connection closes at once (RFC 6455 7.1.7): its user waits on it, not on a broken server.
  void end_output() {
    const bool peer_may_send = !opened_ || session_.state() == Session::State::kFailed;
    if (settings_.role != Role::kServer || !peer_may_send) {
      close_transport({});
      return;
    }
    if (draining_) return;
    draining_ = true;
    asio::error_code ec;
    socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      close_transport({});
      return;
    }
    // For the handler the connection is over now, as it was when the socket closed here at once.
    auto keep = this->shared_from_this();
    notify_ended({});
    if (phase_ != Phase::kDone) start_read();
  }

  // Tells the handler the connection has ended (on_close, or on_handshake_failed when it never
  // opened), once: at the transport's close, or earlier when the socket is only being drained
  // (end_output), so that a peer keeping its half open delays nothing a user sees.
  CloseEvent notify_ended(std::string error) {
    notified_ = true;
    CloseEvent event;
    if (opened_) {
      event.code = session_.close_received() ? session_.received_close_code() : close_code::kAbnormal;
      event.reason = session_.received_close_reason();
      event.sent_code = session_.sent_close_code();
      event.clean = session_.state() == Session::State::kClosed;
      event.by_peer = peer_started_close_;
      event.we_failed = session_.state() == Session::State::kFailed;
      event.reply_timed_out = reply_timed_out_;
      event.error = !fail_reason_.empty() ? fail_reason_ : std::move(error);
      settings_.counters->open.fetch_sub(1, std::memory_order_relaxed);
      on_closed(event);
    } else {
      on_never_opened(handshake_error_.empty() ? error : handshake_error_);
    }
    return event;
  }

  void close_transport(std::string error) {
    if (phase_ == Phase::kDone) return;
    auto keep = this->shared_from_this();
    phase_ = Phase::kDone;
    drop_borrowed();
    asio::error_code ec;
    if (timer_) timer_->cancel();
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().close(ec);
    CloseEvent event = notified_ ? CloseEvent{} : notify_ended(std::move(error));
    worker_.unlink(this);
    self_.reset();
    if (client_ != nullptr && client_->on_done) {
      // Last: on_done may open the next connection, or end the loop's work.
      std::function<void(const ClientResult&)> on_done = std::move(client_->on_done);
      client_->on_done = nullptr;
      ClientResult result;
      result.error = std::move(client_->error);
      result.opened = opened_;
      if (opened_) result.close = std::move(event);
      if (client_->response) result.response = std::move(*client_->response);
      result.response.status = client_->status;
      on_done(result);
    }
  }

  void on_closed(const CloseEvent& event);
  void on_never_opened(const std::string& why);

  void mark_open() {
    opened_ = true;
    phase_ = Phase::kOpen;
    deadline_ = Clock::time_point::max();
    last_activity_ = worker_.now;
    next_ping_ = worker_.now + settings_.limits.ping_interval;
    settings_.counters->open.fetch_add(1, std::memory_order_relaxed);
  }

  Worker& worker_;
  const EngineSettings& settings_;
  Stream stream_;
  Session session_;
  ConnectionHandler* handler_;  // the settings' (server), or the connection's own (client)
  std::uint64_t id_;
  Phase phase_ = Phase::kHttp;
  bool opened_ = false;
  bool read_in_flight_ = false;
  bool write_in_flight_ = false;
  bool close_after_flush_ = false;
  bool draining_ = false;  // our half is shut; the peer's input is dropped until it closes (end_output)
  bool notified_ = false;  // the handler has been told the connection ended (notify_ended)
  bool consuming_ = false;  // inside Session::consume: writes wait for the end of the batch
  bool output_lent_ = false;  // the session's output buffer is the thread's (lend_output_buffer)
  bool close_deadline_set_ = false;
  bool peer_started_close_ = false;
  bool reply_timed_out_ = false;  // the engine sent a held close reply at the close timeout
  bool upgrade_pending_ = false;  // the handler has not answered the upgrade yet
  std::function<void(const std::string&)> abandoned_;  // PendingUpgrade::on_abandoned
  std::size_t reject_status_ = 0;  // server at its connection limit: answer this status
  Clock::time_point deadline_ = Clock::time_point::max();
  Clock::time_point last_activity_{};
  bool ping_outstanding_ = false;
  Clock::time_point ping_sent_{};
  Clock::time_point next_ping_{};
  std::unique_ptr<asio::steady_timer> timer_;  // Connection::set_timer, allocated on first use

  std::string remote_;
  std::string subprotocol_;
  std::string extensions_;
  std::string fail_reason_;
  std::string handshake_error_;
  std::unique_ptr<UpgradeRequest> request_;
  std::unique_ptr<RequestParser> request_parser_;

  std::vector<std::uint8_t> pending_;  // plain: bytes of an incomplete frame, carried over
  // TLS, and plain connections receiving data (own_read_buffer_): the connection's own read
  // buffer, inbuf_used_ bytes of an incomplete frame carried at its front.
  std::vector<std::uint8_t> inbuf_;
  std::size_t inbuf_used_ = 0;
  bool own_read_buffer_ = false;  // plain: reading into inbuf_ rather than the thread's buffer
  bool cooling_ = false;          // plain: the own-buffer read was cancelled to give inbuf_ back
  bool read_deferred_ = false;    // plain: start_read_deferred's post is pending (no read started yet)
  bool bulk_reads_ = false;       // plain: reads fill kOwnReadBufferBytes; the shared buffer serves
  OutputBuffer writing_;  // bytes being written
  // Zero copy: payloads queued by reference (can_borrow), each to be written after the first
  // `at` bytes of the session's output; only between a send and the write that follows it.
  struct Borrowed {
    std::size_t at;
    const std::uint8_t* data;
    std::size_t size;
  };
  std::vector<Borrowed> borrowed_;
  std::size_t borrowed_bytes_ = 0;
  std::size_t write_offset_ = 0;
  std::size_t skip_report_bytes_ = 0;  // handshake bytes at the front of the output

 public:
  ClientSide* client_ = nullptr;  // client role only
  std::unique_ptr<ClientSide> client_side_;
};

template <class Stream>
std::size_t BasicConnection<Stream>::process_request(std::uint8_t* data, std::size_t size) {
  const std::size_t used = request_parser_->consume(reinterpret_cast<const char*>(data), size);
  switch (request_parser_->state()) {
    case ParseState::kIncomplete:
      return size;
    case ParseState::kError:
      reject(request_parser_->error_status(), std::string(reason_phrase(request_parser_->error_status())),
             request_parser_->error());
      request_parser_.reset();
      return size;
    case ParseState::kComplete:
      break;
  }
  const UpgradeRequest& request = request_parser_->request();
  if (reject_status_ != 0) {
    reject(static_cast<int>(reject_status_), "Service Unavailable", "the server is at its connection limit", {},
           &request);
    request_parser_.reset();
    return size;
  }
  if (header_value(request.headers, "Upgrade").empty()) {
    // Plain HTTP on the WebSocket port (health checks, metrics, a page): the handler may answer.
    if (std::optional<HttpResponse> answer = handler_->on_http_request(request, remote_)) {
      respond(*answer);
      request_parser_.reset();
      return size;
    }
  }
  std::optional<Rejection> rejection = check_upgrade_request(request);
  if (!rejection && settings_.defer_upgrades) {
    upgrade_pending_ = true;
    handler_->on_upgrade_deferred(std::make_shared<DeferredUpgrade<BasicConnection>>(
        this->shared_from_this(), request, remote_, id_, worker_.index));
    return used;
  }
  if (!rejection) rejection = handler_->on_upgrade_request(request, remote_);
  if (rejection) {
    reject(rejection->status, rejection->reason, rejection->body, rejection->headers, &request);
    request_parser_.reset();
    return size;
  }
  for (const std::string& offered : requested_subprotocols(request)) {
    if (std::find(settings_.subprotocols.begin(), settings_.subprotocols.end(), offered) !=
        settings_.subprotocols.end()) {
      subprotocol_ = offered;
      break;
    }
  }
  complete_upgrade(request, {});
  return used;
}

// Answers 101 (subprotocol_ already chosen), negotiating deflate, and opens the connection.
template <class Stream>
void BasicConnection<Stream>::complete_upgrade(const UpgradeRequest& request, const HttpHeaders& extra) {
  if (settings_.deflate.enabled) {
    const std::string offers = header_value(request.headers, "Sec-WebSocket-Extensions");
    if (!offers.empty()) {
      ServerNegotiation negotiation = negotiate_deflate_server(offers, settings_.deflate);
      if (negotiation.accepted) {
        session_.enable_deflate(std::make_unique<DeflateCodec>(Role::kServer, negotiation.params, settings_.deflate));
        extensions_ = std::move(negotiation.response);
      }
    }
  }
  const std::string response = make_switching_response(
      accept_key_for(header_value(request.headers, "Sec-WebSocket-Key")), subprotocol_, extensions_, extra);
  session_.send_raw_bytes(reinterpret_cast<const std::uint8_t*>(response.data()), response.size());
  skip_report_bytes_ = response.size();
  if (settings_.keep_request) request_ = std::make_unique<UpgradeRequest>(request);
  request_parser_.reset();
  mark_open();
  // What on_open sends goes out in one write with the rest.
  consuming_ = true;
  handler_->on_open(*this);
  consuming_ = false;
  flush();
}

template <class Stream>
std::size_t BasicConnection<Stream>::process_response(std::uint8_t* data, std::size_t size) {
  ClientSide& client = *client_;
  const std::size_t used = client.response_parser->consume(reinterpret_cast<const char*>(data), size);
  switch (client.response_parser->state()) {
    case ParseState::kIncomplete:
      return size;
    case ParseState::kError:
      fail_handshake("malformed HTTP response: " + client.response_parser->error(), Errc::kHandshakeRejected);
      return size;
    case ParseState::kComplete:
      break;
  }
  const UpgradeResponse& response = client.response_parser->response();
  const std::string problem = check_upgrade_response(response, client.key, client.config().subprotocols);
  client.status = response.status;
  if (client.config().keep_response || !problem.empty()) client.response = std::make_unique<UpgradeResponse>(response);
  if (!problem.empty()) {
    constexpr std::size_t kShownBodyBytes = 200;
    std::string why = problem;
    if (response.status != 101 && !response.body.empty()) {
      // The body is the server's, untrusted: no terminal escapes or line breaks reach the user.
      std::string body = response.body.substr(0, kShownBodyBytes);
      for (char& c : body) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = ' ';
      }
      while (!body.empty() && body.back() == ' ') body.pop_back();
      if (!body.empty()) why += ": " + body;
    }
    fail_handshake(why, Errc::kHandshakeRejected);
    return size;
  }
  subprotocol_ = header_value(response.headers, "Sec-WebSocket-Protocol");
  const std::string extensions = header_value(response.headers, "Sec-WebSocket-Extensions");
  std::string extension_error;
  if (!extensions.empty() && !settings_.deflate.enabled) {
    extension_error = "server accepted an extension that was not offered: " + extensions;
  } else if (settings_.deflate.enabled) {
    ClientNegotiation negotiation = accept_deflate_response(extensions, settings_.deflate);
    if (!negotiation.ok) {
      extension_error = std::move(negotiation.error);
    } else if (negotiation.accepted) {
      session_.enable_deflate(std::make_unique<DeflateCodec>(Role::kClient, negotiation.params, settings_.deflate));
      extensions_ = extensions;
    }
  }
  client.response_parser.reset();
  // What only the opening needed goes: the key, the request's write buffer (idle memory counts).
  std::string().swap(client.key);
  if (!write_in_flight_) OutputBuffer().swap(writing_);
  mark_open();
  if (!extension_error.empty()) {
    // RFC 6455 9.1 / RFC 7692 5: an extension we cannot honour fails the connection.
    client.error = Error(Errc::kProtocolViolation, extension_error);
    session_.fail(close_code::kMandatoryExtension, extension_error, *this);
    after_session_change();
    return size;
  }
  // What on_open sends goes out in one write with the rest.
  consuming_ = true;
  handler_->on_open(*this);
  consuming_ = false;
  flush();
  return used;
}

template <class Stream>
void BasicConnection<Stream>::fail_handshake(std::string why, Errc errc) {
  if (handshake_error_.empty()) handshake_error_ = std::move(why);
  if (client_ != nullptr && !client_->error) {
    client_->error = Error(errc, handshake_error_);
  }
  close_transport(handshake_error_);
}

template <class Stream>
void BasicConnection<Stream>::on_closed(const CloseEvent& event) {
  handler_->on_close(*this, event);
}

template <class Stream>
void BasicConnection<Stream>::on_never_opened(const std::string& why) {
  if (client_ != nullptr) {
    if (!client_->error) client_->error = Error(Errc::kConnectionLost, why);
    return;
  }
  if (abandoned_) {
    auto callback = std::move(abandoned_);
    abandoned_ = nullptr;
    upgrade_pending_ = false;
    callback(why);
  }
  handler_->on_handshake_failed(remote_, why);
}

template <class Stream>
void BasicConnection<Stream>::start_client(std::unique_ptr<ClientSide> side) {
  client_side_ = std::move(side);
  client_ = client_side_.get();
  ClientSide& client = *client_;
  attach();
  remote_ = client.shared->host;
  deadline_ = worker_.now + client.config().connect_timeout;
  const WsUrl& first_hop = client.config().proxy.empty() ? client.shared->url : client.shared->proxy;
  // An address literal needs no resolver (no thread hop, no allocation): loopback load tests
  // open thousands of connections a second this way.
  asio::error_code literal_error;
  const asio::ip::address literal = asio::ip::make_address(first_hop.host, literal_error);
  if (!literal_error) {
    phase_ = Phase::kConnecting;
    socket().async_connect(tcp::endpoint(literal, first_hop.port),
                           [self = this->shared_from_this(), ep = tcp::endpoint(literal, first_hop.port)](
                               const asio::error_code& error) {
                             if (self->phase_ == Phase::kDone) return;
                             if (error) {
                               self->fail_connect(error);
                               return;
                             }
                             self->connect_to(ep);
                           });
    return;
  }
  phase_ = Phase::kResolving;
  client.resolver = std::make_unique<tcp::resolver>(worker_.io);
  client.resolver->async_resolve(
      first_hop.host, std::to_string(first_hop.port),
      [self = this->shared_from_this(), &client, &first_hop](const asio::error_code& ec,
                                                            const tcp::resolver::results_type& results) {
        if (self->phase_ == Phase::kDone) return;
        if (ec) {
          self->fail_handshake("cannot resolve host '" + first_hop.host + "': " + ec.message(), Errc::kUnknownHost);
          return;
        }
        self->phase_ = Phase::kConnecting;
        asio::async_connect(self->socket(), results,
                            [self, &client](const asio::error_code& error, const tcp::endpoint& ep) {
                              client.resolver.reset();
                              if (self->phase_ == Phase::kDone) return;
                              if (error) {
                                self->fail_connect(error);
                                return;
                              }
                              self->connect_to(ep);
                            });
      });
}

// The TCP connection is up: tunnel through the proxy if any, then TLS, then the upgrade.
template <class Stream>
void BasicConnection<Stream>::connect_to(const tcp::endpoint& ep) {
  ClientSide& client = *client_;
  auto self = this->shared_from_this();
  asio::error_code ignored;
  socket().set_option(tcp::no_delay(true), ignored);
  socket().non_blocking(true, ignored);
  remote_ = endpoint_string(ep);
  auto send_upgrade = [self, &client]() {
    self->phase_ = Phase::kHttp;
    client.key = make_client_key();
    const ClientShared& shared = *client.shared;
    const std::string request = make_upgrade_request(shared.host, shared.url.target, client.key,
                                                     shared.config->subprotocols, shared.deflate_offer,
                                                     shared.config->headers);
    client.response_parser = std::make_unique<ResponseParser>(self->settings_.max_header_bytes,
                                                              kKeptRefusalBodyBytes);
    self->session_.send_raw_bytes(reinterpret_cast<const std::uint8_t*>(request.data()), request.size());
    self->flush();
    self->start_read();
  };
  auto secure_then_upgrade = [self, send_upgrade]() {
    if constexpr (kTls) {
      self->phase_ = Phase::kTlsHandshake;
      self->stream_.async_handshake(
          asio::ssl::stream_base::client, [self, send_upgrade](const asio::error_code& tls_error) {
            if (self->phase_ == Phase::kDone) return;
            if (tls_error) {
              std::string why = "TLS handshake failed: ";
              const long verify = SSL_get_verify_result(self->stream_.native_handle());
              if (verify != X509_V_OK) {
                why += std::string("certificate verification failed: ") + X509_verify_cert_error_string(verify);
              } else {
                why += tls_error.message();
                // What OpenSSL says when plain HTTP bytes come back (a ws:// server's 400).
                if (tls_error.category() == asio::error::get_ssl_category() &&
                    ERR_GET_REASON(static_cast<unsigned long>(tls_error.value())) == SSL_R_WRONG_VERSION_NUMBER) {
                  why += "; the server did not answer in TLS: is it a ws:// server?";
                }
              }
              self->fail_handshake(why, Errc::kTlsFailure);
              return;
            }
            send_upgrade();
          });
    } else {
      send_upgrade();
    }
  };
  if (client.config().proxy.empty()) {
    secure_then_upgrade();
  } else {
    proxy_connect(secure_then_upgrade);
  }
}

// Opens the tunnel through an HTTP proxy (RFC 9110 9.3.6): CONNECT host:port, expect 200.
template <class Stream>
template <class Next>
void BasicConnection<Stream>::proxy_connect(Next next) {
  ClientSide& client = *client_;
  const std::string authority = (client.shared->url.host.find(':') != std::string::npos ? "[" + client.shared->url.host + "]"
                                                                                  : client.shared->url.host) +
                                ":" + std::to_string(client.shared->url.port);
  client.proxy_exchange = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n\r\n";
  auto self = this->shared_from_this();
  asio::async_write(socket(), asio::buffer(client.proxy_exchange), [self, &client, next](const asio::error_code& ec,
                                                                                         std::size_t) {
    if (self->phase_ == Phase::kDone) return;
    if (ec) {
      self->fail_handshake("proxy " + host_header(client.shared->proxy) + ": " + ec.message(), Errc::kConnectionRefused);
      return;
    }
    client.proxy_exchange.clear();
    asio::async_read_until(
        self->socket(), asio::dynamic_buffer(client.proxy_exchange, kProxyAnswerMaxBytes), "\r\n\r\n",
        [self, &client, next](const asio::error_code& error, std::size_t head_bytes) {
          if (self->phase_ == Phase::kDone) return;
          const std::string proxy_name = "proxy " + host_header(client.shared->proxy);
          if (error) {
            self->fail_handshake(proxy_name + " did not answer CONNECT: " + error.message(), Errc::kConnectionRefused);
            return;
          }
          const std::string status_line = client.proxy_exchange.substr(0, client.proxy_exchange.find("\r\n"));
          // "HTTP/1.1 200 Connection established": any 2xx opens the tunnel.
          const bool ok = status_line.size() >= 12 && status_line.compare(0, 5, "HTTP/") == 0 &&
                          status_line[9] == '2';
          if (!ok) {
            self->fail_handshake(proxy_name + " refused the tunnel: " + status_line, Errc::kHandshakeRejected);
            return;
          }
          if (client.proxy_exchange.size() != head_bytes) {
            self->fail_handshake(proxy_name + " sent data before the tunnel opened", Errc::kProtocolViolation);
            return;
          }
          client.proxy_exchange.clear();
          next();
        });
  });
}

// The handler-facing close notification needs the concrete types; defined after both exist.
using PlainConnection = BasicConnection<tcp::socket>;
using TlsConnection = BasicConnection<TlsStream>;

unsigned thread_count(unsigned requested) { return requested == 0 ? available_cpus() : requested; }

// A client TLS context as the configuration asks (CA, verification, client certificate).
Error make_client_tls_context(const ClientConfig& c, std::shared_ptr<asio::ssl::context>& out) {
  auto tls = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
  // Idle TLS connections give their record buffers back (many of them in a load run).
  SSL_CTX_set_mode(tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
  asio::error_code ec;
  if (!c.ca_file.empty()) {
    tls->load_verify_file(c.ca_file, ec);
    if (ec) return tls_file_error(c.ca_file, "CA file");
  } else {
    tls->set_default_verify_paths(ec);
  }
  if (!c.cert_file.empty()) {
    if (!c.key_passphrase.empty()) {
      tls->set_password_callback(
          [pass = c.key_passphrase](std::size_t, asio::ssl::context::password_purpose) { return pass; });
    }
    tls->use_certificate_chain_file(c.cert_file, ec);
    if (ec) return tls_file_error(c.cert_file, "client certificate");
    const std::string& key = c.key_file.empty() ? c.cert_file : c.key_file;
    tls->use_private_key_file(key, asio::ssl::context::pem, ec);
    if (ec) return tls_file_error(key, "client key");
  }
  tls->set_verify_mode(c.insecure ? asio::ssl::verify_none : asio::ssl::verify_peer);
  out = std::move(tls);
  return {};
}

// The worker's shared context for this configuration, made on first use.
Error client_tls_context(Worker& worker, const ClientConfig& c, asio::ssl::context*& out) {
  std::string key;
  for (const std::string* part : {&c.ca_file, &c.cert_file, &c.key_file, &c.key_passphrase}) {
    key += *part;
    key += '\0';
  }
  key += c.insecure ? '1' : '0';
  auto found = worker.client_tls.find(key);
  if (found == worker.client_tls.end()) {
    std::shared_ptr<asio::ssl::context> made;
    if (Error error = make_client_tls_context(c, made)) return error;
    found = worker.client_tls.emplace(std::move(key), std::move(made)).first;
  }
  out = found->second.get();
  return {};
}

// Opens a client connection on `worker` (on its thread). `on_done` is called exactly once,
// later, on that thread: posted when the connection cannot even start (a bad URL or proxy, a
// TLS file that does not load, a loop that is stopping).
// The shared state for `config`: the worker's last one when it was made for the same
// configuration object, otherwise made (and checked) now. Empty with `error` set when the URL or
// proxy is bad.
std::shared_ptr<const ClientShared> client_shared(Worker& worker, Counters& counters,
                                                  std::atomic<std::uint64_t>& ids, Logger& logger,
                                                  std::shared_ptr<const ClientConfig> config, Error& error) {
  const std::shared_ptr<const ClientShared>& last = worker.last_client;
  if (last && last->config == config && last->counters == &counters && last->ids == &ids &&
      last->settings.logger == &logger) {
    return last;
  }
  auto shared = std::make_shared<ClientShared>();
  std::string why;
  if (!parse_ws_url(config->url, shared->url, why)) {
    error = Error(Errc::kUsage, config->url + ": " + why);
    return nullptr;
  }
  if (!config->proxy.empty()) {
    std::string proxy = config->proxy;
    if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
    if (proxy.rfind("http://", 0) != 0 || !parse_ws_url(proxy, shared->proxy, why)) {
      error = Error(Errc::kUsage, "proxy " + config->proxy + ": " +
                                      (why.empty() ? "only http:// proxies are supported" : why));
      return nullptr;
    }
  }
  shared->host = host_header(shared->url);
  if (config->deflate.enabled) shared->deflate_offer = make_deflate_offer(config->deflate);
  EngineSettings& settings = shared->settings;
  settings.role = Role::kClient;
  settings.limits = config->limits;
  settings.deflate = config->deflate;
  settings.subprotocols = config->subprotocols;
  settings.report_frames = config->report_frames;
  settings.deliver_frames = config->deliver_frames;
  settings.deliver_after_close = config->deliver_after_close;
  settings.hold_close_reply = config->hold_close_reply;
  settings.logger = &logger;
  settings.counters = &counters;
  settings.ids = &ids;
  shared->counters = &counters;
  shared->ids = &ids;
  shared->config = std::move(config);
  worker.last_client = shared;
  return shared;
}

// Opens a client connection on `worker` (on its thread). `on_done` is called exactly once,
// later, on that thread: posted when the connection cannot even start (a bad URL or proxy, a
// TLS file that does not load, a loop that is stopping).
void open_client(Worker& worker, Counters& counters, std::atomic<std::uint64_t>& ids, Logger& logger,
                 std::shared_ptr<const ClientConfig> config, ConnectionHandler& handler,
                 std::function<void(const ClientResult&)> on_done) {
  auto refuse = [&worker, &on_done](Error error) {
    ClientResult result;
    result.error = std::move(error);
    asio::post(worker.io, [done = std::move(on_done), result = std::move(result)] { done(result); });
  };
  // on_done moves into the connection's state only once nothing can refuse any more.
  if (worker.stopping) {
    refuse(Error(Errc::kInterrupted, config->url + ": not connecting: shutting down"));
    return;
  }
  Error error;
  std::shared_ptr<const ClientShared> shared = client_shared(worker, counters, ids, logger, std::move(config), error);
  if (!shared) {
    refuse(std::move(error));
    return;
  }
  const ClientConfig& c = *shared->config;
  worker.now = Clock::now();
  const milliseconds every = sweep_interval_for(
      {c.connect_timeout, c.limits.idle_timeout, c.limits.close_timeout, c.limits.ping_interval, c.limits.ping_timeout});
  if (every < worker.sweep_every) worker.sweep_every = every;
  auto side = std::make_unique<ClientSide>();
  side->shared = shared;
  if (shared->url.secure) {
    asio::ssl::context* tls = nullptr;
    if (Error tls_error = client_tls_context(worker, c, tls)) {
      refuse(std::move(tls_error));
      return;
    }
    auto conn = std::make_shared<TlsConnection>(worker, shared->settings, worker.io, *tls);
    conn->set_handler(handler);
    // SSL_set_tlsext_host_name, spelled out: the macro casts in the old style.
    SSL_ctrl(conn->stream().native_handle(), SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(shared->url.host.c_str()));
    if (!c.insecure) conn->stream().set_verify_callback(asio::ssl::host_name_verification(shared->url.host));
    side->on_done = std::move(on_done);
    conn->start_client(std::move(side));
  } else {
    auto conn = std::make_shared<PlainConnection>(worker, shared->settings, worker.io);
    conn->set_handler(handler);
    side->on_done = std::move(on_done);
    conn->start_client(std::move(side));
  }
}

}  // namespace

unsigned available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return static_cast<unsigned>(count);
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : hw;
}

SharedMessage::SharedMessage(std::uint8_t opcode, std::string payload) : opcode_(opcode) {
  FrameHeader h;
  h.fin = true;
  h.opcode = opcode;
  h.payload_length = payload.size();
  std::uint8_t header[kMaxFrameHeaderBytes];
  header_bytes_ = encode_header(header, h);
  frame_.reserve(header_bytes_ + payload.size());
  frame_.assign(reinterpret_cast<const char*>(header), header_bytes_);
  frame_ += payload;
}

// ---------------------------------------------------------------------------------------------
// Server

struct Server::Impl {
  ServerConfig config;
  Logger& logger;
  EngineSettings settings;
  std::vector<std::unique_ptr<Worker>> workers;
  std::unique_ptr<tcp::acceptor> acceptor;
  std::unique_ptr<asio::ssl::context> tls;
  asio::steady_timer* accept_retry = nullptr;
  std::unique_ptr<asio::steady_timer> accept_retry_timer;
  std::string address;
  std::uint16_t port = 0;
  std::size_t next_worker = 0;
  Counters counters;
  Counters client_counters;  // the client connections its workers open (Server::connect)
  std::atomic<bool> shutting_down{false};
  std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;

  Impl(ServerConfig c, ConnectionHandler& handler, Logger& l) : config(std::move(c)), logger(l) {
    settings.role = Role::kServer;
    settings.limits = config.limits;
    settings.handshake_timeout = config.handshake_timeout;
    settings.max_header_bytes = config.max_header_bytes;
    settings.deflate = config.deflate;
    settings.subprotocols = config.subprotocols;
    settings.keep_request = config.keep_request;
    settings.report_frames = config.report_frames;
    settings.deliver_frames = config.deliver_frames;
    settings.deliver_after_close = config.deliver_after_close;
    settings.hold_close_reply = config.hold_close_reply;
    settings.defer_upgrades = config.defer_upgrades;
    settings.handler = &handler;
    settings.logger = &logger;
    settings.counters = &counters;
    settings.ids = &counters.next_id;
    const unsigned n = thread_count(config.threads);
    const milliseconds every = sweep_interval_for(
        {config.handshake_timeout, config.limits.idle_timeout, config.limits.close_timeout,
         config.limits.ping_interval, config.limits.ping_timeout});
    for (unsigned i = 0; i < n; ++i) {
      auto worker = std::make_unique<Worker>();
      worker->index = i;
      worker->read_buffer.resize(kSharedReadBufferBytes);
      worker->sweep_every = every;
      workers.push_back(std::move(worker));
    }
  }

  void accept_next() {
    if (shutting_down.load()) return;
    Worker& target = *workers[next_worker];
    next_worker = (next_worker + 1) % workers.size();
    acceptor->async_accept(target.io, [this, &target](const asio::error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || shutting_down.load()) return;
      if (ec) {
        if (logger.enabled(LogLevel::kWarning)) logger.log(LogLevel::kWarning, "accept failed: " + ec.message());
        accept_retry_timer->expires_after(kAcceptRetryDelay);
        accept_retry_timer->async_wait([this](const asio::error_code& error) {
          if (!error) accept_next();
        });
        return;
      }
      counters.accepted.fetch_add(1, std::memory_order_relaxed);
      const std::size_t reject = counters.open.load(std::memory_order_relaxed) >= config.max_connections ? 503 : 0;
      asio::post(target.io, [this, &target, s = std::move(socket), reject]() mutable {
        start_connection(target, std::move(s), reject);
      });
      accept_next();
    });
  }

  void start_connection(Worker& worker, tcp::socket socket, std::size_t reject) {
    if (worker.stopping) return;
    worker.now = Clock::now();
    if (tls) {
      auto conn = std::make_shared<TlsConnection>(worker, settings, std::move(socket), *tls);
      conn->start_server(reject);
    } else {
      auto conn = std::make_shared<PlainConnection>(worker, settings, std::move(socket));
      conn->start_server(reject);
    }
  }
};

Server::Server(ServerConfig config, ConnectionHandler& handler, Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(config), handler, logger)) {}

Server::~Server() = default;

Error Server::listen() {
  Impl& s = *impl_;
  const bool pem = !s.config.tls_cert_pem.empty() || !s.config.tls_key_pem.empty();
  const bool files = !s.config.tls_cert_file.empty() || !s.config.tls_key_file.empty();
  if (pem || files) {
    if (pem && (s.config.tls_cert_pem.empty() || s.config.tls_key_pem.empty())) {
      return Error(Errc::kUsage, "a TLS certificate and its key go together");
    }
    if (!pem && (s.config.tls_cert_file.empty() || s.config.tls_key_file.empty())) {
      return Error(Errc::kUsage, "--tls-cert and --tls-key go together");
    }
    s.tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    s.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    // Idle TLS connections give their record buffers back to the allocator.
    SSL_CTX_set_mode(s.tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);
    asio::error_code ec;
    if (pem) {
      s.tls->use_certificate_chain(asio::buffer(s.config.tls_cert_pem), ec);
      if (ec) return Error(Errc::kBadData, "cannot load the TLS certificate: " + openssl_error_string());
      s.tls->use_private_key(asio::buffer(s.config.tls_key_pem), asio::ssl::context::pem, ec);
      if (ec) return Error(Errc::kBadData, "cannot load the TLS private key: " + openssl_error_string());
    } else {
      s.tls->use_certificate_chain_file(s.config.tls_cert_file, ec);
      if (ec) return tls_file_error(s.config.tls_cert_file, "certificate");
      s.tls->use_private_key_file(s.config.tls_key_file, asio::ssl::context::pem, ec);
      if (ec) return tls_file_error(s.config.tls_key_file, "private key");
    }
  }
  Worker& first = *s.workers.front();
  asio::error_code ec;
  const asio::ip::address addr = asio::ip::make_address(s.config.host, ec);
  tcp::endpoint endpoint;
  if (ec) {
    tcp::resolver resolver(first.io);
    auto results = resolver.resolve(s.config.host, std::to_string(s.config.port), ec);
    if (ec || results.empty()) {
      return Error(Errc::kOsError, "cannot resolve listen address '" + s.config.host + "': " + ec.message());
    }
    endpoint = results.begin()->endpoint();
  } else {
    endpoint = tcp::endpoint(addr, s.config.port);
  }
  s.acceptor = std::make_unique<tcp::acceptor>(first.io);
  const std::string where = s.config.host + ":" + std::to_string(s.config.port);
  s.acceptor->open(endpoint.protocol(), ec);
  if (!ec) s.acceptor->set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec && endpoint.address().is_v6()) s.acceptor->set_option(asio::ip::v6_only(true), ec);
  if (!ec) s.acceptor->bind(endpoint, ec);
  if (!ec) s.acceptor->listen(kListenBacklog, ec);
  if (ec) return Error(Errc::kOsError, "cannot listen on " + where + ": " + ec.message());
  const tcp::endpoint bound = s.acceptor->local_endpoint(ec);
  s.address = bound.address().to_string();
  s.port = bound.port();
  s.accept_retry_timer = std::make_unique<asio::steady_timer>(first.io);
  return {};
}

std::uint16_t Server::port() const { return impl_->port; }
const std::string& Server::address() const { return impl_->address; }
bool Server::tls() const { return impl_->tls != nullptr; }

void Server::run() {
  Impl& s = *impl_;
  for (auto& worker : s.workers) {
    s.guards.push_back(asio::make_work_guard(worker->io));
    worker->start_sweep();
  }
  s.accept_next();
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < s.workers.size(); ++i) {
    threads.emplace_back([&worker = *s.workers[i]] { worker.io.run(); });
  }
  s.workers.front()->io.run();
  for (auto& t : threads) t.join();
}

void Server::shutdown(std::uint16_t code, std::chrono::milliseconds grace) {
  Impl& s = *impl_;
  if (s.shutting_down.exchange(true)) return;
  for (std::size_t i = 0; i < s.workers.size(); ++i) {
    Worker& worker = *s.workers[i];
    asio::post(worker.io, [&s, &worker, i, code, grace] {
      if (i == 0) {
        asio::error_code ec;
        s.acceptor->close(ec);
        s.accept_retry_timer->cancel();
      }
      worker.now = Clock::now();
      worker.stopping = true;
      worker.hard_stop = worker.now + grace;
      for (ConnectionNode* node = worker.head; node != nullptr;) {
        ConnectionNode* next = node->next_;
        std::shared_ptr<ConnectionNode> keep = node->self_;
        node->begin_shutdown(code);
        node = next;
      }
      if (worker.connections == 0) worker.stop_sweep();
      s.guards[i].reset();
    });
  }
}

Server::Stats Server::stats() const {
  Stats stats;
  stats.accepted = impl_->counters.accepted.load();
  stats.rejected = impl_->counters.rejected.load();
  stats.send_queue_overflows = impl_->counters.send_queue_overflows.load();
  stats.open = impl_->counters.open.load();
  stats.ping_timeouts = impl_->counters.ping_timeouts.load();
  for (const auto& worker : impl_->workers) {
    stats.bytes_read += worker->bytes_read.load(std::memory_order_relaxed);
    stats.bytes_written += worker->bytes_written.load(std::memory_order_relaxed);
  }
  return stats;
}

unsigned Server::worker_count() const { return static_cast<unsigned>(impl_->workers.size()); }

void Server::connect(unsigned worker, const ClientConfig& config, ConnectionHandler& handler,
                     std::function<void(const ClientResult&)> on_done) {
  Impl& s = *impl_;
  open_client(*s.workers.at(worker), s.client_counters, s.counters.next_id, s.logger,
              std::make_shared<const ClientConfig>(config), handler,
              std::move(on_done));
}

void Server::post(unsigned index, std::function<void()> task) {
  Worker& worker = *impl_->workers.at(index);
  asio::post(worker.io, [&worker, task = std::move(task)] {
    worker.now = Clock::now();
    task();
  });
}

// ---------------------------------------------------------------------------------------------
// ClientLoop

struct ClientLoop::Impl {
  Logger& logger;
  Worker worker;
  Counters counters;
  asio::executor_work_guard<asio::io_context::executor_type> guard{asio::make_work_guard(worker.io)};
  std::atomic<bool> stop_requested{false};

  // call_at: a min-heap by (when, order made), served by one timer.
  struct Scheduled {
    Clock::time_point when;
    std::uint64_t order;
    std::function<void()> task;
    bool operator>(const Scheduled& other) const {
      return when != other.when ? when > other.when : order > other.order;
    }
  };
  std::vector<Scheduled> scheduled;
  std::uint64_t next_order = 0;
  asio::steady_timer schedule_timer{worker.io};
  Clock::time_point armed_for = Clock::time_point::max();

  explicit Impl(Logger& l) : logger(l) { worker.read_buffer.resize(kSharedReadBufferBytes); }

  void arm() {
    if (scheduled.empty()) {
      armed_for = Clock::time_point::max();
      schedule_timer.cancel();
      return;
    }
    const Clock::time_point first = scheduled.front().when;
    if (first == armed_for) return;
    armed_for = first;
    schedule_timer.expires_at(first);
    schedule_timer.async_wait([this, first](const asio::error_code& ec) {
      if (ec || first != armed_for) return;
      armed_for = Clock::time_point::max();
      run_due();
    });
  }

  void run_due() {
    worker.now = Clock::now();
    // Tasks due now run in order; one that schedules another already due runs it in this pass.
    // Their output is written once they have all run (a rate schedule's tick sends many
    // messages: one write per connection, not per message).
    worker.batching = true;
    while (!scheduled.empty() && scheduled.front().when <= worker.now && !worker.stopping) {
      std::pop_heap(scheduled.begin(), scheduled.end(), std::greater<>());
      std::function<void()> task = std::move(scheduled.back().task);
      scheduled.pop_back();
      task();
    }
    worker.batching = false;
    worker.flush_dirty();
    arm();
  }

  void begin_stop(std::uint16_t code, milliseconds grace) {
    worker.now = Clock::now();
    worker.stopping = true;
    worker.hard_stop = worker.now + grace;
    scheduled.clear();
    arm();
    for (ConnectionNode* node = worker.head; node != nullptr;) {
      ConnectionNode* next = node->next_;
      std::shared_ptr<ConnectionNode> keep = node->self_;
      node->begin_shutdown(code);
      node = next;
    }
    if (worker.connections == 0) worker.stop_sweep();
    guard.reset();
  }
};

ClientLoop::ClientLoop(Logger& logger) : impl_(std::make_unique<Impl>(logger)) {}

ClientLoop::~ClientLoop() = default;

void ClientLoop::connect(const ClientConfig& config, ConnectionHandler& handler,
                         std::function<void(const ClientResult&)> on_done) {
  Impl& l = *impl_;
  open_client(l.worker, l.counters, l.counters.next_id, l.logger, std::make_shared<const ClientConfig>(config),
              handler, std::move(on_done));
}

void ClientLoop::connect(std::shared_ptr<const ClientConfig> config, ConnectionHandler& handler,
                         std::function<void(const ClientResult&)> on_done) {
  Impl& l = *impl_;
  open_client(l.worker, l.counters, l.counters.next_id, l.logger, std::move(config), handler, std::move(on_done));
}

void ClientLoop::run() {
  Impl& l = *impl_;
  l.worker.now = Clock::now();
  // Releasing the work guard before run() (set_keep_running(false)) leaves the context stopped.
  l.worker.io.restart();
  l.worker.io.run();
}

void ClientLoop::set_keep_running(bool keep_running) {
  Impl& l = *impl_;
  l.worker.lingers = keep_running;
  if (!keep_running) l.guard.reset();
}

void ClientLoop::stop(std::uint16_t code, std::chrono::milliseconds grace) {
  Impl& l = *impl_;
  if (l.stop_requested.exchange(true)) return;
  asio::post(l.worker.io, [&l, code, grace] { l.begin_stop(code, grace); });
}

void ClientLoop::post(std::function<void()> task) {
  Worker& worker = impl_->worker;
  asio::post(worker.io, [&worker, task = std::move(task)] {
    worker.now = Clock::now();
    task();
  });
}

void ClientLoop::call_at(std::chrono::steady_clock::time_point when, std::function<void()> task) {
  Impl& l = *impl_;
  if (l.worker.stopping) return;
  l.scheduled.push_back(Impl::Scheduled{when, l.next_order++, std::move(task)});
  std::push_heap(l.scheduled.begin(), l.scheduled.end(), std::greater<>());
  l.arm();
}

std::size_t ClientLoop::open_connections() const {
  return static_cast<std::size_t>(impl_->counters.open.load(std::memory_order_relaxed));
}

// ---------------------------------------------------------------------------------------------
// Client: one connection on a ClientLoop of its own that ends with it.

struct Client::Impl {
  ClientConfig config;
  ConnectionHandler& handler;
  ClientLoop loop;
  ClientResult result;

  Impl(ClientConfig c, ConnectionHandler& h, Logger& logger) : config(std::move(c)), handler(h), loop(logger) {
    loop.set_keep_running(false);
  }
};

Client::Client(ClientConfig config, ConnectionHandler& handler, Logger& logger)
    : impl_(std::make_unique<Impl>(std::move(config), handler, logger)) {}

Client::~Client() = default;

ClientResult Client::run() {
  Impl& c = *impl_;
  c.loop.connect(c.config, c.handler, [&c](const ClientResult& result) { c.result = result; });
  c.loop.run();
  return c.result;
}

void Client::post(std::function<void()> task) { impl_->loop.post(std::move(task)); }

void Client::shutdown(std::uint16_t code) { impl_->loop.stop(code, impl_->config.limits.close_timeout); }

}  // namespace wstool::ws
