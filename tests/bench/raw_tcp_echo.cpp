// raw_tcp_echo: the practical limit for scripts/bench-echo. A single-thread Asio TCP server that
// writes every byte it reads straight back (no WebSocket at all), one reused buffer a connection.
#include <CLI/CLI.hpp>
#include <asio.hpp>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

using asio::ip::tcp;

// As large as wstool's shared read buffer, so the limit is not set by smaller reads.
constexpr std::size_t kBufferBytes = std::size_t{256} << 10;

class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  explicit EchoSession(tcp::socket socket) : socket_(std::move(socket)), buffer_(kBufferBytes) {}

  void read() {
    socket_.async_read_some(asio::buffer(buffer_),
                            [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                              if (ec) return;
                              self->write(n);
                            });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(buffer_.data(), n),
                      [self = shared_from_this()](const asio::error_code& ec, std::size_t) {
                        if (ec) return;
                        self->read();
                      });
  }

  tcp::socket socket_;
  std::vector<std::uint8_t> buffer_;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](const asio::error_code& ec, tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) {
      asio::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<EchoSession>(std::move(socket))->read();
    }
    accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  CLI::App app("raw_tcp_echo: a raw TCP echo server, the echo benchmark's practical limit");
  app.add_option("--host", host, "address to listen on");
  app.add_option("--port", port, "port to listen on (0: any free port)");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io(1);
  asio::error_code ec;
  tcp::endpoint endpoint(asio::ip::make_address(host, ec), port);
  if (ec) {
    std::fprintf(stderr, "raw_tcp_echo: error: %s is not an IP address\n", host.c_str());
    return 64;
  }
  tcp::acceptor acceptor(io);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    std::fprintf(stderr, "raw_tcp_echo: error: cannot listen on %s:%u: %s\n", host.c_str(), port,
                 ec.message().c_str());
    return 71;
  }
  // The same readiness line as `wstool echo`, so scripts wait for every server the same way.
  std::printf("listening on tcp://%s:%u\n", host.c_str(), acceptor.local_endpoint().port());
  std::fflush(stdout);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const asio::error_code&, int) { io.stop(); });
  accept(acceptor);
  io.run();
  return 0;
}
