#pragma once
// One disciplined clock: its sources' measurements in, its ClockDevice steered, its error bound
// out. The pipeline per measurement: per-source filter (variance from excess delay) → selection
// of truechimers among all sources (intersection, majority) → Kalman update with each
// truechimer's measurement (fusion weighted by variance) → steering (frequency set directly,
// phase slewed, steps only as the policy allows).
//
// A clock can follow another of ours (the system clock following the PHC through
// cross-timestamps): its single source is the leader, and the leader's own corrections reach
// it as known control inputs (on_reference_frequency_change / on_reference_step), so one model
// and one policy serve both ends of the graph UTC → PHC → system clock.
#include <cmath>
#include <cstddef>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "clock/agreement_guard.hpp"
#include "clock/clock_device.hpp"
#include "clock/kalman_clock.hpp"
#include "clock/leap_seconds_list.hpp"
#include "clock/measurement.hpp"
#include "clock/selection.hpp"
#include "clock/servo.hpp"
#include "clock/source_filter.hpp"

namespace kairos {

enum class StepMode {
  kStartOnly,  // step only before the first synchronisation (chrony's makestep with a limit of 1)
  kAlways,     // step whenever the offset exceeds the threshold
  kNever,      // always slew
};

// The sd the model gives an offset it knows nothing about (after a foreign step): a day.
inline constexpr double kUnknownOffset = 86400;

struct DisciplineOptions {
  StepMode step_mode = StepMode::kStartOnly;
  double step_threshold = 0.01;    // s
  // s; once synchronized, a larger offset is not corrected at all (0: never). Before the first
  // synchronization any offset follows the step policy.
  double panic_threshold = 1000;
  // Sources usable in selection before the clock is steered at all (chrony's minsources).
  std::size_t min_sources = 1;
  double max_slew = 500e-6;        // largest phase-correction rate (s/s) on top of the frequency
  double min_slew_time = 0.1;      // s; an offset is removed over at least this long
  double bound_sigmas = 4.0;       // half-width of the statistical bound in sd (4: 99.994 %)
  double dispersion_rate = 15e-6;  // s/s growth of a source's interval with age (RFC 5905 PHI)
  // Worst frequency error (s/s) the model may have without knowing it (an oscillator's step
  // between two measurements): the maximum error grows by this much per second of age on top of
  // the model's own bound_sigmas frequency sd. Like chrony's maxclockerror.
  double max_drift = 1e-6;
  // s; a source whose root distance (the selection's interval half-width: half its round trip,
  // its server's root delay / 2 and root dispersion, our precision, grown with age) is larger
  // is not selectable (chrony's maxdistance). A source may have its own (SourceOptions).
  double max_distance = 3.0;
  // The largest frequency (fractional, slews included) set on the clock (the configuration's
  // [clock.system] max-drift, chrony's maxdrift): a clock that needs more is steered at this
  // limit, its reading drifts away from the true time, and it is not synchronized
  // (kFrequencyLimit). The device's own limit applies too.
  double max_frequency = 500e-6;
  double max_sample_age = 3600;    // s; older samples take no part in selection
  double init_wait = 10;           // s to wait for a majority of sources before starting
  std::size_t max_outliers = 4;    // consecutive outliers after which the model resets its offset
  KalmanClock::Options kalman;
};

// kFrequencyLimit: the model knows the time, but the clock needs a larger frequency correction
// than max_frequency allows (by more than bound_sigmas frequency sd); it is steered at the limit and its reading runs away from the true
// time faster than any bound it could publish keeps up with: not synchronized.
enum class DisciplineState { kUnsynchronized, kSynchronized, kNoMajority, kPanic, kFrequencyLimit };
const char* to_string(DisciplineState state);

// Where a source stood in the last selection.
enum class SourceState {
  kNoSample,     // nothing measured yet
  kCombined,     // a truechimer whose measurements steer the clock
  kSelected,     // a truechimer that voted, while preferred truechimers steer (prefer)
  kNotSelected,  // a falseticker, no selection was made, or its sample is too old
  kNoSelect,     // `noselect`: measured and shown, never selected
  kTooFar,       // its root distance exceeds max-distance: not selectable
  kDisagrees,    // guarded, and outside the authenticated sources' interval: not selectable
  kUnconfirmed,  // guarded with require-agreement, never confirmed by them: not selectable
};
const char* to_string(SourceState state);

struct SourceStatus {
  std::string name;
  bool selected = false;  // a truechimer in the last selection
  bool combined = false;  // ... and one whose measurements steer the clock
  SourceState state = SourceState::kNoSample;
  bool has_sample = false;
  double last_offset = 0;   // the last measurement (reference minus us)
  double last_delay = 0;
  double min_delay = 0;
  double residual = 0;      // last measurement against the model's prediction
  // For the poll (daemon/poll_control.hpp): the sd of that prediction (NaN before the model has
  // one) and of the measurement itself.
  double predicted_sd = std::numeric_limits<double>::quiet_NaN();
  double measurement_sd = 0;
  std::size_t samples = 0;
  bool retired = false;     // removed by retire_source; kept so that source ids stay valid
  // A guarded source (SourceOptions::guarded): what the authenticated sources said of it.
  bool guarded = false;
  GuardState guard = GuardState::kNoAuthority;
  std::optional<double> disagreement;  // its time minus the authenticated time (s): > 0, ahead
  std::size_t guard_rejected = 0;      // its samples refused because it disagreed
  std::size_t guard_episodes = 0;      // times it began to disagree
};

class Discipline : public ClockServo {
 public:

