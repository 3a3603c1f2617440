#include "clock/discipline.hpp"

#include <algorithm>
#include <cmath>

namespace kairos {

const char* to_string(DisciplineState state) {
  switch (state) {
    case DisciplineState::kUnsynchronized: return "unsynchronized";
    case DisciplineState::kSynchronized: return "synchronized";
    case DisciplineState::kNoMajority: return "no majority";
    case DisciplineState::kPanic: return "panic";
    case DisciplineState::kFrequencyLimit: return "frequency limit";
  }
  return "?";
}

const char* to_string(SourceState state) {
  switch (state) {
    case SourceState::kNoSample: return "no sample";
    case SourceState::kCombined: return "combined";
    case SourceState::kSelected: return "selected";
    case SourceState::kNotSelected: return "not selected";
    case SourceState::kNoSelect: return "noselect";
    case SourceState::kTooFar: return "too far";
    case SourceState::kDisagrees: return "disagrees";
    case SourceState::kUnconfirmed: return "unconfirmed";
  }
  return "?";
}

Discipline::Discipline(ClockDevice& device, DisciplineOptions options)
    : device_(device), options_(options), kalman_(options.kalman) {
  if (auto f = device_.frequency()) frequency_ = *f;
}

std::size_t Discipline::add_source(SourceOptions options) {
  Source source;
  source.guard = AgreementGuard(options.require_agreement);
  source.options = std::move(options);
  sources_.push_back(std::move(source));
  return sources_.size() - 1;
}

void Discipline::retire_source(std::size_t source_id) {
  if (source_id >= sources_.size()) return;
  Source& source = sources_[source_id];
  source.retired = true;
  source.state = SourceState::kNoSample;
  source.last.reset();  // select() only looks at sources with a sample
  source.anchors.clear();
}

Selection Discipline::select(double now) {
  std::vector<Candidate> candidates;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    // Each source's state is set below, whether it is a candidate or not.
    Source& s = sources_[i];
    if (!s.last || now - s.last->time > options_.max_sample_age) {
      s.state = s.last ? SourceState::kNotSelected : SourceState::kNoSample;
      continue;
    }
    // chrony's noselect: measured and shown, but no candidate, so it does not vote either.
    if (s.options.noselect) {
      s.state = SourceState::kNoSelect;
      continue;
    }
    // Before the model exists our clock runs free, at a frequency we do not know yet: let the
    // intervals of older samples grow as fast as any sane oscillator drifts.
    const double rate = kalman_.initialized() ? options_.dispersion_rate : 500e-6;
    const double distance = s.last->distance + rate * std::max(0.0, now - s.last->time);
    // chrony's maxdistance: a source this far from the truth by its own account is no candidate.
    if (distance > s.options.max_distance.value_or(options_.max_distance)) {
      s.state = SourceState::kTooFar;
      continue;
    }
    s.state = SourceState::kNotSelected;
    candidates.push_back(Candidate{.low = s.residual - distance,
                                   .high = s.residual + distance,
                                   .trusted = s.options.trusted,
                                   .required = s.options.required,
                                   .preferred = s.options.preferred,
                                   .leap = s.last->leap});
    index.push_back(i);
  }
  // NTS guards the unauthenticated precise sources: one outside the authenticated sources'
  // interval is no candidate (agreement_guard.hpp), so it neither steers nor votes.
  std::vector<Candidate> authenticated;
  for (std::size_t k = 0; k < candidates.size(); ++k) {
    if (sources_[index[k]].options.authenticated) authenticated.push_back(candidates[k]);
  }
  const std::optional<Interval> authority = authenticated_interval(authenticated);
  for (std::size_t k = candidates.size(); k-- > 0;) {
    Source& s = sources_[index[k]];
    if (!s.options.guarded) continue;
    if (s.guard.check(Interval{.low = candidates[k].low, .high = candidates[k].high}, authority)) continue;
    s.state = s.guard.state() == GuardState::kUnconfirmed ? SourceState::kUnconfirmed : SourceState::kDisagrees;
    candidates.erase(candidates.begin() + static_cast<std::ptrdiff_t>(k));
    index.erase(index.begin() + static_cast<std::ptrdiff_t>(k));
  }
  Selection sel = select_truechimers(candidates, options_.min_sources);
  for (std::size_t& i : sel.truechimers) {
    i = index[i];
    sources_[i].state = SourceState::kSelected;
  }
  for (std::size_t& i : sel.combined) {
    i = index[i];
    sources_[i].state = SourceState::kCombined;
  }
  for (std::size_t& i : sel.falsetickers) i = index[i];
  // A required source that has not answered (or whose samples are too old) is no candidate, and
  // still required (chrony's require): without one of them among the truechimers, no selection.
  const bool any_required =
      std::any_of(sources_.begin(), sources_.end(), [](const Source& s) { return s.options.required && !s.retired; });
  const bool required_chosen = std::any_of(sel.truechimers.begin(), sel.truechimers.end(),
                                           [this](std::size_t i) { return sources_[i].options.required; });
  if (any_required && !required_chosen && sel.status == SelectionStatus::kSelected) {
    sel.status = SelectionStatus::kNoRequiredSource;
  }
  return sel;
}

