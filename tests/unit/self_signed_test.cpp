// Tests for the throwaway certificate: it parses back, names the loopback hosts, matches its key,
// has the promised validity, and a TLS client that trusts it completes a verified handshake.
#include "lib/self_signed.h"

#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <ctime>
#include <fstream>
#include <memory>
#include <string>
#include <thread>

#include "lib/engine.h"
#include "lib/logger.h"
#include "tests/support/run_process.h"

namespace wstool {
namespace {

struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct SslCtxFree {
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
struct SslFree {
  void operator()(SSL* p) const { SSL_free(p); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;
using SslPtr = std::unique_ptr<SSL, SslFree>;

X509Ptr parse_cert(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr cert(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return cert;
}

PkeyPtr parse_key(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return key;
}

SelfSignedCertificate generate(const SelfSignedOptions& options = {}) {
  SelfSignedCertificate out;
  std::string error;
  EXPECT_TRUE(generate_self_signed(options, out, error)) << error;
  return out;
}

// Seconds from now to `t` (negative: in the past).
long seconds_from_now(const ASN1_TIME* t) {
  int days = 0;
  int seconds = 0;
  EXPECT_EQ(ASN1_TIME_diff(&days, &seconds, nullptr, t), 1);
  return static_cast<long>(days) * 86400 + seconds;
}

TEST(SelfSigned, PemParsesBackAndKeyMatches) {
  const SelfSignedCertificate generated = generate();
  EXPECT_EQ(generated.cert_pem.rfind("-----BEGIN CERTIFICATE-----\n", 0), 0U);
  EXPECT_EQ(generated.key_pem.rfind("-----BEGIN PRIVATE KEY-----\n", 0), 0U);
  const X509Ptr cert = parse_cert(generated.cert_pem);
  const PkeyPtr key = parse_key(generated.key_pem);
  ASSERT_TRUE(cert);
  ASSERT_TRUE(key);
  EXPECT_EQ(X509_check_private_key(cert.get(), key.get()), 1);
  EXPECT_TRUE(EVP_PKEY_is_a(key.get(), "EC"));
  char group[64] = {};
  size_t group_size = 0;
  ASSERT_EQ(EVP_PKEY_get_utf8_string_param(key.get(), "group", group, sizeof group, &group_size), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_EQ(X509_get_version(cert.get()), X509_VERSION_3);
  // Self-signed: issuer is subject, and the signature verifies with its own key.
  EXPECT_EQ(X509_NAME_cmp(X509_get_subject_name(cert.get()), X509_get_issuer_name(cert.get())), 0);
  EXPECT_EQ(X509_verify(cert.get(), key.get()), 1);
}

TEST(SelfSigned, NamesTheLoopbackHosts) {
  const X509Ptr cert = parse_cert(generate().cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "::1", 0), 1);
  EXPECT_NE(X509_check_host(cert.get(), "example.com", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "127.0.0.2", 0), 1);
  // A server certificate: not a CA, for TLS servers.
  EXPECT_EQ(X509_check_ca(cert.get()), 0);
  EXPECT_EQ(X509_check_purpose(cert.get(), X509_PURPOSE_SSL_SERVER, 0), 1);
}

TEST(SelfSigned, ExtraNamesFromOptions) {
  SelfSignedOptions options;
  options.dns_names = {"localhost", "dev.internal"};
  options.ip_addresses = {"127.0.0.1", "10.1.2.3"};
  const X509Ptr cert = parse_cert(generate(options).cert_pem);
  ASSERT_TRUE(cert);
  EXPECT_EQ(X509_check_host(cert.get(), "dev.internal", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(cert.get(), "10.1.2.3", 0), 1);
  EXPECT_NE(X509_check_ip_asc(cert.get(), "::1", 0), 1);

  options.ip_addresses = {"not-an-ip"};
  SelfSignedCertificate out;
  std::string error;
  EXPECT_FALSE(generate_self_signed(options, out, error));
  EXPECT_EQ(error, "'not-an-ip' is not an IP address");
}

TEST(SelfSigned, ValidFromAnHourAgoForThirtyDays) {
  const X509Ptr cert = parse_cert(generate().cert_pem);
  ASSERT_TRUE(cert);
  const long before = seconds_from_now(X509_get0_notBefore(cert.get()));
  const long after = seconds_from_now(X509_get0_notAfter(cert.get()));
  constexpr long kSlack = 60;  // the test's own clock reading
  EXPECT_GE(before, -3600 - kSlack);
  EXPECT_LE(before, -3600 + kSlack);
  EXPECT_GE(after, 30L * 86400 - kSlack);
  EXPECT_LE(after, 30L * 86400 + kSlack);
}

TEST(SelfSigned, FreshKeySerialAndFingerprintEachTime) {
  const SelfSignedCertificate a = generate();
  const SelfSignedCertificate b = generate();
  EXPECT_NE(a.key_pem, b.key_pem);
  EXPECT_NE(a.sha256_fingerprint, b.sha256_fingerprint);
  const X509Ptr ca = parse_cert(a.cert_pem);
  const X509Ptr cb = parse_cert(b.cert_pem);
  ASSERT_TRUE(ca && cb);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(ca.get()), X509_get0_serialNumber(cb.get())), 0);
  // Positive, and not a short counter: at least 15 of the 16 random bytes survive.
  const ASN1_INTEGER* serial = X509_get0_serialNumber(ca.get());
  EXPECT_NE(serial->type, V_ASN1_NEG_INTEGER);
  EXPECT_GE(serial->length, 14);
}

TEST(SelfSigned, FingerprintIsSha256OfTheDer) {
  const SelfSignedCertificate generated = generate();
  const X509Ptr cert = parse_cert(generated.cert_pem);
  ASSERT_TRUE(cert);
  unsigned char* der = nullptr;
  const int der_size = i2d_X509(cert.get(), &der);
  ASSERT_GT(der_size, 0);
  unsigned char digest[32];
  unsigned int digest_size = 0;
  ASSERT_EQ(EVP_Digest(der, static_cast<size_t>(der_size), digest, &digest_size, EVP_sha256(), nullptr), 1);
  OPENSSL_free(der);
  std::string expected;
  char pair[4];
  for (unsigned int i = 0; i < digest_size; ++i) {
    std::snprintf(pair, sizeof pair, "%02X", digest[i]);
    if (i > 0) expected += ':';
    expected += pair;
  }
  EXPECT_EQ(generated.sha256_fingerprint, expected);
  EXPECT_EQ(generated.sha256_fingerprint.size(), 32U * 3 - 1);
}

// Runs a TLS handshake between a server using the `server` certificate and a client that trusts
// only `trusted` and checks `host` (a name, or an IP address with `is_ip`), over an in-memory BIO
// pair. Returns the client's verify result (X509_V_OK when the handshake completed verified), or
// -1 when the handshake failed for another reason.
long handshake(const SelfSignedCertificate& generated, const std::string& host, bool is_ip,
               const SelfSignedCertificate* trusted_instead = nullptr) {
  const SslCtxPtr server_ctx(SSL_CTX_new(TLS_server_method()));
  const SslCtxPtr client_ctx(SSL_CTX_new(TLS_client_method()));
  const X509Ptr cert = parse_cert(generated.cert_pem);
  const PkeyPtr key = parse_key(generated.key_pem);
  if (!server_ctx || !client_ctx || !cert || !key) return -2;
  if (SSL_CTX_use_certificate(server_ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(server_ctx.get(), key.get()) != 1) {
    return -2;
  }
  const X509Ptr trusted = trusted_instead ? parse_cert(trusted_instead->cert_pem) : nullptr;
  X509_STORE_add_cert(SSL_CTX_get_cert_store(client_ctx.get()), trusted ? trusted.get() : cert.get());
  SSL_CTX_set_verify(client_ctx.get(), SSL_VERIFY_PEER, nullptr);

  const SslPtr server(SSL_new(server_ctx.get()));
  const SslPtr client(SSL_new(client_ctx.get()));
  if (is_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(client.get()), host.c_str());
  } else {
    SSL_set1_host(client.get(), host.c_str());
  }
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server.get(), server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  constexpr int kMaxRounds = 20;  // a TLS 1.3 handshake needs 2-3
  bool client_done = false;
  bool server_done = false;
  for (int round = 0; round < kMaxRounds && !(client_done && server_done); ++round) {
    if (!client_done) {
      const int r = SSL_do_handshake(client.get());
      if (r == 1) client_done = true;
      else if (SSL_get_error(client.get(), r) != SSL_ERROR_WANT_READ) break;
    }
    if (!server_done) {
      const int r = SSL_do_handshake(server.get());
      if (r == 1) server_done = true;
      else if (SSL_get_error(server.get(), r) != SSL_ERROR_WANT_READ) break;
    }
  }
  ERR_clear_error();
  const long verified = SSL_get_verify_result(client.get());
  if (!client_done && verified == X509_V_OK) return -1;
  return verified;
}

TEST(SelfSigned, TlsClientTrustingItVerifiesTheServer) {
  const SelfSignedCertificate generated = generate();
  EXPECT_EQ(handshake(generated, "localhost", false), X509_V_OK);
  EXPECT_EQ(handshake(generated, "127.0.0.1", true), X509_V_OK);
  EXPECT_EQ(handshake(generated, "::1", true), X509_V_OK);
  // The checks are real: another name fails verification.
  EXPECT_EQ(handshake(generated, "example.com", false), X509_V_ERR_HOSTNAME_MISMATCH);
  // And a client that trusts another self-signed certificate does not trust this one.
  const SelfSignedCertificate other = generate();
  EXPECT_EQ(handshake(generated, "localhost", false, &other), X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT);
}

// The engine end to end: a wss:// server given the generated PEM, a client that trusts only the
// generated certificate (as a user would after comparing the fingerprint) connects on loopback.
class OpenThenClose : public ws::ConnectionHandler {
 public:
  void on_open(ws::Connection& conn) override { conn.close(ws::close_code::kNormal, "done"); }
  void on_message(ws::Connection& /*conn*/, std::uint8_t /*opcode*/, const std::uint8_t* /*data*/,
                  std::size_t /*size*/) override {}
};

ws::ClientResult connect_trusting(std::uint16_t port, const std::string& host, const std::string& ca_pem) {
  test::TempDir dir;
  const std::string ca_file = dir.path() + "/ca.pem";
  std::ofstream(ca_file) << ca_pem;
  ws::ClientConfig config;
  config.url = "wss://" + host + ":" + std::to_string(port) + "/";
  config.ca_file = ca_file;
  config.connect_timeout = std::chrono::milliseconds(5000);
  OpenThenClose handler;
  NullLogger logger;
  ws::Client client(config, handler, logger);
  return client.run();
}

TEST(SelfSigned, EngineServesWssWithItAndAClientTrustingItConnects) {
  const SelfSignedCertificate generated = generate();
  ws::ServerConfig config;
  config.port = 0;
  config.tls_cert_pem = generated.cert_pem;
  config.tls_key_pem = generated.key_pem;
  OpenThenClose handler;
  NullLogger logger;
  ws::Server server(config, handler, logger);
  const Error listened = server.listen();
  ASSERT_FALSE(listened) << listened.message;
  ASSERT_TRUE(server.tls());
  std::thread loop([&] { server.run(); });

  const ws::ClientResult by_ip = connect_trusting(server.port(), "127.0.0.1", generated.cert_pem);
  EXPECT_FALSE(by_ip.error) << by_ip.error.message;
  EXPECT_TRUE(by_ip.opened);
  // Another throwaway certificate is no proof of this server's identity.
  const ws::ClientResult distrusted = connect_trusting(server.port(), "127.0.0.1", generate().cert_pem);
  EXPECT_EQ(distrusted.error.code, Errc::kTlsFailure) << distrusted.error.message;
  EXPECT_FALSE(distrusted.opened);

  server.shutdown(ws::close_code::kGoingAway, std::chrono::milliseconds(200));
  loop.join();
}

}  // namespace
}  // namespace wstool
