// The simulator's verdicts on the real clock model, one fixed seed per scenario. The runs are
// deterministic, so these limits are numbers, not timings: each sits a little above what the
// model measured when the test was written (in the comment), so a change that makes the model
// worse fails here, and one that makes it better is a reason to tighten the limit.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine.hpp"
#include "metrics.hpp"
#include "scenario.hpp"

namespace kairos::sim {
namespace {

Metrics simulate(const std::string& name, Servo servo = Servo::kKalman, std::uint64_t seed = 1, double duration = 0) {
  auto scenario = load_scenario(std::string(KAIROS_SIM_SCENARIO_DIR) + "/" + name + ".toml");
  EXPECT_TRUE(scenario) << (scenario ? "" : scenario.error().message);
  if (!scenario) return {};
  std::vector<Record> records;
  run(*scenario, RunOptions{.seed = seed, .duration = duration, .servo = servo},
      [&](const Record& r) { records.push_back(r); });
  return summarize(records, scenario->settle);
}

constexpr double kUs = 1e-6;
constexpr double kNs = 1e-9;

TEST(Scenarios, LanIsWithinMicroseconds) {
  const Metrics m = simulate("lan");  // measured: rms 2.37 µs, max 7.9 µs, sync 1 s
  EXPECT_LT(m.rms_offset, 2.6 * kUs);
  EXPECT_LT(m.max_offset, 10 * kUs);
  EXPECT_LE(m.time_to_sync, 17);
  EXPECT_GE(m.bound_coverage, 0.9999);
  EXPECT_LT(m.bound_median_width, 10 * m.rms_offset);
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u);
}

TEST(Scenarios, KalmanBeatsThePiBaselineOnLan) {
  const Metrics kalman = simulate("lan");
  const Metrics pi = simulate("lan", Servo::kPi);  // measured: 13 µs
  EXPECT_LT(2 * kalman.rms_offset, pi.rms_offset);
}

TEST(Scenarios, WanSpreadStaysSmall) {
  const Metrics m = simulate("wan");  // measured: rms 93.2 µs, sd 72.8 µs
  EXPECT_LT(m.rms_offset, 120 * kUs);
  EXPECT_LT(m.sd_offset, 85 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, HardwareTimestampsGiveNanoseconds) {
  // measured: rms 20.6 ns, PHC 20.7 ns, sync 5 s. The model is told what kairosd claims for
  // hardware stamps (10 ns each), not the simulated 1 ns: that cost 0.7 ns (19.9 ns when the
  // simulator passed its own noise). Sync now also waits for the maximum error to be under 1 ms
  // (the frequency sd of the first samples makes it grow fast), 1 s more.
  // Through kairosd's association core (issue 22): rms 20.1 ns, sync 10 s. The first interleaved
  // sample completes the exchange before the PHC's initial 0.1 s step, and was dated by its age on
  // that stepped clock (NtpSample::age), 0.1 s late, holding the maximum error near 0.1 s until it
  // aged out. The core now dates it on the monotonic axis: rms 20.5 ns, sync 6.4 s (the table).
  const Metrics m = simulate("hwts");
  EXPECT_LT(m.rms_offset, 21.5 * kNs);
  EXPECT_LT(m.rms_phc_offset, 21.5 * kNs);
  EXPECT_LE(m.time_to_sync, 11);  // seed 1: 10 s (the table's mean over seeds: 6.4 s)
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, FastPollingWithHardwareTimestamps) {
  // measured: rms 10.52 ns (9.85 ns when the simulator told the model its true 1 ns stamp noise)
  // with the simulator's own exact 0.25 s polls. kairosd's polls (the association core) are
  // randomised by ±10 %: 20.2 ns (12.6 ns with that randomisation taken out of the run).
  const Metrics m = simulate("hwts-fast");
  EXPECT_LT(m.rms_offset, 22 * kNs);
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, FalsetickerAmongThreeDoesNotMoveTheClock) {
  const Metrics m = simulate("falseticker-3");  // the falseticker is 10 ms off; measured max 6.4 µs
  EXPECT_LT(m.max_offset, 20 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, TwoFalsetickersAmongFiveDoNotMoveTheClock) {
  const Metrics m = simulate("falsetickers-5");  // measured max 4.1 µs
  EXPECT_LT(m.max_offset, 20 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, ServerThatStepsIsOutvoted) {
  const Metrics m = simulate("server-step");  // one of three steps by 1 s; measured max 6.4 µs
  EXPECT_LT(m.max_offset, 20 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, ForeignStepIsMeasuredAgainAtOnce) {
  // +0.5 s by someone else: the maximum error says "unknown" at once, and kairosd's sources poll
  // again at once (RealtimeWatch -> SourceCore::clock_stepped), so the clock is back within the
  // first exchanges, not one poll (16 s + 10 %) later. Without the poll: 14 s unbounded, the
  // clock 0.5 s off all that time, coverage 0.99911.
  auto scenario = load_scenario(std::string(KAIROS_SIM_SCENARIO_DIR) + "/foreign-step.toml");
  ASSERT_TRUE(scenario) << scenario.error().message;
  std::vector<Record> records;
  run(*scenario, RunOptions{.seed = 1}, [&](const Record& r) { records.push_back(r); });
  const double step = scenario->foreign_step->at;
  double last_off = 0;
  for (const Record& r : records) {
    if (r.time < scenario->settle || std::abs(r.offset) < 100 * kUs) continue;
    last_off = r.time;
    EXPECT_FALSE(std::isfinite(r.max_error)) << "at " << r.time << " s the clock is " << r.offset
                                             << " s off and claims a maximum error of " << r.max_error << " s";
  }
  EXPECT_LE(last_off, step + 3);  // measured: back within the step's second (0: never off at a record)
  const Metrics m = summarize(records, scenario->settle);
  EXPECT_LE(m.unbounded, 3u);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, LeapSecondIsInsertedOnTime) {
  const Metrics m = simulate("leap");  // a missed leap would be an error of 1 s; measured max 7.9 µs
  EXPECT_LT(m.max_offset, 20 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(Scenarios, LossBurstsCostLittle) {
  const Metrics m = simulate("loss-bursts");  // measured rms 2.83 µs
  EXPECT_LT(m.rms_offset, 3.5 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

// The bound from the first sample on, through a 5 ms path with 2 ms of exponential queueing each
// way and half the packets lost. Measured: every second inside the bound in 19 of seeds 1–20
// (seed 11: 58 of 60 s), mean coverage 0.998. Before the source filter stopped trusting the
// spread of fewer than 8 delays, seeds 1 and 2 had 73 % and 90 % of their first 30 s inside.
TEST(Scenarios, BoundHoldsFromTheFirstSamplesThroughALossyPath) {
  double total = 0;
  int perfect = 0;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    const Metrics m = simulate("lossy-start", Servo::kKalman, seed);
    total += m.bound_coverage;
    perfect += m.bound_coverage == 1.0;
    EXPECT_EQ(m.max_error_coverage, 1.0) << "seed " << seed;
    EXPECT_EQ(m.unbounded, 0u) << "seed " << seed;
  }
  EXPECT_GE(total / 20, 0.995);
  EXPECT_GE(perfect, 19);
}

TEST(Scenarios, HoldoverBoundGrowsWithTheDrift) {
  // One hour without any answer: the clock wanders (measured max 186 µs) and the bound widens
  // with it, so it still holds every second.
  const Metrics m = simulate("holdover");
  EXPECT_LT(m.max_offset, 400 * kUs);
  EXPECT_GE(m.bound_coverage, 0.9999);
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u) << "an hour-old measurement still bounds the clock, loosely";
}

TEST(Scenarios, SameSeedSameNumbers) {
  const Metrics a = simulate("lan", Servo::kKalman, 7);
  const Metrics b = simulate("lan", Servo::kKalman, 7);
  const Metrics c = simulate("lan", Servo::kKalman, 8);
  EXPECT_EQ(a.rms_offset, b.rms_offset);
  EXPECT_NE(a.rms_offset, c.rms_offset);
}

// ---- the maximum error, outside the model's assumptions (an hour each: 30 min after settling) ----

// 100 µs + exp(20 µs) up, 200 µs + exp(20 µs) down: the estimate is 50 µs off and must be.
TEST(Scenarios, AsymmetricPathStaysInsideTheMaximumError) {
  const Metrics m = simulate("asymmetric", Servo::kKalman, 1, 3600);
  EXPECT_NEAR(m.mean_offset, -50 * kUs, 5 * kUs);  // the error no client can see: 50 µs behind
  EXPECT_EQ(m.bound_coverage, 0) << "4 sd, the only bound before the maximum error, covers none of it";
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u);
  // Half the minimum round trip is 150 µs: the bound holds it and little more.
  EXPECT_LT(m.max_error_median, 1.25 * 150 * kUs + 4 * m.rms_offset);
}

TEST(Scenarios, ThermalStepsOf2PpmStayInsideTheMaximumError) {
  const Metrics m = simulate("thermal-2ppm", Servo::kKalman, 1, 3600);
  EXPECT_LT(m.bound_coverage, 0.9999) << "4 sd misses some (measured 98.8 %)";
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u);
  EXPECT_LT(m.max_error_median, 1.25 * 100 * kUs + 4 * m.rms_offset);  // measured 147 µs
}

// The server is 30 µs off UTC and announces a root distance of 50 µs.
TEST(Scenarios, UpstreamOffsetStaysInsideItsRootDistance) {
  const Metrics m = simulate("upstream-offset", Servo::kKalman, 1, 3600);
  EXPECT_NEAR(m.mean_offset, 30 * kUs, 5 * kUs);  // following the server, 30 µs ahead
  EXPECT_EQ(m.bound_coverage, 0) << "4 sd cannot know the server's own error";
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_EQ(m.unbounded, 0u);
  EXPECT_LT(m.max_error_median, 1.25 * (100 + 50) * kUs + 4 * m.rms_offset);  // measured 184 µs
}

}  // namespace
}  // namespace kairos::sim
