// wstool serve: the real-time room server of the design notes, a backend to build and test
// WebSocket clients against (protocol: man/wstool-protocol.7; the logic lives in lib/room_hub).
#include <arpa/inet.h>
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <memory>

#include "lib/access_policy.h"
#include "lib/engine.h"
#include "lib/fd_limit.h"
#include "lib/listen_address.h"
#include "lib/metrics.h"
#include "lib/room_hub.h"
#include "lib/session_log.h"
#include "lib/self_signed.h"
#include "lib/serve_page.h"
#include "lib/units.h"
#include "tools/common_options.h"
#include "tools/shutdown_signals.h"
#include "tools/stderr_log.h"
#include "tools/subcommand.h"

namespace wstool::tools {

namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr std::uint16_t kDefaultServePort = 8080;
constexpr std::uint64_t kDefaultMaxConnections = 10000;
// Protocol messages are small: 1 MiB leaves room for --max-content and the envelope while
// keeping what one peer can make the server buffer modest.
constexpr std::uint64_t kDefaultServeMaxMessageBytes = std::uint64_t{1} << 20;
// Per connection; a room fan-out fills every member's queue at once, so smaller than echo's.
constexpr std::uint64_t kDefaultServeMaxSendQueueBytes = std::uint64_t{4} << 20;
constexpr unsigned kMaxAckRetries = 100;

// Rotated message logs kept at most (--log-messages-keep): beyond this, a bigger size is the answer.
constexpr unsigned kMaxRotatedLogs = 1000;

struct ServeOptions {
  // listen, threads, max connections, max message size, max header size, max send queue,
  // handshake timeout
  ServerOptions server{ListenAddress{std::string(kDefaultListenHost), kDefaultServePort},
                       0,
                       kDefaultMaxConnections,
                       kDefaultServeMaxMessageBytes,
                       ws::kDefaultMaxHeaderBytes,
                       kDefaultServeMaxSendQueueBytes,
                       std::chrono::seconds(10)};
  std::chrono::nanoseconds ping_interval = std::chrono::seconds(30);
  std::chrono::nanoseconds ping_timeout = std::chrono::seconds(10);
  std::chrono::nanoseconds app_ping{0};
  bool ack = false;
  std::chrono::nanoseconds ack_timeout = room::kDefaultAckTimeout;
  unsigned ack_retries = room::kDefaultAckRetries;
  std::chrono::nanoseconds dedupe_window = room::kDefaultDedupeWindow;
  std::uint64_t max_content = room::kDefaultMaxContentBytes;
  std::uint64_t max_rooms_per_connection = room::kDefaultMaxRoomsPerConnection;
  std::uint64_t max_rooms = room::kDefaultMaxRooms;
  double rate = room::kDefaultRatePerSecond;
  std::uint64_t burst = static_cast<std::uint64_t>(room::kDefaultBurst);
  double rate_per_ip = 0;
  std::uint64_t abuse_limit = room::kDefaultAbuseLimit;
  bool allow_binary = false;
  bool no_compress = false;
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(5);
  std::vector<std::string> allow_origins;
  std::string token;
  std::string tls_cert;
  std::string tls_key;
  bool tls_self_signed = false;
  std::string log_messages;
  std::uint64_t log_messages_max_size = 0;
  unsigned log_messages_keep = session::WriterOptions{}.keep_rotated;
  bool keep_secrets = false;
  LogFormat log_format = LogFormat::kText;
  int verbosity = 0;
  bool quiet = false;
};

// The room hub plus the HTTP side of the server: who may upgrade (Origin, token), and the plain
// HTTP endpoints on the same port.
class ServeHandler final : public room::RoomHub {
 public:
  ServeHandler(room::HubConfig config, Logger& log, room::ServeCounters& counters, AccessPolicy policy)
      : RoomHub(std::move(config), log, counters), policy_(std::move(policy)), log_(log) {}

