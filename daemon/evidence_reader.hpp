#pragma once
// Reading the evidence log back (kairosctl report, and kairosd at start to continue the chain):
// every line parsed, the hash chain recomputed and checked within each file and across files.
// The files are outside input (a disk, a copy an auditor was sent): anything may be in them, and
// every problem is reported with the file and line it is at, never trusted or crashed on.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"
#include "daemon/evidence_record.hpp"

namespace kairos {

// One parsed line with its absolute time and its clock's name (resolved from the file's C lines).
struct EvidenceEntry {
  std::int64_t unix_ms = 0;
  std::string clock;         // empty for lines of no clock (H, G, B)
  std::int64_t interval_ms = 1000;  // the file's record interval
  EvidenceLine line;
};

// Where the chain does not hold.
struct ChainBreak {
  std::string file;
  std::size_t line = 0;  // 1-based; 0: the file as a whole (its link to the one before)
  std::string what;
};

struct EvidenceFileScan {
  std::string name;
  std::optional<EvidenceHeader> header;
  std::vector<EvidenceEntry> entries;  // every line that parsed, in file order
  ChainHash end{};           // the chain hash after the last complete line, recomputed
  std::size_t lines = 0;     // complete lines
  std::size_t good_size = 0; // bytes up to the end of the last complete line
  bool torn = false;         // the file ends inside a line (cut, or a write that failed halfway)
  std::vector<ChainBreak> breaks;  // within the file (at most one per kind of problem and line)
};

// One file's text. `name` is used in messages only.
EvidenceFileScan scan_evidence_text(std::string_view text, std::string_view name);

struct EvidenceSet {
  std::vector<EvidenceFileScan> files;  // in date order
  std::vector<ChainBreak> breaks;       // within files and between them
  std::size_t lines = 0;
  bool verified() const { return breaks.empty(); }
};

// Links the files (already scanned, in date order): each header must name the end of the file
// before it; a day missing between two files is named. The first file's link is to a file that
// is not there (retention removed it, or it is the first ever), which is not a break.
EvidenceSet link_evidence_files(std::vector<EvidenceFileScan> files);

// Every evidence-YYYY-MM-DD.log in `dir`, scanned and linked; files of other names are ignored.
// An unreadable directory is an error; an unreadable file is a break.
Result<EvidenceSet> read_evidence_dir(const std::string& dir);

// One evidence file's bytes (at most 1 GiB).
Result<std::string> read_evidence_file(const std::string& path);

// The names of the evidence files in `dir`, sorted (oldest first).
Result<std::vector<std::string>> list_evidence_files(const std::string& dir);

}  // namespace kairos
