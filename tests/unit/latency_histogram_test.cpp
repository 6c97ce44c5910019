// lib/latency_histogram: precision, percentile semantics, exact merging, saturation and the
// bucket list the results document carries.
#include "lib/latency_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace wstool {
namespace {

constexpr std::uint64_t kMicro = 1'000;
constexpr std::uint64_t kMilli = 1'000'000;
constexpr std::uint64_t kSecond = 1'000'000'000;

// The value at percentile p of sorted values, by the nearest-rank definition the histogram
// follows: the smallest value with at least p% of the values at or below it.
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
  const auto rank = static_cast<std::size_t>(
      std::max(1.0, std::ceil(p / 100.0 * static_cast<double>(sorted.size()))));
  return sorted[std::min(rank, sorted.size()) - 1];
}

// 3 significant digits: never below the truth, at most 1/1000 of it above.
void expect_within_precision(std::uint64_t reported, std::uint64_t truth) {
  EXPECT_GE(reported, truth);
  EXPECT_LE(static_cast<double>(reported - truth), static_cast<double>(truth) / 1000.0)
      << "reported " << reported << " for " << truth;
}

TEST(LatencyHistogram, EmptyReportsZero) {
  LatencyHistogram histogram;
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_EQ(histogram.mean(), 0.0);
  EXPECT_EQ(histogram.value_at_percentile(99), 0u);
  EXPECT_TRUE(histogram.nonzero_buckets().empty());
}