  void set_metrics(const MetricsRegistry* metrics) { metrics_ = metrics; }

  // Origin first, then the token (so a page from a foreign origin learns nothing about the
  // token), then the protocol's own query parameters.
  std::optional<ws::Rejection> on_upgrade_request(const ws::UpgradeRequest& request,
                                                  const std::string& remote) override {
    std::optional<ws::Rejection> refusal = policy_.check(request);
    if (!refusal) refusal = check_request(request);
    if (refusal && log_.enabled(LogLevel::kInfo)) {
      log_.log(LogLevel::kInfo, fmt::format("{}: upgrade refused with {}", remote, refusal->status));
    }
    return refusal;
  }

  // GET /healthz, /metrics (Prometheus), /stats (JSON), / (the browser client); 404 otherwise.
  std::optional<ws::HttpResponse> on_http_request(const ws::UpgradeRequest& request,
                                                  const std::string& /*remote*/) override {
    ws::HttpResponse response;
    response.head_only = request.method == "HEAD";
    if (request.method != "GET" && request.method != "HEAD") {
      response.status = 405;
      response.headers.push_back({"Allow", "GET, HEAD"});
      response.body = "only GET and HEAD are served here\n";
      return response;
    }
    const std::string path = ws::split_target(request.target).path;
    if (path == "/healthz") {
      response.body = "ok\n";
    } else if (path == "/metrics" && metrics_ != nullptr) {
      response.content_type = std::string(kPrometheusContentType);
      response.body = metrics_->render_prometheus();
    } else if (path == "/stats" && metrics_ != nullptr) {
      response.content_type = "application/json";
      response.body = metrics_->render_json();
    } else if (path == "/" || path == "/index.html") {
      response.content_type = std::string(kServePageContentType);
      response.headers = serve_page_headers();
      response.body = std::string(serve_page_html());
    } else {
      response.status = 404;
      response.body = "not found: this server answers WebSocket upgrades, and GET /, /healthz, /metrics "
                      "and /stats\n";
    }
    return response;
  }

 private:
  AccessPolicy policy_;
  Logger& log_;
  const MetricsRegistry* metrics_ = nullptr;
};

std::vector<MetricsRegistry::Sample> samples_of(const room::ServeCounters::Counter* counters, std::size_t count,
                                                const char* (*name)(std::size_t)) {
  std::vector<MetricsRegistry::Sample> samples;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t value = counters[i].load(std::memory_order_relaxed);
    const char* label = name(i);
    if (label != nullptr) samples.push_back({{label}, static_cast<double>(value)});
  }
  return samples;
}

