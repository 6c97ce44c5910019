// lib/backoff: exponential backoff with full jitter, driven by a scripted random source.
#include "lib/backoff.h"

#include <gtest/gtest.h>

namespace wstool {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, CapDoublesUpToTheMaximumAndDelaysStayUnderIt) {
  double next = 0.999;
  Backoff backoff(milliseconds(100), milliseconds(1000), [&next] { return next; });
  EXPECT_EQ(backoff.next_delay(), milliseconds(99));
  EXPECT_EQ(backoff.next_delay(), milliseconds(199));
  EXPECT_EQ(backoff.next_delay(), milliseconds(399));
  EXPECT_EQ(backoff.next_delay(), milliseconds(799));
  EXPECT_EQ(backoff.next_delay(), milliseconds(999));  // capped at the maximum
  EXPECT_EQ(backoff.next_delay(), milliseconds(999));
  next = 0.0;
  EXPECT_EQ(backoff.next_delay(), milliseconds(0));  // full jitter: anything from zero
}

TEST(Backoff, ResetStartsOverAfterASuccess) {
  Backoff backoff(milliseconds(100), milliseconds(1000), [] { return 0.5; });
  backoff.next_delay();
  backoff.next_delay();
  EXPECT_EQ(backoff.cap(), milliseconds(400));
  backoff.reset();
  EXPECT_EQ(backoff.next_delay(), milliseconds(50));
}

}  // namespace
}  // namespace wstool
