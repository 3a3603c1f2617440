// kairosd's side of the evidence log (issue 25): the tiers watched live, what the log records of
// the clock graph's clocks, and kairosctl report's options and output.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <unistd.h>
#include <sstream>

#include "daemon/clock_evidence.hpp"
#include "daemon/evidence_log.hpp"
#include "daemon/tier_watch.hpp"
#include "report.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

TEST(TierWatch, ABreachIsCountedOnLeavingOnlyAfterBeingWithin) {
  TierWatch watch({100e-6, 1e-3});
  // The start: unknown bound, outside both, but no breach yet.
  watch.update("system", 0, INFINITY);
  EXPECT_EQ(watch.states("system")[0].breaches, 0u);
  EXPECT_FALSE(watch.states("system")[0].within);
  watch.update("system", 10e-6, 50e-6);
  EXPECT_TRUE(watch.states("system")[0].within);
  EXPECT_TRUE(watch.states("system")[1].within);
  // A small estimate with a wide bound is a breach: the bound decides.
  watch.update("system", 1e-6, 150e-6);
  EXPECT_FALSE(watch.states("system")[0].within);
  EXPECT_EQ(watch.states("system")[0].breaches, 1u);
  EXPECT_TRUE(watch.states("system")[1].within);
  watch.update("system", 1e-6, 150e-6);
  EXPECT_EQ(watch.states("system")[0].breaches, 1u);
  watch.update("system", 1e-6, 20e-6);
  watch.update("system", 90e-6, 20e-6);  // |offset| + bound = 110 µs
  EXPECT_EQ(watch.states("system")[0].breaches, 2u);
  EXPECT_EQ(watch.states("other")[0].breaches, 0u);
}

// Issue 25 item 2: breaches and returns reach whoever pages (journald, with message ids of their
// own); the first entry into a tier at start is no return.
TEST(TierWatch, BreachesAndReturnsAreEventsForThePager) {
  TierWatch watch({100e-6});
  std::vector<TierEvent> events;
  watch.on_event([&](const TierEvent& e) { events.push_back(e); });
  watch.update("system", 0, INFINITY);
  watch.update("system", 10e-6, 50e-6);  // in, at start: nothing to page about
  EXPECT_TRUE(events.empty());
  watch.update("system", 10e-6, 150e-6);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(events[0].within);
  EXPECT_EQ(events[0].clock, "system");
  EXPECT_DOUBLE_EQ(events[0].tier, 100e-6);
  EXPECT_NEAR(events[0].divergence, 160e-6, 1e-12);
  EXPECT_EQ(events[0].breaches, 1u);
  watch.update("system", 10e-6, 50e-6);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[1].within);
  EXPECT_STRNE(kTierBreachMessageId, kTierWithinMessageId);
  EXPECT_EQ(std::string(kTierBreachMessageId).size(), 32u);  // 128 bits in hex, as journald wants
}

TEST(TierWatch, TierTextIsAsPeopleSayIt) {
  EXPECT_EQ(tier_text(100e-6), "100 µs");
  EXPECT_EQ(tier_text(1e-3), "1 ms");
  EXPECT_EQ(tier_text(0.05), "50 ms");
  EXPECT_EQ(tier_text(2), "2 s");
}

TEST(ClockEvidence, SelectedSourcesWithTheirAuthenticationAndFollowersByCrossTimestamps) {
  ClockStatus system;
  system.name = "system";
  system.state = DisciplineState::kNoMajority;
  system.offset = -2e-6;
  system.error_bound = 5e-6;
  system.steps = 2;
  system.leap_armed = Leap::kInsert;
  system.sources = {SourceStatus{.name = "a.example", .selected = true}, SourceStatus{.name = "b.example"}};
  ClockStatus phc;
  phc.name = "eth0 PHC (/dev/ptp0)";
  phc.follows = "system";
  phc.error_bound = INFINITY;
  const auto snapshots = evidence_snapshots({system, phc}, [](const std::string& name) { return "auth of " + name; });
  ASSERT_EQ(snapshots.size(), 2u);
  EXPECT_EQ(snapshots[0].state, EvidenceState::kNoMajority);
  EXPECT_EQ(snapshots[0].offset, -2e-6);
  EXPECT_EQ(snapshots[0].max_error, 5e-6);
  EXPECT_EQ(snapshots[0].steps, 2u);
  EXPECT_EQ(snapshots[0].leap, "insert");
  ASSERT_EQ(snapshots[0].selected.size(), 1u);
  EXPECT_EQ(snapshots[0].selected[0], (EvidenceSource{"a.example", "auth of a.example"}));
  ASSERT_EQ(snapshots[1].selected.size(), 1u);
  EXPECT_EQ(snapshots[1].selected[0], (EvidenceSource{"system", "cross-timestamps"}));
  EXPECT_TRUE(std::isinf(snapshots[1].max_error));
}

