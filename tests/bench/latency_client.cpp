// scripts/bench-record's client: one WebSocket connection sending binary messages at a fixed
// rate and timing each echo. Latency counts from when a message was due, not when it went out,
// so a stalled server cannot hide its stall (no coordinated omission). Blocking sockets, two
// threads (sender, receiver); prints one result line of key=value pairs.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "lib/frame.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::duration_cast;
using std::chrono::nanoseconds;

constexpr std::uint32_t kMaskKey = 0x5a5a5a5a;
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kStampBytes = sizeof(std::int64_t);

struct Options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  double rate = 1000;
  std::size_t size = 1024;
  double duration = 3;
  double warmup = 1;
};

bool send_all(int fd, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

std::string masked_frame(const std::string& payload) {
  wstool::ws::FrameHeader h;
  h.opcode = wstool::ws::opcode::kBinary;
  h.masked = true;
  h.mask_key = kMaskKey;
  h.payload_length = payload.size();
  std::uint8_t header[wstool::ws::kMaxFrameHeaderBytes];
  const std::size_t n = wstool::ws::encode_header(header, h);
  std::string frame(reinterpret_cast<const char*>(header), n);
  frame += payload;
  wstool::ws::apply_mask(reinterpret_cast<std::uint8_t*>(frame.data() + n), payload.size(), kMaskKey, 0);
  return frame;
}

double percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[index]) / 1000.0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app("fixed-rate WebSocket echo latency client");
  app.add_option("host", o.host, "server IP address");
  app.add_option("port", o.port, "server port")->required();
  app.add_option("--rate", o.rate, "messages per second")->check(CLI::PositiveNumber);
  app.add_option("--size", o.size, "payload bytes (at least 8)")->check(CLI::Range(8, 1 << 24));
  app.add_option("--duration", o.duration, "seconds measured")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "seconds sent before measuring")->check(CLI::NonNegativeNumber);
  CLI11_PARSE(app, argc, argv);

  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(o.port);
  if (fd < 0 || inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::fprintf(stderr, "latency_client: error: cannot connect to %s:%u\n", o.host.c_str(), o.port);
    return 69;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const std::string request = "GET / HTTP/1.1\r\nHost: " + o.host +
                              "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  std::string in;
  if (!send_all(fd, request)) return 74;
  char chunk[kReadChunk];
  while (in.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return 74;
    in.append(chunk, static_cast<std::size_t>(n));
  }
  if (in.rfind("HTTP/1.1 101", 0) != 0) {
    std::fprintf(stderr, "latency_client: error: no 101: %s\n", in.substr(0, in.find("\r\n")).c_str());
    return 69;
  }
  in.erase(0, in.find("\r\n\r\n") + 4);

  const auto start = Clock::now();
  const auto measure_from = start + duration_cast<nanoseconds>(std::chrono::duration<double>(o.warmup));
  const auto end = measure_from + duration_cast<nanoseconds>(std::chrono::duration<double>(o.duration));
  const auto interval = duration_cast<nanoseconds>(std::chrono::duration<double>(1.0 / o.rate));
  const std::uint64_t total = static_cast<std::uint64_t>((o.warmup + o.duration) * o.rate);
  std::atomic<std::uint64_t> sent{0};

  std::thread sender([&] {
    std::string payload(o.size, 'x');
    for (std::uint64_t i = 0; i < total; ++i) {
      const auto due = start + interval * static_cast<std::int64_t>(i);
      std::this_thread::sleep_until(due);
      const std::int64_t stamp = duration_cast<nanoseconds>(due.time_since_epoch()).count();
      std::memcpy(payload.data(), &stamp, kStampBytes);
      if (!send_all(fd, masked_frame(payload))) break;
      sent.fetch_add(1, std::memory_order_relaxed);
    }
  });

  std::vector<std::int64_t> latencies;
  latencies.reserve(static_cast<std::size_t>(o.duration * o.rate) + 1);
  std::uint64_t received = 0;
  const auto give_up = end + std::chrono::seconds(5);
  timeval tv{0, 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  while (received < total && Clock::now() < give_up) {
    wstool::ws::FrameHeader h;
    const auto* data = reinterpret_cast<const std::uint8_t*>(in.data());
    if (wstool::ws::decode_header(data, in.size(), h) == wstool::ws::HeaderStatus::kComplete &&
        in.size() >= h.header_length + h.payload_length) {
      const auto now = Clock::now();
      std::int64_t stamp = 0;
      if (h.payload_length >= kStampBytes) std::memcpy(&stamp, in.data() + h.header_length, kStampBytes);
      in.erase(0, h.header_length + static_cast<std::size_t>(h.payload_length));
      ++received;
      const Clock::time_point due{nanoseconds(stamp)};
      if (due >= measure_from && due < end) {
        latencies.push_back(duration_cast<nanoseconds>(now - due).count());
      }
      continue;
    }
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n == 0) break;
    if (n > 0) in.append(chunk, static_cast<std::size_t>(n));
  }
  ::shutdown(fd, SHUT_RDWR);
  sender.join();
  ::close(fd);
  std::sort(latencies.begin(), latencies.end());
  std::printf("sent=%llu received=%llu measured=%zu p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f\n",
              static_cast<unsigned long long>(sent.load()), static_cast<unsigned long long>(received),
              latencies.size(), percentile(latencies, 0.50), percentile(latencies, 0.99),
              percentile(latencies, 0.999), latencies.empty() ? 0.0 : static_cast<double>(latencies.back()) / 1000.0);
  return received == total ? 0 : 1;
}
