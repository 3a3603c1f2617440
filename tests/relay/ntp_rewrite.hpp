#pragma once
// The lying server: an NTP response whose clock reads `by` later than the truth. Only the
// server's receive and transmit timestamps move (RFC 5905 §7.3: T2 at bytes 32-39, T3 at 40-47);
// the origin timestamp stays, so a plain NTP client still matches the answer to its request and
// believes the lie, while NTS authentication covers those bytes and must fail.
#include <cstdint>
#include <span>

#include "clock/ntp_time.hpp"

namespace kairos::relay {

inline constexpr std::size_t kNtpHeaderSize = 48;

// Shifts T2 and T3 of a server-mode (4) NTP packet by `by`; returns false and leaves other
// packets (too short, another mode) untouched.
bool shift_server_timestamps(std::span<std::uint8_t> packet, Duration by);

// Sets the leap indicator (the top two bits, RFC 5905 §7.3) of a server-mode NTP packet to `li`
// (0 none, 1 insert, 2 delete): a server announcing a leap second. False for other packets.
bool set_leap_indicator(std::span<std::uint8_t> packet, unsigned li);

}  // namespace kairos::relay
