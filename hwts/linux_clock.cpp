#include "hwts/linux_clock.hpp"

#include <fcntl.h>
#include <linux/ptp_clock.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

namespace kairos {
namespace {

// Scaled ppm per unit of fractional frequency: 1 ppm is 65536 (a 16-bit binary fraction).
constexpr double kScaledPerUnit = 65536e6;
// Steps beyond the NTP era (±68 years) are no clock correction but a broken input.
constexpr double kMaxStep = 2147483648.0;

std::string errno_text(int error) { return std::strerror(error); }

// Closes a descriptor unless it is handed on: open_phc has several ways to fail after open().
class FdGuard {
 public:
  explicit FdGuard(int fd) : fd_(fd) {}
  FdGuard(const FdGuard&) = delete;
  FdGuard& operator=(const FdGuard&) = delete;
  ~FdGuard() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

long nominal_tick() {
  long hz = ::sysconf(_SC_CLK_TCK);
  // USER_HZ is 100 on every Linux architecture; sysconf failing is not worth a failure here.
  if (hz <= 0) hz = 100;
  return 1'000'000 / hz;
}

FrequencySplit split_frequency(double f, long nominal) {
  const double freq_only = std::round(f * kScaledPerUnit);
  if (std::abs(freq_only) <= static_cast<double>(kMaxFreqScaled)) {
    return {nominal, static_cast<long>(freq_only)};
  }
  // Beyond freq's reach: the nearest whole tick carries f, so freq keeps at most half a tick
  // step (±50 ppm at tick 10000) and has room either way before tick must move again.
  const double n = static_cast<double>(nominal);
  const long max_offset = nominal / 10;
  const long offset = std::clamp(std::lround(f * n), -max_offset, max_offset);
  const double rest = f - static_cast<double>(offset) / n;
  const long freq = std::clamp(std::lround(rest * kScaledPerUnit), -kMaxFreqScaled, kMaxFreqScaled);
  return {nominal + offset, freq};
}

timeval step_timeval(double by) {
  double seconds = std::floor(by);
  long nanos = std::lround((by - seconds) * 1e9);
  // by - floor(by) just below 1 can round up to a whole second.
  if (nanos >= 1'000'000'000) {
    seconds += 1;
    nanos -= 1'000'000'000;
  }
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>(nanos);
  return tv;
}

std::unique_ptr<KernelClock> KernelClock::system(Syscalls syscalls, double max_frequency) {
  return std::make_unique<KernelClock>(Kind::kSystem, CLOCK_REALTIME, "system",
                                       std::clamp(max_frequency, 0.0, kSystemMaxFrequency), std::move(syscalls),
                                       nominal_tick());
}

Result<std::unique_ptr<KernelClock>> KernelClock::open_phc(const std::string& path, Syscalls syscalls) {
  // Read-write: clock_adjtime on a dynamic clock needs the descriptor open for writing.
  FdGuard fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (fd.get() < 0) return fail(path + ": cannot open PHC: " + errno_text(errno));
  ptp_clock_caps caps{};
  if (::ioctl(fd.get(), PTP_CLOCK_GETCAPS, &caps) != 0) {
    return fail(path + ": PTP_CLOCK_GETCAPS failed (not a PTP clock?): " + errno_text(errno));
  }
  // max_adj 0 (or nonsense below it): the driver cannot adjust the clock, so it is read-only.
  const double max_frequency = caps.max_adj > 0 ? static_cast<double>(caps.max_adj) * 1e-9 : 0.0;
  auto clock = std::make_unique<KernelClock>(Kind::kPhc, phc_clock_id(fd.get()), path, max_frequency,
                                             std::move(syscalls));
  clock->fd_ = fd.release();
  return clock;
}

KernelClock::KernelClock(Kind kind, clockid_t id, std::string name, double max_frequency, Syscalls syscalls,
                         long nominal_tick)
    : kind_(kind),
      id_(id),
      name_(std::move(name)),
      max_frequency_(max_frequency),
      syscalls_(std::move(syscalls)),
      nominal_tick_(nominal_tick) {}

KernelClock::~KernelClock() {
  if (fd_ >= 0) ::close(fd_);
}

Result<timespec> KernelClock::now() {
  timespec ts{};
  if (syscalls_.gettime(id_, &ts) != 0) return fail(name_ + ": clock_gettime: " + errno_text(errno));
  return ts;
}

Result<timex> KernelClock::read_timex() {
  timex tx{};
  tx.modes = 0;  // read only
  if (syscalls_.adjtime(id_, &tx) < 0) return fail(name_ + ": clock_adjtime (read): " + errno_text(errno));
  return tx;
}

Result<void> KernelClock::adjust(timex& tx, const char* what) {
  // A non-negative return is the clock state (TIME_OK, TIME_INS, ..., TIME_ERROR), not a failure.
  if (syscalls_.adjtime(id_, &tx) < 0) {
    return fail(name_ + ": clock_adjtime (" + what + "): " + errno_text(errno));
  }
  return {};
}

Result<double> KernelClock::frequency() {
  auto tx = read_timex();
  if (!tx) return std::unexpected(tx.error());
  double f = static_cast<double>(tx->freq) / kScaledPerUnit;
  if (kind_ == Kind::kSystem) {
    // The kernel adds tick and freq: each second lasts tick * USER_HZ µs plus freq.
    f += static_cast<double>(tx->tick - nominal_tick_) / static_cast<double>(nominal_tick_);
  }
  return f;
}

Result<void> KernelClock::refuse_if_read_only() const {
  if (read_only()) return fail(name_ + " is read-only (max_adj 0)");
  return {};
}

Result<void> KernelClock::set_frequency(double f) {
  if (auto ok = refuse_if_read_only(); !ok) return ok;
  if (!std::isfinite(f)) return fail(name_ + ": frequency is not a number");
  if (std::abs(f) > max_frequency_) {
    return fail(name_ + ": frequency " + std::to_string(f * 1e6) + " ppm is beyond ±" +
                std::to_string(max_frequency_ * 1e6) + " ppm");
  }
  timex tx{};
  if (kind_ == Kind::kSystem) {
    const FrequencySplit split = split_frequency(f, nominal_tick_);
    // Tick is always written, so a return within freq's range restores the nominal tick.
    tx.modes = ADJ_FREQUENCY | ADJ_TICK;
    tx.tick = split.tick;
    tx.freq = split.freq_scaled;
  } else {
    tx.modes = ADJ_FREQUENCY;
    tx.freq = std::lround(f * kScaledPerUnit);
  }
  return adjust(tx, "frequency");
}

Result<void> KernelClock::step(double by) {
  if (auto ok = refuse_if_read_only(); !ok) return ok;
  if (!std::isfinite(by)) return fail(name_ + ": step is not a number");
  if (std::abs(by) > kMaxStep) return fail(name_ + ": step of " + std::to_string(by) + " s is out of range");
  timex tx{};
  tx.modes = ADJ_SETOFFSET | ADJ_NANO;
  tx.time = step_timeval(by);
  return adjust(tx, "step");
}

Result<void> KernelClock::set_leap(Leap leap) {
  if (kind_ != Kind::kSystem) return fail(name_ + ": leap seconds are the system clock's");
  if (leap == Leap::kUnsynchronized) return fail(name_ + ": an unsynchronized source is no leap second to arm");
  auto current = read_timex();
  if (!current) return std::unexpected(current.error());
  // ADJ_STATUS replaces the whole status word: keep what others (or we) set besides the leap.
  int status = current->status & ~(STA_INS | STA_DEL);
  if (leap == Leap::kInsert) status |= STA_INS;
  if (leap == Leap::kDelete) status |= STA_DEL;
  timex tx{};
  tx.modes = ADJ_STATUS;
  tx.status = status;
  return adjust(tx, "leap");
}

Result<void> KernelClock::set_tai_offset(int seconds) {
  if (kind_ != Kind::kSystem) return fail(name_ + ": the TAI offset is the system clock's");
  // The kernel refuses negative offsets; TAI has been ahead of UTC since 1972.
  if (seconds < 0 || seconds > 1000) return fail(name_ + ": TAI - UTC of " + std::to_string(seconds) + " s is out of range");
  timex tx{};
  tx.modes = ADJ_TAI;
  tx.constant = seconds;
  return adjust(tx, "TAI offset");
}

namespace {

// Seconds to the kernel's microseconds, capped at 16 s as the kernel caps them. Rounded up so a
// bound is never reported smaller than it is.
long error_micros(double seconds) {
  if (seconds * 1e6 >= static_cast<double>(kMaxErrorMicros)) return kMaxErrorMicros;
  return static_cast<long>(std::ceil(seconds * 1e6));
}

}  // namespace

Result<void> KernelClock::set_error_estimate(const ClockErrorEstimate& estimate) {
  // Only the system clock carries an error estimate for applications.
  if (kind_ != Kind::kSystem) return {};
  if (std::isnan(estimate.max_error) || std::isnan(estimate.est_error) || estimate.max_error < 0 ||
      estimate.est_error < 0) {
    return fail(name_ + ": error estimate must be non-negative seconds");
  }
  auto current = read_timex();
  if (!current) return std::unexpected(current.error());
  int status = current->status;
  // We steer the clock ourselves; the kernel PLL must not act on it too.
  status &= ~STA_PLL;
  if (estimate.synchronized) {
    status &= ~STA_UNSYNC;
  } else {
    status |= STA_UNSYNC;
  }
  timex tx{};
  tx.modes = ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS;
  tx.maxerror = error_micros(estimate.max_error);
  tx.esterror = error_micros(estimate.est_error);
  tx.status = status;
  return adjust(tx, "error estimate");
}

}  // namespace kairos
