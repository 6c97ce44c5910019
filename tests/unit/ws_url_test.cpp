// Tests for WebSocket URL parsing and the Host header a URL implies.
#include "lib/ws_url.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool::ws {
namespace {

WsUrl parse_ok(const std::string& text) {
  WsUrl url;
  std::string error;
  EXPECT_TRUE(parse_ws_url(text, url, error)) << text << ": " << error;
  return url;
}

std::string parse_error(const std::string& text) {
  WsUrl url;
  std::string error;
  EXPECT_FALSE(parse_ws_url(text, url, error)) << text;
  EXPECT_FALSE(error.empty()) << text;
  return error;
}

TEST(ParseWsUrl, PlainWithDefaults) {
  const WsUrl u = parse_ok("ws://example.com");
  EXPECT_FALSE(u.secure);
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.target, "/");
  EXPECT_EQ(u.userinfo, "");
  EXPECT_EQ(host_header(u), "example.com");
}

TEST(ParseWsUrl, SecureDefaultPortAndTarget) {
  const WsUrl u = parse_ok("wss://example.com/chat?room=1&x=%20");
  EXPECT_TRUE(u.secure);
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.target, "/chat?room=1&x=%20");
  EXPECT_EQ(host_header(u), "example.com");
}

TEST(ParseWsUrl, QueryWithoutPathGetsSlash) {
  EXPECT_EQ(parse_ok("ws://h?token=1").target, "/?token=1");
}

TEST(ParseWsUrl, HttpSchemesMapToWs) {
  EXPECT_FALSE(parse_ok("http://h/").secure);
  EXPECT_TRUE(parse_ok("HTTPS://h/").secure);
  EXPECT_TRUE(parse_ok("WSS://h/").secure);
}

TEST(ParseWsUrl, ExplicitPorts) {
  const WsUrl u = parse_ok("ws://127.0.0.1:9001/x");
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 9001);
  EXPECT_EQ(host_header(u), "127.0.0.1:9001");
  EXPECT_EQ(parse_ok("ws://h:65535").port, 65535);
  EXPECT_EQ(parse_ok("ws://h:/").port, 80);  // empty port = default (RFC 3986)
  // The default port of the other scheme is not omitted.
  EXPECT_EQ(host_header(parse_ok("wss://h:80/")), "h:80");
  EXPECT_EQ(host_header(parse_ok("ws://h:443/")), "h:443");
  EXPECT_EQ(host_header(parse_ok("wss://h:443/")), "h");
}

TEST(ParseWsUrl, Ipv6Literals) {
  const WsUrl u = parse_ok("ws://[::1]:9001/");
  EXPECT_EQ(u.host, "::1");
  EXPECT_EQ(u.port, 9001);
  EXPECT_EQ(host_header(u), "[::1]:9001");
  EXPECT_EQ(host_header(parse_ok("wss://[2001:db8::7]")), "[2001:db8::7]");
  EXPECT_EQ(to_string(parse_ok("ws://[::1]:9/a?b")), "ws://[::1]:9/a?b");
}

TEST(ParseWsUrl, UserinfoIsKeptApartAndNotPrinted) {
  const WsUrl u = parse_ok("wss://alice:s3cret@example.com:8443/p");
  EXPECT_EQ(u.userinfo, "alice:s3cret");
  EXPECT_EQ(u.host, "example.com");
  EXPECT_EQ(u.port, 8443);
  EXPECT_EQ(to_string(u), "wss://example.com:8443/p");
}

