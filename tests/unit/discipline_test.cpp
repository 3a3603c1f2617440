#include "clock/discipline.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "clock/leap_seconds_list.hpp"
#include "clock/ntp_time.hpp"
#include "clock/sim_clock.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kEpoch = 1798761600;  // 2027-01-01 00:00:00 UTC
// Readings start 200 s before 2027-01-01 00:00:00: a leap point at 200 is the end of Dec 31.
constexpr std::int64_t kLeapDayEpoch = kEpoch - 200;
constexpr double kPrecision = 1e-6;

// One disciplined SimClock and synthetic NTP exchanges with servers whose clocks are a given
// offset from true time. The model's time axis is true time, as in the simulator.
struct World {
  double now = 0;
  SimClock clock;
  Discipline discipline;
  std::mt19937_64 rng;
  double base_delay = 1e-3;  // round trip without queueing
  double jitter = 20e-6;     // mean queueing per direction (exponential)
  double extra_up = 0;       // a path longer one way than the other (asymmetric)
  double root_delay = 0;     // what the server announces
  double root_dispersion = 0;

  World(double initial_offset, double oscillator, DisciplineOptions options = {}, std::uint64_t seed = 1,
        std::int64_t epoch = kEpoch)
      : clock("sim", [this] { return now; }, epoch, initial_offset, oscillator, 500e-6),
        discipline(clock, options),
        rng(seed) {}

  // Moves true time on to t, ending slews on the way as a daemon's timer would.
  void advance_to(double t) {
    while (std::optional<double> when = discipline.next_timer()) {
      if (*when > t) break;
      now = std::max(now, *when);
      discipline.on_timer(now);
      if (discipline.next_timer() == when) break;  // a timer that does not end itself
    }
    now = std::max(now, t);
    // A SimClock integrates lazily; reading it makes leap points on the way take effect.
    (void)clock.reading_at(now);
  }

  double queueing() { return jitter > 0 ? std::exponential_distribution<double>(1 / jitter)(rng) : 0; }

  // An exchange answered now by a server `server_offset` ahead of true time. The NTP offset is
  // the server minus us, off by half the difference of the two directions' delays.
  Measurement exchange(double server_offset, Leap leap = Leap::kNone) {
    const double up = base_delay / 2 + extra_up + queueing();
    const double down = base_delay / 2 + queueing();
    Measurement m;
    m.time = now;
    m.offset = server_offset - clock.offset_at(now) + (up - down) / 2;
    m.delay = up + down;
    m.root_delay = root_delay;
    m.root_dispersion = root_dispersion;
    m.precision = kPrecision;
    m.leap = leap;
    return m;
  }

  void measure(std::size_t source, double server_offset = 0, Leap leap = Leap::kNone) {
    discipline.on_measurement(source, exchange(server_offset, leap), now);
  }

  // True time minus the clock's reading: what ClockError claims to know.
  double true_error() { return -clock.offset_at(now); }
};

DisciplineOptions with_step_mode(StepMode mode) {
  DisciplineOptions o;
  o.step_mode = mode;
  return o;
}

TEST(Discipline, FirstLargeOffsetIsSteppedAtStart) {
  World w(0.5, 0, with_step_mode(StepMode::kStartOnly));
  const std::size_t s = w.discipline.add_source({.name = "a"});
  EXPECT_FALSE(w.discipline.synchronized());
  w.advance_to(1);
  w.measure(s);
  EXPECT_EQ(w.discipline.steps(), 1u);
  EXPECT_TRUE(w.discipline.synchronized());
  // What is left is the measurement's error: half the difference of two ~20 µs queueing delays.
  EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 200e-6);
}

TEST(Discipline, NeverModeSlewsAtMostMaxSlew) {
  DisciplineOptions o = with_step_mode(StepMode::kNever);
  World w(0.5, 0, o);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.advance_to(1);
  w.measure(s);
  EXPECT_EQ(w.discipline.steps(), 0u);
  // Half a second to remove: the slew is clamped to max_slew (500 ppm, also the device's limit).
  EXPECT_NEAR(w.discipline.applied_frequency(), -o.max_slew, 1e-12);
  w.advance_to(11);
  EXPECT_NEAR(w.clock.offset_at(w.now), 0.5 - 10 * o.max_slew, 1e-9);
}

TEST(Discipline, SmallOffsetIsSlewedNotStepped) {
  World w(0.005, 0, with_step_mode(StepMode::kAlways));
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.advance_to(1);
  w.measure(s);
  // 5 ms is under the 10 ms step threshold, even in kAlways: slewed away (we are ahead, so the
  // clock is slowed) at the largest rate, since one sample gives no poll interval to spread it over.
  EXPECT_EQ(w.discipline.steps(), 0u);
  EXPECT_NEAR(w.discipline.applied_frequency(), -DisciplineOptions{}.max_slew, 1e-12);
}