  Discipline(ClockDevice& device, DisciplineOptions options);

  std::size_t add_source(SourceOptions options) override;
  // The source is gone (removed from the configuration): it no longer takes part in selection
  // or in the majority the start waits for, and its later measurements are ignored. Its id is
  // never reused, so the ids of the others stay as they are.
  void retire_source(std::size_t source);
  void set_steer_listener(SteerListener listener) override { listener_ = std::move(listener); }
  void set_reference_error(std::function<ClockError(double time)> reference_error) override {
    reference_error_ = std::move(reference_error);
  }
  void on_measurement(std::size_t source, const Measurement& m, double now) override;
  void on_clock_stepped(double now) override;
  // Ends a slew when its time is up.
  void on_timer(double now) override;
  std::optional<double> next_timer() const override {
    return std::isnan(slew_end_) ? std::nullopt : std::optional<double>(slew_end_);
  }
  void on_reference_frequency_change(double time, double delta) override;
  void on_reference_step(double time, double delta) override;

  ClockError error(double time) const override;
  // The root distance our own server may announce (RFC 5905 §7.3): delay = the shortest round
  // trip of the measurements that bound the estimate plus its source's root delay, dispersion =
  // the rest of this clock's maximum error (how it is built: discipline.cpp). delay / 2 +
  // dispersion is the maximum error (a leader's error not included); both are infinite when no
  // measurement bounds it.
  struct RootDistance {
    double delay = std::numeric_limits<double>::infinity();
    double dispersion = std::numeric_limits<double>::infinity();
    double total() const { return delay / 2 + dispersion; }
  };
  RootDistance root_distance(double time) const;
  bool synchronized() const override { return state_ == DisciplineState::kSynchronized; }
  DisciplineState state() const { return state_; }
  const KalmanClock& model() const { return kalman_; }
  // Every source ever added, indexed by id (retired ones flagged).
  std::vector<SourceStatus> sources() const;
  // One of them (an id add_source returned), as sources() lists it.
  SourceStatus source_status(std::size_t id) const;
  double applied_frequency() const { return frequency_; }
  std::size_t steps() const { return steps_; }
  // The leap second the selected sources announce by majority, and the one armed on the device
  // (the same, but only on the last day of a month).
  Leap leap() const { return leap_; }
  Leap armed_leap() const { return applied_leap_; }
  // A leap-seconds.list (nullopt: none). While it has not expired by the clock's reading, the
  // leap armed is the list's, on the last day of its month, whatever the sources say; its TAI -
  // UTC is set on the device (ObservedClock keeps it to itself). Expired or absent: the sources'
  // vote decides, and the TAI offset is what the sources that steer announce (a PTP master's
  // currentUtcOffset) when they agree, else left as it is.
  void set_leap_seconds_list(std::optional<LeapSecondsList> list);
  const std::optional<LeapSecondsList>& leap_seconds_list() const { return leap_list_; }
  // The leap the sources announce this month that the list does not have (kNone: they agree).
  Leap outvoted_leap() const { return outvoted_; }
  // TAI - UTC as last set on the device; nullopt before (or with neither a list nor a source
  // announcing it).
  std::optional<int> tai_offset() const { return applied_tai_; }
  // The leap second last armed (kept after the kernel applied it, dropped if disarmed before
  // its midnight): what a smearing server smears around.
  const std::optional<LeapEvent>& armed_leap_event() const { return armed_event_; }
  // Measurements refused because they were taken before what the model can relate to now (more
  // of our corrections since than it remembers, or an unknown step).
  std::size_t too_old() const { return too_old_; }

