#include "nts/ntp_packet.hpp"

#include <cstdio>
#include <string>

namespace kairos {
namespace {

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", static_cast<unsigned>(v));
  return buf;
}

// The longest a single extension field can be: its length is a u16 and a multiple of 4.
constexpr std::size_t kMaxExtensionFieldLength = 0xfffc;

// A ByteWriter has no way to be told a write is invalid; asking for more room than is left is
// the one way to make it fail, with nothing written and the failure sticky.
void poison(ByteWriter& out) { out.zeros(out.capacity_left() + 1); }

// The remainder after the header or a field that RFC 7822 §7.5 reads as a MAC: a bare key id
// (crypto-NAK), or a key id with a 128-bit (MD5) or 160-bit (SHA-1) digest.
bool is_mac_length(std::size_t remaining) { return remaining == 4 || remaining == 20 || remaining == 24; }

LegacyMac read_mac(ByteReader& reader) {
  LegacyMac mac;
  mac.key_id = *reader.u32();
  mac.digest = reader.rest();
  return mac;
}

Result<ExtensionField> read_extension_field(ByteReader& reader, std::size_t min_length, std::size_t base_offset) {
  const std::size_t offset = base_offset + reader.offset();
  const std::size_t remaining = reader.remaining();
  if (remaining < kExtensionFieldHeaderLength) {
    return fail(std::to_string(remaining) + " trailing bytes at offset " + std::to_string(offset) +
                ": too short for an extension field");
  }
  ExtensionField field;
  field.offset = offset;
  field.type = *reader.u16();
  const std::size_t length = *reader.u16();
  // Only failures pay for the message: this runs for every field of every packet a server gets.
  auto what = [&] { return "extension field " + hex16(field.type) + " at offset " + std::to_string(offset); };
  if (length < min_length) {
    return fail(what() + ": length " + std::to_string(length) + " is below the minimum " + std::to_string(min_length));
  }
  if (length % 4 != 0) return fail(what() + ": length " + std::to_string(length) + " is not a multiple of 4");
  auto body = reader.bytes(length - kExtensionFieldHeaderLength);
  if (!body) {
    return fail(what() + ": length " + std::to_string(length) + " runs past the end (" + std::to_string(remaining) +
                " bytes left)");
  }
  field.body = *body;
  return field;
}

}  // namespace

std::optional<std::uint32_t> kiss_code(const NtpHeader& header) {
  if (header.stratum != 0) return std::nullopt;
  return header.reference_id;
}

Result<NtpHeader> parse_ntp_header(ByteView packet) {
  if (packet.size() < kNtpHeaderLength) {
    return fail("NTP packet truncated: " + std::to_string(packet.size()) + " bytes, the header needs " +
                std::to_string(kNtpHeaderLength));
  }
  ByteReader reader(packet);
  NtpHeader h;
  const std::uint8_t first = *reader.u8();
  h.leap = static_cast<NtpLeap>(first >> 6);
  h.version = static_cast<std::uint8_t>((first >> 3) & 7);
  h.mode = static_cast<NtpMode>(first & 7);
  h.stratum = *reader.u8();
  h.poll = static_cast<std::int8_t>(*reader.u8());
  h.precision = static_cast<std::int8_t>(*reader.u8());
  h.root_delay = NtpShort::from_raw(*reader.u32());
  h.root_dispersion = NtpShort::from_raw(*reader.u32());
  h.reference_id = *reader.u32();
  h.reference_time = NtpTimestamp::from_raw(*reader.u64());
  h.origin_time = NtpTimestamp::from_raw(*reader.u64());
  h.receive_time = NtpTimestamp::from_raw(*reader.u64());
  h.transmit_time = NtpTimestamp::from_raw(*reader.u64());
  return h;
}