void Discipline::on_measurement(std::size_t source_id, const Measurement& m, double now) {
  if (source_id >= sources_.size() || sources_[source_id].retired) return;
  Source& source = sources_[source_id];
  Measurement corrected = m;
  corrected.offset -= source.options.asymmetry;
  const std::optional<Observation> obs = source.filter.add(corrected);
  if (!obs) return;
  // RFC 5905 §8: the offset is off by at most half the round trip (an exchange with all its delay
  // on one side), the server by at most its root distance, and each timestamp by its precision.
  source.anchors.push_back(Anchor{.time = obs->time,
                                  .offset = obs->offset,
                                  .delay = m.root_delay + source.options.max_asymmetry * m.delay,
                                  // RFC 5905 §8 adds the precision of both ends once.
                                  .dispersion = m.root_dispersion + m.precision});
  if (source.anchors.size() > kAnchors) source.anchors.pop_front();
  if (std::isnan(first_sample_time_)) first_sample_time_ = now;
  if (source.last) {
    const double gap = obs->time - source.last->time;
    source.interval = source.interval == 0 ? gap : 0.7 * source.interval + 0.3 * gap;
  }
  source.last = *obs;
  source.last_delay = m.delay;

  if (!kalman_.initialized()) {
    source.residual = obs->offset;  // the clock is untouched yet: raw offsets compare directly
    if (!try_initialize(now)) return;
  } else {
    // The residual compares the measurement with what the model says the offset was when it was
    // taken (through our corrections since, for one from the past): the same prediction the
    // update will use.
    kalman_.predict(obs->time);
    const std::optional<double> predicted = kalman_.offset_at(obs->time);
    if (!predicted) {
      ++too_old_;
      return;
    }
    source.residual = obs->offset - *predicted;
    source.predicted_sd = std::sqrt(kalman_.estimate().offset_variance);
    const Selection sel = select(now);
    if (source.state == SourceState::kDisagrees) ++source.guard_rejected;
    if (sel.status != SelectionStatus::kSelected) {
      state_ = DisciplineState::kNoMajority;
      return;
    }
    leap_ = sel.leap;
    // A truechimer that is not combined (a preferred one steers) voted, and that is all.
    if (!source.combined()) return;
    feed(*obs);
  }
  kalman_.predict(now);
  steer(now, source.interval);
}

bool Discipline::try_initialize(double now) {
  std::size_t with_samples = 0;
  std::size_t live = 0;
  for (const Source& s : sources_) {
    // A noselect source never takes part: the start does not wait for it.
    if (s.options.noselect) continue;
    with_samples += s.last.has_value();
    live += !s.retired;
  }
  // Wait for a majority of the configured sources, so that a falseticker that happens to answer
  // first does not set the clock; after init_wait, go with what there is.
  if (2 * with_samples <= live && now - first_sample_time_ < options_.init_wait) return false;
  const Selection sel = select(now);
  if (sel.status != SelectionStatus::kSelected) {
    state_ = DisciplineState::kNoMajority;
    return false;
  }
  // A majority of those that answered is not enough while more may answer: 2 agreeing liars of 5
  // outvote the 1 honest source that answered with them, and the model would start from their
  // time. Until init_wait, the start needs a majority of all configured sources to agree.
  if (2 * sel.truechimers.size() <= live && now - first_sample_time_ < options_.init_wait) {
    for (Source& s : sources_) {
      if (s.selected()) s.state = SourceState::kNotSelected;
    }
    return false;
  }
  leap_ = sel.leap;
  // The model starts from the sources that steer (the preferred ones, if any is a truechimer).
  std::vector<const Observation*> chosen;
  for (std::size_t i : sel.combined) chosen.push_back(&*sources_[i].last);
  std::sort(chosen.begin(), chosen.end(), [](const Observation* a, const Observation* b) { return a->time < b->time; });
  const Observation& first = *chosen.front();
  kalman_.initialize(first.time, first.offset, first.variance);
  for (std::size_t k = 1; k < chosen.size(); ++k) kalman_.update_at(chosen[k]->time, chosen[k]->offset, chosen[k]->variance);
  for (std::size_t i : sel.truechimers) {
    // Against the model just started: 0 for those it started from, the difference for the rest.
    const std::optional<double> predicted = kalman_.offset_at(sources_[i].last->time);
    sources_[i].residual = sources_[i].combined() || !predicted ? 0 : sources_[i].last->offset - *predicted;
  }
  return true;
}

