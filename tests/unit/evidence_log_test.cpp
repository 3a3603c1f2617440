// The evidence log (issue 25): its record format, the hash chain across lines and files, the
// writer's behaviour on a full disk and across restarts, retention, and the report's arithmetic.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <limits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon/evidence_log.hpp"
#include "daemon/evidence_reader.hpp"
#include "daemon/evidence_record.hpp"
#include "daemon/evidence_report.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using test::TempDir;

// 2027-01-01 00:00:00 UTC.
constexpr std::int64_t kDay = 1798761600;
constexpr std::int64_t kDayMs = kDay * 1000;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

EvidenceSnapshot clock(const std::string& name, double offset, double max_error,
                       EvidenceState state = EvidenceState::kSynchronized) {
  EvidenceSnapshot s;
  s.name = name;
  s.state = state;
  s.offset = offset;
  s.max_error = max_error;
  s.selected = {{"time.example.net", "nts,aead=15,ntp=192.0.2.1:123"}};
  return s;
}

std::unique_ptr<EvidenceLog> open_log(const TempDir& dir, std::int64_t now_ms, EvidenceLog::WriteFn write = {},
                                      EvidenceLogOptions options = {}) {
  options.dir = dir.path() + "/evidence";
  auto log = EvidenceLog::open(options, now_ms, std::move(write));
  EXPECT_TRUE(log) << log.error().message;
  return log ? std::move(*log) : nullptr;
}

// Every second from `from` for `seconds`, one system clock within 50 µs ± 20 µs.
void write_seconds(EvidenceLog& log, std::int64_t from_ms, int seconds) {
  for (int i = 0; i < seconds; ++i) {
    const EvidenceSnapshot c = clock("system", 50e-6, 20e-6);
    log.record(from_ms + i * 1000, std::span(&c, 1));
    if (i % 100 == 99) log.flush();
  }
  log.flush();
}

EvidenceSet read_dir(const TempDir& dir) {
  auto set = read_evidence_dir(dir.path() + "/evidence");
  EXPECT_TRUE(set) << set.error().message;
  return set ? std::move(*set) : EvidenceSet{};
}

std::string breaks_text(const EvidenceSet& set) {
  std::string out;
  for (const ChainBreak& b : set.breaks) out += b.file + ":" + std::to_string(b.line) + ": " + b.what + "\n";
  return out;
}

TEST(EvidenceRecord, EveryKindOfLineRoundTrips) {
  const std::vector<EvidenceLine> lines{
      EvidenceHeader{.day_start = kDay, .interval_ms = 1000, .previous = chain_next(kGenesisHash, "x")},
      EvidenceClock{.t = 5, .id = 1, .name = "eth0 PHC (/dev/ptp0)"},
      EvidenceReading{.t = 43200123, .id = 1, .state = EvidenceState::kNoMajority, .offset_ns = -2547, .max_error_ns = 5391},
      EvidenceReading{.t = -20, .id = 0, .state = EvidenceState::kUnsynchronized, .offset_ns = 0, .max_error_ns = {}},
      EvidenceSources{.t = 7, .id = 0, .sources = {{"a=b %c", "nts,aead=15"}, {"192.0.2.7", "ntp"}}},
      EvidenceEvent{.t = 8, .id = 0, .kind = "state", .detail = "no-majority"},
      EvidenceGap{.t = 9, .from_ms = kDayMs, .to_ms = kDayMs + 5000, .lost = 6, .why = "No space left on device"},
      EvidenceStart{.t = 10, .last_ms = kDayMs - 1000, .version = "0.1.0"},
      EvidenceStart{.t = 10, .last_ms = {}, .version = "0.1.0"},
  };
  for (const EvidenceLine& line : lines) {
    const std::string body = format_body(line);
    auto parsed = parse_line(body + " 0123abcd");
    ASSERT_TRUE(parsed) << body << ": " << parsed.error().message;
    EXPECT_EQ(parsed->body, body);
    EXPECT_EQ(format_body(parsed->line), body);
    EXPECT_EQ(parsed->line.index(), line.index()) << body;
  }
  auto sources = parse_line(format_body(lines[4]) + " 0123abcd");
  EXPECT_EQ(std::get<EvidenceSources>(sources->line).sources[0].name, "a=b %c");
}

