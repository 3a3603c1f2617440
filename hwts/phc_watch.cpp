#include "hwts/phc_watch.hpp"

#include <cmath>
#include <cstdint>
#include <utility>

namespace kairos {
namespace {

// 2000-01-01 00:00:00 UTC. A PHC that counts from 1970 after a reset reads years before this;
// no clock that was ever set has a reason to.
constexpr std::int64_t kYear2000 = 946684800;

double seconds_between(const timespec& a, const timespec& b) {
  return static_cast<double>(static_cast<std::int64_t>(a.tv_sec) - static_cast<std::int64_t>(b.tv_sec)) +
         static_cast<double>(a.tv_nsec - b.tv_nsec) * 1e-9;
}

}  // namespace

const char* to_string(PhcEvent event) {
  switch (event) {
    case PhcEvent::kNone: return "none";
    case PhcEvent::kReset: return "reset";
    case PhcEvent::kJump: return "jump";
  }
  return "unknown";
}

PhcEvent PhcWatch::check(const CrossTimestamp& current) {
  const std::optional<CrossTimestamp> last = std::exchange(last_, current);
  if (static_cast<std::int64_t>(current.phc_time.tv_sec) < kYear2000) return PhcEvent::kReset;
  if (!last) return PhcEvent::kNone;
  // The offset may drift by the rate difference over the elapsed time; each reading is also
  // uncertain by half its window.
  const double elapsed = std::abs(seconds_between(current.system_time, last->system_time));
  const double allowed =
      limits_.max_frequency_difference * elapsed + (current.window + last->window) / 2 + limits_.threshold;
  return std::abs(current.offset - last->offset) > allowed ? PhcEvent::kJump : PhcEvent::kNone;
}

}  // namespace kairos