TEST(KairosctlReport, TiersAndTimesAreReadAsWritten) {
  EXPECT_DOUBLE_EQ(*parse_tier("100us"), 100e-6);
  EXPECT_DOUBLE_EQ(*parse_tier("100µs"), 100e-6);
  EXPECT_DOUBLE_EQ(*parse_tier("1ms"), 1e-3);
  EXPECT_DOUBLE_EQ(*parse_tier("50 ms"), 50e-3);
  EXPECT_DOUBLE_EQ(*parse_tier("0.0001"), 1e-4);
  EXPECT_FALSE(parse_tier("fast"));
  EXPECT_FALSE(parse_tier("-1ms"));
  EXPECT_FALSE(parse_tier("ms"));
  EXPECT_EQ(parse_report_time_ms("2027-01-01"), 1798761600000);
  EXPECT_EQ(parse_report_time_ms("2027-01-01T00:00:10Z"), 1798761610000);
  EXPECT_EQ(parse_report_time_ms("2027-01-01T00:00:10"), 1798761610000);
  EXPECT_EQ(parse_report_time_ms("1798761600"), 1798761600000);
  EXPECT_FALSE(parse_report_time_ms("yesterday"));
  EXPECT_FALSE(parse_report_time_ms("2027-13-01"));
}

std::string capture(const std::function<int()>& run, int& code) {
  std::fflush(stdout);
  char name[] = "/tmp/kairos-report-XXXXXX";
  const int fd = ::mkstemp(name);
  const int saved = ::dup(1);
  ::dup2(fd, 1);
  code = run();
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  ::close(fd);
  std::ifstream in(name);
  std::stringstream text;
  text << in.rdbuf();
  ::unlink(name);
  return text.str();
}

TEST(KairosctlReport, SaysTheChainIsVerifiedAndExitsOneWhenItIsNot) {
  test::TempDir dir;
  EvidenceLogOptions options;
  options.dir = dir.file("evidence");
  constexpr std::int64_t kDayMs = 1798761600000;
  {
    auto log = EvidenceLog::open(options, kDayMs);
    ASSERT_TRUE(log);
    for (int i = 0; i < 100; ++i) {
      EvidenceSnapshot s;
      s.name = "system";
      s.state = EvidenceState::kSynchronized;
      s.offset = 1e-6;
      s.max_error = i < 90 ? 20e-6 : 2e-3;
      s.selected = {{"time.example", "nts,aead=15"}};
      (*log)->record(kDayMs + i * 1000, std::span(&s, 1));
    }
  }
  ReportCommandOptions report;
  report.dir = options.dir;
  int code = -1;
  std::string text = capture([&] { return run_report(report); }, code);
  EXPECT_EQ(code, 0) << text;
  EXPECT_NE(text.find("hash chain verified: 1 files, 104 records"), std::string::npos) << text;
  EXPECT_NE(text.find("within 100 µs"), std::string::npos) << text;
  EXPECT_NE(text.find("90.0000 %"), std::string::npos) << text;
  EXPECT_NE(text.find("time.example (nts,aead=15)"), std::string::npos) << text;
  report.format = "json";
  text = capture([&] { return run_report(report); }, code);
  EXPECT_NE(text.find("\"verified\": true"), std::string::npos) << text;
  report.format = "html";
  text = capture([&] { return run_report(report); }, code);
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_NE(text.find("Hash chain verified"), std::string::npos);
  // One record edited: the report says where, and the exit code says it.
  const std::string path = options.dir + "/evidence-2027-01-01.log";
  std::ifstream in(path);
  std::stringstream whole;
  whole << in.rdbuf();
  std::string content = whole.str();
  const std::size_t at = content.find(" 200000");  // the first 2 ms bound, record 90
  ASSERT_NE(at, std::string::npos);
  content.replace(at, 7, " 100000");
  std::ofstream(path, std::ios::trunc) << content;
  report.format = "text";
  text = capture([&] { return run_report(report); }, code);
  EXPECT_EQ(code, 1);
  EXPECT_NE(text.find("HASH CHAIN BROKEN"), std::string::npos) << text;
  EXPECT_NE(text.find("evidence-2027-01-01.log line 95"), std::string::npos) << text;
  report.dir = dir.file("nothing-here");
  capture([&] { return run_report(report); }, code);
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace kairos
