// NTS in simulation (issue 22 item 3): kairosd's association core, NTS-KE client and server,
// cookies and responder against the server events of tools/sim/scenarios/nts-*.toml. The runs are
// deterministic for a seed; the counters each second come from the core (AssociationCounters).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "engine.hpp"
#include "metrics.hpp"
#include "scenario.hpp"

namespace kairos::sim {
namespace {

struct SimRun {
  Scenario scenario;
  std::vector<Record> records;
};

SimRun simulate(const std::string& name, std::uint64_t seed = 1) {
  auto scenario = load_scenario(std::string(KAIROS_SIM_SCENARIO_DIR) + "/" + name + ".toml");
  EXPECT_TRUE(scenario) << (scenario ? "" : scenario.error().message);
  SimRun out;
  if (!scenario) return out;
  out.scenario = *scenario;
  run(out.scenario, RunOptions{.seed = seed}, [&](const Record& r) { out.records.push_back(r); });
  return out;
}

// The first second at or after `from` whose record passes `test`.
template <class Test>
std::optional<double> first(const SimRun& sim, double from, Test test) {
  for (const Record& r : sim.records) {
    if (r.time >= from && test(r)) return r.time;
  }
  return std::nullopt;
}

const Record& at(const SimRun& sim, double t) { return sim.records.at(static_cast<std::size_t>(t)); }

// The core's poll is 2^4 s randomised by ±10 %: one poll is at most this long.
constexpr double kPoll = 16 * 1.1;

TEST(NtsScenarios, NewServerKeysGiveANakAndAnNtsKeWithinTwoPolls) {
  const SimRun sim = simulate("nts-new-keys");
  ASSERT_FALSE(sim.records.empty());
  const double restart = *sim.scenario.servers[0].new_keys_at;
  const Record& before = at(sim, restart - 1);
  EXPECT_EQ(before.nts_ke_ok, 1u) << "one NTS-KE at the start";
  EXPECT_EQ(before.naks, 0u);
  EXPECT_GT(before.samples, 400u) << "authenticated samples every poll";

  // The first request after the restart carries a cookie of the old keys: a NAK, which the client
  // does not trust alone (unauthenticated); the second NAK in a row starts an NTS-KE.
  const auto nak = first(sim, restart, [&](const Record& r) { return r.naks > before.naks; });
  ASSERT_TRUE(nak);
  EXPECT_LE(*nak, restart + kPoll + 1);
  const auto rekeyed = first(sim, restart, [&](const Record& r) { return r.nts_ke_ok > before.nts_ke_ok; });
  ASSERT_TRUE(rekeyed);
  EXPECT_LE(*rekeyed, restart + 2 * kPoll + 1);
  EXPECT_EQ(at(sim, *rekeyed).naks, 2u);

  const Record& last = sim.records.back();
  EXPECT_EQ(last.nts_ke_ok, 2u);
  EXPECT_EQ(last.nts_ke_failed, 0u);
  EXPECT_EQ(last.naks, 2u) << "the new cookies open";
  EXPECT_GT(last.samples, at(sim, *rekeyed).samples + 400) << "samples again after the NTS-KE";
  const Metrics m = summarize(sim.records, sim.scenario.settle);
  EXPECT_EQ(m.max_error_coverage, 1.0);
  EXPECT_GE(m.bound_coverage, 0.9999);
}

TEST(NtsScenarios, UnreachableNtsKeIsRetriedWithBackoffAndCookiesAreUsedMeanwhile) {
  const SimRun sim = simulate("nts-ke-down");
  ASSERT_FALSE(sim.records.empty());
  const ServerModel& server = sim.scenario.servers[0];
  const Interval down = *server.ke_down;
  const double restart = *server.new_keys_at;
  ASSERT_TRUE(down.contains(restart));

  // NTS-KE down alone costs nothing: the cookies of each answer keep the jar full.
  EXPECT_EQ(at(sim, restart - 1).nts_ke_failed, 0u);
  EXPECT_GT(at(sim, restart - 1).samples, at(sim, down.start).samples);

  // After the restart: the cookies held are used (each NAK spends one) while the NTS-KE fails.
  const Record& end = at(sim, down.start + down.duration - 1);
  EXPECT_EQ(end.naks, 8u) << "the jar of 8 cookies, then no more requests with them";
  EXPECT_EQ(end.nts_ke_ok, 1u);
  EXPECT_GE(end.nts_ke_failed, 5u);
  // Backing off to maxpoll (1024 s): far fewer attempts than one per poll (over 200 in the hour).
  EXPECT_LE(end.nts_ke_failed, 25u);

  // Once NTS-KE answers again, the next attempt (at most maxpoll + 20 % later) gets keys.
  const auto rekeyed = first(sim, down.start + down.duration, [](const Record& r) { return r.nts_ke_ok == 2; });
  ASSERT_TRUE(rekeyed);
  EXPECT_LE(*rekeyed, down.start + down.duration + 1024 * 1.2 + 11);
  EXPECT_GT(sim.records.back().samples, at(sim, *rekeyed).samples);
  const Metrics m = summarize(sim.records, sim.scenario.settle);
  EXPECT_EQ(m.max_error_coverage, 1.0) << "the bound grows while the clock coasts";
}

TEST(NtsScenarios, RateKissesLengthenThePollUpToMaxpoll) {
  const SimRun sim = simulate("nts-rate");
  ASSERT_FALSE(sim.records.empty());
  const Interval kisses = *sim.scenario.servers[0].rate_kiss;
  const Record& start = at(sim, kisses.start);
  const Record& end = at(sim, kisses.start + kisses.duration);
  EXPECT_EQ(start.kisses, 0u);
  // Each kiss doubles the poll; one that ignored them would get one every 16 s (112).
  EXPECT_GE(end.kisses, 1u);
  EXPECT_LE(end.kisses, 8u);
  EXPECT_EQ(end.samples, start.samples) << "every answer in the interval is a kiss";
  EXPECT_GT(sim.records.back().samples, end.samples) << "samples again after it";
  EXPECT_EQ(sim.records.back().kisses, end.kisses);
  EXPECT_EQ(sim.records.back().naks, 0u) << "a kiss to an NTS request is authenticated, not a NAK";
}

TEST(NtsScenarios, NtsKeepsTheLanNumbers) {
  // NTS adds authentication, not error: the first two hours of nts-new-keys are the lan scenario.
  SimRun sim = simulate("nts-new-keys");
  sim.records.resize(7200);
  const Metrics m = summarize(sim.records, sim.scenario.settle);
  EXPECT_LT(m.rms_offset, 2.6e-6);
  EXPECT_EQ(m.max_error_coverage, 1.0);
}

}  // namespace
}  // namespace kairos::sim
