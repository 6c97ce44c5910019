// Latency histogram for `wstool load`: log-linear buckets (HdrHistogram's layout idea) covering
// 1 µs to 1 h with at least 3 significant digits, fixed memory after construction, recording
// without allocation, and exact merging (same layout everywhere, so N generators' histograms
// add bucket by bucket). One per thread; never shared between threads while recording.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wstool {

class LatencyHistogram {
 public:
  static constexpr std::uint64_t kLowestNs = 1'000;                    // 1 µs
  static constexpr std::uint64_t kHighestNs = 3'600'000'000'000ULL;     // 1 h
  static constexpr int kSignificantDigits = 3;

  LatencyHistogram();

  // Values below kLowestNs count in the first bucket, above kHighestNs in the last (and are
  // counted in saturated()). No allocation, no locks. One value is recorded inline: a load
  // generator records two per reply.
  void record(std::uint64_t nanoseconds) noexcept {
    if (nanoseconds > kHighestNs) ++saturated_;
    ++counts_[index_of(nanoseconds)];
    if (total_ == 0 || nanoseconds < min_) min_ = nanoseconds;
    if (total_ == 0 || nanoseconds > max_) max_ = nanoseconds;
    ++total_;
    sum_ += static_cast<long double>(nanoseconds);
  }
  void record(std::uint64_t nanoseconds, std::uint64_t count) noexcept;
  // Bucket-wise sum; exact.
  void merge(const LatencyHistogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept;
  std::uint64_t saturated() const noexcept;  // values recorded above kHighestNs
  std::uint64_t min() const noexcept;        // exact recorded extremes; 0 when empty
  std::uint64_t max() const noexcept;
  double mean() const noexcept;
  // The value at `percentile` (0..100]: the highest value equivalent to the bucket holding that
  // rank (never below a recorded value: 3 significant digits of truth, rounding up), clamped to
  // max(). 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const noexcept;

  // For the results document: the non-empty buckets, in ascending order, each with the range of
  // values it holds [lower_ns, upper_ns] and its count; and back.
  struct Bucket {
    std::uint64_t lower_ns = 0;
    std::uint64_t upper_ns = 0;
    std::uint64_t count = 0;
  };
  std::vector<Bucket> nonzero_buckets() const;
  // Adds `buckets` (as nonzero_buckets() wrote them, possibly from another machine) plus the
  // exact min/max; false when a bucket does not match this layout.
  // The mean afterwards is estimated from bucket midpoints (within the precision); the saturated
  // count of the added values is unknown (0).
  bool add_buckets(const std::vector<Bucket>& buckets, std::uint64_t min_ns, std::uint64_t max_ns);
  // The same, with the exact sum of the added values (mean() * count()) and how many of them
  // were saturated, as the results document carries them. False also when saturated exceeds the
  // buckets' total. Nothing is added when it returns false.
  bool add_buckets(const std::vector<Bucket>& buckets, std::uint64_t min_ns, std::uint64_t max_ns,
                   long double sum_ns, std::uint64_t saturated);
  long double sum() const noexcept { return sum_; }  // of every recorded value, in ns

  // The layout, for tests and documentation: how many counters, and the bucket of a value.
  static std::size_t bucket_count() noexcept;
  // The first bucket holds [0, 2 * 2^kSubBucketHalfMagnitude) one nanosecond apart; each further
  // bucket b holds [2^kSubBucketHalfMagnitude << b, 2 * 2^kSubBucketHalfMagnitude << b) in steps of
  // 2^b (latency_histogram.cpp tells why).
  static constexpr int kSubBucketHalfMagnitude = 10;
  static std::size_t index_of(std::uint64_t nanoseconds) noexcept {
    constexpr int kValueBits = 64;
    constexpr std::uint64_t kSubBucketMask = (std::uint64_t{2} << kSubBucketHalfMagnitude) - 1;
    const std::uint64_t value = nanoseconds < kHighestNs ? nanoseconds : kHighestNs;
    // Position of the highest set bit of (value | mask), counted from 1, minus the bits the first
    // bucket spans.
    const int bucket = kValueBits - __builtin_clzll(value | kSubBucketMask) - (kSubBucketHalfMagnitude + 1);
    // Bucket 0 uses all its slots; later ones only their upper half (the lower half is the
    // previous bucket's range at a coarser step).
    return static_cast<std::size_t>((static_cast<std::uint64_t>(bucket) << kSubBucketHalfMagnitude) +
                                    (value >> bucket));
  }
  static std::uint64_t lowest_equivalent(std::size_t index) noexcept;
  static std::uint64_t highest_equivalent(std::size_t index) noexcept;

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t saturated_ = 0;
  std::uint64_t min_ = 0;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace wstool
