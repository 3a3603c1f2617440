#include "daemon/metrics_text.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace kairos {
namespace {

// One synchronized system clock, two sources (one without a sample yet), a server doing NTP and
// NTS-KE: every family the endpoint has.
DaemonStatus fixed_status() {
  DaemonStatus status;
  ClockStatus system;
  system.name = "system";
  system.state = DisciplineState::kSynchronized;
  system.steered = true;
  system.offset = -0.00025;
  system.error_bound = 0.0015;
  system.estimate_error = 2e-5;
  system.frequency = 1.25e-05;
  system.steps = 1;
  status.system = system;
  status.clocks.push_back(system);

  SourceSnapshot a;
  a.name = "time.example:4460";
  a.nts = true;
  a.reach = 0xff;
  a.poll = 6;
  a.selected = true;
  a.state = SourceState::kCombined;
  a.last = LastSample{.offset = 0.0005, .delay = 0.012, .when = {}};
  a.last_age = 3.5;
  a.counters = {.samples = 42, .timeouts = 2, .rejected = 1, .naks = 0, .kisses = 5, .ke_ok = 1, .ke_failed = 3, .interleaved = 7};
  status.sources.push_back(a);

  SourceSnapshot b;
  b.name = "silent";
  b.reach = 0;
  b.poll = -2;
  b.state = SourceState::kNoSelect;
  status.sources.push_back(b);

  ServerSnapshot server;
  server.ntp = true;
  server.received = 100;
  server.plain = 60;
  server.nts = 35;
  server.naks = 2;
  server.rate_limited = 1;
  server.dropped = 2;
  server.late = 7;
  server.rx_hardware = 80;
  server.rx_kernel = 19;
  server.rx_daemon = 1;
  server.tx_hardware = 30;
  server.tx_kernel = 2;
  server.latency_count = 95;
  server.latency_sum = 0.0038;
  server.latency_p50 = 2.5e-05;
  server.latency_p99 = 0.00075;
  server.latency_max = 0.0021;
  server.nts_ke = true;
  server.ke_ok = 5;
  server.ke_failed = 1;
  server.ke_refused = 4;
  status.server = server;
  return status;
}

TEST(MetricsText, FixedSnapshotGivesExactExposition) {
  const std::string expected = R"(# HELP kairos_build_info Always 1; the version of kairosd as a label.
# TYPE kairos_build_info gauge
kairos_build_info{version="1.2.3"} 1
# HELP kairos_clock_synchronized 1 when the clock's model is synchronized to its sources, else 0.
# TYPE kairos_clock_synchronized gauge
kairos_clock_synchronized{clock="system"} 1
# HELP kairos_clock_steered 1 when kairosd adjusts this clock, 0 when it only observes it.
# TYPE kairos_clock_steered gauge
kairos_clock_steered{clock="system"} 1
# HELP kairos_clock_offset_seconds True time minus the clock's reading, as the model estimates it.
# TYPE kairos_clock_offset_seconds gauge
kairos_clock_offset_seconds{clock="system"} -0.00025
# HELP kairos_clock_error_bound_seconds Maximum error: half-width of the interval around the offset the true time is in; +Inf while unknown.
# TYPE kairos_clock_error_bound_seconds gauge
kairos_clock_error_bound_seconds{clock="system"} 0.0015
# HELP kairos_clock_estimate_error_seconds The model's standard deviation of the offset; +Inf while unknown.
# TYPE kairos_clock_estimate_error_seconds gauge
kairos_clock_estimate_error_seconds{clock="system"} 2e-05
# HELP kairos_clock_frequency_offset_ratio The model's correction of the clock's rate, a fraction (1e-06 is 1 ppm).
# TYPE kairos_clock_frequency_offset_ratio gauge
kairos_clock_frequency_offset_ratio{clock="system"} 1.25e-05
# HELP kairos_clock_steps_total Times the clock was stepped instead of slewed.
# TYPE kairos_clock_steps_total counter
kairos_clock_steps_total{clock="system"} 1
# HELP kairos_source_reachable 1 when one of the last eight polls was answered, else 0.
# TYPE kairos_source_reachable gauge
kairos_source_reachable{source="time.example:4460"} 1
kairos_source_reachable{source="silent"} 0
# HELP kairos_source_reach The reach register: the last eight polls, newest in bit 0 (0 to 255).
# TYPE kairos_source_reach gauge
kairos_source_reach{source="time.example:4460"} 255
kairos_source_reach{source="silent"} 0
# HELP kairos_source_poll_seconds The current poll interval.
# TYPE kairos_source_poll_seconds gauge
kairos_source_poll_seconds{source="time.example:4460"} 64
kairos_source_poll_seconds{source="silent"} 0.25
# HELP kairos_source_selected 1 when the source was a truechimer in the last selection, else 0.
# TYPE kairos_source_selected gauge
kairos_source_selected{source="time.example:4460"} 1
kairos_source_selected{source="silent"} 0
# HELP kairos_source_state 1 for where the source stood in the last selection: combined (steers), selected (voted; a preferred source steers), not selected, noselect, too far (root distance beyond max-distance), disagrees (a refclock outside the NTS-authenticated time), unconfirmed (require-agreement, not yet confirmed by NTS), no sample.
# TYPE kairos_source_state gauge
kairos_source_state{source="time.example:4460",state="combined"} 1
kairos_source_state{source="time.example:4460",state="selected"} 0
kairos_source_state{source="time.example:4460",state="not selected"} 0
kairos_source_state{source="time.example:4460",state="noselect"} 0
kairos_source_state{source="time.example:4460",state="too far"} 0
kairos_source_state{source="time.example:4460",state="disagrees"} 0
kairos_source_state{source="time.example:4460",state="unconfirmed"} 0
kairos_source_state{source="time.example:4460",state="no sample"} 0
kairos_source_state{source="silent",state="combined"} 0
kairos_source_state{source="silent",state="selected"} 0
kairos_source_state{source="silent",state="not selected"} 0
kairos_source_state{source="silent",state="noselect"} 1
kairos_source_state{source="silent",state="too far"} 0
kairos_source_state{source="silent",state="disagrees"} 0
kairos_source_state{source="silent",state="unconfirmed"} 0
kairos_source_state{source="silent",state="no sample"} 0
# HELP kairos_source_last_offset_seconds Offset of the last accepted sample, server minus us.
# TYPE kairos_source_last_offset_seconds gauge
kairos_source_last_offset_seconds{source="time.example:4460"} 5e-04
# HELP kairos_source_last_delay_seconds Round-trip delay of the last accepted sample.
# TYPE kairos_source_last_delay_seconds gauge
kairos_source_last_delay_seconds{source="time.example:4460"} 0.012
# HELP kairos_source_last_sample_age_seconds Time since the last accepted sample was taken.
# TYPE kairos_source_last_sample_age_seconds gauge
kairos_source_last_sample_age_seconds{source="time.example:4460"} 3.5
# HELP kairos_source_samples_total Samples accepted from the source.
# TYPE kairos_source_samples_total counter
kairos_source_samples_total{source="time.example:4460"} 42
kairos_source_samples_total{source="silent"} 0
# HELP kairos_source_interleaved_samples_total Accepted samples from interleaved answers.
# TYPE kairos_source_interleaved_samples_total counter
kairos_source_interleaved_samples_total{source="time.example:4460"} 7
kairos_source_interleaved_samples_total{source="silent"} 0
# HELP kairos_source_timeouts_total Polls that got no usable answer in time.
# TYPE kairos_source_timeouts_total counter
kairos_source_timeouts_total{source="time.example:4460"} 2
kairos_source_timeouts_total{source="silent"} 0
# HELP kairos_source_rejected_total Responses that failed a check (forged, stale, unauthenticated).
# TYPE kairos_source_rejected_total counter
kairos_source_rejected_total{source="time.example:4460"} 1
kairos_source_rejected_total{source="silent"} 0
# HELP kairos_source_naks_total NTS NAKs received (the server could not open our cookie).
# TYPE kairos_source_naks_total counter
kairos_source_naks_total{source="time.example:4460"} 0
kairos_source_naks_total{source="silent"} 0
# HELP kairos_source_kisses_total Kiss-o'-Death answers received (RATE, DENY, RSTR).
# TYPE kairos_source_kisses_total counter
kairos_source_kisses_total{source="time.example:4460"} 5
kairos_source_kisses_total{source="silent"} 0
# HELP kairos_source_nts_ke_total NTS-KE sessions with the source's key-exchange server, by result.
# TYPE kairos_source_nts_ke_total counter
kairos_source_nts_ke_total{source="time.example:4460",result="ok"} 1
kairos_source_nts_ke_total{source="time.example:4460",result="failed"} 3
kairos_source_nts_ke_total{source="silent",result="ok"} 0
kairos_source_nts_ke_total{source="silent",result="failed"} 0
# HELP kairos_guard_alarm 1 while any refclock disagrees with the NTS-authenticated time (page on this), else 0.
# TYPE kairos_guard_alarm gauge
kairos_guard_alarm 0
# HELP kairos_server_ntp_requests_total NTP requests received by the server.
# TYPE kairos_server_ntp_requests_total counter
kairos_server_ntp_requests_total 100
# HELP kairos_server_ntp_responses_total NTP responses sent with time, by kind.
# TYPE kairos_server_ntp_responses_total counter
kairos_server_ntp_responses_total{kind="plain"} 60
kairos_server_ntp_responses_total{kind="nts"} 35
# HELP kairos_server_ntp_naks_total NTS NAKs sent (cookie that could not be opened).
# TYPE kairos_server_ntp_naks_total counter
kairos_server_ntp_naks_total 2
# HELP kairos_server_ntp_rate_limited_total RATE kiss-o'-death answers, plain and NTS.
# TYPE kairos_server_ntp_rate_limited_total counter
kairos_server_ntp_rate_limited_total 1
# HELP kairos_server_ntp_dropped_total Requests dropped without an answer.
# TYPE kairos_server_ntp_dropped_total counter
kairos_server_ntp_dropped_total 2
# HELP kairos_server_ntp_late_dropped_total Requests dropped unanswered because they waited longer than max-wait after their kernel RX stamp.
# TYPE kairos_server_ntp_late_dropped_total counter
kairos_server_ntp_late_dropped_total 7
# HELP kairos_server_ntp_rx_stamps_total Requests by the stamp of their receive timestamp: hardware (the NIC's, converted to system time), kernel (software), daemon (read in user space).
# TYPE kairos_server_ntp_rx_stamps_total counter
kairos_server_ntp_rx_stamps_total{source="hardware"} 80
kairos_server_ntp_rx_stamps_total{source="kernel"} 19
kairos_server_ntp_rx_stamps_total{source="daemon"} 1
# HELP kairos_server_ntp_tx_stamps_total Transmit stamps that improved a saved answer for the interleaved mode, by source.
# TYPE kairos_server_ntp_tx_stamps_total counter
kairos_server_ntp_tx_stamps_total{source="hardware"} 30
kairos_server_ntp_tx_stamps_total{source="kernel"} 2
# HELP kairos_server_ntp_response_latency_seconds Kernel RX stamp of a request to its answer handed to the kernel, every answer since the start.
# TYPE kairos_server_ntp_response_latency_seconds summary
kairos_server_ntp_response_latency_seconds{quantile="0.5"} 2.5e-05
kairos_server_ntp_response_latency_seconds{quantile="0.99"} 0.00075
kairos_server_ntp_response_latency_seconds{quantile="1"} 0.0021
kairos_server_ntp_response_latency_seconds_sum 0.0038
kairos_server_ntp_response_latency_seconds_count 95
# HELP kairos_server_nts_ke_connections_total NTS-KE connections by result: ok (cookies sent), failed, refused (over a limit).
# TYPE kairos_server_nts_ke_connections_total counter
kairos_server_nts_ke_connections_total{result="ok"} 5
kairos_server_nts_ke_connections_total{result="failed"} 1
kairos_server_nts_ke_connections_total{result="refused"} 4
)";
  EXPECT_EQ(metrics_text(fixed_status(), "1.2.3"), expected);
}