TEST(LatencyHistogram, EveryValueFrom1usTo1hKeepsThreeSignificantDigits) {
  // Each bucket's width is at most 1/1000 of its lowest value: walk the whole layout.
  for (std::size_t i = 0; i < LatencyHistogram::bucket_count(); ++i) {
    const std::uint64_t low = LatencyHistogram::lowest_equivalent(i);
    const std::uint64_t high = LatencyHistogram::highest_equivalent(i);
    ASSERT_LE(low, high);
    if (low >= LatencyHistogram::kLowestNs) {
      ASSERT_LE(static_cast<double>(high - low), static_cast<double>(low) / 1000.0) << i;
    }
    ASSERT_EQ(LatencyHistogram::index_of(low), i);
    ASSERT_EQ(LatencyHistogram::index_of(high), i);
    if (i + 1 < LatencyHistogram::bucket_count()) {
      ASSERT_EQ(LatencyHistogram::lowest_equivalent(i + 1), high + 1);  // no gaps, no overlap
    }
  }
  EXPECT_GE(LatencyHistogram::highest_equivalent(LatencyHistogram::bucket_count() - 1),
            LatencyHistogram::kHighestNs);
  // Spot checks across the range, including bucket edges.
  for (std::uint64_t value : {kMicro, kMicro + 1, 2047 * std::uint64_t{1}, std::uint64_t{2048},
                              std::uint64_t{4097}, 10 * kMilli + 7, 123'456'789 * std::uint64_t{1},
                              59 * kSecond + 999'999, LatencyHistogram::kHighestNs - 1}) {
    LatencyHistogram histogram;
    histogram.record(value);
    histogram.record(value + (value / 3));  // so the percentile is not just max()
    expect_within_precision(histogram.value_at_percentile(50), value);
  }
}

TEST(LatencyHistogram, PercentilesOfAUniformDistribution) {
  // 1..100000 µs: p50 = 50000 µs, p99 = 99000 µs, p99.9 = 99900 µs, exactly, up to precision.
  LatencyHistogram histogram;
  for (std::uint64_t us = 1; us <= 100'000; ++us) histogram.record(us * kMicro);
  EXPECT_EQ(histogram.count(), 100'000u);
  expect_within_precision(histogram.value_at_percentile(50), 50'000 * kMicro);
  expect_within_precision(histogram.value_at_percentile(90), 90'000 * kMicro);
  expect_within_precision(histogram.value_at_percentile(99), 99'000 * kMicro);
  expect_within_precision(histogram.value_at_percentile(99.9), 99'900 * kMicro);
  EXPECT_EQ(histogram.value_at_percentile(100), 100'000 * kMicro);  // clamped to max()
  EXPECT_EQ(histogram.min(), kMicro);
  EXPECT_EQ(histogram.max(), 100'000 * kMicro);
  EXPECT_NEAR(histogram.mean(), 50'000.5 * kMicro, 1e-6 * kMicro);
}

TEST(LatencyHistogram, PercentilesOfALogNormalDistributionMatchTheSortedValues) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> distribution(std::log(2e6), 1.5);  // around 2 ms
  std::vector<std::uint64_t> values;
  LatencyHistogram histogram;
  for (int i = 0; i < 200'000; ++i) {
    const auto value =
        std::clamp<std::uint64_t>(static_cast<std::uint64_t>(distribution(random)), kMicro,
                                  LatencyHistogram::kHighestNs);
    values.push_back(value);
    histogram.record(value);
  }
  std::sort(values.begin(), values.end());
  for (double p : {1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    SCOPED_TRACE(p);
    expect_within_precision(histogram.value_at_percentile(p), exact_percentile(values, p));
  }
}

TEST(LatencyHistogram, OneValueIsEveryPercentile) {
  LatencyHistogram histogram;
  histogram.record(10 * kMilli + 123);
  for (double p : {0.0, 0.001, 50.0, 99.999, 100.0, 250.0}) {
    EXPECT_EQ(histogram.value_at_percentile(p), 10 * kMilli + 123) << p;  // clamped to max()
  }
}

TEST(LatencyHistogram, RankIsNearestRankAndNeverBelowARecordedValue) {
  // 99 fast and 1 slow: p99 is still fast, anything above p99 is the slow one.
  LatencyHistogram histogram;
  histogram.record(1 * kMilli, 99);
  histogram.record(500 * kMilli);
  expect_within_precision(histogram.value_at_percentile(99), 1 * kMilli);
  EXPECT_EQ(histogram.value_at_percentile(99.01), 500 * kMilli);
  EXPECT_EQ(histogram.count(), 100u);
}

TEST(LatencyHistogram, CountArgumentEqualsRepeatedRecords) {
  LatencyHistogram once;
  LatencyHistogram repeated;
  once.record(3 * kMilli, 5);
  for (int i = 0; i < 5; ++i) repeated.record(3 * kMilli);
  once.record(7 * kMilli, 0);  // a zero count records nothing, not even an extreme
  EXPECT_EQ(once.count(), 5u);
  EXPECT_EQ(once.max(), 3 * kMilli);
  EXPECT_EQ(once.mean(), repeated.mean());
  EXPECT_EQ(once.value_at_percentile(50), repeated.value_at_percentile(50));
}

TEST(LatencyHistogram, BelowOneMicrosecondCountsInTheFirstBucket) {
  LatencyHistogram histogram;
  histogram.record(0);
  histogram.record(250);
  EXPECT_EQ(histogram.count(), 2u);
  EXPECT_EQ(histogram.min(), 0u);
  EXPECT_EQ(histogram.max(), 250u);
  EXPECT_EQ(histogram.value_at_percentile(100), 250u);
  EXPECT_EQ(histogram.saturated(), 0u);
}

TEST(LatencyHistogram, AboveOneHourSaturatesIntoTheLastBucketKeepingTheExactMax) {
  LatencyHistogram histogram;
  const std::uint64_t two_hours = 2 * LatencyHistogram::kHighestNs;
  histogram.record(1 * kMilli);
  histogram.record(two_hours);
  histogram.record(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(histogram.count(), 3u);
  EXPECT_EQ(histogram.saturated(), 2u);
  EXPECT_EQ(histogram.max(), std::numeric_limits<std::uint64_t>::max());
  // The percentile reports the last bucket (at least an hour), not a wrapped-around value.
  EXPECT_GE(histogram.value_at_percentile(50), LatencyHistogram::kHighestNs);
  const auto buckets = histogram.nonzero_buckets();
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_EQ(buckets[1].count, 2u);
  EXPECT_LE(buckets[1].lower_ns, LatencyHistogram::kHighestNs);
  EXPECT_GE(buckets[1].upper_ns, LatencyHistogram::kHighestNs);
}

TEST(LatencyHistogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 random(7);
  std::exponential_distribution<double> distribution(1.0 / 5e6);  // mean 5 ms
  LatencyHistogram all;
  LatencyHistogram parts[3];
  for (int i = 0; i < 30'000; ++i) {
    const auto value = static_cast<std::uint64_t>(distribution(random)) + kMicro;
    all.record(value);
    parts[i % 3].record(value);
  }
  parts[2].record(3 * LatencyHistogram::kHighestNs);
  all.record(3 * LatencyHistogram::kHighestNs);
  LatencyHistogram merged;
  for (const auto& part : parts) merged.merge(part);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_EQ(merged.saturated(), all.saturated());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double p : {50.0, 90.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(merged.value_at_percentile(p), all.value_at_percentile(p)) << p;
  }
  const auto a = merged.nonzero_buckets();
  const auto b = all.nonzero_buckets();
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].lower_ns, b[i].lower_ns);
    EXPECT_EQ(a[i].count, b[i].count);
  }
}

TEST(LatencyHistogram, MergingAnEmptyHistogramChangesNothing) {
  LatencyHistogram histogram;
  histogram.record(5 * kMilli);
  histogram.merge(LatencyHistogram());
  EXPECT_EQ(histogram.min(), 5 * kMilli);  // not 0 from the empty one
  LatencyHistogram empty;
  empty.merge(histogram);
  EXPECT_EQ(empty.min(), 5 * kMilli);
  EXPECT_EQ(empty.count(), 1u);
}

TEST(LatencyHistogram, ResetForgetsEverything) {
  LatencyHistogram histogram;
  histogram.record(5 * kMilli);
  histogram.record(9 * LatencyHistogram::kHighestNs);
  histogram.reset();
  EXPECT_EQ(histogram.count(), 0u);
  EXPECT_EQ(histogram.saturated(), 0u);
  EXPECT_EQ(histogram.max(), 0u);
  EXPECT_TRUE(histogram.nonzero_buckets().empty());
}

TEST(LatencyHistogram, BucketsRoundTripExactly) {
  LatencyHistogram original;
  for (std::uint64_t v = 1; v < 20'000; v += 7) original.record(v * 37 * kMicro / 10);
  const auto unsaturated = original.nonzero_buckets();
  original.record(2 * LatencyHistogram::kHighestNs);
  const auto buckets = original.nonzero_buckets();
  for (std::size_t i = 1; i < buckets.size(); ++i) ASSERT_LT(buckets[i - 1].upper_ns, buckets[i].lower_ns);

  LatencyHistogram copy;
  ASSERT_TRUE(copy.add_buckets(buckets, original.min(), original.max(), original.sum(),
                               original.saturated()));
  EXPECT_EQ(copy.count(), original.count());
  EXPECT_EQ(copy.min(), original.min());
  EXPECT_EQ(copy.max(), original.max());
  EXPECT_EQ(copy.saturated(), original.saturated());
  EXPECT_DOUBLE_EQ(copy.mean(), original.mean());
  for (double p : {50.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(copy.value_at_percentile(p), original.value_at_percentile(p));
  }

  // Without the sum, the mean is estimated from bucket midpoints: within the precision (of
  // values that were not saturated; those are only known to be at least an hour).
  LatencyHistogram estimated;
  LatencyHistogram reference;
  for (std::uint64_t v = 1; v < 20'000; v += 7) reference.record(v * 37 * kMicro / 10);
  ASSERT_TRUE(estimated.add_buckets(unsaturated, reference.min(), reference.max()));
  EXPECT_NEAR(estimated.mean(), reference.mean(), reference.mean() / 1000.0);

  // Adding to a histogram that already holds values merges.
  LatencyHistogram twice = original;
  ASSERT_TRUE(twice.add_buckets(buckets, original.min(), original.max(), original.sum(), 1));
  EXPECT_EQ(twice.count(), 2 * original.count());
}

TEST(LatencyHistogram, AddBucketsRefusesAnotherLayoutAndAddsNothing) {
  LatencyHistogram histogram;
  histogram.record(1 * kMilli);
  const auto good = histogram.nonzero_buckets();
  ASSERT_EQ(good.size(), 1u);

  LatencyHistogram target;
  auto shifted = good;
  shifted[0].lower_ns += 1;  // not a bucket boundary
  EXPECT_FALSE(target.add_buckets(shifted, kMilli, kMilli));
  auto wide = good;
  wide[0].upper_ns += 1000;  // another precision
  EXPECT_FALSE(target.add_buckets(wide, kMilli, kMilli));
  // Extremes that do not lie in the outermost buckets, or inverted.
  EXPECT_FALSE(target.add_buckets(good, 5 * kMilli, 5 * kMilli));
  EXPECT_FALSE(target.add_buckets(good, kMilli + 1, kMilli));
  // More saturated values than values.
  EXPECT_FALSE(target.add_buckets(good, kMilli, kMilli, 1e6L, 2));
  // Beyond the layout.
  std::vector<LatencyHistogram::Bucket> beyond{{LatencyHistogram::kHighestNs * 4,
                                                LatencyHistogram::kHighestNs * 4, 1}};
  EXPECT_FALSE(target.add_buckets(beyond, 0, 0));
  // Counts that overflow.
  std::vector<LatencyHistogram::Bucket> huge{
      good[0], {good[0].lower_ns, good[0].upper_ns, std::numeric_limits<std::uint64_t>::max()}};
  EXPECT_FALSE(target.add_buckets(huge, kMilli, kMilli));
  EXPECT_EQ(target.count(), 0u);
  EXPECT_TRUE(target.add_buckets({}, 0, 0));  // nothing to add is fine
  EXPECT_TRUE(target.add_buckets(good, kMilli, kMilli));
  EXPECT_EQ(target.count(), 1u);
}

TEST(LatencyHistogram, MemoryIsFixedAndModest) {
  // Four per thread in a load run: the counters must stay a few hundred KiB.
  EXPECT_LE(LatencyHistogram::bucket_count() * sizeof(std::uint64_t), 300u * 1024u);
}

}  // namespace
}  // namespace wstool
