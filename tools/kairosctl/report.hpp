#pragma once
// kairosctl report: the compliance report over an evidence log directory (issue 25), read from
// the files alone (no daemon needed), as text, JSON or a self-contained HTML page with a plot.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "daemon/evidence_report.hpp"

namespace kairos {

struct ReportCommandOptions {
  std::string dir = "/var/lib/kairos/evidence";
  std::string from;  // empty: the log's first record
  std::string to;    // empty: the log's last record
  std::vector<std::string> tiers;  // empty: 100us and 1ms
  std::string format = "text";     // text | json | html
};

// "2027-01-01" (its UTC midnight), "2027-01-01T12:00:00Z" (Z optional), or unix seconds.
std::optional<std::int64_t> parse_report_time_ms(const std::string& text);
// "100us", "100µs", "1ms", "50 ms", "1s", or plain seconds ("0.0001").
std::optional<double> parse_tier(const std::string& text);

std::string report_text(const EvidenceReport& report);
std::string report_json(const EvidenceReport& report);
// The page plots each clock's offset and maximum error over the range from the log's readings.
std::string report_html(const EvidenceReport& report, const EvidenceSet& set);

// Exit codes: 0 the chain verified, 1 it is broken (the report is printed all the same),
// 2 bad options or no readable directory.
int run_report(const ReportCommandOptions& options);

}  // namespace kairos
