#include "hwts/cross_timestamp.hpp"

#include <cmath>
#include <cstdint>
#include <string>

namespace kairos {
namespace {

constexpr std::int64_t kNanos = 1'000'000'000;

// a - b in whole nanoseconds; exact for the spans a window can have (far under 292 years).
std::int64_t nanos_between(const timespec& a, const timespec& b) {
  return (static_cast<std::int64_t>(a.tv_sec) - static_cast<std::int64_t>(b.tv_sec)) * kNanos +
         (static_cast<std::int64_t>(a.tv_nsec) - static_cast<std::int64_t>(b.tv_nsec));
}

timespec add_nanos(timespec t, std::int64_t nanos) {
  std::int64_t ns = static_cast<std::int64_t>(t.tv_nsec) + nanos % kNanos;
  std::int64_t sec = static_cast<std::int64_t>(t.tv_sec) + nanos / kNanos;
  if (ns < 0) {
    ns += kNanos;
    sec -= 1;
  } else if (ns >= kNanos) {
    ns -= kNanos;
    sec += 1;
  }
  timespec out{};
  out.tv_sec = static_cast<time_t>(sec);
  out.tv_nsec = static_cast<long>(ns);
  return out;
}

// 2 × PHC − (before + after), seconds and nanoseconds kept apart so that neither overflows nor
// a double ever holds a whole Unix time: a PHC reset to 1970 is 1.8e9 s from the system clock
// and must still come out right. Halved only at the end, in double.
double midpoint_offset(const CrossReading& r) {
  const std::int64_t sec = 2 * static_cast<std::int64_t>(r.phc.tv_sec) -
                           static_cast<std::int64_t>(r.system_before.tv_sec) -
                           static_cast<std::int64_t>(r.system_after.tv_sec);
  const std::int64_t nsec = 2 * static_cast<std::int64_t>(r.phc.tv_nsec) -
                            static_cast<std::int64_t>(r.system_before.tv_nsec) -
                            static_cast<std::int64_t>(r.system_after.tv_nsec);
  return (static_cast<double>(sec) + static_cast<double>(nsec) * 1e-9) / 2;
}

}  // namespace

std::string_view to_string(CrossMethod method) {
  switch (method) {
    case CrossMethod::kPrecise: return "precise";
    case CrossMethod::kExtended: return "extended";
    case CrossMethod::kBasic: return "basic";
    case CrossMethod::kSandwich: return "sandwich";
  }
  return "unknown";
}

Result<CrossTimestamp> best_cross_timestamp(std::span<const CrossReading> readings, CrossMethod method) {
  if (readings.empty()) return fail("cross-timestamp: no readings");
  const CrossReading* best = nullptr;
  std::int64_t best_window = 0;
  for (const CrossReading& r : readings) {
    const std::int64_t window = nanos_between(r.system_after, r.system_before);
    if (window < 0) {
      return fail("cross-timestamp (" + std::string(to_string(method)) +
                  "): the system clock went backwards between readings (stepped?)");
    }
    if (best == nullptr || window <= best_window) {
      best = &r;
      best_window = window;
    }
  }
  return CrossTimestamp{.offset = midpoint_offset(*best),
                        .window = static_cast<double>(best_window) * 1e-9,
                        .system_time = add_nanos(best->system_before, best_window / 2),
                        .phc_time = best->phc,
                        .method = method};
}

double cross_precision(CrossMethod /*method*/) {
  // The same for every method today, see the header; a function so that a method with a known
  // coarser resolution (a driver reading microseconds) can say so in one place.
  return 1e-9 / std::sqrt(12.0);
}

Measurement to_measurement(const CrossTimestamp& cross, double time) {
  Measurement m;
  m.time = time;
  m.offset = cross.offset;
  m.delay = cross.window;
  m.precision = cross_precision(cross.method);
  return m;
}

}  // namespace kairos
