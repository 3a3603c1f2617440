#pragma once
// A slave-only ordinary clock's PTP port (IEEE 1588-2019 §9.2) as a sans-IO state machine, the
// shape of the NTP association: the daemon hands it events (a received message with its receive
// timestamp, the TX timestamp of a Delay_Req it sent, a timer firing, always with "now") and it
// answers with actions (send these bytes there, arm this timer, here is a measurement, the state
// changed). It owns no socket and reads no clock.
//
// Timestamps (t1..t4) are PtpTimestamps in the port's timescale: the master's (TAI with the PTP
// timescale) for t1 and t4, our clock's for t2 and t3 as the daemon stamped them. "now" is the
// daemon's monotonic seconds, used for timers and qualification only.
#include <array>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <random>
#include <string>
#include <variant>
#include <vector>

#include "nts/ptp_bmca.hpp"
#include "nts/ptp_message.hpp"

namespace kairos {

enum class PtpPortState { kListening, kUncalibrated, kSlave, kFaulty };
const char* to_string(PtpPortState state);

struct PtpPortConfig {
  PortIdentity identity;  // ours: clockIdentity from the NIC's MAC (EUI-64), port 1
  std::uint8_t domain = 0;
  std::uint8_t major_sdo_id = 0;
  int announce_receipt_timeout = 3;      // announceReceiptTimeout, in the master's intervals
  std::size_t foreign_master_threshold = 2;
  double foreign_master_window = 4;      // in announce intervals
  std::int8_t log_min_delay_req_interval = 0;  // until a Delay_Resp tells the master's
  double fault_reset = 16;               // s in FAULTY before listening again
  std::uint32_t random_seed = 1;         // Delay_Req spacing; fixed in tests
  // Unicast negotiation (G.8265.1 / G.8275.2): with addresses, Announce is requested from each,
  // Sync and Delay_Resp from the master the BMCA chose; without, everything is multicast.
  std::vector<std::string> unicast_masters;
  std::int8_t unicast_log_announce = 1;
  std::int8_t unicast_log_sync = 0;
  std::int8_t unicast_log_delay_resp = 0;
  std::uint32_t unicast_duration = 300;  // s asked for in each request
  double unicast_retry_min = 1;          // s after a denial or an unanswered request, doubling
  double unicast_retry_max = 64;
};

enum class PtpTimer : std::uint8_t { kAnnounceReceipt, kDelayRequest, kUnicast, kFaultReset };
inline constexpr std::size_t kPtpTimerCount = 4;
const char* to_string(PtpTimer timer);

// Send `bytes` to the address (empty: the PTP multicast group of the transport) on the event
// port (319) when `event`, else the general port (320). A Delay_Req's TX timestamp is to be given
// back with its sequence id.
struct PtpSend {
  std::vector<std::uint8_t> bytes;
  PtpMessageType type = PtpMessageType::kDelayReq;
  bool event = false;
  std::string address;
  std::uint16_t sequence_id = 0;
};
// Arm (replace) the one timer of this kind to fire at `at` (monotonic s); nullopt disarms it.
struct PtpArmTimer {
  PtpTimer timer = PtpTimer::kAnnounceReceipt;
  std::optional<double> at;
};

// The master as its last Announce described it: what the daemon needs to show it, to pick a
// timescale and to turn TAI into UTC.
struct PtpMasterInfo {
  PortIdentity port;
  std::string address;
  std::uint8_t domain = 0;
  ClockIdentity grandmaster{};
  std::uint8_t priority1 = 128;
  std::uint8_t priority2 = 128;
  ClockQuality quality;
  std::uint16_t steps_removed = 0;
  std::uint8_t time_source = 0;
  std::int16_t current_utc_offset = 0;  // TAI − UTC (s)
  bool current_utc_offset_valid = false;
  bool ptp_timescale = false;  // true: TAI since the PTP epoch; false: ARB
  bool leap61 = false;         // the last minute of this UTC day has 61 s
  bool leap59 = false;
  bool time_traceable = false;
  bool frequency_traceable = false;
};

// One offset measurement: a Sync (t1 master TX, t2 our RX) with the path delay of the last
// Delay_Req exchange (t3 our TX, t4 master RX) measured against the Sync before it. The same
// four timestamps NTP has, so the daemon reduces it the same way.
struct PtpMeasurement {
  double time = 0;  // now when the Sync completed
  PtpTimestamp t1, t2, t3, t4;
  std::int64_t sync_correction = 0;   // scaled ns: Sync (+ Follow_Up) correctionField
  std::int64_t delay_correction = 0;  // scaled ns: Delay_Resp correctionField
  double mean_path_delay = 0;         // s, from the delay exchange
  double offset = 0;                  // master minus us (s), NTP's sign: t1 + c1 + delay − t2
  double delay = 0;                   // round trip, 2 × mean path delay (s)
  double delay_age = 0;               // s between the delay exchange and this Sync
  // sd of one direction's delay (s), from the spread of the recent delay exchanges: a Sync's own
  // one-way delay is never measured, so its queueing is noise the offset carries unseen. Each
  // exchange's mean path delay averages two one-way delays, hence √2 × their sd.
  double delay_spread = 0;
  PtpMasterInfo master;
};

struct PtpStateChange {
  PtpPortState from = PtpPortState::kListening;
  PtpPortState to = PtpPortState::kListening;
  std::string reason;
};

using PtpAction = std::variant<PtpSend, PtpArmTimer, PtpMeasurement, PtpStateChange>;
using PtpActions = std::vector<PtpAction>;

struct PtpPortCounters {
  std::uint64_t received = 0;
  std::uint64_t malformed = 0;        // failed to parse
  std::uint64_t wrong_domain = 0;
  std::uint64_t not_from_master = 0;  // Sync, Follow_Up, Delay_Resp from anyone but our master
  std::uint64_t unmatched = 0;        // Follow_Up or Delay_Resp with nothing to match, or not for us
  std::uint64_t measurements = 0;
  std::uint64_t lost_follow_ups = 0;  // a two-step Sync replaced before its Follow_Up came
  std::uint64_t lost_delay_resps = 0; // a Delay_Req replaced before its answer came
  std::uint64_t announce_timeouts = 0;
  std::uint64_t master_changes = 0;
  std::uint64_t grants = 0;
  std::uint64_t denials = 0;
  std::uint64_t cancels = 0;
};

// One negotiated stream of a unicast master (§16.1): when to ask again and until when it flows.
struct UnicastGrant {
  PtpMessageType message = PtpMessageType::kAnnounce;
  bool wanted = false;        // Announce always; Sync and Delay_Resp from the chosen master only
  double due = 0;             // when the next request goes out
  double granted_until = 0;   // 0: not granted
  std::int8_t log_interval = 0;  // the granted logInterMessagePeriod
  double backoff = 0;         // s before a retry after a denial or silence
};
struct UnicastMaster {
  std::string address;
  std::array<UnicastGrant, 3> grants;  // Announce, Sync, Delay_Resp
};

class PtpPort {
 public:
  explicit PtpPort(PtpPortConfig config);

