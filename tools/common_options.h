// CLI11 glue for the conventions every subcommand shares: unit-valued options, --listen, the
// client options and --color are added the same way everywhere, and parsed by lib/ once.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "lib/client_options.h"
#include "lib/listen_address.h"

namespace CLI {
class App;
class Option;
class Validator;
}  // namespace CLI

namespace wstool::ws {
struct ServerConfig;
}  // namespace wstool::ws

namespace wstool::tools {

// Each adds an option whose value is parsed by lib/units; a bad value throws
// CLI::ValidationError naming the flag ("--idle-timeout: unknown duration unit 'x' …"), which
// the driver maps to exit 64. The current value of `target` is shown as the default.
CLI::Option* add_duration_option(CLI::App& app, const std::string& name,
                                 std::chrono::nanoseconds& target, const std::string& help);
CLI::Option* add_rate_option(CLI::App& app, const std::string& name, double& per_second,
                             const std::string& help);
CLI::Option* add_size_option(CLI::App& app, const std::string& name, std::uint64_t& bytes,
                             const std::string& help);

// --listen HOST:PORT (default: `target` as given, normally 127.0.0.1:0).
CLI::Option* add_listen_option(CLI::App& app, ListenAddress& target,
                               const std::string& help = "address to listen on; port 0 picks a "
                                                         "free port");

// What every server subcommand takes: where to listen, and the engine's limits. The caller sets
// the defaults (they differ: serve's messages are small, echo's may be anything).
struct ServerOptions {
  ListenAddress listen;
  unsigned threads = 0;  // 0: the CPUs in the affinity mask
  std::uint64_t max_connections = 0;
  std::uint64_t max_message_size = 0;
  std::uint64_t max_header_size = 0;
  std::uint64_t max_send_queue = 0;
  std::chrono::nanoseconds handshake_timeout{0};
};

// --listen, --threads, --max-connections, --max-message-size, --max-header-size,
// --max-send-queue and --handshake-timeout, with `options`' values shown as defaults.
void add_server_options(CLI::App& app, ServerOptions& options);
// Copies them into the engine's configuration.
void apply_server_options(const ServerOptions& options, ws::ServerConfig& config);

// -H (repeatable "Name: value"), --origin, --subprotocol (repeatable), --bearer, --auth,
// --ca, --insecure, --cert, --key, --key-passphrase, --connect-timeout, --compress/--no-compress,
// --proxy. --bearer and --auth exclude each other.
void add_client_options(CLI::App& app, ClientOptions& options);

enum class ColorMode { kAuto, kAlways, kNever };

// A transform for a count option (an unsigned integer): decimal digits only, leading zeros
// dropped. CLI11 2.1 reads integers with strtoull(..., 0), which takes "-1" for
// 18446744073709551615, "010" for 8 and "0x10" for 16. A transform, not a check: only
// transforms may change the value. The driver adds it to every option CLI11 types as UINT;
// options renamed "N" add it themselves.
CLI::Validator decimal_count();

// --color auto|always|never.
CLI::Option* add_color_option(CLI::App& app, ColorMode& mode);

// Whether to colour a stream: always/never as asked; auto only on a terminal and never when
// NO_COLOR is set to anything (https://no-color.org).
bool color_enabled(ColorMode mode, bool stream_is_tty, const char* no_color_env);

}  // namespace wstool::tools
