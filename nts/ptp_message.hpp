#pragma once
// PTP (IEEE 1588-2019) message codec: the 34-octet common header (§13.3), the bodies a
// slave-only ordinary clock receives (Announce, Sync, Follow_Up, Delay_Resp) and sends
// (Delay_Req), and Signaling with the unicast negotiation TLVs (§16.1, as G.8265.1 and G.8275.2
// use them). Parsing copies the few fields into plain structs (no pointer into the caller's
// bytes survives the call); bad input is an error value. Builders write through a ByteWriter.
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "clock/result.hpp"
#include "nts/bytes.hpp"

namespace kairos {

inline constexpr std::size_t kPtpHeaderLength = 34;
inline constexpr std::size_t kPtpTimestampLength = 10;     // UInteger48 seconds + UInteger32 ns
inline constexpr std::size_t kPtpPortIdentityLength = 10;  // clockIdentity (8) + portNumber (2)
inline constexpr std::size_t kPtpTlvHeaderLength = 4;      // tlvType (2) + lengthField (2)
// More TLVs than a Signaling message of a unicast client ever carries; the cap bounds the work a
// hostile message can cause.
inline constexpr std::size_t kMaxPtpTlvs = 16;
// UDP ports (Annex C): event messages (Sync, Delay_Req) on 319, general ones on 320.
inline constexpr std::uint16_t kPtpEventPort = 319;
inline constexpr std::uint16_t kPtpGeneralPort = 320;

// messageType (§13.3.2.2, Table 36).
enum class PtpMessageType : std::uint8_t {
  kSync = 0x0,
  kDelayReq = 0x1,
  kPdelayReq = 0x2,
  kPdelayResp = 0x3,
  kFollowUp = 0x8,
  kDelayResp = 0x9,
  kPdelayRespFollowUp = 0xA,
  kAnnounce = 0xB,
  kSignaling = 0xC,
  kManagement = 0xD,
};
const char* to_string(PtpMessageType type);
// Event messages are timestamped on the wire and go to the event port.
bool is_event_message(PtpMessageType type);

// flagField bits (§13.3.2.8, Table 37) as the big-endian u16 they are: octet 0 is the high byte.
namespace ptp_flag {
inline constexpr std::uint16_t kAlternateMaster = 0x0100;
inline constexpr std::uint16_t kTwoStep = 0x0200;
inline constexpr std::uint16_t kUnicast = 0x0400;
inline constexpr std::uint16_t kLeap61 = 0x0001;
inline constexpr std::uint16_t kLeap59 = 0x0002;
inline constexpr std::uint16_t kCurrentUtcOffsetValid = 0x0004;
inline constexpr std::uint16_t kPtpTimescale = 0x0008;
inline constexpr std::uint16_t kTimeTraceable = 0x0010;
inline constexpr std::uint16_t kFrequencyTraceable = 0x0020;
}  // namespace ptp_flag

using ClockIdentity = std::array<std::uint8_t, 8>;

struct PortIdentity {
  ClockIdentity clock{};
  std::uint16_t port = 0;

  auto operator<=>(const PortIdentity&) const = default;
};
// targetPortIdentity meaning "any port of any clock" (§7.5.2.4: all ones).
inline constexpr PortIdentity kAllPorts{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 0xffff};

// A PTP timestamp (§5.3.3): seconds since the PTP epoch (TAI, 1970-01-01 00:00:00 TAI, for the
// PTP timescale; an arbitrary epoch for ARB), 48 bits on the wire, and nanoseconds below 1e9.
struct PtpTimestamp {
  std::uint64_t seconds = 0;
  std::uint32_t nanoseconds = 0;

  auto operator<=>(const PtpTimestamp&) const = default;
};
inline constexpr std::uint64_t kPtpMaxSeconds = (std::uint64_t{1} << 48) - 1;
// Checks the ranges: seconds within 48 bits, nanoseconds below 1e9.
Result<PtpTimestamp> make_ptp_timestamp(std::uint64_t seconds, std::uint32_t nanoseconds);
// a − b in nanoseconds; the seconds of PTP timestamps fit 48 bits, so any difference of two
// does not fit an int64 of nanoseconds only beyond ~292 years: such a pair is an error.
std::optional<std::int64_t> difference_ns(PtpTimestamp a, PtpTimestamp b);

// correctionField and other TimeInterval values: nanoseconds × 2^16 (§5.3.2).
inline double scaled_ns_to_seconds(std::int64_t scaled) { return static_cast<double>(scaled) / 65536.0 * 1e-9; }

// The common header (§13.3, Table 35).
struct PtpHeader {
  std::uint8_t major_sdo_id = 0;  // transportSpecific in 1588-2008; 0 for the default profile
  PtpMessageType type = PtpMessageType::kSync;
  std::uint8_t version = 2;        // versionPTP (major)
  std::uint8_t minor_version = 1;  // minorVersionPTP: 0 from 2008 clocks, 1 from 2019 ones
  std::uint16_t length = 0;        // messageLength: header, body and TLVs
  std::uint8_t domain = 0;
  std::uint8_t minor_sdo_id = 0;
  std::uint16_t flags = 0;
  std::int64_t correction = 0;  // scaled nanoseconds (× 2^16)
  std::uint32_t type_specific = 0;
  PortIdentity source;
  std::uint16_t sequence_id = 0;
  std::uint8_t control = 0;  // controlField, obsolete in 2019 but still written (Table 42)
  std::int8_t log_interval = 0x7f;

