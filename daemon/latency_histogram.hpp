#pragma once
// How long the NTP server held requests: from the kernel's receive stamp to just after the answer
// went to the kernel (RX→TX), in a fixed log-scale histogram — four buckets per doubling, so a
// quantile read from it is within 19 % of the true value (the width of a bucket), and recording
// one latency is a bit scan and an increment: no allocation, no lock. One histogram per worker,
// merged when the counters are published and read (metrics, status).
#include <array>
#include <cstdint>

namespace kairos {

class LatencyHistogram {
 public:
  // Four buckets per power of two of nanoseconds, 2^0 ns to 2^40 ns (18 minutes); longer ones
  // share the last bucket (the maximum is kept exactly).
  static constexpr int kSubBuckets = 4;
  static constexpr int kOctaves = 41;
  static constexpr std::size_t kBuckets = kOctaves * kSubBuckets;

  void add(std::int64_t nanoseconds);
  void merge(const LatencyHistogram& other);

  std::uint64_t count() const { return count_; }
  double sum_seconds() const { return static_cast<double>(sum_ns_) * 1e-9; }
  double max_seconds() const { return static_cast<double>(max_ns_) * 1e-9; }
  // The q-quantile (0 < q <= 1) in seconds: the upper edge of the bucket holding it, capped at
  // the maximum seen, so it never understates. 0 while empty.
  double quantile_seconds(double q) const;

  static std::size_t bucket_of(std::uint64_t nanoseconds);
  // The largest latency that falls into `bucket`, in nanoseconds.
  static std::uint64_t upper_edge_ns(std::size_t bucket);

 private:
  std::array<std::uint64_t, kBuckets> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t sum_ns_ = 0;
  std::uint64_t max_ns_ = 0;
};

}  // namespace kairos