// What /metrics and /stats show: the hub's counters and the engine's, read when rendered.
void register_serve_metrics(MetricsRegistry& metrics, const room::ServeCounters& c, const ws::Server& server) {
  const auto value = [](const room::ServeCounters::Counter& counter) {
    return [&counter] { return static_cast<double>(counter.load(std::memory_order_relaxed)); };
  };
  metrics.callback("connections", "WebSocket connections open now", MetricType::kGauge, value(c.connections));
  metrics.callback("connections_total", "WebSocket connections opened since start", MetricType::kCounter,
                   value(c.connections_opened));
  metrics.callback("handshakes_rejected_total", "opening handshakes refused with an HTTP error (400, 401, 403, 503...)",
                   MetricType::kCounter, [&server] { return static_cast<double>(server.stats().rejected); });
  metrics.callback("sessions_resumed_total", "connections that resumed a session with ?sessionId=",
                   MetricType::kCounter, value(c.sessions_resumed));
  metrics.callback_family("messages_received_total", "valid requests received, by type", MetricType::kCounter,
                          {"type"}, [&c] {
                            return samples_of(c.messages_in.data(), c.messages_in.size(), [](std::size_t i) {
                              return room::request_type_name(static_cast<room::RequestType>(i));
                            });
                          });
  metrics.callback_family("messages_sent_total", "messages sent, by type, one per receiver", MetricType::kCounter,
                          {"type"}, [&c] {
                            return samples_of(c.messages_out.data(), c.messages_out.size(), [](std::size_t i) {
                              return room::server_message_type_name(static_cast<room::ServerMessageType>(i));
                            });
                          });
  metrics.callback("bytes_received_total", "bytes read from sockets (handshakes and frames)", MetricType::kCounter,
                   [&server] { return static_cast<double>(server.stats().bytes_read); });
  metrics.callback("bytes_sent_total", "bytes written to sockets", MetricType::kCounter,
                   [&server] { return static_cast<double>(server.stats().bytes_written); });
  metrics.callback_family("errors_total", "error messages sent, by code", MetricType::kCounter, {"code"}, [&c] {
    return samples_of(c.errors.data(), c.errors.size(), [](std::size_t i) {
      return room::error_code_name(static_cast<room::ErrorCode>(i));
    });
  });
  metrics.callback_family("closes_total", "connections closed, by close code (1006: no close frame)",
                          MetricType::kCounter, {"code"}, [&c] {
                            std::vector<MetricsRegistry::Sample> samples;
                            for (std::size_t slot = 0; slot < c.closes.size(); ++slot) {
                              const std::uint64_t n = c.closes[slot].load(std::memory_order_relaxed);
                              if (n == 0) continue;
                              const std::uint16_t code = room::ServeCounters::close_slot_code(slot);
                              samples.push_back({{code == 0 ? std::string("other") : std::to_string(code)},
                                                 static_cast<double>(n)});
                            }
                            return samples;
                          });
  metrics.callback("rate_limited_total", "requests answered RATE_LIMITED", MetricType::kCounter, value(c.rate_limited));
  metrics.callback("duplicates_total", "retransmitted _ids acknowledged again but not processed twice",
                   MetricType::kCounter, value(c.duplicates));
  metrics.callback("acks_received_total", "acknowledgements of reliable deliveries", MetricType::kCounter,
                   value(c.acks_received));
  metrics.callback("ack_retries_total", "reliable deliveries resent for want of an ack", MetricType::kCounter,
                   value(c.ack_retries));
  metrics.callback("undelivered_total", "reliable deliveries given up after the last retry or a close",
                   MetricType::kCounter, value(c.undelivered));
  metrics.callback("abuse_closes_total", "connections closed (1008) for too many errors", MetricType::kCounter,
                   value(c.abuse_closes));
  metrics.callback("send_queue_overflows_total", "connections closed (1008) because they did not read",
                   MetricType::kCounter, [&server] { return static_cast<double>(server.stats().send_queue_overflows); });
  metrics.callback("ping_timeouts_total", "connections closed for not answering a protocol ping",
                   MetricType::kCounter, [&server] { return static_cast<double>(server.stats().ping_timeouts); });
  metrics.callback("app_ping_timeouts_total", "connections closed for not answering an application ping",
                   MetricType::kCounter, value(c.app_ping_timeouts));
  metrics.callback("rooms", "rooms now", MetricType::kGauge, value(c.rooms));
  metrics.callback("room_members", "room memberships now", MetricType::kGauge, value(c.members));
}

bool is_ip_literal(const std::string& host) {
  in6_addr address{};
  return inet_pton(AF_INET, host.c_str(), &address) == 1 || inet_pton(AF_INET6, host.c_str(), &address) == 1;
}

