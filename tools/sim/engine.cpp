#include "engine.hpp"

#include <array>
#include <cmath>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <vector>

#include "clock/discipline.hpp"
#include "clock/sim_clock.hpp"
#include "hwts/cross_timestamp.hpp"
#include "hwts/phc_device.hpp"
#include "hwts/sim_phc.hpp"
#include "nts/ntp_client.hpp"
#include "nts/sample_measurement.hpp"
#include "nts/ntp_responder.hpp"
#include "pi_servo.hpp"

namespace kairos::sim {
namespace {

// 2027-01-01 00:00:00 UTC: a leap second in a scenario ends this day.
constexpr std::int64_t kMidnight = 1798761600;

struct Event {
  double time;
  std::uint64_t sequence;  // ties keep insertion order, so runs are deterministic
  std::function<void()> action;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : sequence > o.sequence; }
};

kairos::StepMode to_step_mode(sim::StepMode mode) {
  switch (mode) {
    case sim::StepMode::kStartOnly: return kairos::StepMode::kStartOnly;
    case sim::StepMode::kAlways: return kairos::StepMode::kAlways;
    case sim::StepMode::kNever: return kairos::StepMode::kNever;
  }
  return kairos::StepMode::kStartOnly;
}

class World {
 public:
  World(const Scenario& scenario, const RunOptions& options)
      : sc_(scenario),
        options_(options),
        rng_(options.seed),
        epoch_(scenario_epoch(scenario)),
        system_("system", [this] { return now_; }, epoch_, scenario.clock.initial_offset, scenario.clock.frequency, 0.1) {
    if (sc_.leap) system_.set_leap_point(sc_.leap->at);
    if (sc_.phc) {
      phc_.emplace("phc", [this] { return now_; }, epoch_, sc_.phc->oscillator.initial_offset,
                   sc_.phc->oscillator.frequency, 500e-6);
      if (sc_.leap) phc_->set_leap_point(sc_.leap->at);
      open_phc();
    }
    ClockDevice& disciplined = phc_ ? *phc_clock_ : static_cast<ClockDevice&>(system_);
    servo_ = make_servo(disciplined);
    for (std::size_t i = 0; i < sc_.servers.size(); ++i) {
      servo_->add_source(SourceOptions{.name = "server" + std::to_string(i),
                                       .trusted = sc_.servers[i].trusted,
                                       .required = sc_.servers[i].required});
      servers_.emplace_back(NtpResponder([this, i] { return server_transmit_stamp(i); }, random_fill()));
      // Like a kairosd server with `interleaved` on: one responder, and its table, for all polls.
      if (interleaved()) servers_.back().responder.enable_interleaved();
    }
    if (phc_) {
      follower_ = make_servo(system_);
      follower_->add_source(SourceOptions{.name = "phc"});
      follower_->set_reference_error([this](double t) { return servo_->error(t); });
      servo_->set_steer_listener([this](double t, double df, double step) {
        if (df != 0) follower_->on_reference_frequency_change(t, df);
        if (step != 0) follower_->on_reference_step(t, step);
      });
    }
  }

  void run(const std::function<void(const Record&)>& on_second) {
    const double duration = options_.duration > 0 ? options_.duration : sc_.duration;
    for (double t = 0; t < duration; t += 1.0) {
      at(t, [this, t, &on_second] { second(t, on_second); });
    }
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      servers_[i].burst_left = sc_.client.initial_burst;
      at(0.001 * static_cast<double>(i + 1), [this, i] { poll(i, 0); });
    }
    if (phc_) at(0.5, [this] { cross_timestamp(); });
    if (sc_.foreign_step) {
      at(sc_.foreign_step->at, [this] {
        (void)system_.step(sc_.foreign_step->by);
        output().on_clock_stepped(now_);
        // The daemon learns of the step at once (timerfd cancel-on-set) and polls again.
        if (!phc_) {
          for (std::size_t i = 0; i < servers_.size(); ++i) {
            servers_[i].burst_left = sc_.client.initial_burst;
            const std::uint64_t generation = ++servers_[i].generation;
            at(now_ + 0.001 * static_cast<double>(i + 1), [this, i, generation] { poll(i, generation); });
          }
        }
      });
    }
    while (!queue_.empty()) {
      Event e = queue_.top();
      queue_.pop();
      if (e.time >= duration) break;
      now_ = e.time;
      e.action();
    }
  }

 private:
  // The client's last valid exchange with a server, for its next interleaved request.
  struct LastExchange {
    InterleavedState state;
    double time = 0;  // true time its response arrived: when the exchange was measured
  };

