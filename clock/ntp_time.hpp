#pragma once
// Time on the wire and in the core. A Duration counts 2^-32 s ticks in a signed 64-bit integer:
// the same fixed point NTP uses, so differences of timestamps are exact (0.23 ns resolution) and
// span ±68 years, which is also the window in which NTP timestamps are unambiguous (RFC 5905 §6).
#include <compare>
#include <cstdint>
#include <ctime>

namespace kairos {

__extension__ using int128 = __int128;

class Duration {
 public:
  constexpr Duration() = default;

  static constexpr Duration from_raw(std::int64_t ticks) { return Duration(ticks); }
  static Duration from_nanos(std::int64_t ns);
  static Duration from_seconds(double s);  // saturates outside ±68 years; NaN gives zero
  static constexpr Duration max() { return Duration(INT64_MAX); }
  static constexpr Duration min() { return Duration(INT64_MIN); }

  constexpr std::int64_t raw() const { return ticks_; }
  std::int64_t nanos() const;  // rounded to the nearest nanosecond
  double seconds() const { return static_cast<double>(ticks_) / 4294967296.0; }

  Duration operator+(Duration o) const;  // saturating
  Duration operator-(Duration o) const;  // saturating
  Duration operator-() const { return ticks_ == INT64_MIN ? max() : Duration(-ticks_); }
  Duration half() const { return Duration(ticks_ / 2); }
  Duration abs() const { return ticks_ < 0 ? -*this : *this; }
  Duration& operator+=(Duration o) { return *this = *this + o; }
  Duration& operator-=(Duration o) { return *this = *this - o; }
  constexpr auto operator<=>(const Duration&) const = default;

 private:
  constexpr explicit Duration(std::int64_t ticks) : ticks_(ticks) {}
  std::int64_t ticks_ = 0;
};

// Seconds between the NTP prime epoch (1900-01-01) and the Unix epoch.
inline constexpr std::int64_t kNtpUnixOffset = 2208988800;

// 64-bit NTP timestamp: 32 bits of seconds (modulo the 136-year era) and 32 bits of fraction.
class NtpTimestamp {
 public:
  constexpr NtpTimestamp() = default;
  static constexpr NtpTimestamp from_raw(std::uint64_t raw) { return NtpTimestamp(raw); }
  static constexpr NtpTimestamp from_parts(std::uint32_t seconds, std::uint32_t fraction) {
    return NtpTimestamp((std::uint64_t{seconds} << 32) | fraction);
  }
  // Any Unix time, before 1900 or after 2036 included; the era is dropped as on the wire.
  static NtpTimestamp from_timespec(const timespec& t);

  // Unix time of this timestamp in the era that puts it closest to `pivot` (RFC 5905 §6):
  // correct while the true time is within 68 years of the pivot, e.g. the local clock.
  timespec to_timespec(const timespec& pivot) const;

  constexpr std::uint64_t raw() const { return raw_; }
  constexpr std::uint32_t seconds() const { return static_cast<std::uint32_t>(raw_ >> 32); }
  constexpr std::uint32_t fraction() const { return static_cast<std::uint32_t>(raw_); }
  constexpr bool is_zero() const { return raw_ == 0; }

  // Era-aware: the difference modulo 2^64 read as signed, exact for |a - b| < 68 years.
  friend Duration operator-(NtpTimestamp a, NtpTimestamp b) {
    return Duration::from_raw(static_cast<std::int64_t>(a.raw_ - b.raw_));
  }
  friend NtpTimestamp operator+(NtpTimestamp a, Duration d) {
    return NtpTimestamp(a.raw_ + static_cast<std::uint64_t>(d.raw()));
  }
  constexpr bool operator==(const NtpTimestamp&) const = default;

 private:
  constexpr explicit NtpTimestamp(std::uint64_t raw) : raw_(raw) {}
  std::uint64_t raw_ = 0;
};

// 32-bit NTP short format (16.16 seconds), used for root delay and root dispersion.
class NtpShort {
 public:
  constexpr NtpShort() = default;
  static constexpr NtpShort from_raw(std::uint32_t raw) { return NtpShort(raw); }
  // Negative durations give zero and long ones saturate at 65535.99998 s.
  static NtpShort from_duration(Duration d);

  constexpr std::uint32_t raw() const { return raw_; }
  Duration to_duration() const { return Duration::from_raw(std::int64_t{raw_} << 16); }
  constexpr bool operator==(const NtpShort&) const = default;

 private:
  constexpr explicit NtpShort(std::uint32_t raw) : raw_(raw) {}
  std::uint32_t raw_ = 0;
};

// Offset and round-trip delay of one client/server exchange (RFC 5905 §8):
// offset = ((t2 - t1) + (t3 - t4)) / 2, delay = (t4 - t1) - (t3 - t2).
struct OffsetDelay {
  Duration offset;
  Duration delay;
};
OffsetDelay offset_and_delay(NtpTimestamp t1, NtpTimestamp t2, NtpTimestamp t3, NtpTimestamp t4);

}  // namespace kairos
