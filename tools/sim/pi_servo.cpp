#include "pi_servo.hpp"

#include <algorithm>
#include <cmath>

namespace kairos::sim {

PiServo::PiServo(ClockDevice& device, Options options) : device_(device), options_(options) {
  if (auto f = device_.frequency()) frequency_ = drift_ = *f;
}

void PiServo::set_frequency(double now, double f) {
  const double limit = device_.max_frequency();
  f = std::clamp(f, -limit, limit);
  if (!device_.set_frequency(f)) return;
  if (listener_) listener_(now, f - frequency_, 0);
  frequency_ = f;
}

void PiServo::on_measurement(std::size_t source, const Measurement& m, double now) {
  if (source >= last_times_.size()) return;
  const double previous = last_times_[source];
  last_times_[source] = m.time;
  const double offset = -m.offset;  // our clock minus the reference
  switch (state_) {
    case State::kUnlocked:
      first_time_ = m.time;
      first_offset_ = offset;
      state_ = State::kJump;
      break;
    case State::kJump: {
      const double dt = m.time - first_time_;
      if (dt <= 0) break;
      // The clock's rate error over the two samples becomes the starting frequency.
      drift_ = frequency_ - (offset - first_offset_) / dt;
      set_frequency(now, drift_);
      if (std::abs(offset) > options_.step_threshold) {
        if (device_.step(-offset) && listener_) listener_(now, 0, -offset);
      }
      state_ = State::kLocked;
      break;
    }
    case State::kLocked: {
      if (previous < 0) break;
      const double interval = std::max(m.time - previous, 1e-3);
      drift_ -= options_.ki * offset / interval;
      set_frequency(now, drift_ - options_.kp * offset / interval);
      break;
    }
  }
}

}  // namespace kairos::sim
