#include "ke_load.hpp"

#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

namespace kairos {
namespace {

using Clock = std::chrono::steady_clock;

// Distinct failure messages kept; the rest are counted under one name so memory stays bounded.
constexpr std::size_t kMaxErrorKinds = 16;

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Slot {
  std::optional<PendingKe> pending;
  Clock::time_point deadline;
};

void note_failure(KeLoadReport& report, const std::string& message) {
  ++report.failed;
  if (report.errors.size() < kMaxErrorKinds || report.errors.contains(message)) {
    ++report.errors[message];
  } else {
    ++report.errors["(other errors)"];
  }
}

}  // namespace

Result<KeLoadReport> run_ke_load(const KeLoadOptions& options) {
  if (options.concurrency == 0) return fail("concurrency must be at least 1");
  if (!(options.duration > 0)) return fail("duration must be positive");
  KeLoadReport report;
  std::vector<Slot> slots(options.concurrency);
  std::vector<pollfd> fds(options.concurrency);

  const double cpu_start = cpu_seconds();
  const auto start = Clock::now();
  const auto stop_starting = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.duration));

  std::optional<SocketAddress> source;
  std::size_t next_source = 0;
  auto start_exchange = [&](Slot& slot, Clock::time_point now) {
    slot.pending.reset();
    if (now >= stop_starting) return;
    if (!options.bind.empty()) {
      source = options.bind[next_source];
      next_source = next_source + 1 == options.bind.size() ? 0 : next_source + 1;
    }
    auto pending = PendingKe::start(options.fetch, source);
    if (!pending) {
      note_failure(report, pending.error().message);
      return;
    }
    slot.pending.emplace(std::move(*pending));
    slot.deadline = now + options.fetch.timeout;
  };

  for (Slot& slot : slots) start_exchange(slot, start);
  for (;;) {
    auto now = Clock::now();
    std::size_t active = 0;
    auto next_deadline = now + std::chrono::seconds(1);
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot& slot = slots[i];
      // An empty slot before the end is an exchange that could not even start: try again.
      if (!slot.pending && now < stop_starting) start_exchange(slot, now);
      if (slot.pending) {
        fds[i] = {.fd = slot.pending->fd(), .events = slot.pending->events(), .revents = 0};
        next_deadline = std::min(next_deadline, slot.deadline);
        ++active;
      } else {
        fds[i] = {.fd = -1, .events = 0, .revents = 0};
      }
    }
    if (active == 0) break;
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next_deadline - now).count();
    const int ready = poll(fds.data(), fds.size(), static_cast<int>(std::clamp<long>(wait + 1, 0, 1000)));
    if (ready < 0 && errno != EINTR) return fail(std::string("poll: ") + std::strerror(errno));
    now = Clock::now();
    for (std::size_t i = 0; i < slots.size(); ++i) {
      Slot& slot = slots[i];
      if (!slot.pending) continue;
      if (fds[i].revents != 0) {
        if (auto outcome = slot.pending->on_ready(fds[i].revents)) {
          if (!*outcome) {
            note_failure(report, outcome->error().message);
          } else if ((*outcome)->cookies.empty()) {
            note_failure(report, "NTS-KE response without cookies");
          } else {
            ++report.completed;
          }
          start_exchange(slot, now);
          continue;
        }
      }
      if (now >= slot.deadline) {
        note_failure(report, "NTS-KE timed out");
        start_exchange(slot, now);
      }
    }
  }
  report.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report.client_cpu_seconds = cpu_seconds() - cpu_start;
  return report;
}

}  // namespace kairos