  struct Server {
    explicit Server(NtpResponder r) : responder(std::move(r)) {}

    NtpResponder responder;
    int burst_left = 0;
    std::uint64_t generation = 0;  // a new poll schedule replaces the old one
    // Client side, interleaved only (as daemon/association.cpp keeps it).
    std::optional<LastExchange> last;
    int polls_since_valid = 0;
    // Server side: when the server reads its clock for the T3 of the answer being built.
    double transmit_read = 0;
  };

  // The daemon's PHC path over the simulated device: cross-timestamps through PhcDevice, and the
  // leader steering the PHC through the KernelClock PhcDevice hands out (clock_adjtime on SimPhc).
  void open_phc() {
    const PhcModel& p = *sc_.phc;
    SimPhcOptions o;
    o.max_adj = static_cast<int>(std::lround(phc_->max_frequency() * 1e9));
    o.readout_delay = p.readout_delay;
    o.readout_jitter = p.readout_jitter;
    o.reading_gap = 1e-6;
    sim_phc_.emplace(system_, *phc_, [this] { return now_; }, o, &rng_);
    // Cannot fail on SimPhc: a failure here is a bug in the simulator, and value() says so.
    phc_device_.emplace(PhcDevice::open(o.path, sim_phc_->syscalls(), PhcAccess::kReadWrite).value());
    phc_clock_ = std::move(phc_device_->clock().value());
  }


  std::unique_ptr<ClockServo> make_servo(ClockDevice& clock) {
    if (options_.servo == Servo::kPi) {
      return std::make_unique<PiServo>(clock, PiServo::Options{.step_threshold = sc_.client.step_threshold,
                                                                 .hardware = sc_.client.timestamping == Timestamping::kHardware});
    }
    DisciplineOptions o;
    o.step_mode = to_step_mode(sc_.client.step_mode);
    o.step_threshold = sc_.client.step_threshold;
    o.max_slew = sc_.client.max_slew;
    return std::make_unique<Discipline>(clock, o);
  }

  ClockServo& output() { return follower_ ? *follower_ : *servo_; }

  // The interleaved exchange yields samples one poll old. The PI baseline, like linuxptp's servo,
  // takes every sample as taken now (PTP's two-step follow-up delivers the precise departure
  // stamp within the same exchange), so it keeps the basic exchange, whose T3 here is the
  // departure stamp itself.
  bool interleaved() const { return sc_.client.interleaved && options_.servo == Servo::kKalman; }

  void at(double t, std::function<void()> action) { queue_.push(Event{t, sequence_++, std::move(action)}); }

  RandomFill random_fill() {
    return [this](std::span<std::uint8_t> out) {
      for (auto& b : out) b = static_cast<std::uint8_t>(rng_());
    };
  }