void Discipline::feed(const Observation& obs) {
  const UpdateResult res = kalman_.update_at(obs.time, obs.offset, obs.variance);
  if (res == UpdateResult::kTooOld) {
    ++too_old_;
    return;
  }
  if (res == UpdateResult::kOutlier) {
    // A few outliers are noise the model did not expect; many in a row from sources that the
    // selection still trusts mean the model is wrong (an unexpected step): start the offset over.
    // The step happened before this measurement was taken, so older ones no longer apply.
    if (++outliers_ < options_.max_outliers) return;
    kalman_.forget_offset(obs.variance + obs.offset * obs.offset, obs.time);
    kalman_.update_at(obs.time, obs.offset, obs.variance);
  }
  outliers_ = 0;
}

void Discipline::steer(double now, double horizon) {
  const KalmanEstimate est = kalman_.estimate();
  double offset = est.offset;
  // Once synchronized, an offset this large means something broke (a source gone mad, a clock
  // set by hand): not followed. Before (at start, after a foreign step) any offset is what the
  // step policy says, as chrony's makestep and ntpd -g: a board without an RTC starts in 1970.
  if (ever_synchronized_ && options_.panic_threshold > 0 && std::abs(offset) > options_.panic_threshold) {
    state_ = DisciplineState::kPanic;
    return;
  }
  const bool may_step = options_.step_mode == StepMode::kAlways ||
                        (options_.step_mode == StepMode::kStartOnly && !ever_synchronized_);
  if (may_step && std::abs(offset) > options_.step_threshold) {
    step_clock(now, -offset);
    offset = 0;
  }
  // Set the frequency to cancel the estimated rate error, plus a slew that removes the offset
  // by the time the next measurement is due; on_timer ends the slew then.
  horizon = std::max(horizon, options_.min_slew_time);
  const double slew = std::clamp(-offset / horizon, -options_.max_slew, options_.max_slew);
  const double limit = frequency_limit();
  // The frequency that cancels the clock's own rate error, before any slew.
  const double needed = frequency_ - est.frequency;
  change_frequency(now, std::clamp(needed + slew, -limit, limit));
  slew_end_ = slew == 0 ? std::numeric_limits<double>::quiet_NaN() : now + std::abs(offset / slew);
  ever_synchronized_ = true;
  // The model knows the clock's rate (only what is applied is limited, so its estimate and its
  // maximum error stay true); but a clock that needs more than the limit drifts away from the
  // time at the difference, and nothing it publishes (the kernel's maxerror grows at 500 ppm,
  // our server's root distance not at all) would keep up: it is not synchronized. Only when
  // the model is sure of it: the first few samples of a noisy path (2 ms apart over a 2 s
  // iburst is 1000 ppm) say little about the rate, and the limit already holds what is applied.
  const double frequency_sd = std::sqrt(std::max(0.0, est.frequency_variance));
  const bool beyond = std::abs(needed) - options_.bound_sigmas * frequency_sd > limit;
  state_ = beyond ? DisciplineState::kFrequencyLimit : DisciplineState::kSynchronized;
  publish_error(now);
}

void Discipline::on_timer(double now) {
  if (std::isnan(slew_end_) || now < slew_end_ || !kalman_.initialized()) return;
  slew_end_ = std::numeric_limits<double>::quiet_NaN();
  kalman_.predict(now);
  const double limit = frequency_limit();
  change_frequency(now, std::clamp(frequency_ - kalman_.estimate().frequency, -limit, limit));
  publish_error(now);
}

double Discipline::frequency_limit() const { return std::min(device_.max_frequency(), options_.max_frequency); }

void Discipline::step_clock(double now, double by) {
  if (!device_.step(by)) return;
  kalman_.apply_step(by);
  ++steps_;
  if (listener_) listener_(now, 0, by);
}

void Discipline::change_frequency(double now, double target) {
  const double delta = target - frequency_;
  if (delta == 0 || !device_.set_frequency(target)) return;
  frequency_ = target;
  kalman_.apply_frequency_change(delta);
  if (listener_) listener_(now, delta, 0);
}

