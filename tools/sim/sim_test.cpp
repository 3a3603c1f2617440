// The simulator's shell: scenario files are read strictly (every mistake named with its line),
// the metrics say exactly what their comments promise, and the engine runs the real exchanges.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine.hpp"
#include "metrics.hpp"
#include "scenario.hpp"

namespace kairos::sim {
namespace {

using ::testing::HasSubstr;

constexpr const char* kMinimal = R"(
name = "minimal"
[[server]]
)";

std::vector<std::filesystem::path> shipped_scenarios() {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::directory_iterator(KAIROS_SIM_SCENARIO_DIR)) {
    if (entry.path().extension() == ".toml") out.push_back(entry.path());
  }
  return out;
}

std::string error_of(std::string_view text, std::string_view source = "test.toml") {
  auto parsed = parse_scenario(text, source);
  EXPECT_FALSE(parsed) << "parsed although it should not have:\n" << text;
  return parsed ? std::string() : parsed.error().message;
}

TEST(Scenario, EveryShippedScenarioParsesAndIsNamedLikeItsFile) {
  const auto files = shipped_scenarios();
  ASSERT_GE(files.size(), 11u);
  for (const auto& path : files) {
    auto s = load_scenario(path.string());
    ASSERT_TRUE(s) << s.error().message;
    EXPECT_EQ(s->name, path.stem().string());
    EXPECT_FALSE(s->description.empty()) << path;
    EXPECT_FALSE(s->servers.empty()) << path;
    EXPECT_TRUE(s->target.max_error_coverage) << path << " has no max-error-coverage target";
  }
}

TEST(Scenario, LanIsReadWithItsNumbers) {
  auto s = load_scenario(std::string(KAIROS_SIM_SCENARIO_DIR) + "/lan.toml");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->duration, 14400);
  EXPECT_EQ(s->settle, 1800);
  EXPECT_EQ(s->client.poll, 16);
  ASSERT_EQ(s->servers.size(), 1u);
  EXPECT_DOUBLE_EQ(s->servers[0].up.base, 100e-6);
  EXPECT_DOUBLE_EQ(s->servers[0].down.jitter_mean, 20e-6);
  EXPECT_DOUBLE_EQ(*s->target.rms_offset, 1.8e-6);
  EXPECT_DOUBLE_EQ(*s->target.max_error_coverage, 0.9999);
}

TEST(Scenario, MissingKeysKeepTheDefaults) {
  auto s = parse_scenario(kMinimal);
  ASSERT_TRUE(s) << s.error().message;
  const Scenario defaults;
  EXPECT_EQ(s->duration, defaults.duration);
  EXPECT_EQ(s->client.poll, defaults.client.poll);
  EXPECT_EQ(s->servers.at(0).processing, ServerModel{}.processing);
  EXPECT_FALSE(s->phc);
  EXPECT_FALSE(s->target.rms_offset);
}

TEST(Scenario, UnknownKeyIsRejectedWithItsLine) {
  const std::string text = "name = \"x\"\n"        // line 1
                           "[client]\n"            // 2
                           "poll = 16\n"           // 3
                           "[[server]]\n"          // 4
                           "loss = 0.1\n"          // 5
                           "jiter = 20e-6\n";      // 6
  EXPECT_THAT(error_of(text), HasSubstr("line 6: unknown key 'jiter' in [[server]]"));
}

TEST(Scenario, UnknownTableIsRejectedWithItsLine) {
  EXPECT_THAT(error_of(std::string(kMinimal) + "[clok]\nfrequency = 1e-6\n"), HasSubstr("line 4: unknown table 'clok'"));
}

TEST(Scenario, UnknownKeyInsideDelayIsRejected) {
  EXPECT_THAT(error_of("[[server]]\nup = { base = 1e-4, jiter = 1e-5 }\n"), HasSubstr("unknown key 'jiter' in 'up'"));
}

