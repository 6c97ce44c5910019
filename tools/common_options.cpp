// CLI11 glue for the shared options; the parsing itself lives in lib/.
#include "tools/common_options.h"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <map>

#include "lib/engine.h"
#include "lib/units.h"
#include "lib/ws_url.h"

namespace wstool::tools {
namespace {

// The option's long name for messages ("--idle-timeout"), whatever short aliases it has.
std::string flag_of(const std::string& names) {
  const std::size_t long_start = names.find("--");
  if (long_start == std::string::npos) return names.substr(0, names.find(','));
  return names.substr(long_start, names.find(',', long_start) - long_start);
}

void require_no_crlf(const std::string& flag, const std::string& value) {
  if (value.find_first_of("\r\n") != std::string::npos) {
    throw CLI::ValidationError(flag, "must not contain CR or LF");
  }
}

}  // namespace

CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::nanoseconds& target, const std::string& help) {
  const std::string flag = flag_of(name);
  return app
      .add_option_function<std::string>(
          name,
          [&target, flag](const std::string& text) {
            std::string error;
            if (!parse_duration(text, target, error)) throw CLI::ValidationError(flag, error);
          },
          help)
      ->type_name("DURATION")
      ->default_str(format_duration(target));
}

CLI::Option* add_rate_option(CLI::App& app, const std::string& name, double& per_second,
                             const std::string& help) {
  const std::string flag = flag_of(name);
  return app
      .add_option_function<std::string>(
          name,
          [&per_second, flag](const std::string& text) {
            std::string error;
            if (!parse_rate(text, per_second, error)) throw CLI::ValidationError(flag, error);
          },
          help)
      ->type_name("RATE")
      ->default_str(format_rate(per_second));
}

CLI::Option* add_size_option(CLI::App& app, const std::string& name, std::uint64_t& bytes,
                             const std::string& help) {
  const std::string flag = flag_of(name);
  return app
      .add_option_function<std::string>(
          name,
          [&bytes, flag](const std::string& text) {
            std::string error;
            if (!parse_size(text, bytes, error)) throw CLI::ValidationError(flag, error);
          },
          help)
      ->type_name("SIZE")
      ->default_str(format_size(bytes));
}

CLI::Option* add_listen_option(CLI::App& app, ListenAddress& target, const std::string& help) {
  return app
      .add_option_function<std::string>(
          "--listen",
          [&target](const std::string& text) {
            std::string error;
            if (!parse_listen_address(text, target, error)) {
              throw CLI::ValidationError("--listen", error);
            }
          },
          help)
      ->type_name("HOST:PORT")
      ->default_str(to_string(target));
}

void add_client_options(CLI::App& app, ClientOptions& options) {
  app.add_option_function<std::vector<std::string>>(
         "-H,--header",
         [&options](const std::vector<std::string>& values) {
           for (const auto& v : values) {
             ws::HttpHeader h;
             std::string error;
             if (!parse_header_argument(v, h, error)) throw CLI::ValidationError("-H", error);
             options.headers.push_back(std::move(h));
           }
         },
         "extra request header 'Name: value' (repeatable)")
      ->type_name("HEADER")
      ->take_all()
      ->allow_extra_args(false);

  app.add_option_function<std::string>(
         "--origin",
         [&options](const std::string& v) {
           require_no_crlf("--origin", v);
           options.origin = v;
         },
         "Origin header to send")
      ->type_name("ORIGIN");

  app.add_option_function<std::vector<std::string>>(
         "--subprotocol",
         [&options](const std::vector<std::string>& values) {
           for (const auto& v : values) {
             if (!ws::is_http_token(v)) {
               throw CLI::ValidationError("--subprotocol",
                                          "'" + v + "' is not a valid subprotocol name");
             }
             options.subprotocols.push_back(v);
           }
         },
         "subprotocol to offer, in order of preference (repeatable)")
      ->type_name("NAME")
      ->take_all()
      ->allow_extra_args(false);

  auto* bearer = app.add_option_function<std::string>(
                        "--bearer",
                        [&options](const std::string& v) {
                          require_no_crlf("--bearer", v);
                          options.bearer_token = v;
                        },
                        "send 'Authorization: Bearer TOKEN'")
                     ->type_name("TOKEN");
  auto* auth = app.add_option_function<std::string>(
                      "--auth",
                      [&options](const std::string& v) {
                        require_no_crlf("--auth", v);
                        if (v.find(':') == std::string::npos) {
                          throw CLI::ValidationError("--auth", "expected USER:PASSWORD");
                        }
                        options.basic_auth = v;
                      },
                      "send HTTP Basic authentication")
                   ->type_name("USER:PASSWORD");
  bearer->excludes(auth);
  auth->excludes(bearer);

  app.add_option("--ca", options.ca_file, "CA certificates (PEM) to verify the server with")
      ->type_name("FILE");
  app.add_flag("--insecure", options.insecure,
               "do not verify the server's TLS certificate (testing only)");
  app.add_option("--cert", options.cert_file, "client certificate (PEM) for mutual TLS")
      ->type_name("FILE");
  app.add_option("--key", options.key_file, "private key (PEM) for --cert")->type_name("FILE");
  app.add_option("--key-passphrase", options.key_passphrase, "passphrase of --key")
      ->type_name("PASSPHRASE");
  add_duration_option(app, "--connect-timeout", options.connect_timeout,
                      "give up if connecting, TLS and the handshake take longer");
  // The subcommand's own default (load's is off: raw throughput unless asked).
  app.add_flag("--compress,!--no-compress", options.compress,
               options.compress ? "offer permessage-deflate (default: on)" : "offer permessage-deflate (default: off)");
  app.add_option_function<std::string>(
         "--proxy",
         [&options](const std::string& v) {
           // Like curl, a bare HOST:PORT means an HTTP proxy.
           const std::string url = v.find("://") == std::string::npos ? "http://" + v : v;
           ws::WsUrl parsed;
           std::string error;
           if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
             throw CLI::ValidationError("--proxy", "expected http://HOST:PORT");
           }
           if (!ws::parse_ws_url(url, parsed, error)) throw CLI::ValidationError("--proxy", error);
           options.proxy = url;
         },
         "HTTP proxy (CONNECT) to go through; default from http_proxy/https_proxy")
      ->type_name("URL");
}

