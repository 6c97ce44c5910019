// Tests for raising the open-file limit.
#include "lib/fd_limit.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

namespace wstool {
namespace {

TEST(RaiseFdLimit, SoftLimitReachesHardLimitOrStaysAndSaysWhy) {
  rlimit before{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &before), 0);
  std::string error;
  const std::uint64_t now = raise_fd_limit(&error);
  rlimit after{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &after), 0);
  EXPECT_EQ(now, static_cast<std::uint64_t>(after.rlim_cur));
  EXPECT_GE(after.rlim_cur, before.rlim_cur);
  if (error.empty() && before.rlim_max != RLIM_INFINITY) {
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
  }
}

TEST(RaiseFdLimit, IdempotentOnceRaised) {
  std::string error;
  const std::uint64_t first = raise_fd_limit(&error);
  EXPECT_EQ(raise_fd_limit(&error), first);
}

}  // namespace
}  // namespace wstool