  // The first actions: timers, and in unicast mode the Announce requests.
  PtpActions start(double now);
  // A received message. `rx` is its receive timestamp, needed for Sync (event messages); `from`
  // is the sender's address as text (kept for unicast replies).
  PtpActions on_message(ByteView bytes, std::optional<PtpTimestamp> rx, const std::string& from, double now);
  // The TX timestamp of the Delay_Req sent with `sequence_id` (t3).
  PtpActions on_tx_timestamp(std::uint16_t sequence_id, PtpTimestamp tx, double now);
  // A timer the port armed; one fired early or after it was replaced is ignored.
  PtpActions on_timer(PtpTimer timer, double now);
  // The daemon cannot send or receive (socket error, interface down): FAULTY for fault_reset.
  PtpActions on_fault(const std::string& reason, double now);

  PtpPortState state() const { return state_; }
  const PtpPortCounters& counters() const { return counters_; }
  // The master the port follows (UNCALIBRATED or SLAVE), or none.
  std::optional<PtpMasterInfo> master() const;
  const ForeignMasters& foreign_masters() const { return foreign_; }
  const std::vector<UnicastMaster>& unicast_masters() const { return unicast_; }
  std::optional<double> timer_deadline(PtpTimer timer) const { return deadlines_[static_cast<std::size_t>(timer)]; }