// After a few minutes of 2 s polls, the server's clock jumps 50 ms: the model calls the first
// samples outliers and, after max_outliers in a row, takes the new offset.
std::size_t steps_after_server_jump(StepMode mode, double& final_offset) {
  World w(0.002, 20e-6, with_step_mode(mode), 5);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  double server = 0;
  for (int i = 1; i <= 300; ++i) {
    if (i == 100) server = 0.05;
    w.advance_to(2.0 * i);
    w.measure(s, server);
  }
  final_offset = w.clock.offset_at(w.now) - server;
  return w.discipline.steps();
}

TEST(Discipline, StartOnlyNeverStepsOnceSynchronised) {
  double final_offset = 0;
  EXPECT_EQ(steps_after_server_jump(StepMode::kStartOnly, final_offset), 0u);
  // 50 ms slewed at up to 500 ppm takes 100 s; 400 s later the clock follows the server.
  EXPECT_LT(std::abs(final_offset), 1e-3);
}

TEST(Discipline, AlwaysStepsALaterLargeOffset) {
  double final_offset = 0;
  EXPECT_EQ(steps_after_server_jump(StepMode::kAlways, final_offset), 1u);
  EXPECT_LT(std::abs(final_offset), 1e-3);
}

TEST(Discipline, SecondMeasurementCancelsOscillatorFrequency) {
  World w(0, 100e-6);
  w.jitter = 1e-6;
  w.base_delay = 20e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.advance_to(1);
  w.measure(s);
  w.advance_to(5);
  w.measure(s);
  // The slew that removes the 400 µs gathered meanwhile ends at the next poll (4 s later);
  // then only the frequency remains.
  w.advance_to(10);
  EXPECT_FALSE(w.discipline.next_timer());
  // Two samples 4 s apart whose errors are ~1 µs: the frequency is known to ~0.5 ppm.
  EXPECT_NEAR(w.discipline.applied_frequency(), -100e-6, 5e-6);
  EXPECT_NEAR(w.clock.rate_error(), 0, 5e-6);
  // The offset is gone too: ~1 µs of measurement error plus 0.5 ppm over 5 s.
  EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 20e-6);
}

TEST(Discipline, FalsetickerIsNotSelected) {
  World w(0, 10e-6, {}, 3);
  const std::size_t good1 = w.discipline.add_source({.name = "good1"});
  const std::size_t good2 = w.discipline.add_source({.name = "good2"});
  const std::size_t bad = w.discipline.add_source({.name = "bad"});
  // All three are polled together every 16 s, as a daemon does; the falseticker happens to
  // answer first, so the start must wait for a majority.
  const double poll = 16;
  for (double t = 1; t < 2000; t += poll) {
    w.advance_to(t);
    w.measure(bad, 0.010);
    w.advance_to(t + 0.001);
    w.measure(good1);
    w.advance_to(t + 0.002);
    w.measure(good2);
    ASSERT_FALSE(w.discipline.sources()[bad].selected) << "t = " << t;
    ASSERT_TRUE(w.discipline.sources()[good1].selected) << "t = " << t;
    ASSERT_TRUE(w.discipline.sources()[good2].selected) << "t = " << t;
    ASSERT_TRUE(w.discipline.synchronized()) << "t = " << t;
    // 10 ppm of drift over a poll is 160 µs; following the falseticker would be 10 ms.
    for (double s = 0.5; s < poll; s += 0.5) {
      w.advance_to(t + s);
      ASSERT_LT(std::abs(w.clock.offset_at(w.now)), 1e-3) << "t = " << w.now;
    }
  }
  EXPECT_NEAR(w.discipline.sources()[bad].last_offset, 0.010, 1e-3);
  // Settled: a few measurement errors (~15 µs each) at most.
  EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 50e-6);
}

// 2 agreeing falsetickers of 5 that answer first, with 1 honest source: they are a majority of
// those that answered, not of the sources. The start waits for the other honest two.
// (hardening.falsetickers caught kairosd synchronized to the liars, 0.2 s off, for a moment.)
TEST(Discipline, AgreeingFalsetickersThatAnswerFirstDoNotStartTheModel) {
  World w(0, 10e-6, {}, 5);
  std::vector<std::size_t> honest;
  std::vector<std::size_t> liars;
  for (int i = 0; i < 3; ++i) honest.push_back(w.discipline.add_source({.name = "honest"}));
  for (int i = 0; i < 2; ++i) liars.push_back(w.discipline.add_source({.name = "liar"}));
  w.advance_to(1);
  w.measure(liars[0], 0.2);
  w.measure(liars[1], 0.2);
  w.measure(honest[0]);
  EXPECT_FALSE(w.discipline.synchronized());
  EXPECT_FALSE(w.discipline.sources()[liars[0]].selected);
  w.advance_to(1.01);
  w.measure(honest[1]);
  EXPECT_FALSE(w.discipline.synchronized()) << "2 against 2 is no majority either";
  w.advance_to(1.02);
  w.measure(honest[2]);
  ASSERT_TRUE(w.discipline.synchronized());
  for (std::size_t i : honest) EXPECT_TRUE(w.discipline.sources()[i].selected);
  for (std::size_t i : liars) EXPECT_FALSE(w.discipline.sources()[i].selected);
  EXPECT_LT(std::abs(w.discipline.error(w.now).offset), 1e-3);
}

