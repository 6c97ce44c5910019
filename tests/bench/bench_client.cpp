// bench_client: the one lean WebSocket echo client scripts/bench-echo points at every server, so
// the servers are compared under the same load. Single thread, pre-sized buffers, no allocation
// per message; frames come from our own codec (lib/frame.h).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <asio.hpp>
#include <asio/ssl.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lib/frame.h"
#include "tests/bench/process_cpu.h"

namespace wstool::bench {
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

// RFC 6455's own sample key and the accept value it must produce (section 1.3): a fixed key
// keeps the handshake free of randomness and lets the answer be checked with one search.
constexpr std::string_view kSecWebSocketKey = "dGhlIHNhbXBsZSBub25jZQ==";
constexpr std::string_view kExpectedAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
// A fixed masking key: every frame is built once, up front. Unpredictable keys (RFC 6455 10.3)
// protect proxies, not a loopback benchmark; the server still unmasks every byte.
constexpr std::uint32_t kMaskKey = 0x5a3c96e1;
constexpr std::size_t kReadBufferBytes = std::size_t{256} << 10;
constexpr std::size_t kHandshakeReadBytes = 4096;  // a 101 answer is a few hundred bytes
constexpr std::size_t kMaxResponseHeaderBytes = 16384;
constexpr std::size_t kDefaultParallel = 32;
constexpr double kSetupTimeoutSeconds = 30;
constexpr double kBytesPerMegabyte = 1e6;
constexpr double kMicrosecondsPerSecond = 1e6;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t connections = 1;
  std::size_t size = 32;
  std::size_t depth = 1;
  double duration = 3;
  double warmup = 1;
  bool raw = false;
  bool handshakes = false;
  bool idle = false;
  bool tls = false;
  std::size_t parallel = kDefaultParallel;
  long server_pid = 0;  // > 0: report this process's CPU time per measured message
};

std::uint8_t pattern_byte(std::size_t i) { return static_cast<std::uint8_t>((i * 31 + 7) & 0xff); }

