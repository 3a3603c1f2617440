#include "hwts/phc_device.hpp"

#include <fcntl.h>
#include <linux/ptp_clock.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace kairos {
namespace {

// Scaled ppm (ppm with a 16-bit binary fraction) per ppb.
constexpr double kScaledPerPpb = 65.536;

std::string errno_text(int error) { return std::strerror(error); }

bool means_unsupported(int error) { return error == EOPNOTSUPP || error == EINVAL || error == ENOTTY; }
bool means_gone(int error) { return error == ENODEV || error == ENXIO; }

}  // namespace

int PhcSyscalls::default_open(const char* path, int flags) { return ::open(path, flags); }
int PhcSyscalls::default_close(int fd) { return ::close(fd); }
int PhcSyscalls::default_ioctl(int fd, unsigned long request, void* arg) { return ::ioctl(fd, request, arg); }

struct PhcDevice::Attempt {
  int error = 0;         // errno of the failed call; 0: `readings` holds the result
  bool invalid = false;  // the driver returned a time with nanoseconds out of range
  std::vector<CrossReading> readings;
};

PhcDevice::Handle::~Handle() {
  if (fd >= 0) syscalls.close(fd);
}

Result<PhcDevice> PhcDevice::open(const std::string& path, PhcSyscalls syscalls, PhcAccess access) {
  // Read-only unless asked: a status tool must never hold a clock it could steer.
  const int flags = (access == PhcAccess::kReadWrite ? O_RDWR : O_RDONLY) | O_CLOEXEC;
  const int fd = syscalls.open(path.c_str(), flags);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || means_gone(error)) return fail(path + ": no such device (" + errno_text(error) + ")");
    if (error == EACCES || error == EPERM) {
      return fail(path + ": permission denied (" +
                  std::string(access == PhcAccess::kReadWrite ? "steering needs write access" : "reading") + ")");
    }
    return fail(path + ": cannot open PHC: " + errno_text(error));
  }
  auto handle = std::make_shared<Handle>(fd, std::move(syscalls));
  ptp_clock_caps raw{};
  if (handle->syscalls.ioctl(fd, PTP_CLOCK_GETCAPS, &raw) != 0) {
    return fail(path + ": PTP_CLOCK_GETCAPS failed (not a PTP clock?): " + errno_text(errno));
  }
  PhcCaps caps{.max_adj = raw.max_adj > 0 ? raw.max_adj : 0,
               .n_alarm = raw.n_alarm,
               .n_ext_ts = raw.n_ext_ts,
               .n_per_out = raw.n_per_out,
               .pps = raw.pps != 0,
               .n_pins = raw.n_pins,
               .cross_timestamping = raw.cross_timestamping != 0,
               .adjust_phase = raw.adjust_phase != 0,
               // Kernels from 6.2 put max_phase_adj in the first reserved word; older ones
               // leave it zero, which reads as "unknown" here.
               .max_phase_adj = raw.rsv[0]};
  return PhcDevice(path, std::move(handle), caps, access);
}

PhcDevice::PhcDevice(std::string path, std::shared_ptr<Handle> handle, PhcCaps caps, PhcAccess access)
    : path_(std::move(path)), handle_(std::move(handle)), caps_(caps), access_(access) {}

clockid_t PhcDevice::clock_id() const { return phc_clock_id(handle_->fd); }