TEST(Discipline, ErrorIsUnknownBeforeTheFirstMeasurement) {
  World w(0, 0);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  EXPECT_TRUE(std::isinf(w.discipline.error(0).sd));
  EXPECT_TRUE(std::isinf(w.discipline.error(100).sd));
  w.advance_to(1);
  w.jitter = 0;
  w.measure(s);
  // One sample: its variance is precision² + (delay/2)²/12 (SourceFilter), nothing else yet.
  const double delay = w.base_delay;
  const double first_sd = std::sqrt(kPrecision * kPrecision + delay * delay / 48);
  EXPECT_NEAR(w.discipline.error(w.now).sd, first_sd, 1e-9 * first_sd);
  // Without measurements it grows; after one sample the frequency is only known to the prior
  // (1e-3), so dt seconds later the offset is uncertain by at least dt·1e-3.
  double previous = first_sd;
  for (double dt : {1.0, 10.0, 100.0, 1000.0}) {
    const double sd = w.discipline.error(w.now + dt).sd;
    EXPECT_GT(sd, previous) << dt;
    EXPECT_GE(sd, dt * DisciplineOptions{}.kalman.initial_frequency_sd) << dt;
    previous = sd;
  }
}

TEST(Discipline, ErrorGrowsWithoutMeasurements) {
  World w(0.003, 10e-6, {}, 9);
  (void)w.discipline.add_source({.name = "a"});
  for (double t = 1; t < 1000; t += 16) {
    w.advance_to(t);
    w.measure(0);
  }
  double previous = w.discipline.error(w.now).sd;
  EXPECT_TRUE(std::isfinite(previous));
  for (double dt : {10.0, 100.0, 1000.0, 10000.0}) {
    const double sd = w.discipline.error(w.now + dt).sd;
    EXPECT_GT(sd, previous) << dt;
    previous = sd;
  }
}

// Interleaved NTP: each sample describes the exchange one poll earlier. Delivered a poll late,
// the same exchanges must steer the clock about as well as on time: the model relates each to
// now through the corrections made since (the start's step included), instead of removing a
// poll-old offset again and oscillating.
struct LagRun {
  double rms = 0;  // true error over the second half
  std::size_t steps = 0;
  std::size_t too_old = 0;
};

LagRun run_with_lag(bool late) {
  World w(0.05, 50e-6, {}, 23);
  w.jitter = 50e-9;
  w.base_delay = 200e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  std::optional<Measurement> previous;
  double sum = 0;
  int n = 0;
  for (int k = 1; k <= 400; ++k) {
    w.advance_to(k);
    const Measurement m = w.exchange(0);  // taken before this poll's corrections
    if (!late) {
      w.discipline.on_measurement(s, m, w.now);
    } else if (previous) {
      w.discipline.on_measurement(s, *previous, w.now);
    }
    previous = m;
    w.advance_to(k + 0.5);
    if (k > 200) {
      sum += w.true_error() * w.true_error();
      ++n;
    }
  }
  return LagRun{.rms = std::sqrt(sum / n), .steps = w.discipline.steps(), .too_old = w.discipline.too_old()};
}

TEST(Discipline, MeasurementsOnePollLateSteerLikeOnTime) {
  const LagRun on_time = run_with_lag(false);
  const LagRun late = run_with_lag(true);
  EXPECT_EQ(late.steps, 1u);
  EXPECT_EQ(late.too_old, 0u);
  // ~35 ns of measurement noise per poll, averaged down to a few ns; a second more of
  // extrapolation costs little.
  EXPECT_LT(on_time.rms, 100e-9);
  EXPECT_LT(late.rms, 1.5 * on_time.rms) << "on time " << on_time.rms;
}

