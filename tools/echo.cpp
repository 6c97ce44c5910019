// wstool echo: a strictly conformant echo endpoint to point a client under test at, or with
// --client, the echoing client side of a conformance run.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "lib/client_options.h"
#include "lib/engine.h"
#include "lib/fd_limit.h"
#include "lib/listen_address.h"
#include "lib/redact.h"
#include "lib/ws_url.h"
#include "tools/common_options.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::uint64_t kDefaultMaxConnections = 10000;

struct EchoOptions {
  // listen, threads, max connections, max message size, max header size, max send queue,
  // handshake timeout
  ServerOptions server{ListenAddress{std::string(kDefaultListenHost), 9001},
                       0,
                       kDefaultMaxConnections,
                       ws::kDefaultMaxMessageBytes,
                       ws::kDefaultMaxHeaderBytes,
                       ws::kDefaultMaxSendQueueBytes,
                       std::chrono::seconds(10)};
  std::chrono::nanoseconds idle_timeout{0};
  std::chrono::nanoseconds close_timeout = std::chrono::seconds(5);
  std::string tls_cert;
  std::string tls_key;
  std::string client_url;
  ClientOptions client;
  bool verbose = false;
  bool log_frames = false;
};

std::string describe_close(const ws::CloseEvent& event) {
  std::string text = event.code == ws::close_code::kAbnormal ? std::string("1006 (no close frame)")
                                                              : std::to_string(event.code);
  if (!event.reason.empty()) text += fmt::format(" \"{}\"", event.reason);
  if (event.sent_code != ws::close_code::kNoStatus) text += fmt::format(", sent {}", event.sent_code);
  text += event.clean ? ", clean" : ", not clean";
  if (event.by_peer) text += ", closed by peer";
  if (!event.error.empty()) text += ": " + event.error;
  return text;
}

class EchoHandler final : public ws::ConnectionHandler {
 public:
  EchoHandler(Logger& log, bool verbose, bool log_frames) : log_(log), verbose_(verbose), log_frames_(log_frames) {}

  void on_open(ws::Connection& conn) override {
    if (!verbose_) return;
    log_.log(LogLevel::kInfo, fmt::format("#{} open {}{}", conn.id(), conn.remote_address(),
                                          conn.extensions().empty() ? "" : " [" + conn.extensions() + "]"));
  }
  void on_message(ws::Connection& conn, std::uint8_t opcode, const std::uint8_t* data, std::size_t size) override {
    conn.send(opcode, data, size);
  }
  void on_frame_header(ws::Connection& conn, const ws::FrameHeader& h, bool outgoing) override {
    if (!log_frames_) return;
    log_.log(LogLevel::kInfo,
             fmt::format("#{} {} {} fin={} rsv={}{}{} len={}{}", conn.id(), outgoing ? ">" : "<",
                         ws::opcode_name(h.opcode), h.fin ? 1 : 0, (h.rsv & ws::kRsv1) ? 1 : 0,
                         (h.rsv & ws::kRsv2) ? 1 : 0, (h.rsv & ws::kRsv3) ? 1 : 0, h.payload_length,
                         h.masked ? " masked" : ""));
  }
  void on_close(ws::Connection& conn, const ws::CloseEvent& event) override {
    if (!verbose_) return;
    log_.log(LogLevel::kInfo, fmt::format("#{} closed: {}", conn.id(), describe_close(event)));
  }
  void on_handshake_failed(const std::string& remote, const std::string& why) override {
    if (!verbose_) return;
    log_.log(LogLevel::kInfo, fmt::format("handshake from {} failed: {}", remote, why));
  }

 private:
  Logger& log_;
  bool verbose_;
  bool log_frames_;
};

ws::ConnectionLimits limits_from(const EchoOptions& options) {
  ws::ConnectionLimits limits;
  limits.max_message_bytes = static_cast<std::size_t>(options.server.max_message_size);
  limits.max_send_queue_bytes = static_cast<std::size_t>(options.server.max_send_queue);
  limits.idle_timeout = duration_cast<milliseconds>(options.idle_timeout);
  limits.close_timeout = duration_cast<milliseconds>(options.close_timeout);
  return limits;
}

ExitCode report(const Error& error) {
  fmt::print(stderr, "wsecho: error: {}\n", error.message);
  return exit_code_for(error.code);
}

