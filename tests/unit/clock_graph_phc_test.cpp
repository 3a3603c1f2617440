// The daemon's PHC path on a simulated PHC: hardware-stamped NTP disciplines the NIC's clock,
// the system clock follows it (or the PHC follows the system clock), and the faults real PHCs
// show — a reset to 1970, a device that vanishes and returns — end in a relock, never in the
// system clock following a broken PHC.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "clock/sim_clock.hpp"
#include "daemon/clock_graph.hpp"
#include "hwts/sim_phc.hpp"

namespace kairos {
namespace {

constexpr int kIfindex = 7;

struct ClockGraphPhcTest : ::testing::Test {
  double t = 0;
  SimClock* system = nullptr;  // owned by the graph
  SimClock phc{"phc", [this] { return t; }, 1'700'000'000, 5e-3, 20e-6, 500e-6};
  std::unique_ptr<SimPhc> sim;
  EventLoop loop = EventLoop::create().value();
  DaemonConfig config;
  std::unique_ptr<ClockGraph> graph;
  std::size_t source = 0;

  SimPhcOptions phc_options;

  // `direct`: neither disciplined nor following; its NIC's stamps take the direct path.
  void make(bool steer, bool system_follows, bool phc_follows_system = false, bool direct = false) {
    InterfaceConfig eth0;
    eth0.name = "eth0";
    eth0.discipline_phc = !phc_follows_system && !direct;
    eth0.phc_follows_system = phc_follows_system;
    config.interfaces.push_back(eth0);
    if (system_follows) config.system_clock.follow = "eth0";
    auto clock = std::make_unique<SimClock>("system", [this] { return t; }, 1'700'000'000, -2e-3, -30e-6, 0.1);
    system = clock.get();
    sim = std::make_unique<SimPhc>(*system, phc, [this] { return t; }, phc_options);
    graph = std::make_unique<ClockGraph>(config, loop, std::move(clock), steer, [this] { return t; });
    const PhcAccess access = steer && !direct ? PhcAccess::kReadWrite : PhcAccess::kReadOnly;
    auto added = graph->add_phc(PhcPlan{.interface = "eth0",
                                        .ifindex = kIfindex,
                                        .discipline = !phc_follows_system && !direct,
                                        .follows_system = phc_follows_system,
                                        .convert = direct},
                                [this, access] { return PhcDevice::open("/dev/ptp0", sim->syscalls(), access); });
    ASSERT_TRUE(added) << added.error().message;
    source = graph->add_source("server");
  }

  // An exchange with a perfect server, stamped by the NIC (PHC time) or the kernel (system time).
  NtpExchangeResult sample(bool hardware) {
    SimClock& clock = hardware ? phc : *system;
    NtpExchangeResult r;
    r.sample.offset = Duration::from_seconds(-clock.offset_at(t));
    r.sample.delay = Duration::from_seconds(50e-6);
    r.sample.header.stratum = 1;
    r.sample.header.precision = -24;
    r.sample.header.leap = NtpLeap::kNone;
    r.sample.header.reference_id = 0x47505300;
    r.t1_source = r.t4_source = hardware ? StampSource::kHardware : StampSource::kKernel;
    r.phc_ifindex = hardware ? kIfindex : 0;
    return r;
  }

  // Runs from now to `until`: cross-timestamps every second, an NTP sample every 16 s.
  void run(double until, bool hardware = true, const std::function<void()>& each_second = {}) {
    for (double next = std::floor(t) + 1; next <= until; next += 1) {
      t = next;
      graph->run_due_timers();
      graph->on_cross_tick();
      t = std::max(t, sim->cursor());  // reading the PHC took time: the clocks were read up to there
      if (std::fmod(next, 16.0) == 0) graph->on_sample(source, sample(hardware));
      if (each_second) each_second();
    }
  }

  ClockStatus phc_status() const { return graph->clock_statuses().at(1); }
};

TEST_F(ClockGraphPhcTest, ObservingLearnsThePhcAndTheSystemClockThroughIt) {
  make(/*steer=*/false, /*system_follows=*/true);
  run(1200);
  const ClockStatus p = phc_status();
  EXPECT_EQ(p.name, "eth0 PHC (/dev/ptp0)");
  EXPECT_EQ(p.state, DisciplineState::kSynchronized);
  EXPECT_NEAR(p.offset, -phc.offset_at(t), 1e-6);
  EXPECT_LT(std::abs(p.offset + phc.offset_at(t)), p.error_bound);
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  EXPECT_EQ(s.follows, "eth0 PHC (/dev/ptp0)");
  EXPECT_NEAR(s.offset, -system->offset_at(t), 5e-6);
  EXPECT_LT(std::abs(s.offset + system->offset_at(t)), s.error_bound);
  // Observing: neither real clock was adjusted.
  EXPECT_EQ(*phc.frequency(), 0.0);
  EXPECT_EQ(*system->frequency(), 0.0);
  EXPECT_NEAR(phc.offset_at(t), 5e-3 + 20e-6 * t, 1e-9);
  // The server's stratum comes from the PHC's NTP source.
  auto state = graph->server_state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->stratum, 2);
}

TEST_F(ClockGraphPhcTest, SteeringBringsThePhcAndTheSystemClockToTrueTime) {
  make(/*steer=*/true, /*system_follows=*/true);
  run(1200);
  EXPECT_EQ(phc_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(phc.offset_at(t)), 1e-6);
  EXPECT_NEAR(*phc.frequency(), -20e-6, 0.1e-6);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(system->offset_at(t)), 5e-6);
  EXPECT_NEAR(*system->frequency(), 30e-6, 0.5e-6);
}

TEST_F(ClockGraphPhcTest, SystemSamplesAreUnusedWhileTheSystemClockFollowsThePhc) {
  make(/*steer=*/false, /*system_follows=*/true);
  t = 16;
  graph->on_sample(source, sample(/*hardware=*/false));
  EXPECT_EQ(graph->unused_samples(), 1u);
  EXPECT_EQ(graph->system_status().sources.size(), 1u);  // its only source is the PHC
}

TEST_F(ClockGraphPhcTest, ThePhcResetTo1970IsSteppedBackAndTheSystemClockNeverFollowsIt) {
  make(/*steer=*/true, /*system_follows=*/true);
  run(1200);
  ASSERT_LT(std::abs(phc.offset_at(t)), 1e-6);
  sim->reset_at(t + 0.5);
  double worst_system = 0;
  run(t + 3, true, [&] { worst_system = std::max(worst_system, std::abs(system->offset_at(t))); });
  // Detected and stepped back to the system clock's time at once.
  EXPECT_LT(std::abs(phc.offset_at(t)), 1e-3);
  EXPECT_NE(phc_status().state, DisciplineState::kSynchronized);
  run(t + 600, true, [&] { worst_system = std::max(worst_system, std::abs(system->offset_at(t))); });
  EXPECT_EQ(phc_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(phc.offset_at(t)), 1e-6);
  EXPECT_LT(worst_system, 50e-6);
}

TEST_F(ClockGraphPhcTest, AVanishedPhcIsUnsynchronizedAndRelocksWhenBack) {
  make(/*steer=*/false, /*system_follows=*/true);
  run(600);
  ASSERT_EQ(phc_status().state, DisciplineState::kSynchronized);
  sim->remove();
  run(t + 5);
  EXPECT_EQ(phc_status().state, DisciplineState::kUnsynchronized);
  EXPECT_TRUE(std::isinf(phc_status().error_bound));
  const std::size_t unused = graph->unused_samples();
  run(t + 32);
  EXPECT_GT(graph->unused_samples(), unused);  // hardware samples of a gone PHC reach no clock
  sim->restore();
  run(t + 600);
  EXPECT_EQ(phc_status().state, DisciplineState::kSynchronized);
  EXPECT_NEAR(phc_status().offset, -phc.offset_at(t), 1e-6);
}

TEST_F(ClockGraphPhcTest, ThePhcFollowsTheSystemClock) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/true);
  run(1200, /*hardware=*/false);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(system->offset_at(t)), 2e-6);
  const ClockStatus p = phc_status();
  EXPECT_EQ(p.follows, "system");
  EXPECT_EQ(p.state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(phc.offset_at(t) - system->offset_at(t)), 5e-6);
}