TEST(EvidenceRecord, MalformedLinesAreRefusedWithAReason) {
  for (const std::string& text : std::vector<std::string>{
           "", "R 1 0 s 5 7", "R 1 0 s 5 7 0123ABCD", "R 1 0 x 5 7 0123abcd", "R 1 0 s 5 -7 0123abcd",
        "R 1 0 s 5.0 7 0123abcd", "R 1 999 s 5 7 0123abcd", "R 1  0 s 5 7 0123abcd", "Q 1 0123abcd",
        "H kairos-evidence 2 1798761600 1000 " + std::string(64, '0') + " 0123abcd",
        "H kairos-evidence 1 1798761601 1000 " + std::string(64, '0') + " 0123abcd", "C 1 0 bad%zz 0123abcd",
        "C 1 0 cut% 0123abcd", "G 1 10 5 1 why 0123abcd", "S 1 0 noequals 0123abcd"}) {
    EXPECT_FALSE(parse_line(text)) << text;
  }
}

TEST(EvidenceRecord, TheBoundIsRoundedUpAndCoversTheOffsetsRounding) {
  // The interval written must hold the interval measured: never narrower.
  EXPECT_EQ(offset_to_ns(-2.5474e-6), -2547);
  EXPECT_EQ(max_error_to_ns(5.3901e-6), 5392);  // ceil(5390.1) + 1
  EXPECT_EQ(max_error_to_ns(5.390e-6), 5391);
  EXPECT_FALSE(max_error_to_ns(std::numeric_limits<double>::infinity()));
  EXPECT_FALSE(max_error_to_ns(std::nan("")));
  for (double offset : {1.23456789e-5, -9.87654321e-4, 3.3e-7}) {
    for (double bound : {1e-6, 7.77777e-5}) {
      const double written_low = static_cast<double>(offset_to_ns(offset) - *max_error_to_ns(bound)) * 1e-9;
      const double written_high = static_cast<double>(offset_to_ns(offset) + *max_error_to_ns(bound)) * 1e-9;
      EXPECT_LE(written_low, offset - bound);
      EXPECT_GE(written_high, offset + bound);
    }
  }
}

TEST(EvidenceRecord, FileNamesAreUtcDays) {
  EXPECT_EQ(evidence_file_name(kDay), "evidence-2027-01-01.log");
  EXPECT_EQ(day_start_of_file_name("evidence-2027-01-01.log"), kDay);
  EXPECT_FALSE(day_start_of_file_name("evidence-2027-02-31.log"));
  EXPECT_FALSE(day_start_of_file_name("evidence-2027-1-01.log"));
  EXPECT_EQ(utc_day_start(kDay + 86399), kDay);
  EXPECT_EQ(utc_day_start(-1), -86400);
}

TEST(EvidenceLog, ADayOfTwoClocksIsAFewMegabytesAndVerifies) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  for (int i = 0; i < 86400; ++i) {
    const EvidenceSnapshot clocks[] = {clock("system", -2.547e-6, 5.39e-6),
                                       clock("eth0 PHC (/dev/ptp0)", 1.2e-7, 8.5e-7)};
    log->record(kDayMs + i * 1000 + 137, clocks);
    if (i % 600 == 0) log->flush();
  }
  log->flush();
  struct stat st {};
  ASSERT_EQ(::stat((dir.path() + "/evidence/evidence-2027-01-01.log").c_str(), &st), 0);
  EXPECT_LT(st.st_size, 8'000'000) << "bytes for 172800 records";
  const EvidenceSet set = read_dir(dir);
  EXPECT_TRUE(set.verified()) << breaks_text(set);
  EXPECT_EQ(set.files.size(), 1u);
  EXPECT_GT(set.lines, 172800u);
}

TEST(EvidenceLog, FilesRotateAtUtcMidnightAndChainToEachOther) {
  TempDir dir;
  auto log = open_log(dir, kDayMs + 86000 * 1000);
  write_seconds(*log, kDayMs + 86000 * 1000, 1000);  // 400 s before midnight, 600 after
  log.reset();
  const EvidenceSet set = read_dir(dir);
  ASSERT_EQ(set.files.size(), 2u);
  EXPECT_EQ(set.files[1].name, "evidence-2027-01-02.log");
  EXPECT_TRUE(set.verified()) << breaks_text(set);
  EXPECT_EQ(set.files[1].header->previous, set.files[0].end);
  // The second file says which sources were selected before its first reading.
  const auto& second = set.files[1].entries;
  ASSERT_GE(second.size(), 3u);
  EXPECT_TRUE(std::holds_alternative<EvidenceClock>(second[1].line));
  EXPECT_TRUE(std::holds_alternative<EvidenceSources>(second[2].line));
}

