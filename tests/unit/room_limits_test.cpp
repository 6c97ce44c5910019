// Tests for serve's clock-driven state machines, driven with an injected time.
#include "lib/room_limits.h"

#include <gtest/gtest.h>

namespace wstool::room {
namespace {

using namespace std::chrono_literals;

const Clock::time_point kStart = Clock::time_point{} + 1000h;

TEST(TokenBucket, BurstThenRate) {
  TokenBucket bucket(10, 5, kStart);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(kStart)) << i;
  EXPECT_FALSE(bucket.take(kStart));
  EXPECT_FALSE(bucket.take(kStart + 50ms));  // half a token
  EXPECT_TRUE(bucket.take(kStart + 100ms));
  EXPECT_FALSE(bucket.take(kStart + 100ms));
  // Refill never exceeds the burst.
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.take(kStart + 1h)) << i;
  EXPECT_FALSE(bucket.take(kStart + 1h));
}

TEST(TokenBucket, ZeroRateIsUnlimited) {
  TokenBucket bucket(0, 1, kStart);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(bucket.take(kStart));
}

TEST(TokenBucket, ClockGoingBackwardsGrantsNothing) {
  TokenBucket bucket(10, 1, kStart);
  EXPECT_TRUE(bucket.take(kStart));
  EXPECT_FALSE(bucket.take(kStart - 1h));
}

TEST(DedupeWindow, RemembersKeysForTheWindow) {
  DedupeWindow window(5min, 100);
  EXPECT_FALSE(window.contains("1", kStart));
  window.record("1", kStart);
  EXPECT_TRUE(window.contains("1", kStart + 4min));
  EXPECT_FALSE(window.contains("\"1\"", kStart + 4min));  // the string "1" is another id
  EXPECT_FALSE(window.contains("1", kStart + 5min));
  EXPECT_EQ(window.size(), 0U);
}

TEST(DedupeWindow, RecordingAgainExtendsTheWindow) {
  DedupeWindow window(1min, 100);
  window.record("a", kStart);
  window.record("a", kStart + 50s);
  EXPECT_TRUE(window.contains("a", kStart + 70s));
  EXPECT_FALSE(window.contains("a", kStart + 111s));
}

TEST(DedupeWindow, IsBoundedOldestFirst) {
  DedupeWindow window(1h, 3);
  for (int i = 0; i < 5; ++i) window.record(std::to_string(i), kStart);
  EXPECT_EQ(window.size(), 3U);
  EXPECT_FALSE(window.contains("0", kStart));
  EXPECT_FALSE(window.contains("1", kStart));
  EXPECT_TRUE(window.contains("4", kStart));
}

TEST(EventWindow, OverTheLimitWithinTheWindow) {
  EventWindow errors(3, 1min);
  EXPECT_FALSE(errors.record(kStart));
  EXPECT_FALSE(errors.record(kStart + 1s));
  EXPECT_FALSE(errors.record(kStart + 2s));
  EXPECT_TRUE(errors.record(kStart + 3s));
  // A minute later the old ones no longer count.
  EXPECT_FALSE(errors.record(kStart + 62s));
}

TEST(EventWindow, ZeroLimitNeverTrips) {
  EventWindow errors(0, 1min);
  for (int i = 0; i < 100; ++i) ASSERT_FALSE(errors.record(kStart));
}

TEST(RetryDelay, DoublesPerAttemptAndIsCapped) {
  EXPECT_EQ(retry_delay(500ms, 1), 500ms);
  EXPECT_EQ(retry_delay(500ms, 2), 1000ms);
  EXPECT_EQ(retry_delay(500ms, 3), 2000ms);
  EXPECT_EQ(retry_delay(50s, 3), kMaxRetryDelay);
  EXPECT_EQ(retry_delay(1s, 1000), kMaxRetryDelay);
}

}  // namespace
}  // namespace wstool::room
