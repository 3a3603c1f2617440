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
  }
  return "?";
}

Discipline::Discipline(ClockDevice& device, DisciplineOptions options)
    : device_(device), options_(options), kalman_(options.kalman) {
  if (auto f = device_.frequency()) frequency_ = *f;
}

std::size_t Discipline::add_source(SourceOptions options) {
  Source source;
  source.options = std::move(options);
  sources_.push_back(std::move(source));
  return sources_.size() - 1;
}

void Discipline::retire_source(std::size_t source_id) {
  if (source_id >= sources_.size()) return;
  Source& source = sources_[source_id];
  source.retired = true;
  source.selected = false;
  source.last.reset();  // select() only looks at sources with a sample
}

Selection Discipline::select(double now) {
  std::vector<Candidate> candidates;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    const Source& s = sources_[i];
    if (!s.last || now - s.last->time > options_.max_sample_age) continue;
    // Before the model exists our clock runs free, at a frequency we do not know yet: let the
    // intervals of older samples grow as fast as any sane oscillator drifts.
    const double rate = kalman_.initialized() ? options_.dispersion_rate : 500e-6;
    const double distance = s.last->distance + rate * std::max(0.0, now - s.last->time);
    candidates.push_back(Candidate{.low = s.residual - distance,
                                   .high = s.residual + distance,
                                   .trusted = s.options.trusted,
                                   .required = s.options.required,
                                   .leap = s.last->leap});
    index.push_back(i);
  }
  Selection sel = select_truechimers(candidates);
  for (Source& s : sources_) s.selected = false;
  for (std::size_t& i : sel.truechimers) {
    i = index[i];
    sources_[i].selected = true;
  }
  for (std::size_t& i : sel.falsetickers) i = index[i];
  return sel;
}

void Discipline::on_measurement(std::size_t source_id, const Measurement& m, double now) {
  if (source_id >= sources_.size() || sources_[source_id].retired) return;
  Source& source = sources_[source_id];
  const std::optional<Observation> obs = source.filter.add(m);
  if (!obs) return;
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
    const Selection sel = select(now);
    if (sel.status != SelectionStatus::kSelected) {
      state_ = DisciplineState::kNoMajority;
      return;
    }
    leap_ = sel.leap;
    if (!source.selected) return;
    feed(*obs);
  }
  kalman_.predict(now);
  steer(now, source.interval);
}

bool Discipline::try_initialize(double now) {
  std::size_t with_samples = 0;
  std::size_t live = 0;
  for (const Source& s : sources_) {
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
    for (Source& s : sources_) s.selected = false;
    return false;
  }
  leap_ = sel.leap;
  std::vector<const Observation*> chosen;
  for (std::size_t i : sel.truechimers) chosen.push_back(&*sources_[i].last);
  std::sort(chosen.begin(), chosen.end(), [](const Observation* a, const Observation* b) { return a->time < b->time; });
  const Observation& first = *chosen.front();
  kalman_.initialize(first.time, first.offset, first.variance);
  for (std::size_t k = 1; k < chosen.size(); ++k) kalman_.update_at(chosen[k]->time, chosen[k]->offset, chosen[k]->variance);
  for (std::size_t i : sel.truechimers) sources_[i].residual = 0;
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
  if (std::abs(offset) > options_.panic_threshold) {
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
  const double limit = device_.max_frequency();
  change_frequency(now, std::clamp(frequency_ - est.frequency + slew, -limit, limit));
  slew_end_ = slew == 0 ? std::numeric_limits<double>::quiet_NaN() : now + std::abs(offset / slew);
  ever_synchronized_ = true;
  state_ = DisciplineState::kSynchronized;
  publish_error(now);
}

void Discipline::on_timer(double now) {
  if (std::isnan(slew_end_) || now < slew_end_ || !kalman_.initialized()) return;
  slew_end_ = std::numeric_limits<double>::quiet_NaN();
  kalman_.predict(now);
  const double limit = device_.max_frequency();
  change_frequency(now, std::clamp(frequency_ - kalman_.estimate().frequency, -limit, limit));
  publish_error(now);
}

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
  kalman_.forget_offset(options_.panic_threshold * options_.panic_threshold);
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
  if (reference_error_) {
    const ClockError ref = reference_error_(time);
    e.offset += ref.offset;
    e.sd = std::hypot(e.sd, ref.sd);
  }
  return e;
}

void Discipline::publish_error(double now) {
  const ClockError e = error(now);
  const double est = options_.bound_sigmas * e.sd;
  (void)device_.set_error_estimate(ClockErrorEstimate{
      .max_error = std::abs(e.offset) + est, .est_error = e.sd, .synchronized = state_ == DisciplineState::kSynchronized});
  Leap wanted = leap_ == Leap::kUnsynchronized ? applied_leap_ : leap_;
  if (wanted == Leap::kInsert || wanted == Leap::kDelete) {
    const Result<timespec> reading = device_.now();
    if (!reading || !last_day_of_month(reading->tv_sec)) wanted = Leap::kNone;
  }
  if (wanted != applied_leap_ && device_.set_leap(wanted)) applied_leap_ = wanted;
}

std::vector<SourceStatus> Discipline::sources() const {
  std::vector<SourceStatus> out;
  for (const Source& s : sources_) {
    out.push_back(SourceStatus{.name = s.options.name,
                               .selected = s.selected,
                               .has_sample = s.last.has_value(),
                               .last_offset = s.last ? -s.last->offset : 0,
                               .last_delay = s.last_delay,
                               .min_delay = s.filter.samples() ? s.filter.min_delay() : 0,
                               .residual = s.residual,
                               .samples = s.filter.samples(),
                               .retired = s.retired});
  }
  return out;
}

}  // namespace kairos