void Discipline::on_clock_stepped(double now) {
  if (!kalman_.initialized()) return;
  kalman_.predict(now);
  // Nothing is known about the new offset until the next measurement; the bound says so.
  kalman_.forget_offset(kUnknownOffset * kUnknownOffset);
  // Every measurement so far describes the clock before the step: none bounds it now.
  for (Source& s : sources_) s.anchors.clear();
  // As at start: the offset is unknown, so the policy may step it away, and until a measurement
  // says otherwise the clock is not synchronized (the kernel's STA_UNSYNC, our server's stratum).
  ever_synchronized_ = false;
  state_ = DisciplineState::kUnsynchronized;
  publish_error(now);
}

void Discipline::on_reference_frequency_change(double time, double delta) {
  if (!kalman_.initialized()) return;
  kalman_.predict(time);
  kalman_.apply_frequency_change(-delta);
  // Known at once, so followed at once (feedforward): a follower that kept its rate until its
  // next measurement would part from its leader by delta × the time left, and a PHC steered
  // eight times a second would shake its follower off by its every correction.
  if (state_ == DisciplineState::kSynchronized) {
    const double limit = frequency_limit();
    change_frequency(time, std::clamp(frequency_ + delta, -limit, limit));
  }
}

void Discipline::on_reference_step(double time, double delta) {
  if (!kalman_.initialized()) return;
  kalman_.predict(time);
  kalman_.apply_step(-delta);
}

ClockError Discipline::error(double time) const {
  ClockError e;
  if (!kalman_.initialized()) return e;
  const KalmanEstimate est = kalman_.estimate_at(time);
  e.offset = -est.offset;
  e.sd = std::sqrt(std::max(0.0, est.offset_variance));
  e.max_error = root_distance(time).total();
  if (reference_error_) {
    // Our sources measured us against the leader: its own error comes on top.
    const ClockError ref = reference_error_(time);
    e.offset += ref.offset;
    e.sd = std::hypot(e.sd, ref.sd);
    e.max_error += ref.max_error;
  }
  return e;
}

// The maximum error is built from measurements, not from the model's statistics. A selected
// source's measurement j says the true offset at t_j was within w_j = delay_j/2 + dispersion_j
// of o_j. The model's estimate now, carried back to t_j through its frequency and our
// corrections since, is x_j; the truth moved from t_j to now as the model says, except for the
// model's frequency error, taken as at most bound_sigmas frequency sd plus max_drift. So, with
// d_j = x_j - o_j (how far the model is from its own evidence), the truth now is in
//   x - d_j ± (w_j + (k sd_f + max_drift)(t - t_j)).
// Each such interval holds the truth, so their intersection does: its edges come from the
// shortest one-way delays of either direction, not from one exchange's whole round trip. A model
// that missed a frequency or server step has a large d_j at the next measurement, and the bound
// widens whatever its sd says. Intervals that do not intersect mean an assumption broke (an
// upstream beyond its root distance, a drift beyond max_drift): then their hull, not a guess.
Discipline::RootDistance Discipline::root_distance(double time) const {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (!kalman_.initialized()) return {};
  const KalmanEstimate est = kalman_.estimate_at(time);
  const double growth_rate =
      options_.bound_sigmas * std::sqrt(std::max(0.0, est.frequency_variance)) + options_.max_drift;
  // Relative to the estimate now: the intersection [low, high] and the hull [hull_low, hull_high].
  double low = -kInf, high = kInf, hull_low = kInf, hull_high = -kInf;
  double min_delay = kInf;
  for (const Source& s : sources_) {
    // The sources that steer bound the estimate (a truechimer that only voted does not).
    if (!s.combined() || s.retired) continue;
    // No age limit: an old measurement still bounds the truth, its growth says how loosely.
    for (const Anchor& a : s.anchors) {
      // nullopt for a measurement before a step the model cannot account for: it bounds nothing.
      const std::optional<double> then = kalman_.offset_at(a.time);
      if (!then) continue;
      const double centre = -(*then - a.offset);
      const double half_width = a.delay / 2 + a.dispersion + growth_rate * std::max(0.0, time - a.time);
      low = std::max(low, centre - half_width);
      high = std::min(high, centre + half_width);
      hull_low = std::min(hull_low, centre - half_width);
      hull_high = std::max(hull_high, centre + half_width);
      min_delay = std::min(min_delay, a.delay);
    }
  }
  if (!std::isfinite(min_delay)) return {};
  if (low > high) {
    low = hull_low;
    high = hull_high;
  }
  const double max_error = std::max(std::abs(low), std::abs(high));
  // For our own server: the shortest round trip (with its upstream's root delay) is the delay
  // part, the rest of the maximum error dispersion.
  const double delay = std::min(min_delay, 2 * max_error);
  return RootDistance{.delay = delay, .dispersion = max_error - delay / 2};
}

