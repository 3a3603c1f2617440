#pragma once
// The writer of the error-bound page (daemon/kairos_shm_layout.h): applications map
// it and learn the time with its bound without asking kairosd (tools/kairos_now/kairos_now.h).
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/clock_graph.hpp"

namespace kairos {

// One clock as published: its model at t0 (see the layout header for the reader's formula).
struct ShmClock {
  std::string name;                 // truncated to 15 bytes
  std::optional<int> phc_index;     // /dev/ptpN; none: CLOCK_REALTIME
  bool synchronized = false;
  bool steered = false;
  bool leap_insert = false;
  bool leap_delete = false;
  std::chrono::steady_clock::time_point t0;  // CLOCK_MONOTONIC in libstdc++ on Linux
  std::chrono::nanoseconds max_age{std::chrono::seconds(3)};
  double offset = 0;     // true time minus the clock's reading at t0 (s)
  double frequency = 0;  // d offset / dt (s/s)
  double bound = std::numeric_limits<double>::infinity();  // half-width at t0 (s)
  double drift = 0;      // bound growth (s/s)
};

struct ShmOptions {
  double max_drift = 1e-6;  // s/s the model's rate may be wrong by besides its own uncertainty
  double max_slew = 500e-6; // s/s: the largest slew rate, for a steered clock whose rate is unknown
  std::chrono::nanoseconds max_age{std::chrono::seconds(3)};
};

// The system clock's record from the graph's status taken at t0. `kernel_frequency` is the
// frequency the kernel applies to CLOCK_REALTIME now (adjtimex read), needed when steering.
ShmClock shm_clock_from_status(const ClockStatus& status, std::optional<double> kernel_frequency,
                               const ShmOptions& options, std::chrono::steady_clock::time_point t0);

class ShmWriter {
 public:
  // Creates (or takes over) the page at `path`, its directory made 0755 if missing, the file
  // 0644, and publishes an empty page.
  static Result<std::unique_ptr<ShmWriter>> create(const std::string& path);
  ShmWriter(const ShmWriter&) = delete;
  ShmWriter& operator=(const ShmWriter&) = delete;
  // Leaves every record unsynchronized and unbounded: the page outlives the daemon, and a
  // reader must not keep trusting a bound nobody maintains.
  ~ShmWriter();

  // Replaces the records (at most KAIROS_SHM_MAX_CLOCKS).
  Result<void> publish(std::span<const ShmClock> clocks);
  const std::string& path() const { return path_; }

 private:
  ShmWriter(std::string path, void* map);
  void write_page(std::span<const ShmClock> clocks);

  std::string path_;
  void* map_;
  std::vector<ShmClock> last_;
};

}  // namespace kairos
