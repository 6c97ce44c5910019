// Latency histogram: the log-linear layout (HdrHistogram's idea, written for wstool) and the
// percentile, merge and bucket-list operations the load runner and its results document use.
#include "lib/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace wstool {
namespace {

// Layout. Values are counted in nanoseconds. The first "bucket" holds [0, kSubBucketCount) one
// nanosecond apart; each further bucket b holds [kSubBucketHalf << b, kSubBucketCount << b) in
// kSubBucketHalf steps of 2^b. A step is then at most 1/kSubBucketHalf = 1/1024 of the value,
// finer than the 1/1000 that 3 significant digits need, everywhere from 1 ns upward.
constexpr int kSubBucketHalfMagnitude = LatencyHistogram::kSubBucketHalfMagnitude;
constexpr std::uint64_t kSubBucketHalf = std::uint64_t{1} << kSubBucketHalfMagnitude;  // 1024
constexpr std::uint64_t kSubBucketCount = kSubBucketHalf * 2;                            // 2048

static_assert(kSubBucketHalf >= 1000, "3 significant digits need steps of at most 1/1000");

// Buckets needed to reach kHighestNs: the smallest b with kSubBucketCount << (b - 1) above it.
constexpr std::size_t buckets_needed() {
  std::size_t buckets = 1;
  std::uint64_t covered = kSubBucketCount;  // exclusive upper end of bucket 0
  while (covered <= LatencyHistogram::kHighestNs) {
    covered <<= 1;
    ++buckets;
  }
  return buckets;
}
constexpr std::size_t kBuckets = buckets_needed();
// Counters up to the one holding kHighestNs (where everything above it is counted too).
constexpr std::size_t kCounters = static_cast<std::size_t>(
    ((kBuckets - 1) << kSubBucketHalfMagnitude) + (LatencyHistogram::kHighestNs >> (kBuckets - 1)) +
    1);

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kCounters, 0) {}

std::size_t LatencyHistogram::bucket_count() noexcept { return kCounters; }

std::uint64_t LatencyHistogram::lowest_equivalent(std::size_t index) noexcept {
  const std::uint64_t i = index;
  if (i < kSubBucketCount) return i;
  const std::uint64_t bucket = (i >> kSubBucketHalfMagnitude) - 1;
  const std::uint64_t sub = (i & (kSubBucketHalf - 1)) + kSubBucketHalf;
  return sub << bucket;
}

std::uint64_t LatencyHistogram::highest_equivalent(std::size_t index) noexcept {
  const std::uint64_t i = index;
  if (i < kSubBucketCount) return i;
  const std::uint64_t bucket = (i >> kSubBucketHalfMagnitude) - 1;
  return lowest_equivalent(index) + (std::uint64_t{1} << bucket) - 1;
}

void LatencyHistogram::record(std::uint64_t nanoseconds, std::uint64_t count) noexcept {
  if (count == 0) return;
  if (nanoseconds > kHighestNs) saturated_ += count;
  counts_[index_of(nanoseconds)] += count;
  if (total_ == 0 || nanoseconds < min_) min_ = nanoseconds;
  if (total_ == 0 || nanoseconds > max_) max_ = nanoseconds;
  total_ += count;
  sum_ += static_cast<long double>(nanoseconds) * static_cast<long double>(count);
}

void LatencyHistogram::merge(const LatencyHistogram& other) noexcept {
  if (other.total_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = total_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = total_ == 0 ? other.max_ : std::max(max_, other.max_);
  total_ += other.total_;
  saturated_ += other.saturated_;
  sum_ += other.sum_;
}

void LatencyHistogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  saturated_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

std::uint64_t LatencyHistogram::count() const noexcept { return total_; }
std::uint64_t LatencyHistogram::saturated() const noexcept { return saturated_; }
std::uint64_t LatencyHistogram::min() const noexcept { return min_; }
std::uint64_t LatencyHistogram::max() const noexcept { return max_; }

double LatencyHistogram::mean() const noexcept {
  if (total_ == 0) return 0;
  return static_cast<double>(sum_ / static_cast<long double>(total_));
}

std::uint64_t LatencyHistogram::value_at_percentile(double percentile) const noexcept {
  if (total_ == 0) return 0;
  if (!(percentile > 0)) percentile = 0;  // also NaN
  if (percentile > 100) percentile = 100;
  // The rank of the value asked for, 1-based: the smallest rank whose share reaches percentile.
  const double wanted = std::ceil(percentile / 100.0 * static_cast<double>(total_));
  std::uint64_t rank = 1;
  if (wanted >= static_cast<double>(total_)) {
    rank = total_;
  } else if (wanted > 1) {
    rank = static_cast<std::uint64_t>(wanted);
  }
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(highest_equivalent(i), max_);
  }
  return max_;
}

std::vector<LatencyHistogram::Bucket> LatencyHistogram::nonzero_buckets() const {
  std::vector<Bucket> buckets;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0) continue;
    buckets.push_back(Bucket{lowest_equivalent(i), highest_equivalent(i), counts_[i]});
  }
  return buckets;
}

bool LatencyHistogram::add_buckets(const std::vector<Bucket>& buckets, std::uint64_t min_ns,
                                   std::uint64_t max_ns) {
  long double sum = 0;
  for (const Bucket& bucket : buckets) {
    const long double middle =
        (static_cast<long double>(bucket.lower_ns) + static_cast<long double>(bucket.upper_ns)) / 2;
    sum += middle * static_cast<long double>(bucket.count);
  }
  return add_buckets(buckets, min_ns, max_ns, sum, 0);
}

bool LatencyHistogram::add_buckets(const std::vector<Bucket>& buckets, std::uint64_t min_ns,
                                   std::uint64_t max_ns, long double sum_ns,
                                   std::uint64_t saturated) {
  constexpr std::uint64_t kMaxCount = std::numeric_limits<std::uint64_t>::max();
  // Check everything first, so a bad list adds nothing.
  std::uint64_t added = 0;
  std::size_t lowest_index = counts_.size();
  std::size_t highest_index = 0;
  for (const Bucket& bucket : buckets) {
    const std::size_t index = index_of(bucket.lower_ns);
    if (lowest_equivalent(index) != bucket.lower_ns || highest_equivalent(index) != bucket.upper_ns)
      return false;
    if (bucket.count == 0) continue;
    if (bucket.count > kMaxCount - added) return false;
    added += bucket.count;
    lowest_index = std::min(lowest_index, index);
    highest_index = std::max(highest_index, index);
  }
  if (added == 0) return saturated == 0;
  if (added > kMaxCount - total_ || saturated > added) return false;
  // The exact extremes must lie in the outermost buckets (above kHighestNs counts in the last).
  if (min_ns > max_ns || index_of(min_ns) != lowest_index || index_of(max_ns) != highest_index)
    return false;
  if (!(sum_ns >= 0)) return false;

  for (const Bucket& bucket : buckets) counts_[index_of(bucket.lower_ns)] += bucket.count;
  min_ = total_ == 0 ? min_ns : std::min(min_, min_ns);
  max_ = total_ == 0 ? max_ns : std::max(max_, max_ns);
  total_ += added;
  saturated_ += saturated;
  sum_ += sum_ns;
  return true;
}

}  // namespace wstool
