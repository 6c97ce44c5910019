// At start every subcommand raises its open-file limit to the hard limit, so a load test or a
// busy server is bounded by the system, not by a conservative default soft limit of 1024.
#pragma once

#include <cstdint>
#include <string>

namespace wstool {

// Raises RLIMIT_NOFILE's soft limit to the hard limit. Returns the soft limit now in force (the
// old one when raising failed, with the reason in `error` if given).
std::uint64_t raise_fd_limit(std::string* error = nullptr);

}  // namespace wstool