std::string upgrade_request(const Options& o) {
  return "GET / HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + std::string(kSecWebSocketKey) +
         "\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// The HTTP answer so far, judged: -1 bad, 0 incomplete, else the bytes the header occupies.
long judge_response(const std::string& response) {
  std::size_t end = response.find("\r\n\r\n");
  if (end == std::string::npos) return response.size() > kMaxResponseHeaderBytes ? -1 : 0;
  std::string_view head(response.data(), end);
  if (head.rfind("HTTP/1.1 101", 0) != 0 || head.find(kExpectedAccept) == std::string_view::npos) return -1;
  return static_cast<long>(end + 4);
}

// One frame as the client sends it (masked), repeated `depth` times, so any number of echoes
// up to the depth is answered with one contiguous write.
struct Outgoing {
  std::vector<std::uint8_t> frames;
  std::size_t frame_bytes = 0;
  // What a returning message must look like: its payload length, whether it still carries our
  // mask (a raw TCP echo returns our frames verbatim) and its first and last payload bytes.
  bool masked = false;
  std::uint8_t first = 0;
  std::uint8_t last = 0;
};

Outgoing build_outgoing(const Options& o) {
  std::vector<std::uint8_t> payload(o.size);
  for (std::size_t i = 0; i < o.size; ++i) payload[i] = pattern_byte(i);
  Outgoing out;
  out.first = payload.front();
  out.last = payload.back();
  ws::apply_mask(payload.data(), payload.size(), kMaskKey, 0);
  if (o.raw) {
    out.masked = true;
    out.first = payload.front();
    out.last = payload.back();
  }
  ws::FrameHeader h;
  h.opcode = ws::opcode::kBinary;
  h.masked = true;
  h.mask_key = kMaskKey;
  h.payload_length = o.size;
  std::array<std::uint8_t, ws::kMaxFrameHeaderBytes> header{};
  std::size_t header_bytes = ws::encode_header(header.data(), h);
  out.frame_bytes = header_bytes + o.size;
  out.frames.reserve(out.frame_bytes * o.depth);
  for (std::size_t i = 0; i < o.depth; ++i) {
    out.frames.insert(out.frames.end(), header.begin(), header.begin() + static_cast<std::ptrdiff_t>(header_bytes));
    out.frames.insert(out.frames.end(), payload.begin(), payload.end());
  }
  return out;
}

struct Stats {
  std::uint64_t messages = 0;
  std::uint64_t errors = 0;
};

// Walks the echoed byte stream frame by frame without copying payloads: only headers are
// gathered (they may straddle reads); payload bytes are skipped, their first and last checked.
class EchoParser {
 public:
  explicit EchoParser(const Outgoing& expect, std::size_t size) : expect_(expect), size_(size) {}

  // Returns the messages completed in [data, data+n), or -1 on a frame that is not our echo.
  long feed(const std::uint8_t* data, std::size_t n) {
    long completed = 0;
    while (n > 0) {
      if (!in_payload_) {
        std::size_t take = std::min(n, header_need_ - header_have_);
        std::memcpy(header_.data() + header_have_, data, take);
        header_have_ += take;
        data += take;
        n -= take;
        if (header_have_ < header_need_) break;
        ws::FrameHeader h;
        ws::HeaderStatus status = ws::decode_header(header_.data(), header_have_, h);
        if (status == ws::HeaderStatus::kIncomplete) {
          if (h.header_length <= header_have_ || h.header_length > header_.size()) return -1;
          header_need_ = h.header_length;
          continue;
        }
        if (status != ws::HeaderStatus::kComplete || !h.fin || h.opcode != ws::opcode::kBinary ||
            h.masked != expect_.masked || h.payload_length != size_)
          return -1;
        header_have_ = 0;
        header_need_ = 2;
        in_payload_ = true;
        payload_pos_ = 0;
      } else {
        std::size_t take = std::min(n, size_ - payload_pos_);
        if (payload_pos_ == 0 && data[0] != expect_.first) return -1;
        payload_pos_ += take;
        if (payload_pos_ == size_) {
          if (data[take - 1] != expect_.last) return -1;
          in_payload_ = false;
          ++completed;
        }
        data += take;
        n -= take;
      }
    }
    return completed;
  }

 private:
  const Outgoing& expect_;
  std::size_t size_;
  std::array<std::uint8_t, ws::kMaxFrameHeaderBytes> header_{};
  std::size_t header_have_ = 0;
  std::size_t header_need_ = 2;
  bool in_payload_ = false;
  std::size_t payload_pos_ = 0;
};

// One echo connection: connect, upgrade (unless raw), then keep `depth` messages in flight,
// answering every echo with a new message; echoes that arrive while a write is in progress are
// answered together by the next write.
class EchoConnection {
 public:
  EchoConnection(asio::io_context& io, const Options& o, const Outgoing& out, const std::string& request,
                 Stats& stats, std::function<void(bool)> on_ready)
      : socket_(io), options_(o), out_(out), request_(request), stats_(stats), parser_(out, o.size),
        on_ready_(std::move(on_ready)), buffer_(kReadBufferBytes) {}

  void start(const tcp::endpoint& endpoint) {
    socket_.async_connect(endpoint, [this](const asio::error_code& ec) {
      if (ec) return setup_failed();
      asio::error_code ignored;
      socket_.set_option(tcp::no_delay(true), ignored);
      if (options_.raw) return ready(nullptr, 0);
      asio::async_write(socket_, asio::buffer(request_), [this](const asio::error_code& wec, std::size_t) {
        if (wec) return setup_failed();
        read_response();
      });
    });
  }

  void stop() {
    asio::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read_response() {
    socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
      if (ec) return setup_failed();
      response_.append(reinterpret_cast<const char*>(buffer_.data()), n);
      long header = judge_response(response_);
      if (header < 0) return setup_failed();
      if (header == 0) return read_response();
      std::string rest = response_.substr(static_cast<std::size_t>(header));
      std::memcpy(buffer_.data(), rest.data(), rest.size());
      ready(buffer_.data(), rest.size());
    });
  }

  void setup_failed() {
    ++stats_.errors;
    on_ready_(false);
  }

  void ready(const std::uint8_t* early, std::size_t early_bytes) {
    on_ready_(true);
    pending_ = options_.depth;
    flush();
    if (early_bytes > 0 && !consume(early, early_bytes)) return;
    read();
  }

  void read() {
    socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
      if (ec) return fail();
      if (consume(buffer_.data(), n)) read();
    });
  }

  bool consume(const std::uint8_t* data, std::size_t n) {
    long completed = parser_.feed(data, n);
    if (completed < 0) {
      fail();
      return false;
    }
    if (completed > 0) {
      stats_.messages += static_cast<std::uint64_t>(completed);
      pending_ += static_cast<std::size_t>(completed);
      if (!writing_) flush();
    }
    return true;
  }

  void flush() {
    writing_ = true;
    std::size_t count = pending_;
    pending_ = 0;
    asio::async_write(socket_, asio::buffer(out_.frames.data(), count * out_.frame_bytes),
                      [this](const asio::error_code& ec, std::size_t) {
                        writing_ = false;
                        if (ec) return fail();
                        if (pending_ > 0) flush();
                      });
  }

  void fail() {
    if (failed_ || !socket_.is_open()) return;  // a stop() is not a failure
    failed_ = true;
    ++stats_.errors;
    stop();
  }

  tcp::socket socket_;
  const Options& options_;
  const Outgoing& out_;
  const std::string& request_;
  Stats& stats_;
  EchoParser parser_;
  std::function<void(bool)> on_ready_;
  std::vector<std::uint8_t> buffer_;
  std::string response_;
  std::size_t pending_ = 0;  // echoes not yet answered
  bool writing_ = false;
  bool failed_ = false;
};

