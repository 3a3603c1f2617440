#pragma once
// Linux clocks behind ClockDevice: the system clock (CLOCK_REALTIME) and PTP hardware clocks
// (/dev/ptpN, through their dynamic clock id). Every syscall goes through injected functions so
// tests run against a fake kernel and never steer the machine's clock.
#include <sys/timex.h>

#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "clock/clock_device.hpp"

namespace kairos {

// The kernel's ADJ_FREQUENCY limit: ±500 ppm, in scaled ppm (ppm with a 16-bit fraction).
inline constexpr long kMaxFreqScaled = 500L << 16;
// The system clock's reach through tick: the kernel takes tick within ±10 % of nominal.
inline constexpr double kSystemMaxFrequency = 0.1;
// The kernel's cap on maxerror/esterror (NTP_PHASE_LIMIT): 16 s, in microseconds.
inline constexpr long kMaxErrorMicros = 16'000'000;

// The clock id of an open PHC descriptor (the kernel's FD_TO_CLOCKID).
constexpr clockid_t phc_clock_id(int fd) { return static_cast<clockid_t>((~fd << 3) | 3); }

// Microseconds per USER_HZ tick: what `tick` holds when the system clock is not adjusted
// through it (10000 at USER_HZ 100).
long nominal_tick();

struct FrequencySplit {
  long tick = 0;         // µs per USER_HZ tick
  long freq_scaled = 0;  // scaled ppm
};

// Splits a fractional frequency for the system clock into tick and freq: freq alone while it
// fits in ±500 ppm; beyond that the tick nearest to f and freq the rest (at most half a tick
// step). The caller has checked that f is finite and within ±10 %.
FrequencySplit split_frequency(double f, long nominal_tick);

// A step of `by` seconds as ADJ_SETOFFSET | ADJ_NANO wants it: tv_usec holds nanoseconds in
// [0, 1e9) and tv_sec carries the sign, so -0.3 s is {-1, 700000000}. The caller has checked
// that `by` is finite and fits a time_t.
timeval step_timeval(double by);

using AdjtimeFn = std::function<int(clockid_t, timex*)>;
using ClockGettimeFn = std::function<int(clockid_t, timespec*)>;

// The kernel a KernelClock talks to; tests pass a fake one. (At namespace scope: a nested
// struct's default member initializers cannot serve a default argument of its own class.)
struct KernelSyscalls {
  AdjtimeFn adjtime = ::clock_adjtime;
  ClockGettimeFn gettime = ::clock_gettime;
};

class KernelClock final : public ClockDevice {
 public:
  using Syscalls = KernelSyscalls;

  enum class Kind {
    kSystem,  // CLOCK_REALTIME: tick, leap seconds and the error estimate are its own
    kPhc,     // a PTP hardware clock: frequency and steps only
  };

  // The system clock; max_frequency() is `max_frequency` (kairosd: [clock.system] max-drift),
  // at most 10 % (the kernel's tick range): set_frequency refuses more, so no path of ours can
  // hand the kernel a larger adjustment through ADJ_TICK.
  static std::unique_ptr<KernelClock> system(Syscalls syscalls = {}, double max_frequency = kSystemMaxFrequency);
  // A PHC device such as /dev/ptp0, held open for the clock's lifetime; max_frequency() from
  // its PTP_CLOCK_GETCAPS max_adj. A driver with max_adj 0 cannot adjust its clock: the clock is
  // read-only and set_frequency and step say so.
  static Result<std::unique_ptr<KernelClock>> open_phc(const std::string& path, Syscalls syscalls = {});

  // The factories end here; public so that tests can build a clock of either kind on a fake
  // kernel (and hwts/PhcDevice one over its own descriptor). nominal_tick matters only to the
  // system clock; a PHC with max_frequency 0 is read-only.
  KernelClock(Kind kind, clockid_t id, std::string name, double max_frequency, Syscalls syscalls,
              long nominal_tick = 10'000);
  ~KernelClock() override;
  KernelClock(const KernelClock&) = delete;
  KernelClock& operator=(const KernelClock&) = delete;

  std::string name() const override { return name_; }
  Result<timespec> now() override;
  Result<double> frequency() override;
  Result<void> set_frequency(double f) override;
  Result<void> step(double by) override;
  Result<void> set_leap(Leap leap) override;
  // ADJ_TAI (the system clock only): the kernel's CLOCK_TAI offset.
  Result<void> set_tai_offset(int seconds) override;
  Result<void> set_error_estimate(const ClockErrorEstimate& estimate) override;
  double max_frequency() const override { return max_frequency_; }

  Kind kind() const { return kind_; }
  bool read_only() const { return kind_ == Kind::kPhc && max_frequency_ <= 0; }
  clockid_t id() const { return id_; }

 private:
  Result<timex> read_timex();
  Result<void> adjust(timex& tx, const char* what);
  Result<void> refuse_if_read_only() const;

  Kind kind_;
  clockid_t id_;
  std::string name_;
  double max_frequency_;
  Syscalls syscalls_;
  long nominal_tick_;
  int fd_ = -1;  // the PHC device open_phc opened; closed with the clock
};

}  // namespace kairos
