// A poll() loop copying bytes both ways between two sockets (see tcp_relay.h).
#include "tests/support/tcp_relay.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

namespace wstool::test {

namespace {
constexpr std::size_t kChunk = 64 * 1024;

// Writes all of `data` to a blocking socket; false when the peer is gone.
bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}
}  // namespace

TcpRelay::TcpRelay(Socket client, Socket server) : client_(std::move(client)), server_(std::move(server)) {
  if (::pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] { run(); });
}

TcpRelay::~TcpRelay() {
  cut();
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

void TcpRelay::cut() {
  if (thread_.joinable()) {
    const char byte = 0;
    if (wake_[1] >= 0) {
      [[maybe_unused]] const ssize_t n = ::write(wake_[1], &byte, 1);
    }
    thread_.join();
  }
  client_.close();
  server_.close();
}

void TcpRelay::run() {
  std::vector<char> buffer(kChunk);
  for (;;) {
    pollfd fds[3] = {{client_.fd(), POLLIN, 0}, {server_.fd(), POLLIN, 0}, {wake_[0], POLLIN, 0}};
    if (::poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[2].revents != 0) break;
    if (fds[0].revents != 0) {
      const ssize_t n = ::recv(client_.fd(), buffer.data(), buffer.size(), 0);
      if (n <= 0 || !write_all(server_.fd(), buffer.data(), static_cast<std::size_t>(n))) break;
      client_bytes_ += static_cast<std::uint64_t>(n);
    }
    if (fds[1].revents != 0) {
      const ssize_t n = ::recv(server_.fd(), buffer.data(), buffer.size(), 0);
      if (n <= 0) break;
      if (!drop_server_bytes_ && !write_all(client_.fd(), buffer.data(), static_cast<std::size_t>(n))) break;
    }
  }
  // Either side gone: so is the other (a cable has two ends).
  ::shutdown(client_.fd(), SHUT_RDWR);
  ::shutdown(server_.fd(), SHUT_RDWR);
  finished_ = true;
}

}  // namespace wstool::test
