// Tests for the opening handshake: parsing, the RFC 6455 4.2.1 checks, accept keys, answers,
// and the client's checks of the server's answer.
#include "lib/handshake.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

namespace wstool::ws {
namespace {

constexpr const char* kSampleKey = "dGhlIHNhbXBsZSBub25jZQ==";

std::string valid_request_text(const std::string& extra_headers = "") {
  return std::string("GET /chat?room=1 HTTP/1.1\r\n"
                     "Host: server.example.com\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: ") +
         kSampleKey +
         "\r\n"
         "Sec-WebSocket-Version: 13\r\n" +
         extra_headers + "\r\n";
}

RequestParser parse_all(const std::string& text, std::size_t max = kDefaultMaxHeaderBytes) {
  RequestParser p(max);
  p.consume(text.data(), text.size());
  return p;
}

UpgradeRequest valid_request() {
  RequestParser p = parse_all(valid_request_text());
  EXPECT_EQ(p.state(), ParseState::kComplete) << p.error();
  return p.request();
}

bool same_name(const std::string& a, const std::string& b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

void set_header(UpgradeRequest& r, const std::string& name, const std::string& value) {
  for (auto& h : r.headers) {
    if (same_name(h.name, name)) {
      h.value = value;
      return;
    }
  }
  r.headers.push_back({name, value});
}

void remove_header(UpgradeRequest& r, const std::string& name) {
  r.headers.erase(std::remove_if(r.headers.begin(), r.headers.end(),
                                 [&](const HttpHeader& h) { return same_name(h.name, name); }),
                  r.headers.end());
}

TEST(AcceptKey, MatchesRfc6455Sample) {
  EXPECT_EQ(accept_key_for(kSampleKey), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(HeaderValue, CaseInsensitiveAndJoinsRepeats) {
  HttpHeaders h = {{"X-A", "1"}, {"x-a", "2"}, {"Other", "z"}};
  EXPECT_EQ(header_value(h, "X-A"), "1, 2");
  EXPECT_EQ(header_value(h, "OTHER"), "z");
  EXPECT_EQ(header_value(h, "missing"), "");
}

TEST(ListHasToken, TrimsAndIgnoresCase) {
  EXPECT_TRUE(list_has_token("keep-alive, Upgrade", "upgrade"));
  EXPECT_TRUE(list_has_token("  UPGRADE  ", "upgrade"));
  EXPECT_FALSE(list_has_token("upgraded", "upgrade"));
  EXPECT_FALSE(list_has_token("", "upgrade"));
}

TEST(RequestParser, ParsesValidRequestInOneChunk) {
  const std::string text = valid_request_text();
  RequestParser p;
  EXPECT_EQ(p.consume(text.data(), text.size()), text.size());
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_EQ(p.request().method, "GET");
  EXPECT_EQ(p.request().target, "/chat?room=1");
  EXPECT_EQ(p.request().version, "HTTP/1.1");
  EXPECT_EQ(header_value(p.request().headers, "host"), "server.example.com");
  EXPECT_EQ(header_value(p.request().headers, "sec-websocket-key"), kSampleKey);
}

TEST(RequestParser, ParsesByteByByte) {
  const std::string text = valid_request_text();
  RequestParser p;
  for (std::size_t i = 0; i < text.size(); ++i) {
    ASSERT_EQ(p.state(), ParseState::kIncomplete) << "completed early at byte " << i;
    ASSERT_EQ(p.consume(&text[i], 1), 1U);
  }
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_FALSE(check_upgrade_request(p.request()).has_value());
}

TEST(RequestParser, LeavesPipelinedBytesUnconsumed) {
  const std::string head = valid_request_text("Content-Length: 5\r\n");
  const std::string frames = "\x81\x85" "abcd" "hello";
  const std::string text = head + frames;
  RequestParser p;
  EXPECT_EQ(p.consume(text.data(), text.size()), head.size());
  EXPECT_EQ(p.state(), ParseState::kComplete);
  // Once complete, nothing more is taken.
  EXPECT_EQ(p.consume(frames.data(), frames.size()), 0U);
}

TEST(RequestParser, TerminatorSplitAcrossChunks) {
  const std::string text = valid_request_text() + "XY";
  const std::size_t split = text.size() - 4;  // "\r\n" | "\r\nXY"
  RequestParser p;
  EXPECT_EQ(p.consume(text.data(), split), split);
  EXPECT_EQ(p.state(), ParseState::kIncomplete);
  EXPECT_EQ(p.consume(text.data() + split, text.size() - split), 2U);
  EXPECT_EQ(p.state(), ParseState::kComplete);
}

TEST(RequestParser, OversizedHeadIs431) {
  const std::string text = valid_request_text("X-Padding: " + std::string(300, 'a') + "\r\n");
  RequestParser p = parse_all(text, 256);
  EXPECT_EQ(p.state(), ParseState::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_NE(p.error().find("256"), std::string::npos) << p.error();
}

TEST(RequestParser, OversizedHeadFedByteByByteIs431AndStopsConsuming) {
  const std::string text = "GET / HTTP/1.1\r\nX: " + std::string(100, 'a');
  RequestParser p(64);
  std::size_t used = 0;
  for (char c : text) used += p.consume(&c, 1);
  EXPECT_EQ(p.state(), ParseState::kError);
  EXPECT_EQ(p.error_status(), 431);
  EXPECT_EQ(used, 64U);
}

TEST(RequestParser, HeadExactlyAtLimitIsAccepted) {
  const std::string text = valid_request_text();
  RequestParser p = parse_all(text, text.size());
  EXPECT_EQ(p.state(), ParseState::kComplete) << p.error();
}

struct MalformedCase {
  const char* name;
  std::string text;
};

TEST(RequestParser, MalformedHeadsAre400) {
  const MalformedCase cases[] = {
      {"no spaces in request line", "GARBAGE\r\nHost: a\r\n\r\n"},
      {"bad version", "GET / HTTP/one\r\nHost: a\r\n\r\n"},
      {"missing target", "GET  HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"bad method token", "G(T / HTTP/1.1\r\nHost: a\r\n\r\n"},
      {"header without colon", "GET / HTTP/1.1\r\nHost a\r\n\r\n"},
      {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n"},
      {"empty header name", "GET / HTTP/1.1\r\n: a\r\n\r\n"},
      {"bad header name", "GET / HTTP/1.1\r\nHo(st: a\r\n\r\n"},
      {"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\n b\r\n\r\n"},
      {"bare LF", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"},
      {"bare CR", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n"},
      {"NUL byte", std::string("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 30)},
  };
  for (const auto& c : cases) {
    RequestParser p = parse_all(c.text);
    EXPECT_EQ(p.state(), ParseState::kError) << c.name;
    EXPECT_EQ(p.error_status(), 400) << c.name;
    EXPECT_FALSE(p.error().empty()) << c.name;
  }
}

// A head that cannot be a request from its first byte is refused then, not after the handshake
// timeout: a TLS ClientHello (wss:// at a plain server) has no blank line to wait for.
TEST(RequestParser, AFirstByteThatCannotStartARequestIs400AtOnce) {
  RequestParser tls;
  tls.consume("\x16\x03\x01\x02\x00", 5);
  EXPECT_EQ(tls.state(), ParseState::kError);
  EXPECT_EQ(tls.error_status(), 400);
  EXPECT_NE(tls.error().find("TLS"), std::string::npos) << tls.error();
  for (const std::string& start : {std::string("\0", 1), std::string(" GET"), std::string("\r\nGET / HTTP/1.1")}) {
    RequestParser p;
    p.consume(start.data(), start.size());
    EXPECT_EQ(p.state(), ParseState::kError) << start;
    EXPECT_EQ(p.error_status(), 400) << start;
  }
  RequestParser partial;  // a method begun is still a request being read
  partial.consume("GE", 2);
  EXPECT_EQ(partial.state(), ParseState::kIncomplete);
}

TEST(CheckUpgradeRequest, AcceptsValidRequest) {
  EXPECT_FALSE(check_upgrade_request(valid_request()).has_value());
}

TEST(CheckUpgradeRequest, AcceptsTokenListsAnyCase) {
  UpgradeRequest r = valid_request();
  set_header(r, "Upgrade", "h2c, WebSocket");
  set_header(r, "Connection", "keep-alive, UPGRADE");
  r.version = "HTTP/2.0";
  EXPECT_FALSE(check_upgrade_request(r).has_value());
}

struct RejectionCase {
  const char* name;
  void (*mutate)(UpgradeRequest&);
  int status;
  const char* body_mentions;
};

TEST(CheckUpgradeRequest, EveryRejectionPathHasItsStatusAndReason) {
  const RejectionCase cases[] = {
      {"POST", [](UpgradeRequest& r) { r.method = "POST"; }, 400, "GET"},
      {"HTTP/1.0", [](UpgradeRequest& r) { r.version = "HTTP/1.0"; }, 400, "HTTP/1.1"},
      {"no Host", [](UpgradeRequest& r) { remove_header(r, "Host"); }, 400, "Host"},
      {"no Upgrade", [](UpgradeRequest& r) { remove_header(r, "Upgrade"); }, 400,
       "Upgrade: websocket"},
      {"Upgrade other", [](UpgradeRequest& r) { set_header(r, "Upgrade", "h2c"); }, 400,
       "Upgrade: websocket"},
      {"no Connection", [](UpgradeRequest& r) { remove_header(r, "Connection"); }, 400,
       "Connection: Upgrade"},
      {"Connection keep-alive",
       [](UpgradeRequest& r) { set_header(r, "Connection", "keep-alive"); }, 400,
       "Connection: Upgrade"},
      {"no key", [](UpgradeRequest& r) { remove_header(r, "Sec-WebSocket-Key"); }, 400,
       "Sec-WebSocket-Key"},
      {"short key", [](UpgradeRequest& r) { set_header(r, "Sec-WebSocket-Key", "c2hvcnQ="); },
       400, "16 bytes"},
      {"key not base64",
       [](UpgradeRequest& r) { set_header(r, "Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j!!=="); },
       400, "16 bytes"},
      {"two keys",
       [](UpgradeRequest& r) {
         r.headers.push_back({"Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAA=="});
       },
       400, "16 bytes"},
      {"bad subprotocol token",
       [](UpgradeRequest& r) { set_header(r, "Sec-WebSocket-Protocol", "chat, a b"); }, 400,
       "not a token"},
      {"no version", [](UpgradeRequest& r) { remove_header(r, "Sec-WebSocket-Version"); }, 426,
       "Sec-WebSocket-Version"},
      {"version 8", [](UpgradeRequest& r) { set_header(r, "Sec-WebSocket-Version", "8"); }, 426,
       "8"},
  };
  for (const auto& c : cases) {
    UpgradeRequest r = valid_request();
    c.mutate(r);
    const auto rejection = check_upgrade_request(r);
    ASSERT_TRUE(rejection.has_value()) << c.name;
    EXPECT_EQ(rejection->status, c.status) << c.name;
    EXPECT_FALSE(rejection->reason.empty()) << c.name;
    EXPECT_NE(rejection->body.find(c.body_mentions), std::string::npos)
        << c.name << ": " << rejection->body;
    if (c.status == 426) {
      EXPECT_EQ(header_value(rejection->headers, "Sec-WebSocket-Version"), "13") << c.name;
    }
  }
}

TEST(RequestedSubprotocols, ParsesTokenListAcrossHeaders) {
  UpgradeRequest r = valid_request();
  r.headers.push_back({"Sec-WebSocket-Protocol", "chat, superchat"});
  r.headers.push_back({"Sec-WebSocket-Protocol", " v2.json "});
  EXPECT_EQ(requested_subprotocols(r),
            (std::vector<std::string>{"chat", "superchat", "v2.json"}));
  EXPECT_TRUE(requested_subprotocols(valid_request()).empty());
}

TEST(MakeSwitchingResponse, ParsesBackAndPassesClientCheck) {
  const std::string text =
      make_switching_response(accept_key_for(kSampleKey), "chat", "permessage-deflate",
                              {{"X-Server", "wstool"}});
  ResponseParser p;
  EXPECT_EQ(p.consume(text.data(), text.size()), text.size());
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_EQ(p.response().status, 101);
  EXPECT_EQ(header_value(p.response().headers, "Sec-WebSocket-Extensions"),
            "permessage-deflate");
  EXPECT_EQ(header_value(p.response().headers, "X-Server"), "wstool");
  EXPECT_EQ(check_upgrade_response(p.response(), kSampleKey, {"superchat", "chat"}), "");
}

TEST(MakeSwitchingResponse, OmitsEmptyOptionalHeadersAndNeutralisesCrLf) {
  const std::string text = make_switching_response("x", "", "", {{"X-Evil", "a\r\nSet-Cookie: b"}});
  EXPECT_EQ(text.find("Sec-WebSocket-Protocol"), std::string::npos);
  EXPECT_EQ(text.find("Sec-WebSocket-Extensions"), std::string::npos);
  EXPECT_EQ(text.find("\r\nSet-Cookie"), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 4), "\r\n\r\n");
}

TEST(MakeRejectionResponse, HasLengthCloseAndBody) {
  UpgradeRequest r = valid_request();
  set_header(r, "Sec-WebSocket-Version", "7");
  const auto rejection = check_upgrade_request(r);
  ASSERT_TRUE(rejection.has_value());
  const std::string text = make_rejection_response(*rejection);
  EXPECT_EQ(text.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0U) << text;

  ResponseParser p(kDefaultMaxHeaderBytes, 1 << 16);
  EXPECT_EQ(p.consume(text.data(), text.size()), text.size());
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_EQ(p.response().status, 426);
  EXPECT_EQ(header_value(p.response().headers, "Connection"), "close");
  EXPECT_EQ(header_value(p.response().headers, "Sec-WebSocket-Version"), "13");
  EXPECT_EQ(header_value(p.response().headers, "Content-Length"),
            std::to_string(rejection->body.size()));
  EXPECT_EQ(p.response().body, rejection->body);
}

TEST(ClientKey, Is16RandomBytesBase64) {
  const std::string a = make_client_key();
  const std::string b = make_client_key();
  EXPECT_EQ(a.size(), 24U);
  EXPECT_EQ(a.substr(22), "==");
  EXPECT_NE(a, b);
  UpgradeRequest r = valid_request();
  set_header(r, "Sec-WebSocket-Key", a);
  EXPECT_FALSE(check_upgrade_request(r).has_value());
}

TEST(MakeUpgradeRequest, RoundTripsThroughServerChecks) {
  const std::string key = make_client_key();
  const std::string text = make_upgrade_request("example.com:8080", "/ws?x=1", key,
                                                {"chat", "superchat"},
                                                "permessage-deflate; client_max_window_bits",
                                                {{"Origin", "http://example.com"}});
  RequestParser p;
  EXPECT_EQ(p.consume(text.data(), text.size()), text.size());
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_FALSE(check_upgrade_request(p.request()).has_value());
  EXPECT_EQ(p.request().target, "/ws?x=1");
  EXPECT_EQ(header_value(p.request().headers, "Host"), "example.com:8080");
  EXPECT_EQ(header_value(p.request().headers, "Origin"), "http://example.com");
  EXPECT_EQ(requested_subprotocols(p.request()),
            (std::vector<std::string>{"chat", "superchat"}));
}

TEST(MakeUpgradeRequest, ExtraHeaderReplacesGeneratedOne) {
  const std::string text =
      make_upgrade_request("a", "/", kSampleKey, {}, "", {{"sec-websocket-version", "8"}});
  EXPECT_EQ(text.find("Sec-WebSocket-Version: 13"), std::string::npos) << text;
  RequestParser p;
  p.consume(text.data(), text.size());
  ASSERT_EQ(p.state(), ParseState::kComplete);
  EXPECT_EQ(header_value(p.request().headers, "Sec-WebSocket-Version"), "8");
}

std::string switching(const std::string& extra = "") {
  return "HTTP/1.1 101 Switching Protocols\r\n"
         "Upgrade: websocket\r\n"
         "Connection: Upgrade\r\n"
         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" +
         extra + "\r\n";
}

UpgradeResponse parse_response(const std::string& text) {
  ResponseParser p;
  p.consume(text.data(), text.size());
  EXPECT_EQ(p.state(), ParseState::kComplete) << p.error();
  return p.response();
}

TEST(ResponseParser, ByteByByteAndLeavesServerFramesUnconsumed) {
  const std::string head = switching();
  const std::string text = head + "\x81\x02hi";
  ResponseParser p;
  std::size_t used = 0;
  for (std::size_t i = 0; i < text.size(); ++i) used += p.consume(&text[i], 1);
  EXPECT_EQ(used, head.size());
  ASSERT_EQ(p.state(), ParseState::kComplete) << p.error();
  EXPECT_EQ(p.response().status, 101);
  EXPECT_EQ(p.response().reason, "Switching Protocols");
  EXPECT_TRUE(p.response().body.empty());
}

TEST(ResponseParser, KeepsBoundedBodyOfErrorAnswer) {
  const std::string text =
      "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n\r\n0123456789trailing";
  ResponseParser p(kDefaultMaxHeaderBytes, 4);
  EXPECT_EQ(p.consume(text.data(), text.size()), text.size() - 6 - 8);
  ASSERT_EQ(p.state(), ParseState::kComplete);
  EXPECT_EQ(p.response().body, "0123");
}

TEST(ResponseParser, BodyWithoutLengthEndsAtEndOfStream) {
  const std::string text = "HTTP/1.1 500 Internal Server Error\r\n\r\noops";
  ResponseParser p;
  p.consume(text.data(), text.size());
  EXPECT_EQ(p.state(), ParseState::kIncomplete);
  EXPECT_TRUE(p.head_complete());
  p.end_of_stream();
  ASSERT_EQ(p.state(), ParseState::kComplete);
  EXPECT_EQ(p.response().body, "oops");
}

TEST(ResponseParser, EndOfStreamMidHeadIsError) {
  const std::string text = "HTTP/1.1 101 Swi";
  ResponseParser p;
  p.consume(text.data(), text.size());
  p.end_of_stream();
  EXPECT_EQ(p.state(), ParseState::kError);
  EXPECT_FALSE(p.error().empty());
}

TEST(ResponseParser, StatusWithoutReasonPhrase) {
  const UpgradeResponse r = parse_response("HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(check_upgrade_response(r, kSampleKey, {}), "server answered 404 Not Found");
}

// Found by the fuzzer: websocketpp cast unlisted status codes into its enum (UB).
TEST(ResponseParser, UnlistedStatusCodeIsParsedNotUndefined) {
  const UpgradeResponse r = parse_response("HTTP/1.1 901 Odd\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(r.status, 901);
  EXPECT_EQ(check_upgrade_response(r, kSampleKey, {}), "server answered 901 Odd");
}

TEST(ResponseParser, MalformedAndOversized) {
  for (const std::string text : {"HTTP/1.1 1O1 x\r\n\r\n", "ICY 200 OK\r\n\r\n",
                                 "HTTP/1.1 1010 x\r\n\r\n", "HTTP/1.1 101 x\r\nBad\r\n\r\n"}) {
    ResponseParser p;
    p.consume(text.data(), text.size());
    EXPECT_EQ(p.state(), ParseState::kError) << text;
  }
  const std::string big = "HTTP/1.1 101 x\r\nX: " + std::string(200, 'a') + "\r\n\r\n";
  ResponseParser p(100);
  p.consume(big.data(), big.size());
  EXPECT_EQ(p.state(), ParseState::kError);
}

TEST(CheckUpgradeResponse, AcceptsRfcSample) {
  EXPECT_EQ(check_upgrade_response(parse_response(switching()), kSampleKey, {}), "");
}

TEST(CheckUpgradeResponse, ReportsEachProblem) {
  EXPECT_EQ(check_upgrade_response(
                parse_response("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"),
                kSampleKey, {}),
            "server answered 403 Forbidden");
  EXPECT_EQ(check_upgrade_response(parse_response(switching()), "AAAAAAAAAAAAAAAAAAAAAA==", {}),
            "bad Sec-WebSocket-Accept");
  EXPECT_NE(check_upgrade_response(
                parse_response("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                kSampleKey, {})
                .find("Upgrade: websocket"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response(
                parse_response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                kSampleKey, {})
                .find("Connection: Upgrade"),
            std::string::npos);
  EXPECT_NE(check_upgrade_response(
                parse_response("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\n\r\n"),
                kSampleKey, {})
                .find("Sec-WebSocket-Accept"),
            std::string::npos);
}

TEST(CheckUpgradeResponse, SubprotocolMustBeOneWeOffered) {
  const UpgradeResponse r = parse_response(switching("Sec-WebSocket-Protocol: chat\r\n"));
  EXPECT_EQ(check_upgrade_response(r, kSampleKey, {"superchat", "chat"}), "");
  EXPECT_NE(check_upgrade_response(r, kSampleKey, {"superchat"}), "");
  EXPECT_NE(check_upgrade_response(r, kSampleKey, {}), "");
  // The server may decline every offered subprotocol.
  EXPECT_EQ(check_upgrade_response(parse_response(switching()), kSampleKey, {"chat"}), "");
}


TEST(HttpResponse, FramesTheBodyAndClosesTheConnection) {
  HttpResponse response;
  response.status = 404;
  response.body = "no such page";
  response.headers = {{"Content-Length", "999"}, {"X-Served-By", "wstool\r\nInjected: yes"}};
  const std::string wire = make_http_response(response);
  EXPECT_EQ(wire.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << wire;
  EXPECT_NE(wire.find("Content-Type: text/plain; charset=utf-8\r\n"), std::string::npos);
  EXPECT_NE(wire.find("Content-Length: 12\r\n"), std::string::npos);
  EXPECT_EQ(wire.find("999"), std::string::npos);           // framing headers are ours
  EXPECT_EQ(wire.find("\r\nInjected"), std::string::npos);  // no header injection
  EXPECT_NE(wire.find("Connection: close\r\n"), std::string::npos);
  EXPECT_EQ(wire.substr(wire.size() - 12), "no such page");

  response.head_only = true;
  const std::string head = make_http_response(response);
  EXPECT_NE(head.find("Content-Length: 12\r\n"), std::string::npos);
  EXPECT_EQ(head.substr(head.size() - 4), "\r\n\r\n");
}

TEST(RequestTarget, SplitsPathAndQuery) {
  EXPECT_EQ(split_target("/rooms?id=a%20b").path, "/rooms");
  EXPECT_EQ(split_target("/rooms?id=a%20b").query, "id=a%20b");
  EXPECT_EQ(split_target("/").query, "");
  EXPECT_EQ(split_target("/x?y#frag").query, "y");
  EXPECT_EQ(split_target("/x#frag?no").path, "/x");
}

TEST(RequestTarget, QueryParametersArePercentDecoded) {
  const std::string query = "userId=al%69ce&empty=&flag&token=a+b%2Bc&bad=%zz%4&userId=second";
  EXPECT_EQ(query_parameter(query, "userId"), "alice");  // the first one wins
  EXPECT_EQ(query_parameter(query, "empty"), "");
  EXPECT_EQ(query_parameter(query, "flag"), "");
  EXPECT_EQ(query_parameter(query, "token"), "a b+c");
  EXPECT_EQ(query_parameter(query, "bad"), "%zz%4");  // malformed escapes kept as they are
  EXPECT_EQ(query_parameter(query, "missing"), std::nullopt);
  EXPECT_EQ(query_parameter("", "x"), std::nullopt);
  EXPECT_EQ(query_parameter("a%3Db=1", "a=b"), "1");
}

}  // namespace
}  // namespace wstool::ws
