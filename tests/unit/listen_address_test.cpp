// Tests for --listen parsing and the readiness line.
#include "lib/listen_address.h"

#include <gtest/gtest.h>

namespace wstool {
namespace {

ListenAddress ok(const std::string& text) {
  ListenAddress a;
  std::string error;
  EXPECT_TRUE(parse_listen_address(text, a, error)) << text << ": " << error;
  return a;
}

std::string err(const std::string& text) {
  ListenAddress a;
  std::string error;
  EXPECT_FALSE(parse_listen_address(text, a, error)) << text;
  return error;
}

TEST(ParseListenAddress, Forms) {
  auto a = ok("127.0.0.1:9001");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9001);
  a = ok("[::1]:0");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 0);
  a = ok(":9001");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9001);
  a = ok("localhost:80");
  EXPECT_EQ(a.host, "localhost");
  a = ok("0.0.0.0:65535");
  EXPECT_EQ(a.port, 65535);
  EXPECT_EQ(ok("[::]:8080").host, "::");
}

TEST(ParseListenAddress, DefaultIsLoopbackAnyPort) {
  const ListenAddress a;
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 0);
}

TEST(ParseListenAddress, ErrorsSayWhy) {
  EXPECT_NE(err("9001").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(err("127.0.0.1").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(err("127.0.0.1:").find("missing port"), std::string::npos);
  EXPECT_NE(err("127.0.0.1:65536").find("invalid port"), std::string::npos);
  EXPECT_NE(err("127.0.0.1:-1").find("invalid port"), std::string::npos);
  EXPECT_NE(err("127.0.0.1:http").find("invalid port"), std::string::npos);
  EXPECT_NE(err("::1:80").find("brackets"), std::string::npos);
  EXPECT_NE(err("[::1]80").find("HOST:PORT"), std::string::npos);
  EXPECT_NE(err("[::1").find("'['"), std::string::npos);
  EXPECT_NE(err("[zz]:1").find("IPv6"), std::string::npos);
  EXPECT_NE(err("bad host:1").find("host"), std::string::npos);
  EXPECT_NE(err("").find("HOST:PORT"), std::string::npos);
}

TEST(ReadinessLine, Formats) {
  EXPECT_EQ(readiness_line(false, "127.0.0.1", 9001), "listening on ws://127.0.0.1:9001");
  EXPECT_EQ(readiness_line(true, "127.0.0.1", 443), "listening on wss://127.0.0.1:443");
  EXPECT_EQ(readiness_line(false, "::1", 40000), "listening on ws://[::1]:40000");
  EXPECT_EQ(to_string(ok("[::1]:5")), "[::1]:5");
}

}  // namespace
}  // namespace wstool