namespace {

// A driver's ptp_clock_time as a timespec; false when its nanoseconds are out of range.
bool to_timespec(const ptp_clock_time& t, timespec& out) {
  if (t.nsec >= 1'000'000'000u) return false;
  out.tv_sec = static_cast<time_t>(t.sec);
  out.tv_nsec = static_cast<long>(t.nsec);
  return true;
}

}  // namespace

PhcDevice::Attempt PhcDevice::attempt(CrossMethod method, int readings, clockid_t system_clock) {
  Attempt a;
  PhcSyscalls& sys = handle_->syscalls;
  const int fd = handle_->fd;
  const auto count = static_cast<std::size_t>(readings);
  auto failed_with = [](int error) {
    Attempt failed;
    failed.error = error;
    return failed;
  };
  auto add = [&a](const ptp_clock_time& before, const ptp_clock_time& phc, const ptp_clock_time& after) {
    CrossReading r;
    if (!to_timespec(before, r.system_before) || !to_timespec(phc, r.phc) || !to_timespec(after, r.system_after)) {
      a.invalid = true;
    }
    a.readings.push_back(r);
  };
  switch (method) {
    case CrossMethod::kPrecise: {
      ptp_sys_offset_precise p{};
      if (sys.ioctl(fd, PTP_SYS_OFFSET_PRECISE, &p) != 0) return failed_with(errno);
      // One exact pair: the hardware latched both clocks at once, so there is nothing to choose.
      const ptp_clock_time& system = system_clock == CLOCK_MONOTONIC_RAW ? p.sys_monoraw : p.sys_realtime;
      add(system, p.device, system);
      break;
    }
    case CrossMethod::kExtended: {
      ptp_sys_offset_extended e{};
      e.n_samples = static_cast<unsigned>(readings);
      if (sys.ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &e) != 0) return failed_with(errno);
      for (std::size_t i = 0; i < count; ++i) add(e.ts[i][0], e.ts[i][1], e.ts[i][2]);
      break;
    }
    case CrossMethod::kBasic: {
      // 2n + 1 stamps, system and PHC alternating, system first and last: neighbouring readings
      // share their system stamps.
      ptp_sys_offset b{};
      b.n_samples = static_cast<unsigned>(readings);
      if (sys.ioctl(fd, PTP_SYS_OFFSET, &b) != 0) return failed_with(errno);
      for (std::size_t i = 0; i < count; ++i) add(b.ts[2 * i], b.ts[2 * i + 1], b.ts[2 * i + 2]);
      break;
    }
    case CrossMethod::kSandwich: {
      for (std::size_t i = 0; i < count; ++i) {
        CrossReading r;
        if (sys.gettime(system_clock, &r.system_before) != 0 || sys.gettime(clock_id(), &r.phc) != 0 ||
            sys.gettime(system_clock, &r.system_after) != 0) {
          return failed_with(errno);
        }
        a.readings.push_back(r);
      }
      break;
    }
  }
  return a;
}

PhcDevice::Attempt PhcDevice::attempt_with_retry(CrossMethod method, int readings, clockid_t system_clock) {
  Attempt a = attempt(method, readings, system_clock);
  // EBUSY: another reader holds the device (some drivers serialise access to their registers).
  // Once more at once; a second EBUSY goes back to the caller, whose next poll is the retry.
  if (a.error == EBUSY) a = attempt(method, readings, system_clock);
  return a;
}

std::string PhcDevice::describe(int error) const { return path_ + ": " + errno_text(error); }

Result<CrossTimestamp> PhcDevice::read_by(std::initializer_list<CrossMethod> methods, int readings,
                                          clockid_t system_clock) {
  if (gone_) return fail(path_ + ": the device is gone; open it again once it is back");
  if (readings < 1 || readings > PTP_MAX_SAMPLES) {
    return fail(path_ + ": readings per cross-timestamp must be 1.." + std::to_string(PTP_MAX_SAMPLES));
  }
  for (CrossMethod method : methods) {
    auto& unsupported = unsupported_[static_cast<std::size_t>(method)];
    if (unsupported) continue;
    // PRECISE is tried whatever the caps' cross_timestamping flag says: some drivers and
    // simulators serve it without setting the flag; one that cannot answers EOPNOTSUPP once.
    const Attempt a = attempt_with_retry(method, readings, system_clock);
    const std::string what = " (" + std::string(to_string(method)) + " cross-timestamp)";
    if (a.error == 0) {
      if (a.invalid) return fail(path_ + ": the driver returned a time with nanoseconds out of range" + what);
      return best_cross_timestamp(a.readings, method);
    }
    if (means_unsupported(a.error)) {
      unsupported = true;
      continue;
    }
    if (a.error == EBUSY) return fail(path_ + ": device busy twice in a row" + what + "; try again");
    if (means_gone(a.error)) {
      gone_ = true;
      return fail(path_ + ": the device is gone (" + errno_text(a.error) + ")" + what);
    }
    return fail(describe(a.error) + what);
  }
  return fail(path_ + ": no cross-timestamp method works on this device");
}