asio::steady_timer::duration seconds(double s) {
  return std::chrono::duration_cast<asio::steady_timer::duration>(std::chrono::duration<double>(s));
}

double elapsed_seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

int run_echo(const Options& o, const tcp::endpoint& endpoint) {
  asio::io_context io(1);
  Outgoing out = build_outgoing(o);
  std::string request = upgrade_request(o);
  Stats stats;
  std::vector<std::unique_ptr<EchoConnection>> connections;
  asio::steady_timer timer(io);
  std::size_t settled = 0;
  std::uint64_t start_messages = 0;
  Clock::time_point start_time;
  double measured_seconds = 0;
  std::uint64_t measured_messages = 0;
  double server_cpu_start = 0;
  double server_cpu = 0;  // seconds the server used while measured (0 without --server-pid)

  auto stop_all = [&] {
    for (auto& c : connections) c->stop();
    timer.cancel();
  };
  auto on_ready = [&](bool) {
    if (++settled != o.connections) return;
    // Everyone is up (or failed): warm up, then measure.
    timer.expires_after(seconds(o.warmup));
    timer.async_wait([&](const asio::error_code& ec) {
      if (ec) return;
      start_messages = stats.messages;
      start_time = Clock::now();
      server_cpu_start = process_cpu_seconds(o.server_pid);
      timer.expires_after(seconds(o.duration));
      timer.async_wait([&](const asio::error_code& ec2) {
        if (ec2) return;
        measured_seconds = elapsed_seconds(start_time);
        measured_messages = stats.messages - start_messages;
        server_cpu = process_cpu_seconds(o.server_pid) - server_cpu_start;
        stop_all();
      });
    });
  };
  timer.expires_after(seconds(kSetupTimeoutSeconds));
  timer.async_wait([&](const asio::error_code& ec) {
    if (ec) return;
    std::fprintf(stderr, "bench_client: error: %zu of %zu connections not up after %.0f s\n",
                 o.connections - settled, o.connections, kSetupTimeoutSeconds);
    stats.errors += o.connections - settled;
    stop_all();
  });
  for (std::size_t i = 0; i < o.connections; ++i) {
    connections.push_back(std::make_unique<EchoConnection>(io, o, out, request, stats, on_ready));
    connections.back()->start(endpoint);
  }
  io.run();

  double rate = measured_seconds > 0 ? static_cast<double>(measured_messages) / measured_seconds : 0;
  std::printf("msgs_per_s=%.0f mb_per_s=%.2f errors=%llu messages=%llu seconds=%.3f\n", rate,
              rate * static_cast<double>(o.size) / kBytesPerMegabyte, static_cast<unsigned long long>(stats.errors),
              static_cast<unsigned long long>(measured_messages), measured_seconds);
  if (o.server_pid > 0 && measured_messages > 0) {
    // /proc counts in clock ticks (10 ms): over a 3 s window that is within 0.5% for a busy server.
    std::printf("server_us_per_msg=%.3f server_cpu_share=%.2f\n",
                server_cpu * kMicrosecondsPerSecond / static_cast<double>(measured_messages),
                measured_seconds > 0 ? server_cpu / measured_seconds : 0);
  }
  return stats.errors == 0 && measured_messages > 0 ? 0 : 1;
}