TEST(Scenario, ProbabilityAboveOneIsRejected) {
  EXPECT_THAT(error_of("[[server]]\nloss = 1.5\n"), HasSubstr("line 2: 'loss' in [[server]] must be a probability"));
  EXPECT_THAT(error_of("[[server]]\nup = { spike-probability = -0.1 }\n"), HasSubstr("must be a probability"));
}

TEST(Scenario, NegativeDelayAndZeroPollAreRejected) {
  EXPECT_THAT(error_of("[[server]]\nup = { base = -1e-4 }\n"), HasSubstr("'base' in 'up' in [[server]] must be a number >= 0"));
  EXPECT_THAT(error_of("[client]\npoll = 0\n[[server]]\n"), HasSubstr("line 2: 'poll' in [client] must be a number > 0"));
}

TEST(Scenario, NonFiniteNumberIsRejected) {
  EXPECT_THAT(error_of("[[server]]\noffset = nan\n"), HasSubstr("'offset' in [[server]] must be a finite number"));
  EXPECT_THAT(error_of("duration = inf\n[[server]]\n"), HasSubstr("'duration'"));
}

TEST(Scenario, IntegerIsAcceptedWhereSecondsAreExpected) {
  auto s = parse_scenario("duration = 600\nsettle = 60\n[client]\npoll = 2\n[[server]]\noffset = 1\n");
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->client.poll, 2.0);
  EXPECT_EQ(s->servers[0].offset, 1.0);
}

TEST(Scenario, WrongTypeIsRejected) {
  EXPECT_THAT(error_of("[client]\npoll = \"16\"\n[[server]]\n"), HasSubstr("'poll' in [client] must be a number"));
  EXPECT_THAT(error_of("[client]\ninterleaved = 1\n[[server]]\n"), HasSubstr("must be true or false"));
  EXPECT_THAT(error_of("[client]\nstep = \"sometimes\"\n[[server]]\n"), HasSubstr("\"start-only\", \"always\", \"never\""));
  EXPECT_THAT(error_of("[server]\nloss = 0\n"), HasSubstr("[[server]]"));
}

TEST(Scenario, SettleMustBeShorterThanDuration) {
  EXPECT_THAT(error_of("duration = 100\nsettle = 100\n[[server]]\n"), HasSubstr("line 2: 'settle' (100) must be shorter"));
}

TEST(Scenario, AScenarioNeedsAServer) {
  EXPECT_THAT(error_of("duration = 100\nsettle = 10\n"), HasSubstr("at least one"));
}

TEST(Scenario, PhcReadingsAreLimited) {
  const std::string hw = "[client]\ntimestamping = \"hardware\"\n[[server]]\n[phc]\n";
  EXPECT_TRUE(parse_scenario(hw + "readings = 25\n"));
  EXPECT_THAT(error_of(hw + "readings = 26\n"), HasSubstr("'readings' in [phc] must be an integer from 1 to 25"));
  EXPECT_THAT(error_of(hw + "readings = 0\n"), HasSubstr("'readings'"));
}

TEST(Scenario, HardwareTimestampingWithoutPhcIsRejected) {
  EXPECT_THAT(error_of("[client]\ntimestamping = \"hardware\"\n[[server]]\n"),
              HasSubstr("line 2: timestamping = \"hardware\" needs a [phc] table"));
}

TEST(Scenario, PhcWithSoftwareTimestampingIsRejected) {
  EXPECT_THAT(error_of("[[server]]\n[phc]\nreadings = 5\n"), HasSubstr("[phc] is only used with timestamping = \"hardware\""));
}

TEST(Scenario, CountExpandsToThatManyIdenticalServers) {
  auto s = parse_scenario("[[server]]\ncount = 3\nloss = 0.25\n[[server]]\noffset = 0.01\n");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->servers.size(), 4u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(s->servers[static_cast<std::size_t>(i)].loss, 0.25);
    EXPECT_EQ(s->servers[static_cast<std::size_t>(i)].offset, 0.0);
  }
  EXPECT_EQ(s->servers[3].offset, 0.01);
  EXPECT_THAT(error_of("[[server]]\ncount = 0\n"), HasSubstr("'count' in [[server]] must be an integer from 1"));
}

