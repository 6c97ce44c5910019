// Tests for secret redaction in headers and URLs.
#include "lib/redact.h"

#include <gtest/gtest.h>

namespace wstool {
namespace {

TEST(Redact, SecretHeaders) {
  for (const char* name : {"Authorization", "proxy-authorization", "COOKIE", "Set-Cookie"}) {
    EXPECT_TRUE(is_secret_header(name)) << name;
    EXPECT_EQ(redact_header_value(name, "Bearer abc"), "[redacted]") << name;
  }
  EXPECT_FALSE(is_secret_header("Origin"));
  EXPECT_EQ(redact_header_value("Origin", "http://x"), "http://x");
}

TEST(Redact, HeaderList) {
  const ws::HttpHeaders in = {{"Host", "a"}, {"authorization", "Basic dTpw"}, {"Cookie", "s=1"}};
  const ws::HttpHeaders out = redact_headers(in);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].value, "a");
  EXPECT_EQ(out[1].value, "[redacted]");
  EXPECT_EQ(out[2].value, "[redacted]");
}

TEST(Redact, UrlDiagnosticPutsTheRedactedUrlInFrontOnce) {
  const std::string url = "ws://u:pw@h:1/?token=abc";
  EXPECT_EQ(url_diagnostic(url, "cannot connect: refused"), "ws://[redacted]@h:1/?token=[redacted]: cannot connect: refused");
  // Engine messages that already start with the URL as given are not prefixed twice, and the
  // secret in their own copy is redacted too.
  EXPECT_EQ(url_diagnostic(url, url + ": not connecting: shutting down"),
            "ws://[redacted]@h:1/?token=[redacted]: not connecting: shutting down");
  EXPECT_EQ(url_diagnostic("ws://h/", "ws://h/: gone"), "ws://h/: gone");
}

TEST(Redact, UrlUserinfoAndTokens) {
  EXPECT_EQ(redact_url("wss://alice:s3cret@example.com:8443/p"),
            "wss://[redacted]@example.com:8443/p");
  EXPECT_EQ(redact_url("ws://h/chat?room=1&token=abc&x=2"), "ws://h/chat?room=1&token=[redacted]&x=2");
  EXPECT_EQ(redact_url("ws://h/?TOKEN=abc"), "ws://h/?TOKEN=[redacted]");
  EXPECT_EQ(redact_url("ws://h/?access_token=abc#frag"), "ws://h/?access_token=[redacted]#frag");
  EXPECT_EQ(redact_url("ws://u@h?token="), "ws://[redacted]@h?token=[redacted]");
  // Not secrets: a parameter merely ending in "token", an '@' in the path.
  EXPECT_EQ(redact_url("ws://h/?mytoken=1"), "ws://h/?mytoken=1");
  EXPECT_EQ(redact_url("ws://h/a@b"), "ws://h/a@b");
  EXPECT_EQ(redact_url("ws://127.0.0.1:9/"), "ws://127.0.0.1:9/");
}

}  // namespace
}  // namespace wstool
