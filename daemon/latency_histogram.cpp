#include "daemon/latency_histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace kairos {

std::size_t LatencyHistogram::bucket_of(std::uint64_t ns) {
  if (ns < kSubBuckets) return static_cast<std::size_t>(ns);  // 0-3 ns: too small to split
  const int octave = static_cast<int>(std::bit_width(ns)) - 1;  // 2^octave <= ns < 2^(octave+1)
  if (octave >= kOctaves) return kBuckets - 1;
  // The two bits below the leading one pick the quarter of the octave.
  const auto quarter = static_cast<std::size_t>((ns >> (octave - 2)) & (kSubBuckets - 1));
  return static_cast<std::size_t>(octave) * kSubBuckets + quarter;
}

std::uint64_t LatencyHistogram::upper_edge_ns(std::size_t bucket) {
  if (bucket < 2 * kSubBuckets) return std::min<std::uint64_t>(bucket, kSubBuckets - 1);  // 0-3 ns; 4-7 unused
  const std::size_t octave = bucket / kSubBuckets;
  const std::uint64_t quarter = bucket % kSubBuckets;
  // Bucket (octave, quarter) holds [2^octave + quarter * 2^(octave-2), that + 2^(octave-2)).
  const std::uint64_t step = std::uint64_t{1} << (octave - 2);
  return (std::uint64_t{1} << octave) + (quarter + 1) * step - 1;
}

void LatencyHistogram::add(std::int64_t nanoseconds) {
  // A clock step between the two readings can make it negative: count it as instant.
  const std::uint64_t ns = nanoseconds > 0 ? static_cast<std::uint64_t>(nanoseconds) : 0;
  ++buckets_[bucket_of(ns)];
  ++count_;
  sum_ns_ += ns;
  max_ns_ = std::max(max_ns_, ns);
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < kBuckets; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  sum_ns_ += other.sum_ns_;
  max_ns_ = std::max(max_ns_, other.max_ns_);
}

double LatencyHistogram::quantile_seconds(double q) const {
  if (count_ == 0) return 0;
  // The rank of the quantile, 1-based: the smallest latency with at least q of all at or below.
  const auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return static_cast<double>(std::min(upper_edge_ns(i), max_ns_)) * 1e-9;
  }
  return max_seconds();
}

}  // namespace kairos