CLI::Validator decimal_count() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        if (value.empty() || !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
          return "'" + value + "' is not a whole number (decimal digits only)";
        }
        // Leading zeros go, so the conversion cannot read "010" as octal.
        value.erase(0, std::min(value.find_first_not_of('0'), value.size() - 1));
        return {};
      },
      "");
}

CLI::Option* add_color_option(CLI::App& app, ColorMode& mode) {
  static const std::map<std::string, ColorMode> kModes = {
      {"auto", ColorMode::kAuto}, {"always", ColorMode::kAlways}, {"never", ColorMode::kNever}};
  return app.add_option("--color", mode, "colour output: auto, always or never")
      ->type_name("WHEN")
      ->transform(CLI::CheckedTransformer(kModes, CLI::ignore_case))
      ->default_str("auto");
}

bool color_enabled(ColorMode mode, bool stream_is_tty, const char* no_color_env) {
  switch (mode) {
    case ColorMode::kAlways: return true;
    case ColorMode::kNever: return false;
    case ColorMode::kAuto: break;
  }
  return stream_is_tty && (no_color_env == nullptr || *no_color_env == '\0');
}

void add_server_options(CLI::App& app, ServerOptions& options) {
  add_listen_option(app, options.listen,
                    "address to listen on: HOST:PORT, [IPV6]:PORT or :PORT; port 0 picks a free port");
  app.add_option("--threads", options.threads, "event-loop threads (default: the CPUs this process may run on)")
      ->check(CLI::Range(1u, 1024u));
  app.add_option("--max-connections", options.max_connections, "open connections at most; over it: HTTP 503")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{10'000'000}))
      ->capture_default_str();
  add_size_option(app, "--max-message-size", options.max_message_size, "largest message; larger ones close with 1009");
  add_size_option(app, "--max-header-size", options.max_header_size, "largest opening-handshake head; larger: HTTP 431");
  add_size_option(app, "--max-send-queue", options.max_send_queue,
                  "bytes queued for a peer at most; a peer that does not read is closed with 1008");
  add_duration_option(app, "--handshake-timeout", options.handshake_timeout, "time allowed for the opening handshake");
}

void apply_server_options(const ServerOptions& options, ws::ServerConfig& config) {
  config.host = options.listen.host;
  config.port = options.listen.port;
  config.threads = options.threads;
  config.max_connections = static_cast<std::size_t>(options.max_connections);
  config.max_header_bytes = static_cast<std::size_t>(options.max_header_size);
  config.handshake_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.handshake_timeout);
  config.limits.max_message_bytes = static_cast<std::size_t>(options.max_message_size);
  config.limits.max_send_queue_bytes = static_cast<std::size_t>(options.max_send_queue);
}

}  // namespace wstool::tools
