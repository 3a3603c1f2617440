#pragma once
// A simulated world: our oscillator(s), the network to each server, the servers' clocks and the
// faults, read from a TOML file (tools/sim/scenarios/NAME.toml). All times in seconds of true
// time from the start of the run; all rates fractional (1e-6 = 1 ppm).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"

namespace kairos::sim {

// One-way delay: base + exponential(mean) jitter, and with some probability an extra spike of
// spike_base + exponential(spike_mean).
struct DelayModel {
  double base = 100e-6;
  double jitter_mean = 0;
  double spike_probability = 0;
  double spike_base = 0;
  double spike_mean = 0;
};

struct TemperatureStep {
  double at = 0;      // true time of the step
  double change = 0;  // added to the oscillator's frequency
};

struct OscillatorModel {
  double frequency = 100e-6;    // initial frequency error of the free-running clock
  double random_walk = 1e-9;    // frequency random walk, per sqrt(second), updated every second
  double initial_offset = 0.1;  // clock minus true time at the start
  std::vector<TemperatureStep> temperature_steps;
  // A thermostat's square wave: every square_half_period seconds the frequency steps by
  // square_change, up and down in turn (0: none).
  double square_half_period = 0;
  double square_change = 0;
  double ramp = 0;     // frequency change per second (s/s per s), for the whole run
  // Flicker-like frequency wander: the sum of four Gauss-Markov processes with time constants a
  // decade apart (10 s .. 10^4 s), each with this sd (fractional), gives about 1/f over them.
  double flicker = 0;
};

// A stretch of true time: [start, start + duration).
struct Interval {
  double start = 0;
  double duration = 0;
  bool contains(double t) const { return t >= start && t < start + duration; }
};

struct ServerModel {
  DelayModel up;                // client -> server
  DelayModel down;              // server -> client
  double loss = 0;              // probability that a packet is lost, each way
  double offset = 0;            // server clock minus true time (a falseticker when large)
  std::optional<double> step_at;  // the server's clock steps by step_by at this time
  double step_by = 0;
  double processing = 10e-6;    // server's t3 - t2 (software TX stamp); 0 with hardware stamps
  double root_delay = 0;        // what the server announces (s)
  double root_dispersion = 0;
  bool trusted = false;
  bool required = false;
  // NTS (RFC 8915): the client runs kairosd's NTS-KE client against kairosd's NTS-KE server
  // (tools/sim/sim_nts.hpp) and every exchange carries the NTS fields, checked by the server's
  // responder with its key ring.
  bool nts = false;
  std::optional<double> new_keys_at;  // the server restarts with new cookie keys: old cookies NAK
  std::optional<Interval> ke_down;    // NTS-KE unreachable: each attempt times out
  std::optional<Interval> rate_kiss;  // every request is answered with a RATE kiss
};

enum class Timestamping { kSoftware, kHardware };

// With hardware timestamping the NTP timestamps are taken by the NIC's PHC, which the model
// disciplines to UTC; the system clock follows the PHC through cross-timestamps.
struct PhcModel {
  OscillatorModel oscillator;     // the PHC's own oscillator
  double readout_delay = 1e-6;    // system-PHC-system reading window
  double readout_jitter = 100e-9; // exponential jitter of each half of the window
  int readings = 10;              // readings per cross-timestamp (the shortest window is used)
  double interval = 1.0;          // seconds between cross-timestamps
};

struct LossBurst {
  double start = 0;
  double duration = 0;
  double probability = 1.0;  // of each packet, every source, both ways
};

struct LeapEvent {
  double at = 0;          // true time of the end of the UTC day (the inserted second starts here)
  bool insert = true;
  double announce = 3600; // servers announce it this long before
};

struct ForeignStep {
  double at = 0;  // someone else steps our system clock...
  double by = 0;  // ...by this much
};

enum class StepMode { kStartOnly, kAlways, kNever };

// Numbers a run is judged against ([target]). Absent numbers are not judged. Comparisons with
// other daemons come only from running them (tests/clknetsim/), never from numbers typed here.
struct Expectations {
  std::optional<double> rms_offset;
  std::optional<double> max_offset;
  std::optional<double> sd_offset;
  std::optional<double> time_to_sync;
  std::optional<double> bound_coverage;      // fraction of seconds inside 4 estimate sd
  std::optional<double> max_error_coverage;  // fraction of seconds inside the maximum error
  // The association's counts over the run (all sources): at most this many.
  std::optional<double> max_naks;
  std::optional<double> max_nts_ke;  // NTS-KE attempts, ok or failed
  std::optional<double> max_kisses;
};

// The polling is kairosd's association core's (daemon/source_core.hpp): poll and max-poll are
// its minpoll and maxpoll, as powers of two (rounded), and between them the poll follows the
// model's feedback and the server's RATE kisses. Its initial burst is fixed (iburst: 4 exchanges
// 2 s apart): initial-burst = 0 turns it off, any other count turns it on, and burst-interval is
// not used any more.
struct ClientModel {
  double poll = 16;               // seconds between exchanges with each server (minpoll)
  std::optional<double> max_poll; // the longest poll (maxpoll); unset: poll
  int initial_burst = 4;          // > 0: iburst
  double burst_interval = 2;
  Timestamping timestamping = Timestamping::kSoftware;
  double timestamp_precision = 20e-9;  // random error of each local/server timestamp (uniform ±p/2)
  bool interleaved = false;       // server's t3 is its (hardware) transmit timestamp
  StepMode step_mode = StepMode::kStartOnly;
  double step_threshold = 0.01;
  double max_slew = 500e-6;
};

struct Scenario {
  std::string name;
  std::string description;
  double duration = 4 * 3600.0;
  double settle = 1800;           // statistics are taken after this
  OscillatorModel clock;          // the system clock's oscillator
  std::optional<PhcModel> phc;    // present when timestamping is hardware
  ClientModel client;
  std::vector<ServerModel> servers;
  std::vector<LossBurst> loss_bursts;
  std::optional<LeapEvent> leap;
  std::optional<ForeignStep> foreign_step;
  Expectations target;   // what kairos should reach (the kalman servo)
};

// Parses a scenario; every problem is reported with its line ("line 12: ..."), all of them at
// once. When source_name ends in ".toml" the scenario's name must be that file's stem (a missing
// name takes it), so a table row can always be traced to its file.
Result<Scenario> parse_scenario(std::string_view toml_text, std::string_view source_name = "scenario");
Result<Scenario> load_scenario(const std::string& path);

}  // namespace kairos::sim