room::HubConfig hub_config_from(const ServeOptions& options) {
  room::HubConfig config;
  config.max_message_bytes = options.server.max_message_size;
  config.max_content_bytes = static_cast<std::size_t>(options.max_content);
  config.max_rooms_per_connection = static_cast<std::size_t>(options.max_rooms_per_connection);
  config.max_rooms = static_cast<std::size_t>(options.max_rooms);
  config.ack_all = options.ack;
  config.ack_timeout = duration_cast<milliseconds>(options.ack_timeout);
  config.ack_retries = options.ack_retries;
  config.dedupe_window = duration_cast<milliseconds>(options.dedupe_window);
  config.rate_per_second = options.rate;
  config.burst = static_cast<double>(options.burst);
  config.rate_per_ip = options.rate_per_ip;
  config.abuse_limit = static_cast<std::size_t>(options.abuse_limit);
  config.allow_binary = options.allow_binary;
  config.app_ping_interval = duration_cast<milliseconds>(options.app_ping);
  config.app_ping_timeout = duration_cast<milliseconds>(options.ping_timeout);
  return config;
}

ws::ServerConfig server_config_from(const ServeOptions& options) {
  ws::ServerConfig config;
  apply_server_options(options.server, config);
  config.limits.ping_interval = duration_cast<milliseconds>(options.ping_interval);
  config.limits.ping_timeout = duration_cast<milliseconds>(options.ping_timeout);
  config.deflate.enabled = !options.no_compress;
  config.keep_request = true;  // the hub reads ?userId= and ?sessionId= from it
  config.tls_cert_file = options.tls_cert;
  config.tls_key_file = options.tls_key;
  return config;
}

void log_summary(Logger& log, const room::ServeCounters& counters, const ws::Server::Stats& stats) {
  const auto load = [](const room::ServeCounters::Counter& c) { return c.load(std::memory_order_relaxed); };
  if (stats.send_queue_overflows > 0) {
    log.log(LogLevel::kWarning, fmt::format("{} connection(s) closed because they did not read (send queue full)",
                                            stats.send_queue_overflows));
  }
  if (load(counters.undelivered) > 0) {
    log.log(LogLevel::kWarning, fmt::format("{} reliable delivery(ies) were never acknowledged",
                                            load(counters.undelivered)));
  }
  log.log(LogLevel::kInfo, fmt::format("served {} connection(s); {} rate-limited request(s), {} ack retries",
                                       load(counters.connections_opened), load(counters.rate_limited),
                                       load(counters.ack_retries)));
}