TEST(Discipline, ErrorBoundContainsTheTrueError) {
  // Every second of a long run, true time minus the reading must lie within the claimed
  // offset ± 4 sd (bound_sigmas: 99.994 % if the sd is honest). Seconds within one poll share
  // the same measurement error, so count polls: of the ~240 checked, an honest sd (6e-5 per
  // poll outside 4 sd) leaves one outside with probability ~1.5 %, two with ~1e-4.
  World w(0.003, 10e-6, {}, 17);
  (void)w.discipline.add_source({.name = "a"});
  int polls_outside = 0;
  double worst = 0;
  const double poll = 16;
  for (double t = 1; t < 4000; t += poll) {
    w.advance_to(t);
    w.measure(0);
    if (t < 100) continue;
    bool outside = false;
    for (double s = 0; s < poll; s += 1) {
      w.advance_to(t + s);
      const ClockError e = w.discipline.error(w.now);
      const double z = std::abs(w.true_error() - e.offset) / e.sd;
      worst = std::max(worst, z);
      outside = outside || z > DisciplineOptions{}.bound_sigmas;
    }
    polls_outside += outside;
  }
  EXPECT_LE(polls_outside, 1) << "worst " << worst << " sd";
}

TEST(Discipline, ForeignStepMakesTheErrorUnknownAndIsUndone) {
  World w(0.003, 10e-6, {}, 9);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  for (double t = 1; t < 500; t += 16) {
    w.advance_to(t);
    w.measure(s);
  }
  const std::size_t steps = w.discipline.steps();
  w.advance_to(w.now + 5);
  ASSERT_TRUE(w.clock.step(1.0));  // somebody else sets the clock
  w.discipline.on_clock_stepped(w.now);
  // The offset could now be anything up to the panic threshold.
  EXPECT_GE(w.discipline.error(w.now).sd, kUnknownOffset * (1 - 1e-9));
  w.advance_to(w.now + 1);
  w.measure(s);
  // As at start, the policy may step it back.
  EXPECT_EQ(w.discipline.steps(), steps + 1);
  EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 200e-6);
  EXPECT_LT(w.discipline.error(w.now).sd, 1e-3);
}

TEST(Discipline, FollowerErrorAddsLeaderErrorInQuadrature) {
  World w(0, 0);
  const std::size_t s = w.discipline.add_source({.name = "phc"});
  const ClockError leader{.offset = 0.002, .sd = 3e-6};
  w.discipline.set_reference_error([&](double) { return leader; });
  EXPECT_TRUE(std::isinf(w.discipline.error(0).sd));
  w.advance_to(1);
  w.measure(s);
  for (double t : {w.now, w.now + 10, w.now + 1000}) {
    const KalmanEstimate own = w.discipline.model().estimate_at(t);
    const ClockError e = w.discipline.error(t);
    EXPECT_NEAR(e.sd, std::hypot(std::sqrt(own.offset_variance), leader.sd), 1e-12 * e.sd) << t;
    EXPECT_NEAR(e.offset, -own.offset + leader.offset, 1e-15) << t;
  }
}

// The system clock (30 ppm off) following a PHC through cross-timestamps (10 ns of noise, or
// none), every second for two minutes; then it is half a second to the next one.
struct FollowerRun {
  double now = 0;
  SimClock phc{"phc", [this] { return now; }, kEpoch, 0, 0, 500e-6};
  SimClock system{"system", [this] { return now; }, kEpoch, 0.001, 30e-6, 500e-6};
  Discipline follower{system, {}};
  std::size_t s = follower.add_source({.name = "phc"});
  std::mt19937_64 rng{4};
  double noise_sd;

  explicit FollowerRun(double noise = 10e-9) : noise_sd(noise) {
    for (double t = 1; t <= 120; t += 1) {
      advance_to(t);
      cross_timestamp();
    }
    advance_to(120.5);
  }
  void cross_timestamp() {
    std::normal_distribution<double> noise(0, noise_sd);
    Measurement m;
    m.time = now;
    m.offset = phc.reading_at(now) - system.reading_at(now) + (noise_sd > 0 ? noise(rng) : 0.0);
    m.delay = 100e-9;
    m.precision = 10e-9;
    follower.on_measurement(s, m, now);
  }
  void advance_to(double t) {
    while (std::optional<double> when = follower.next_timer()) {
      if (*when > t) break;
      now = std::max(now, *when);
      follower.on_timer(now);
      if (follower.next_timer() == when) break;
    }
    now = t;
  }
};

TEST(Discipline, ReferenceFrequencyChangeKeepsFollowerConsistent) {
  // Then the PHC's own servo changes the PHC's frequency by 50 ppm and tells the follower.
  FollowerRun run;
  auto& [now, phc, system, follower, s, rng, noise_sd] = run;
  auto cross_timestamp = [&] { run.cross_timestamp(); };
  auto advance_to = [&](double t) { run.advance_to(t); };
  const double change_time = now;
  const ClockError before = follower.error(change_time);
  ASSERT_TRUE(phc.set_frequency(50e-6));
  follower.on_reference_frequency_change(change_time, 50e-6);
  // A known change of the reference's rate moves nothing at the instant it happens.
  const ClockError after = follower.error(change_time);
  EXPECT_NEAR(after.offset, before.offset, 1e-15);
  // Ten seconds on, without a measurement, the follower's prediction has followed the PHC's
  // new rate (and so has its clock, AFollowerFollowsItsLeadersRateChangeAtOnce), to a few sd.
  advance_to(change_time + 10);
  const KalmanEstimate predicted = follower.model().estimate_at(now);
  const double truth = system.reading_at(now) - phc.reading_at(now);  // the model's sign
  const double sd = std::sqrt(predicted.offset_variance);
  EXPECT_LT(sd, 10e-6);
  EXPECT_NEAR(predicted.offset, truth, 5 * sd + 50e-9);
  // So the next cross-timestamp fits the prediction and is used.
  cross_timestamp();
  EXPECT_LT(std::abs(follower.sources()[s].residual), 5 * sd + 50e-9);
  EXPECT_TRUE(follower.sources()[s].selected);
}

