// Self-signed certificate generation with OpenSSL 3's EVP and X509v3 APIs; every OpenSSL object
// is owned by a unique_ptr so an early failure leaks nothing.
#include "lib/self_signed.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <memory>
#include <utility>

namespace wstool {
namespace {

constexpr const char* kKeyType = "EC";
constexpr const char* kCurve = "P-256";
// RFC 5280 4.1.2.2: at most 20 octets, positive; 16 random bytes with the top bit cleared.
constexpr std::size_t kSerialBytes = 16;
constexpr unsigned char kSerialPositiveMask = 0x7F;
constexpr std::size_t kSha256Bytes = 32;

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
template <typename T, void (*Free)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Free>>;

using PkeyPtr = Owned<EVP_PKEY, EVP_PKEY_free>;
using X509Ptr = Owned<X509, X509_free>;
using BioPtr = Owned<BIO, BIO_free_all>;
using BignumPtr = Owned<BIGNUM, BN_free>;
using Asn1IntegerPtr = Owned<ASN1_INTEGER, ASN1_INTEGER_free>;
using ExtensionPtr = Owned<X509_EXTENSION, X509_EXTENSION_free>;
using GeneralNamesPtr = Owned<GENERAL_NAMES, GENERAL_NAMES_free>;
using GeneralNamePtr = Owned<GENERAL_NAME, GENERAL_NAME_free>;

// The reason OpenSSL left on its error queue (emptying it), after `what`.
bool fail(std::string& error, const std::string& what) {
  error = what;
  const unsigned long code = ERR_get_error();
  if (code != 0) {
    std::array<char, 256> text{};
    ERR_error_string_n(code, text.data(), text.size());
    error += ": ";
    error += text.data();
  }
  ERR_clear_error();
  return false;
}

bool add_extension(X509* cert, int nid, const char* value, std::string& error) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  const ExtensionPtr extension(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value));
  if (!extension || X509_add_ext(cert, extension.get(), -1) != 1) {
    return fail(error, std::string("cannot add the ") + OBJ_nid2sn(nid) + " extension");
  }
  return true;
}

bool add_subject_alt_names(X509* cert, const SelfSignedOptions& options, std::string& error) {
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) return fail(error, "out of memory");
  for (const std::string& dns : options.dns_names) {
    GeneralNamePtr name(GENERAL_NAME_new());
    ASN1_IA5STRING* text = ASN1_IA5STRING_new();
    if (!name || !text || ASN1_STRING_set(text, dns.data(), static_cast<int>(dns.size())) != 1) {
      ASN1_IA5STRING_free(text);
      return fail(error, "out of memory");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_DNS, text);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return fail(error, "out of memory");
    static_cast<void>(name.release());  // owned by `names` now
  }
  for (const std::string& ip : options.ip_addresses) {
    ASN1_OCTET_STRING* address = a2i_IPADDRESS(ip.c_str());
    if (address == nullptr) {
      ERR_clear_error();
      error = "'" + ip + "' is not an IP address";
      return false;
    }
    GeneralNamePtr name(GENERAL_NAME_new());
    if (!name) {
      ASN1_OCTET_STRING_free(address);
      return fail(error, "out of memory");
    }
    GENERAL_NAME_set0_value(name.get(), GEN_IPADD, address);
    if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) return fail(error, "out of memory");
    static_cast<void>(name.release());
  }
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return fail(error, "cannot add the subjectAltName extension");
  }
  return true;
}

bool set_random_serial(X509* cert, std::string& error) {
  std::array<unsigned char, kSerialBytes> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return fail(error, "cannot draw a random serial number");
  }
  bytes[0] &= kSerialPositiveMask;
  const BignumPtr number(BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr));
  const Asn1IntegerPtr serial(number ? BN_to_ASN1_INTEGER(number.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(cert, serial.get()) != 1) {
    return fail(error, "cannot set the serial number");
  }
  return true;
}

bool to_pem(BIO* bio, std::string& out) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return false;
  out.assign(data, static_cast<std::size_t>(size));
  return true;
}

std::string fingerprint(X509* cert) {
  std::array<unsigned char, kSha256Bytes> digest{};
  unsigned int size = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &size) != 1) return "";
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    if (i > 0) out += ':';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0F];
  }
  return out;
}

}  // namespace

bool generate_self_signed(const SelfSignedOptions& options, SelfSignedCertificate& out,
                          std::string& error) {
  ERR_clear_error();
  const PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, kKeyType, kCurve));
  if (!key) return fail(error, "cannot generate an EC P-256 key");

  const X509Ptr cert(X509_new());
  if (!cert) return fail(error, "out of memory");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) return fail(error, "cannot set the version");
  if (!set_random_serial(cert.get(), error)) return false;
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -static_cast<long>(options.backdate.count())) ==
          nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(options.lifetime.count())) ==
          nullptr) {
    return fail(error, "cannot set the validity period");
  }

  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* common_name = reinterpret_cast<const unsigned char*>(options.common_name.c_str());
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, common_name, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1) {
    return fail(error, "cannot set the subject name");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) return fail(error, "cannot set the public key");

  if (!add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE", error) ||
      !add_extension(cert.get(), NID_key_usage, "critical,digitalSignature", error) ||
      !add_extension(cert.get(), NID_ext_key_usage, "serverAuth", error) ||
      !add_extension(cert.get(), NID_subject_key_identifier, "hash", error) ||
      !add_subject_alt_names(cert.get(), options, error)) {
    return false;
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) <= 0) return fail(error, "cannot sign the certificate");

  const BioPtr cert_bio(BIO_new(BIO_s_mem()));
  const BioPtr key_bio(BIO_new(BIO_s_mem()));
  SelfSignedCertificate result;
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      !to_pem(cert_bio.get(), result.cert_pem) || !to_pem(key_bio.get(), result.key_pem)) {
    return fail(error, "cannot write the certificate and key as PEM");
  }
  result.sha256_fingerprint = fingerprint(cert.get());
  if (result.sha256_fingerprint.empty()) return fail(error, "cannot compute the fingerprint");
  out = std::move(result);
  return true;
}

}  // namespace wstool
