// NTS guards an unauthenticated precise source: the pure rule (AgreementGuard) and the same rule
// inside the system clock's Discipline, where a lying PHC must stop steering at its next sample
// and steer again once it agrees.
#include "clock/agreement_guard.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "clock/discipline.hpp"
#include "clock/sim_clock.hpp"

namespace kairos {
namespace {

constexpr Interval kNts{.low = -100e-6, .high = 100e-6};

Interval around(double centre, double half_width) { return {.low = centre - half_width, .high = centre + half_width}; }

TEST(AgreementGuard, AgreeingSourceIsUsed) {
  AgreementGuard guard;
  EXPECT_TRUE(guard.check(around(20e-6, 1e-6), kNts));
  EXPECT_EQ(guard.state(), GuardState::kAgrees);
  EXPECT_FALSE(guard.alarm());
  EXPECT_NEAR(*guard.disagreement(), 20e-6, 1e-12);
}

TEST(AgreementGuard, LieOfOneMillisecondOutsideHundredMicrosecondsIsDropped) {
  AgreementGuard guard;
  ASSERT_TRUE(guard.check(around(0, 1e-6), kNts));
  EXPECT_FALSE(guard.check(around(1e-3, 1e-6), kNts));
  EXPECT_EQ(guard.state(), GuardState::kDisagrees);
  EXPECT_TRUE(guard.alarm());
  EXPECT_NEAR(*guard.disagreement(), 1e-3, 1e-12);
  EXPECT_EQ(guard.episodes(), 1u);
}

TEST(AgreementGuard, OwnBoundCountsTowardsAgreement) {
  AgreementGuard guard;
  // 150 µs off, but its own bound of 60 µs reaches into ±100 µs.
  EXPECT_TRUE(guard.check(around(150e-6, 60e-6), kNts));
  EXPECT_FALSE(guard.check(around(150e-6, 40e-6), kNts));
}

TEST(AgreementGuard, ReturnsWhenItAgreesAgainAndCountsEachEpisodeOnce) {
  AgreementGuard guard;
  EXPECT_FALSE(guard.check(around(1e-3, 1e-6), kNts));
  EXPECT_FALSE(guard.check(around(1e-3, 1e-6), kNts));
  EXPECT_TRUE(guard.check(around(0, 1e-6), kNts));
  EXPECT_EQ(guard.state(), GuardState::kAgrees);
  EXPECT_FALSE(guard.check(around(-1e-3, 1e-6), kNts));
  EXPECT_EQ(guard.episodes(), 2u);
}

TEST(AgreementGuard, NoAuthorityBehavesAsWithoutNts) {
  AgreementGuard guard;
  EXPECT_TRUE(guard.check(around(5, 1e-6), std::nullopt));
  EXPECT_EQ(guard.state(), GuardState::kNoAuthority);
  EXPECT_FALSE(guard.disagreement().has_value());
}

TEST(AgreementGuard, RequireAgreementWaitsForTheFirstConfirmation) {
  AgreementGuard guard(true);
  EXPECT_FALSE(guard.check(around(0, 1e-6), std::nullopt));
  EXPECT_EQ(guard.state(), GuardState::kUnconfirmed);
  EXPECT_FALSE(guard.check(around(1e-3, 1e-6), kNts));
  EXPECT_FALSE(guard.confirmed());
  EXPECT_TRUE(guard.check(around(0, 1e-6), kNts));
  EXPECT_TRUE(guard.confirmed());
  // Confirmed once: losing NTS later does not lock it out (there is nothing to check against).
  EXPECT_TRUE(guard.check(around(0, 1e-6), std::nullopt));
}

TEST(AuthenticatedInterval, IsTheIntersectionOfTheAgreeingMajority) {
  const std::vector<Candidate> nts{{.low = -100e-6, .high = 100e-6}, {.low = -50e-6, .high = 150e-6},
                                   {.low = 5e-3, .high = 6e-3}};
  const std::optional<Interval> i = authenticated_interval(nts);
  ASSERT_TRUE(i);
  EXPECT_DOUBLE_EQ(i->low, -50e-6);
  EXPECT_DOUBLE_EQ(i->high, 100e-6);
  // Two that disagree are no majority: no authority.
  EXPECT_FALSE(authenticated_interval({{.low = 0, .high = 1e-6}, {.low = 1, .high = 2}}));
  EXPECT_FALSE(authenticated_interval({}));
}

// The system clock with two NTS sources (±100 µs) and a preferred, guarded PHC reference
// (±1 µs), one sample of each per second. The model's time axis is true time.
struct GuardedClock {
  double now = 0;
  SimClock clock{"sys", [this] { return now; }, 1'800'000'000, 2e-3, 10e-6, 500e-6};
  Discipline discipline{clock, DisciplineOptions{}};
  std::size_t nts1 = 0, nts2 = 0, phc = 0;
  double lie = 0;  // what the PHC adds to the truth

  explicit GuardedClock(bool require_agreement = false, bool with_nts = true) {
    if (with_nts) {
      nts1 = discipline.add_source(SourceOptions{.name = "nts1", .authenticated = true});
      nts2 = discipline.add_source(SourceOptions{.name = "nts2", .authenticated = true});
    }
    phc = discipline.add_source(SourceOptions{
        .name = "phc", .preferred = true, .guarded = true, .require_agreement = require_agreement});
    with_nts_ = with_nts;
  }

  Measurement sample(double reference_offset, double delay, double root_dispersion) {
    Measurement m;
    m.time = now;
    m.offset = reference_offset - clock.offset_at(now);
    m.delay = delay;
    m.root_dispersion = root_dispersion;
    m.precision = 1e-9;
    return m;
  }

  // One second: each source measures once (NTS first); the clock's slews end on the way.
  void second() {
    now += 1;
    if (auto t = discipline.next_timer(); t && *t <= now) discipline.on_timer(now);
    if (with_nts_) {
      // distance = delay / 2 + root dispersion + precision ≈ 100 µs
      discipline.on_measurement(nts1, sample(0, 100e-6, 50e-6), now);
      discipline.on_measurement(nts2, sample(0, 100e-6, 50e-6), now);
    }
    discipline.on_measurement(phc, sample(lie, 1e-6, 0), now);
  }
  SourceStatus phc_status() const { return discipline.source_status(phc); }

 private:
  bool with_nts_ = true;
};

TEST(GuardedSource, AgreeingPhcSteersTheClock) {
  GuardedClock g;
  for (int i = 0; i < 60; ++i) g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kCombined);
  EXPECT_EQ(g.phc_status().guard, GuardState::kAgrees);
  EXPECT_EQ(g.discipline.source_status(g.nts1).state, SourceState::kSelected);  // voted, does not steer
  EXPECT_TRUE(g.discipline.synchronized());
  // The PHC's precision, not NTS's.
  EXPECT_LT(std::abs(g.clock.offset_at(g.now)), 10e-6);
}

TEST(GuardedSource, LyingPhcIsDroppedAtItsNextSampleAndReturnsWhenItAgrees) {
  GuardedClock g;
  for (int i = 0; i < 60; ++i) g.second();
  ASSERT_EQ(g.phc_status().state, SourceState::kCombined);
  g.lie = 1e-3;
  g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kDisagrees);
  EXPECT_EQ(g.phc_status().guard, GuardState::kDisagrees);
  EXPECT_NEAR(*g.phc_status().disagreement, 1e-3, 150e-6);
  EXPECT_EQ(g.phc_status().guard_rejected, 1u);
  EXPECT_EQ(g.phc_status().guard_episodes, 1u);
  // NTS steers now; the lie never reaches the clock.
  for (int i = 0; i < 60; ++i) g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kDisagrees);
  EXPECT_EQ(g.discipline.source_status(g.nts1).state, SourceState::kCombined);
  EXPECT_LT(std::abs(g.clock.offset_at(g.now)), 150e-6);
  EXPECT_EQ(g.phc_status().guard_rejected, 61u);
  g.lie = 0;
  g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kCombined);
  EXPECT_EQ(g.phc_status().guard_episodes, 1u);
}

TEST(GuardedSource, WithoutNtsSourcesBehavesAsToday) {
  GuardedClock g(false, false);
  for (int i = 0; i < 30; ++i) g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kCombined);
  EXPECT_EQ(g.phc_status().guard, GuardState::kNoAuthority);
  g.lie = 1e-3;  // nothing to tell it is a lie
  g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kCombined);
}

TEST(GuardedSource, RequireAgreementKeepsItOutUntilNtsConfirmsIt) {
  GuardedClock lonely(true, false);
  for (int i = 0; i < 30; ++i) lonely.second();
  EXPECT_EQ(lonely.phc_status().state, SourceState::kUnconfirmed);
  EXPECT_FALSE(lonely.discipline.synchronized());

  GuardedClock g(true, true);
  g.lie = 1e-3;  // lies from the start: never confirmed, never used
  for (int i = 0; i < 30; ++i) g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kDisagrees);
  EXPECT_TRUE(g.discipline.synchronized());
  g.lie = 0;
  g.second();
  EXPECT_EQ(g.phc_status().state, SourceState::kCombined);
}

}  // namespace
}  // namespace kairos