  double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng_); }
  double exponential(double mean) { return mean > 0 ? std::exponential_distribution<double>(1.0 / mean)(rng_) : 0; }
  double normal(double sd) { return sd > 0 ? std::normal_distribution<double>(0, sd)(rng_) : 0; }
  bool chance(double p) { return p > 0 && uniform(0, 1) < p; }
  // Software timestamps are the kernel's (SO_TIMESTAMPING), hardware ones the NIC's.
  StampKind stamp_kind() const {
    return sc_.client.timestamping == Timestamping::kHardware ? StampKind::kHardware : StampKind::kKernel;
  }
  double stamp_noise() {
    const double p = sc_.client.timestamp_precision;
    return p > 0 ? uniform(-p / 2, p / 2) : 0;
  }

  double delay(const DelayModel& d) {
    double v = d.base + exponential(d.jitter_mean);
    if (chance(d.spike_probability)) v += d.spike_base + exponential(d.spike_mean);
    return v;
  }

  bool lost(const ServerModel& s, double t) {
    if (chance(s.loss)) return true;
    for (const LossBurst& b : sc_.loss_bursts) {
      if (t >= b.start && t < b.start + b.duration && chance(b.probability)) return true;
    }
    return false;
  }

  // True time as UTC counts it (POSIX seconds since the start): a leap second repeats one.
  double utc(double t) const {
    if (sc_.leap && t >= sc_.leap->at) return t + (sc_.leap->insert ? -1.0 : 1.0);
    return t;
  }

  // The server's T3 as it writes it into the packet: the responder's clock.
  NtpTimestamp server_transmit_stamp(std::size_t i) {
    return NtpTimestamp::from_timespec(sim_unix_time(epoch_, server_time(i, servers_[i].transmit_read) + stamp_noise()));
  }

  double server_time(std::size_t i, double t) const {
    const ServerModel& s = sc_.servers[i];
    double v = utc(t) + s.offset;
    if (s.step_at && t >= *s.step_at) v += s.step_by;
    return v;
  }

  NtpLeap server_leap(double t) const {
    if (sc_.leap && t >= sc_.leap->at - sc_.leap->announce && t < sc_.leap->at) {
      return sc_.leap->insert ? NtpLeap::kInsertSecond : NtpLeap::kDeleteSecond;
    }
    return NtpLeap::kNone;
  }

  void second(double t, const std::function<void(const Record&)>& on_second) {
    const double walk = sc_.clock.random_walk;
    double f = system_.oscillator_frequency() + normal(walk);
    for (const TemperatureStep& s : sc_.clock.temperature_steps) {
      if (s.at > t - 1 && s.at <= t) f += s.change;
    }
    const OscillatorModel& osc = sc_.clock;
    if (osc.square_half_period > 0 && t > 0 && std::fmod(t, osc.square_half_period) < 1.0) {
      // Up on odd half-periods, back down on even ones.
      const bool up = static_cast<long long>(t / osc.square_half_period) % 2 == 1;
      f += up ? osc.square_change : -osc.square_change;
    }
    f += osc.ramp;
    if (osc.flicker > 0) {
      // Each Gauss-Markov process x' = -x/tau + noise keeps sd `flicker`; only their change this
      // second moves the frequency (f holds their sum already).
      for (std::size_t k = 0; k < flicker_.size(); ++k) {
        const double tau = std::pow(10.0, static_cast<double>(k + 1));
        const double a = std::exp(-1.0 / tau);
        const double next = a * flicker_[k] + normal(osc.flicker * std::sqrt(1 - a * a));
        f += next - flicker_[k];
        flicker_[k] = next;
      }
    }
    system_.set_oscillator_frequency(f);
    if (phc_) phc_->set_oscillator_frequency(phc_->oscillator_frequency() + normal(sc_.phc->oscillator.random_walk));

    Record r;
    r.time = t;
    // Compared on a scale without leap seconds (like TAI), so that the instant of the leap itself,
    // where UTC readings repeat a second, does not look like an error of a second.
    r.offset = system_.reading_at(t) + system_.leaps() - t;
    r.freq_error = system_.rate_error();
    const ClockError e = output().error(t);
    r.bound_low = e.low(kBoundSigmas);
    r.bound_high = e.high(kBoundSigmas);
    r.max_error = e.max_error;
    if (phc_) r.phc_offset = phc_->reading_at(t) + phc_->leaps() - t;
    r.synchronized = output().synchronized();
    on_second(r);
  }

  // One pending timer event per servo: a new deadline replaces the old one (its event finds a
  // stale generation and does nothing).
  void schedule_timer(ClockServo& servo, std::uint64_t& generation) {
    const std::uint64_t mine = ++generation;
    if (auto when = servo.next_timer()) {
      at(std::max(*when, now_), [this, &servo, &generation, mine] {
        if (mine != generation) return;
        servo.on_timer(now_);
        schedule_timer(servo, generation);
      });
    }
  }

  void poll(std::size_t i, std::uint64_t generation) {
    Server& server = servers_[i];
    if (generation != server.generation) return;
    const double interval = server.burst_left > 0 ? sc_.client.burst_interval : sc_.client.poll;
    if (server.burst_left > 0) --server.burst_left;
    at(now_ + interval, [this, i, generation] { poll(i, generation); });

    const ServerModel& model = sc_.servers[i];
    SimClock& local = phc_ ? *phc_ : system_;
    const double send = now_;
    // With hardware timestamping this is the NIC's stamp of the request's departure, which the
    // daemon also puts into the interleaved state (the "t1 improvement") when it arrives in time.
    const timespec t1 = sim_unix_time(epoch_, local.reading_at(send) + stamp_noise());
    // Interleaved: name the last valid exchange, unless too many requests went unanswered since.
    std::optional<LastExchange> previous;
    if (interleaved()) {
      if (server.polls_since_valid >= kMaxInterleavedGap) server.last.reset();
      ++server.polls_since_valid;
      previous = server.last;
    }
    auto exchange = std::make_shared<NtpClientExchange>(
        NtpClientExchange::plain(random_fill(), previous ? &previous->state : nullptr));
    if (lost(model, send)) return;
    const double arrive = send + delay(model.up);
    at(arrive, [this, i, t1, exchange, arrive, previous] {
      const ServerModel& m = sc_.servers[i];
      Server& s = servers_[i];
      const double depart = arrive + m.processing;
      const NtpTimestamp rx = NtpTimestamp::from_timespec(sim_unix_time(epoch_, server_time(i, arrive) + stamp_noise()));
      // A server without TX stamps: `processing` is its T3 - T2, the clock read as the answer
      // leaves. An interleaved server writes T3 as it builds the answer, `processing` before it
      // reaches the wire; only the later (interleaved) answer carries the true departure.
      s.transmit_read = interleaved() ? arrive : depart;
      ServerClockState state;
      state.leap = server_leap(arrive);
      state.stratum = 1;
      state.precision = -30;
      state.root_delay = NtpShort::from_duration(Duration::from_seconds(m.root_delay));
      state.root_dispersion = NtpShort::from_duration(Duration::from_seconds(m.root_dispersion));
      s.responder.set_clock_state(state);
      std::vector<std::uint8_t> out(exchange->request().size());
      const Response response = s.responder.respond(exchange->request(), rx, ClientAddress{}, RateDecision::kAllow, nullptr, out);
      if (response.kind != ResponseKind::kPlain) return;
      out.resize(response.length);
      // The hardware stamp of the response's departure, as the server's error queue reports it
      // after the packet left: a later interleaved request gets it as T3.
      if (response.transmit_handle) {
        const NtpTimestamp hardware =
            NtpTimestamp::from_timespec(sim_unix_time(epoch_, server_time(i, depart) + stamp_noise()));
        (void)s.responder.note_transmit(response.transmit_handle, hardware);
      }
      if (lost(m, depart)) return;
      const double back = depart + delay(m.down);
      at(back, [this, i, t1, exchange, out = std::move(out), back, previous] {
        receive(i, *exchange, out, t1, back, previous);
      });
    });
  }

  void receive(std::size_t i, const NtpClientExchange& exchange, const std::vector<std::uint8_t>& response,
               const timespec& t1, double time, const std::optional<LastExchange>& previous) {
    SimClock& local = phc_ ? *phc_ : system_;
    const timespec t4 = sim_unix_time(epoch_, local.reading_at(time) + stamp_noise());
    auto sample = exchange.handle_response(response, t1, t4, nullptr);
    if (!sample) return;
    if (interleaved()) {
      servers_[i].last = LastExchange{.state = sample->next, .time = time};
      servers_[i].polls_since_valid = 0;
    }
    // An interleaved answer completes the previous exchange: its offset is from then. The
    // precision is what kairosd would claim for stamps of this kind, never the simulated noise.
    const double taken = sample->interleaved && previous ? previous->time : time;
    const Measurement m = to_measurement(*sample, taken, stamp_precision(stamp_kind(), stamp_kind()));
    servo_->on_measurement(i, m, time);
    schedule_timer(*servo_, servo_timer_);
  }

  // PHC against the system clock through PhcDevice on SimPhc: system, PHC, system readings (the
  // readout model is SimPhc's), the one with the shortest window.
  void cross_timestamp() {
    const PhcModel& p = *sc_.phc;
    at(now_ + p.interval, [this] { cross_timestamp(); });
    auto cross = phc_device_->cross_timestamp(p.readings);
    if (!cross) return;
    // Taken at the end of the readings on the model's (true) time axis, as before.
    const double t = sim_phc_->cursor();
    follower_->on_measurement(0, to_measurement(*cross, t), t);
    schedule_timer(*follower_, follower_timer_);
  }

  static constexpr double kBoundSigmas = 4.0;

  const Scenario& sc_;
  RunOptions options_;
  std::mt19937_64 rng_;
  std::int64_t epoch_;
  double now_ = 0;
  std::uint64_t sequence_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  SimClock system_;
  std::optional<SimClock> phc_;
  std::optional<SimPhc> sim_phc_;
  std::optional<PhcDevice> phc_device_;
  std::unique_ptr<ClockDevice> phc_clock_;  // what the leader steers when there is a PHC
  std::unique_ptr<ClockServo> servo_;
  std::unique_ptr<ClockServo> follower_;
  std::vector<Server> servers_;
  std::uint64_t servo_timer_ = 0;
  std::uint64_t follower_timer_ = 0;
  std::array<double, 4> flicker_{};  // the flicker model's processes (see OscillatorModel)
};

}  // namespace

std::int64_t scenario_epoch(const Scenario& scenario) {
  return scenario.leap ? kMidnight - static_cast<std::int64_t>(std::llround(scenario.leap->at)) : kMidnight;
}

void run(const Scenario& scenario, const RunOptions& options, const std::function<void(const Record&)>& on_second) {
  World world(scenario, options);
  world.run(on_second);
}

}  // namespace kairos::sim
