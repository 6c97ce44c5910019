// The versions of wstool and of the libraries it is built on, for `--version`. Kept in lib/ so
// the third-party headers that carry those versions stay out of tools/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wstool {

struct ComponentVersion {
  std::string name;     // as users know it: "Asio", "OpenSSL", ...
  std::string version;  // dotted, e.g. "1.22.1"
};

// wstool's own version (the project version CMake passes in).
std::string_view wstool_version();

// Every third-party library wstool uses, in a fixed order. Shared libraries (OpenSSL, zlib,
// PCRE2) report the version loaded at run time, header-only ones the version compiled in.
std::vector<ComponentVersion> library_versions();

}  // namespace wstool
