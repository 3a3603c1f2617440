#include "clock/timescale_map.hpp"

#include <algorithm>
#include <cmath>

namespace kairos {

namespace {
constexpr std::size_t kMaxChanges = 4096;  // a bound whatever the steering does
}

void TimescaleMap::add(double t, double offset, double sd) {
  points_.push_back(Point{t, offset, sd});
  while (points_.size() > capacity_) points_.pop_front();
  // at() answers back to first − span: older changes can no longer come after such a time.
  const double oldest = points_.front().t - (points_.back().t - points_.front().t);
  while (!changes_.empty() && changes_.front().t < oldest) changes_.pop_front();
}

void TimescaleMap::on_system_change(double t, double df, double step) {
  // PHC minus system falls by df·(t' − t) after t and by the step: earlier points are moved as
  // if that had always been so.
  for (Point& p : points_) p.offset += df * (t - p.t) - step;
  if (points_.empty()) return;
  changes_.push_back(Change{t, df, step});
  if (changes_.size() > kMaxChanges) changes_.pop_front();
}

void TimescaleMap::forget() {
  points_.clear();
  changes_.clear();
}

std::optional<std::pair<double, double>> TimescaleMap::coverage() const {
  if (points_.size() < 2) return std::nullopt;
  const double first = points_.front().t;
  const double last = points_.back().t;
  const double span = last - first;
  if (span <= 0) return std::nullopt;
  return std::pair{first - span, last + span};
}

std::optional<TimescaleMap::Estimate> TimescaleMap::at(double t) const {
  const std::size_t n = points_.size();
  if (n < 2) return std::nullopt;
  const double first = points_.front().t;
  const double last = points_.back().t;
  const double span = last - first;
  if (span <= 0 || t < first - span || t > last + span) return std::nullopt;
  double mean_t = 0;
  double mean_offset = 0;
  double mean_var = 0;
  for (const Point& p : points_) {
    mean_t += p.t;
    mean_offset += p.offset;
    mean_var += p.sd * p.sd;
  }
  mean_t /= static_cast<double>(n);
  mean_offset /= static_cast<double>(n);
  mean_var /= static_cast<double>(n);
  double sxx = 0;
  double sxy = 0;
  for (const Point& p : points_) {
    sxx += (p.t - mean_t) * (p.t - mean_t);
    sxy += (p.t - mean_t) * (p.offset - mean_offset);
  }
  const double slope = sxy / sxx;
  const double predicted = mean_offset + slope * (t - mean_t);
  // The points' scatter about the line, or (too few to tell) what the readings claim, whichever
  // is larger; then the line's own uncertainty at t (ordinary least squares).
  double residual_var = mean_var;
  if (n > 2) {
    double ss = 0;
    for (const Point& p : points_) {
      const double r = p.offset - (mean_offset + slope * (p.t - mean_t));
      ss += r * r;
    }
    residual_var = std::max(residual_var, ss / static_cast<double>(n - 2));
  }
  const double leverage = 1.0 / static_cast<double>(n) + (t - mean_t) * (t - mean_t) / sxx;
  // The line is in the latest regime; before a change that came after t, the difference was
  // what that change's adjustment of the points undoes.
  double undone = 0;
  for (const Change& c : changes_) {
    if (c.t > t) undone += c.df * (c.t - t) - c.step;
  }
  return Estimate{predicted - undone, std::sqrt(residual_var * leverage)};
}

}  // namespace kairos
