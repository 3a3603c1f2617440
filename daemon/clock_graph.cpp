#include "daemon/clock_graph.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "nts/sample_measurement.hpp"

namespace kairos {
namespace {

constexpr auto kStatusInterval = std::chrono::seconds(64);

double stamp_error(StampSource source) {
  switch (source) {
    case StampSource::kHardware: return 10e-9;
    case StampSource::kKernel: return 1e-6;
    case StampSource::kDaemon: return 10e-6;  // scheduling delay between syscall and clock read
  }
  return 10e-6;
}

}  // namespace

double stamp_precision(StampSource t1, StampSource t4) {
  const double a = stamp_error(t1);
  const double b = stamp_error(t4);
  return std::sqrt(a * a + b * b);
}

StepMode parse_step_mode(const std::string& text) {
  if (text == "always") return StepMode::kAlways;
  if (text == "never") return StepMode::kNever;
  return StepMode::kStartOnly;
}

ClockGraph::ClockGraph(const DaemonConfig& config, EventLoop& loop, std::unique_ptr<ClockDevice> real_system,
                       bool steer, std::function<double()> elapsed)
    : loop_(loop),
      steer_(steer),
      start_(EventLoop::Clock::now()),
      elapsed_(std::move(elapsed)),
      real_system_(std::move(real_system)) {
  DisciplineOptions options;
  options.step_mode = parse_step_mode(config.system_clock.step);
  options.step_threshold = config.system_clock.step_threshold;
  options.max_slew = config.system_clock.max_slew;
  ClockDevice* device = real_system_.get();
  // (`this->`: the constructor parameter `elapsed` shadows the member function.)
  if (!steer_) {
    observed_system_ = std::make_unique<ObservedClock>(*real_system_, [this] { return this->elapsed(); });
    device = observed_system_.get();
  }
  system_ = std::make_unique<Discipline>(*device, options);
  status_timer_ = loop_.add_timer(kStatusInterval, [this] {
    status_timer_.reset();
    log_status();
    status_timer_ = loop_.add_timer(kStatusInterval, [this] { log_status(); });
  });
}

ClockGraph::~ClockGraph() {
  if (timer_) loop_.cancel_timer(*timer_);
  if (status_timer_) loop_.cancel_timer(*status_timer_);
}

double ClockGraph::elapsed() const {
  if (elapsed_) return elapsed_();
  return std::chrono::duration<double>(EventLoop::Clock::now() - start_).count();
}

std::size_t ClockGraph::add_source(const std::string& name) {
  source_names_.push_back(name);
  source_strata_.push_back(16);
  source_refids_.push_back(0);
  return system_->add_source(SourceOptions{.name = name});
}

void ClockGraph::on_sample(std::size_t source, const NtpExchangeResult& result) {
  const double now = elapsed();
  // An interleaved sample describes the previous exchange (RFC 9769): the model dates it then.
  const double taken = now - std::clamp(result.sample.age, 0.0, now);
  Measurement m = to_measurement(result.sample, taken, stamp_precision(result.t1_source, result.t4_source));
  // The model steers the corrected clock; the exchange measured the real one.
  if (observed_system_) m.offset -= observed_system_->correction(taken);
  if (source < source_strata_.size()) {
    source_strata_[source] = result.sample.header.stratum;
    source_refids_[source] = result.sample.header.reference_id;
  }
  system_->on_measurement(source, m, now);
  rearm_timer();
  note_state();
}

void ClockGraph::on_realtime_set() {
  if (steer_ && system_->steps() != own_steps_seen_) {
    own_steps_seen_ = system_->steps();  // our own step through ADJ_SETOFFSET
    return;
  }
  spdlog::warn("system clock: set by another process; its offset is unknown until the next measurement");
  system_->on_clock_stepped(elapsed());
  note_state();
}

void ClockGraph::rearm_timer() {
  if (timer_) loop_.cancel_timer(*timer_);
  timer_.reset();
  const auto next = system_->next_timer();
  if (!next) return;
  const auto at = start_ + std::chrono::duration_cast<EventLoop::Clock::duration>(std::chrono::duration<double>(*next));
  timer_ = loop_.add_timer(at, [this] {
    timer_.reset();
    system_->on_timer(elapsed());
    rearm_timer();
  });
}

void ClockGraph::note_state() {
  if (system_->state() == logged_state_) return;
  logged_state_ = system_->state();
  log_status();
}

ClockStatus ClockGraph::system_status() const {
  const double now = elapsed();
  ClockStatus s;
  s.name = "system";
  s.state = system_->state();
  s.steered = steer_;
  const ClockError e = system_->error(now);
  // True minus the real reading: the model's view of the clock it steers, plus what the
  // observed clock's virtual correction adds on top of the real one.
  s.offset = e.offset + (observed_system_ ? observed_system_->correction(now) : 0.0);
  s.error_bound = std::isfinite(e.sd) ? 4.0 * e.sd : std::numeric_limits<double>::infinity();
  if (system_->model().initialized()) {
    const auto est = system_->model().estimate_at(now);
    s.frequency = system_->applied_frequency() - est.frequency;
    s.frequency_sd = std::sqrt(std::max(0.0, est.frequency_variance));
  }
  s.steps = system_->steps();
  s.sources = system_->sources();
  return s;
}

std::optional<ServerClockState> ClockGraph::server_state() const {
  if (!system_->synchronized()) return std::nullopt;
  const auto sources = system_->sources();
  std::uint8_t stratum = 16;
  std::uint32_t refid = 0;
  for (std::size_t i = 0; i < sources.size() && i < source_strata_.size(); ++i) {
    if (sources[i].selected && source_strata_[i] < stratum) {
      stratum = source_strata_[i];
      refid = source_refids_[i];
    }
  }
  if (stratum >= 15) return std::nullopt;
  ServerClockState state;
  state.leap = NtpLeap::kNone;
  state.stratum = static_cast<std::uint8_t>(stratum + 1);
  state.reference_id = refid;
  const ClockError e = system_->error(elapsed());
  state.root_dispersion = NtpShort::from_duration(Duration::from_seconds(4.0 * e.sd));
  return state;
}

void ClockGraph::log_status() const {
  const ClockStatus s = system_status();
  std::size_t selected = 0;
  for (const auto& src : s.sources) selected += src.selected ? 1 : 0;
  spdlog::info("system clock: {}{}, offset {:+.9f} s ± {:.9f} s, frequency {:+.3f} ppm ± {:.3f}, {} of {} sources "
               "selected, {} steps",
               to_string(s.state), s.steered ? "" : " (observed, not steered)", s.offset, s.error_bound,
               s.frequency * 1e6, s.frequency_sd * 1e6, selected, s.sources.size(), s.steps);
}

}  // namespace kairos
