// wstool serve: the real-time room server of the design notes, a backend to build and test
// WebSocket clients against (protocol: man/wstool-protocol.7; the logic lives in lib/room_hub).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <memory>
#include <mutex>

#include "lib/engine.h"
#include "lib/fd_limit.h"
#include "lib/listen_address.h"
#include "lib/room_hub.h"
#include "lib/units.h"
#include "tools/common_options.h"
#include "tools/shutdown_signals.h"
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

enum class LogFormat { kText, kJson };

struct ServeOptions {
  ListenAddress listen{std::string(kDefaultListenHost), kDefaultServePort};
  unsigned threads = 0;  // 0: the CPUs in the affinity mask
  std::uint64_t max_connections = kDefaultMaxConnections;
  std::uint64_t max_message_size = kDefaultServeMaxMessageBytes;
  std::uint64_t max_header_size = ws::kDefaultMaxHeaderBytes;
  std::uint64_t max_send_queue = kDefaultServeMaxSendQueueBytes;
  std::chrono::nanoseconds handshake_timeout = std::chrono::seconds(10);
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
  LogFormat log_format = LogFormat::kText;
  int verbosity = 0;
  bool quiet = false;
};

const char* level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kError: return "error";
    case LogLevel::kWarning: return "warning";
    case LogLevel::kInfo: return "info";
    case LogLevel::kDebug: return "debug";
  }
  return "info";
}

// Structured logs on stderr, text or JSON Lines; one lock keeps lines whole across workers.
class ServeLog final : public Logger {
 public:
  ServeLog(LogLevel level, LogFormat format) : level_(level), format_(format) {}
  bool enabled(LogLevel level) const override { return level <= level_; }
  void log(LogLevel level, std::string_view message) override {
    if (!enabled(level)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (format_ == LogFormat::kJson) {
      const nlohmann::json record = {{"time", utc_now()}, {"level", level_name(level)}, {"message", message}};
      fmt::print(stderr, "{}\n", record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    } else {
      fmt::print(stderr, "wsserve: {}{}\n",
                 level == LogLevel::kError ? "error: " : level == LogLevel::kWarning ? "warning: " : "", message);
    }
    std::fflush(stderr);
  }

 private:
  // RFC 3339 UTC with milliseconds.
  static std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
    const auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
    return fmt::format("{}.{:03}Z", text, ms);
  }

  LogLevel level_;
  LogFormat format_;
  std::mutex mutex_;
};

// The room hub plus the HTTP side of the server.
// INTEGRATION POINT: the lead adds the Origin allow-list, --token and /metrics, /stats, / here.
class ServeHandler final : public room::RoomHub {
 public:
  using RoomHub::RoomHub;

  // --- on_upgrade_request: refusals before a WebSocket is accepted. No Origin/token checks
  // yet; malformed ?userId= / ?sessionId= get 400.
  std::optional<ws::Rejection> on_upgrade_request(const ws::UpgradeRequest& request,
                                                  const std::string& /*remote*/) override {
    return check_request(request);
  }

  // --- on_http_request: plain HTTP GETs on the same port. Only /healthz so far.
  std::optional<ws::HttpResponse> on_http_request(const ws::UpgradeRequest& request,
                                                  const std::string& /*remote*/) override {
    const ws::RequestTarget target = ws::split_target(request.target);
    if (target.path == "/healthz") {
      ws::HttpResponse response;
      response.body = "ok\n";
      response.head_only = request.method == "HEAD";
      return response;
    }
    return std::nullopt;
  }
};

room::HubConfig hub_config_from(const ServeOptions& options) {
  room::HubConfig config;
  config.max_message_bytes = options.max_message_size;
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
  config.host = options.listen.host;
  config.port = options.listen.port;
  config.threads = options.threads;
  config.max_connections = static_cast<std::size_t>(options.max_connections);
  config.max_header_bytes = static_cast<std::size_t>(options.max_header_size);
  config.handshake_timeout = duration_cast<milliseconds>(options.handshake_timeout);
  config.limits.max_message_bytes = static_cast<std::size_t>(options.max_message_size);
  config.limits.max_send_queue_bytes = static_cast<std::size_t>(options.max_send_queue);
  config.limits.ping_interval = duration_cast<milliseconds>(options.ping_interval);
  config.limits.ping_timeout = duration_cast<milliseconds>(options.ping_timeout);
  config.deflate.enabled = !options.no_compress;
  config.keep_request = true;  // the hub reads ?userId= and ?sessionId= from it
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
  ServeLog log(level, options.log_format);
  std::string fd_error;
  raise_fd_limit(&fd_error);
  if (!fd_error.empty()) log.log(LogLevel::kWarning, fd_error);

  room::ServeCounters counters;
  ServeHandler handler(hub_config_from(options), log, counters);
  ws::Server server(server_config_from(options), handler, log);
  handler.attach(server.worker_count(),
                 [&server](unsigned worker, std::function<void()> task) { server.post(worker, std::move(task)); });
  if (Error error = server.listen()) {
    log.log(LogLevel::kError, error.message);
    return exit_code_for(error.code);
  }
  // The readiness line: a documented interface scripts and tests wait for.
  fmt::print("{}\n", readiness_line(server.tls(), server.address(), server.port()));
  std::fflush(stdout);

  const auto grace = duration_cast<milliseconds>(options.shutdown_timeout);
  ShutdownSignals signals([&server, grace](int) { server.shutdown(ws::close_code::kGoingAway, grace); });
  server.run();
  log_summary(log, counters, server.stats());
  return ExitCode::kOk;
}

}  // namespace

Runner make_serve(CLI::App& app) {
  auto options = std::make_shared<ServeOptions>();
  app.description(
      "The real-time room server of the design notes: a JSON protocol with echo, broadcast, rooms "
      "and presence, acknowledged delivery, session resume and rate limits (see wstool-protocol(7)), "
      "for building and testing WebSocket clients against.");
  add_listen_option(app, options->listen, "address to listen on: HOST:PORT, [IPV6]:PORT or :PORT; port 0 picks a free port");
  app.add_option("--threads", options->threads, "event-loop threads (default: the CPUs this process may run on)")
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--max-connections", options->max_connections, "open connections at most; over it: HTTP 503")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->capture_default_str();
  add_size_option(app, "--max-message-size", options->max_message_size, "largest message; larger ones close with 1009");
  add_size_option(app, "--max-header-size", options->max_header_size, "largest opening-handshake head; larger: HTTP 431");
  add_size_option(app, "--max-send-queue", options->max_send_queue,
                  "bytes queued for a peer at most; a peer that does not read is closed with 1008");
  add_duration_option(app, "--handshake-timeout", options->handshake_timeout, "time allowed for the opening handshake");
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
