#pragma once
// The clocks kairosd disciplines and how they hang together (ARCHITECTURE.md, "clock graph"):
// the system clock, disciplined by the NTP sources, or following a NIC's PHC that they
// discipline. Each clock is a Discipline (the Kalman model, selection, steering) over a
// ClockDevice: the kernel's own clock when steering, an ObservedClock over it when only
// observing (`steer = false`), so the same model runs either way and reports the real clock's
// offset. The event loop drives it: samples in, slew-end timers, status out.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "clock/discipline.hpp"
#include "clock/observed_clock.hpp"
#include "daemon/config.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/ntp_query.hpp"
#include "nts/ntp_responder.hpp"

namespace kairos {

// One clock as an operator sees it.
struct ClockStatus {
  std::string name;
  DisciplineState state = DisciplineState::kUnsynchronized;
  bool steered = false;        // the kernel clock is adjusted (not observe-only)
  double offset = 0;           // true time minus the real clock's reading (s), the model's estimate
  double error_bound = 0;      // half-width of the bound around `offset` (s); infinite when unknown
  double frequency = 0;        // the model's correction of the clock's rate (fractional)
  double frequency_sd = 0;
  std::size_t steps = 0;
  std::vector<SourceStatus> sources;
};

class ClockGraph {
 public:
  // `real_system` is the system clock (KernelClock::system() in kairosd, a fake in tests). With
  // steer false it is only ever read. `elapsed` replaces the monotonic clock as the model's time
  // axis (tests); timers still run on the loop's clock.
  ClockGraph(const DaemonConfig& config, EventLoop& loop, std::unique_ptr<ClockDevice> real_system, bool steer,
             std::function<double()> elapsed = {});
  ClockGraph(const ClockGraph&) = delete;
  ClockGraph& operator=(const ClockGraph&) = delete;
  ~ClockGraph();

  // A source of the system clock's model; returns its index for on_sample.
  std::size_t add_source(const std::string& name);
  void on_sample(std::size_t source, const NtpExchangeResult& result);
  // Somebody else set CLOCK_REALTIME (timerfd cancel-on-set): the offset is unknown again.
  void on_realtime_set();

  ClockStatus system_status() const;
  // What our NTP server should announce while we are synchronized (stratum from the selected
  // source, leap, root distance from the bound); nullopt while unsynchronized.
  std::optional<ServerClockState> server_state() const;
  void log_status() const;

  // The model's time axis: monotonic seconds since the graph was made.
  double elapsed() const;

 private:
  void rearm_timer();
  void note_state();

  EventLoop& loop_;
  bool steer_;
  EventLoop::Clock::time_point start_;
  std::function<double()> elapsed_;
  std::unique_ptr<ClockDevice> real_system_;
  std::unique_ptr<ObservedClock> observed_system_;  // when not steering
  std::unique_ptr<Discipline> system_;
  std::vector<std::string> source_names_;
  std::vector<std::uint8_t> source_strata_;
  std::vector<std::uint32_t> source_refids_;
  std::optional<EventLoop::TimerId> timer_;
  std::optional<EventLoop::TimerId> status_timer_;
  DisciplineState logged_state_ = DisciplineState::kUnsynchronized;
  std::size_t own_steps_seen_ = 0;
};

// The sd of one exchange's timestamp error (both ends) for the stamps it had.
double stamp_precision(StampSource t1, StampSource t4);
StepMode parse_step_mode(const std::string& text);

}  // namespace kairos
