#pragma once
// The evidence log's record format and its hash chain (issue 25): what a regulated host keeps to
// show, not claim, that each clock was within its maximum divergence from UTC. Pure: lines in and
// out, no files (daemon/evidence_log.* writes them, daemon/evidence_reader.* reads them back).
//
// Why line-oriented text: an auditor can read, grep and diff it without our tools, and at one
// record per clock per second it is still compact (~36 bytes a record, 6 MB a day for two clocks)
// because it carries only what changes every second: offset and bound as integer nanoseconds, the
// time as milliseconds since the file's UTC day, the clock as a small number declared once per file,
// and a 32-bit tag of the chain. The selected sources and their authentication change rarely, so
// they get a line of their own when they change (and at the head of every file).
//
// One line per record, fields separated by one space, `%XX`-escaped where a name could hold a
// space or a separator; the last field of every line is its tag:
//   H kairos-evidence 1 <day start, unix s> <interval ms> <previous file's chain hash, 64 hex>
//   C <t> <clock id> <clock name>                                   a clock of this file
//   R <t> <clock id> <state s|u|n|p> <offset ns> <max error ns|inf>  one per clock per interval
//   S <t> <clock id> <name=authentication>...                        the selected sources changed
//   E <t> <clock id> <event> <detail>                                step, state, leap, foreign-step
//   G <t> <from unix ms> <to unix ms> <records lost> <why>           records that could not be written
//   B <t> <last record's unix ms|none> <kairos version>             the writer (re)started
// <t> is milliseconds since the day start in the header, read on the host's real-time clock (the
// clock being judged: true time is that reading plus the offset).
//
// The chain: h(header) = SHA-256(previous file's last h || header text), h(line) = SHA-256(h(line
// before) || line text), the text without " <tag>"; the tag is h's first 8 hex digits. Each file
// names the full hash of the last line before it, so an edited, removed or reordered line, a
// truncated file and a missing file all break it. The chain has no secret: whoever can rewrite the
// files can rewrite the chain too. It proves the log was not changed after the last hash an
// outsider kept (kairosd logs the chain's head every hour for that; see README).
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "clock/result.hpp"

namespace kairos {

inline constexpr std::string_view kEvidenceMagic = "kairos-evidence";
inline constexpr int kEvidenceVersion = 1;

using ChainHash = std::array<std::uint8_t, 32>;
// The hash before the first file ever written: all zeros.
inline constexpr ChainHash kGenesisHash{};

enum class EvidenceState : char {
  kSynchronized = 's',
  kUnsynchronized = 'u',
  kNoMajority = 'n',
  kPanic = 'p',
};
const char* to_string(EvidenceState state);

struct EvidenceHeader {
  std::int64_t day_start = 0;    // unix seconds of the UTC midnight this file is for
  std::int64_t interval_ms = 1000;
  ChainHash previous{};          // the chain hash of the last line of the previous file
};

struct EvidenceClock {
  std::int64_t t = 0;  // ms since the day start
  int id = 0;
  std::string name;
};

// One clock at one instant. offset: true time minus the clock's reading (the model's estimate);
// max_error: the half-width of the interval around it the true time is in (none: unknown). So
// |true time - reading| <= |offset| + max_error, the figure the tiers are judged on.
struct EvidenceReading {
  std::int64_t t = 0;
  int id = 0;
  EvidenceState state = EvidenceState::kUnsynchronized;
  std::int64_t offset_ns = 0;
  std::optional<std::int64_t> max_error_ns;
};

struct EvidenceSource {
  std::string name;            // as configured, or the clock followed
  std::string authentication;  // e.g. "nts,aead=15,ntp=192.0.2.1:123", "ntp", "cross-timestamps"
  bool operator==(const EvidenceSource&) const = default;
};

struct EvidenceSources {
  std::int64_t t = 0;
  int id = 0;
  std::vector<EvidenceSource> sources;  // the selected ones
};

struct EvidenceEvent {
  std::int64_t t = 0;
  int id = 0;
  std::string kind;    // step, state, leap, foreign-step
  std::string detail;  // the new state, the leap armed, the number of steps so far; "-" when none
};

struct EvidenceGap {
  std::int64_t t = 0;
  std::int64_t from_ms = 0;  // unix ms of the first and the last record lost
  std::int64_t to_ms = 0;
  std::uint64_t lost = 0;
  std::string why;
};

struct EvidenceStart {
  std::int64_t t = 0;
  std::optional<std::int64_t> last_ms;  // unix ms of the last record before the restart
  std::string version;
};

using EvidenceLine = std::variant<EvidenceHeader, EvidenceClock, EvidenceReading, EvidenceSources, EvidenceEvent,
                                  EvidenceGap, EvidenceStart>;

// Rounding that never narrows the claim: the offset to the nearest ns, the bound up to the ns
// plus 1 ns for the offset's rounding, so the interval written holds the interval measured. An
// infinite, NaN or absurd (over 100 years) bound is unknown; the offset is clamped to ±100 years.
std::int64_t offset_to_ns(double offset);
std::optional<std::int64_t> max_error_to_ns(double max_error);

// The line's text without its tag (what is hashed).
std::string format_body(const EvidenceLine& line);
// Parses one line (without its newline): the record and its tag, or what is wrong.
struct ParsedLine {
  EvidenceLine line;
  std::string body;  // the hashed text
  std::string tag;   // 8 hex digits
};
Result<ParsedLine> parse_line(std::string_view text);

// h(line) from the previous line's h, and the tag it gives.
ChainHash chain_next(const ChainHash& previous, std::string_view body);
std::string chain_tag(const ChainHash& hash);
std::string to_hex(const ChainHash& hash);
std::optional<ChainHash> hash_from_hex(std::string_view hex);

// %XX escaping of the bytes a field must not hold (space, %, =, controls, DEL); and back (an error
// for a malformed escape).
std::string escape_field(std::string_view text);
Result<std::string> unescape_field(std::string_view text);

// The evidence file name for a UTC day, "evidence-2027-01-01.log", and its day start back.
std::string evidence_file_name(std::int64_t day_start);
std::optional<std::int64_t> day_start_of_file_name(std::string_view name);
// The UTC midnight at or before a unix time.
std::int64_t utc_day_start(std::int64_t unix_seconds);

}  // namespace kairos