// chrony's hardware path: the NIC's stamps (PHC time, 5 ms off and 20 ppm fast) reach the system
// clock through a line fitted to cross-timestamps; the PHC is never adjusted.
TEST_F(ClockGraphPhcTest, DirectPathDisciplinesTheSystemClockThroughThePhcsTime) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/false, /*direct=*/true);
  run(1200);
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  EXPECT_EQ(s.follows, "");
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
  EXPECT_LT(std::abs(s.offset + system->offset_at(t)), s.error_bound);
  EXPECT_NEAR(*system->frequency(), 30e-6, 0.1e-6);
  // Only read: the PHC runs as it was made.
  EXPECT_EQ(*phc.frequency(), 0.0);
  EXPECT_NEAR(phc.offset_at(t), 5e-3 + 20e-6 * t, 1e-9);
  EXPECT_EQ(graph->unused_samples(), 0u);  // the first sample (t = 16 s) finds the line made
}

// The NTP server's hardware stamps (issue 24 item 4): the direct path's line, as the graph gives
// it whenever it may have changed, maps a PHC reading to the system clock's at the same instant,
// between cross-timestamps and across the steering of the system clock.
TEST_F(ClockGraphPhcTest, DirectPathsLineMapsThePhcsTimeToTheSystemClocksForTheServer) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/false, /*direct=*/true);
  std::size_t changes = 0;
  graph->on_lines_changed([&] { ++changes; });
  EXPECT_TRUE(graph->phc_lines().empty()) << "no cross-timestamp yet";
  double worst = 0;
  std::size_t checked = 0;
  run(600, true, [&] {
    if (t < 3) return;  // two cross-timestamps make the first line
    const auto lines = graph->phc_lines();
    ASSERT_EQ(lines.size(), 1u) << t;
    EXPECT_EQ(lines[0].first, kIfindex);
    t += 0.4;  // a NIC stamp between two cross-timestamps
    const timespec phc_now = *phc.now();
    const timespec system_now = *system->now();
    const auto converted = lines[0].second.to_system(phc_now);
    ASSERT_TRUE(converted) << t;
    const double error = static_cast<double>(converted->tv_sec - system_now.tv_sec) +
                         static_cast<double>(converted->tv_nsec - system_now.tv_nsec) * 1e-9;
    worst = std::max(worst, std::abs(error));
    ++checked;
  });
  EXPECT_GT(checked, 590u);
  EXPECT_LT(worst, 200e-9);  // the cross-timestamps' readout jitter is 100 ns each way
  EXPECT_GE(changes, 600u);  // every cross-timestamp, and every change of the system clock's steering
  // Without cross-timestamps the line goes stale: a stamp far past them finds none.
  t += 60;
  const auto stale = graph->phc_lines();
  EXPECT_TRUE(stale.empty() || !stale[0].second.to_system(*phc.now()));
}

