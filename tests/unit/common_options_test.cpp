// Tests for the shared CLI11 option glue: values reach the options structs, bad values are
// CLI11 validation errors naming the flag.
#include "tools/common_options.h"

#include <CLI/CLI.hpp>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace wstool::tools {
namespace {

using namespace std::chrono_literals;

// Parses `args` (without the program name) with `app`; returns the error message or "".
std::string parse(CLI::App& app, std::vector<std::string> args) {
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector form back to front
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return e.what();
  }
  return {};
}

TEST(UnitOptions, ParseIntoTargets) {
  CLI::App app;
  std::chrono::nanoseconds idle = 30s;
  double rate = 1;
  std::uint64_t size = 1024;
  add_duration_option(app, "--idle-timeout", idle, "idle");
  add_rate_option(app, "--rate", rate, "rate");
  add_size_option(app, "--max-message", size, "size");
  ASSERT_EQ(parse(app, {"--idle-timeout", "250ms", "--rate", "30/m", "--max-message", "16MiB"}),
            "");
  EXPECT_EQ(idle, 250ms);
  EXPECT_DOUBLE_EQ(rate, 0.5);
  EXPECT_EQ(size, 16U * 1024 * 1024);
}

TEST(UnitOptions, DefaultsShownInHelp) {
  CLI::App app;
  std::chrono::nanoseconds idle = 30s;
  std::uint64_t size = 64 * 1024;
  add_duration_option(app, "--idle-timeout", idle, "idle");
  add_size_option(app, "--max-message", size, "size");
  const std::string help = app.help();
  EXPECT_NE(help.find("30s"), std::string::npos) << help;
  EXPECT_NE(help.find("64KiB"), std::string::npos) << help;
  EXPECT_NE(help.find("DURATION"), std::string::npos) << help;
}

TEST(UnitOptions, BadValueIsValidationErrorNamingTheFlag) {
  for (const auto& [flag, value] : std::vector<std::pair<std::string, std::string>>{
           {"--idle-timeout", "5x"}, {"--rate", "10/d"}, {"--max-message", "1ZiB"}}) {
    CLI::App app;
    std::chrono::nanoseconds idle{};
    double rate = 0;
    std::uint64_t size = 0;
    add_duration_option(app, "--idle-timeout", idle, "");
    add_rate_option(app, "--rate", rate, "");
    add_size_option(app, "--max-message", size, "");
    std::vector<std::string> args = {value, flag};  // reversed
    try {
      app.parse(args);
      ADD_FAILURE() << flag << " accepted " << value;
    } catch (const CLI::ValidationError& e) {
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
    }
  }
}

TEST(DecimalCount, TakesDigitsOnlyAndLeadingZerosAreNotOctal) {
  for (const char* bad : {"-1", "+2", "0x10", "1e3", "1.5", "", " 3", "3 "}) {
    CLI::App app;
    std::uint64_t count = 7;
    app.add_option("--count", count)->transform(decimal_count());
    const std::string error = parse(app, {"--count", bad});
    EXPECT_NE(error.find("--count"), std::string::npos) << "'" << bad << "': " << error;
    EXPECT_EQ(count, 7U) << bad;
  }
  for (const auto& [text, value] : std::vector<std::pair<std::string, std::uint64_t>>{
           {"0", 0}, {"010", 10}, {"00", 0}, {"18446744073709551615", 18446744073709551615U}}) {
    CLI::App app;
    std::uint64_t count = 7;
    app.add_option("--count", count)->transform(decimal_count());
    ASSERT_EQ(parse(app, {"--count", text}), "") << text;
    EXPECT_EQ(count, value) << text;
  }
}

TEST(ListenOption, ParsesAndRejects) {
  CLI::App app;
  ListenAddress listen;
  add_listen_option(app, listen);
  EXPECT_NE(app.help().find("127.0.0.1:0"), std::string::npos);
  ASSERT_EQ(parse(app, {"--listen", "[::1]:0"}), "");
  EXPECT_EQ(listen.host, "::1");
  CLI::App bad;
  add_listen_option(bad, listen);
  EXPECT_NE(parse(bad, {"--listen", "nope"}).find("--listen"), std::string::npos);
}