TEST(EvidenceLog, AnEditedRecordIsDetectedAtItsLine) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  write_seconds(*log, kDayMs, 300);
  log.reset();
  const std::string path = dir.path() + "/evidence/evidence-2027-01-01.log";
  std::vector<std::string> lines = lines_of(read_text(path));
  // Line 100 claims a smaller bound.
  const std::size_t at = lines[99].find(" 20001 ");
  ASSERT_NE(at, std::string::npos) << lines[99];
  lines[99].replace(at, 7, " 10001 ");
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  write_text(path, text);
  const EvidenceSet set = read_dir(dir);
  ASSERT_FALSE(set.verified());
  EXPECT_EQ(set.breaks.front().line, 100u) << breaks_text(set);
}

TEST(EvidenceLog, ARemovedLineIsDetected) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  write_seconds(*log, kDayMs, 100);
  log.reset();
  const std::string path = dir.path() + "/evidence/evidence-2027-01-01.log";
  std::vector<std::string> lines = lines_of(read_text(path));
  lines.erase(lines.begin() + 50);
  std::string text;
  for (const std::string& l : lines) text += l + "\n";
  write_text(path, text);
  const EvidenceSet set = read_dir(dir);
  ASSERT_FALSE(set.verified());
  EXPECT_EQ(set.breaks.front().line, 51u) << breaks_text(set);
}

TEST(EvidenceLog, ATruncatedFileIsDetected) {
  TempDir dir;
  auto log = open_log(dir, kDayMs + 86000 * 1000);
  write_seconds(*log, kDayMs + 86000 * 1000, 1000);
  log.reset();
  // The first day loses its last 10 lines, cut at a line's end: only the next file's header can
  // tell, and does.
  const std::string first = dir.path() + "/evidence/evidence-2027-01-01.log";
  std::vector<std::string> lines = lines_of(read_text(first));
  std::string text;
  for (std::size_t i = 0; i + 10 < lines.size(); ++i) text += lines[i] + "\n";
  write_text(first, text);
  EvidenceSet set = read_dir(dir);
  ASSERT_FALSE(set.verified());
  EXPECT_EQ(set.breaks.front().file, "evidence-2027-01-02.log") << breaks_text(set);
  EXPECT_EQ(set.breaks.front().line, 0u);
  // The newest file cut inside a line: torn.
  const std::string second = dir.path() + "/evidence/evidence-2027-01-02.log";
  const std::string whole = read_text(second);
  write_text(second, whole.substr(0, whole.size() - 5));
  set = read_dir(dir);
  bool torn = false;
  for (const ChainBreak& b : set.breaks) torn = torn || (b.file == "evidence-2027-01-02.log" && b.line > 0);
  EXPECT_TRUE(torn) << breaks_text(set);
}

TEST(EvidenceLog, ADeletedMiddleFileIsDetected) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  for (int day = 0; day < 3; ++day) write_seconds(*log, kDayMs + day * 86400'000, 10);
  log.reset();
  EXPECT_TRUE(read_dir(dir).verified());
  ASSERT_EQ(::unlink((dir.path() + "/evidence/evidence-2027-01-02.log").c_str()), 0);
  const EvidenceSet set = read_dir(dir);
  ASSERT_EQ(set.breaks.size(), 1u) << breaks_text(set);
  EXPECT_EQ(set.breaks[0].file, "evidence-2027-01-03.log");
  EXPECT_NE(set.breaks[0].what.find("1 day(s) missing"), std::string::npos) << set.breaks[0].what;
}