TEST(Scenario, NameMustMatchTheFileName) {
  EXPECT_THAT(error_of("name = \"lan\"\n[[server]]\n", "dir/wan.toml"),
              HasSubstr("line 1: name 'lan' does not match the file name 'wan.toml'"));
  auto unnamed = parse_scenario("[[server]]\n", "dir/wan.toml");
  ASSERT_TRUE(unnamed) << unnamed.error().message;
  EXPECT_EQ(unnamed->name, "wan");
}

TEST(Scenario, EveryProblemIsReportedAtOnce) {
  const std::string message = error_of("[client]\npoll = -1\n[[server]]\nloss = 2\n");
  EXPECT_THAT(message, HasSubstr("line 2:"));
  EXPECT_THAT(message, HasSubstr("line 4:"));
}

TEST(Scenario, TomlSyntaxErrorNamesItsLine) {
  EXPECT_THAT(error_of("[[server]]\nloss = \n"), HasSubstr("line 2:"));
}

// The same checks as kairos.toml's (daemon/toml_check.hpp): a syntax error says its column too.
TEST(Scenario, TomlSyntaxErrorNamesItsColumn) {
  EXPECT_THAT(error_of("[[server]]\nloss = 0.1.2\n"), HasSubstr("(column "));
}

TEST(Scenario, EventsAndExpectationsAreRead) {
  auto s = parse_scenario(R"(
[clock]
temperature-steps = [{ at = 100, change = 1e-7 }, { at = 200, change = -1e-7 }]
[client]
step = "always"
[[server]]
step-at = 7200
step-by = 1
[[loss-burst]]
start = 10
duration = 20
probability = 0.5
[leap]
at = 7200
insert = false
[foreign-step]
at = 50
by = -0.5
[target]
bound-coverage = 0.99
max-error-coverage = 0.9999
)");
  ASSERT_TRUE(s) << s.error().message;
  ASSERT_EQ(s->clock.temperature_steps.size(), 2u);
  EXPECT_EQ(s->clock.temperature_steps[1].change, -1e-7);
  EXPECT_EQ(s->client.step_mode, StepMode::kAlways);
  EXPECT_EQ(s->servers[0].step_at, 7200.0);
  EXPECT_EQ(s->servers[0].step_by, 1.0);
  ASSERT_EQ(s->loss_bursts.size(), 1u);
  EXPECT_EQ(s->loss_bursts[0].probability, 0.5);
  ASSERT_TRUE(s->leap);
  EXPECT_FALSE(s->leap->insert);
  EXPECT_EQ(s->leap->announce, 3600);
  ASSERT_TRUE(s->foreign_step);
  EXPECT_EQ(s->foreign_step->by, -0.5);
  EXPECT_EQ(s->target.max_error_coverage, 0.9999);
}

TEST(Scenario, TypedNumbersOfOtherDaemonsAreRefused) {
  // chronyd's numbers come from running chronyd, not from a table typed into a scenario.
  EXPECT_THAT(error_of("[[server]]\n[chronyd]\nrms-offset = 1e-6\n"), HasSubstr("chronyd"));
}

// ---- metrics ----

Record at(double time, double offset, double low = -1e-6, double high = 1e-6) {
  return Record{.time = time, .offset = offset, .bound_low = low, .bound_high = high, .synchronized = true};
}

TEST(Metrics, StatisticsAreTakenAfterSettling) {
  // Before settling a huge error that must not count; after it +3, -3, +3, +5 µs.
  std::vector<Record> records{at(0, 0.5), at(1, 0.2), at(2, 3e-6), at(3, -3e-6), at(4, 3e-6), at(5, 5e-6)};
  records[2].freq_error = 2e-9;
  records[3].freq_error = -2e-9;
  records[4].freq_error = 2e-9;
  records[5].freq_error = -2e-9;
  const Metrics m = summarize(records, 2);
  EXPECT_EQ(m.seconds, 4u);
  EXPECT_NEAR(m.rms_offset, std::sqrt((9 + 9 + 9 + 25) / 4.0) * 1e-6, 1e-15);
  EXPECT_NEAR(m.max_offset, 5e-6, 1e-15);
  EXPECT_NEAR(m.mean_offset, 2e-6, 1e-15);
  EXPECT_NEAR(m.sd_offset, std::sqrt((1 + 25 + 1 + 9) / 4.0) * 1e-6, 1e-15);
  EXPECT_NEAR(m.rms_freq_error, 2e-9, 1e-18);
  EXPECT_EQ(m.rms_phc_offset, 0);
}

