#pragma once
// The baseline the Kalman model is measured against: a proportional-integral servo in the style
// of linuxptp's default one (first two samples give the frequency and a step, then PI on each
// offset with constants 0.7 and 0.3 per update). It makes no claim about its error (infinite
// bound) and uses every measurement from every source as it comes (no selection).
#include <vector>

#include "clock/clock_device.hpp"
#include "clock/servo.hpp"

namespace kairos::sim {

class PiServo : public ClockServo {
 public:
  struct Options {
    double step_threshold = 0.01;
    bool hardware = false;
    double kp = 0.7;  // fraction of the offset corrected per update interval
    double ki = 0.3;
  };

  PiServo(ClockDevice& device, Options options);

  std::size_t add_source(SourceOptions) override {
    last_times_.push_back(-1);
    return last_times_.size() - 1;
  }
  void on_measurement(std::size_t source, const Measurement& m, double now) override;
  void on_timer(double) override {}
  std::optional<double> next_timer() const override { return std::nullopt; }
  void on_clock_stepped(double) override { state_ = State::kUnlocked; }
  void on_reference_frequency_change(double, double) override {}
  void on_reference_step(double, double) override {}
  void set_steer_listener(SteerListener listener) override { listener_ = std::move(listener); }
  void set_reference_error(std::function<ClockError(double)>) override {}
  ClockError error(double) const override { return ClockError{}; }
  bool synchronized() const override { return state_ == State::kLocked; }

 private:
  enum class State { kUnlocked, kJump, kLocked };
  void set_frequency(double now, double f);

  ClockDevice& device_;
  Options options_;
  std::vector<double> last_times_;  // per source: the interval that scales the gains
  State state_ = State::kUnlocked;
  double first_time_ = 0;
  double first_offset_ = 0;
  double drift_ = 0;      // the integral term: the frequency the servo believes is right
  double frequency_ = 0;  // set on the device
  SteerListener listener_;
};

}  // namespace kairos::sim