ExitCode run_server(const EchoOptions& options) {
  StderrLog log("wsecho", options.verbose || options.log_frames ? LogLevel::kInfo : LogLevel::kWarning);
  std::string fd_error;
  raise_fd_limit(&fd_error);
  if (!fd_error.empty()) log.log(LogLevel::kWarning, fd_error);

  ws::ServerConfig config;
  apply_server_options(options.server, config);
  config.limits = limits_from(options);
  config.deflate.enabled = options.client.compress;
  config.tls_cert_file = options.tls_cert;
  config.tls_key_file = options.tls_key;
  config.report_frames = options.log_frames;

  EchoHandler handler(log, options.verbose, options.log_frames);
  ws::Server server(config, handler, log);
  if (Error error = server.listen()) return report(error);
  // Signals are taken over before the readiness line: a script may send SIGTERM the moment it
  // reads it, and that must shut down gracefully, not kill.
  ShutdownSignals signals([&server](int) { server.shutdown(ws::close_code::kGoingAway); });
  // The readiness line: a documented interface scripts and tests wait for.
  fmt::print("{}\n", readiness_line(server.tls(), server.address(), server.port()));
  std::fflush(stdout);
  server.run();
  const ws::Server::Stats stats = server.stats();
  if (stats.send_queue_overflows > 0) {
    log.log(LogLevel::kWarning,
            fmt::format("{} connection(s) closed because they did not read (send queue full)", stats.send_queue_overflows));
  }
  return ExitCode::kOk;
}

ExitCode run_client(const EchoOptions& options) {
  StderrLog log("wsecho", options.verbose || options.log_frames ? LogLevel::kInfo : LogLevel::kWarning);
  ws::ClientConfig config;
  config.url = options.client_url;
  config.headers = extra_request_headers(options.client);
  config.subprotocols = options.client.subprotocols;
  ws::WsUrl url;
  std::string url_error;
  if (ws::parse_ws_url(options.client_url, url, url_error)) {
    config.proxy = effective_proxy(options.client, url, [](const char* name) { return std::getenv(name); });
  }
  config.connect_timeout = duration_cast<milliseconds>(options.client.connect_timeout);
  config.limits = limits_from(options);
  config.deflate.enabled = options.client.compress;
  config.ca_file = options.client.ca_file;
  config.insecure = options.client.insecure;
  config.cert_file = options.client.cert_file;
  config.key_file = options.client.key_file;
  config.key_passphrase = options.client.key_passphrase;
  config.report_frames = options.log_frames;

  EchoHandler handler(log, options.verbose, options.log_frames);
  ws::Client client(config, handler, log);
  ShutdownSignals signals([&client](int) { client.shutdown(ws::close_code::kGoingAway); });
  const ws::ClientResult result = client.run();
  if (signals.received() == SIGINT) return ExitCode::kInterrupted;
  if (result.error) {
    // Diagnostics name the URL they are about (wstool(1)), secrets redacted.
    Error error = result.error;
    error.message = url_diagnostic(options.client_url, error.message);
    return report(error);
  }
  if (result.close.clean || signals.received() != 0) return ExitCode::kOk;
  fmt::print(stderr, "wsecho: error: {}\n",
             url_diagnostic(options.client_url, "connection ended: " + describe_close(result.close)));
  return result.close.we_failed ? ExitCode::kProtocolError : ExitCode::kIoError;
}

}  // namespace

Runner make_echo(CLI::App& app) {
  auto options = std::make_shared<EchoOptions>();
  app.description(
      "A strictly conformant WebSocket echo endpoint: echoes every text and binary message with "
      "its type, answers pings, and closes exactly as RFC 6455 says. With --client URL it connects "
      "and echoes instead.");
  add_server_options(app, options->server);
  add_duration_option(app, "--idle-timeout", options->idle_timeout, "close connections silent this long (0: never)");
  add_duration_option(app, "--close-timeout", options->close_timeout, "time allowed for the closing handshake");
  app.add_option("--tls-cert", options->tls_cert, "certificate chain (PEM) to serve wss://");
  app.add_option("--tls-key", options->tls_key, "private key (PEM) for --tls-cert");
  CLI::Option* client = app.add_option("--client", options->client_url,
                                        "connect to URL and echo every message until the peer closes");
  add_client_options(app, options->client);
  app.add_flag("-v,--verbose", options->verbose, "show connections and closes with their codes on stderr");
  app.add_flag("--log-frames", options->log_frames, "show every frame header on stderr");
  return [options, client]() -> ExitCode {
    // An empty URL (an unset shell variable) must not quietly start a server instead.
    if (client->count() > 0 && options->client_url.empty()) {
      fmt::print(stderr, "wsecho: error: --client: empty URL (expected ws://HOST[:PORT]/PATH)\n");
      return ExitCode::kUsage;
    }
    if (!options->tls_cert.empty() != !options->tls_key.empty()) {
      fmt::print(stderr, "wsecho: error: --tls-cert and --tls-key go together\n");
      return ExitCode::kUsage;
    }
    return options->client_url.empty() ? run_server(*options) : run_client(*options);
  };
}

}  // namespace wstool::tools