ExitCode run_serve(const ServeOptions& options) {
  const LogLevel level = options.quiet            ? LogLevel::kError
                         : options.verbosity >= 2 ? LogLevel::kDebug
                         : options.verbosity == 1 ? LogLevel::kInfo
                                                  : LogLevel::kWarning;
  StderrLog log("wsserve", level, options.log_format);
  std::string fd_error;
  raise_fd_limit(&fd_error);
  if (!fd_error.empty()) log.log(LogLevel::kWarning, fd_error);

  AccessPolicy policy;
  for (const std::string& origin : options.allow_origins) {
    std::string why;
    if (!policy.allow_origin(origin, why)) {
      log.log(LogLevel::kError, fmt::format("--allow-origin {}: {}", origin, why));
      return ExitCode::kUsage;
    }
  }
  policy.require_token(options.token);

  ws::ServerConfig server_config = server_config_from(options);
  if (options.tls_self_signed) {
    SelfSignedCertificate certificate;
    std::string why;
    SelfSignedOptions names;
    // A server listening on a specific non-loopback address is reached by it: name it too.
    const std::string& host = options.server.listen.host;
    if (host != "127.0.0.1" && host != "::1" && host != "0.0.0.0" && host != "::" && is_ip_literal(host)) {
      names.ip_addresses.push_back(host);
    }
    if (!generate_self_signed(names, certificate, why)) {
      log.log(LogLevel::kError, "cannot generate a self-signed certificate: " + why);
      return ExitCode::kInternal;
    }
    server_config.tls_cert_pem = std::move(certificate.cert_pem);
    server_config.tls_key_pem = std::move(certificate.key_pem);
    log.log(LogLevel::kWarning,
            fmt::format("serving a throwaway self-signed certificate for localhost, 127.0.0.1 and ::1 (SHA-256 {}); "
                        "clients must skip verification (e.g. --insecure)",
                        certificate.sha256_fingerprint));
  }

  // The message log is opened before listening: a path that cannot be written is 73, not a
  // server that runs without the log it was asked for.
  std::unique_ptr<session::SessionWriter> message_log;
  if (!options.log_messages.empty()) {
    session::WriterOptions log_options;
    log_options.max_bytes = options.log_messages_max_size;
    log_options.keep_rotated = options.log_messages_keep;
    log_options.keep_secrets = options.keep_secrets;
    log_options.on_first_full_wait = [&log](const std::string& warning) {
      log.log(LogLevel::kWarning, "--log-messages: " + warning);
    };
    Error error;
    message_log = session::SessionWriter::open(options.log_messages, "serve", log_options, error);
    if (!message_log) {
      log.log(LogLevel::kError, "--log-messages: " + error.message);
      return exit_code_for(error.code);
    }
  }

  room::ServeCounters counters;
  ServeHandler handler(hub_config_from(options), log, counters, std::move(policy));
  const bool tls = !server_config.tls_cert_file.empty() || !server_config.tls_cert_pem.empty();
  if (message_log) handler.set_message_log(message_log.get(), tls ? "wss" : "ws");
  ws::Server server(std::move(server_config), handler, log);
  MetricsRegistry metrics("wstool_serve");
  register_serve_metrics(metrics, counters, server);
  handler.set_metrics(&metrics);
  handler.attach(server.worker_count(),
                 [&server](unsigned worker, std::function<void()> task) { server.post(worker, std::move(task)); });
  if (Error error = server.listen()) {
    log.log(LogLevel::kError, error.message);
    return exit_code_for(error.code);
  }
  // Signals are taken over before the readiness line: a script may send SIGTERM the moment it
  // reads it, and that must shut down gracefully, not kill.
  const auto grace = duration_cast<milliseconds>(options.shutdown_timeout);
  ShutdownSignals signals([&server, grace](int) { server.shutdown(ws::close_code::kGoingAway, grace); });
  // The readiness line: a documented interface scripts and tests wait for.
  fmt::print("{}\n", readiness_line(server.tls(), server.address(), server.port()));
  std::fflush(stdout);
  server.run();
  log_summary(log, counters, server.stats());
  if (message_log) {
    message_log->close();
    if (Error error = message_log->error()) log.log(LogLevel::kError, "--log-messages: " + error.message);
    const std::string note = session::describe_stats(message_log->stats());
    if (!note.empty()) log.log(LogLevel::kWarning, "--log-messages: " + note);
  }
  return ExitCode::kOk;
}

}  // namespace