// The leader's rate change is known at once and followed at once: ten seconds after the PHC
// speeds up by 50 ppm, with no measurement in between, the system clock has not parted from it
// (it would have by 500 µs keeping its rate until the next cross-timestamp).
TEST(Discipline, AFollowerFollowsItsLeadersRateChangeAtOnce) {
  FollowerRun run(/*noise=*/0);
  ASSERT_EQ(run.follower.state(), DisciplineState::kSynchronized);
  ASSERT_TRUE(run.phc.set_frequency(50e-6));
  run.follower.on_reference_frequency_change(run.now, 50e-6);
  const double apart = run.system.reading_at(run.now) - run.phc.reading_at(run.now);
  run.advance_to(run.now + 10);
  EXPECT_LT(std::abs(run.system.reading_at(run.now) - run.phc.reading_at(run.now) - apart), 1e-6);
}

TEST(Discipline, ReferenceStepKeepsFollowerConsistent) {
  World w(0, 0);
  w.jitter = 1e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  for (double t = 1; t <= 100; t += 1) {
    w.advance_to(t);
    w.measure(s);
  }
  w.advance_to(100.5);
  const ClockError before = w.discipline.error(w.now);
  // The reference stepped forward 1 ms: our clock is now 1 ms further behind it.
  w.discipline.on_reference_step(w.now, 1e-3);
  EXPECT_NEAR(w.discipline.error(w.now).offset, before.offset + 1e-3, 1e-12);
}

TEST(Discipline, LeapAnnouncedBySourcesArmsTheDevice) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kInsert);
  }
  EXPECT_EQ(w.clock.leaps(), 0);
  w.advance_to(199.9);
  EXPECT_EQ(w.clock.leaps(), 0);
  w.advance_to(200.5);
  EXPECT_EQ(w.clock.leaps(), 1);
  EXPECT_NEAR(w.clock.reading_at(w.now), 199.5, 1e-3);
}

TEST(Discipline, LeapAnnouncedBeforeTheMonthsLastDayIsNotArmed) {
  // Readings on 2027-01-01: a server announcing all month long must not make us leap tonight.
  World w(0, 0);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kInsert);
  }
  EXPECT_EQ(w.discipline.leap(), Leap::kInsert);
  EXPECT_EQ(w.discipline.armed_leap(), Leap::kNone);
  w.advance_to(200.5);
  EXPECT_EQ(w.clock.leaps(), 0);
}

TEST(Discipline, LastDayOfMonthIsTheLeapDay) {
  EXPECT_TRUE(last_day_of_month(kEpoch - 1));           // 2026-12-31 23:59:59
  EXPECT_FALSE(last_day_of_month(kEpoch));              // 2027-01-01 00:00:00
  EXPECT_TRUE(last_day_of_month(1782777600));           // 2026-06-30 00:00:00
  EXPECT_FALSE(last_day_of_month(1782777599));          // 2026-06-29 23:59:59
  EXPECT_TRUE(last_day_of_month(1709164800));           // 2024-02-29 00:00:00 (leap year)
  EXPECT_TRUE(last_day_of_month(1677542400));           // 2023-02-28 00:00:00
  EXPECT_FALSE(last_day_of_month(1677542400 - 86400));  // 2023-02-27 00:00:00
}

TEST(Discipline, WithdrawnLeapAnnouncementDisarmsTheDevice) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, t < 50 ? Leap::kInsert : Leap::kNone);
  }
  w.advance_to(201);
  EXPECT_EQ(w.clock.leaps(), 0);
}

TEST(Discipline, LeapAnnouncedByAMinorityIsIgnored) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  for (const char* name : {"a", "b", "c"}) (void)w.discipline.add_source({.name = name});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    for (std::size_t i = 0; i < 3; ++i) {
      w.advance_to(t + static_cast<double>(i));
      w.measure(i, 0, i == 0 ? Leap::kInsert : Leap::kNone);
    }
  }
  w.advance_to(201);
  EXPECT_EQ(w.clock.leaps(), 0);
}