Result<NtpPacketView> parse_ntp_packet(ByteView packet) {
  auto header = parse_ntp_header(packet);
  if (!header) return std::unexpected(header.error());
  NtpPacketView view;
  view.header = *header;
  ByteReader reader(packet.subspan(kNtpHeaderLength));
  while (!reader.empty()) {
    if (is_mac_length(reader.remaining())) {
      view.mac = read_mac(reader);
      break;
    }
    auto field = read_extension_field(reader, kMinExtensionFieldLength, kNtpHeaderLength);
    if (!field) return std::unexpected(field.error());
    if (!view.fields.push(*field)) {
      return fail("more than " + std::to_string(kMaxExtensionFields) + " extension fields in one packet");
    }
  }
  return view;
}

Result<ExtensionFieldList> parse_extension_fields(ByteView data, std::size_t min_length, std::size_t base_offset) {
  ExtensionFieldList fields;
  ByteReader reader(data);
  while (!reader.empty()) {
    auto field = read_extension_field(reader, min_length, base_offset);
    if (!field) return std::unexpected(field.error());
    if (!fields.push(*field)) {
      return fail("more than " + std::to_string(kMaxExtensionFields) + " extension fields in one run");
    }
  }
  return fields;
}

void write_ntp_header(ByteWriter& out, const NtpHeader& h) {
  out.u8(static_cast<std::uint8_t>((static_cast<unsigned>(h.leap) & 3) << 6 | (h.version & 7u) << 3 |
                                   (static_cast<unsigned>(h.mode) & 7)));
  out.u8(h.stratum);
  out.u8(static_cast<std::uint8_t>(h.poll));
  out.u8(static_cast<std::uint8_t>(h.precision));
  out.u32(h.root_delay.raw());
  out.u32(h.root_dispersion.raw());
  out.u32(h.reference_id);
  out.u64(h.reference_time.raw());
  out.u64(h.origin_time.raw());
  out.u64(h.receive_time.raw());
  out.u64(h.transmit_time.raw());
}

std::size_t begin_extension_field(ByteWriter& out, std::uint16_t type) {
  const std::size_t start = out.size();
  out.u16(type);
  out.u16(0);  // filled in by end_extension_field
  return start;
}

void end_extension_field(ByteWriter& out, std::size_t start, std::size_t min_length) {
  if (!out.ok() || out.size() < start + kExtensionFieldHeaderLength) {
    poison(out);
    return;
  }
  std::size_t length = out.size() - start;
  std::size_t padding = padding_to_word(length);
  if (length + padding < min_length) padding = min_length - length + padding_to_word(min_length);
  length += padding;
  if (length > kMaxExtensionFieldLength) {
    poison(out);
    return;
  }
  out.zeros(padding);
  out.patch_u16(start + 2, static_cast<std::uint16_t>(length));
}

void write_extension_field(ByteWriter& out, std::uint16_t type, ByteView value, std::size_t min_length) {
  if (value.size() > kMaxExtensionFieldLength - kExtensionFieldHeaderLength) {
    poison(out);
    return;
  }
  const std::size_t start = begin_extension_field(out, type);
  out.bytes(value);
  end_extension_field(out, start, min_length);
}

void write_legacy_mac(ByteWriter& out, const LegacyMac& mac) {
  out.u32(mac.key_id);
  out.bytes(mac.digest);
}

void write_ntp_packet(ByteWriter& out, const NtpPacketView& packet) {
  write_ntp_header(out, packet.header);
  for (const ExtensionField& field : packet.fields) {
    // The body already holds its padding, so no minimum is imposed: the bytes come back as read.
    const std::size_t start = begin_extension_field(out, field.type);
    out.bytes(field.body);
    end_extension_field(out, start, kExtensionFieldHeaderLength);
  }
  if (packet.mac) write_legacy_mac(out, *packet.mac);
}

std::string reference_id_text(const NtpHeader& h) {
  const std::uint32_t id = h.reference_id;
  if (h.stratum <= 1) {
    std::string s;
    bool printable = true;
    for (int shift = 24; shift >= 0; shift -= 8) {
      const char c = static_cast<char>((id >> shift) & 0xff);
      if (c == 0) break;
      printable = printable && c >= 0x20 && c < 0x7f;
      s += c;
    }
    if (printable && !s.empty()) return s;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", id >> 24, (id >> 16) & 0xff, (id >> 8) & 0xff, id & 0xff);
  return buf;
}

}  // namespace kairos
