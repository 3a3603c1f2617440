#include "daemon/poll_control.hpp"

#include "clock/discipline.hpp"

#include <algorithm>
#include <cmath>

namespace kairos {

PollFeedback poll_feedback(const SourceStatus& status) {
  return PollFeedback{.residual = status.residual,
                      .predicted_sd = status.predicted_sd,
                      .measurement_sd = status.measurement_sd,
                      .excess_delay = status.last_delay - status.min_delay,
                      .selected = status.selected};
}

PollControl::PollControl(int minpoll, int maxpoll)
    : minpoll_(minpoll), maxpoll_(std::max(minpoll, maxpoll)), poll_(minpoll) {}

void PollControl::lengthen() {
  poll_ = std::min(poll_ + 1, maxpoll_);
  good_run_ = 0;
}

void PollControl::shorten() {
  poll_ = std::max(poll_ - 1, minpoll_);
  good_run_ = 0;
}

void PollControl::on_sample(const PollFeedback& f) {
  // Before the model has an estimate it predicts nothing: the poll stays where it is.
  if (!std::isfinite(f.predicted_sd) || !std::isfinite(f.measurement_sd) || !std::isfinite(f.residual)) return;
  const double excess = std::max(0.0, f.excess_delay);
  // A path that changed stays changed: two such round trips in a row. Queueing alone gives one
  // now and then (an exponential tail passes 4 times its mean once in 55 samples).
  const bool long_trip = typical_excess_ >= 0 && excess > kDelayJump * typical_excess_ && excess / 2 > f.predicted_sd;
  const bool delay_jump = long_trip && last_was_long_;
  last_was_long_ = long_trip;
  // Slow running values (1/8 per sample) so that one sample moves them little. One sample's own
  // noise varies with its queueing; the poll compares the prediction with the usual noise.
  const double variance = f.measurement_sd * f.measurement_sd;
  if (typical_excess_ < 0) {
    typical_excess_ = excess;
    typical_variance_ = variance;
  } else {
    typical_excess_ += (excess - typical_excess_) / 8;
    typical_variance_ += (variance - typical_variance_) / 8;
  }
  const double noise = std::sqrt(typical_variance_);

  // The surprise is judged against this sample's own noise: it is what the residual carries.
  const bool surprise = std::abs(f.residual) > kSurprise * std::hypot(f.predicted_sd, f.measurement_sd);
  if (surprise || delay_jump || f.predicted_sd > kShortenAbove * noise) {
    shorten();
    return;
  }
  if (f.predicted_sd < kLengthenBelow * noise) {
    if (++good_run_ >= kRunToLengthen) lengthen();
  } else {
    good_run_ = 0;
  }
}

void PollControl::on_rate_kiss() {
  lengthen();
}

std::chrono::steady_clock::duration PollControl::nominal_interval() const {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::ldexp(1.0, poll_)));
}

std::chrono::steady_clock::duration PollControl::interval(const std::function<double()>& uniform) const {
  const double factor = 1.0 + kJitter * (2.0 * uniform() - 1.0);
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(std::ldexp(1.0, poll_) * factor));
}

}  // namespace kairos
