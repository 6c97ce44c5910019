// Collects the versions --version prints, from each library's own version macros or functions.
#include "lib/versions.h"

#include <CLI/Version.hpp>
#include <asio/version.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <websocketpp/version.hpp>
#include <zlib.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

namespace wstool {

namespace {

// ASIO_VERSION is XXYYZZ: major * 100000 + minor * 100 + patch.
std::string asio_version() {
  constexpr int kMajorScale = 100000;
  constexpr int kMinorScale = 100;
  constexpr int kMinorMod = 1000;
  return fmt::format("{}.{}.{}", ASIO_VERSION / kMajorScale, ASIO_VERSION / kMinorScale % kMinorMod,
                     ASIO_VERSION % kMinorScale);
}

// FMT_VERSION is major * 10000 + minor * 100 + patch.
std::string fmt_version() {
  constexpr int kMajorScale = 10000;
  constexpr int kMinorScale = 100;
  return fmt::format("{}.{}.{}", FMT_VERSION / kMajorScale, FMT_VERSION / kMinorScale % kMinorScale,
                     FMT_VERSION % kMinorScale);
}

std::string pcre2_version() {
  // PCRE2_CONFIG_VERSION yields e.g. "10.42 2022-12-11"; keep the number.
  constexpr std::size_t kBufferSize = 64;
  char buffer[kBufferSize] = {};
  if (pcre2_config(PCRE2_CONFIG_VERSION, buffer) < 0) {
    return fmt::format("{}.{}", PCRE2_MAJOR, PCRE2_MINOR);
  }
  std::string text(buffer);
  return text.substr(0, text.find(' '));
}

}  // namespace

std::string_view wstool_version() { return WSTOOL_VERSION; }

std::vector<ComponentVersion> library_versions() {
  return {
      {"Asio", asio_version()},
      {"websocketpp", fmt::format("{}.{}.{}", websocketpp::major_version,
                                  websocketpp::minor_version, websocketpp::patch_version)},
      {"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING)},
      {"zlib", zlibVersion()},
      {"fmt", fmt_version()},
      {"CLI11", CLI11_VERSION},
      {"nlohmann/json", fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR,
                                    NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH)},
      {"PCRE2", pcre2_version()},
  };
}

}  // namespace wstool