// A PHC that refuses adjustment (clknetsim's reference PHC, a read-only driver) once took the
// steering silently: the system clock followed it and was stepped as far off as the PHC was,
// while reporting itself synchronized.
TEST_F(ClockGraphPhcTest, APhcThatRefusesAdjustmentIsOnlyReadAndTheSystemClockTakesTheDirectPath) {
  phc_options.refuse_adjustment = true;
  make(/*steer=*/true, /*system_follows=*/true);
  run(1200);
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  EXPECT_EQ(s.follows, "");
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
  EXPECT_EQ(*phc.frequency(), 0.0);
  EXPECT_NEAR(phc.offset_at(t), 5e-3 + 20e-6 * t, 1e-9);
  EXPECT_NE(phc_status().state, DisciplineState::kSynchronized);
}

TEST_F(ClockGraphPhcTest, APhcThatStopsTakingChangesIsNoticedAndTheSystemClockStaysRight) {
  make(/*steer=*/true, /*system_follows=*/true);
  run(600);
  ASSERT_EQ(phc_status().state, DisciplineState::kSynchronized);
  ASSERT_EQ(graph->system_status().follows, "eth0 PHC (/dev/ptp0)");
  sim->refuse_adjustment();
  double worst_system = 0;
  run(t + 1200, true, [&] { worst_system = std::max(worst_system, std::abs(system->offset_at(t))); });
  const ClockStatus s = graph->system_status();
  EXPECT_EQ(s.state, DisciplineState::kSynchronized);
  EXPECT_EQ(s.follows, "");
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
  EXPECT_LT(worst_system, 50e-6);
}

// Another program steps the system clock while the direct path converts through the PHC: the
// line's points from before the step once stayed, and the next samples were converted by a line
// bent across the step (the model, its offset forgotten, took them as they came).
TEST_F(ClockGraphPhcTest, AForeignStepStartsTheDirectPathsLineAgain) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/false, /*direct=*/true);
  run(600);
  ASSERT_LT(std::abs(system->offset_at(t)), 1e-6);
  t += 0.5;
  ASSERT_TRUE(system->step(0.25));  // by someone else: the graph hears only that the clock was set
  graph->on_realtime_set();
  run(t + 2);  // two cross-timestamps after the step
  graph->on_sample(source, sample(/*hardware=*/true));
  const ClockStatus s = graph->system_status();
  EXPECT_NEAR(s.offset, -system->offset_at(t), 2e-6);
}

// PTP with hardware stamps (issue 23 item 2): a [[ptp]] port's measurements in the PHC's time,
// every second from a perfect grandmaster with 20 ns of stamp noise, as ptp_source gives them.
struct ClockGraphPtpTest : ClockGraphPhcTest {
  std::size_t port = 0;
  std::mt19937 random{7};
  std::optional<int> tai_utc;  // what the master announces

