// A TCP relay for end-to-end tests, between a client and its server: a cable the test can cut,
// or make drop what the server says, to see what a client does when the connection fails. Also
// the tunnel half of the tests' tiny CONNECT proxy.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "tests/support/raw_socket.h"

namespace wstool::test {

class TcpRelay {
 public:
  // Relays between two connected sockets on a thread of its own until either side closes or
  // cut() is called.
  TcpRelay(Socket client, Socket server);
  ~TcpRelay();  // cut()
  TcpRelay(const TcpRelay&) = delete;
  TcpRelay& operator=(const TcpRelay&) = delete;

  // Drops the connection both ways (no close frame; the client sees 1006) and joins the thread.
  void cut();
  // From now on, bytes from the server are read and thrown away: the client hears nothing
  // (its acknowledgements are lost) while what it sends still arrives.
  void drop_server_bytes() { drop_server_bytes_ = true; }
  bool finished() const { return finished_; }
  // Bytes passed on from the client to the server so far.
  std::uint64_t client_bytes() const { return client_bytes_; }

 private:
  void run();

  Socket client_;
  Socket server_;
  std::atomic<bool> drop_server_bytes_{false};
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> client_bytes_{0};
  int wake_[2] = {-1, -1};
  std::thread thread_;
};

}  // namespace wstool::test
