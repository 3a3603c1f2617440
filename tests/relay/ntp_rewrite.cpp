#include "ntp_rewrite.hpp"

namespace kairos::relay {
namespace {

constexpr std::size_t kReceiveAt = 32;
constexpr std::size_t kTransmitAt = 40;
constexpr std::uint8_t kServerMode = 4;

NtpTimestamp read_timestamp(std::span<const std::uint8_t> at) {
  std::uint64_t raw = 0;
  for (std::size_t i = 0; i < 8; ++i) raw = (raw << 8) | at[i];
  return NtpTimestamp::from_raw(raw);
}

void write_timestamp(std::span<std::uint8_t> at, NtpTimestamp t) {
  std::uint64_t raw = t.raw();
  for (std::size_t i = 8; i-- > 0;) {
    at[i] = static_cast<std::uint8_t>(raw & 0xff);
    raw >>= 8;
  }
}

void shift(std::span<std::uint8_t> at, Duration by) { write_timestamp(at, read_timestamp(at) + by); }

}  // namespace

bool shift_server_timestamps(std::span<std::uint8_t> packet, Duration by) {
  if (packet.size() < kNtpHeaderSize || (packet[0] & 0x07) != kServerMode) return false;
  shift(packet.subspan(kReceiveAt, 8), by);
  shift(packet.subspan(kTransmitAt, 8), by);
  return true;
}

bool set_leap_indicator(std::span<std::uint8_t> packet, unsigned li) {
  if (packet.size() < kNtpHeaderSize || (packet[0] & 0x07) != kServerMode) return false;
  packet[0] = static_cast<std::uint8_t>((packet[0] & 0x3f) | ((li & 3u) << 6));
  return true;
}

}  // namespace kairos::relay