 private:
  struct SyncHalf {  // t1 + c1 and t2 of one Sync
    std::uint16_t sequence_id = 0;
    PtpTimestamp t1, t2;
    std::int64_t correction = 0;
    bool have_t1 = false;
    bool have_t2 = false;
    double time = 0;
  };
  struct DelayExchange {
    std::uint16_t sequence_id = 0;
    SyncHalf sync;  // the Sync before the Delay_Req went out
    std::optional<PtpTimestamp> t3;
    std::optional<PtpTimestamp> t4;
    std::int64_t correction = 0;
    double sent = 0;
  };
  struct PathDelay {
    double mean = 0;  // s
    double spread = 0;  // sd of one way's delay (s), PtpMeasurement::delay_spread
    PtpTimestamp t3, t4;
    std::int64_t correction = 0;
    double time = 0;
  };

  void on_announce(const PtpMessage& message, const std::string& from, double now, PtpActions& out);
  void on_sync(const PtpMessage& message, PtpTimestamp rx, double now, PtpActions& out);
  void on_follow_up(const PtpMessage& message, double now, PtpActions& out);
  void on_delay_resp(const PtpMessage& message, double now);
  void on_signaling(const PtpMessage& message, const std::string& from, double now, PtpActions& out);
  void complete_sync(const SyncHalf& sync, double now, PtpActions& out);
  void complete_delay(double now);
  void send_delay_req(double now, PtpActions& out);
  void decide(double now, PtpActions& out);
  void follow(const ForeignMaster& master, double now, PtpActions& out);
  void lose_master(const std::string& reason, double now, PtpActions& out);
  void reset_exchanges();
  void set_state(PtpPortState to, const std::string& reason, PtpActions& out);
  void arm(PtpTimer timer, std::optional<double> at, PtpActions& out);
  void arm_announce_receipt(PtpActions& out);
  double delay_req_interval();
  bool from_master(const PtpHeader& header) const;
  PtpHeaderFields header_fields(std::uint16_t sequence_id) const;

  // Unicast negotiation.
  bool unicast() const { return !unicast_.empty(); }
  UnicastMaster* unicast_master(const std::string& address);
  void want_streams(const std::string& address, bool wanted, double now, PtpActions& out);
  void send_requests(double now, PtpActions& out);
  void send_signaling(const std::string& address, std::span<const UnicastTlv> tlvs, PtpActions& out);
  void arm_unicast(PtpActions& out);

  PtpPortConfig config_;
  PtpPortState state_ = PtpPortState::kListening;
  ForeignMasters foreign_;
  std::optional<PortIdentity> master_;
  std::optional<PtpMasterInfo> master_info_;
  std::optional<SyncHalf> pending_sync_;       // a two-step Sync awaiting its Follow_Up, or the reverse
  std::optional<SyncHalf> last_sync_;          // the last complete Sync
  std::optional<DelayExchange> pending_delay_;
  std::optional<PathDelay> path_delay_;  // its mean: the median of recent_delays_
  static constexpr std::size_t kDelayWindow = 9;
  std::deque<double> recent_delays_;      // the last exchanges' mean path delays (s)
  // The last Syncs, for our clock's rate against the master's over their span: enough of them
  // that the Syncs' queueing (ns over seconds) leaves the rate's share of a path delay far
  // under a nanosecond.
  static constexpr std::size_t kRateSyncs = 16;
  static constexpr double kMaxRate = 1e-3;  // beyond any clock's frequency and slew together
  std::deque<SyncHalf> recent_syncs_;
  // Our clock's rate minus the master's (s/s) over recent_syncs_; 0 until two.
  double rate() const;
  // The same between two Syncs, a before b; nullopt when they span no time.
  static std::optional<double> drift_between(const SyncHalf& a, const SyncHalf& b);
  std::int8_t log_min_delay_req_interval_;
  std::uint16_t next_delay_req_sequence_ = 0;
  std::uint16_t next_signaling_sequence_ = 0;
  std::vector<UnicastMaster> unicast_;
  std::array<std::optional<double>, kPtpTimerCount> deadlines_{};
  std::mt19937 random_;
  PtpPortCounters counters_;
};

}  // namespace kairos
