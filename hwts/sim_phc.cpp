#include "hwts/sim_phc.hpp"

#include <fcntl.h>
#include <linux/ptp_clock.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

namespace kairos {
namespace {

constexpr double kScaledPerUnit = 65536e6;  // scaled ppm per unit of fractional frequency

// Fails like a syscall: -1 with errno set.
int failure(int error) {
  errno = error;
  return -1;
}

ptp_clock_time to_ptp(const timespec& t) {
  ptp_clock_time out{};
  out.sec = static_cast<decltype(out.sec)>(t.tv_sec);
  out.nsec = static_cast<decltype(out.nsec)>(t.tv_nsec);
  return out;
}

}  // namespace

SimPhc::SimPhc(SimClock& system, SimClock& phc, std::function<double()> true_time, SimPhcOptions options,
               std::mt19937_64* rng)
    : system_(system),
      phc_(phc),
      true_time_(std::move(true_time)),
      options_(std::move(options)),
      own_rng_(options_.seed),
      rng_(rng != nullptr ? rng : &own_rng_) {}

PhcSyscalls SimPhc::syscalls() {
  return PhcSyscalls{
      .open = [this](const char* path, int flags) { return open(path, flags); },
      .close = [this](int fd) { return close(fd); },
      .ioctl = [this](int fd, unsigned long request, void* arg) { return ioctl(fd, request, arg); },
      .gettime = [this](clockid_t id, timespec* ts) { return gettime(id, ts); },
      .adjtime = [this](clockid_t id, timex* tx) { return adjtime(id, tx); },
  };
}

void SimPhc::remove() { present_ = false; }

void SimPhc::restore() {
  if (present_) return;
  present_ = true;
  // A new device instance: what was open on the old one stays a zombie.
  ++generation_;
}

double SimPhc::enter() {
  const double now = true_time_();
  cursor_ = std::max(cursor_, now);
  if (reset_at_ && now >= *reset_at_) {
    // Like a driver after a link reset: the counter restarts at the Unix epoch, the adjustment
    // is gone. A double holding the epoch loses well under a microsecond, which a reset does not
    // care about.
    const double reading = phc_.reading_at(now);
    (void)phc_.step(-static_cast<double>(phc_.epoch()) - reading);
    (void)phc_.set_frequency(0);
    reset_at_.reset();
  }
  return cursor_;
}

double SimPhc::jitter() {
  const double mean = options_.readout_jitter;
  // A fresh distribution per draw, as the simulator draws its own: the same seed gives the same
  // readings whether they come through here or not.
  return mean > 0 ? std::exponential_distribution<double>(1.0 / mean)(*rng_) : 0;
}

int SimPhc::check(int fd) const {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return EBADF;
  if (!present_ || it->second.generation != generation_) return ENODEV;
  return 0;
}

int SimPhc::fd_of(clockid_t id) const {
  // Dynamic clock ids carry the inverted descriptor above three low bits of 3 (CLOCKFD).
  if (id >= 0 || (id & 7) != 3) return -1;
  const int fd = ~(id >> 3);
  return fds_.contains(fd) ? fd : -1;
}

timespec SimPhc::system_at(double t) { return sim_unix_time(system_.epoch(), system_.reading_at(t)); }
timespec SimPhc::phc_at(double t) { return sim_unix_time(phc_.epoch(), phc_.reading_at(t)); }

int SimPhc::open(const char* path, int flags) {
  if (path == nullptr || options_.path != path || !present_) return failure(ENOENT);
  last_open_flags_ = flags;
  const int fd = next_fd_++;
  fds_[fd] = Descriptor{.flags = flags, .generation = generation_};
  return fd;
}

int SimPhc::close(int fd) {
  if (fds_.erase(fd) == 0) return failure(EBADF);
  return 0;
}

int SimPhc::ioctl(int fd, unsigned long request, void* arg) {
  if (const int error = check(fd); error != 0) return failure(error);
  enter();
  if (request == PTP_CLOCK_GETCAPS) return fill_caps(arg);
  std::optional<CrossMethod> method;
  if (request == PTP_SYS_OFFSET_PRECISE) method = CrossMethod::kPrecise;
  if (request == PTP_SYS_OFFSET_EXTENDED) method = CrossMethod::kExtended;
  if (request == PTP_SYS_OFFSET) method = CrossMethod::kBasic;
  if (!method) return failure(ENOTTY);
  ++calls_[index(*method)];
  if (refused_[index(*method)] || (*method == CrossMethod::kPrecise && !options_.precise)) {
    return failure(EOPNOTSUPP);
  }
  if (busy_ > 0) {
    --busy_;
    return failure(EBUSY);
  }
  switch (*method) {
    case CrossMethod::kPrecise: return precise(arg);
    case CrossMethod::kExtended: return extended(arg);
    case CrossMethod::kBasic: return basic(arg);
    case CrossMethod::kSandwich: break;
  }
  return failure(ENOTTY);
}

int SimPhc::fill_caps(void* arg) const {
  ptp_clock_caps caps{};
  caps.max_adj = options_.max_adj;
  caps.cross_timestamping = options_.precise && options_.precise_in_caps ? 1 : 0;
  std::memcpy(arg, &caps, sizeof caps);
  return 0;
}

int SimPhc::precise(void* arg) {
  // The hardware latches both clocks at the same instant; the call itself takes a readout delay.
  const double t = cursor_;
  ptp_sys_offset_precise p{};
  p.device = to_ptp(phc_at(t));
  p.sys_realtime = to_ptp(system_at(t));
  p.sys_monoraw = to_ptp(sim_unix_time(0, options_.raw_start + t));
  cursor_ = t + options_.readout_delay;
  std::memcpy(arg, &p, sizeof p);
  return 0;
}

int SimPhc::extended(void* arg) {
  ptp_sys_offset_extended e{};
  std::memcpy(&e, arg, sizeof e);
  if (e.n_samples == 0 || e.n_samples > PTP_MAX_SAMPLES || e.rsv[0] != 0 || e.rsv[1] != 0 || e.rsv[2] != 0) {
    return failure(EINVAL);
  }
  const double half = options_.readout_delay / 2;
  for (unsigned i = 0; i < e.n_samples; ++i) {
    const double first = cursor_;
    const double latch = first + half + jitter();
    const double last = latch + half + jitter();
    e.ts[i][0] = to_ptp(system_at(first));
    e.ts[i][1] = to_ptp(phc_at(latch));
    e.ts[i][2] = to_ptp(system_at(last));
    cursor_ = last + options_.reading_gap;
  }
  std::memcpy(arg, &e, sizeof e);
  return 0;
}

int SimPhc::basic(void* arg) {
  ptp_sys_offset b{};
  std::memcpy(&b, arg, sizeof b);
  if (b.n_samples == 0 || b.n_samples > PTP_MAX_SAMPLES) return failure(EINVAL);
  // System and PHC alternate with no gap: each system stamp closes one reading and opens the next.
  const double half = options_.readout_delay / 2;
  double t = cursor_;
  b.ts[0] = to_ptp(system_at(t));
  for (unsigned i = 0; i < b.n_samples; ++i) {
    t += half + jitter();
    b.ts[2 * i + 1] = to_ptp(phc_at(t));
    t += half + jitter();
    b.ts[2 * i + 2] = to_ptp(system_at(t));
  }
  cursor_ = t + options_.reading_gap;
  std::memcpy(arg, &b, sizeof b);
  return 0;
}

int SimPhc::gettime(clockid_t id, timespec* ts) {
  const double t = enter();
  if (id == CLOCK_REALTIME) {
    *ts = system_at(t);
  } else if (id == CLOCK_MONOTONIC_RAW) {
    *ts = sim_unix_time(0, options_.raw_start + t);
  } else {
    const int fd = fd_of(id);
    if (fd < 0) return failure(EINVAL);
    if (const int error = check(fd); error != 0) return failure(error);
    ++calls_[index(CrossMethod::kSandwich)];
    if (refused_[index(CrossMethod::kSandwich)]) return failure(EOPNOTSUPP);
    *ts = phc_at(t);
  }
  // A clock_gettime from user space takes about half a readout: three of them make a sandwich
  // as wide as one reading of the ioctls.
  cursor_ = t + options_.readout_delay / 2 + jitter();
  return 0;
}

int SimPhc::adjtime(clockid_t id, timex* tx) {
  enter();
  if (id == CLOCK_REALTIME) return adjust(system_, false, tx);
  const int fd = fd_of(id);
  if (fd < 0) return failure(EINVAL);
  if (const int error = check(fd); error != 0) return failure(error);
  // Changes need the descriptor open for writing (posix-clock.c); a read is allowed.
  if (tx->modes != 0 && (fds_.at(fd).flags & O_ACCMODE) == O_RDONLY) return failure(EACCES);
  if (tx->modes != 0 && options_.refuse_adjustment) return failure(EINVAL);
  return adjust(phc_, true, tx);
}

int SimPhc::adjust(SimClock& clock, bool is_phc, timex* tx) {
  constexpr unsigned kKnown = ADJ_FREQUENCY | ADJ_SETOFFSET | ADJ_NANO;
  if ((tx->modes & ~kKnown) != 0) return failure(EINVAL);
  if (tx->modes & ADJ_FREQUENCY) {
    const double f = static_cast<double>(tx->freq) / kScaledPerUnit;
    // The PTP layer refuses what the driver cannot do (ERANGE), as ptp_clock_adjtime does.
    if (is_phc && std::abs(f * 1e9) > static_cast<double>(options_.max_adj)) return failure(ERANGE);
    if (!clock.set_frequency(f)) return failure(EINVAL);
  }
  if (tx->modes & ADJ_SETOFFSET) {
    const bool nano = (tx->modes & ADJ_NANO) != 0;
    const long unit = nano ? 1'000'000'000L : 1'000'000L;
    if (tx->time.tv_usec < 0 || tx->time.tv_usec >= unit) return failure(EINVAL);
    const double by = static_cast<double>(tx->time.tv_sec) +
                      static_cast<double>(tx->time.tv_usec) / static_cast<double>(unit);
    if (!clock.step(by)) return failure(EINVAL);
  }
  const auto f = clock.frequency();
  tx->freq = std::lround((f ? *f : 0.0) * kScaledPerUnit);
  return TIME_OK;
}

}  // namespace kairos