Runner make_serve(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  app.description(
      "The real-time room server of the design notes: a JSON protocol with echo, broadcast, rooms "
      "and presence, acknowledged delivery, session resume and rate limits (see wstool-protocol(7)), "
      "for building and testing WebSocket clients against.");
  add_server_options(app, options->server);
  add_duration_option(app, "--ping-interval", options->ping_interval, "protocol ping every DURATION (0: none)");
  add_duration_option(app, "--ping-timeout", options->ping_timeout,
                      "close a peer that has not answered a ping within DURATION");
  add_duration_option(app, "--app-ping", options->app_ping,
                      "also send JSON {\"type\":\"ping\"} every DURATION; clients that do not answer with a pong "
                      "within --ping-timeout are closed (0: never)");
  app.add_flag("--ack", options->ack, "reliable delivery of room messages to every member (not only those joining with ack)");
  add_duration_option(app, "--ack-timeout", options->ack_timeout, "wait this long for an ack before resending (doubling each time)");
  app.add_option("--ack-retries", options->ack_retries, "resends of an unacknowledged delivery before it counts as undelivered")
      ->check(CLI::Range(0u, kMaxAckRetries))
      ->capture_default_str();
  add_duration_option(app, "--dedupe-window", options->dedupe_window,
                      "remember acknowledged _ids this long; also how long a closed session can be resumed");
  add_size_option(app, "--max-content", options->max_content, "largest room message content or broadcast data");
  app.add_option("--max-rooms-per-connection", options->max_rooms_per_connection, "rooms one connection may be in")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000}))
      ->capture_default_str();
  app.add_option("--max-rooms", options->max_rooms, "rooms on the server at most (0: no limit)")->capture_default_str();
  add_rate_option(app, "--rate", options->rate, "requests per connection (token bucket; 0: unlimited)");
  app.add_option("--burst", options->burst, "token bucket size: requests allowed at once")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{1'000'000'000}))
      ->capture_default_str();
  add_rate_option(app, "--rate-per-ip", options->rate_per_ip, "requests per client IP address, all its connections together (0: off)");
  app.add_option("--abuse-limit", options->abuse_limit, "close a connection (1008) after more errors than this within a minute (0: never)")
      ->capture_default_str();
  app.add_flag("--allow-binary", options->allow_binary, "accept JSON in binary messages too (refused as INVALID_MESSAGE otherwise)");
  app.add_flag("--no-compress", options->no_compress, "refuse permessage-deflate");
  app.add_option("--allow-origin", options->allow_origins,
                 "accept upgrades from this Origin (repeatable; replaces the default of no Origin or a "
                 "localhost one; '*' accepts any); others get 403")
      ->type_name("ORIGIN");
  app.add_option("--token", options->token,
                 "require this token, as 'Authorization: Bearer TOKEN' or ?token=TOKEN (else 401)")
      ->type_name("TOKEN")
      // An empty token would mean no token at all: every client let in, against the flag's intent.
      ->check(CLI::Validator([](const std::string& value) { return value.empty() ? "the token must not be empty" : ""; },
                             "", "non-empty"));
  app.add_option("--tls-cert", options->tls_cert, "serve wss:// with this PEM certificate chain (with --tls-key)")
      ->type_name("FILE");
  app.add_option("--tls-key", options->tls_key, "the PEM private key of --tls-cert")->type_name("FILE");
  app.add_flag("--tls-self-signed", options->tls_self_signed,
               "serve wss:// with a certificate generated at start for localhost, 127.0.0.1 and ::1")
      ->excludes("--tls-cert")
      ->excludes("--tls-key");
  app.add_option("--log-messages", options->log_messages,
                 "write every connection's messages both ways to FILE, a session log (wstool-session(5))")
      ->type_name("FILE");
  add_size_option(app, "--log-messages-max-size", options->log_messages_max_size,
                  "rotate the message log when it would grow past SIZE (0: never)");
  app.add_option("--log-messages-keep", options->log_messages_keep, "rotated message logs kept (FILE.1 ... FILE.N)")
      ->type_name("N")
      ->check(CLI::Range(0u, kMaxRotatedLogs))
      ->capture_default_str();
  app.add_flag("--keep-secrets", options->keep_secrets,
               "write Authorization, Cookie and ?token= values into the message log instead of [redacted]");
  add_duration_option(app, "--shutdown-timeout", options->shutdown_timeout,
                      "on SIGINT/SIGTERM, wait this long for clients to answer the 1001 close");
  app.add_option_function<std::string>(
         "--log-format",
         [options](const std::string& format) {
           options->log_format = format == "json" ? LogFormat::kJson : LogFormat::kText;
         },
         "text, or json: one JSON object per line on stderr")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}))
      ->default_str("text");
  app.add_flag("-v,--verbose", options->verbosity, "log connections and closes; twice: more");
  app.add_flag("-q,--quiet", options->quiet, "log errors only");
  return [options]() -> ExitCode {
    if (options->verbosity > 0 && options->quiet) {
      fmt::print(stderr, "wsserve: error: --verbose and --quiet exclude each other\n");
      return ExitCode::kUsage;
    }
    return run_serve(*options);
  };
}

}  // namespace wstool::tools
