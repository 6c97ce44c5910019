// A throwaway TLS certificate made at start (serve --tls-self-signed): an EC P-256 key and a
// self-signed X.509v3 certificate for the loopback names, as PEM for ServerConfig::tls_*_pem.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace wstool {

struct SelfSignedOptions {
  std::string common_name = "wstool self-signed";
  // Subject Alternative Names: what clients verify the server's name against.
  std::vector<std::string> dns_names = {"localhost"};
  std::vector<std::string> ip_addresses = {"127.0.0.1", "::1"};
  // Valid from `backdate` ago (clocks drift) until `lifetime` from now.
  std::chrono::seconds backdate = std::chrono::hours(1);
  std::chrono::seconds lifetime = std::chrono::hours(24 * 30);
};

struct SelfSignedCertificate {
  std::string cert_pem;  // "-----BEGIN CERTIFICATE-----..."
  std::string key_pem;   // PKCS#8, unencrypted: it lives only as long as the process
  // SHA-256 of the DER certificate as uppercase hex pairs joined by ':' (what
  // `openssl x509 -noout -fingerprint -sha256` and browsers' certificate viewers show), for the
  // log line a user compares before trusting the certificate.
  std::string sha256_fingerprint;
};

// Generates a fresh key and certificate (random 128-bit serial; basicConstraints CA:FALSE,
// keyUsage digitalSignature, extendedKeyUsage serverAuth). False with a reason when OpenSSL
// fails or an IP address in `options` does not parse.
bool generate_self_signed(const SelfSignedOptions& options, SelfSignedCertificate& out,
                          std::string& error);

}  // namespace wstool
