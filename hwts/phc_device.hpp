#pragma once
// A PTP hardware clock device (/dev/ptpN): its capabilities, cross-timestamps against the system
// clock by the best method the driver offers, its frequency, and a ClockDevice to steer it.
// Every syscall goes through PhcSyscalls, so tests and the simulator run it on SimPhc.
#include <sys/timex.h>

#include <array>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "clock/clock_device.hpp"
#include "hwts/linux_clock.hpp"
#include "clock/result.hpp"
#include "hwts/cross_timestamp.hpp"

namespace kairos {

// The kernel a PhcDevice talks to. Failures return -1 with errno set, as the real calls do.
struct PhcSyscalls {
  std::function<int(const char* path, int flags)> open = default_open;
  std::function<int(int fd)> close = default_close;
  std::function<int(int fd, unsigned long request, void* arg)> ioctl = default_ioctl;
  ClockGettimeFn gettime = ::clock_gettime;
  AdjtimeFn adjtime = ::clock_adjtime;

  static int default_open(const char* path, int flags);
  static int default_close(int fd);
  static int default_ioctl(int fd, unsigned long request, void* arg);
};

// PTP_CLOCK_GETCAPS. Older kernels lack the later fields; they read zero.
struct PhcCaps {
  int max_adj = 0;  // ppb; 0: the clock cannot be adjusted
  int n_alarm = 0;
  int n_ext_ts = 0;
  int n_per_out = 0;
  bool pps = false;
  int n_pins = 0;
  bool cross_timestamping = false;  // PTP_SYS_OFFSET_PRECISE is offered
  bool adjust_phase = false;
  int max_phase_adj = 0;  // ns (kernel 6.2 and later)
};

enum class PhcAccess {
  kReadOnly,   // reading only: what phcstat uses, never enough to steer
  kReadWrite,  // clock_adjtime with modes needs the descriptor open for writing
};

class PhcDevice {
 public:
  // Opens the device and reads its caps.
  static Result<PhcDevice> open(const std::string& path, PhcSyscalls syscalls = {},
                                PhcAccess access = PhcAccess::kReadOnly);

  PhcDevice(PhcDevice&&) noexcept = default;
  PhcDevice& operator=(PhcDevice&&) noexcept = default;
  PhcDevice(const PhcDevice&) = delete;
  PhcDevice& operator=(const PhcDevice&) = delete;
  ~PhcDevice() = default;

  const std::string& path() const { return path_; }
  const PhcCaps& caps() const { return caps_; }
  PhcAccess access() const { return access_; }
  clockid_t clock_id() const;
  // The device went away (ENODEV/ENXIO: unplugged, driver unbound). Nothing on this descriptor
  // works again; open the device anew when it is back.
  bool gone() const { return gone_; }
  bool supports(CrossMethod method) const { return !unsupported_[static_cast<std::size_t>(method)]; }

  // PHC against CLOCK_REALTIME: best of `readings` (1..25) by the best method that works. A method
  // the driver refuses (EOPNOTSUPP, EINVAL, ENOTTY) is never tried again; EBUSY is retried once
  // and then reported as transient.
  Result<CrossTimestamp> cross_timestamp(int readings = 9);
  // PHC against another system clock, such as CLOCK_MONOTONIC_RAW for phcstat: PRECISE gives
  // the raw monotonic time itself, otherwise a clock_gettime sandwich. CLOCK_REALTIME is
  // cross_timestamp().
  Result<CrossTimestamp> read_offset_to(clockid_t system_clock, int readings = 9);
  // The frequency adjustment in effect (clock_adjtime with modes 0), in ppb.
  Result<double> frequency_ppb();
  // A ClockDevice over this device's clock id: frequency within ±max_adj, steps by
  // ADJ_SETOFFSET, read-only when max_adj is 0. It keeps the descriptor open on its own, so it may
  // outlive this object. Refused on a device opened read-only: steering needs write access.
  Result<std::unique_ptr<ClockDevice>> clock() const;
  // Whether clock_adjtime may change this clock: its frequency is read and written back as it
  // was (nothing moves). Fails with the reason when the driver refuses (EINVAL, EPERM, EOPNOTSUPP:
  // a PHC exposed read-only, a clock a simulator keeps fixed), or the device was opened read-only.
  Result<void> check_adjustable();
  // A ClockDevice that only reads this clock (the base of an observed clock when kairosd only
  // observes): every adjustment is refused before it reaches the kernel, whatever the access.
  std::unique_ptr<ClockDevice> read_only_clock() const;

 private:
  // The descriptor and the calls that go with it, shared with the clocks handed out.
  struct Handle {
    int fd = -1;
    PhcSyscalls syscalls;
    Handle(int f, PhcSyscalls s) : fd(f), syscalls(std::move(s)) {}
    Handle(const Handle&) = delete;
    Handle& operator=(const Handle&) = delete;
    ~Handle();
  };
  // How one method's attempt ended: readings, or the errno it failed with.
  struct Attempt;

  PhcDevice(std::string path, std::shared_ptr<Handle> handle, PhcCaps caps, PhcAccess access);
  Attempt attempt(CrossMethod method, int readings, clockid_t system_clock);
  Attempt attempt_with_retry(CrossMethod method, int readings, clockid_t system_clock);
  Result<CrossTimestamp> read_by(std::initializer_list<CrossMethod> methods, int readings, clockid_t system_clock);
  std::string describe(int error) const;

  std::string path_;
  std::shared_ptr<Handle> handle_;
  PhcCaps caps_;
  PhcAccess access_;
  bool gone_ = false;
  std::array<bool, kCrossMethodCount> unsupported_{};
};

}  // namespace kairos
