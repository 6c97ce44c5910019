// bench_ws_server: the two servers scripts/bench-load needs besides `wstool echo`, both printing
// their counts (connections, messages) every --report-ms. --sink answers no message: open-loop
// send throughput counted at the server, the one figure every load generator can be compared on.
// --delay-ms N echoes every message N ms after it arrived: latency truth (a generator's p50 must
// read N ms plus the base round trip). Single thread; frames from our own codec (lib/frame.h),
// the upgrade from lib/handshake.h.
#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "lib/frame.h"
#include "lib/handshake.h"

namespace wstool::bench {
using namespace wstool::ws;
namespace {

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kReadBufferBytes = std::size_t{256} << 10;
// A connection starts with this much and grows to kReadBufferBytes once a read fills it: 256 KiB
// zero-filled per connection made the connections/s row measure this server's page faults.
constexpr std::size_t kInitialReadBytes = 4096;
constexpr std::size_t kMaxMessageBytes = std::size_t{64} << 20;
constexpr double kDefaultReportMs = 1000;

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  bool sink = false;
  double delay_ms = 0;
  double report_ms = kDefaultReportMs;
};

struct Totals {
  std::uint64_t open = 0;    // connections upgraded and not yet closed
  std::uint64_t opened = 0;  // connections upgraded, ever
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const Options& options, Totals& totals)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), options_(options),
        totals_(totals), buffer_(kInitialReadBytes) {}

  void start() { read(); }

 private:
  struct Delayed {
    Clock::time_point due;
    std::uint8_t opcode;
    std::string payload;
  };

  void read() {
    socket_.async_read_some(asio::buffer(buffer_.data() + filled_, buffer_.size() - filled_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                              if (ec) return self->stop();
                              const bool full = self->filled_ + n == self->buffer_.size();
                              self->filled_ += n;
                              if (!self->consume()) return self->stop();
                              if (full && self->buffer_.size() < kReadBufferBytes) self->buffer_.resize(kReadBufferBytes);
                              self->read();
                            });
  }

  // Handles what the buffer holds; false to drop the connection.
  bool consume() {
    std::size_t at = 0;
    if (!upgraded_) {
      at = parser_.consume(reinterpret_cast<const char*>(buffer_.data()), filled_);
      if (parser_.state() == ParseState::kError) return false;
      if (parser_.state() == ParseState::kIncomplete) {
        filled_ = 0;  // the parser keeps what it consumed
        return true;
      }
      const std::string key = header_value(parser_.request().headers, "Sec-WebSocket-Key");
      queue_write(make_switching_response(accept_key_for(key), "", "", {}));
      upgraded_ = true;
      ++totals_.open;
      ++totals_.opened;
    }
    while (true) {
      FrameHeader header;
      const auto status = decode_header(buffer_.data() + at, filled_ - at, header);
      if (status == HeaderStatus::kIncomplete) break;
      if (status != HeaderStatus::kComplete || header.payload_length > kMaxMessageBytes) return false;
      const auto length = static_cast<std::size_t>(header.payload_length);
      if (filled_ - at < header.header_length + length) {
        if (header.header_length + length > buffer_.size()) buffer_.resize(header.header_length + length);
        break;
      }
      std::uint8_t* payload = buffer_.data() + at + header.header_length;
      if (header.masked) apply_mask(payload, length, header.mask_key, 0);
      if (!frame(header, payload, length)) return false;
      at += header.header_length + length;
    }
    std::memmove(buffer_.data(), buffer_.data() + at, filled_ - at);
    filled_ -= at;
    return true;
  }

  bool frame(const FrameHeader& header, const std::uint8_t* payload, std::size_t length) {
    const std::string_view data(reinterpret_cast<const char*>(payload), length);
    if (header.opcode == opcode::kClose) {
      send_frame(opcode::kClose, data);
      closing_ = true;
      return true;
    }
    if (header.opcode == opcode::kPing) {
      send_frame(opcode::kPong, data);
      return true;
    }
    if (header.opcode == opcode::kPong) return true;
    if (header.opcode != opcode::kContinuation) message_opcode_ = header.opcode;
    message_.append(data);
    if (!header.fin) return true;
    ++totals_.messages;
    totals_.bytes += message_.size();
    if (!options_.sink) {
      const auto delay = std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double, std::milli>(options_.delay_ms));
      if (delay.count() == 0) {
        send_frame(message_opcode_, message_);
      } else {
        delayed_.push_back({Clock::now() + delay, message_opcode_, std::move(message_)});
        if (delayed_.size() == 1) arm_timer();
      }
    }
    message_.clear();
    return true;
  }

  // The delay is the same for every message, so the queue is in due order: one timer suffices.
  void arm_timer() {
    timer_.expires_at(delayed_.front().due);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->stopped_) return;
      const auto now = Clock::now();
      while (!self->delayed_.empty() && self->delayed_.front().due <= now) {
        self->send_frame(self->delayed_.front().opcode, self->delayed_.front().payload);
        self->delayed_.pop_front();
      }
      if (!self->delayed_.empty()) self->arm_timer();
    });
  }

  void send_frame(std::uint8_t op, std::string_view payload) {
    FrameHeader header;
    header.opcode = op;
    header.payload_length = payload.size();
    std::uint8_t head[kMaxFrameHeaderBytes];
    const std::size_t head_length = encode_header(head, header);
    pending_.append(reinterpret_cast<const char*>(head), head_length);
    pending_.append(payload);
    flush();
  }

  void queue_write(const std::string& bytes) {
    pending_ += bytes;
    flush();
  }

  void flush() {
    if (writing_ || pending_.empty() || stopped_) return;
    writing_ = true;
    in_flight_.swap(pending_);
    asio::async_write(socket_, asio::buffer(in_flight_),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        self->writing_ = false;
                        self->in_flight_.clear();
                        if (ec) return self->stop();
                        if (self->closing_ && self->pending_.empty()) return self->stop();
                        self->flush();
                      });
  }

  void stop() {
    if (stopped_) return;
    stopped_ = true;
    if (upgraded_) --totals_.open;
    asio::error_code ignored;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  const Options& options_;
  Totals& totals_;
  std::vector<std::uint8_t> buffer_;
  std::size_t filled_ = 0;
  RequestParser parser_;
  bool upgraded_ = false;
  bool closing_ = false;
  bool stopped_ = false;
  bool writing_ = false;
  std::uint8_t message_opcode_ = opcode::kBinary;
  std::string message_;
  std::string pending_;
  std::string in_flight_;
  std::deque<Delayed> delayed_;
};