  void add_port(bool hardware) {
    port = graph->add_guarded_source("ptp:eth0", SourceOptions{.name = "ptp:eth0", .preferred = true}, 0x50545000,
                                     hardware);
  }
  Measurement ptp(bool hardware) {
    std::normal_distribution<double> noise(0, 20e-9);
    Measurement m;
    m.time = t;
    m.offset = -(hardware ? phc : *system).offset_at(t) + noise(random);
    m.delay = 2e-6;
    m.precision = 30e-9;
    m.root_dispersion = 1e-6;
    m.tai_utc = tai_utc;
    return m;
  }
  void run_ptp(double until, bool hardware) {
    for (double next = std::floor(t) + 1; next <= until; next += 1) {
      t = next;
      graph->run_due_timers();
      graph->on_cross_tick();
      t = std::max(t, sim->cursor());
      graph->on_system_measurement(port, ptp(hardware), hardware ? kIfindex : 0);
    }
  }
};

// ptp4l + phc2sys's roles in one model: PTP disciplines the NIC's PHC, the system clock follows.
TEST_F(ClockGraphPtpTest, HardwareStampedPtpDisciplinesThePhcAndTheSystemClockFollows) {
  make(/*steer=*/true, /*system_follows=*/true);
  add_port(/*hardware=*/true);
  run_ptp(600, /*hardware=*/true);
  EXPECT_EQ(graph->unused_samples(), 0u);
  EXPECT_EQ(phc_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(phc.offset_at(t)), 0.2e-6);
  EXPECT_NEAR(*phc.frequency(), -20e-6, 0.05e-6);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(system->offset_at(t)), 5e-6);
  // The port's status is its part in the PHC's selection: selected there.
  const auto status = graph->system_source_status(port);
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->has_sample);
  EXPECT_TRUE(status->selected);
}

// No PHC disciplined: the NIC's stamps reach the system clock through the PHC's line.
TEST_F(ClockGraphPtpTest, HardwareStampedPtpTakesTheDirectPathToTheSystemClock) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/false, /*direct=*/true);
  add_port(/*hardware=*/true);
  run_ptp(600, /*hardware=*/true);
  EXPECT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_LT(std::abs(system->offset_at(t)), 1e-6);
  EXPECT_EQ(*phc.frequency(), 0.0);  // only read
  EXPECT_LE(graph->unused_samples(), 2u);  // before two cross-timestamps made the line
}

// NTS guards a hardware-stamped port in the PHC's model: a grandmaster 1 ms off, against an NTS
// source stamped by the same NIC, is not selectable, and the PHC keeps the NTS source's time.
TEST_F(ClockGraphPtpTest, ALyingHardwareStampedPortIsDroppedInThePhcsModel) {
  config.sources.push_back(SourceConfig{.address = "server", .nts = true});
  make(/*steer=*/true, /*system_follows=*/true);
  add_port(/*hardware=*/true);
  for (double next = 1; next <= 900; next += 1) {
    t = next;
    graph->run_due_timers();
    graph->on_cross_tick();
    t = std::max(t, sim->cursor());
    if (std::fmod(next, 16.0) == 0) graph->on_sample(source, sample(/*hardware=*/true));
    Measurement lie = ptp(/*hardware=*/true);
    lie.offset += 1e-3;
    graph->on_system_measurement(port, lie, kIfindex);
  }
  const auto status = graph->system_source_status(port);
  ASSERT_TRUE(status);
  EXPECT_EQ(status->guard, GuardState::kDisagrees);
  EXPECT_FALSE(status->selected);
  EXPECT_LT(std::abs(phc.offset_at(t)), 20e-6);
}

// Issue 23 item 2: with no leap-seconds list, the kernel's TAI offset is the PTP master's
// currentUtcOffset; the system clock keeps UTC and CLOCK_TAI is right.
TEST_F(ClockGraphPtpTest, TheMastersUtcOffsetSetsTheKernelsTaiOffsetWithoutAList) {
  make(/*steer=*/true, /*system_follows=*/false, /*phc_follows_system=*/false, /*direct=*/true);
  add_port(/*hardware=*/true);
  tai_utc = 37;
  run_ptp(60, /*hardware=*/true);
  ASSERT_EQ(graph->system_status().state, DisciplineState::kSynchronized);
  EXPECT_EQ(system->tai_offset(), 37);
}

// Kernel-stamped PTP is of the system clock, which here follows the PHC: counted, never used.
TEST_F(ClockGraphPtpTest, SoftwareStampedPtpIsUnusedWhileTheSystemClockFollowsThePhc) {
  make(/*steer=*/false, /*system_follows=*/true);
  add_port(/*hardware=*/false);
  t = 1;
  graph->on_system_measurement(port, ptp(/*hardware=*/false), 0);
  EXPECT_EQ(graph->unused_samples(), 1u);
}

}  // namespace
}  // namespace kairos
