// Any bytes as an evidence log file (daemon/evidence_reader.hpp), read as kairosctl report reads
// it: every line parsed, the chain checked, the report built. Nothing may crash, and a file whose
// chain verifies must have parsed as a header first.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/evidence_reader.hpp"
#include "daemon/evidence_report.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  kairos::EvidenceFileScan scan = kairos::scan_evidence_text(text, "evidence-2027-01-01.log");
  if (scan.breaks.empty() && !scan.header) std::abort();
  if (scan.good_size > size) std::abort();
  // The same file twice in a row: the second's header must name the first's end to link.
  std::vector<kairos::EvidenceFileScan> files{scan, std::move(scan)};
  const kairos::EvidenceSet set = kairos::link_evidence_files(std::move(files));
  kairos::EvidenceReportOptions options;
  const kairos::EvidenceReport report = kairos::build_evidence_report(set, options);
  for (const kairos::ClockDay& day : report.days) {
    for (const kairos::TierShare& tier : day.tiers) {
      if (tier.within_ms < 0 || tier.within_ms > day.period_ms) std::abort();
    }
    if (day.recorded_ms > day.period_ms) std::abort();
  }
  return 0;
}