Result<CrossTimestamp> PhcDevice::cross_timestamp(int readings) {
  return read_by({CrossMethod::kPrecise, CrossMethod::kExtended, CrossMethod::kBasic, CrossMethod::kSandwich},
                 readings, CLOCK_REALTIME);
}

Result<CrossTimestamp> PhcDevice::read_offset_to(clockid_t system_clock, int readings) {
  if (system_clock == CLOCK_REALTIME) return cross_timestamp(readings);
  // EXTENDED and basic read CLOCK_REALTIME only (on the kernels we build against); PRECISE also
  // reports the raw monotonic clock.
  if (system_clock == CLOCK_MONOTONIC_RAW) {
    return read_by({CrossMethod::kPrecise, CrossMethod::kSandwich}, readings, system_clock);
  }
  return read_by({CrossMethod::kSandwich}, readings, system_clock);
}

Result<double> PhcDevice::frequency_ppb() {
  if (gone_) return fail(path_ + ": the device is gone; open it again once it is back");
  timex tx{};
  tx.modes = 0;  // read only
  if (handle_->syscalls.adjtime(clock_id(), &tx) < 0) {
    const int error = errno;
    if (means_gone(error)) {
      gone_ = true;
      return fail(path_ + ": the device is gone (" + errno_text(error) + ")");
    }
    if (error == EACCES) {
      // Kernels before the read-only clock_adjtime fix want write access even to read.
      return fail(path_ + ": this kernel wants the device open for writing to read its frequency (EACCES)");
    }
    return fail(path_ + ": clock_adjtime (read): " + errno_text(error));
  }
  return static_cast<double>(tx.freq) / kScaledPerPpb;
}

Result<void> PhcDevice::check_adjustable() {
  if (access_ != PhcAccess::kReadWrite) return fail(path_ + ": opened read-only");
  if (caps_.max_adj == 0) return fail(path_ + ": its driver allows no frequency adjustment (max_adj 0)");
  timex tx{};
  if (handle_->syscalls.adjtime(clock_id(), &tx) < 0) return fail(path_ + ": clock_adjtime (read): " + errno_text(errno));
  const long frequency = tx.freq;
  tx = timex{};
  tx.modes = ADJ_FREQUENCY;
  tx.freq = frequency;
  if (handle_->syscalls.adjtime(clock_id(), &tx) < 0) {
    return fail(path_ + ": refuses adjustment: clock_adjtime (frequency): " + errno_text(errno));
  }
  return {};
}

Result<std::unique_ptr<ClockDevice>> PhcDevice::clock() const {
  if (access_ != PhcAccess::kReadWrite) {
    return fail(path_ + ": opened read-only; steering the PHC needs it opened read-write");
  }
  // The lambdas hold the descriptor open for as long as the clock lives.
  std::shared_ptr<Handle> handle = handle_;
  KernelSyscalls calls{
      .adjtime = [handle](clockid_t id, timex* tx) { return handle->syscalls.adjtime(id, tx); },
      .gettime = [handle](clockid_t id, timespec* ts) { return handle->syscalls.gettime(id, ts); },
  };
  return std::make_unique<KernelClock>(KernelClock::Kind::kPhc, clock_id(), path_,
                                       static_cast<double>(caps_.max_adj) * 1e-9, std::move(calls));
}

std::unique_ptr<ClockDevice> PhcDevice::read_only_clock() const {
  std::shared_ptr<Handle> handle = handle_;
  KernelSyscalls calls{
      .adjtime =
          [handle](clockid_t id, timex* tx) {
            if (tx->modes != 0) {
              errno = EPERM;
              return -1;
            }
            return handle->syscalls.adjtime(id, tx);
          },
      .gettime = [handle](clockid_t id, timespec* ts) { return handle->syscalls.gettime(id, ts); },
  };
  return std::make_unique<KernelClock>(KernelClock::Kind::kPhc, clock_id(), path_,
                                       static_cast<double>(caps_.max_adj) * 1e-9, std::move(calls));
}

}  // namespace kairos
