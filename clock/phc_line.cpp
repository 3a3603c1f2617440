#include "clock/phc_line.hpp"

#include <cmath>

namespace kairos {
namespace {

std::int64_t nanoseconds(const timespec& t) { return std::int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec; }

std::int64_t seconds_to_ns(double s) { return static_cast<std::int64_t>(std::llround(s * 1e9)); }

}  // namespace

std::optional<timespec> PhcLine::to_system(const timespec& phc) const {
  const std::int64_t t = nanoseconds(phc);
  if (t < valid_from_ns || t > valid_until_ns) return std::nullopt;
  // The PHC and the system clock run at the same rate to within ppm: PHC time stands for the
  // model's time axis over the few seconds a line lives (the slope's error from that is < 1e-15).
  const double difference = offset + slope * (static_cast<double>(t - phc_ref_ns) * 1e-9);
  const std::int64_t system = t - seconds_to_ns(difference);
  return timespec{static_cast<time_t>(system / 1'000'000'000), static_cast<long>(system % 1'000'000'000)};
}

std::optional<PhcLine> phc_line(const TimescaleMap& map, double now, const timespec& phc_now) {
  const auto coverage = map.coverage();
  const auto here = map.at(now);
  const auto later = map.at(now + 1.0);
  if (!coverage || !here || !later) return std::nullopt;
  const std::int64_t anchor = nanoseconds(phc_now);
  PhcLine line;
  line.phc_ref_ns = anchor;
  line.offset = here->offset;
  // No change of the system clock after `now`: the two readings lie on one straight line.
  line.slope = later->offset - here->offset;
  line.sd = here->sd;
  line.valid_from_ns = anchor + seconds_to_ns(coverage->first - now);
  line.valid_until_ns = anchor + seconds_to_ns(coverage->second - now);
  return line;
}

}  // namespace kairos