void accept(tcp::acceptor& acceptor, const Options& options, Totals& totals) {
  acceptor.async_accept([&](const asio::error_code& ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true));
      std::make_shared<Session>(std::move(socket), options, totals)->start();
    }
    accept(acceptor, options, totals);
  });
}

// The counts every --report-ms on stdout, after the readiness line:
// "t=SECONDS open=N opened=TOTAL messages=TOTAL bytes=TOTAL".
void report(asio::steady_timer& timer, Clock::duration interval, Clock::time_point start,
            const Totals& totals) {
  timer.expires_after(interval);
  timer.async_wait([&timer, interval, start, &totals](const asio::error_code& ec) {
    if (ec) return;
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("t=%.3f open=%llu opened=%llu messages=%llu bytes=%llu\n", t,
                static_cast<unsigned long long>(totals.open),
                static_cast<unsigned long long>(totals.opened),
                static_cast<unsigned long long>(totals.messages),
                static_cast<unsigned long long>(totals.bytes));
    std::fflush(stdout);
    report(timer, interval, start, totals);
  });
}

}  // namespace
}  // namespace wstool::bench

int main(int argc, char** argv) {
  using namespace wstool::bench;
  Options options;
  CLI::App app{"bench_ws_server: a counting sink or a fixed-delay echo for scripts/bench-load"};
  app.add_option("--host", options.host, "address to listen on");
  app.add_option("--port", options.port, "port to listen on (0: any free port)");
  app.add_flag("--sink", options.sink, "count messages and answer none");
  app.add_option("--delay-ms", options.delay_ms, "echo every message this many ms after it arrived")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--report-ms", options.report_ms, "print the counts this often (0: never)")
      ->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  asio::io_context io(1);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(options.host), options.port));
  Totals totals;
  std::printf("listening on ws://%s:%u\n", options.host.c_str(),
              static_cast<unsigned>(acceptor.local_endpoint().port()));
  std::fflush(stdout);
  accept(acceptor, options, totals);
  asio::steady_timer timer(io);
  if (options.report_ms > 0) {
    const auto interval = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double, std::milli>(options.report_ms));
    report(timer, interval, Clock::now(), totals);
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&io](const asio::error_code&, int) { io.stop(); });
  io.run();
  return 0;
}
