#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "daemon/daemon_status.hpp"
#include "status_format.hpp"

namespace kairos {
namespace {

using nlohmann::json;

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

json status_answer(const char* state, json bound) {
  return json{{"system",
               {{"name", "system"}, {"state", state}, {"steered", false}, {"offset", 2.547e-6},
                {"error_bound", bound}, {"frequency_ppm", -12.3456}, {"frequency_sd_ppm", 0.01}, {"steps", 0},
                {"sources", 2}, {"sources_selected", 1}, {"sources_reachable", 2}}},
              {"serving", true}};
}

TEST(KairosctlFormat, OffsetSpellsOutSecondsAndTheBound) {
  EXPECT_EQ(format_offset(2.547e-6, 5.39e-6), "+0.000002547 s ± 0.000005390 s");
  EXPECT_EQ(format_offset(-0.25, nullptr), "-0.250000000 s ± unknown");
}

TEST(KairosctlFormat, ReachIsOctal) {
  EXPECT_EQ(format_reach(255), "377");
  EXPECT_EQ(format_reach(5), "5");
  EXPECT_EQ(format_reach(0), "0");
}

TEST(KairosctlFormat, StatusShowsStateOffsetFrequencyAndSources) {
  const std::string out = format_status(status_answer("synchronized", 5.39e-6));
  EXPECT_NE(out.find("System clock    : synchronized (observed, not steered)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Offset          : +0.000002547 s ± 0.000005390 s\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Frequency       : -12.346 ppm ± 0.010 ppm\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Sources         : 1 selected of 2 (2 reachable)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Serving time    : yes\n"), std::string::npos) << out;
}

TEST(KairosctlFormat, StatusShowsTheEstimateErrorBesideTheMaximumError) {
  json answer = status_answer("synchronized", 120e-6);
  EXPECT_EQ(format_status(answer).find("Estimate error"), std::string::npos);  // an older kairosd
  answer["system"]["estimate_error"] = 0.812e-6;
  const std::string out = format_status(answer);
  EXPECT_NE(out.find("Offset          : +0.000002547 s ± 0.000120000 s\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Estimate error  : 0.000000812 s (1 sd)\n"), std::string::npos) << out;
}

TEST(KairosctlFormat, StatusNamesAnAnnouncedLeapSecondAndWhetherItIsArmed) {
  json answer = status_answer("synchronized", 5.39e-6);
  EXPECT_EQ(format_status(answer).find("Leap second"), std::string::npos);
  answer["system"]["leap"] = "insert";
  answer["system"]["leap_armed"] = false;
  EXPECT_NE(format_status(answer).find("Leap second     : insert announced; armed on the month's last day\n"),
            std::string::npos);
  answer["system"]["leap_armed"] = true;
  EXPECT_NE(format_status(answer).find("Leap second     : insert announced; armed for midnight UTC\n"),
            std::string::npos);
}

TEST(KairosctlFormat, SourcesAreAlignedColumnsWithMarks) {
  const json answer = json::parse(R"({"sources":[
    {"name":"time.example.net","address":"192.0.2.1:123","mode":"nts","has_keys":true,"cookies":8,"reach":255,
     "poll":-2,"selected":true,"last_sample":{"offset":1e-4,"error":2e-5,"delay":4e-5,"age":0.3},
     "counters":{"samples":12,"timeouts":1}},
    {"name":"b","address":"","mode":"plain","has_keys":false,"cookies":0,"reach":0,"poll":6,"selected":false,
     "last_sample":null,"counters":{"samples":0,"timeouts":3}}]})");
  const auto out = lines(format_sources(answer));
  ASSERT_EQ(out.size(), 6u);  // header, two sources, the legend's three lines
  EXPECT_EQ(out[0].rfind("S  NAME", 0), 0u) << out[0];
  EXPECT_EQ(out[1].rfind("*  time.example.net  192.0.2.1:123  keys, 8 cookies  377", 0), 0u) << out[1];
  EXPECT_NE(out[1].find("0.25 s"), std::string::npos) << out[1];
  EXPECT_NE(out[1].find("+0.000100000 s ± 0.000020000 s"), std::string::npos) << out[1];
  EXPECT_NE(out[1].find("0.000040000 s"), std::string::npos) << out[1];
  EXPECT_EQ(out[2].rfind("?  b                 -              plain            0 ", 0), 0u) << out[2];
  // Aligned: the POLL column starts at the same place on every row.
  EXPECT_EQ(out[0].find("POLL"), out[1].find("0.25 s"));
  EXPECT_EQ(out[0].find("POLL"), out[2].find("64 s"));
}

