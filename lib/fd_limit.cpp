// RLIMIT_NOFILE raising.
#include "lib/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstring>

namespace wstool {
namespace {

// Linux refuses a soft limit above fs.nr_open (default 1048576) even when the hard limit is
// unlimited; this is the value to fall back to then.
constexpr rlim_t kFallbackMaxFds = 1 << 20;

}  // namespace

std::uint64_t raise_fd_limit(std::string* error) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    if (error != nullptr) *error = std::string("getrlimit: ") + std::strerror(errno);
    return 0;
  }
  if (limit.rlim_cur == limit.rlim_max) return static_cast<std::uint64_t>(limit.rlim_cur);
  rlimit wanted = limit;
  wanted.rlim_cur = limit.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) return static_cast<std::uint64_t>(wanted.rlim_cur);
  if (limit.rlim_max == RLIM_INFINITY && limit.rlim_cur < kFallbackMaxFds) {
    wanted.rlim_cur = kFallbackMaxFds;
    if (setrlimit(RLIMIT_NOFILE, &wanted) == 0) return static_cast<std::uint64_t>(wanted.rlim_cur);
  }
  if (error != nullptr) *error = std::string("setrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
  return static_cast<std::uint64_t>(limit.rlim_cur);
}

}  // namespace wstool