 private:
  // One measurement's interval, kept to bound the estimate: the true offset at `time` was within
  // delay / 2 + dispersion of `offset` (our clock minus the reference, the model's sign).
  struct Anchor {
    double time = 0;
    double offset = 0;
    double delay = 0;       // the source's root delay plus the part of the round trip that counts
    double dispersion = 0;  // the source's root dispersion plus our timestamps' error
  };
  // Measurements per source the maximum error is taken from (the tightest of them).
  static constexpr std::size_t kAnchors = 8;

  struct Source {
    SourceOptions options;
    SourceFilter filter;
    std::deque<Anchor> anchors;  // newest last
    std::optional<Observation> last;
    double residual = 0;
    double predicted_sd = std::numeric_limits<double>::quiet_NaN();
    double last_delay = 0;
    double interval = 0;  // smoothed time between its measurements
    SourceState state = SourceState::kNoSample;  // its part in the last selection
    bool retired = false;
    AgreementGuard guard;     // guarded sources only
    std::size_t guard_rejected = 0;
    // A truechimer in the last selection; combined: one whose measurements steer the clock.
    bool selected() const { return state == SourceState::kSelected || state == SourceState::kCombined; }
    bool combined() const { return state == SourceState::kCombined; }
  };

  Selection select(double now);
  bool try_initialize(double now);
  void feed(const Observation& obs);
  void steer(double now, double horizon);
  void step_clock(double now, double by);
  void change_frequency(double now, double target);
  void publish_error(double now);
  // Arms or disarms the device's leap second (the list's, else the sources'), and sets its TAI
  // offset from the list.
  void update_leap();
  // TAI - UTC as the sources that steer announce it, when they all agree; else nullopt.
  std::optional<int> announced_tai_utc() const;
  // The largest |frequency| this clock may be set to: the device's and max_frequency.
  double frequency_limit() const;

  ClockDevice& device_;
  DisciplineOptions options_;
  KalmanClock kalman_;
  std::vector<Source> sources_;
  SteerListener listener_;
  std::function<ClockError(double)> reference_error_;
  DisciplineState state_ = DisciplineState::kUnsynchronized;
  bool ever_synchronized_ = false;
  double frequency_ = 0;      // what the device is set to
  double first_sample_time_ = std::numeric_limits<double>::quiet_NaN();
  std::size_t outliers_ = 0;
  std::size_t steps_ = 0;
  std::size_t too_old_ = 0;
  Leap leap_ = Leap::kNone;
  Leap applied_leap_ = Leap::kNone;
  std::optional<LeapSecondsList> leap_list_;
  Leap outvoted_ = Leap::kNone;
  std::optional<int> applied_tai_;
  std::optional<LeapEvent> armed_event_;
  double slew_end_ = std::numeric_limits<double>::quiet_NaN();

};

}  // namespace kairos
