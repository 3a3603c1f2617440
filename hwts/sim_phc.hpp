#pragma once
// A simulated PTP hardware clock behind PhcSyscalls: PhcDevice runs on it unchanged in unit
// tests and in the simulator. Two SimClocks stand for the system clock and the PHC; true time
// comes from the caller. It answers open, close, the PTP ioctls (caps and every cross-timestamp
// method), clock_gettime and clock_adjtime, and can inject the faults real devices show: EBUSY,
// removal, a reset to 1970, methods the driver lacks. It never reaches a real clock or device:
// every clock id and descriptor it does not know fails.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "clock/sim_clock.hpp"
#include "hwts/cross_timestamp.hpp"
#include "hwts/phc_device.hpp"

namespace kairos {

struct SimPhcOptions {
  std::string path = "/dev/ptp0";
  int max_adj = 500'000;  // ppb, as PTP_CLOCK_GETCAPS reports it; 0: a read-only clock
  bool precise = false;   // the driver offers PTP_SYS_OFFSET_PRECISE (caps.cross_timestamping)
  bool precise_in_caps = true;  // ...and says so in its caps (clknetsim's PHCs do not)
  bool refuse_adjustment = false;  // clock_adjtime with modes set fails with EINVAL (a read-only PHC)
  // One reading: system at the cursor, the PHC latched readout_delay / 2 plus an exponential
  // jitter later, system again as much later; the next reading starts reading_gap after that.
  double readout_delay = 1e-6;
  double readout_jitter = 100e-9;  // mean of each half's exponential jitter
  double reading_gap = 1e-6;
  double raw_start = 1000.0;  // CLOCK_MONOTONIC_RAW at true time 0 (an ideal raw clock)
  std::uint64_t seed = 1;     // for the jitter, unless the caller lends its own generator
};

class SimPhc {
 public:
  // `true_time` never goes backwards. With `rng` the jitter is drawn from the caller's generator
  // (the simulator's one seeded stream), otherwise from our own seeded one.
  SimPhc(SimClock& system, SimClock& phc, std::function<double()> true_time, SimPhcOptions options = {},
         std::mt19937_64* rng = nullptr);
  // The syscalls refer to this object: it stays where it is.
  SimPhc(const SimPhc&) = delete;
  SimPhc& operator=(const SimPhc&) = delete;

  PhcSyscalls syscalls();

  // Faults.
  void busy_for(int calls) { busy_ = calls; }  // the next `calls` cross-timestamp ioctls: EBUSY
  void remove();   // unplugged: descriptors answer ENODEV, open ENOENT
  void restore();  // plugged in again: open works, the old descriptors stay dead (as in Linux)
  void reset_at(double true_time) { reset_at_ = true_time; }  // the PHC restarts at 1970 then
  void refuse(CrossMethod method) { refused_[index(method)] = true; }  // EOPNOTSUPP from then on
  void refuse_adjustment() { options_.refuse_adjustment = true; }     // EINVAL to every change from then on

  // What happened.
  double cursor() const { return cursor_; }  // true time just after the last reading
  int calls(CrossMethod method) const { return calls_[index(method)]; }
  int open_descriptors() const { return static_cast<int>(fds_.size()); }
  int last_open_flags() const { return last_open_flags_; }

 private:
  struct Descriptor {
    int flags = 0;
    int generation = 0;
  };
  static std::size_t index(CrossMethod m) { return static_cast<std::size_t>(m); }

  int open(const char* path, int flags);
  int close(int fd);
  int ioctl(int fd, unsigned long request, void* arg);
  int gettime(clockid_t id, timespec* ts);
  int adjtime(clockid_t id, timex* tx);

  // Brings the cursor up to true time and applies a due reset; returns the cursor.
  double enter();
  double jitter();
  // errno for a descriptor: 0 when it is open and its device is present.
  int check(int fd) const;
  // The descriptor behind a dynamic clock id, or -1.
  int fd_of(clockid_t id) const;
  timespec system_at(double t);
  timespec phc_at(double t);
  int fill_caps(void* arg) const;
  int precise(void* arg);
  int extended(void* arg);
  int basic(void* arg);
  int adjust(SimClock& clock, bool is_phc, timex* tx);

  SimClock& system_;
  SimClock& phc_;
  std::function<double()> true_time_;
  SimPhcOptions options_;
  std::mt19937_64 own_rng_;
  std::mt19937_64* rng_;
  double cursor_ = 0;
  std::map<int, Descriptor> fds_;
  int next_fd_ = 1000;  // far above what tests open for real, and never passed to a real call
  int generation_ = 0;
  bool present_ = true;
  int busy_ = 0;
  std::optional<double> reset_at_;
  std::array<bool, kCrossMethodCount> refused_{};
  std::array<int, kCrossMethodCount> calls_{};
  int last_open_flags_ = -1;
};

}  // namespace kairos
