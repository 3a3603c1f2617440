// A PHC that another daemon (ptp4l) disciplines, read as a [[refclock]] of the system clock on a
// simulated PHC behind the same syscalls: it converges with its bound holding, TAI is turned
// into UTC by the leap-seconds list (and refused without one), the PHC is never adjusted, and an
// NTS source drops it when it lies.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <cmath>

#include "clock/sim_clock.hpp"
#include "daemon/clock_graph.hpp"
#include "hwts/sim_phc.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kEpoch = 1'700'000'000;  // 2023-11-14, TAI - UTC = 37

LeapSecondsList list_with_37() {
  LeapSecondsList list;
  list.entries = {{.utc = 1'483'228'800, .tai_utc = 37}};  // 2017-01-01
  list.expiry = kEpoch + 86400 * 100;
  return list;
}

struct ClockGraphRefclockTest : ::testing::Test {
  double t = 0;
  SimClock* system = nullptr;  // owned by the graph
  // The PHC ptp4l keeps: TAI (UTC + 37 s), 200 ns off true time, already locked (no drift).
  SimClock phc{"phc", [this] { return t; }, kEpoch + 37, 200e-9, 0, 500e-6};
  std::unique_ptr<SimPhc> sim;
  EventLoop loop = EventLoop::create().value();
  DaemonConfig config;
  std::unique_ptr<ClockGraph> graph;
  std::optional<std::size_t> nts;

  void make(bool tai, bool with_list, bool with_nts, bool steer = true) {
    if (!tai) phc = SimClock("phc", [this] { return t; }, kEpoch, 200e-9, 0, 500e-6);
    RefclockConfig ref;
    ref.name = "gm";
    ref.phc = "/dev/ptp3";
    ref.tai = tai;
    config.refclocks.push_back(ref);
    if (with_nts) config.sources.push_back(SourceConfig{.address = "nts.example", .nts = true});
    auto clock = std::make_unique<SimClock>("system", [this] { return t; }, kEpoch, -2e-3, -30e-6, 0.1);
    system = clock.get();
    sim = std::make_unique<SimPhc>(*system, phc, [this] { return t; }, SimPhcOptions{.path = "/dev/ptp3"});
    graph = std::make_unique<ClockGraph>(config, loop, std::move(clock), steer, [this] { return t; });
    if (with_list) graph->set_leap_seconds_list(list_with_37(), "/test/leap-seconds.list");
    if (with_nts) nts = graph->add_source("nts.example");
    auto added = graph->add_refclock(ref, [this] { return PhcDevice::open("/dev/ptp3", sim->syscalls()); });
    ASSERT_TRUE(added) << added.error().message;
  }

  // An NTS exchange with a perfect server over a 2 ms path, kernel stamps.
  NtpExchangeResult nts_sample() {
    NtpExchangeResult r;
    r.sample.offset = Duration::from_seconds(-system->offset_at(t));
    r.sample.delay = Duration::from_seconds(2e-3);
    r.sample.header.stratum = 1;
    r.sample.header.precision = -24;
    r.sample.header.leap = NtpLeap::kNone;
    r.sample.header.reference_id = 0x47505300;
    r.t1_source = r.t4_source = StampSource::kKernel;
    return r;
  }

  // Cross ticks every second, an NTS sample every 4 s; `each` after every second.
  void run(double until, const std::function<void()>& each = {}) {
    for (double next = std::floor(t) + 1; next <= until; next += 1) {
      t = next;
      graph->run_due_timers();
      graph->on_cross_tick();
      t = std::max(t, sim->cursor());
      if (nts && std::fmod(next, 4.0) == 0) graph->on_sample(*nts, nts_sample());
      if (each) each();
    }
  }

  RefclockStatus ref_status() const { return graph->refclock_statuses().at(0); }
};

TEST_F(ClockGraphRefclockTest, TaiPhcSteersTheSystemClockToUtcAndTheBoundHolds) {
  make(/*tai=*/true, /*with_list=*/true, /*with_nts=*/false);
  run(120);
  std::size_t outside = 0;
  run(600, [&] {
    const ClockStatus s = graph->system_status();
    if (std::abs(s.offset + system->offset_at(t)) > s.error_bound) ++outside;
  });
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  // UTC, not TAI: 37 s would be stepped in otherwise.
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
  EXPECT_NEAR(*system->frequency(), 30e-6, 0.1e-6);
  EXPECT_EQ(outside, 0u);
  EXPECT_LT(s.error_bound, 20e-6);
  ASSERT_EQ(s.sources.size(), 1u);
  EXPECT_EQ(s.sources[0].name, "gm");
  EXPECT_EQ(s.sources[0].state, SourceState::kCombined);
  const RefclockStatus r = ref_status();
  EXPECT_EQ(r.device, "/dev/ptp3");
  EXPECT_TRUE(r.problem.empty()) << r.problem;
  EXPECT_GE(r.readings, 600u);
  // Read only: opened without write access, never adjusted.
  EXPECT_EQ(sim->last_open_flags() & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(*phc.frequency(), 0.0);
  EXPECT_NEAR(phc.offset_at(t), 200e-9, 1e-9);  // (its TAI epoch is 37 s ahead)
  // A primary reference: our server announces stratum 1.
  auto state = graph->server_state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->stratum, 1);
}

TEST_F(ClockGraphRefclockTest, ObservingLearnsTheSystemClockFromThePhcWithoutAdjustingEither) {
  make(/*tai=*/true, /*with_list=*/true, /*with_nts=*/false, /*steer=*/false);
  run(600);
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  EXPECT_NEAR(s.offset, -system->offset_at(t), 1e-6);
  EXPECT_LT(std::abs(s.offset + system->offset_at(t)), s.error_bound);
  EXPECT_EQ(*system->frequency(), 0.0);
  EXPECT_EQ(*phc.frequency(), 0.0);
}

TEST_F(ClockGraphRefclockTest, UtcPhcNeedsNoLeapSecondsList) {
  make(/*tai=*/false, /*with_list=*/false, /*with_nts=*/false);
  run(300);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
}

TEST_F(ClockGraphRefclockTest, TaiPhcIsRefusedWhileTaiMinusUtcIsUnknown) {
  make(/*tai=*/true, /*with_list=*/false, /*with_nts=*/false);
  run(60);
  const RefclockStatus r = ref_status();
  EXPECT_NE(r.problem.find("TAI - UTC is unknown"), std::string::npos) << r.problem;
  EXPECT_EQ(r.unused, r.readings);
  EXPECT_GT(r.readings, 0u);
  EXPECT_FALSE(r.source.has_sample);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kUnsynchronized);
  EXPECT_EQ(*system->frequency(), 0.0);  // nothing steered it
  // The list arrives (SIGHUP): used from the next reading on.
  graph->set_leap_seconds_list(list_with_37(), "/test/leap-seconds.list");
  run(300);
  EXPECT_TRUE(ref_status().problem.empty());
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
}

TEST_F(ClockGraphRefclockTest, LyingPhcIsDroppedAndTheSystemClockFallsBackToNts) {
  make(/*tai=*/true, /*with_list=*/true, /*with_nts=*/true);
  run(300);
  ASSERT_EQ(ref_status().source.state, SourceState::kCombined);
  EXPECT_EQ(ref_status().source.guard, GuardState::kAgrees);
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);  // the PHC's precision while it agrees
  // ptp4l follows a rogue grandmaster: the PHC is 5 ms off from now on.
  ASSERT_TRUE(phc.step(5e-3));
  double worst = 0;
  run(t + 2);
  EXPECT_EQ(ref_status().source.state, SourceState::kDisagrees);
  EXPECT_TRUE(ref_status().source.guard == GuardState::kDisagrees);
  EXPECT_NEAR(*ref_status().source.disagreement, 5e-3, 1e-3);
  run(t + 300, [&] { worst = std::max(worst, std::abs(system->offset_at(t))); });
  // NTS steers: the lie never moved the system clock by more than NTS's own bound.
  EXPECT_LT(worst, 1e-3);
  EXPECT_EQ(ref_status().source.state, SourceState::kDisagrees);
  EXPECT_EQ(ref_status().source.guard_episodes, 1u);
  EXPECT_GT(ref_status().source.guard_rejected, 250u);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  // The grandmaster is fixed: it agrees again and steers.
  ASSERT_TRUE(phc.step(-5e-3));
  run(t + 120);
  EXPECT_EQ(ref_status().source.state, SourceState::kCombined);
  EXPECT_LT(std::abs(system->offset_at(t)), 5e-6);
}

}  // namespace
}  // namespace kairos
