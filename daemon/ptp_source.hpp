#pragma once
// A PTP source: the IO shell around the sans-IO port (nts/ptp_port.hpp). It owns the port's two
// sockets (daemon/ptp_socket.hpp) and its timers on the event loop, turns what arrives into the
// port's events and carries out the port's actions; each measurement goes to the clock model in
// UTC. Kernel (software) stamps are the system clock's. On an [[interface]] whose hardware stamps
// kairosd uses (`hardware`), Sync arrivals and Delay_Req departures are stamped by the NIC in its
// PHC's time, as NTP's are: the measurement is then of that PHC (the clock graph disciplines it,
// or carries it to the system clock through the PHC's line). Only hardware pairs are used then:
// a message the NIC did not stamp is not mixed with the system clock's time.
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
  // The interfaces whose hardware stamps are used, with their corrections (as NTP sources get
  // them); empty or refusing `interface`: kernel stamps.
  HardwareInterfaces hardware;
};

// Why a measurement was not given to the model.
struct PtpSourceCounters {
  std::uint64_t measurements = 0;          // given to the model
  std::uint64_t no_utc_offset = 0;         // a TAI master, and TAI − UTC unknown
  std::uint64_t utc_offset_mismatch = 0;   // the master's currentUtcOffset disagrees with the list
  std::uint64_t daemon_stamps = 0;         // a stamp the kernel did not give, read in user space
  std::uint64_t missing_hardware = 0;      // hardware mode: a Sync or Delay_Req the NIC did not stamp
  std::uint64_t io_errors = 0;
};

class PtpSource {
 public:
  // The measurement in UTC, on the model's time axis (`now`, monotonic seconds): master minus the
  // system clock (`phc_ifindex` 0), or minus that NIC's PHC (hardware stamps).
  using MeasurementCallback = std::function<void(const PtpSource&, const Measurement&, int phc_ifindex)>;
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
  // The NIC whose PHC stamps this port's event messages; 0: kernel stamps on the system clock.
  int phc_ifindex() const { return phc_ifindex_; }
  // The last measurement given to the model (UTC offset, master − us), if any.
  const std::optional<Measurement>& last() const { return last_; }
  // TAI − UTC the last measurement was corrected by (0 for UTC/ARB masters).
  int utc_offset_used() const { return utc_offset_used_; }

 private:
  PtpSource(EventLoop& loop, PtpSourceOptions options, PtpSocket socket, PortIdentity identity,
            std::function<double()> now, MeasurementCallback on_measurement, TaiOffset tai_offset, int phc_ifindex);
  // The stamp of an event message (received, or sent): the NIC's, with the interface's
  // compensation, in hardware mode, nullopt when it gave none; else the kernel's, or the daemon's
  // reading `fallback` (none: now).
  std::optional<PacketStamp> event_stamp(const std::optional<timespec>& software, const std::optional<timespec>& hardware,
                                         bool receive, std::optional<timespec> fallback);
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
  int phc_ifindex_ = 0;
  bool warned_no_offset_ = false;
  bool warned_mismatch_ = false;
};

// What a NIC's hardware stamp of a PTP event message is corrected by: only the operator's
// compensation of the NIC's fixed delays. IEEE 1588 stamps every event message where its frame
// starts, at the master as here, and Sync and Delay_Req are frames of one length: the trailer
// correction NTP's stamps take (hwts/stamp_correction.hpp) would make the path look asymmetric by
// half a frame's time on the wire (clknetsim showed it: a 3.6 ns bias at 100 Gb/s).
double ptp_stamp_correction(const StampCorrection& correction, bool receive);

// The port's clock identity from the NIC's MAC (EUI-48 → EUI-64 with FF FE in the middle, as
// IEEE 1588-2019 §7.5.2.2.2 allows); a NIC without one (loopback) gets a random identity.
PortIdentity ptp_identity_for(const std::string& interface);

}  // namespace kairos
