#include "engine.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "clock/discipline.hpp"
#include "clock/sim_clock.hpp"
#include "daemon/clock_graph.hpp"
#include "daemon/client/ntp_query.hpp"
#include "daemon/poll_control.hpp"
#include "daemon/source_core.hpp"
#include "hwts/cross_timestamp.hpp"
#include "hwts/phc_device.hpp"
#include "hwts/sim_phc.hpp"
#include "nts/key_ring.hpp"
#include "nts/ntp_client.hpp"
#include "nts/ntp_responder.hpp"
#include "nts/sample_measurement.hpp"
#include "pi_servo.hpp"
#include "sim_nts.hpp"

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

// The association core runs on a steady clock's time points; the simulation's true time is
// seconds from the start, on that clock's axis from its zero.
SourceCore::Time core_time(double t) {
  return SourceCore::Time(std::chrono::duration_cast<SourceCore::Time::duration>(std::chrono::duration<double>(t)));
}
double sim_time(SourceCore::Time t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }
double seconds_of(std::chrono::milliseconds d) { return std::chrono::duration<double>(d).count(); }

// kairosd's polls are powers of two: the scenario's seconds, rounded to one.
int poll_exponent(double seconds) { return static_cast<int>(std::lround(std::log2(seconds))); }

// Server i's name (its certificate names it too) and its address, 192.0.2.(i + 1) (TEST-NET-1).
std::string server_name(std::size_t i) { return "server" + std::to_string(i) + ".sim"; }
SocketAddress server_address(std::size_t i, std::uint16_t port) {
  SocketAddress a;
  auto& v4 = reinterpret_cast<sockaddr_in&>(a.storage);
  v4.sin_family = AF_INET;
  v4.sin_port = htons(port);
  v4.sin_addr.s_addr = htonl(0xC0000200u + static_cast<std::uint32_t>(i + 1));
  a.length = sizeof(sockaddr_in);
  return a;
}

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
    std::vector<std::string> nts_names;
    for (std::size_t i = 0; i < sc_.servers.size(); ++i) {
      const ServerModel& model = sc_.servers[i];
      servo_->add_source(SourceOptions{.name = "server" + std::to_string(i),
                                       .trusted = model.trusted,
                                       .required = model.required});
      servers_.emplace_back(std::make_unique<SourceCore>(source_config(i), random_fill()));
      start_server(i);
      if (model.nts) nts_names.push_back(server_name(i));
    }
    // Cannot fail but for a broken OpenSSL: value() says so.
    if (!nts_names.empty()) nts_ke_.emplace(SimNtsKe::create(nts_names).value());
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
      at(0.001 * static_cast<double>(i + 1), [this, i] { execute(i, servers_[i].core->start(core_time(now_))); });
      // A restart with new cookie keys (and an empty interleaved table): the cookies handed out
      // before no longer open.
      if (const auto& t = sc_.servers[i].new_keys_at) at(*t, [this, i] { start_server(i); });
    }
    if (phc_) at(0.5, [this] { cross_timestamp(); });
    if (sc_.foreign_step) {
      // The daemon learns of the step at once (timerfd cancel-on-set), tells the model, and its
      // sources poll again at once (daemon/main.cpp's RealtimeWatch, SourceCore::clock_stepped).
      at(sc_.foreign_step->at, [this] {
        (void)system_.step(sc_.foreign_step->by);
        output().on_clock_stepped(now_);
        for (std::size_t i = 0; i < servers_.size(); ++i) execute(i, servers_[i].core->clock_stepped(core_time(now_)));
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
  // One configured source: kairosd's association core on the client side, and the simulated
  // server it talks to.
  struct Server {
    explicit Server(std::unique_ptr<SourceCore> c) : core(std::move(c)) {}

    // Client side: the core decides; the engine executes its actions (as daemon/association.cpp).
    std::unique_ptr<SourceCore> core;
    std::uint64_t timer = 0;     // the armed timer's generation: a new ArmTimer replaces the old
    std::uint64_t exchange = 0;  // the exchange in flight's generation
    bool in_flight = false;
    ResponseCheck check;         // what the exchange in flight made of its responses so far
    // Server side: its responder and, with NTS, its cookie keys; both new after a restart.
    std::optional<NtpResponder> responder;
    std::optional<KeyRing> ring;
    // When the server reads its clock for the T3 of the answer being built.
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
    for (const Server& s : servers_) {
      const AssociationCounters& c = s.core->counters();
      r.samples += c.samples;
      r.naks += c.naks;
      r.nts_ke_ok += c.ke_ok;
      r.nts_ke_failed += c.ke_failed;
      r.kisses += c.kisses;
    }
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

  SourceConfig source_config(std::size_t i) const {
    const ServerModel& model = sc_.servers[i];
    SourceConfig c;
    c.address = server_name(i);
    c.nts = model.nts;
    c.minpoll = poll_exponent(sc_.client.poll);
    c.maxpoll = std::max(c.minpoll, poll_exponent(sc_.client.max_poll.value_or(sc_.client.poll)));
    c.iburst = sc_.client.initial_burst > 0;
    c.xleave = interleaved();
    c.trust = model.trusted;
    c.require = model.required;
    return c;
  }

  // The server (re)starts: a fresh responder and, with NTS, a fresh key ring.
  void start_server(std::size_t i) {
    Server& s = servers_[i];
    s.responder.emplace([this, i] { return server_transmit_stamp(i); }, random_fill());
    // Like a kairosd server with `interleaved` on: one responder, and its table, for all polls.
    if (interleaved()) s.responder->enable_interleaved();
    if (sc_.servers[i].nts) {
      std::array<std::uint8_t, kMinSeedLength> seed{};
      random_fill()(seed);
      const auto now = static_cast<std::uint64_t>(epoch_ + static_cast<std::int64_t>(now_));
      s.ring.emplace(KeyRing::from_seed(Seed::create(seed).value(), KeyRingConfig{}, now).value());
    }
  }

  // The shell of the association core, as daemon/association.cpp is kairosd's: each action is
  // executed on simulated time, and the answers go back to the core.
  void execute(std::size_t i, SourceActions actions) {
    for (SourceAction& action : actions) {
      std::visit(
          [this, i](auto& a) {
            using A = std::decay_t<decltype(a)>;
            SourceCore& core = *servers_[i].core;
            if constexpr (std::is_same_v<A, source_action::Resolve>) {
              // Every name is the server's own, looked up at once.
              execute(i, core.resolved(core_time(now_), std::vector<SocketAddress>{server_address(i, a.port)}));
            } else if constexpr (std::is_same_v<A, source_action::StartKe>) {
              start_ke(i, a);
            } else if constexpr (std::is_same_v<A, source_action::SendRequest>) {
              send(i, a);
            } else if constexpr (std::is_same_v<A, source_action::ArmTimer>) {
              arm(i, a.at);
            } else if constexpr (std::is_same_v<A, source_action::Deliver>) {
              deliver(i, a.result);
            }
            // CloseSocket: the simulated server knows its client by address, not by socket.
            // Log: not shown; the counters tell what happened.
          },
          action);
    }
  }

  void arm(std::size_t i, SourceCore::Time when) {
    const std::uint64_t mine = ++servers_[i].timer;
    at(std::max(sim_time(when), now_), [this, i, mine] {
      if (mine != servers_[i].timer) return;
      execute(i, servers_[i].core->timer_fired(core_time(now_)));
    });
  }

  // NTS-KE with the simulated server: the real sessions over memory (sim_nts.hpp), their answer
  // after the three round trips TCP, TLS 1.3 and the request take; or, while the server's NTS-KE
  // is unreachable, a failure when the core's timeout ends the attempt.
  void start_ke(std::size_t i, const source_action::StartKe& start) {
    const ServerModel& model = sc_.servers[i];
    Server& s = servers_[i];
    if (!model.nts || !s.ring || (model.ke_down && model.ke_down->contains(now_))) {
      at(now_ + seconds_of(start.timeout), [this, i] {
        execute(i, servers_[i].core->ke_finished(core_time(now_), fail("NTS-KE connection timed out")));
      });
      return;
    }
    auto result = nts_ke_->exchange(KeClientOptions{.server_name = start.host, .aeads = s.core->config().aeads}, *s.ring);
    const double round_trip = model.up.base + model.down.base;
    at(now_ + 3 * round_trip, [this, i, result = std::move(result)] {
      execute(i, servers_[i].core->ke_finished(core_time(now_), result));
    });
  }

  void send(std::size_t i, const source_action::SendRequest& request) {
    Server& s = servers_[i];
    // The simulated stamps are there as the request leaves: no late transmit stamp to read.
    auto made = s.core->make_request(TxStamps{}, std::nullopt);
    if (!made) {
      execute(i, s.core->request_failed(core_time(now_), made.error().message));
      return;
    }
    auto exchange = std::make_shared<NtpClientExchange>(std::move(*made));
    const std::uint64_t id = ++s.exchange;
    s.in_flight = true;
    s.check = ResponseCheck();
    s.core->request_sent(core_time(now_));
    const auto timeout = request.timeout;
    at(now_ + seconds_of(timeout), [this, i, id, timeout] {
      Server& server = servers_[i];
      if (id != server.exchange || !server.in_flight) return;
      finish(i, std::unexpected(server.check.timed_out(server_address(i, kNtpDefaultPort).to_string(), timeout)), true);
    });

    const ServerModel& model = sc_.servers[i];
    SimClock& local = phc_ ? *phc_ : system_;
    const double send = now_;
    // With hardware timestamping this is the NIC's stamp of the request's departure.
    const timespec t1 = sim_unix_time(epoch_, local.reading_at(send) + stamp_noise());
    if (lost(model, send)) return;
    const double arrive = send + delay(model.up);
    at(arrive, [this, i, id, t1, exchange, arrive] {
      const ServerModel& m = sc_.servers[i];
      Server& server = servers_[i];
      const double depart = arrive + m.processing;
      const NtpTimestamp rx = NtpTimestamp::from_timespec(sim_unix_time(epoch_, server_time(i, arrive) + stamp_noise()));
      // A server without TX stamps: `processing` is its T3 - T2, the clock read as the answer
      // leaves. An interleaved server writes T3 as it builds the answer, `processing` before it
      // reaches the wire; only the later (interleaved) answer carries the true departure.
      server.transmit_read = interleaved() ? arrive : depart;
      ServerClockState state;
      state.leap = server_leap(arrive);
      state.stratum = 1;
      state.precision = -30;
      state.root_delay = NtpShort::from_duration(Duration::from_seconds(m.root_delay));
      state.root_dispersion = NtpShort::from_duration(Duration::from_seconds(m.root_dispersion));
      server.responder->set_clock_state(state);
      const RateDecision rate = m.rate_kiss && m.rate_kiss->contains(arrive) ? RateDecision::kKiss : RateDecision::kAllow;
      std::vector<std::uint8_t> out(exchange->request().size());
      const Response response = server.responder->respond(exchange->request(), rx, ClientAddress{}, rate,
                                                     server.ring ? &*server.ring : nullptr, out);
      if (response.kind == ResponseKind::kDropped) return;
      out.resize(response.length);
      // The hardware stamp of the response's departure, as the server's error queue reports it
      // after the packet left: a later interleaved request gets it as T3.
      if (response.transmit_handle) {
        const NtpTimestamp hardware =
            NtpTimestamp::from_timespec(sim_unix_time(epoch_, server_time(i, depart) + stamp_noise()));
        (void)server.responder->note_transmit(response.transmit_handle, hardware);
      }
      if (lost(m, depart)) return;
      const double back = depart + delay(m.down);
      at(back, [this, i, id, t1, exchange, out = std::move(out)] { receive(i, id, *exchange, out, t1); });
    });
  }

  // A datagram from the server, checked as kairosd's PendingNtpExchange checks it (ResponseCheck):
  // a NAK or a forgery leaves the exchange waiting for a valid answer until its deadline.
  void receive(std::size_t i, std::uint64_t id, const NtpClientExchange& exchange, const std::vector<std::uint8_t>& response,
               const timespec& t1) {
    Server& s = servers_[i];
    if (id != s.exchange || !s.in_flight) return;  // after the deadline: the socket is gone
    SimClock& local = phc_ ? *phc_ : system_;
    const timespec t4 = sim_unix_time(epoch_, local.reading_at(now_) + stamp_noise());
    auto checked = s.check.on_response(exchange, response, t1, t4, s.core->session());
    if (!checked) return;
    if (!*checked) {
      finish(i, std::unexpected(checked->error()), false);
      return;
    }
    NtpExchangeResult result;
    result.sample = **checked;
    // Software timestamps are the kernel's (SO_TIMESTAMPING), hardware ones the NIC's.
    const StampSource source =
        sc_.client.timestamping == Timestamping::kHardware ? StampSource::kHardware : StampSource::kKernel;
    result.t1_source = source;
    result.t4_source = source;
    result.request_length = exchange.request().size();
    result.response_length = response.size();
    result.rejected = s.check.rejected();
    finish(i, std::move(result), false);
  }

  void finish(std::size_t i, NtpExchangeOutcome outcome, bool timed_out) {
    Server& s = servers_[i];
    s.in_flight = false;
    const ExchangeEnd end{.timed_out = timed_out, .request_id = static_cast<std::uint32_t>(s.exchange), .have_tx_stamp = true};
    execute(i, s.core->exchange_finished(core_time(now_), std::move(outcome), end));
  }

  // The sample to the model as kairosd's clock graph gives it (ClockGraph::on_sample): dated by
  // its age (an interleaved answer completes the previous exchange), with the precision kairosd
  // claims for stamps of this kind, never the simulated noise; the model's view of it goes back
  // to the core for the poll.
  void deliver(std::size_t i, const NtpExchangeResult& result) {
    const double taken = now_ - std::clamp(result.sample.age, 0.0, now_);
    const Measurement m = to_measurement(result.sample, taken, stamp_precision(result.t1_source, result.t4_source));
    servo_->on_measurement(i, m, now_);
    schedule_timer(*servo_, servo_timer_);
    std::optional<PollFeedback> feedback;
    if (const auto* model = dynamic_cast<const Discipline*>(servo_.get())) feedback = poll_feedback(model->source_status(i));
    execute(i, servers_[i].core->sample_feedback(core_time(now_), feedback));
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
  std::optional<SimNtsKe> nts_ke_;
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