// Each source's part in the selection, as chrony's sources marks it.
TEST(KairosctlFormat, SourcesMarkTheirStateInTheSelection) {
  json answer = json{{"sources", json::array()}};
  for (const char* state : {"combined", "selected", "not selected", "noselect", "too far"}) {
    answer["sources"].push_back(json{{"name", state}, {"address", ""}, {"mode", "plain"}, {"reach", 1}, {"poll", 4},
                                     {"selected", false}, {"state", state},
                                     {"last_sample", {{"offset", 0}, {"error", 0}, {"delay", 0}, {"age", 0}}},
                                     {"counters", {{"samples", 1}, {"timeouts", 0}}}});
  }
  const auto out = lines(format_sources(answer));
  ASSERT_EQ(out.size(), 9u);
  EXPECT_EQ(out[1].rfind("*  combined", 0), 0u) << out[1];
  EXPECT_EQ(out[2].rfind("+  selected", 0), 0u) << out[2];
  EXPECT_EQ(out[3].rfind("-  not selected", 0), 0u) << out[3];
  EXPECT_EQ(out[4].rfind("N  noselect", 0), 0u) << out[4];
  EXPECT_EQ(out[5].rfind("d  too far", 0), 0u) << out[5];
  EXPECT_NE(out[6].find("N noselect"), std::string::npos) << out[6];
}

TEST(KairosctlFormat, ClocksShowOneRowPerClock) {
  const json answer = json{{"clocks", json::array({status_answer("unsynchronized", nullptr)["system"]})}};
  const auto out = lines(format_clocks(answer));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].rfind("system  unsynchronized (observed, not steered)", 0), 0u) << out[1];
  EXPECT_NE(out[1].find("± unknown"), std::string::npos) << out[1];
  EXPECT_NE(out[1].find("1/2 selected"), std::string::npos) << out[1];
}

