#include "daemon/evidence_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>

#include "daemon/evidence_reader.hpp"

namespace kairos {
namespace {

// One flush writes at most this much: a backlog after a full disk goes out over a few flushes.
constexpr std::size_t kMaxBatchBytes = 256 * 1024;

std::int64_t day_of_ms(std::int64_t unix_ms) {
  std::int64_t seconds = unix_ms / 1000;
  if (unix_ms % 1000 < 0) --seconds;
  return utc_day_start(seconds);
}

const char* state_word(EvidenceState state) {
  switch (state) {
    case EvidenceState::kSynchronized: return "synchronized";
    case EvidenceState::kUnsynchronized: return "unsynchronized";
    case EvidenceState::kNoMajority: return "no-majority";
    case EvidenceState::kPanic: return "panic";
  }
  return "unknown";
}

// Sets the time and clock id of a queued line, whatever its kind.
void place(EvidenceLine& line, std::int64_t t, int id) {
  std::visit(
      [&](auto& l) {
        if constexpr (requires { l.t; }) l.t = t;
        if constexpr (requires { l.id; }) l.id = id;
      },
      line);
}

std::string with_tag(const std::string& body, const ChainHash& hash) { return body + " " + chain_tag(hash) + "\n"; }

}  // namespace

EvidenceLog::EvidenceLog(EvidenceLogOptions options, WriteFn write)
    : options_(std::move(options)), write_(std::move(write)) {
  if (!write_) write_ = [](int fd, const void* data, std::size_t size) { return ::write(fd, data, size); };
}

EvidenceLog::~EvidenceLog() {
  flush();
  close_file();
}

Result<std::unique_ptr<EvidenceLog>> EvidenceLog::open(EvidenceLogOptions options, std::int64_t now_ms,
                                                       WriteFn write) {
  if (::mkdir(options.dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return fail("[evidence] cannot create " + options.dir + ": " + std::strerror(errno));
  }
  std::unique_ptr<EvidenceLog> log(new EvidenceLog(std::move(options), std::move(write)));
  if (auto resumed = log->resume(now_ms); !resumed) return std::unexpected(resumed.error());
  return log;
}

// Continues the chain where the newest file ends (a restart): its hash, its clocks' ids, and the
// time of its last line, which the start record names so the time without records is explained.
Result<void> EvidenceLog::resume(std::int64_t now_ms) {
  auto names = list_evidence_files(options_.dir);
  if (!names) return fail("[evidence] " + names.error().message);
  std::optional<std::int64_t> last_ms;
  if (!names->empty()) {
    const std::string name = names->back();
    const std::string path = options_.dir + "/" + name;
    auto text = read_evidence_file(path);
    if (!text) return fail("[evidence] " + text.error().message);
    const EvidenceFileScan scan = scan_evidence_text(*text, name);
    for (const ChainBreak& b : scan.breaks) {
      if (scan.torn && b.line == scan.lines + 1) continue;
      spdlog::error("evidence: {} line {}: {}; the chain stays broken there", name, b.line, b.what);
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return fail("[evidence] cannot open " + path + ": " + std::strerror(errno));
    if (scan.torn) {
      // The end of a line whose write failed halfway (a crash, a full disk): never part of the
      // chain, and what follows must start on a line of its own.
      if (::ftruncate(fd, static_cast<off_t>(scan.good_size)) != 0) {
        const int err = errno;
        ::close(fd);
        return fail("[evidence] cannot cut the torn last line of " + path + ": " + std::strerror(err));
      }
      spdlog::warn("evidence: {}: removed a torn last line ({} bytes) left by a failed write", name,
                   text->size() - scan.good_size);
    }
    if (!scan.header && scan.lines == 0) {
      // Nothing of value (at most a header cut halfway): the file is made again with its header.
      ::close(fd);
      ::unlink(path.c_str());
      if (names->size() >= 2) {
        auto before = read_evidence_file(options_.dir + "/" + (*names)[names->size() - 2]);
        if (before) {
          const EvidenceFileScan b = scan_evidence_text(*before, (*names)[names->size() - 2]);
          hash_ = b.end;
          if (!b.entries.empty()) last_ms = b.entries.back().unix_ms;
        }
      }
    } else {
      fd_ = fd;
      path_ = path;
      size_ = static_cast<off_t>(scan.good_size);
      hash_ = scan.end;
      day_start_ = scan.header ? scan.header->day_start : day_start_of_file_name(name).value_or(0);
      for (const EvidenceEntry& entry : scan.entries) {
        if (const auto* c = std::get_if<EvidenceClock>(&entry.line)) ids_[c->name] = c->id;
        if (const auto* s = std::get_if<EvidenceSources>(&entry.line)) written_sources_[entry.clock] = s->sources;
      }
      if (!scan.entries.empty()) last_ms = scan.entries.back().unix_ms;
    }
  }
  remove_old_files(day_of_ms(now_ms));
  enqueue(Pending{now_ms, "", EvidenceStart{.t = 0, .last_ms = last_ms, .version = options_.version}});
  return {};
}

void EvidenceLog::record(std::int64_t now_ms, std::span<const EvidenceSnapshot> clocks) {
  for (const EvidenceSnapshot& c : clocks) {
    auto [memory, added] = clocks_.try_emplace(c.name);
    ClockMemory& m = memory->second;
    auto event = [&](const char* kind, std::string detail) {
      enqueue(Pending{now_ms, c.name, EvidenceEvent{.kind = kind, .detail = std::move(detail)}});
    };
    if (!added) {
      if (c.state != m.state) event("state", state_word(c.state));
      if (c.steps > m.steps) event("step", std::to_string(c.steps));
      if (c.leap != m.leap) event("leap", c.leap);
    }
    m.state = c.state;
    m.steps = c.steps;
    m.leap = c.leap;
    if (!m.sources || *m.sources != c.selected) {
      m.sources = c.selected;
      enqueue(Pending{now_ms, c.name, EvidenceSources{.sources = c.selected}});
    }
    enqueue(Pending{now_ms, c.name,
                    EvidenceReading{.state = c.state,
                                    .offset_ns = offset_to_ns(c.offset),
                                    .max_error_ns = max_error_to_ns(c.max_error)}});
  }
}

void EvidenceLog::note_foreign_step(std::int64_t now_ms, const std::string& clock) {
  enqueue(Pending{now_ms, clock, EvidenceEvent{.kind = "foreign-step", .detail = "-"}});
}

void EvidenceLog::enqueue(Pending item) {
  queue_.push_back(std::move(item));
  while (queue_.size() > options_.max_pending) {
    const Pending& dropped = queue_.front();
    if (!gap_) gap_ = Gap{.from_ms = dropped.unix_ms, .to_ms = dropped.unix_ms, .lost = 0, .why = {}};
    gap_->from_ms = std::min(gap_->from_ms, dropped.unix_ms);
    gap_->to_ms = std::max(gap_->to_ms, dropped.unix_ms);
    ++gap_->lost;
    gap_->why = failure_.empty() ? "queue full" : failure_;
    ++lost_total_;
    // A lost source line is said again with the next reading, so what follows the gap is whole.
    if (std::holds_alternative<EvidenceSources>(dropped.line)) {
      if (auto found = clocks_.find(dropped.clock); found != clocks_.end()) found->second.sources.reset();
    }
    queue_.pop_front();
  }
}

bool EvidenceLog::flush() {
  while (!queue_.empty() || gap_) {
    const std::int64_t first_ms = queue_.empty() ? gap_->to_ms : queue_.front().unix_ms;
    const std::int64_t day = day_of_ms(first_ms);
    // A later day starts the next file; an earlier one (the clock stepped back) stays in this file.
    if (fd_ < 0 || day > day_start_) {
      if (!open_day(fd_ < 0 ? std::max(day, day_start_) : day, first_ms)) return false;
    }
    std::string batch;
    ChainHash hash = hash_;
    std::map<std::string, int> ids = ids_;
    auto add = [&](EvidenceLine line, std::int64_t unix_ms, int id) {
      place(line, unix_ms - day_start_ * 1000, id);
      const std::string body = format_body(line);
      hash = chain_next(hash, body);
      batch += with_tag(body, hash);
    };
    if (gap_) {
      add(EvidenceGap{.from_ms = gap_->from_ms, .to_ms = gap_->to_ms, .lost = gap_->lost, .why = gap_->why}, first_ms,
          0);
    }
    std::size_t taken = 0;
    std::uint64_t lines = gap_ ? 1 : 0;
    std::map<std::string, std::vector<EvidenceSource>> sources;
    for (const Pending& item : queue_) {
      if (batch.size() >= kMaxBatchBytes || day_of_ms(item.unix_ms) > day_start_) break;
      int id = 0;
      if (!item.clock.empty()) {
        auto found = ids.find(item.clock);
        if (found == ids.end()) {
          id = static_cast<int>(ids.size());
          ids[item.clock] = id;
          add(EvidenceClock{.name = item.clock}, item.unix_ms, id);
          ++lines;
        } else {
          id = found->second;
        }
      }
      add(item.line, item.unix_ms, id);
      if (const auto* s = std::get_if<EvidenceSources>(&item.line)) sources[item.clock] = s->sources;
      ++taken;
      ++lines;
    }
    if (!append(batch)) return false;
    hash_ = hash;
    ids_ = std::move(ids);
    for (auto& [clock, list] : sources) written_sources_[clock] = std::move(list);
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(taken));
    written_ += lines;
    if (gap_) {
      spdlog::warn("evidence: writing again; {} records lost ({})", gap_->lost, gap_->why);
      gap_.reset();
    } else if (!failure_.empty()) {
      spdlog::info("evidence: writing again, nothing lost");
    }
    failure_.clear();
    // The chain's head, said where the log cannot rewrite it: with it an outsider can tell
    // that the file was not cut or rewritten after this point.
    if (first_ms - last_head_log_ms_ >= 3600 * 1000) {
      last_head_log_ms_ = first_ms;
      spdlog::info("evidence: chain head {} in {} ({} lines written since start)", to_hex(hash_), path_, written_);
    }
  }
  return true;
}

bool EvidenceLog::open_day(std::int64_t day_start, std::int64_t now_ms) {
  close_file();
  const std::string path = options_.dir + "/" + evidence_file_name(day_start);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    note_failure("cannot open " + path + ": " + std::strerror(errno));
    return false;
  }
  struct stat st {};
  const off_t size = ::fstat(fd, &st) == 0 ? st.st_size : 0;
  fd_ = fd;
  path_ = path;
  size_ = size;
  if (day_start == day_start_ && size > 0) {
    // Our own file, closed when opening the next day failed (a full disk) and the clock then went
    // back: it goes on where it stopped, chain and clocks as they were.
    return true;
  }
  // The header, then every clock's sources as they stand, so each file can be read alone.
  std::string batch;
  ChainHash hash = hash_;
  std::map<std::string, int> ids;
  auto add = [&](EvidenceLine line) {
    const std::string body = format_body(line);
    hash = chain_next(hash, body);
    batch += with_tag(body, hash);
  };
  add(EvidenceHeader{.day_start = day_start, .interval_ms = options_.interval_ms, .previous = hash_});
  const std::int64_t t = std::max<std::int64_t>(0, now_ms - day_start * 1000);
  for (const auto& [name, sources] : written_sources_) {
    const int id = static_cast<int>(ids.size());
    ids[name] = id;
    add(EvidenceClock{.t = t, .id = id, .name = name});
    add(EvidenceSources{.t = t, .id = id, .sources = sources});
  }
  if (!append(batch)) {
    const bool empty = size_ == 0;
    close_file();
    if (empty) ::unlink(path.c_str());  // made again, header first, when writing works
    return false;
  }
  hash_ = hash;
  ids_ = std::move(ids);
  day_start_ = day_start;
  written_ += 1 + 2 * ids_.size();
  remove_old_files(day_start);
  return true;
}

void EvidenceLog::close_file() {
  if (fd_ < 0) return;
  // The day is complete: on disk before the next file names its hash.
  ::fdatasync(fd_);
  ::close(fd_);
  fd_ = -1;
}

void EvidenceLog::remove_old_files(std::int64_t day_start) {
  if (options_.retain_days <= 0) return;
  auto names = list_evidence_files(options_.dir);
  if (!names) return;
  const std::int64_t oldest_kept = day_start - static_cast<std::int64_t>(options_.retain_days) * 86400;
  for (const std::string& name : *names) {
    const auto day = day_start_of_file_name(name);
    if (!day || *day >= oldest_kept) continue;
    const std::string path = options_.dir + "/" + name;
    if (path == path_) continue;
    if (::unlink(path.c_str()) == 0) {
      spdlog::info("evidence: removed {} (older than retain-days = {})", name, options_.retain_days);
    } else {
      spdlog::warn("evidence: cannot remove {}: {}", path, std::strerror(errno));
    }
  }
}

bool EvidenceLog::append(const std::string& text) {
  // A torn line from an earlier failure is cut first: O_APPEND would write after it.
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && st.st_size != size_ && ::ftruncate(fd_, size_) != 0) {
    note_failure("cannot cut " + path_ + " back to its last whole line: " + std::strerror(errno));
    return false;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = write_(fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : ENOSPC;
      if (done > 0 && ::ftruncate(fd_, size_) != 0) {
        spdlog::debug("evidence: cannot cut {} yet: {}", path_, std::strerror(errno));
      }
      note_failure("cannot write " + path_ + ": " + std::strerror(err));
      return false;
    }
    done += static_cast<std::size_t>(n);
  }
  size_ += static_cast<off_t>(text.size());
  return true;
}

void EvidenceLog::note_failure(const std::string& why) {
  if (failure_.empty()) {
    spdlog::warn("evidence: {}; records are held in memory (up to {} lines), then counted as lost", why,
                 options_.max_pending);
  }
  failure_ = why;
}

}  // namespace kairos
