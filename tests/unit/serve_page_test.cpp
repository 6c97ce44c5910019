// Tests for the built-in page's static properties: self-contained, a CSP whose hashes match the
// inline script and style, no HTML-parsing sinks, and the DOM ids tests rely on. (The browser
// test in tests/browser runs it.)
#include "lib/serve_page.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>

namespace wstool {
namespace {

std::string between(std::string_view text, std::string_view open, std::string_view close) {
  const std::size_t start = text.find(open);
  if (start == std::string_view::npos) return "";
  const std::size_t from = start + open.size();
  const std::size_t end = text.find(close, from);
  if (end == std::string_view::npos) return "";
  return std::string(text.substr(from, end - from));
}

std::string csp_hash(const std::string& text) {
  unsigned char digest[32];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha256(), nullptr);
  unsigned char encoded[64] = {};
  const int written = EVP_EncodeBlock(encoded, digest, static_cast<int>(size));
  return "'sha256-" + std::string(reinterpret_cast<const char*>(encoded), static_cast<std::size_t>(written)) + "'";
}

TEST(ServePage, IsOneHtmlDocumentBuiltOnce) {
  const std::string_view html = serve_page_html();
  EXPECT_EQ(html.rfind("<!doctype html>\n", 0), 0U);
  EXPECT_NE(html.find("</html>"), std::string_view::npos);
  EXPECT_EQ(html.data(), serve_page_html().data());
  EXPECT_EQ(kServePageContentType, "text/html; charset=utf-8");
}

TEST(ServePage, CspHashesMatchTheInlineScriptAndStyle) {
  const std::string_view html = serve_page_html();
  const std::string script = between(html, "<script>", "</script>");
  const std::string style = between(html, "<style>", "</style>");
  ASSERT_FALSE(script.empty());
  ASSERT_FALSE(style.empty());
  const std::string meta = between(html, "<meta http-equiv=\"Content-Security-Policy\" content=\"", "\">");
  EXPECT_NE(meta.find("script-src " + csp_hash(script) + ";"), std::string::npos) << meta;
  EXPECT_NE(meta.find("style-src " + csp_hash(style) + ";"), std::string::npos) << meta;
  EXPECT_NE(meta.find("default-src 'none'"), std::string::npos);
  EXPECT_EQ(meta.find("unsafe"), std::string::npos);
  // One script and one style element: nothing else could run or apply under the policy anyway.
  EXPECT_EQ(html.find("<script", html.find("<script") + 1), std::string_view::npos);
  EXPECT_EQ(html.find("<style", html.find("<style") + 1), std::string_view::npos);

  const std::string_view header = serve_page_content_security_policy();
  EXPECT_EQ(header, meta + "; frame-ancestors 'none'");
}

TEST(ServePage, LoadsNothingFromOutside) {
  const std::string_view html = serve_page_html();
  for (const char* sink : {" src=", "@import", "url(", "<iframe", "<object", "<embed", "<base"}) {
    EXPECT_EQ(html.find(sink), std::string_view::npos) << sink;
  }
  // The only <link> is the empty favicon, so the browser asks the server for nothing else.
  EXPECT_EQ(between(html, "<link", ">"), " rel=\"icon\" href=\"data:,\"");
  EXPECT_EQ(html.find("<link", html.find("<link") + 1), std::string_view::npos);
}

TEST(ServePage, ScriptNeverParsesMessageTextAsHtml) {
  const std::string script = between(serve_page_html(), "<script>", "</script>");
  for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                           "new Function", "setTimeout('", "srcdoc"}) {
    EXPECT_EQ(script.find(sink), std::string::npos) << sink;
  }
  EXPECT_NE(script.find("textContent"), std::string::npos);
}

TEST(ServePage, HasTheIdsTestsRead) {
  const std::string_view html = serve_page_html();
  for (const char* id : {"id=\"status\" data-state=\"idle\"", "id=\"identity\"", "id=\"rooms\"",
                         "id=\"messages\"", "id=\"log\"", "id=\"url\"", "id=\"room\"", "id=\"message\""}) {
    EXPECT_NE(html.find(id), std::string_view::npos) << id;
  }
}

TEST(ServePage, Headers) {
  const ws::HttpHeaders headers = serve_page_headers();
  EXPECT_EQ(ws::header_value(headers, "Content-Security-Policy"), serve_page_content_security_policy());
  EXPECT_EQ(ws::header_value(headers, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(ws::header_value(headers, "Referrer-Policy"), "no-referrer");
  EXPECT_EQ(ws::header_value(headers, "Cache-Control"), "no-store");
}

}  // namespace
}  // namespace wstool
