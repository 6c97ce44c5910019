// Tests for the shared client options: implied request headers and proxy selection.
#include "lib/client_options.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace wstool {
namespace {

struct FakeEnv {
  std::map<std::string, std::string> vars;
  EnvGetter getter() const {
    return [this](const char* name) -> const char* {
      const auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

ws::WsUrl url(const std::string& text) {
  ws::WsUrl u;
  std::string error;
  EXPECT_TRUE(ws::parse_ws_url(text, u, error)) << error;
  return u;
}

TEST(ClientOptions, Defaults) {
  const ClientOptions o;
  EXPECT_EQ(o.connect_timeout, std::chrono::seconds(10));
  EXPECT_TRUE(o.compress);
  EXPECT_FALSE(o.insecure);
  EXPECT_TRUE(extra_request_headers(o).empty());
}

TEST(ExtraRequestHeaders, OriginBearerAndUserHeadersInOrder) {
  ClientOptions o;
  o.origin = "http://example.com";
  o.bearer_token = "tok";
  o.basic_auth = "ignored:when-bearer";
  o.headers = {{"X-A", "1"}, {"X-B", "2"}};
  const ws::HttpHeaders h = extra_request_headers(o);
  ASSERT_EQ(h.size(), 4U);
  EXPECT_EQ(h[0].name, "Origin");
  EXPECT_EQ(h[1].value, "Bearer tok");
  EXPECT_EQ(h[2].name, "X-A");
  EXPECT_EQ(h[3].name, "X-B");
}

TEST(ExtraRequestHeaders, BasicAuthIsBase64) {
  ClientOptions o;
  o.basic_auth = "Aladdin:open sesame";  // RFC 7617's example
  EXPECT_EQ(ws::header_value(extra_request_headers(o), "Authorization"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
}

TEST(ExtraRequestHeaders, UserHeaderReplacesGeneratedOne) {
  ClientOptions o;
  o.origin = "http://a";
  o.headers = {{"origin", "http://b"}};
  const ws::HttpHeaders h = extra_request_headers(o);
  ASSERT_EQ(h.size(), 1U);
  EXPECT_EQ(h[0].value, "http://b");
}

TEST(ParseHeaderArgument, NameValueTrimmed) {
  ws::HttpHeader h;
  std::string error;
  ASSERT_TRUE(parse_header_argument("X-Trace:  abc def ", h, error)) << error;
  EXPECT_EQ(h.name, "X-Trace");
  EXPECT_EQ(h.value, "abc def");
  ASSERT_TRUE(parse_header_argument("X-Empty:", h, error)) << error;
  EXPECT_EQ(h.value, "");
  ASSERT_TRUE(parse_header_argument("X-Url: http://a:1/", h, error)) << error;
  EXPECT_EQ(h.value, "http://a:1/");
}

TEST(ParseHeaderArgument, Rejects) {
  ws::HttpHeader h;
  for (const char* bad : {"NoColon", ": v", "Bad Name: v", "X: a\r\nSet-Cookie: b", "X: a\nb"}) {
    std::string error;
    EXPECT_FALSE(parse_header_argument(bad, h, error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(EffectiveProxy, ExplicitProxyAlwaysWins) {
  ClientOptions o;
  o.proxy = "http://proxy:3128";
  FakeEnv env;
  EXPECT_EQ(effective_proxy(o, url("ws://127.0.0.1:9/"), env.getter()), "http://proxy:3128");
  EXPECT_EQ(effective_proxy(o, url("wss://example.com/"), env.getter()), "http://proxy:3128");
}

TEST(EffectiveProxy, SchemeSpecificEnvironment) {
  const ClientOptions o;
  FakeEnv env{{{"http_proxy", "http://p1:1"}, {"https_proxy", "http://p2:2"}}};
  EXPECT_EQ(effective_proxy(o, url("ws://example.com/"), env.getter()), "http://p1:1");
  EXPECT_EQ(effective_proxy(o, url("wss://example.com/"), env.getter()), "http://p2:2");
  FakeEnv upper{{{"HTTPS_PROXY", "http://p3:3"}, {"HTTP_PROXY", "http://evil:1"}}};
  EXPECT_EQ(effective_proxy(o, url("wss://example.com/"), upper.getter()), "http://p3:3");
  // Uppercase HTTP_PROXY is ignored (httpoxy).
  EXPECT_EQ(effective_proxy(o, url("ws://example.com/"), upper.getter()), "");
  FakeEnv all{{{"ALL_PROXY", "http://p4:4"}}};
  EXPECT_EQ(effective_proxy(o, url("ws://example.com/"), all.getter()), "http://p4:4");
  EXPECT_EQ(effective_proxy(o, url("ws://example.com/"), FakeEnv{}.getter()), "");
}

TEST(EffectiveProxy, LoopbackAlwaysDirect) {
  const ClientOptions o;
  FakeEnv env{{{"http_proxy", "http://p:1"}, {"https_proxy", "http://p:1"}}};
  for (const char* u : {"ws://127.0.0.1:9/", "ws://127.1.2.3/", "wss://localhost/",
                        "ws://[::1]:9/", "ws://api.localhost/", "ws://[::ffff:127.0.0.1]/"}) {
    EXPECT_EQ(effective_proxy(o, url(u), env.getter()), "") << u;
  }
  EXPECT_EQ(effective_proxy(o, url("ws://128.0.0.1/"), env.getter()), "http://p:1");
}

TEST(EffectiveProxy, NoProxyList) {
  const ClientOptions o;
  FakeEnv env{{{"http_proxy", "http://p:1"},
               {"no_proxy", "internal.example, .corp.example,10.0.0.5, [fd00::1], other:8080"}}};
  const auto proxy_for = [&](const char* u) { return effective_proxy(o, url(u), env.getter()); };
  EXPECT_EQ(proxy_for("ws://internal.example/"), "");
  EXPECT_EQ(proxy_for("ws://a.internal.example/"), "");
  EXPECT_EQ(proxy_for("ws://corp.example/"), "");
  EXPECT_EQ(proxy_for("ws://x.corp.example/"), "");
  EXPECT_EQ(proxy_for("ws://10.0.0.5/"), "");
  EXPECT_EQ(proxy_for("ws://[fd00::1]/"), "");
  EXPECT_EQ(proxy_for("ws://other/"), "");
  EXPECT_EQ(proxy_for("ws://notinternal.example/"), "http://p:1");
  EXPECT_EQ(proxy_for("ws://example.com/"), "http://p:1");
  FakeEnv star{{{"http_proxy", "http://p:1"}, {"NO_PROXY", "*"}}};
  EXPECT_EQ(effective_proxy(o, url("ws://example.com/"), star.getter()), "");
}

TEST(IsEncryptedPemKey, RecognisesPkcs8AndTraditionalEncryption) {
  EXPECT_TRUE(is_encrypted_pem_key("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIF...\n-----END ENCRYPTED PRIVATE KEY-----\n"));
  EXPECT_TRUE(is_encrypted_pem_key("-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n"));
  EXPECT_FALSE(is_encrypted_pem_key("-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"));
  EXPECT_FALSE(is_encrypted_pem_key("-----BEGIN RSA PRIVATE KEY-----\nMIIE...\n"));
  EXPECT_FALSE(is_encrypted_pem_key(""));
}

}  // namespace
}  // namespace wstool
