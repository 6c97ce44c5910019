// Plain TCP on 127.0.0.1 for tests that play a misbehaving peer: listen on port 0, accept,
// connect, and read with deadlines. Blocking sockets with poll(); nothing WebSocket-specific.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace wstool::test {

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket();
  Socket(Socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;

  bool valid() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  void close();

  bool send_all(const std::string& bytes);
  // Reads what arrives within `timeout` (at least one byte when something came); "" on timeout
  // or EOF — eof() tells which.
  std::string read_some(std::chrono::milliseconds timeout);
  // Reads until `count` bytes arrived, EOF, or the deadline.
  std::string read_exactly(std::size_t count, std::chrono::milliseconds timeout);
  // Reads until `marker` appears (the marker included), EOF, or the deadline.
  std::string read_until(const std::string& marker, std::chrono::milliseconds timeout);
  // Waits until the peer closes (EOF or reset); false when the deadline passed first.
  bool wait_closed(std::chrono::milliseconds timeout);
  bool eof() const { return eof_; }

 private:
  int fd_ = -1;
  bool eof_ = false;
};

// A listening socket on 127.0.0.1 with a kernel-chosen port.
class Listener {
 public:
  Listener();
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  std::uint16_t port() const { return port_; }
  std::optional<Socket> accept(std::chrono::milliseconds timeout);
  void close();

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Connects to 127.0.0.1:port; an invalid Socket on failure.
Socket connect_loopback(std::uint16_t port);

// The port of a readiness line `listening on ws://127.0.0.1:PORT`, or 0.
std::uint16_t port_from_readiness_line(const std::string& line);

}  // namespace wstool::test
