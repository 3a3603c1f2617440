#pragma once
// A PTP source: the IO shell around the sans-IO port (nts/ptp_port.hpp). It owns the port's two
// sockets (daemon/ptp_socket.hpp) and its timers on the event loop, turns what arrives into the
// port's events and carries out the port's actions; each measurement goes to the clock model in
// UTC. Software (kernel) stamps, on the system clock: a PTP source is a source of the system
// clock, as an NTP one is.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "clock/measurement.hpp"
#include "daemon/event_loop.hpp"
#include "daemon/ptp_socket.hpp"
#include "nts/ptp_port.hpp"

namespace kairos {

// How the master's time becomes UTC. The PTP timescale is TAI: its currentUtcOffset (or the
// leap-seconds list's TAI − UTC) is taken off. ARB masters (ptp4l -S grandmasters keep the system
// clock's UTC and announce no PTP timescale) are taken as they are.
enum class PtpTimescale { kAuto, kTai, kUtc };
Result<PtpTimescale> parse_ptp_timescale(const std::string& text);
const char* to_string(PtpTimescale timescale);

struct PtpSourceOptions {
  std::string name;       // as the sources list shows it ("ptp:eth0" when empty)
  std::string interface;  // the NIC the port runs on (multicast: required)
  std::uint8_t domain = 0;
  std::vector<std::string> unicast_masters;  // addresses of the transport; empty: multicast
  PtpTimescale timescale = PtpTimescale::kAuto;
  PtpTransport transport = PtpTransport::kUdpV4;
  std::uint16_t event_port = kPtpEventPort;  // other ports for tests only
  std::uint16_t general_port = kPtpGeneralPort;
  bool loop = false;  // receive our own multicast (tests with master and port on one host)
};

// Why a measurement was not given to the model.
struct PtpSourceCounters {
  std::uint64_t measurements = 0;          // given to the model
  std::uint64_t no_utc_offset = 0;         // a TAI master, and TAI − UTC unknown
  std::uint64_t utc_offset_mismatch = 0;   // the master's currentUtcOffset disagrees with the list
  std::uint64_t daemon_stamps = 0;         // a stamp the kernel did not give, read in user space
  std::uint64_t io_errors = 0;
};

class PtpSource {
 public:
  // The measurement in UTC, on the model's time axis (`now`, monotonic seconds).
  using MeasurementCallback = std::function<void(const PtpSource&, const Measurement&)>;
  // TAI − UTC as the leap-seconds list gives it now, if it is known and valid.
  using TaiOffset = std::function<std::optional<int>()>;

  // Opens the sockets; the port starts at start().
  static Result<std::unique_ptr<PtpSource>> open(EventLoop& loop, PtpSourceOptions options, std::function<double()> now,
                                                 MeasurementCallback on_measurement, TaiOffset tai_offset = {});
  PtpSource(const PtpSource&) = delete;
  PtpSource& operator=(const PtpSource&) = delete;
  // Its sockets unwatched and closed, its timers cancelled.
  ~PtpSource();

  void start();
  const std::string& name() const { return options_.name; }
  const PtpSourceOptions& options() const { return options_; }
  const PtpPort& port() const { return port_; }
  const PtpSourceCounters& counters() const { return counters_; }
  // The last measurement given to the model (UTC offset, master − us), if any.
  const std::optional<Measurement>& last() const { return last_; }
  // TAI − UTC the last measurement was corrected by (0 for UTC/ARB masters).
  int utc_offset_used() const { return utc_offset_used_; }

 private:
  PtpSource(EventLoop& loop, PtpSourceOptions options, PtpSocket socket, PortIdentity identity,
            std::function<double()> now, MeasurementCallback on_measurement, TaiOffset tai_offset);
  void readable(PtpChannel channel);
  void execute(PtpActions actions);
  void send(const PtpSend& send);
  void arm(const PtpArmTimer& timer);
  void measured(const PtpMeasurement& measurement);
  // TAI − UTC to take off this master's time: nullopt when it cannot be known.
  std::optional<int> utc_offset(const PtpMasterInfo& master);

  EventLoop& loop_;
  PtpSourceOptions options_;
  PtpSocket socket_;
  PtpPort port_;
  std::function<double()> now_;
  MeasurementCallback on_measurement_;
  TaiOffset tai_offset_;
  std::array<std::optional<EventLoop::TimerId>, kPtpTimerCount> timers_{};
  // Who stamped the last Sync's arrival and the last Delay_Req's departure: the measurement's
  // precision comes from them (stamp_precision, as for NTP samples).
  StampSource rx_source_ = StampSource::kDaemon;
  StampSource tx_source_ = StampSource::kDaemon;
  PtpSourceCounters counters_;
  std::optional<Measurement> last_;
  int utc_offset_used_ = 0;
  bool warned_no_offset_ = false;
  bool warned_mismatch_ = false;
};

// The port's clock identity from the NIC's MAC (EUI-48 → EUI-64 with FF FE in the middle, as
// IEEE 1588-2019 §7.5.2.2.2 allows); a NIC without one (loopback) gets a random identity.
PortIdentity ptp_identity_for(const std::string& interface);

}  // namespace kairos
