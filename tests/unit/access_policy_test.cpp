// Tests for the handshake's security policy: origin normalization, the loopback default, the
// --allow-origin list, the token (header and query), and the order of the checks.
#include "lib/access_policy.h"

#include <gtest/gtest.h>

#include <string>

namespace wstool {
namespace {

ws::UpgradeRequest request_with(ws::HttpHeaders headers, std::string target = "/") {
  ws::UpgradeRequest r;
  r.method = "GET";
  r.target = std::move(target);
  r.version = "HTTP/1.1";
  r.headers = std::move(headers);
  r.headers.push_back({"Host", "127.0.0.1:8080"});
  return r;
}

ws::UpgradeRequest from_origin(const std::string& origin) { return request_with({{"Origin", origin}}); }

std::string normalized(std::string_view text, bool from_user = false) {
  std::string out;
  std::string error;
  if (!normalize_origin(text, from_user, out, error)) return "error: " + error;
  return out;
}

std::string www_authenticate(const ws::Rejection& r) { return ws::header_value(r.headers, "WWW-Authenticate"); }

TEST(NormalizeOrigin, SerializesAsBrowsersDo) {
  EXPECT_EQ(normalized("https://app.example"), "https://app.example");
  EXPECT_EQ(normalized("HTTPS://App.EXAMPLE"), "https://app.example");
  EXPECT_EQ(normalized("https://app.example:443"), "https://app.example");
  EXPECT_EQ(normalized("http://app.example:80"), "http://app.example");
  EXPECT_EQ(normalized("http://app.example:443"), "http://app.example:443");
  EXPECT_EQ(normalized("http://localhost:08080"), "http://localhost:8080");
  EXPECT_EQ(normalized("http://[::1]:3000"), "http://[::1]:3000");
  EXPECT_EQ(normalized("http://[0:0:0:0:0:0:0:1]"), "http://[::1]");
  EXPECT_EQ(normalized("http://[::FFFF:7f00:1]:80"), normalized("http://[::ffff:7f00:1]"));
  EXPECT_EQ(normalized("chrome-extension://abcdef"), "chrome-extension://abcdef");
  EXPECT_EQ(normalized("null"), "null");
}

TEST(NormalizeOrigin, UserValuesMayEndInASlashHeadersMayNot) {
  EXPECT_EQ(normalized("https://app.example/", true), "https://app.example");
  EXPECT_EQ(normalized("https://app.example/"), "error: an origin has no path, query or fragment (scheme://host[:port])");
}

TEST(NormalizeOrigin, RefusesWhatIsNotAnOrigin) {
  for (const char* bad : {"", "app.example", "://app.example", "1http://a", "https://", "https://a/b",
                          "https://a?x", "https://a#x", "https://u:p@a", "https://a:", "https://a:x",
                          "https://a:65536", "https://a:123456", "http://[::1", "http://[zz::1]",
                          "http://[::1]x", "http://[::1]:", "https://a b", "https://a\r\nX: y"}) {
    std::string out;
    std::string error;
    EXPECT_FALSE(normalize_origin(bad, true, out, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
  std::string out;
  std::string error;
  EXPECT_FALSE(normalize_origin("https://" + std::string(2000, 'a'), false, out, error));
}

TEST(IsLoopbackOrigin, LocalhostAddressesOverHttpAndHttps) {
  for (const char* yes : {"http://localhost", "https://localhost:8443", "http://127.0.0.1:9",
                          "https://127.0.0.1", "http://[::1]", "https://[::1]:1"}) {
    EXPECT_TRUE(is_loopback_origin(yes)) << yes;
  }
  for (const char* no : {"http://localhost.evil.example", "http://evil.example", "ws://localhost",
                         "file://localhost", "null", "http://127.0.0.2", "http://[::2]",
                         "https://localhostx"}) {
    EXPECT_FALSE(is_loopback_origin(no)) << no;
  }
}

TEST(AccessPolicy, DefaultAcceptsNoOriginAndLoopbackOrigins) {
  const AccessPolicy policy;
  EXPECT_FALSE(policy.check(request_with({})));
  EXPECT_FALSE(policy.check(from_origin("http://localhost:5173")));
  EXPECT_FALSE(policy.check(from_origin("HTTP://LOCALHOST:5173")));
  EXPECT_FALSE(policy.check(from_origin("https://127.0.0.1")));
  EXPECT_FALSE(policy.check(from_origin("http://[::1]:8080")));
}

TEST(AccessPolicy, DefaultRefusesOtherOriginsWithAnActionableBody) {
  const AccessPolicy policy;
  const auto refused = policy.check(from_origin("https://Evil.Example:443"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(refused->reason, "Forbidden");
  EXPECT_NE(refused->body.find("origin https://evil.example is not allowed"), std::string::npos) << refused->body;
  EXPECT_NE(refused->body.find("start the server with --allow-origin https://evil.example"), std::string::npos)
      << refused->body;
  // An opaque origin (a sandboxed frame on any site, a file: page) is not a local page.
  EXPECT_TRUE(policy.check(from_origin("null")));
  EXPECT_TRUE(policy.check(from_origin("http://localhost.evil.example")));
}

TEST(AccessPolicy, MalformedOriginIsRefusedWithoutEchoingIt) {
  const AccessPolicy policy;
  const auto refused = policy.check(from_origin("http://localhost/<script>"));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_NE(refused->body.find("malformed Origin header"), std::string::npos);
  EXPECT_EQ(refused->body.find("<script>"), std::string::npos);
}

TEST(AccessPolicy, AllowListReplacesTheDefault) {
  AccessPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.allow_origin("https://App.Example:443/", error)) << error;
  ASSERT_TRUE(policy.allow_origin("http://localhost:3000", error)) << error;
  EXPECT_FALSE(policy.check(from_origin("https://app.example")));
  EXPECT_FALSE(policy.check(from_origin("http://localhost:3000")));
  const auto other_port = policy.check(from_origin("http://localhost:3001"));
  ASSERT_TRUE(other_port);
  EXPECT_EQ(other_port->status, 403);
  EXPECT_NE(other_port->body.find("--allow-origin http://localhost:3001"), std::string::npos);
  EXPECT_TRUE(policy.check(from_origin("http://app.example")));  // another scheme: another origin
  // With a list, even a request without Origin must come from a listed page.
  const auto no_origin = policy.check(request_with({}));
  ASSERT_TRUE(no_origin);
  EXPECT_EQ(no_origin->status, 403);
  EXPECT_NE(no_origin->body.find("no Origin header"), std::string::npos);
}

TEST(AccessPolicy, AllowListMayNameTheOpaqueOrigin) {
  AccessPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.allow_origin("null", error));
  EXPECT_FALSE(policy.check(from_origin("null")));
  EXPECT_TRUE(policy.check(from_origin("http://localhost")));
}

TEST(AccessPolicy, StarAllowsEveryOriginAndNone) {
  AccessPolicy policy;
  std::string error;
  ASSERT_TRUE(policy.allow_origin("*", error));
  EXPECT_FALSE(policy.check(from_origin("https://anything.example")));
  EXPECT_FALSE(policy.check(from_origin("not even an origin")));
  EXPECT_FALSE(policy.check(request_with({})));
}

TEST(AccessPolicy, AllowOriginRefusesNonOrigins) {
  AccessPolicy policy;
  std::string error;
  EXPECT_FALSE(policy.allow_origin("app.example", error));
  EXPECT_NE(error.find("scheme://host[:port]"), std::string::npos) << error;
  EXPECT_FALSE(policy.allow_origin("https://app.example/path", error));
  // A refused value leaves the default in force.
  EXPECT_FALSE(policy.check(from_origin("http://localhost")));
}

TEST(AccessPolicy, TokenInAuthorizationHeader) {
  AccessPolicy policy;
  policy.require_token("s3cret");
  EXPECT_TRUE(policy.token_required());
  EXPECT_FALSE(policy.check(request_with({{"Authorization", "Bearer s3cret"}})));
  EXPECT_FALSE(policy.check(request_with({{"authorization", "bearer   s3cret"}})));
  const auto wrong = policy.check(request_with({{"Authorization", "Bearer s3cre"}}));
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_EQ(wrong->reason, "Unauthorized");
  EXPECT_EQ(www_authenticate(*wrong), "Bearer error=\"invalid_token\"");
  EXPECT_NE(wrong->body.find("not valid"), std::string::npos);
  EXPECT_EQ(wrong->body.find("s3cre"), std::string::npos);  // never echoes what it was sent
  EXPECT_TRUE(policy.check(request_with({{"Authorization", "Bearer s3cretX"}})));
  EXPECT_TRUE(policy.check(request_with({{"Authorization", "Basic czNjcmV0"}})));
  EXPECT_TRUE(policy.check(request_with({{"Authorization", "Bearer"}})));
}

TEST(AccessPolicy, TokenInQuery) {
  AccessPolicy policy;
  policy.require_token("a b&c");
  EXPECT_FALSE(policy.check(request_with({}, "/?token=a%20b%26c")));
  EXPECT_FALSE(policy.check(request_with({}, "/chat?room=1&token=a+b%26c")));
  EXPECT_TRUE(policy.check(request_with({}, "/?token=a%20b")));
  EXPECT_TRUE(policy.check(request_with({}, "/?mytoken=a%20b%26c")));
  EXPECT_TRUE(policy.check(request_with({}, "/?token")));
  // A wrong header does not hide a right query token, nor the other way round.
  EXPECT_FALSE(policy.check(request_with({{"Authorization", "Bearer nope"}}, "/?token=a+b%26c")));
}

TEST(AccessPolicy, MissingTokenSaysHowToSendOne) {
  AccessPolicy policy;
  policy.require_token("s3cret");
  const auto missing = policy.check(request_with({}));
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  EXPECT_EQ(www_authenticate(*missing), "Bearer");
  EXPECT_NE(missing->body.find("Authorization: Bearer TOKEN"), std::string::npos) << missing->body;
  EXPECT_NE(missing->body.find("?token=TOKEN"), std::string::npos) << missing->body;
}

TEST(AccessPolicy, OriginIsCheckedBeforeTheToken) {
  AccessPolicy policy;
  policy.require_token("s3cret");
  const auto refused = policy.check(request_with({{"Origin", "https://evil.example"}}));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  const auto with_token =
      policy.check(request_with({{"Origin", "https://evil.example"}, {"Authorization", "Bearer s3cret"}}));
  ASSERT_TRUE(with_token);
  EXPECT_EQ(with_token->status, 403);
  EXPECT_FALSE(policy.check(request_with({{"Origin", "http://localhost"}, {"Authorization", "Bearer s3cret"}})));
}

TEST(AccessPolicy, EmptyTokenRequiresNothing) {
  AccessPolicy policy;
  policy.require_token("x");
  policy.require_token("");
  EXPECT_FALSE(policy.token_required());
  EXPECT_FALSE(policy.check(request_with({})));
}

TEST(AccessPolicy, RejectionRendersAsAnHttpAnswer) {
  AccessPolicy policy;
  policy.require_token("t");
  const std::string wire = ws::make_rejection_response(*policy.check(request_with({})));
  EXPECT_EQ(wire.rfind("HTTP/1.1 401 Unauthorized\r\n", 0), 0U) << wire;
  EXPECT_NE(wire.find("WWW-Authenticate: Bearer\r\n"), std::string::npos) << wire;
}

}  // namespace
}  // namespace wstool