// A leap-seconds.list whose last line is `last` (NTP seconds, TAI - UTC), expiring at `expiry`.
LeapSecondsList leap_list(const std::string& last, std::int64_t expiry_unix) {
  const std::string text = "#@ " + std::to_string(expiry_unix + kNtpUnixOffset) + "\n3644697600 36\n3692217600 37\n" + last;
  auto list = parse_leap_seconds_list(text, "test");
  EXPECT_TRUE(list) << list.error().message;
  return *list;
}
// 2027-01-01 in NTP seconds: a leap second at the end of 2026-12-31, invented for the tests.
const std::string k2027Leap = std::to_string(kEpoch + kNtpUnixOffset) + " 38\n";

TEST(Discipline, ALeapInTheListIsArmedThoughNoSourceAnnouncesIt) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  w.discipline.set_leap_seconds_list(leap_list(k2027Leap, kEpoch + 180 * 86400));
  // TAI - UTC from the list at once, before any measurement.
  EXPECT_EQ(w.clock.tai_offset(), 37);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kNone);
  }
  EXPECT_EQ(w.discipline.armed_leap(), Leap::kInsert);
  EXPECT_EQ(w.discipline.outvoted_leap(), Leap::kNone);
  ASSERT_TRUE(w.discipline.armed_leap_event());
  EXPECT_EQ(w.discipline.armed_leap_event()->utc, kEpoch);
  w.advance_to(200.5);
  EXPECT_EQ(w.clock.leaps(), 1);
  // After the leap: disarmed, the event remembered (for a smearing server), TAI - UTC one more.
  for (double t = 210; t <= 300; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kNone);
  }
  EXPECT_EQ(w.discipline.armed_leap(), Leap::kNone);
  ASSERT_TRUE(w.discipline.armed_leap_event());
  EXPECT_EQ(w.clock.tai_offset(), 38);
  EXPECT_EQ(w.discipline.tai_offset(), 38);
}

TEST(Discipline, SourcesAnnouncingALeapTheListLacksAreOutvoted) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  w.discipline.set_leap_seconds_list(leap_list("", kEpoch + 180 * 86400));
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kInsert);
  }
  EXPECT_EQ(w.discipline.leap(), Leap::kInsert);
  EXPECT_EQ(w.discipline.armed_leap(), Leap::kNone);
  EXPECT_EQ(w.discipline.outvoted_leap(), Leap::kInsert);
  w.advance_to(200.5);
  EXPECT_EQ(w.clock.leaps(), 0);
}

TEST(Discipline, AnExpiredListLeavesTheLeapToTheSources) {
  World w(0, 0, {}, 1, kLeapDayEpoch);
  w.discipline.set_leap_seconds_list(leap_list("", kEpoch - 10 * 86400));
  EXPECT_FALSE(w.clock.tai_offset().has_value());
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.clock.set_leap_point(200);
  for (double t = 1; t <= 100; t += 10) {
    w.advance_to(t);
    w.measure(s, 0, Leap::kInsert);
  }
  EXPECT_EQ(w.discipline.outvoted_leap(), Leap::kNone);
  w.advance_to(200.5);
  EXPECT_EQ(w.clock.leaps(), 1);
  EXPECT_EQ(w.clock.tai_offset_sets(), 0u);
}

TEST(Discipline, RetiredMajorityNoLongerOutvotesTheTruth) {
  World w(0, 0, {}, 5);
  const std::size_t good = w.discipline.add_source({.name = "good"});
  const std::size_t bad1 = w.discipline.add_source({.name = "bad1"});
  const std::size_t bad2 = w.discipline.add_source({.name = "bad2"});
  // Two agreeing falsetickers 5 ms ahead are the majority: the clock follows them.
  for (double t = 1; t < 200; t += 16) {
    w.advance_to(t);
    w.measure(good);
    w.measure(bad1, 0.005);
    w.measure(bad2, 0.005);
  }
  ASSERT_TRUE(w.discipline.sources()[bad1].selected);
  ASSERT_FALSE(w.discipline.sources()[good].selected);
  ASSERT_GT(std::abs(w.true_error()), 3e-3);
  w.discipline.retire_source(bad1);
  w.discipline.retire_source(bad2);
  for (double t = 201; t < 1000; t += 16) {
    w.advance_to(t);
    w.measure(good);
    w.measure(bad1, 0.005);  // ignored from now on
    w.measure(bad2, 0.005);
  }
  const auto sources = w.discipline.sources();
  EXPECT_TRUE(sources[bad1].retired);
  EXPECT_FALSE(sources[bad1].selected);
  EXPECT_FALSE(sources[bad2].selected);
  EXPECT_TRUE(sources[good].selected);
  EXPECT_TRUE(w.discipline.synchronized());
  EXPECT_LT(std::abs(w.true_error()), 100e-6);
}


// ---- the maximum error ----