TEST(ParseWsUrl, RejectsWithReasons) {
  EXPECT_NE(parse_error("example.com").find("not a URL"), std::string::npos);
  EXPECT_NE(parse_error("ftp://h/").find("scheme"), std::string::npos);
  EXPECT_NE(parse_error("ws:///path").find("no host"), std::string::npos);
  EXPECT_NE(parse_error("ws://h:0/").find("port"), std::string::npos);
  EXPECT_NE(parse_error("ws://h:65536/").find("port"), std::string::npos);
  EXPECT_NE(parse_error("ws://h:99999999999999999999/").find("port"), std::string::npos);
  EXPECT_NE(parse_error("ws://h:-1/").find("port"), std::string::npos);
  EXPECT_NE(parse_error("ws://h:8o/").find("port"), std::string::npos);
  EXPECT_NE(parse_error("ws://h/#frag").find("fragment"), std::string::npos);
  EXPECT_NE(parse_error("ws://[::1/").find("IPv6"), std::string::npos);
  EXPECT_NE(parse_error("ws://[nothex]/").find("IPv6"), std::string::npos);
  EXPECT_NE(parse_error("ws://[::1]x/").find("after"), std::string::npos);
  EXPECT_NE(parse_error("ws://::1/").find("brackets"), std::string::npos);
  EXPECT_NE(parse_error("ws://exa mple.com/").find("host"), std::string::npos);
  EXPECT_NE(parse_error("ws://h/a b").find("percent"), std::string::npos);
  EXPECT_NE(parse_error("ws://h/%zz").find("percent"), std::string::npos);
  EXPECT_NE(parse_error("ws://h/%2").find("percent"), std::string::npos);
}

// Where a redirect goes, as text (or "error: ...").
std::string resolved(const std::string& base_text, const std::string& location) {
  WsUrl base;
  std::string error;
  EXPECT_TRUE(parse_ws_url(base_text, base, error)) << base_text;
  WsUrl out;
  if (!resolve_location(base, location, out, error)) return "error: " + error;
  return to_string(out);
}

TEST(ResolveLocation, AbsoluteUrlsMapHttpToWs) {
  EXPECT_EQ(resolved("ws://a:1/x", "ws://b:2/y"), "ws://b:2/y");
  EXPECT_EQ(resolved("ws://a:1/x", "http://b/y"), "ws://b/y");
  EXPECT_EQ(resolved("ws://a:1/x", "https://b/y?q=1"), "wss://b/y?q=1");
  EXPECT_EQ(resolved("ws://a/x", "WSS://B:8443/"), "wss://B:8443/");
}

TEST(ResolveLocation, RelativeReferencesResolveAgainstTheCurrentUrl) {
  EXPECT_EQ(resolved("wss://a:8443/chat/room?x=1", "/other"), "wss://a:8443/other");
  EXPECT_EQ(resolved("ws://a/chat/room", "next"), "ws://a/chat/next");
  EXPECT_EQ(resolved("ws://a/chat/room", "../up/./here"), "ws://a/up/here");
  EXPECT_EQ(resolved("ws://a/chat/room", "../../../top"), "ws://a/top");
  EXPECT_EQ(resolved("ws://a/chat/room?old", "?new=1"), "ws://a/chat/room?new=1");
  EXPECT_EQ(resolved("wss://a/x", "//b:9/y"), "wss://b:9/y");
  EXPECT_EQ(resolved("ws://[::1]:9/x", "/y"), "ws://[::1]:9/y");
  EXPECT_EQ(resolved("ws://a/x", " /spaced#frag "), "ws://a/spaced");
}

TEST(ResolveLocation, RefusesWhatIsNotAWebSocketUrl) {
  EXPECT_EQ(resolved("ws://a/x", "").rfind("error: ", 0), 0u);
  EXPECT_EQ(resolved("ws://a/x", "ftp://b/").rfind("error: ", 0), 0u);
  EXPECT_EQ(resolved("ws://a/x", "http://b:99999/").rfind("error: ", 0), 0u);
}

TEST(SameOrigin, SchemeHostCaseInsensitiveAndPort) {
  WsUrl a;
  WsUrl b;
  std::string error;
  ASSERT_TRUE(parse_ws_url("ws://Example.com/a", a, error));
  ASSERT_TRUE(parse_ws_url("ws://example.COM:80/b", b, error));
  EXPECT_TRUE(same_origin(a, b));
  ASSERT_TRUE(parse_ws_url("ws://example.com:81/", b, error));
  EXPECT_FALSE(same_origin(a, b));
  ASSERT_TRUE(parse_ws_url("wss://example.com:80/", b, error));
  EXPECT_FALSE(same_origin(a, b));
  ASSERT_TRUE(parse_ws_url("ws://other.example.com/", b, error));
  EXPECT_FALSE(same_origin(a, b));
}

}  // namespace
}  // namespace wstool::ws