TEST(Metrics, MaxOffsetIsTheLargestMagnitude) {
  const Metrics m = summarize({at(0, 1e-6), at(1, -7e-6), at(2, 2e-6)}, 0);
  EXPECT_NEAR(m.max_offset, 7e-6, 1e-15);
}

TEST(Metrics, CoverageComparesTheBoundWithMinusTheOffset) {
  // The bound is on true time - clock = -offset: an offset of +2 µs is covered by [-3, -1] µs
  // and not by [1, 3] µs.
  const Metrics m = summarize({at(0, 2e-6, -3e-6, -1e-6), at(1, 2e-6, 1e-6, 3e-6), at(2, 0, 0, 0), at(3, 1e-6, -1e-6, 0)}, 0);
  EXPECT_DOUBLE_EQ(m.bound_coverage, 3.0 / 4.0);  // the edges count as covered
}

TEST(Metrics, MedianWidthOfOddAndEvenCounts) {
  EXPECT_NEAR(summarize({at(0, 0, -1e-6, 1e-6), at(1, 0, -5e-6, 5e-6), at(2, 0, -2e-6, 2e-6)}, 0).bound_median_width,
              4e-6, 1e-15);
  const Metrics even = summarize({at(0, 0, -1e-6, 1e-6), at(1, 0, -5e-6, 5e-6), at(2, 0, -2e-6, 2e-6), at(3, 0, 0, 100)}, 0);
  EXPECT_NEAR(even.bound_median_width, 7e-6, 1e-15);  // (4 + 10) / 2 µs
}

TEST(Metrics, TimeToSyncIsTheSecondAfterTheLastOneOutsideOneMillisecond) {
  // Out at 0..2, briefly in at 3, out again at 4, in from 5 on: synchronized after 5 s.
  std::vector<Record> records{at(0, 0.1), at(1, 0.01), at(2, -2e-3), at(3, 1e-4), at(4, 1.5e-3)};
  for (int t = 5; t < 20; ++t) records.push_back(at(t, 1e-6));
  EXPECT_EQ(summarize(records, 10).time_to_sync, 5);  // settling does not hide the start
}

TEST(Metrics, UnboundedSecondsAreCountedAndNeverCovered) {
  // Centre 0 (bounds ±1 µs), true time - clock = -offset: 2 µs off is inside ±3 µs, not ±1 µs.
  std::vector<Record> records{at(0, 2e-6, -1e-6, 1e-6), at(1, 2e-6, -1e-6, 1e-6), at(2, 2e-6, -1e-6, 1e-6),
                              at(3, 2e-6, -1e-6, 1e-6)};
  records[0].max_error = 3e-6;
  records[1].max_error = 1e-6;
  records[2].max_error = std::numeric_limits<double>::infinity();
  records[3].max_error = 5e-6;
  const Metrics m = summarize(records, 0);
  EXPECT_EQ(m.unbounded, 1u);
  EXPECT_DOUBLE_EQ(m.max_error_coverage, 2.0 / 4.0);
  EXPECT_DOUBLE_EQ(m.max_error_median, 3e-6);  // of the bounded seconds
}

TEST(Metrics, TimeToSyncWaitsForTheMaximumErrorToo) {
  std::vector<Record> records;
  for (int t = 0; t < 20; ++t) records.push_back(at(t, 1e-6));
  for (int t = 0; t < 7; ++t) records[static_cast<std::size_t>(t)].max_error = t < 3 ? INFINITY : 2e-3;
  EXPECT_EQ(summarize(records, 10).time_to_sync, 7);
}

