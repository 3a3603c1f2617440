#include "nts/ke_record.hpp"

#include <string>

namespace kairos {
namespace {

constexpr std::uint16_t kCriticalBit = 0x8000;

// ByteWriter has no explicit "fail" call; asking for one byte more than is left makes its sticky
// overflow flag do the job, so an unencodable record fails the whole message like a full buffer.
void poison(ByteWriter& out) { out.zeros(out.capacity_left() + 1); }

std::string at_offset(std::size_t offset) { return " at offset " + std::to_string(offset); }

}  // namespace

Result<KeRecord> KeRecordReader::next() {
  const std::size_t start = reader_.offset();
  if (reader_.remaining() < kKeRecordHeaderLength) {
    return fail("NTS-KE record header truncated" + at_offset(start) + ": " +
                std::to_string(reader_.remaining()) + " of 4 bytes");
  }
  const std::uint16_t word = *reader_.u16();
  const std::uint16_t length = *reader_.u16();
  KeRecord record;
  record.critical = (word & kCriticalBit) != 0;
  record.type = static_cast<std::uint16_t>(word & kKeMaxRecordType);
  auto body = reader_.bytes(length);
  if (!body) {
    return fail("NTS-KE record type " + std::to_string(record.type) + at_offset(start) + " declares " +
                std::to_string(length) + " body bytes but only " + std::to_string(reader_.remaining()) +
                " remain");
  }
  record.body = *body;
  return record;
}

void write_record(ByteWriter& out, bool critical, std::uint16_t type, ByteView body) {
  if (type > kKeMaxRecordType || body.size() > kKeMaxBodyLength) {
    poison(out);
    return;
  }
  out.u16(static_cast<std::uint16_t>(type | (critical ? kCriticalBit : 0)));
  out.u16(static_cast<std::uint16_t>(body.size()));
  out.bytes(body);
}

void write_u16_list_record(ByteWriter& out, bool critical, std::uint16_t type,
                           std::span<const std::uint16_t> values) {
  const std::size_t body_length = values.size() * 2;
  if (type > kKeMaxRecordType || body_length > kKeMaxBodyLength) {
    poison(out);
    return;
  }
  out.u16(static_cast<std::uint16_t>(type | (critical ? kCriticalBit : 0)));
  out.u16(static_cast<std::uint16_t>(body_length));
  for (std::uint16_t v : values) out.u16(v);
}

void write_u16_record(ByteWriter& out, bool critical, std::uint16_t type, std::uint16_t value) {
  write_u16_list_record(out, critical, type, std::span<const std::uint16_t>(&value, 1));
}

void write_end_of_message(ByteWriter& out) {
  // RFC 8915 §4.1.1: the Critical Bit MUST be set and the body is empty.
  write_record(out, true, kKeEndOfMessage, {});
}

Result<KeMessageScan> scan_message(ByteView received, std::size_t max_message_length) {
  std::size_t pos = 0;
  while (true) {
    if (received.size() - pos < kKeRecordHeaderLength) {
      // A header that cannot fit under the limit will never come: fail now, not at the limit.
      if (pos + kKeRecordHeaderLength > max_message_length) {
        return fail("NTS-KE message exceeds " + std::to_string(max_message_length) + " bytes");
      }
      return KeMessageScan{};
    }
    const auto type = static_cast<std::uint16_t>(((received[pos] << 8) | received[pos + 1]) & kKeMaxRecordType);
    const auto length = static_cast<std::size_t>((received[pos + 2] << 8) | received[pos + 3]);
    const std::size_t end = pos + kKeRecordHeaderLength + length;
    if (end > max_message_length) {
      return fail("NTS-KE message exceeds " + std::to_string(max_message_length) + " bytes (record type " +
                  std::to_string(type) + " at offset " + std::to_string(pos) + " declares " +
                  std::to_string(length) + " body bytes)");
    }
    if (type == kKeEndOfMessage) {
      if (length != 0) {
        return fail("NTS-KE End of Message at offset " + std::to_string(pos) + " has a " +
                    std::to_string(length) + "-byte body; it must be empty (RFC 8915 §4.1.1)");
      }
      return KeMessageScan{true, end};
    }
    if (end > received.size()) return KeMessageScan{};
    pos = end;
  }
}

}  // namespace kairos
