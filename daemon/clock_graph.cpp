#include "daemon/clock_graph.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "clock/timescale_map.hpp"
#include "hwts/cross_timestamp.hpp"
#include "hwts/stamp_choice.hpp"
#include "nts/sample_measurement.hpp"

namespace kairos {
namespace {

constexpr auto kStatusInterval = std::chrono::seconds(64);
constexpr auto kCrossInterval = std::chrono::seconds(1);
constexpr int kReopenTicks = 10;  // a vanished PHC is looked for every 10 s
// A PHC this far from the system clock was restarted at 1970 or never set: stepped to it.
constexpr double kFarFromSystem = 1000;

StampKind stamp_kind(StampSource source) {
  switch (source) {
    case StampSource::kHardware: return StampKind::kHardware;
    case StampSource::kKernel: return StampKind::kKernel;
    case StampSource::kDaemon: return StampKind::kDaemon;
  }
  return StampKind::kDaemon;
}

}  // namespace

double stamp_precision(StampSource t1, StampSource t4) { return stamp_precision(stamp_kind(t1), stamp_kind(t4)); }

StepMode parse_step_mode(const std::string& text) {
  if (text == "always") return StepMode::kAlways;
  if (text == "never") return StepMode::kNever;
  return StepMode::kStartOnly;
}

namespace {

// A PHC's ClockDevice that remembers a refused change, so the graph can ask the device why
// (PhcDevice::check_adjustable) and stop steering a clock that does not move: the model would
// believe its own corrections and a follower would be steered after a leader that stayed put.
class RefusalNoticingClock : public ClockDevice {
 public:
  explicit RefusalNoticingClock(std::unique_ptr<ClockDevice> inner) : inner_(std::move(inner)) {}
  bool refused() const { return refused_; }
  void clear() { refused_ = false; }

  std::string name() const override { return inner_->name(); }
  Result<timespec> now() override { return inner_->now(); }
  Result<double> frequency() override { return inner_->frequency(); }
  Result<void> set_frequency(double f) override { return noted(inner_->set_frequency(f)); }
  Result<void> step(double by) override { return noted(inner_->step(by)); }
  Result<void> set_leap(Leap leap) override { return inner_->set_leap(leap); }
  Result<void> set_tai_offset(int seconds) override { return inner_->set_tai_offset(seconds); }
  Result<void> set_error_estimate(const ClockErrorEstimate& e) override { return inner_->set_error_estimate(e); }
  double max_frequency() const override { return inner_->max_frequency(); }

 private:
  Result<void> noted(Result<void> r) {
    if (!r) refused_ = true;
    return r;
  }
  std::unique_ptr<ClockDevice> inner_;
  bool refused_ = false;
};

// How far one cross-timestamp's midpoint may be from the instant both clocks were read: its
// method's own error and its window taken as uniform.
double cross_sd(const CrossTimestamp& cross) {
  const double window_sd = cross.window / std::sqrt(12.0);
  const double own = cross_precision(cross.method);
  return std::sqrt(window_sd * window_sd + own * own);
}

}  // namespace

struct ClockGraph::Node {
  std::string name;
  int ifindex = 0;          // PHC nodes: the NIC whose stamps are in its time
  bool ntp = false;         // the NTP sources discipline it
  bool convert = false;     // PHC nodes: the direct path (PhcPlan::convert); only read
  std::optional<TimescaleMap> map;     // convert: PHC minus system by the model's time
  // convert: the last cross-timestamp's PHC reading and its model time, for phc_lines().
  std::optional<std::pair<timespec, double>> phc_anchor;
  RefusalNoticingClock* noticing = nullptr;  // a steered PHC's device, watched for refusals
  Node* leader = nullptr;   // followed by cross-timestamps
  std::vector<Node*> followers;
  PhcOpener open;
  std::optional<PhcDevice> phc;
  bool lost = false;
  int reopen_in = 0;
  std::unique_ptr<ClockDevice> real;
  std::unique_ptr<ObservedClock> observed;  // when only observing
  std::unique_ptr<Discipline> discipline;
  std::vector<std::size_t> source_index;    // graph source → the discipline's source (ntp nodes)
  PhcWatch watch;
  std::size_t steps_seen = 0;      // steps of both ends at the last cross-timestamp
  std::size_t own_steps_seen = 0;  // the system clock: steps of ours the timerfd will report
  std::optional<EventLoop::TimerId> timer;
  DisciplineState logged_state = DisciplineState::kUnsynchronized;
  std::string problem;  // the last cross-timestamp failure, logged once
  std::optional<double> last_measurement;  // elapsed() of the last one its model took