TEST(Metrics, TimeToSyncIsZeroWhenNeverOutside) {
  EXPECT_EQ(summarize({at(0, 1e-3), at(1, -1e-3), at(2, 0)}, 0).time_to_sync, 0);
}

TEST(Metrics, NothingAfterSettlingGivesZeros) {
  const Metrics m = summarize({at(0, 0.5), at(1, 0.5)}, 10);
  EXPECT_EQ(m.seconds, 0u);
  EXPECT_EQ(m.rms_offset, 0);
  EXPECT_EQ(m.bound_coverage, 0);
  EXPECT_EQ(m.time_to_sync, 2);
}

TEST(Metrics, AverageIsTheMeanOfEachField) {
  Metrics a, b;
  a.rms_offset = 1e-6;
  b.rms_offset = 3e-6;
  a.bound_coverage = 1;
  b.bound_coverage = 0.5;
  a.seconds = b.seconds = 100;
  const std::vector<Metrics> runs{a, b};
  const Metrics m = average(runs);
  EXPECT_DOUBLE_EQ(m.rms_offset, 2e-6);
  EXPECT_DOUBLE_EQ(m.bound_coverage, 0.75);
  EXPECT_EQ(m.seconds, 100u);
}

TEST(Metrics, WidthRatioIsMedianWidthOverRms) {
  Metrics m;
  m.rms_offset = 2e-6;
  m.bound_median_width = 8e-6;
  EXPECT_DOUBLE_EQ(bound_width_ratio(m), 4);
  m.rms_offset = 0;
  EXPECT_TRUE(std::isinf(bound_width_ratio(m)));
}

TEST(Metrics, JsonHasEveryFieldInSeconds) {
  const Metrics m = summarize({at(0, 0.5), at(1, 2e-6), at(2, -2e-6)}, 1);
  const auto json = nlohmann::json::parse(to_json(m, "lan", 7));
  EXPECT_EQ(json.at("scenario"), "lan");
  EXPECT_EQ(json.at("seed"), 7);
  for (const char* key : {"rms_offset", "max_offset", "mean_offset", "sd_offset", "rms_freq_error", "time_to_sync",
                          "bound_coverage", "bound_median_width", "rms_phc_offset", "seconds"}) {
    EXPECT_TRUE(json.contains(key)) << key;
  }
  EXPECT_DOUBLE_EQ(json.at("rms_offset").get<double>(), 2e-6);
  EXPECT_DOUBLE_EQ(json.at("time_to_sync").get<double>(), 1);
  EXPECT_EQ(json.at("seconds"), 2);
}

// An interleaved server writes T3 as it builds the answer, here 50 µs before the packet leaves:
// a basic sample would be 25 µs off. The real interleaved exchange brings the NIC's departure
// stamp a poll later, and the model takes that poll-old sample at its own time, so the clock
// keeps to nanoseconds (taken as "now", the samples would make it oscillate by microseconds).
TEST(Engine, InterleavedExchangeCarriesTheHardwareDepartureStamp) {
  auto scenario = parse_scenario(R"(
name = "late-t3"
duration = 1500
settle = 600
[client]
poll = 1
timestamping = "hardware"
timestamp-precision = 1e-9
interleaved = true
[phc]
[[server]]
up = { base = 100e-6, jitter = 100e-9 }
down = { base = 100e-6, jitter = 100e-9 }
processing = 50e-6
)");
  ASSERT_TRUE(scenario) << scenario.error().message;
  std::vector<Record> records;
  run(*scenario, RunOptions{.seed = 3}, [&](const Record& r) { records.push_back(r); });
  const Metrics m = summarize(records, scenario->settle);
  EXPECT_LT(m.rms_phc_offset, 50e-9);
  EXPECT_LT(m.rms_offset, 50e-9);
  EXPECT_GE(m.bound_coverage, 0.999);
}

}  // namespace
}  // namespace kairos::sim