TEST(MetricsText, QuoteBackslashAndNewlineInSourceNameAreEscaped) {
  DaemonStatus status;
  SourceSnapshot s;
  s.name = "odd\"name\\with\nbreak";
  status.sources.push_back(s);
  const std::string text = metrics_text(status, "v");
  EXPECT_NE(text.find("kairos_source_samples_total{source=\"odd\\\"name\\\\with\\nbreak\"} 0\n"), std::string::npos)
      << text;
  // No raw line feed inside a sample: every line is a comment or starts with a metric name.
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    EXPECT_TRUE(line.starts_with("# ") || line.starts_with("kairos_")) << line;
    start = end + 1;
  }
}

TEST(MetricsText, EscapeLabelValueLeavesPlainTextAlone) {
  EXPECT_EQ(escape_label_value("ntp.example:123"), "ntp.example:123");
  EXPECT_EQ(escape_label_value("a\"b"), "a\\\"b");
  EXPECT_EQ(escape_label_value("a\\b"), "a\\\\b");
  EXPECT_EQ(escape_label_value("a\nb"), "a\\nb");
}

TEST(MetricsText, UnknownErrorBoundIsPlusInf) {
  DaemonStatus status;
  ClockStatus c;
  c.name = "system";
  c.error_bound = std::numeric_limits<double>::infinity();
  status.clocks.push_back(c);
  const std::string text = metrics_text(status, "v");
  EXPECT_NE(text.find("kairos_clock_error_bound_seconds{clock=\"system\"} +Inf\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_clock_synchronized{clock=\"system\"} 0\n"), std::string::npos) << text;
}