// --handshakes: K slots, each looping connect, upgrade, close handshake, reset. The reset (an
// RST, SO_LINGER 0) keeps the client's ephemeral ports out of TIME_WAIT at thousands per second.
class HandshakeSlot {
 public:
  HandshakeSlot(asio::io_context& io, const std::string& request, const tcp::endpoint& endpoint, Stats& stats)
      : io_(io), socket_(io), request_(request), endpoint_(endpoint), stats_(stats) {
    // Close frame, code 1000, masked with kMaskKey.
    close_frame_ = {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8};
    std::memcpy(close_frame_.data() + 2, &kMaskKey, sizeof kMaskKey);
    ws::apply_mask(close_frame_.data() + 6, 2, kMaskKey, 0);
  }

  void start() {
    if (stopped_) return;
    socket_ = tcp::socket(io_);
    response_.clear();
    socket_.async_connect(endpoint_, [this](const asio::error_code& ec) {
      if (ec) return failed();
      asio::async_write(socket_, asio::buffer(request_), [this](const asio::error_code& wec, std::size_t) {
        if (wec) return failed();
        read_response();
      });
    });
  }

  void stop() {
    stopped_ = true;
    asio::error_code ignored;
    socket_.close(ignored);
  }

 private:
  void read_response() {
    socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
      if (ec) return failed();
      response_.append(reinterpret_cast<const char*>(buffer_.data()), n);
      long header = judge_response(response_);
      if (header < 0) return failed();
      if (header == 0) return read_response();
      ++stats_.messages;
      response_.erase(0, static_cast<std::size_t>(header));
      asio::async_write(socket_, asio::buffer(close_frame_), [this](const asio::error_code& wec, std::size_t) {
        if (wec) return failed();
        read_close();
      });
    });
  }

  // The server's close frame (2 header bytes + code) ends the cycle; so does its end of stream.
  void read_close() {
    if (response_.size() >= 4) return reset_and_restart();
    socket_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
      if (ec == asio::error::eof) return reset_and_restart();
      if (ec) return failed();
      response_.append(reinterpret_cast<const char*>(buffer_.data()), n);
      if (static_cast<std::uint8_t>(response_[0]) != 0x88) return failed();
      read_close();
    });
  }

  void reset_and_restart() {
    asio::error_code ignored;
    socket_.set_option(asio::socket_base::linger(true, 0), ignored);
    socket_.close(ignored);
    start();
  }

  void failed() {
    if (stopped_) return;
    ++stats_.errors;
    asio::error_code ignored;
    socket_.close(ignored);
    start();
  }

  asio::io_context& io_;
  tcp::socket socket_;
  const std::string& request_;
  tcp::endpoint endpoint_;
  Stats& stats_;
  std::array<std::uint8_t, 8> close_frame_{};
  std::array<std::uint8_t, kHandshakeReadBytes> buffer_{};
  std::string response_;
  bool stopped_ = false;
};