TEST(EvidenceLog, AFullDiskLosesRecordsAndSaysSoInAGapRecord) {
  TempDir dir;
  bool full = false;
  auto write = [&](int fd, const void* data, std::size_t size) -> ssize_t {
    if (full) {
      errno = ENOSPC;
      return -1;
    }
    return ::write(fd, data, size);
  };
  EvidenceLogOptions options;
  options.max_pending = 50;
  auto log = open_log(dir, kDayMs, write, options);
  write_seconds(*log, kDayMs, 10);
  full = true;
  for (int i = 10; i < 130; ++i) {
    const EvidenceSnapshot c = clock("system", 50e-6, 20e-6);
    log->record(kDayMs + i * 1000, std::span(&c, 1));
    EXPECT_FALSE(log->flush());
  }
  EXPECT_EQ(log->lines_lost(), 70u);
  full = false;
  EXPECT_TRUE(log->flush());
  write_seconds(*log, kDayMs + 130'000, 10);
  EXPECT_EQ(log->pending(), 0u);
  log.reset();
  const EvidenceSet set = read_dir(dir);
  EXPECT_TRUE(set.verified()) << breaks_text(set);
  const EvidenceGap* gap = nullptr;
  for (const EvidenceEntry& e : set.files[0].entries) {
    if (const auto* g = std::get_if<EvidenceGap>(&e.line)) gap = g;
  }
  ASSERT_NE(gap, nullptr);
  EXPECT_EQ(gap->lost, 70u);
  EXPECT_EQ(gap->from_ms, kDayMs + 10'000);
  EXPECT_EQ(gap->to_ms, kDayMs + 79'000);
  EXPECT_NE(gap->why.find("No space left"), std::string::npos) << gap->why;
  // The report sees the seconds lost as unrecorded, never within.
  const EvidenceReport report = build_evidence_report(set, {});
  ASSERT_EQ(report.days.size(), 1u);
  ASSERT_EQ(report.days[0].unrecorded.size(), 1u);
  EXPECT_EQ(report.days[0].unrecorded[0].from_ms, kDayMs + 10'000);
  EXPECT_EQ(report.days[0].unrecorded[0].to_ms, kDayMs + 80'000);
}

TEST(EvidenceLog, AWriteCutHalfwayLeavesOnlyWholeLines) {
  TempDir dir;
  int calls = 0;
  auto write = [&](int fd, const void* data, std::size_t size) -> ssize_t {
    if (++calls == 3) {
      const ssize_t n = ::write(fd, data, size / 2);  // half, then the disk is full
      (void)n;
      errno = ENOSPC;
      return n > 0 ? n : -1;
    }
    if (calls == 4) {
      errno = ENOSPC;
      return -1;
    }
    return ::write(fd, data, size);
  };
  auto log = open_log(dir, kDayMs, write);
  write_seconds(*log, kDayMs, 400);
  log.reset();
  const EvidenceSet set = read_dir(dir);
  EXPECT_TRUE(set.verified()) << breaks_text(set);
  const EvidenceReport report = build_evidence_report(set, {});
  EXPECT_EQ(report.days[0].readings, 400u);
}

TEST(EvidenceLog, ARestartLeavesAStartRecordNamingTheLastRecord) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  write_seconds(*log, kDayMs, 20);
  log.reset();
  // Down for 100 s, and the last write of the old run cut halfway.
  const std::string path = dir.path() + "/evidence/evidence-2027-01-01.log";
  write_text(path, read_text(path) + "R 19999 0 s 5");
  log = open_log(dir, kDayMs + 120'000);
  write_seconds(*log, kDayMs + 120'000, 20);
  log.reset();
  const EvidenceSet set = read_dir(dir);
  EXPECT_TRUE(set.verified()) << breaks_text(set);
  std::vector<EvidenceStart> starts;
  for (const EvidenceEntry& e : set.files[0].entries) {
    if (const auto* b = std::get_if<EvidenceStart>(&e.line)) starts.push_back(*b);
  }
  ASSERT_EQ(starts.size(), 2u);
  EXPECT_FALSE(starts[0].last_ms);
  ASSERT_TRUE(starts[1].last_ms);
  EXPECT_EQ(*starts[1].last_ms, kDayMs + 19'000);
  const EvidenceReport report = build_evidence_report(set, {});
  ASSERT_EQ(report.days[0].unrecorded.size(), 1u);
  EXPECT_EQ(report.days[0].unrecorded[0].from_ms, kDayMs + 20'000);
  EXPECT_EQ(report.days[0].unrecorded[0].to_ms, kDayMs + 120'000);
}

TEST(EvidenceLog, OldFilesGoAfterRetainDaysAndTheRestStillVerifies) {
  TempDir dir;
  EvidenceLogOptions options;
  options.retain_days = 2;
  auto log = open_log(dir, kDayMs, {}, options);
  for (int day = 0; day < 5; ++day) write_seconds(*log, kDayMs + day * 86400'000, 10);
  log.reset();
  const EvidenceSet set = read_dir(dir);
  ASSERT_EQ(set.files.size(), 3u);
  EXPECT_EQ(set.files[0].name, "evidence-2027-01-03.log");
  EXPECT_TRUE(set.verified()) << breaks_text(set);
}

// A log written by hand: readings every second for 200 s, of which the report's numbers are known.
TEST(EvidenceReport, SharesWorstAndSpansComeFromTheBoundNotTheEstimate) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  for (int i = 0; i < 200; ++i) {
    if (i >= 150 && i < 160) continue;  // 10 s without records
    EvidenceSnapshot c = clock("system", 10e-6, 50e-6);                       // within both
    if (i >= 50 && i < 80) c = clock("system", 1e-6, 200e-6);                  // small estimate, 1 ms only
    if (i >= 80 && i < 90) c = clock("system", 0, INFINITY, EvidenceState::kUnsynchronized);  // unknown
    if (i >= 100 && i < 110) c = clock("system", 400e-6, 700e-6);              // 1.1 ms: neither
    if (i >= 120) c.selected = {{"ptbtime1.ptb.de", "nts,aead=15,ntp=192.53.103.108:123"}};
    log->record(kDayMs + i * 1000, std::span(&c, 1));
  }
  log.reset();
  EvidenceReportOptions options;
  options.from_ms = kDayMs;
  options.to_ms = kDayMs + 200'000;
  const EvidenceReport report = build_evidence_report(read_dir(dir), options);
  ASSERT_EQ(report.days.size(), 1u);
  const ClockDay& d = report.days[0];
  EXPECT_EQ(d.period_ms, 200'000);
  EXPECT_EQ(d.recorded_ms, 190'000);
  EXPECT_EQ(d.readings, 190u);
  EXPECT_EQ(d.tiers[0].within_ms, (190 - 30 - 10 - 10) * 1000);  // 100 µs
  EXPECT_EQ(d.tiers[1].within_ms, (190 - 10 - 10) * 1000);       // 1 ms
  EXPECT_EQ(d.unbounded_ms, 10'000);
  ASSERT_EQ(d.unsynchronized.size(), 1u);
  EXPECT_EQ(d.unsynchronized[0].from_ms, kDayMs + 80'000);
  EXPECT_EQ(d.unsynchronized[0].to_ms, kDayMs + 90'000);
  ASSERT_EQ(d.unrecorded.size(), 1u);
  EXPECT_EQ(d.unrecorded[0].from_ms, kDayMs + 150'000);
  EXPECT_EQ(d.unrecorded[0].to_ms, kDayMs + 160'000);
  ASSERT_TRUE(d.worst_max_error_ns);
  EXPECT_EQ(*d.worst_max_error_ns, 700'001);
  EXPECT_EQ(d.worst_max_error_ms, kDayMs + 100'000);
  EXPECT_EQ(*d.worst_divergence_ns, 1'100'001);
  ASSERT_EQ(d.source_changes.size(), 1u);
  EXPECT_EQ(d.source_changes[0].unix_ms, kDayMs + 120'000);
  ASSERT_EQ(report.traceability.size(), 2u);
  EXPECT_EQ(report.traceability[1].sources[0].name, "ptbtime1.ptb.de");
  EXPECT_EQ(report.traceability[0].last_ms, kDayMs + 120'000);
  bool state_events = false;
  for (const TimedEvent& e : d.events) state_events = state_events || e.kind == "state";
  EXPECT_TRUE(state_events);
  EXPECT_EQ(report.days[0].tiers[0].breaches.size(), 2u);  // 50–90 and 100–110; 150–160 is unrecorded, not a breach
}

TEST(EvidenceReport, ALateTimerIsNotAGap) {
  TempDir dir;
  auto log = open_log(dir, kDayMs);
  // A timer 1 ms late every second: after 500 s half a second has slipped.
  for (int i = 0; i < 1000; ++i) {
    const EvidenceSnapshot c = clock("system", 1e-6, 2e-6);
    log->record(kDayMs + i * 1001, std::span(&c, 1));
  }
  log.reset();
  EvidenceReportOptions options;
  options.from_ms = kDayMs;
  options.to_ms = kDayMs + 999 * 1001;
  const EvidenceReport report = build_evidence_report(read_dir(dir), options);
  EXPECT_TRUE(report.days[0].unrecorded.empty());
  EXPECT_EQ(report.days[0].tiers[0].within_ms, report.days[0].period_ms);
}

}  // namespace
}  // namespace kairos