TEST(MetricsText, SourceWithoutSampleHasNoLastSampleSeries) {
  DaemonStatus status;
  SourceSnapshot s;
  s.name = "new";
  status.sources.push_back(s);
  const std::string text = metrics_text(status, "v");
  EXPECT_EQ(text.find("kairos_source_last_offset_seconds{"), std::string::npos) << text;
  EXPECT_EQ(text.find("kairos_source_last_delay_seconds{"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_reachable{source=\"new\"} 0\n"), std::string::npos) << text;
}

TEST(MetricsText, NoServerMeansNoServerFamilies) {
  DaemonStatus status;
  EXPECT_EQ(metrics_text(status, "v").find("kairos_server_"), std::string::npos);
  status.server = ServerSnapshot{};  // serving, but neither NTP nor NTS-KE runs
  EXPECT_EQ(metrics_text(status, "v").find("kairos_server_"), std::string::npos);
  status.server->nts_ke = true;
  const std::string text = metrics_text(status, "v");
  EXPECT_EQ(text.find("kairos_server_ntp_"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_server_nts_ke_connections_total{result=\"ok\"} 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

TEST(MetricsText, TiersAreOneSeriesPerClockAndTier) {
  DaemonStatus status;
  ClockStatus c;
  c.name = "system";
  c.tiers = {TierState{.tier = 0.0001, .within = false, .breaches = 3}, TierState{.tier = 0.001, .within = true, .breaches = 0}};
  status.clocks.push_back(c);
  const std::string text = metrics_text(status, "v");
  EXPECT_NE(text.find("kairos_clock_within_tier{clock=\"system\",tier=\"0.0001\"} 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_clock_within_tier{clock=\"system\",tier=\"0.001\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_clock_tier_breaches_total{clock=\"system\",tier=\"0.0001\"} 3\n"), std::string::npos)
      << text;
  status.clocks[0].tiers.clear();
  EXPECT_EQ(metrics_text(status, "v").find("tier"), std::string::npos);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// A refclock that lies: the alarm operators page on, per source and for the daemon.
TEST(MetricsText, RefclockDisagreeingWithNtsRaisesTheGuardAlarm) {
  DaemonStatus status;
  RefclockStatus gm;
  gm.name = "gm";
  gm.device = "/dev/ptp0";
  gm.readings = 10;
  gm.last_offset = 0.005;
  gm.source.guarded = true;
  gm.source.state = SourceState::kDisagrees;
  gm.source.guard = GuardState::kDisagrees;
  gm.source.disagreement = 0.005;
  gm.source.guard_rejected = 4;
  gm.source.guard_episodes = 1;
  add_refclocks(status, {gm});
  std::string text = metrics_text(status, "v");
  EXPECT_NE(text.find("kairos_guard_alarm 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_guard_alarm{source=\"gm\"} 1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_disagreement_seconds{source=\"gm\"} 0.005\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_guard_rejected_total{source=\"gm\"} 4\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_state{source=\"gm\",state=\"disagrees\"} 1\n"), std::string::npos) << text;
  status.sources.front().guard->state = GuardState::kAgrees;
  text = metrics_text(status, "v");
  EXPECT_NE(text.find("kairos_guard_alarm 0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kairos_source_guard_alarm{source=\"gm\"} 0\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace kairos
