// The evidence log of a simulated run against the simulator's own truth (issue 25): the report
// must call every second a breach whose true error was outside the tier, and its numbers must be
// exactly those recomputed from the simulator's own bound series.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "daemon/evidence_reader.hpp"
#include "daemon/evidence_report.hpp"
#include "engine.hpp"
#include "scenario.hpp"
#include "sim_evidence.hpp"

namespace kairos::sim {
namespace {

class TempDir {
 public:
  TempDir() {
    std::string name = "/tmp/kairos-sim-evidence-XXXXXX";
    if (::mkdtemp(name.data())) path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Case {
  const char* scenario;
  double duration;
};

// A LAN whose clock starts 0.1 s off (the truth is outside every tier until the step, and the bound
// is finite well before that ends), and a WAN whose truth wanders beyond 100 µs for hours.
class SimEvidence : public ::testing::TestWithParam<Case> {};

TEST_P(SimEvidence, TheReportAgreesWithTheSimulatorsTruthAndItsBound) {
  const Case c = GetParam();
  auto scenario = load_scenario(std::string(KAIROS_SIM_SCENARIO_DIR) + "/" + c.scenario + ".toml");
  ASSERT_TRUE(scenario) << scenario.error().message;
  std::vector<Record> records;
  run(*scenario, RunOptions{.seed = 1, .duration = c.duration, .servo = Servo::kKalman},
      [&](const Record& r) { records.push_back(r); });
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string evidence = dir.path() + "/evidence";
  ASSERT_TRUE(write_evidence(evidence, *scenario, records));

  auto set = read_evidence_dir(evidence);
  ASSERT_TRUE(set) << set.error().message;
  ASSERT_TRUE(set->verified());
  const std::int64_t epoch_ms = scenario_epoch(*scenario) * 1000;
  EvidenceReportOptions options;
  options.from_ms = epoch_ms;
  options.to_ms = epoch_ms + static_cast<std::int64_t>(records.size()) * 1000;
  options.tiers = {100e-6, 1e-3, 50e-3};  // MiFID II RTS 25 and CAT
  const EvidenceReport report = build_evidence_report(*set, options);
  ASSERT_EQ(report.days.size(), 1u);
  const ClockDay& day = report.days[0];
  EXPECT_EQ(day.readings, records.size());
  EXPECT_EQ(day.recorded_ms, day.period_ms);
  EXPECT_TRUE(day.unrecorded.empty());

  for (std::size_t k = 0; k < options.tiers.size(); ++k) {
    const double tier = options.tiers[k];
    const TierShare& share = day.tiers[k];
    // (b) The report's share is a recount of the simulator's own bound series, second by second.
    std::int64_t within_ms = 0;
    for (const Record& r : records) {
      const EvidenceSnapshot s = evidence_snapshot(*scenario, r);
      if (within_tier(offset_to_ns(s.offset), max_error_to_ns(s.max_error), tier)) within_ms += 1000;
    }
    EXPECT_EQ(share.within_ms, within_ms) << c.scenario << ", tier " << tier;
    // (a) Every second the truth was outside the tier is outside in the report, where the bound
    // held (the simulator's coverage says it does; a second where it did not is counted apart).
    std::set<std::int64_t> outside;
    for (const EvidenceSpan& span : share.breaches) {
      for (std::int64_t ms = span.from_ms; ms < span.to_ms; ms += 1000) outside.insert(ms);
    }
    std::size_t truth_outside = 0, bound_missed = 0, truth_inside_bounded = 0;
    for (const Record& r : records) {
      const EvidenceSnapshot s = evidence_snapshot(*scenario, r);
      const double true_error = -r.offset;  // true time minus the clock's reading
      const bool bound_holds = std::isfinite(s.max_error) && std::abs(true_error - s.offset) <= s.max_error;
      const std::int64_t ms = epoch_ms + static_cast<std::int64_t>(std::llround(r.time * 1000));
      if (std::abs(true_error) > tier) {
        ++truth_outside;
        if (std::isfinite(s.max_error) && !bound_holds) {
          ++bound_missed;
          continue;
        }
        EXPECT_TRUE(outside.contains(ms)) << c.scenario << ": second " << r.time << " was " << true_error
                                          << " s off, reported within " << tier;
      } else if (std::isfinite(s.max_error)) {
        ++truth_inside_bounded;
      }
    }
    EXPECT_EQ(bound_missed, 0u) << c.scenario << ": seconds the maximum error did not cover the truth";
    if (k == 0) {
      // Not vacuous: the truth left the tightest tier with a finite bound in this run, and the
      // report also has seconds within.
      EXPECT_GT(truth_outside, 0u) << c.scenario;
      EXPECT_GT(truth_inside_bounded, 0u) << c.scenario;
    }
  }
  EXPECT_GT(day.tiers.back().within_ms, 0) << c.scenario;
  EXPECT_FALSE(report.traceability.empty());
}

INSTANTIATE_TEST_SUITE_P(Scenarios, SimEvidence,
                         ::testing::Values(Case{"lan", 3600}, Case{"wan", 7200}, Case{"server-step", 9000}),
                         [](const ::testing::TestParamInfo<Case>& param) {
                           std::string name = param.param.scenario;
                           for (char& ch : name) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

}  // namespace
}  // namespace kairos::sim