TEST(ClientOptionsGlue, AllOptions) {
  CLI::App app;
  ClientOptions o;
  add_client_options(app, o);
  ASSERT_EQ(parse(app, {"-H", "X-A: 1", "-H", "X-B:2", "--origin", "http://o", "--subprotocol",
                        "chat", "--subprotocol", "v2", "--bearer", "tok", "--ca", "ca.pem",
                        "--insecure", "--cert", "c.pem", "--key", "k.pem", "--key-passphrase",
                        "pw", "--connect-timeout", "3s", "--no-compress", "--proxy",
                        "proxy.local:3128"}),
            "");
  ASSERT_EQ(o.headers.size(), 2U);
  EXPECT_EQ(o.headers[1].name, "X-B");
  EXPECT_EQ(o.headers[1].value, "2");
  EXPECT_EQ(o.origin, "http://o");
  EXPECT_EQ(o.subprotocols, (std::vector<std::string>{"chat", "v2"}));
  EXPECT_EQ(o.bearer_token, "tok");
  EXPECT_EQ(o.ca_file, "ca.pem");
  EXPECT_TRUE(o.insecure);
  EXPECT_EQ(o.cert_file, "c.pem");
  EXPECT_EQ(o.key_file, "k.pem");
  EXPECT_EQ(o.key_passphrase, "pw");
  EXPECT_EQ(o.connect_timeout, 3s);
  EXPECT_FALSE(o.compress);
  EXPECT_EQ(o.proxy, "http://proxy.local:3128");
}

TEST(ClientOptionsGlue, DefaultsWhenAbsent) {
  CLI::App app;
  ClientOptions o;
  add_client_options(app, o);
  ASSERT_EQ(parse(app, {}), "");
  EXPECT_TRUE(o.compress);
  EXPECT_EQ(o.connect_timeout, 10s);
  CLI::App again;
  ClientOptions p;
  add_client_options(again, p);
  ASSERT_EQ(parse(again, {"--compress"}), "");
  EXPECT_TRUE(p.compress);
}

TEST(ClientOptionsGlue, Rejections) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-H", "NoColon"}, "-H"},
      {{"--subprotocol", "a b"}, "--subprotocol"},
      {{"--auth", "nopassword"}, "--auth"},
      {{"--bearer", "a", "--auth", "u:p"}, "exclude"},
      {{"--proxy", "socks5://h:1"}, "--proxy"},
      {{"--connect-timeout", "soon"}, "--connect-timeout"},
  };
  for (const auto& [args, mentions] : cases) {
    CLI::App app;
    ClientOptions o;
    add_client_options(app, o);
    const std::string error = parse(app, args);
    EXPECT_NE(error.find(mentions), std::string::npos) << args[0] << ": " << error;
  }
}

TEST(ColorOption, ParsesAndDecides) {
  CLI::App app;
  ColorMode mode = ColorMode::kAuto;
  add_color_option(app, mode);
  ASSERT_EQ(parse(app, {"--color", "never"}), "");
  EXPECT_EQ(mode, ColorMode::kNever);
  CLI::App bad;
  add_color_option(bad, mode);
  EXPECT_NE(parse(bad, {"--color", "sometimes"}), "");

  EXPECT_TRUE(color_enabled(ColorMode::kAuto, true, nullptr));
  EXPECT_TRUE(color_enabled(ColorMode::kAuto, true, ""));
  EXPECT_FALSE(color_enabled(ColorMode::kAuto, true, "1"));
  EXPECT_FALSE(color_enabled(ColorMode::kAuto, false, nullptr));
  EXPECT_TRUE(color_enabled(ColorMode::kAlways, false, "1"));
  EXPECT_FALSE(color_enabled(ColorMode::kNever, true, nullptr));
}

}  // namespace
}  // namespace wstool::tools