// Polls every 16 s for `seconds`, the server `server_offset` ahead of true time; counts the
// seconds after the first hour whose true error is outside the maximum error (an infinite one
// counts as outside) and returns their fraction. `each_second` may change the world first.
struct Coverage {
  double outside = 0;        // fraction of seconds outside the maximum error
  double outside_4sd = 0;    // ... and outside 4 estimate sd
  double median_max_error = 0;
};

template <class EachSecond>
Coverage run_coverage(World& w, std::size_t source, double server_offset, double seconds, EachSecond each_second) {
  std::size_t counted = 0, outside = 0, outside_4sd = 0;
  std::vector<double> widths;
  for (double t = 1; t < seconds; t += 1) {
    each_second(t);
    w.advance_to(t);
    if (std::fmod(t, 16) == 1) w.measure(source, server_offset);
    if (t < 3600) continue;
    const ClockError e = w.discipline.error(w.now);
    // The truth is true time minus the reading, and the server is server_offset off it.
    const double miss = std::abs(w.true_error() - e.offset);
    ++counted;
    outside += !(miss <= e.max_error);
    outside_4sd += !(miss <= 4 * e.sd);
    widths.push_back(e.max_error);
  }
  std::nth_element(widths.begin(), widths.begin() + static_cast<std::ptrdiff_t>(widths.size() / 2), widths.end());
  return Coverage{.outside = static_cast<double>(outside) / static_cast<double>(counted),
                  .outside_4sd = static_cast<double>(outside_4sd) / static_cast<double>(counted),
                  .median_max_error = widths[widths.size() / 2]};
}

// 100 µs more one way than the other: every offset is 50 µs off and no client can see it. The
// model's 4 sd say a few µs; the maximum error holds half the round trip and stays true.
TEST(DisciplineMaxError, CoversAnAsymmetricPathTheModelCannotSee) {
  World w(0, 10e-6);
  w.base_delay = 200e-6;
  w.extra_up = 100e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  const Coverage c = run_coverage(w, s, 0, 3 * 3600, [](double) {});
  EXPECT_EQ(c.outside, 0);
  EXPECT_GT(c.outside_4sd, 0.9) << "the statistical bound cannot know the asymmetry";
  // Half the minimum round trip (150 µs) plus a little: not a bound that just gave up.
  EXPECT_LT(c.median_max_error, 1.25 * 150e-6 + 4 * 50e-6);
}

// A server 30 µs off that says it may be 50 µs off (root dispersion): the bound takes its word.
TEST(DisciplineMaxError, CoversAnUpstreamWithinItsRootDistance) {
  World w(0, 10e-6);
  w.base_delay = 200e-6;
  w.root_dispersion = 50e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  const Coverage c = run_coverage(w, s, 30e-6, 3 * 3600, [](double) {});
  EXPECT_EQ(c.outside, 0);
  EXPECT_GT(c.outside_4sd, 0.9);
}

// The oscillator steps by 2 ppm every 15 minutes, up and down in turn: between two polls the
// error grows by 32 µs, faster than the model's sd admits.
TEST(DisciplineMaxError, CoversOscillatorSteps) {
  World w(0, 10e-6);
  w.base_delay = 200e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  const Coverage c = run_coverage(w, s, 0, 3 * 3600, [&](double t) {
    if (std::fmod(t, 900) == 0) w.clock.set_oscillator_frequency(std::fmod(t, 1800) == 0 ? 10e-6 : 12e-6);
  });
  EXPECT_EQ(c.outside, 0);
  EXPECT_GT(c.outside_4sd, 0.001) << "4 sd (the old bound) missed 0.33 % of these seconds";
}

// A calibrated path: the configured asymmetry is taken off every offset, and max_asymmetry says
// how much of half the round trip may still be unknown.
TEST(DisciplineMaxError, CalibratedAsymmetryCorrectsAndNarrows) {
  World w(0, 10e-6);
  w.base_delay = 200e-6;
  w.extra_up = 100e-6;
  const std::size_t s = w.discipline.add_source({.name = "a", .asymmetry = 50e-6, .max_asymmetry = 0.1});
  const Coverage c = run_coverage(w, s, 0, 3 * 3600, [](double) {});
  EXPECT_EQ(c.outside, 0);
  EXPECT_LT(std::abs(w.true_error()), 15e-6);  // the 50 µs are gone
  EXPECT_LT(c.median_max_error, 60e-6);        // 10 % of 150 µs, the jitter and the growth
}

TEST(DisciplineMaxError, UnknownBeforeTheFirstMeasurementAndAfterAForeignStep) {
  World w(0, 10e-6);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  EXPECT_TRUE(std::isinf(w.discipline.error(0).max_error));
  for (double t = 1; t < 200; t += 16) {
    w.advance_to(t);
    w.measure(s);
  }
  EXPECT_LT(w.discipline.error(w.now).max_error, 1e-3);
  w.discipline.on_clock_stepped(w.now);
  EXPECT_TRUE(std::isinf(w.discipline.error(w.now).max_error)) << "measurements before the step bound nothing";
}