int run_handshakes(const Options& o, const tcp::endpoint& endpoint) {
  asio::io_context io(1);
  std::string request = upgrade_request(o);
  Stats stats;
  std::vector<std::unique_ptr<HandshakeSlot>> slots;
  for (std::size_t i = 0; i < o.parallel; ++i) slots.push_back(std::make_unique<HandshakeSlot>(io, request, endpoint, stats));
  for (auto& s : slots) s->start();
  asio::steady_timer timer(io);
  std::uint64_t start_count = 0;
  std::uint64_t start_errors = 0;
  Clock::time_point start_time;
  double measured_seconds = 0;
  std::uint64_t measured = 0;
  timer.expires_after(seconds(o.warmup));
  timer.async_wait([&](const asio::error_code&) {
    start_count = stats.messages;
    start_errors = stats.errors;
    start_time = Clock::now();
    timer.expires_after(seconds(o.duration));
    timer.async_wait([&](const asio::error_code&) {
      measured_seconds = elapsed_seconds(start_time);
      measured = stats.messages - start_count;
      for (auto& s : slots) s->stop();
    });
  });
  io.run();
  double rate = measured_seconds > 0 ? static_cast<double>(measured) / measured_seconds : 0;
  // total: every handshake of the run, warmup included, to set against the server's CPU time.
  std::printf("handshakes_per_s=%.0f errors=%llu warmup_errors=%llu handshakes=%llu seconds=%.3f total=%llu\n", rate,
              static_cast<unsigned long long>(stats.errors - start_errors),
              static_cast<unsigned long long>(start_errors), static_cast<unsigned long long>(measured),
              measured_seconds, static_cast<unsigned long long>(stats.messages));
  return stats.errors == 0 && measured > 0 ? 0 : 1;
}

// --idle: open `connections` WebSocket connections (`parallel` at a time), print one line when
// all are up, then hold them, silent, for --duration seconds.
template <typename Stream>
class IdleConnection {
 public:
  template <typename... Args>
  IdleConnection(const std::string& request, std::function<void(bool)> done, Args&&... stream_args)
      : stream_(std::forward<Args>(stream_args)...), request_(request), done_(std::move(done)) {}

  void start(const tcp::endpoint& endpoint) {
    stream_.lowest_layer().async_connect(endpoint, [this](const asio::error_code& ec) {
      if (ec) return done_(false);
      if constexpr (std::is_same_v<Stream, tcp::socket>) {
        upgrade();
      } else {
        stream_.async_handshake(asio::ssl::stream_base::client, [this](const asio::error_code& hec) {
          if (hec) return done_(false);
          upgrade();
        });
      }
    });
  }