TEST(KairosctlFormat, ServerShowsCountersOrSaysItServesNothing) {
  const json answer = json::parse(R"({"server":{"ntp":{"received":15,"served":13,"plain":3,"nts":10,"naks":1,
    "rate_limited":2,"dropped":0,"late":1,"latency":{"count":13,"p50":2.5e-5,"p99":1.2e-4,"max":3e-4},
    "rx_stamps":{"hardware":12,"kernel":3,"daemon":0},"tx_stamps":{"hardware":9,"kernel":1}},
    "nts_ke":{"ok":4,"failed":1,"refused":0}}})");
  const std::string out = format_server(answer);
  // Issue 24 item 2: requests dropped for waiting too long, and the server's RX-to-TX latency.
  EXPECT_NE(out.find("Late, dropped   : 1 (waited longer than max-wait)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("RX to TX        : p50 25.0 µs, p99 120.0 µs, max 300.0 µs\n"), std::string::npos) << out;
  EXPECT_NE(out.find("NTP served      : 13 (3 plain, 10 NTS)\n"), std::string::npos) << out;
  // Issue 24 item 4: answers by the kind of their stamps (hardware on the server).
  EXPECT_NE(out.find("RX stamps       : 12 hardware, 3 kernel, 0 daemon\n"), std::string::npos) << out;
  EXPECT_NE(out.find("TX stamps       : 9 hardware, 1 kernel (interleaved answers)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Rate-limited    : 2 (RATE kisses)\n"), std::string::npos) << out;
  EXPECT_NE(out.find("NTS-KE          : 4 ok, 1 failed, 0 refused"), std::string::npos) << out;
  EXPECT_NE(format_server(json{{"server", nullptr}}).find("serves no time"), std::string::npos);
}

TEST(KairosctlFormat, MissingFieldsPrintAsDashesNotCrashes) {
  EXPECT_NE(format_status(json::object()).find("System clock    : -"), std::string::npos);
  EXPECT_EQ(format_sources(json::object()), "no sources\n");
  EXPECT_EQ(format_clocks(json{{"clocks", 3}}), "no clocks\n");
}

TEST(KairosctlWaitsync, SynchronizedWithinTheMaxErrorPasses) {
  EXPECT_TRUE(check_sync(status_answer("synchronized", 0.004), 0.01).synchronized);
  EXPECT_FALSE(check_sync(status_answer("synchronized", 0.02), 0.01).synchronized);
  EXPECT_FALSE(check_sync(status_answer("unsynchronized", 0.004), 0.01).synchronized);
  EXPECT_FALSE(check_sync(status_answer("synchronized", nullptr), 1e9).synchronized);
  EXPECT_TRUE(check_sync(status_answer("synchronized", 5.0), std::numeric_limits<double>::infinity()).synchronized);
  EXPECT_EQ(check_sync(status_answer("no majority", 0.004), 0.01).summary,
            "no majority, offset +0.000002547 s ± 0.004000000 s");
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

TEST(KairosctlFormat, StatusShowsTaiMinusUtcFromTheListAndTheSmear) {
  json answer = status_answer("synchronized", 5.39e-6);
  LeapStatus leap;
  leap.list = "/usr/share/zoneinfo/leap-seconds.list";
  leap.list_expiry = 1782604800;  // 2026-06-28
  leap.tai_utc = 37;
  leap.next_leap = LeapEvent{.utc = 1798761600, .leap = Leap::kInsert, .tai_utc_after = 38};  // 2027-01-01
  leap.smear = "linear-24h";
  leap.smear_active = true;
  leap.smear_offset = -0.25;
  answer["leap"] = leap_json(leap);
  std::string out = format_status(answer);
  EXPECT_NE(out.find("TAI - UTC       : 37 s (from /usr/share/zoneinfo/leap-seconds.list, expires 2026-06-28)\n"),
            std::string::npos) << out;
  EXPECT_NE(out.find("Next leap       : insert at the end of 2026-12-31\n"), std::string::npos) << out;
  EXPECT_NE(out.find("Leap smear      : linear-24h active, offset -0.250000000 s\n"), std::string::npos) << out;
  // Expired: TAI - UTC is not claimed.
  leap.tai_utc.reset();
  leap.next_leap.reset();
  leap.list_expired = true;
  leap.smear = "none";
  answer["leap"] = leap_json(leap);
  out = format_status(answer);
  EXPECT_NE(out.find("TAI - UTC       : unknown (/usr/share/zoneinfo/leap-seconds.list expired 2026-06-28)\n"),
            std::string::npos) << out;
  EXPECT_EQ(out.find("Leap smear"), std::string::npos) << out;
  answer["leap"] = leap_json(LeapStatus{});
  EXPECT_NE(format_status(answer).find("TAI - UTC       : unknown (no leap-seconds.list)\n"), std::string::npos);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

TEST(KairosctlFormat, RefclockShowsItsDeviceAndWhatNtsSaysOfIt) {
  const json answer = json::parse(R"({"sources":[
    {"name":"gm","address":"/dev/ptp0","mode":"refclock","reach":255,"poll":0,"selected":false,"state":"disagrees",
     "last_sample":{"offset":5e-3,"error":1e-8,"delay":2e-8,"age":0.5},"counters":{"samples":300,"timeouts":0},
     "guard":{"state":"disagrees","alarm":true,"disagreement":0.005,"rejected":42,"episodes":1},"problem":null},
    {"name":"tai","address":"/dev/ptp1","mode":"refclock","reach":0,"poll":0,"selected":false,"state":"no sample",
     "last_sample":null,"counters":{"samples":0,"timeouts":0},
     "guard":{"state":"no authenticated time","alarm":false,"disagreement":null,"rejected":0,"episodes":0},
     "problem":"TAI - UTC is unknown"}]})");
  const std::string out = format_sources(answer);
  const auto rows = lines(out);
  EXPECT_EQ(rows[1].rfind("x  gm    /dev/ptp0  refclock", 0), 0u) << rows[1];
  EXPECT_NE(out.find("gm: ALARM: disagrees with authenticated time by +0.005000000 s (42 samples refused, 1 times)\n"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("tai: no authenticated time to check it against\n"), std::string::npos) << out;
  EXPECT_NE(out.find("tai: TAI - UTC is unknown\n"), std::string::npos) << out;
  json status = json::parse(R"({"system":{"name":"system","state":"synchronized","offset":0,"error_bound":1e-6},
                               "serving":false,"guard_alarm":true})");
  EXPECT_NE(format_status(status).find("NTS guard       : ALARM"), std::string::npos) << format_status(status);
  status["guard_alarm"] = false;
  EXPECT_EQ(format_status(status).find("NTS guard"), std::string::npos);
}

}  // namespace
}  // namespace kairos
