#include "daemon/latency_histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

namespace kairos {
namespace {

TEST(LatencyHistogram, EveryLatencyFallsInABucketWhoseEdgesHoldIt) {
  for (std::uint64_t ns : {0ull, 1ull, 3ull, 4ull, 5ull, 7ull, 8ull, 1000ull, 1023ull, 1024ull, 25'000ull, 999'999'999ull}) {
    const std::size_t b = LatencyHistogram::bucket_of(ns);
    EXPECT_LE(ns, LatencyHistogram::upper_edge_ns(b)) << ns;
    if (b > 0) {
      EXPECT_GT(ns, LatencyHistogram::upper_edge_ns(b - 1)) << ns;
    }
  }
  // Longer than the last octave: the last bucket, never out of range.
  EXPECT_EQ(LatencyHistogram::bucket_of(~std::uint64_t{0}), LatencyHistogram::kBuckets - 1);
}

// Against the exact quantiles of a sorted list: never below, and within one bucket (25 %) above.
TEST(LatencyHistogram, QuantilesAreWithinABucketOfTheTruthAndNeverBelow) {
  std::mt19937_64 rng(3);
  std::lognormal_distribution<double> wait(std::log(30'000.0), 1.0);  // around 30 µs
  LatencyHistogram h;
  std::vector<std::int64_t> all;
  for (int i = 0; i < 100'000; ++i) {
    const auto ns = static_cast<std::int64_t>(wait(rng));
    h.add(ns);
    all.push_back(ns);
  }
  std::sort(all.begin(), all.end());
  for (double q : {0.5, 0.9, 0.99}) {
    const double exact = static_cast<double>(all[static_cast<std::size_t>(q * static_cast<double>(all.size())) - 1]) * 1e-9;
    EXPECT_GE(h.quantile_seconds(q), exact) << q;
    EXPECT_LE(h.quantile_seconds(q), exact * 1.25) << q;
  }
  EXPECT_DOUBLE_EQ(h.max_seconds(), static_cast<double>(all.back()) * 1e-9);
  EXPECT_DOUBLE_EQ(h.quantile_seconds(1), h.max_seconds());
  EXPECT_EQ(h.count(), all.size());
}

TEST(LatencyHistogram, MergedWorkersGiveTheQuantilesOfAllRequests) {
  LatencyHistogram fast, slow, all;
  for (int i = 0; i < 900; ++i) fast.add(10'000), all.add(10'000);
  for (int i = 0; i < 100; ++i) slow.add(3'000'000), all.add(3'000'000);
  LatencyHistogram merged;
  merged.merge(fast);
  merged.merge(slow);
  EXPECT_EQ(merged.count(), 1000u);
  EXPECT_DOUBLE_EQ(merged.quantile_seconds(0.5), all.quantile_seconds(0.5));
  EXPECT_DOUBLE_EQ(merged.quantile_seconds(0.99), all.quantile_seconds(0.99));
  EXPECT_NEAR(merged.quantile_seconds(0.5), 10e-6, 2.5e-6);
  EXPECT_NEAR(merged.quantile_seconds(0.99), 3e-3, 0.75e-3);
  EXPECT_DOUBLE_EQ(merged.max_seconds(), 3e-3);
  EXPECT_NEAR(merged.sum_seconds(), 900 * 10e-6 + 100 * 3e-3, 1e-12);
  EXPECT_EQ(LatencyHistogram().quantile_seconds(0.99), 0.0);  // empty: no made-up latency
}

}  // namespace
}  // namespace kairos