  bool flag(std::uint16_t bit) const { return (flags & bit) != 0; }
  bool operator==(const PtpHeader&) const = default;
};

// clockQuality (§5.3.7).
struct ClockQuality {
  std::uint8_t clock_class = 248;
  std::uint8_t clock_accuracy = 0xfe;  // unknown
  std::uint16_t offset_scaled_log_variance = 0xffff;

  auto operator<=>(const ClockQuality&) const = default;
};

// Announce body (§13.5, Table 43).
struct PtpAnnounce {
  PtpTimestamp origin;
  std::int16_t current_utc_offset = 0;  // TAI − UTC (s), meaningful when the header says valid
  std::uint8_t priority1 = 128;
  ClockQuality quality;
  std::uint8_t priority2 = 128;
  ClockIdentity grandmaster{};
  std::uint16_t steps_removed = 0;
  std::uint8_t time_source = 0xa0;  // INTERNAL_OSCILLATOR

  bool operator==(const PtpAnnounce&) const = default;
};

// Delay_Resp body (§13.8, Table 47).
struct PtpDelayResp {
  PtpTimestamp receive;  // t4: when the master received our Delay_Req
  PortIdentity requesting;

  bool operator==(const PtpDelayResp&) const = default;
};

// Signaling TLVs of unicast negotiation (§16.1.4).
enum class PtpTlvType : std::uint16_t {
  kManagement = 0x0001,
  kManagementErrorStatus = 0x0002,
  kOrganizationExtension = 0x0003,
  kRequestUnicastTransmission = 0x0004,
  kGrantUnicastTransmission = 0x0005,
  kCancelUnicastTransmission = 0x0006,
  kAcknowledgeCancelUnicastTransmission = 0x0007,
  kPathTrace = 0x0008,
};

// One unicast negotiation TLV: REQUEST (message type, log interval, duration), GRANT (the same,
// duration 0 meaning denied, and renewalInvited), CANCEL and ACKNOWLEDGE_CANCEL (message type).
struct UnicastTlv {
  PtpTlvType tlv = PtpTlvType::kRequestUnicastTransmission;
  PtpMessageType message = PtpMessageType::kAnnounce;  // the message type negotiated
  std::int8_t log_interval = 0;                        // logInterMessagePeriod
  std::uint32_t duration = 0;                          // durationField (s)
  bool renewal_invited = false;                        // GRANT only

  bool operator==(const UnicastTlv&) const = default;
};

struct PtpSignaling {
  PortIdentity target;
  std::vector<UnicastTlv> tlvs;  // the negotiation TLVs; any other TLV is skipped
  std::size_t skipped_tlvs = 0;
};

// A parsed message: the header and the body its type has. Messages a slave has no use for
// (Pdelay, Management) parse their header only.
struct PtpMessage {
  PtpHeader header;
  PtpTimestamp timestamp;  // originTimestamp (Sync, Delay_Req, Announce), preciseOriginTimestamp (Follow_Up)
  std::optional<PtpAnnounce> announce;
  std::optional<PtpDelayResp> delay_resp;
  std::optional<PtpSignaling> signaling;
};

// Parses one message. `data` may be longer than messageLength (Ethernet padding): the rest is
// ignored (§13.3.2.4); shorter is an error, as is a version other than 2 or a body too short
// for the type.
Result<PtpHeader> parse_ptp_header(ByteView data);
Result<PtpMessage> parse_ptp_message(ByteView data);

// What a slave sends. Each returns the bytes written, or an error if `out` is too small.
struct PtpHeaderFields {
  std::uint8_t domain = 0;
  PortIdentity source;
  std::uint16_t sequence_id = 0;
  bool unicast = false;
  std::uint8_t major_sdo_id = 0;
  std::uint8_t minor_version = 1;
};
// Delay_Req (§13.6): originTimestamp zero is allowed (§11.3.2: the TX timestamp is what counts),
// correction zero, logMessageInterval 0x7f.
Result<std::size_t> build_delay_req(std::span<std::uint8_t> out, const PtpHeaderFields& fields,
                                    PtpTimestamp origin = {});
// Signaling (§13.12) carrying `tlvs` to `target`.
Result<std::size_t> build_signaling(std::span<std::uint8_t> out, const PtpHeaderFields& fields,
                                    const PortIdentity& target, std::span<const UnicastTlv> tlvs);

// The writers of the codec, used by the builders and by tests that play a master.
void write_ptp_header(ByteWriter& writer, const PtpHeader& header);
void write_ptp_timestamp(ByteWriter& writer, PtpTimestamp timestamp);
void write_port_identity(ByteWriter& writer, const PortIdentity& identity);
void write_unicast_tlv(ByteWriter& writer, const UnicastTlv& tlv);
// A whole message from its parsed form (header length recomputed): the fuzz target's round trip
// and the tests' master.
Result<std::size_t> write_ptp_message(std::span<std::uint8_t> out, const PtpMessage& message);

}  // namespace kairos