  void stop() {
    asio::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

 private:
  void upgrade() {
    asio::async_write(stream_, asio::buffer(request_), [this](const asio::error_code& ec, std::size_t) {
      if (ec) return done_(false);
      read_response();
    });
  }

  void read_response() {
    stream_.async_read_some(asio::buffer(buffer_), [this](const asio::error_code& ec, std::size_t n) {
      if (ec) return done_(false);
      response_.append(reinterpret_cast<const char*>(buffer_.data()), n);
      long header = judge_response(response_);
      if (header == 0) return read_response();
      response_ = std::string();  // give the memory back: these connections are held idle
      done_(header > 0);
    });
  }

  Stream stream_;
  const std::string& request_;
  std::function<void(bool)> done_;
  std::array<std::uint8_t, 512> buffer_{};
  std::string response_;
};

template <typename Stream, typename MakeConnection>
int run_idle(const Options& o, const tcp::endpoint& endpoint, asio::io_context& io, MakeConnection make) {
  std::string request = upgrade_request(o);
  std::vector<std::unique_ptr<IdleConnection<Stream>>> connections;
  connections.reserve(o.connections);
  std::size_t started = 0;
  std::size_t up = 0;
  std::size_t failed = 0;
  asio::steady_timer timer(io);
  Clock::time_point began = Clock::now();
  std::function<void()> start_next;
  auto hold = [&] {
    std::printf("idle: connections=%zu errors=%zu seconds=%.3f\n", up, failed, elapsed_seconds(began));
    std::fflush(stdout);
    timer.expires_after(seconds(o.duration));
    timer.async_wait([&](const asio::error_code&) {
      for (auto& c : connections) c->stop();
    });
  };
  auto done = [&](bool ok) {
    ++(ok ? up : failed);
    if (up + failed == o.connections) return hold();
    start_next();
  };
  start_next = [&] {
    if (started == o.connections) return;
    connections.push_back(make(request, done));
    connections[started++]->start(endpoint);
  };
  for (std::size_t i = 0; i < std::min(o.parallel, o.connections); ++i) start_next();
  io.run();
  return failed == 0 ? 0 : 1;
}

int run(const Options& o) {
  asio::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(o.host, ec), o.port);
  if (ec) {
    std::fprintf(stderr, "bench_client: error: %s is not an IP address\n", o.host.c_str());
    return 64;
  }
  if (o.handshakes) return run_handshakes(o, endpoint);
  if (!o.idle) return run_echo(o, endpoint);
  asio::io_context io(1);
  if (!o.tls) {
    return run_idle<tcp::socket>(o, endpoint, io, [&io](const std::string& request, std::function<void(bool)> done) {
      return std::make_unique<IdleConnection<tcp::socket>>(request, std::move(done), io);
    });
  }
  // The benchmark's self-signed certificate is not verified; buffers are released while idle
  // so the client's own memory stays small at 10,000 connections.
  asio::ssl::context tls(asio::ssl::context::tls_client);
  tls.set_verify_mode(asio::ssl::verify_none);
  SSL_CTX_set_mode(tls.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  using TlsStream = asio::ssl::stream<tcp::socket>;
  return run_idle<TlsStream>(o, endpoint, io, [&io, &tls](const std::string& request, std::function<void(bool)> done) {
    return std::make_unique<IdleConnection<TlsStream>>(request, std::move(done), io, tls);
  });
}

}  // namespace
}  // namespace wstool::bench

int main(int argc, char** argv) {
  wstool::bench::Options o;
  CLI::App app("bench_client: the echo benchmark's load generator (scripts/bench-echo)");
  app.add_option("host", o.host, "server IP address")->required();
  app.add_option("port", o.port, "server port")->required();
  app.add_option("--connections", o.connections, "connections (echo and --idle modes)")->check(CLI::Range(1, 1 << 20));
  app.add_option("--size", o.size, "payload bytes per message")->check(CLI::Range(1, 1 << 26));
  app.add_option("--depth", o.depth, "messages in flight per connection (1: closed loop)")->check(CLI::Range(1, 1 << 16));
  app.add_option("--duration", o.duration, "seconds measured (--idle: seconds held)")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "seconds run before measuring")->check(CLI::NonNegativeNumber);
  app.add_flag("--raw", o.raw, "the server is a raw TCP echo: no upgrade, frames come back masked");
  app.add_flag("--handshakes", o.handshakes, "count WebSocket handshakes per second instead");
  app.add_flag("--idle", o.idle, "open --connections connections, report, and hold them idle");
  app.add_flag("--tls", o.tls, "--idle over TLS (wss://), certificate not verified");
  app.add_option("--server-pid", o.server_pid, "echo mode: report this process's CPU time per message (from /proc)");
  app.add_option("--parallel", o.parallel, "handshakes in flight (--handshakes, --idle)")->check(CLI::Range(1, 1 << 16));
  CLI11_PARSE(app, argc, argv);
  return wstool::bench::run(o);
}
