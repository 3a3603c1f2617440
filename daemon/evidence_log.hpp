#pragma once
// The evidence log's writer (`[evidence]`, format in daemon/evidence_record.hpp): one file per UTC
// day in a directory, append-only, each file chained to the one before, old files removed after
// `retain-days`.
//
// It never blocks or stops the daemon: record() only formats into a queue in memory; flush() (a
// timer of the loop, every interval) appends the queue with plain write(2) calls of a few hundred
// bytes, which land in the page cache; nothing on the loop waits for fsync except a day's
// rotation. A write that fails (a full disk, EIO) is cut back to the last whole line and retried
// at the next flush; while it fails the queue holds up to `max_pending` lines and then drops the
// oldest, counted. When writing works again the first line written is a gap record (G) naming
// the records lost, their span and why; a restart leaves a start record (B) naming the last
// record before it, so a span without records is always explained in the log itself.
#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/evidence_record.hpp"

namespace kairos {

struct EvidenceLogOptions {
  std::string dir;
  std::int64_t interval_ms = 1000;
  int retain_days = 0;             // files older than this many days are removed; 0: never
  std::string version = "kairos";  // written in start records
  std::size_t max_pending = 7200;  // lines held while writes fail (an hour of two clocks)
};

// One clock as the evidence log sees it at one instant.
struct EvidenceSnapshot {
  std::string name;
  EvidenceState state = EvidenceState::kUnsynchronized;
  double offset = 0;     // true time minus the clock's reading (s)
  double max_error = 0;  // s; infinite when unknown
  std::size_t steps = 0;
  std::string leap = "none";  // the leap second armed: none, insert, delete
  std::vector<EvidenceSource> selected;
};

class EvidenceLog {
 public:
  // write(2) as the log calls it; tests replace it to fail like a full disk.
  using WriteFn = std::function<ssize_t(int fd, const void* data, std::size_t size)>;

  // Opens the directory (made 0750 if missing) and continues the chain of its newest file; the
  // start record is queued. Fails when the directory cannot be made or read.
  static Result<std::unique_ptr<EvidenceLog>> open(EvidenceLogOptions options, std::int64_t now_ms,
                                                   WriteFn write = {});
  ~EvidenceLog();
  EvidenceLog(const EvidenceLog&) = delete;
  EvidenceLog& operator=(const EvidenceLog&) = delete;

  // One reading of every clock at `now_ms` (unix ms on the real-time clock), with the events
  // since the last one (state, steps, leap) and the selected sources when they changed.
  void record(std::int64_t now_ms, std::span<const EvidenceSnapshot> clocks);
  // Someone else set the clock `clock` (kairosd's real-time watch).
  void note_foreign_step(std::int64_t now_ms, const std::string& clock);
  // Appends what is queued. Returns false while writes fail.
  bool flush();

  std::uint64_t lines_written() const { return written_; }
  std::uint64_t lines_lost() const { return lost_total_; }
  std::size_t pending() const { return queue_.size(); }
  const ChainHash& chain_head() const { return hash_; }
  const std::string& current_file() const { return path_; }

 private:
  struct Pending {
    std::int64_t unix_ms = 0;
    std::string clock;  // resolved to the file's id at flush; empty: no clock
    EvidenceLine line;
  };
  struct ClockMemory {
    EvidenceState state = EvidenceState::kUnsynchronized;
    std::size_t steps = 0;
    std::string leap = "none";
    std::optional<std::vector<EvidenceSource>> sources;  // last queued
  };
  struct Gap {
    std::int64_t from_ms = 0;
    std::int64_t to_ms = 0;
    std::uint64_t lost = 0;
    std::string why;
  };

  EvidenceLog(EvidenceLogOptions options, WriteFn write);
  Result<void> resume(std::int64_t now_ms);
  void enqueue(Pending item);
  // Opens (creating with its header) the file for `day_start`; false when it cannot.
  bool open_day(std::int64_t day_start, std::int64_t now_ms);
  void close_file();
  void remove_old_files(std::int64_t day_start);
  // Appends `text` whole or not at all (a partial write is cut off again).
  bool append(const std::string& text);
  void note_failure(const std::string& why);

  EvidenceLogOptions options_;
  WriteFn write_;
  int fd_ = -1;
  std::string path_;
  std::int64_t day_start_ = 0;
  off_t size_ = 0;  // bytes of whole lines in the open file
  ChainHash hash_ = kGenesisHash;
  std::map<std::string, int> ids_;  // the open file's clocks
  std::map<std::string, ClockMemory> clocks_;  // as queued
  // Each clock's sources as the log last wrote them: what a new file starts with.
  std::map<std::string, std::vector<EvidenceSource>> written_sources_;
  std::deque<Pending> queue_;
  std::optional<Gap> gap_;
  std::string failure_;  // the last write error, said once until writes work again
  std::uint64_t written_ = 0;
  std::uint64_t lost_total_ = 0;
  std::int64_t last_head_log_ms_ = 0;
};

}  // namespace kairos