  double correction(double t) const { return observed ? observed->correction(t) : 0.0; }
};

struct ClockGraph::Refclock {
  RefclockConfig config;
  PhcOpener open;
  std::optional<PhcDevice> phc;
  std::size_t source = 0;  // the graph's source index
  int ticks = 0;           // cross ticks since the last reading
  bool lost = false;
  int reopen_in = 0;
  std::string problem;     // logged once per change
  std::size_t readings = 0;
  std::size_t unused = 0;
  std::optional<double> last_offset;
  std::optional<double> last_window;
  std::optional<double> last_time;  // elapsed() of the last reading used
};

ClockGraph::ClockGraph(const DaemonConfig& config, EventLoop& loop, std::unique_ptr<ClockDevice> real_system,
                       bool steer, std::function<double()> elapsed)
    : config_(config),
      loop_(loop),
      steer_(steer),
      start_(EventLoop::Clock::now()),
      elapsed_(std::move(elapsed)),
      system_follows_(config.system_clock.follow) {
  options_.step_mode = parse_step_mode(config.system_clock.step);
  options_.step_threshold = config.system_clock.step_threshold;
  options_.panic_threshold = config.system_clock.panic_threshold;
  options_.min_sources = config.system_clock.min_sources;
  options_.max_distance = config.system_clock.max_distance;
  // One limit for every clock disciplined (the system clock and PHCs): kairos.toml(5).
  options_.max_frequency = config.system_clock.max_drift_ppm * 1e-6;
  options_.max_slew = config.system_clock.max_slew;
  // The same worst drift the shared page lets its bound grow by between updates.
  options_.max_drift = config.shm.max_drift;
  auto system = std::make_unique<Node>();
  system->name = "system";
  system->ntp = !system_follows_;
  system->real = std::move(real_system);
  nodes_.push_back(std::move(system));
  (void)build(*nodes_.front());
  status_timer_ = loop_.add_repeating(kStatusInterval, [this] { log_status(); });
}

ClockGraph::~ClockGraph() {
  for (auto& node : nodes_) {
    if (node->timer) loop_.cancel_timer(*node->timer);
  }
  if (status_timer_) loop_.cancel_timer(*status_timer_);
  if (cross_timer_) loop_.cancel_timer(*cross_timer_);
}

EventLoop::Clock::time_point loop_time_at(EventLoop::Clock::time_point start, double seconds) {
  // Rounded up to the clock's tick: a deadline truncated towards the past fires early.
  return start + std::chrono::ceil<EventLoop::Clock::duration>(std::chrono::duration<double>(seconds));
}

double ClockGraph::elapsed() const {
  if (elapsed_) return elapsed_();
  return std::chrono::duration<double>(EventLoop::Clock::now() - start_).count();
}

// The devices and the model of a node, made anew (a PHC that came back starts from scratch).
Result<void> ClockGraph::build(Node& node) {
  // A PHC is opened first: while it cannot be, the node stays as it was (lost, or never made).
  std::optional<PhcDevice> phc;
  std::unique_ptr<ClockDevice> real;
  if (node.open) {
    auto device = node.open();
    if (!device) return std::unexpected(device.error());
    if (steer_ && !node.convert) {
      auto clock = device->clock();
      if (!clock) return std::unexpected(clock.error());
      real = std::make_unique<RefusalNoticingClock>(std::move(*clock));
    } else {
      real = device->read_only_clock();  // observing, or the direct path: never adjusted
    }
    phc.emplace(std::move(*device));
  }
  if (node.timer) loop_.cancel_timer(*node.timer);
  node.timer.reset();
  node.discipline.reset();
  node.observed.reset();
  if (node.open) {
    node.noticing = steer_ && !node.convert ? static_cast<RefusalNoticingClock*>(real.get()) : nullptr;
    node.real = std::move(real);
    node.phc = std::move(phc);
    node.lost = false;
    node.watch.forget();
    if (node.map) node.map->forget();
  }
  ClockDevice* device = node.real.get();
  if (!steer_) {
    node.observed = std::make_unique<ObservedClock>(*node.real, [this] { return this->elapsed(); });
    device = node.observed.get();
  }
  DisciplineOptions options = options_;
  if (&node == nodes_.front().get() && system_seed_) {
    // The discipline reads the device's frequency as its starting point; the model's prior is
    // then "no error left", as sure as the seed says.
    // Never more than max-drift either, whatever the file says.
    const double limit = std::min(device->max_frequency(), options.max_frequency);
    if (auto set = device->set_frequency(std::clamp(system_seed_->frequency, -limit, limit)); !set) {
      spdlog::warn("system clock: cannot set the saved frequency: {}", set.error().message);
    } else {
      options.kalman.initial_frequency_sd = std::min(system_seed_->sd, options.kalman.initial_frequency_sd);
    }
  }
  node.discipline = std::make_unique<Discipline>(*device, options);
  if (&node == nodes_.front().get()) node.discipline->set_leap_seconds_list(leap_list_);
  node.own_steps_seen = 0;
  node.logged_state = DisciplineState::kUnsynchronized;
  // The followers learn of every correction as a known control input.
  node.discipline->set_steer_listener([this, &node](double t, double df, double step) {
    for (Node* f : node.followers) {
      if (!f->discipline) continue;
      if (df != 0) f->discipline->on_reference_frequency_change(t, df);
      if (step != 0) f->discipline->on_reference_step(t, step);
    }
    // The direct path's maps compare PHCs with the real system clock, which moves only when
    // steering (observing, the corrections are virtual).
    if (&node == &system() && steer_) {
      for (auto& phc : nodes_) {
        if (phc->map) phc->map->on_system_change(t, df, step);
      }
      lines_changed();
    }
  });
  if (node.leader) {
    node.discipline->add_source(SourceOptions{.name = node.leader->name});
    Node* leader = node.leader;
    node.discipline->set_reference_error([leader](double t) {
      return leader->discipline ? leader->discipline->error(t) : ClockError{};
    });
  }
  node.source_index.clear();
  if (node.ntp) {
    for (std::size_t i = 0; i < source_names_.size(); ++i) {
      node.source_index.push_back(node.discipline->add_source(source_options_[i]));
      // Kept in place so that the indexes line up; a rebuilt model must not wait for it. A
      // refclock is the system clock's only: a PHC's model must not wait for it either.
      if (source_removed_[i] || (source_refclock_[i] && &node != &system())) {
        node.discipline->retire_source(node.source_index.back());
      }
    }
  }
  return {};
}

void ClockGraph::seed_system_frequency(double frequency, double sd) {
  system_seed_ = FrequencySeed{.frequency = frequency, .sd = sd};
  (void)build(system());
}

Result<void> ClockGraph::add_phc(const PhcPlan& plan, PhcOpener open) {
  auto node = std::make_unique<Node>();
  node->ifindex = plan.ifindex;
  node->ntp = plan.discipline;
  node->convert = plan.convert && !plan.discipline && !plan.follows_system;
  node->open = std::move(open);
  if (plan.follows_system && !plan.discipline) {
    node->leader = &system();
    system().followers.push_back(node.get());
  }
  if (auto built = build(*node); !built) {
    if (node->leader) std::erase(system().followers, node.get());
    return fail("interface " + plan.interface + ": " + built.error().message);
  }
  node->name = plan.interface + " PHC (" + node->phc->path() + ")";
  // Asked before anything is steered: a PHC that refuses adjustment (read-only, a simulator's
  // fixed reference) takes the direct path from the start.
  if (node->noticing) {
    if (auto adjustable = node->phc->check_adjustable(); !adjustable) {
      Node& refused = *node;
      nodes_.push_back(std::move(node));
      fall_back_to_direct(refused, adjustable.error().message);
      // The system clock was to follow it: NTP disciplines it directly instead.
      if (system_follows_ && *system_follows_ == plan.interface && !system().ntp) {
        spdlog::warn("system clock: does not follow {} (read-only); NTP through its NIC disciplines it directly",
                     refused.name);
        system().ntp = true;
        (void)build(system());
      }
      if (!cross_timer_) cross_timer_ = loop_.add_repeating(kCrossInterval, [this] { on_cross_tick(); });
      return {};
    }
  }
  if (node->convert) node->map.emplace();
  Node& added = *node;
  nodes_.push_back(std::move(node));
  spdlog::info("{}: {}, {}", added.name,
               added.ntp       ? "disciplined by NTP through its NIC's hardware stamps"
               : added.leader  ? "follows the system clock"
               : added.convert ? "its NIC's hardware stamps reach the system clock through its time (direct path)"
                               : "watched",
               added.convert ? "only read" : steer_ ? "steered" : "observed, not steered");
  if (system_follows_ && *system_follows_ == plan.interface && !added.convert) {
    Node& sys = system();
    sys.leader = &added;
    added.followers.push_back(&sys);
    sys.discipline->add_source(SourceOptions{.name = added.name});
    sys.discipline->set_reference_error([leader = &added](double t) {
      return leader->discipline ? leader->discipline->error(t) : ClockError{};
    });
    spdlog::info("system clock: follows {} by cross-timestamps", added.name);
  }
  if (!cross_timer_) cross_timer_ = loop_.add_repeating(kCrossInterval, [this] { on_cross_tick(); });
  return {};
}

ClockGraph::Node* ClockGraph::phc_by_ifindex(int ifindex) const {
  for (const auto& node : nodes_) {
    if (node->open && node->ifindex == ifindex) return node.get();
  }
  return nullptr;
}

std::size_t ClockGraph::add_source(const std::string& name) {
  SourceOptions options{.name = name};
  // The last entry of that address: one added by SIGHUP is appended before it is started.
  for (const SourceConfig& c : config_.sources) {
    if (source_name(c) != name) continue;
    options.asymmetry = c.asymmetry;
    options.max_asymmetry = c.max_asymmetry;
    options.trusted = c.trust;
    options.required = c.require;
    options.preferred = c.prefer;
    options.noselect = c.noselect;
    options.max_distance = c.max_distance;
    // Only NTS answers are authenticated: they guard the refclocks (agreement_guard.hpp).
    options.authenticated = c.nts;
  }
  return register_source(name, options, false);
}

std::size_t ClockGraph::register_source(const std::string& name, const SourceOptions& options, bool refclock) {
  source_names_.push_back(name);
  source_options_.push_back(options);
  source_strata_.push_back(16);
  source_refids_.push_back(0);
  source_unused_warned_.push_back(false);
  source_loop_warned_.push_back(false);
  source_removed_.push_back(false);
  source_refclock_.push_back(refclock);
  source_logged_guard_.push_back(std::nullopt);
  source_labels_.push_back(name);
  source_node_.push_back(nullptr);
  for (auto& node : nodes_) {
    if (!node->ntp || !node->discipline) continue;
    node->source_index.push_back(node->discipline->add_source(options));
    if (refclock && node.get() != &system()) node->discipline->retire_source(node->source_index.back());
  }
  return source_names_.size() - 1;
}

Result<void> ClockGraph::add_refclock(const RefclockConfig& config, PhcOpener open) {
  auto device = open();
  if (!device) return fail("refclock " + config.name + ": " + device.error().message);
  auto ref = std::make_unique<Refclock>();
  ref->config = config;
  ref->open = std::move(open);
  ref->phc.emplace(std::move(*device));
  // Unauthenticated and precise: it steers while the NTS sources agree with it (prefer), and
  // they guard it. Its stratum is that of a primary reference (as chrony's refclocks).
  ref->source = register_source(config.name,
                                SourceOptions{.name = config.name,
                                              .preferred = config.prefer,
                                              .guarded = true,
                                              .require_agreement = config.require_agreement},
                                true);
  source_strata_[ref->source] = 0;
  source_labels_[ref->source] = "refclock " + config.name;
  source_refids_[ref->source] = 0x50484330;  // "PHC0", as chrony names a PHC refclock
  spdlog::info("refclock {}: {} ({}), read by cross-timestamps every {} s as a source of the system clock; never "
               "adjusted{}",
               config.name, ref->phc->path(), config.tai ? "TAI" : "UTC", 1 << config.poll,
               config.require_agreement ? "; not used before the NTS sources confirm it" : "");
  refclocks_.push_back(std::move(ref));
  if (!cross_timer_) cross_timer_ = loop_.add_repeating(kCrossInterval, [this] { on_cross_tick(); });
  return {};
}

void ClockGraph::refclock_tick(Refclock& ref) {
  if (ref.lost) {
    if (--ref.reopen_in > 0) return;
    ref.reopen_in = kReopenTicks;
    auto device = ref.open();
    if (!device) return;
    ref.phc.emplace(std::move(*device));
    ref.lost = false;
    spdlog::info("refclock {}: the device is back", ref.config.name);
  }
  if (++ref.ticks < (1 << ref.config.poll)) return;
  ref.ticks = 0;
  auto note = [&ref](const std::string& problem) {
    if (problem == ref.problem) return;
    ref.problem = problem;
    if (problem.empty()) {
      spdlog::info("refclock {}: its readings are used again", ref.config.name);
    } else {
      spdlog::warn("refclock {}: {}", ref.config.name, problem);
    }
  };
  auto cross = ref.phc->cross_timestamp();
  if (!cross) {
    if (ref.phc->gone()) {
      ref.lost = true;
      ref.reopen_in = kReopenTicks;
      note(cross.error().message + "; looked for every " + std::to_string(kReopenTicks) + " s");
    } else {
      note(cross.error().message);
    }
    return;
  }
  ++ref.readings;
  const double now = elapsed();
  Measurement m = to_measurement(*cross, now);
  if (ref.config.tai) {
    // ptp4l keeps PHCs in TAI; the system clock keeps UTC. Only the leap-seconds list says by
    // how much: without it (or past its expiry) the PHC's time is 37 s of guessing away.
    const std::int64_t utc = cross->system_time.tv_sec;
    const std::optional<int> tai_utc =
        leap_list_ && !leap_list_->expired(utc) ? leap_list_->tai_utc_at(utc) : std::nullopt;
    if (!tai_utc) {
      ++ref.unused;
      note("TAI - UTC is unknown (no leap-seconds list, or it expired): the PHC keeps TAI and is not used; give "
           "kairosd a current leap-seconds-list, or timescale = \"utc\" if the PHC keeps UTC");
      return;
    }
    m.offset -= *tai_utc;
  }
  Node& sys = system();
  if (!sys.ntp || !sys.discipline) {
    ++ref.unused;
    note("the system clock follows a PHC: its own sources are not used");
    return;
  }
  note("");
  // What the PHC's own time may be off by (ptp4l's path and grandmaster): on top of the window.
  m.root_dispersion = ref.config.max_error;
  ref.last_offset = feed_system(ref.source, m, now);
  ref.last_window = cross->window;
  ref.last_time = now;
}

double ClockGraph::feed_system(std::size_t source, Measurement m, double now) {
  Node& sys = system();
  // The model steers the corrected clock; the stamps and cross-timestamps read the real one.
  m.offset -= sys.correction(now);
  take(sys, source, m, now);
  return m.offset;
}

SourceStatus ClockGraph::take(Node& node, std::size_t source, const Measurement& m, double now) {
  const std::size_t id = node.source_index[source];
  node.discipline->on_measurement(id, m, now);
  node.last_measurement = now;
  // Read before check_refusals: a PHC found read-only loses its discipline there.
  const SourceStatus status = node.discipline->source_status(id);
  if (&node == &system()) note_outvoted_leap();
  note_guards();
  check_refusals(node);
  rearm_timer(node);
  note_state(node);
  return status;
}

ClockGraph::Route ClockGraph::route(std::size_t source, int phc_ifindex, double taken) {
  Route r;
  if (phc_ifindex == 0) {
    r.node = &system();
  } else {
    r.node = phc_by_ifindex(phc_ifindex);
    // The direct path: PHC time made system time by the PHC's fitted line, for the system clock.
    if (r.node && r.node->convert) {
      r.through = r.node->map ? r.node->map->at(taken) : std::nullopt;
      r.node = r.through && !r.node->lost ? &system() : nullptr;
    }
  }
  if (r.node && r.node->ntp && r.node->discipline && !r.node->lost) return r;
  ++unused_samples_;
  if (!source_unused_warned_[source]) {
    source_unused_warned_[source] = true;
    spdlog::warn("{}: sample {} is used by no clock ({}); further ones are counted, not logged", source_names_[source],
                 phc_ifindex ? "in PHC time" : "in system time",
                 phc_ifindex ? "that NIC's PHC is not disciplined, is gone, or has no line to system time yet"
                             : "the system clock follows a PHC: only hardware-stamped samples count");
  }
  return {};
}

void ClockGraph::note_guards() {
  const Node& sys = system();
  if (!sys.discipline) return;
  for (std::size_t i = 0; i < source_names_.size(); ++i) {
    // A hardware-stamped PTP port is judged in its PHC's model, by the NTS sources stamped there.
    const Node& node = source_node_[i] ? *source_node_[i] : sys;
    if (!source_options_[i].guarded || source_removed_[i] || !node.discipline || i >= node.source_index.size()) continue;
    const SourceStatus s = node.discipline->source_status(node.source_index[i]);
    if (!s.has_sample || source_logged_guard_[i] == s.guard) continue;
    const std::optional<GuardState> before = source_logged_guard_[i];
    source_logged_guard_[i] = s.guard;
    const double by = s.disagreement.value_or(0);
    const std::string& who = source_labels_[i];
    switch (s.guard) {
      case GuardState::kDisagrees:
        spdlog::error("{}: disagrees with authenticated (NTS) time by {:+.9f} s: not selectable, the system "
                      "clock falls back to the NTS sources (alarm)",
                      who, by);
        break;
      case GuardState::kAgrees:
        spdlog::info("{}: {} authenticated (NTS) time ({:+.9f} s apart): selectable", who,
                     before == GuardState::kDisagrees ? "agrees again with" : "confirmed by", by);
        break;
      case GuardState::kUnconfirmed:
        spdlog::warn("{}: require-agreement, and no authenticated (NTS) time to confirm it yet: not used", who);
        break;
      case GuardState::kNoAuthority:
        spdlog::info("{}: no authenticated (NTS) time to check it against: used as without NTS", who);
        break;
    }
  }
}

std::vector<RefclockStatus> ClockGraph::refclock_statuses() const {
  std::vector<RefclockStatus> out;
  const Node& sys = system();
  for (const auto& ref : refclocks_) {
    RefclockStatus s;
    s.name = ref->config.name;
    s.device = ref->phc ? ref->phc->path() : "";
    s.tai = ref->config.tai;
    s.problem = ref->problem;
    s.readings = ref->readings;
    s.unused = ref->unused;
    s.last_offset = ref->last_offset;
    s.last_window = ref->last_window;
    if (ref->last_time) s.last_age = elapsed() - *ref->last_time;
    if (sys.discipline && ref->source < sys.source_index.size()) {
      s.source = sys.discipline->source_status(sys.source_index[ref->source]);
    }
    s.source.name = ref->config.name;
    out.push_back(std::move(s));
  }
  return out;
}

std::size_t ClockGraph::add_guarded_source(const std::string& name, const SourceOptions& options, std::uint32_t refid,
                                           bool hardware) {
  SourceOptions guarded = options;
  guarded.name = name;
  guarded.guarded = true;
  // Software stamps are the system clock's: a source of it alone, as a refclock is. Hardware
  // stamps are a PHC's: a source of every clock NTP-stamped samples may reach, as an NTP source.
  const std::size_t source = register_source(name, guarded, !hardware);
  source_strata_[source] = 0;
  source_refids_[source] = refid;
  return source;
}

void ClockGraph::on_system_measurement(std::size_t source, Measurement m, int phc_ifindex) {
  if (source >= source_names_.size() || source_removed_[source]) return;
  const double now = elapsed();
  const Route r = route(source, phc_ifindex, m.time);
  if (!r.node) return;
  if (r.through) {
    // Master minus PHC, plus PHC minus system: master minus system.
    m.offset += r.through->offset;
    m.precision = std::hypot(m.precision, r.through->sd);
  }
  source_node_[source] = r.node;
  // The model steers the corrected clock; the stamps read the real one.
  m.offset -= r.node->correction(now);
  take(*r.node, source, m, now);
}

std::optional<SourceStatus> ClockGraph::system_source_status(std::size_t source) const {
  if (source >= source_names_.size()) return std::nullopt;
  const Node& node = source_node_[source] ? *source_node_[source] : system();
  if (!node.discipline || source >= node.source_index.size()) return std::nullopt;
  SourceStatus s = node.discipline->source_status(node.source_index[source]);
  s.name = source_names_[source];
  return s;
}

std::optional<int> ClockGraph::tai_utc_now() const {
  const std::int64_t utc = realtime_now().tv_sec;
  if (!leap_list_ || leap_list_->expired(utc)) return std::nullopt;
  return leap_list_->tai_utc_at(utc);
}

void ClockGraph::remove_source(std::size_t source) {
  if (source >= source_names_.size() || source_removed_[source]) return;
  source_removed_[source] = true;
  for (auto& node : nodes_) {
    if (node->ntp && node->discipline && source < node->source_index.size()) {
      node->discipline->retire_source(node->source_index[source]);
    }
  }
}

std::optional<PollFeedback> ClockGraph::on_sample(std::size_t source, const NtpExchangeResult& result) {
  if (source >= source_names_.size() || source_removed_[source]) return std::nullopt;
  const double now = elapsed();
  // An interleaved sample describes the previous exchange (RFC 9769): the model dates it then.
  const double taken = now - std::clamp(result.sample.age, 0.0, now);
  const Route r = route(source, result.phc_ifindex, taken);
  if (!r.node) return std::nullopt;
  Node* node = r.node;
  const std::optional<TimescaleMap::Estimate>& through = r.through;
  // RFC 5905 loop detection: a server whose reference is our own address is synchronized to us;
  // its time is ours, late, and would only feed back.
  if (result.local_reference_id != 0 && result.sample.header.reference_id == result.local_reference_id &&
      result.sample.header.stratum > 1) {
    ++loop_samples_;
    if (!source_loop_warned_[source]) {
      source_loop_warned_[source] = true;
      spdlog::warn("{}: synchronized to us (its reference ID is our address): its samples are refused", source_names_[source]);
    }
    return std::nullopt;
  }
  double precision = stamp_precision(result.t1_source, result.t4_source);
  if (through) precision = std::hypot(precision, through->sd);
  Measurement m = to_measurement(result.sample, taken, precision);
  // Server minus PHC, plus PHC minus system: server minus system.
  if (through) m.offset += through->offset;
  // The model steers the corrected clock; the exchange measured the real one.
  m.offset -= node->correction(taken);
  source_strata_[source] = result.sample.header.stratum;
  // Ours to announce while it is selected: its address, not its own reference (RFC 5905 §7.3).
  source_refids_[source] = result.server_reference_id;
  return poll_feedback(take(*node, source, m, now));
}

void ClockGraph::check_refusals(Node& node) {
  if (!node.noticing || !node.noticing->refused()) return;
  node.noticing->clear();
  // One failed change may be a passing fault; ask the device whether it takes changes at all.
  if (auto adjustable = node.phc->check_adjustable(); !adjustable) fall_back_to_direct(node, adjustable.error().message);
}

void ClockGraph::fall_back_to_direct(Node& phc, const std::string& why) {
  spdlog::error("{}: {}; it is only read from now on: its NIC's hardware stamps reach the system clock through its "
                "time (direct path){}",
                phc.name, why, phc.followers.empty() ? "" : ", and the system clock no longer follows it");
  if (phc.leader) {
    std::erase(phc.leader->followers, &phc);
    phc.leader = nullptr;
  }
  std::vector<Node*> followers = std::move(phc.followers);
  phc.followers.clear();
  phc.ntp = false;
  phc.convert = true;
  phc.map.emplace();
  if (auto built = build(phc); !built) phc_lost(phc, built.error().message);
  for (Node* f : followers) {
    f->leader = nullptr;
    f->ntp = true;  // the NTP sources, through this PHC's NIC, discipline it directly now
    (void)build(*f);
    note_state(*f);
  }
  note_state(phc);
}

void ClockGraph::on_realtime_set() {
  Node& sys = system();
  // The system clock moved, not the PHCs: their next cross-timestamp starts afresh.
  for (auto& node : nodes_) node->watch.forget();
  if (steer_ && sys.discipline->steps() != sys.own_steps_seen) {
    sys.own_steps_seen = sys.discipline->steps();  // our own step through ADJ_SETOFFSET
    return;
  }
  if (kernel_leap_now(sys)) {
    // The kernel applied the leap second we armed (it sets the clock at midnight UTC, which
    // cancels the watch as any set does). Our sources leap with us: the model's offset holds.
    // The PHCs do not: to the direct path's lines it is a known step of the system clock.
    const bool insert = sys.discipline->armed_leap() == Leap::kInsert;
    for (auto& node : nodes_) {
      if (node->map) node->map->on_system_change(elapsed(), 0, insert ? -1.0 : 1.0);
    }
    spdlog::info("system clock: leap second {} by the kernel at midnight UTC, as announced",
                 insert ? "inserted" : "deleted");
    return;
  }
  // A step of unknown size: the direct path's lines start again from the next cross-timestamps
  // (points from before it would bend every conversion until they aged out).
  for (auto& node : nodes_) {
    if (node->map) node->map->forget();
  }
  lines_changed();
  spdlog::warn("system clock: set by another process; its offset is unknown until the next measurement");
  sys.discipline->on_clock_stepped(elapsed());
  note_state(sys);
}

bool ClockGraph::kernel_leap_now(const Node& sys) const {
  const Leap armed = sys.discipline->armed_leap();
  if (armed != Leap::kInsert && armed != Leap::kDelete) return false;
  auto now = sys.real->now();
  if (!now) return false;
  // Within a few seconds of a UTC midnight: 23:59:59 again just after an insertion, 00:00:0x
  // after a deletion.
  const long of_day = static_cast<long>(now->tv_sec % 86400);
  return of_day >= 86400 - 3 || of_day <= 3;
}

void ClockGraph::on_cross_tick() {
  for (std::size_t i = 1; i < nodes_.size(); ++i) cross_tick(*nodes_[i]);
  for (auto& ref : refclocks_) refclock_tick(*ref);
}

void ClockGraph::phc_lost(Node& phc, const std::string& why) {
  spdlog::error("{}: {}; its clock is unsynchronized until the device is back (looked for every {} s)", phc.name, why,
                kReopenTicks);
  phc.lost = true;
  phc.reopen_in = kReopenTicks;
  lines_changed();
  phc.discipline->on_clock_stepped(elapsed());
  note_state(phc);
}

void ClockGraph::cross_tick(Node& phc) {
  if (phc.lost) {
    if (--phc.reopen_in > 0) return;
    phc.reopen_in = kReopenTicks;
    const std::string name = phc.name;
    if (auto built = build(phc); !built) return;
    spdlog::info("{}: the device is back; locking again from scratch", name);
    return;
  }
  auto cross = phc.phc->cross_timestamp();
  if (!cross) {
    if (phc.phc->gone()) return phc_lost(phc, cross.error().message);
    if (phc.problem != cross.error().message) {
      phc.problem = cross.error().message;
      spdlog::warn("{}: {}", phc.name, phc.problem);
    }
    return;
  }
  phc.problem.clear();
  const double now = elapsed();
  // Our own steps of either end are no jump.
  const std::size_t steps = phc.discipline->steps() + system().discipline->steps();
  if (steps != phc.steps_seen) {
    phc.steps_seen = steps;
    phc.watch.forget();
  }
  const PhcEvent event = phc.watch.check(*cross);
  if (phc.convert) return convert_tick(phc, *cross, event, now);
  // Too far from the system clock for any servo (a PHC restarted at 1970, a fresh one never
  // set): brought to the system clock's time by one step, then NTP or the leader refines it.
  const bool far = !phc.discipline->synchronized() && std::abs(cross->offset) > kFarFromSystem;
  if (event == PhcEvent::kReset || far) {
    spdlog::warn("{}: {} (PHC minus system {:+.3f} s): stepped to the system clock's time, locking again", phc.name,
                 event == PhcEvent::kReset ? "reset" : "far from the system clock", cross->offset);
    ClockDevice& device = phc.observed ? static_cast<ClockDevice&>(*phc.observed) : *phc.real;
    if (auto stepped = device.step(-cross->offset - phc.correction(now)); !stepped) {
      spdlog::error("{}: step failed: {}", phc.name, stepped.error().message);
    }
    // A driver that restarts its clock forgets its frequency adjustment too: set ours again.
    if (event == PhcEvent::kReset) (void)device.set_frequency(phc.discipline->applied_frequency());
    phc.discipline->on_clock_stepped(now);
    phc.watch.forget();
    phc.steps_seen = phc.discipline->steps() + system().discipline->steps();
    note_state(phc);
    return;
  }
  if (event == PhcEvent::kJump) {
    spdlog::warn("{}: jumped (PHC minus system now {:+.9f} s): offset unknown, locking again", phc.name, cross->offset);
    phc.discipline->on_clock_stepped(now);
    note_state(phc);
    return;
  }
  // The system clock follows this PHC, while the PHC knows its time.
  for (Node* f : phc.followers) {
    if (!phc.discipline->synchronized() || !f->discipline) continue;
    Measurement m = to_measurement(*cross, now);
    m.offset += phc.correction(now) - f->correction(now);
    // The PHC is read exactly, but it is itself off true time by what its model does not know:
    // to its follower that is noise of the reading, which it should average, not copy.
    const double leader_sd = phc.discipline->error(now).sd;
    if (std::isfinite(leader_sd)) m.precision = std::hypot(m.precision, leader_sd);
    f->discipline->on_measurement(0, m, now);
    f->last_measurement = now;
    rearm_timer(*f);
    note_state(*f);
  }
  // This PHC follows the system clock, while the system clock knows its time.
  if (phc.leader && phc.leader->discipline->synchronized()) {
    Measurement m = to_measurement(*cross, now);
    m.offset = -m.offset + phc.leader->correction(now) - phc.correction(now);
    phc.discipline->on_measurement(0, m, now);
    phc.last_measurement = now;
    check_refusals(phc);
    rearm_timer(phc);
    note_state(phc);
  }
}

void ClockGraph::convert_tick(Node& phc, const CrossTimestamp& cross, PhcEvent event, double now) {
  if (event == PhcEvent::kReset || event == PhcEvent::kJump) {
    spdlog::warn("{}: {} (PHC minus system now {:+.9f} s): its line to system time starts again", phc.name,
                 event == PhcEvent::kReset ? "reset" : "jumped", cross.offset);
    phc.map->forget();
    phc.watch.forget();
  }
  phc.map->add(now, cross.offset, cross_sd(cross));
  phc.phc_anchor = std::pair{cross.phc_time, now};
  lines_changed();
}

std::vector<std::pair<int, PhcLine>> ClockGraph::phc_lines() const {
  std::vector<std::pair<int, PhcLine>> lines;
  const double now = elapsed();
  for (const auto& node : nodes_) {
    if (!node->convert || !node->map || node->lost || !node->phc_anchor) continue;
    // The PHC's reading now, from its last cross-timestamp: it ran at the system clock's rate to
    // within ppm since (a second at most), nanoseconds here.
    const auto& [phc_time, taken] = *node->phc_anchor;
    if (auto line = phc_line(*node->map, now, add_seconds(phc_time, now - taken))) {
      lines.emplace_back(node->ifindex, *line);
    }
  }
  return lines;
}

void ClockGraph::run_due_timers() {
  const double now = elapsed();
  for (auto& node : nodes_) {
    const auto next = node->discipline->next_timer();
    if (!next || *next > now) continue;
    node->discipline->on_timer(now);
    check_refusals(*node);
    rearm_timer(*node);
  }
}

void ClockGraph::rearm_timer(Node& node) {
  if (node.timer) loop_.cancel_timer(*node.timer);
  node.timer.reset();
  const auto next = node.discipline->next_timer();
  if (!next) return;
  const double deadline = *next;
  node.timer = loop_.add_timer(loop_time_at(start_, deadline), [this, &node, deadline] {
    node.timer.reset();
    // Fired for its deadline, so it is at least that late, whatever a rounding says: the model
    // must see the deadline reached (else it waits, and the timer is re-armed for the past).
    node.discipline->on_timer(std::max(elapsed(), deadline));
    check_refusals(node);
    rearm_timer(node);
  });
}

void ClockGraph::note_state(Node& node) {
  if (node.discipline->state() == node.logged_state) return;
  node.logged_state = node.discipline->state();
  if (node.logged_state == DisciplineState::kFrequencyLimit) {
    spdlog::error("{}: needs a frequency correction beyond [clock.system] max-drift ({} ppm): steered at that "
                  "limit, its time runs away; not synchronized. Raise max-drift if the oscillator really is that "
                  "far off",
                  node.name, options_.max_frequency * 1e6);
  }
  if (node.logged_state == DisciplineState::kPanic) {
    spdlog::error("{}: the sources now put it more than panic-threshold ({} s) off, after it was synchronized: not "
                  "corrected. If the clock really is that far off, restart kairosd (at start any offset is "
                  "stepped as [clock.system] step says) or set [clock.system] panic-threshold = 0",
                  node.name, options_.panic_threshold);
  }
  log_node(node);
}

void ClockGraph::set_leap_seconds_list(std::optional<LeapSecondsList> list, std::string path) {
  leap_list_ = std::move(list);
  leap_list_path_ = leap_list_ ? std::move(path) : std::string();
  system().discipline->set_leap_seconds_list(leap_list_);
  logged_outvoted_ = Leap::kNone;
}

void ClockGraph::note_outvoted_leap() {
  const Leap outvoted = system().discipline->outvoted_leap();
  if (outvoted == logged_outvoted_) return;
  logged_outvoted_ = outvoted;
  if (outvoted == Leap::kNone) return;
  spdlog::warn("system clock: the sources announce a leap second ({}) at the end of this month that {} does not "
               "have: outvoted by the list, not armed",
               to_string(outvoted), leap_list_path_);
}

std::optional<LeapSmear> ClockGraph::current_smear() const {
  if (!steer_ || !config_.server || config_.server->leap_smear != "linear-24h") return std::nullopt;
  const std::optional<LeapEvent>& event = system().discipline->armed_leap_event();
  if (!event) return std::nullopt;
  // Past its window the event is history: served timestamps need not look at it any more.
  const Result<timespec> reading = system().real->now();
  if (reading && reading->tv_sec >= event->utc + static_cast<std::int64_t>(kSmearHalfWindow)) return std::nullopt;
  return LeapSmear{.leap = event->utc, .kind = event->leap};
}

LeapStatus ClockGraph::leap_status() const {
  LeapStatus s;
  if (config_.server) s.smear = config_.server->leap_smear;
  const Result<timespec> reading = system().real->now();
  if (leap_list_) {
    s.list = leap_list_path_;
    s.list_expiry = leap_list_->expiry;
    if (reading) {
      s.list_expired = leap_list_->expired(reading->tv_sec);
      if (!s.list_expired) {
        s.tai_utc = leap_list_->tai_utc_at(reading->tv_sec);
        s.next_leap = leap_list_->next_leap_after(reading->tv_sec);
      }
    }
  }
  if (const std::optional<LeapSmear> smear = current_smear(); smear && reading) {
    const NtpTimestamp now = NtpTimestamp::from_timespec(*reading);
    const double since = (now - NtpTimestamp::from_timespec(timespec{.tv_sec = smear->leap, .tv_nsec = 0})).seconds();
    s.smear_active = smear_active(*smear, since);
    s.smear_offset = smear_correction(*smear, since, false);
  }
  return s;
}

ClockStatus ClockGraph::status_of(const Node& node) const {
  const double now = elapsed();
  ClockStatus s;
  s.name = node.name;
  s.state = node.lost ? DisciplineState::kUnsynchronized : node.discipline->state();
  s.steered = steer_;
  s.follows = node.leader ? node.leader->name : "";
  const ClockError e = node.discipline->error(now);
  // True minus the real reading: the model's view of the clock it steers, plus what the
  // observed clock's virtual correction adds on top of the real one.
  s.offset = e.offset + node.correction(now);
  s.error_bound = !node.lost ? e.max_error : std::numeric_limits<double>::infinity();
  s.estimate_error = !node.lost ? e.sd : std::numeric_limits<double>::infinity();
  if (node.discipline->model().initialized()) {
    const auto est = node.discipline->model().estimate_at(now);
    s.frequency = node.discipline->applied_frequency() - est.frequency;
    s.frequency_sd = std::sqrt(std::max(0.0, est.frequency_variance));
  }
  s.steps = node.discipline->steps();
  s.leap = node.discipline->leap();
  s.leap_armed = node.discipline->armed_leap();
  s.sources = node.discipline->sources();
  if (node.last_measurement) s.last_update_age = now - *node.last_measurement;
  // Removed sources are kept in the model only so that indexes stay valid: nobody lists them.
  std::erase_if(s.sources, [](const SourceStatus& source) { return source.retired; });
  return s;
}

ClockStatus ClockGraph::system_status() const { return status_of(system()); }

std::vector<ClockStatus> ClockGraph::clock_statuses() const {
  std::vector<ClockStatus> out;
  for (const auto& node : nodes_) out.push_back(status_of(*node));
  return out;
}

std::optional<ServerClockState> ClockGraph::server_state() const {
  const Node& sys = system();
  if (!sys.discipline->synchronized()) return std::nullopt;
  // The stratum comes from the NTP sources at the root of the graph: the system clock's own, or
  // those of the PHC it follows (which must itself be synchronized to be followed).
  const Node& root = sys.leader ? *sys.leader : sys;
  if (!root.ntp || root.lost || !root.discipline->synchronized()) return std::nullopt;
  const auto sources = root.discipline->sources();
  std::uint8_t stratum = 16;
  std::uint32_t refid = 0;
  for (std::size_t i = 0; i < source_strata_.size() && i < root.source_index.size(); ++i) {
    const std::size_t k = root.source_index[i];
    // From the sources that steer (a preferred one, if any is a truechimer).
    if (k < sources.size() && sources[k].combined && source_strata_[i] < stratum) {
      stratum = source_strata_[i];
      refid = source_refids_[i];
    }
  }
  if (stratum >= 15) return std::nullopt;
  ServerClockState state;
  // Passed on as armed: only on the month's last day, so clients of ours never leap early. A
  // smearing server tells its clients of no leap: its time never has one.
  const Leap armed = root.discipline->armed_leap();
  state.leap = armed == Leap::kInsert ? NtpLeap::kInsertSecond
               : armed == Leap::kDelete ? NtpLeap::kDeleteSecond
                                        : NtpLeap::kNone;
  const bool smearing = config_.server && config_.server->leap_smear == "linear-24h";
  if (smearing) state.leap = NtpLeap::kNone;
  state.smear = current_smear();
  state.stratum = static_cast<std::uint8_t>(stratum + 1);
  state.reference_id = refid;
  // Root distance = our maximum error (RFC 5905 §7.3): the delay part is the measurement's that
  // bounds the NTP-disciplined root clock, everything else (its dispersion, growth since, and a
  // followed leader's error) is dispersion, so a client of ours adds only its own path.
  const double now = elapsed();
  const ClockError e = sys.discipline->error(now);
  const Discipline::RootDistance rd = root.discipline->root_distance(now);
  if (!std::isfinite(e.max_error) || !std::isfinite(rd.delay)) return std::nullopt;
  // NtpShort rounds to the nearest 2^-16 s: half a unit more so that rounding never narrows it.
  constexpr double kHalfUnit = 0.5 / 65536;
  state.root_delay = NtpShort::from_duration(Duration::from_seconds(rd.delay + kHalfUnit));
  state.root_dispersion = NtpShort::from_duration(Duration::from_seconds(e.max_error - rd.delay / 2 + kHalfUnit));
  // The reference time is when the clock was last set from a measurement (RFC 5905 §7.3).
  if (root.last_measurement) {
    if (const Result<timespec> reading = sys.real->now()) {
      state.reference_time = NtpTimestamp::from_timespec(*reading) + -Duration::from_seconds(now - *root.last_measurement);
    }
  }
  return state;
}

void ClockGraph::log_node(const Node& node) const {
  const ClockStatus s = status_of(node);
  std::size_t selected = 0;
  for (const auto& src : s.sources) selected += src.selected ? 1 : 0;
  spdlog::info("{} clock: {}{}, offset {:+.9f} s ± {:.9f} s, frequency {:+.3f} ppm ± {:.3f}, {} of {} sources "
               "selected, {} steps",
               s.name, to_string(s.state), s.steered ? "" : " (observed, not steered)", s.offset, s.error_bound,
               s.frequency * 1e6, s.frequency_sd * 1e6, selected, s.sources.size(), s.steps);
}

void ClockGraph::log_status() const {
  for (const auto& node : nodes_) log_node(*node);
  if (unused_samples_ != 0) spdlog::info("{} samples reached no clock", unused_samples_);
}

}  // namespace kairos