void Discipline::publish_error(double now) {
  const ClockError e = error(now);
  // The kernel's figures are about the clock's reading, which is e.offset away from our estimate;
  // an unknown maximum error leaves maxerror at its cap (16 s).
  (void)device_.set_error_estimate(ClockErrorEstimate{.max_error = std::abs(e.offset) + e.max_error,
                                                      .est_error = e.sd,
                                                      .synchronized = state_ == DisciplineState::kSynchronized});
  update_leap();
}

void Discipline::set_leap_seconds_list(std::optional<LeapSecondsList> list) {
  leap_list_ = std::move(list);
  applied_tai_.reset();  // set again from the new list at the next update
  outvoted_ = Leap::kNone;
  update_leap();
}

std::optional<int> Discipline::announced_tai_utc() const {
  std::optional<int> agreed;
  for (const Source& s : sources_) {
    if (!s.combined() || s.retired || !s.last || !s.last->tai_utc) continue;
    if (agreed && *agreed != *s.last->tai_utc) return std::nullopt;
    agreed = s.last->tai_utc;
  }
  return agreed;
}

void Discipline::update_leap() {
  const Result<timespec> reading = device_.now();
  const LeapSecondsList* list = reading && leap_list_ && !leap_list_->expired(reading->tv_sec) ? &*leap_list_ : nullptr;
  Leap wanted = leap_ == Leap::kUnsynchronized ? applied_leap_ : leap_;
  const bool announced = wanted == Leap::kInsert || wanted == Leap::kDelete;
  if (list) {
    // The list knows every leap until it expires; sources announcing another one (a bad
    // upstream, a test signal) are outvoted, and a listed one is armed even if none announce it.
    outvoted_ = announced && wanted != list->leap_this_month(reading->tv_sec) ? wanted : Leap::kNone;
    wanted = list->leap_tonight(reading->tv_sec);
  } else {
    outvoted_ = Leap::kNone;
    if (announced && (!reading || !last_day_of_month(reading->tv_sec))) wanted = Leap::kNone;
  }
  if (wanted != applied_leap_ && device_.set_leap(wanted)) {
    applied_leap_ = wanted;
    if (reading && (wanted == Leap::kInsert || wanted == Leap::kDelete)) {
      constexpr std::int64_t kDay = 86400;
      armed_event_ = LeapEvent{.utc = (reading->tv_sec / kDay + 1) * kDay, .leap = wanted};
    } else if (armed_event_ && reading && reading->tv_sec < armed_event_->utc - 1) {
      // Disarmed before its midnight (the 23:59:59 an insertion repeats counts as after it).
      armed_event_.reset();
    }
  }
  // At start and after each leap: the kernel's CLOCK_TAI follows the list, or without a valid
  // one what the sources that steer announce (PTP masters' currentUtcOffset) when they agree.
  const std::optional<int> tai = list ? list->tai_utc_at(reading->tv_sec) : announced_tai_utc();
  if (tai && tai != applied_tai_ && device_.set_tai_offset(*tai)) applied_tai_ = tai;
}

SourceStatus Discipline::source_status(std::size_t id) const {
  const Source& s = sources_.at(id);
  return SourceStatus{.name = s.options.name,
                      .selected = s.selected(),
                      .combined = s.combined(),
                      .state = s.state,
                      .has_sample = s.last.has_value(),
                      .last_offset = s.last ? -s.last->offset : 0,
                      .last_delay = s.last_delay,
                      .min_delay = s.filter.samples() ? s.filter.min_delay() : 0,
                      .residual = s.residual,
                      .predicted_sd = s.predicted_sd,
                      .measurement_sd = s.last ? std::sqrt(s.last->variance) : 0,
                      .samples = s.filter.samples(),
                      .retired = s.retired,
                      .guarded = s.options.guarded,
                      .guard = s.guard.state(),
                      // The guard compares our clock minus each reference; an operator reads how far
                      // the guarded source's time is ahead of the authenticated time.
                      .disagreement = s.guard.disagreement() ? std::optional<double>(-*s.guard.disagreement())
                                                             : std::nullopt,
                      .guard_rejected = s.guard_rejected,
                      .guard_episodes = s.guard.episodes()};
}

std::vector<SourceStatus> Discipline::sources() const {
  std::vector<SourceStatus> out;
  for (std::size_t id = 0; id < sources_.size(); ++id) out.push_back(source_status(id));
  return out;
}

}  // namespace kairos
