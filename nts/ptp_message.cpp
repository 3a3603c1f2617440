#include "nts/ptp_message.hpp"

#include <algorithm>
#include <limits>
#include <string>

namespace kairos {

namespace {

// Body lengths after the common header (§13.4–§13.12).
constexpr std::size_t kTimestampBody = kPtpTimestampLength;                              // Sync, Delay_Req, Follow_Up
constexpr std::size_t kDelayRespBody = kPtpTimestampLength + kPtpPortIdentityLength;     // 20
constexpr std::size_t kAnnounceBody = kPtpTimestampLength + 2 + 1 + 1 + 4 + 1 + 8 + 2 + 1;  // 30
constexpr std::size_t kSignalingBody = kPtpPortIdentityLength;

// Unicast TLV value lengths (§16.1.4.1–4): the 2019 sizes; a longer value is tolerated (the
// extra octets are skipped), a shorter one is an error.
constexpr std::size_t kRequestValue = 6;
constexpr std::size_t kGrantValue = 8;
constexpr std::size_t kCancelValue = 2;

// controlField by message type (Table 42): kept for 2008 receivers that still read it.
std::uint8_t control_field(PtpMessageType type) {
  switch (type) {
    case PtpMessageType::kSync: return 0;
    case PtpMessageType::kDelayReq: return 1;
    case PtpMessageType::kFollowUp: return 2;
    case PtpMessageType::kDelayResp: return 3;
    case PtpMessageType::kManagement: return 4;
    default: return 5;
  }
}

bool known_type(std::uint8_t nibble) {
  switch (nibble) {
    case 0x0: case 0x1: case 0x2: case 0x3: case 0x8: case 0x9: case 0xA: case 0xB: case 0xC: case 0xD:
      return true;
    default:
      return false;
  }
}

Result<PtpTimestamp> read_timestamp(ByteReader& reader) {
  auto high = reader.u16();
  auto low = reader.u32();
  auto ns = reader.u32();
  if (!high || !low || !ns) return fail("PTP timestamp truncated");
  return make_ptp_timestamp((std::uint64_t{*high} << 32) | *low, *ns);
}

std::optional<PortIdentity> read_port_identity(ByteReader& reader) {
  auto clock = reader.bytes(8);
  auto port = reader.u16();
  if (!clock || !port) return std::nullopt;
  PortIdentity identity;
  std::copy(clock->begin(), clock->end(), identity.clock.begin());
  identity.port = *port;
  return identity;
}

Result<UnicastTlv> read_unicast_tlv(PtpTlvType type, ByteView value) {
  ByteReader reader(value);
  UnicastTlv tlv;
  tlv.tlv = type;
  const std::size_t need = type == PtpTlvType::kRequestUnicastTransmission ? kRequestValue
                           : type == PtpTlvType::kGrantUnicastTransmission ? kGrantValue
                                                                           : kCancelValue;
  if (value.size() < need) return fail("unicast negotiation TLV shorter than its fields");
  tlv.message = static_cast<PtpMessageType>(*reader.u8() >> 4);  // high nibble; the low one is reserved
  if (type == PtpTlvType::kRequestUnicastTransmission || type == PtpTlvType::kGrantUnicastTransmission) {
    tlv.log_interval = static_cast<std::int8_t>(*reader.u8());
    tlv.duration = *reader.u32();
  }
  if (type == PtpTlvType::kGrantUnicastTransmission) {
    reader.u8();  // reserved
    tlv.renewal_invited = (*reader.u8() & 0x01) != 0;
  }
  return tlv;
}

Result<PtpSignaling> read_signaling(ByteReader& reader) {
  PtpSignaling signaling;
  auto target = read_port_identity(reader);
  if (!target) return fail("Signaling shorter than its targetPortIdentity");
  signaling.target = *target;
  std::size_t count = 0;
  while (!reader.empty()) {
    if (++count > kMaxPtpTlvs) return fail("Signaling carries more than 16 TLVs");
    auto type = reader.u16();
    auto length = reader.u16();
    if (!type || !length) return fail("TLV header truncated");
    auto value = reader.bytes(*length);
    if (!value) return fail("TLV runs past messageLength");
    switch (static_cast<PtpTlvType>(*type)) {
      case PtpTlvType::kRequestUnicastTransmission:
      case PtpTlvType::kGrantUnicastTransmission:
      case PtpTlvType::kCancelUnicastTransmission:
      case PtpTlvType::kAcknowledgeCancelUnicastTransmission: {
        auto tlv = read_unicast_tlv(static_cast<PtpTlvType>(*type), *value);
        if (!tlv) return std::unexpected(tlv.error());
        signaling.tlvs.push_back(*tlv);
        break;
      }
      default:
        ++signaling.skipped_tlvs;  // §14.1: a TLV a node does not know is ignored
    }
  }
  return signaling;
}

}  // namespace

const char* to_string(PtpMessageType type) {
  switch (type) {
    case PtpMessageType::kSync: return "Sync";
    case PtpMessageType::kDelayReq: return "Delay_Req";
    case PtpMessageType::kPdelayReq: return "Pdelay_Req";
    case PtpMessageType::kPdelayResp: return "Pdelay_Resp";
    case PtpMessageType::kFollowUp: return "Follow_Up";
    case PtpMessageType::kDelayResp: return "Delay_Resp";
    case PtpMessageType::kPdelayRespFollowUp: return "Pdelay_Resp_Follow_Up";
    case PtpMessageType::kAnnounce: return "Announce";
    case PtpMessageType::kSignaling: return "Signaling";
    case PtpMessageType::kManagement: return "Management";
  }
  return "reserved";
}

bool is_event_message(PtpMessageType type) {
  return static_cast<std::uint8_t>(type) < 0x8;
}

Result<PtpTimestamp> make_ptp_timestamp(std::uint64_t seconds, std::uint32_t nanoseconds) {
  if (seconds > kPtpMaxSeconds) return fail("PTP timestamp seconds beyond 48 bits");
  if (nanoseconds >= 1'000'000'000u) return fail("PTP timestamp nanoseconds not below 1e9");
  return PtpTimestamp{seconds, nanoseconds};
}

std::optional<std::int64_t> difference_ns(PtpTimestamp a, PtpTimestamp b) {
  // Both seconds are < 2^48, so their difference fits an int64; its nanoseconds may not.
  const std::int64_t seconds = static_cast<std::int64_t>(a.seconds) - static_cast<std::int64_t>(b.seconds);
  constexpr std::int64_t kLimit = std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1;
  if (seconds > kLimit || seconds < -kLimit) return std::nullopt;
  return seconds * 1'000'000'000 + (static_cast<std::int64_t>(a.nanoseconds) - static_cast<std::int64_t>(b.nanoseconds));
}

Result<PtpHeader> parse_ptp_header(ByteView data) {
  ByteReader reader(data);
  if (data.size() < kPtpHeaderLength) return fail("PTP message shorter than its 34-octet header");
  PtpHeader header;
  const std::uint8_t first = *reader.u8();
  header.major_sdo_id = first >> 4;
  if (!known_type(first & 0x0f)) return fail("reserved PTP messageType " + std::to_string(first & 0x0f));
  header.type = static_cast<PtpMessageType>(first & 0x0f);
  const std::uint8_t version = *reader.u8();
  header.version = version & 0x0f;
  header.minor_version = version >> 4;
  if (header.version != 2) return fail("PTP versionPTP " + std::to_string(header.version) + ", not 2");
  if (header.minor_version > 1) return fail("PTP minorVersionPTP " + std::to_string(header.minor_version) + ", not 0 or 1");
  header.length = *reader.u16();
  if (header.length < kPtpHeaderLength) return fail("PTP messageLength shorter than the header");
  if (header.length > data.size()) return fail("PTP messageLength beyond the received bytes");
  header.domain = *reader.u8();
  header.minor_sdo_id = *reader.u8();
  header.flags = *reader.u16();
  header.correction = static_cast<std::int64_t>(*reader.u64());
  header.type_specific = *reader.u32();
  header.source = *read_port_identity(reader);
  header.sequence_id = *reader.u16();
  header.control = *reader.u8();
  header.log_interval = static_cast<std::int8_t>(*reader.u8());
  return header;
}

Result<PtpMessage> parse_ptp_message(ByteView data) {
  auto header = parse_ptp_header(data);
  if (!header) return std::unexpected(header.error());
  PtpMessage message;
  message.header = *header;
  ByteReader reader(data.subspan(kPtpHeaderLength, header->length - kPtpHeaderLength));
  const char* name = to_string(header->type);
  auto need = [&](std::size_t body) -> Result<void> {
    if (reader.remaining() < body) return fail(std::string(name) + " shorter than its body");
    return {};
  };
  switch (header->type) {
    case PtpMessageType::kSync:
    case PtpMessageType::kDelayReq:
    case PtpMessageType::kFollowUp: {
      if (auto ok = need(kTimestampBody); !ok) return std::unexpected(ok.error());
      auto timestamp = read_timestamp(reader);
      if (!timestamp) return std::unexpected(timestamp.error());
      message.timestamp = *timestamp;
      break;
    }
    case PtpMessageType::kDelayResp: {
      if (auto ok = need(kDelayRespBody); !ok) return std::unexpected(ok.error());
      auto timestamp = read_timestamp(reader);
      if (!timestamp) return std::unexpected(timestamp.error());
      message.delay_resp = PtpDelayResp{*timestamp, *read_port_identity(reader)};
      break;
    }
    case PtpMessageType::kAnnounce: {
      if (auto ok = need(kAnnounceBody); !ok) return std::unexpected(ok.error());
      auto timestamp = read_timestamp(reader);
      if (!timestamp) return std::unexpected(timestamp.error());
      message.timestamp = *timestamp;
      PtpAnnounce announce;
      announce.origin = *timestamp;
      announce.current_utc_offset = static_cast<std::int16_t>(*reader.u16());
      reader.u8();  // reserved
      announce.priority1 = *reader.u8();
      announce.quality.clock_class = *reader.u8();
      announce.quality.clock_accuracy = *reader.u8();
      announce.quality.offset_scaled_log_variance = *reader.u16();
      announce.priority2 = *reader.u8();
      auto gm = *reader.bytes(8);
      std::copy(gm.begin(), gm.end(), announce.grandmaster.begin());
      announce.steps_removed = *reader.u16();
      announce.time_source = *reader.u8();
      message.announce = announce;  // TLVs after it (PATH_TRACE) are not needed by a slave
      break;
    }
    case PtpMessageType::kSignaling: {
      if (auto ok = need(kSignalingBody); !ok) return std::unexpected(ok.error());
      auto signaling = read_signaling(reader);
      if (!signaling) return std::unexpected(signaling.error());
      message.signaling = std::move(*signaling);
      break;
    }
    default:
      break;  // Pdelay and Management: a slave-only E2E clock reads no further
  }
  return message;
}

void write_ptp_timestamp(ByteWriter& writer, PtpTimestamp timestamp) {
  writer.u16(static_cast<std::uint16_t>(timestamp.seconds >> 32));
  writer.u32(static_cast<std::uint32_t>(timestamp.seconds));
  writer.u32(timestamp.nanoseconds);
}

void write_port_identity(ByteWriter& writer, const PortIdentity& identity) {
  writer.bytes(identity.clock);
  writer.u16(identity.port);
}

void write_ptp_header(ByteWriter& writer, const PtpHeader& header) {
  writer.u8(static_cast<std::uint8_t>((header.major_sdo_id << 4) | (static_cast<std::uint8_t>(header.type) & 0x0f)));
  writer.u8(static_cast<std::uint8_t>((header.minor_version << 4) | (header.version & 0x0f)));
  writer.u16(header.length);
  writer.u8(header.domain);
  writer.u8(header.minor_sdo_id);
  writer.u16(header.flags);
  writer.u64(static_cast<std::uint64_t>(header.correction));
  writer.u32(header.type_specific);
  write_port_identity(writer, header.source);
  writer.u16(header.sequence_id);
  writer.u8(header.control);
  writer.u8(static_cast<std::uint8_t>(header.log_interval));
}

void write_unicast_tlv(ByteWriter& writer, const UnicastTlv& tlv) {
  const bool timed = tlv.tlv == PtpTlvType::kRequestUnicastTransmission || tlv.tlv == PtpTlvType::kGrantUnicastTransmission;
  const std::size_t length = tlv.tlv == PtpTlvType::kRequestUnicastTransmission ? kRequestValue
                             : tlv.tlv == PtpTlvType::kGrantUnicastTransmission ? kGrantValue
                                                                                : kCancelValue;
  writer.u16(static_cast<std::uint16_t>(tlv.tlv));
  writer.u16(static_cast<std::uint16_t>(length));
  writer.u8(static_cast<std::uint8_t>(static_cast<std::uint8_t>(tlv.message) << 4));
  if (timed) {
    writer.u8(static_cast<std::uint8_t>(tlv.log_interval));
    writer.u32(tlv.duration);
  } else {
    writer.u8(0);  // reserved
  }
  if (tlv.tlv == PtpTlvType::kGrantUnicastTransmission) {
    writer.u8(0);
    writer.u8(tlv.renewal_invited ? 1 : 0);
  }
}

Result<std::size_t> write_ptp_message(std::span<std::uint8_t> out, const PtpMessage& message) {
  ByteWriter writer(out);
  PtpHeader header = message.header;
  write_ptp_header(writer, header);
  switch (header.type) {
    case PtpMessageType::kSync:
    case PtpMessageType::kDelayReq:
    case PtpMessageType::kFollowUp:
      write_ptp_timestamp(writer, message.timestamp);
      break;
    case PtpMessageType::kDelayResp: {
      const PtpDelayResp body = message.delay_resp.value_or(PtpDelayResp{});
      write_ptp_timestamp(writer, body.receive);
      write_port_identity(writer, body.requesting);
      break;
    }
    case PtpMessageType::kAnnounce: {
      const PtpAnnounce body = message.announce.value_or(PtpAnnounce{});
      write_ptp_timestamp(writer, body.origin);
      writer.u16(static_cast<std::uint16_t>(body.current_utc_offset));
      writer.u8(0);
      writer.u8(body.priority1);
      writer.u8(body.quality.clock_class);
      writer.u8(body.quality.clock_accuracy);
      writer.u16(body.quality.offset_scaled_log_variance);
      writer.u8(body.priority2);
      writer.bytes(body.grandmaster);
      writer.u16(body.steps_removed);
      writer.u8(body.time_source);
      break;
    }
    case PtpMessageType::kSignaling: {
      const PtpSignaling body = message.signaling.value_or(PtpSignaling{});
      write_port_identity(writer, body.target);
      for (const auto& tlv : body.tlvs) write_unicast_tlv(writer, tlv);
      break;
    }
    default:
      break;
  }
  if (!writer.ok()) return fail("PTP message does not fit the buffer");
  if (writer.size() > std::numeric_limits<std::uint16_t>::max()) return fail("PTP message longer than 65535 octets");
  writer.patch_u16(2, static_cast<std::uint16_t>(writer.size()));
  return writer.size();
}

namespace {

PtpHeader slave_header(const PtpHeaderFields& fields, PtpMessageType type) {
  PtpHeader header;
  header.major_sdo_id = fields.major_sdo_id;
  header.type = type;
  header.version = 2;
  header.minor_version = fields.minor_version;
  header.domain = fields.domain;
  header.flags = fields.unicast ? ptp_flag::kUnicast : 0;
  header.source = fields.source;
  header.sequence_id = fields.sequence_id;
  header.control = control_field(type);
  header.log_interval = 0x7f;  // Delay_Req and Signaling carry no interval (Table 42)
  return header;
}

}  // namespace

Result<std::size_t> build_delay_req(std::span<std::uint8_t> out, const PtpHeaderFields& fields, PtpTimestamp origin) {
  PtpMessage message;
  message.header = slave_header(fields, PtpMessageType::kDelayReq);
  message.timestamp = origin;
  return write_ptp_message(out, message);
}

Result<std::size_t> build_signaling(std::span<std::uint8_t> out, const PtpHeaderFields& fields,
                                    const PortIdentity& target, std::span<const UnicastTlv> tlvs) {
  if (tlvs.size() > kMaxPtpTlvs) return fail("more than 16 TLVs in one Signaling message");
  PtpMessage message;
  message.header = slave_header(fields, PtpMessageType::kSignaling);
  message.signaling = PtpSignaling{target, std::vector<UnicastTlv>(tlvs.begin(), tlvs.end()), 0};
  return write_ptp_message(out, message);
}

}  // namespace kairos