// Without new measurements the bound grows at least by max_drift per second of age.
TEST(DisciplineMaxError, GrowsWithAge) {
  DisciplineOptions o;
  o.max_drift = 1e-6;
  World w(0, 10e-6, o);
  const std::size_t s = w.discipline.add_source({.name = "a"});
  for (double t = 1; t < 600; t += 16) {
    w.advance_to(t);
    w.measure(s);
  }
  const double then = w.discipline.error(w.now).max_error;
  w.advance_to(w.now + 1000);
  EXPECT_GE(w.discipline.error(w.now).max_error, then + 1000 * o.max_drift);
}

// A follower (the system clock after the PHC) is measured against its leader: the leader's
// maximum error comes on top of its own.
TEST(DisciplineMaxError, FollowerAddsItsLeadersMaximumError) {
  World w(0, 10e-6);
  const std::size_t s = w.discipline.add_source({.name = "leader"});
  for (double t = 1; t < 600; t += 16) {
    w.advance_to(t);
    w.measure(s);
  }
  const double own = w.discipline.error(w.now).max_error;
  ASSERT_TRUE(std::isfinite(own));
  w.discipline.set_reference_error([](double) { return ClockError{.offset = 0, .sd = 1e-6, .max_error = 300e-6}; });
  EXPECT_DOUBLE_EQ(w.discipline.error(w.now).max_error, own + 300e-6);
  w.discipline.set_reference_error([](double) { return ClockError{}; });  // a leader that knows nothing
  EXPECT_TRUE(std::isinf(w.discipline.error(w.now).max_error));
}

// The kernel's maxerror is about the clock's reading: the estimate's distance from it plus the
// maximum error; its esterror is the model's sd.
TEST(DisciplineMaxError, KernelGetsTheMaximumError) {
  World w(0, 10e-6);
  w.base_delay = 200e-6;
  w.extra_up = 100e-6;
  const std::size_t s = w.discipline.add_source({.name = "a"});
  for (double t = 1; t < 600; t += 16) {
    w.advance_to(t);
    w.measure(s);
  }
  const ClockError e = w.discipline.error(w.now);
  EXPECT_NEAR(w.clock.error_estimate().max_error, std::abs(e.offset) + e.max_error, 20e-6);
  EXPECT_GT(w.clock.error_estimate().max_error, 100e-6);  // not 4 sd: the path is in it
  EXPECT_LT(w.clock.error_estimate().est_error, 20e-6);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// A board without an RTC, a VM restored from an old snapshot: 2000 s off at start. The panic
// threshold (1000 s) was once checked before the step policy, and such a clock stayed wrong for
// ever, whatever `step` said.
TEST(DisciplinePanic, AClockFarOffAtStartIsSteppedAsThePolicySays) {
  World w(-2000, 0, with_step_mode(StepMode::kStartOnly));
  const std::size_t s = w.discipline.add_source({.name = "a"});
  w.advance_to(1);
  w.measure(s);
  EXPECT_EQ(w.discipline.state(), DisciplineState::kSynchronized);
  EXPECT_EQ(w.discipline.steps(), 1u);
  EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 200e-6);
}

// Once synchronized, a source that jumps 2000 s is not followed (panic), unless the operator
// said never to panic (panic-threshold = 0), as ntpd -g / chrony's maxchange 0.
TEST(DisciplinePanic, OnceSynchronizedAFarJumpIsAPanicUnlessTheThresholdIsZero) {
  for (double threshold : {1000.0, 0.0}) {
    DisciplineOptions o = with_step_mode(StepMode::kAlways);
    o.panic_threshold = threshold;
    World w(0, 0, o);
    const std::size_t s = w.discipline.add_source({.name = "a"});
    for (int i = 1; i <= 8; ++i) {
      w.advance_to(16.0 * i);
      w.measure(s);
    }
    ASSERT_TRUE(w.discipline.synchronized()) << threshold;
    for (int i = 9; i <= 24; ++i) {
      w.advance_to(16.0 * i);
      w.measure(s, 2000);
    }
    if (threshold > 0) {
      EXPECT_EQ(w.discipline.state(), DisciplineState::kPanic);
      EXPECT_LT(std::abs(w.clock.offset_at(w.now)), 1e-3) << "the clock must not follow";
    } else {
      EXPECT_EQ(w.discipline.state(), DisciplineState::kSynchronized);
      EXPECT_LT(std::abs(w.clock.offset_at(w.now) - 2000), 1e-3) << "the clock follows the source";
    }
  }
}

}  // namespace
}  // namespace kairos
