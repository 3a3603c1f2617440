#include "clock/source_filter.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kairos {

double SourceFilter::min_delay() const {
  if (delays_.empty()) return std::numeric_limits<double>::quiet_NaN();
  return *std::min_element(delays_.begin(), delays_.end());
}

std::optional<Observation> SourceFilter::add(const Measurement& m) {
  if (!std::isfinite(m.offset) || !std::isfinite(m.delay) || m.delay < 0 || !std::isfinite(m.precision)) {
    return std::nullopt;
  }
  delays_.push_back(m.delay);
  if (delays_.size() > kWindow) delays_.pop_front();

  double mean = 0;
  for (double d : delays_) mean += d;
  mean /= static_cast<double>(delays_.size());
  const double minimum = min_delay();
  // The minimum of a few samples is itself above the path's true minimum, by about the mean
  // excess over sqrt(n) for the exponential-like queueing seen in practice. That spread says
  // little while n is small (two samples of about the same delay would claim the minimum is
  // known): a first measurement says nothing about the minimum, so half its delay may be
  // queueing, and until kFewDelays samples that share falls only as 1/sqrt(n).
  const double n = static_cast<double>(delays_.size());
  const double spread = (mean - minimum) / std::sqrt(n);
  const double min_uncertainty = delays_.size() < kFewDelays ? std::max(spread, minimum / (2 * std::sqrt(n))) : spread;
  const double excess = m.delay - minimum + min_uncertainty;
  const double variance = m.precision * m.precision + excess * excess / 12.0;

  return Observation{.time = m.time,
                     .offset = -m.offset,
                     .variance = variance,
                     .distance = m.delay / 2 + m.root_delay / 2 + m.root_dispersion + m.precision,
                     .leap = m.leap,
                     .tai_utc = m.tai_utc};
}

}  // namespace kairos
