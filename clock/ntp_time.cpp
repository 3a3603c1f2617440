#include "clock/ntp_time.hpp"

#include <cmath>
#include <limits>

namespace kairos {
namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;
constexpr int128 kTicksPerSecond = int128{1} << 32;

// Rounds num/den to the nearest integer, halves away from zero; den > 0.
int128 div_round(int128 num, int128 den) {
  return num >= 0 ? (num + den / 2) / den : -((-num + den / 2) / den);
}

std::int64_t saturate(int128 v) {
  if (v > std::numeric_limits<std::int64_t>::max()) return std::numeric_limits<std::int64_t>::max();
  if (v < std::numeric_limits<std::int64_t>::min()) return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(v);
}

}  // namespace

Duration Duration::from_nanos(std::int64_t ns) {
  return Duration(saturate(div_round(int128{ns} * kTicksPerSecond, kNanosPerSecond)));
}

Duration Duration::from_seconds(double s) {
  if (std::isnan(s)) return Duration();
  const double ticks = std::round(s * 4294967296.0);
  if (ticks >= 9.2233720368547758e18) return max();
  if (ticks <= -9.2233720368547758e18) return min();
  return Duration(static_cast<std::int64_t>(ticks));
}

std::int64_t Duration::nanos() const {
  return static_cast<std::int64_t>(div_round(int128{ticks_} * kNanosPerSecond, kTicksPerSecond));
}

Duration Duration::operator+(Duration o) const {
  return Duration(saturate(int128{ticks_} + o.ticks_));
}

Duration Duration::operator-(Duration o) const {
  return Duration(saturate(int128{ticks_} - o.ticks_));
}

NtpTimestamp NtpTimestamp::from_timespec(const timespec& t) {
  // Normalise first so a negative or oversized tv_nsec cannot leak into the fraction.
  std::int64_t sec = static_cast<std::int64_t>(t.tv_sec) + t.tv_nsec / kNanosPerSecond;
  std::int64_t nsec = t.tv_nsec % kNanosPerSecond;
  if (nsec < 0) {
    nsec += kNanosPerSecond;
    sec -= 1;
  }
  auto fraction = static_cast<std::uint64_t>(div_round(int128{nsec} * kTicksPerSecond, kNanosPerSecond));
  // Unsigned arithmetic is modulo 2^32: exactly the era wrap of the wire format.
  auto ntp_seconds = static_cast<std::uint64_t>(sec + kNtpUnixOffset);
  return NtpTimestamp((ntp_seconds << 32) + fraction);
}

timespec NtpTimestamp::to_timespec(const timespec& pivot) const {
  const std::int64_t pivot_ntp = static_cast<std::int64_t>(pivot.tv_sec) + kNtpUnixOffset;
  const auto delta = static_cast<std::int32_t>(seconds() - static_cast<std::uint32_t>(pivot_ntp));
  std::int64_t unix_seconds = pivot_ntp + delta - kNtpUnixOffset;
  auto nsec = static_cast<std::int64_t>(div_round(int128{fraction()} * kNanosPerSecond, kTicksPerSecond));
  if (nsec == kNanosPerSecond) {
    nsec = 0;
    unix_seconds += 1;
  }
  timespec out{};
  out.tv_sec = static_cast<time_t>(unix_seconds);
  out.tv_nsec = static_cast<long>(nsec);
  return out;
}

NtpShort NtpShort::from_duration(Duration d) {
  if (d.raw() <= 0) return NtpShort(0);
  const std::int64_t raw = (d.raw() + (1 << 15)) >> 16;
  return NtpShort(raw > UINT32_MAX ? UINT32_MAX : static_cast<std::uint32_t>(raw));
}

OffsetDelay offset_and_delay(NtpTimestamp t1, NtpTimestamp t2, NtpTimestamp t3, NtpTimestamp t4) {
  const Duration a = t2 - t1;
  const Duration b = t3 - t4;
  // Halve in 128 bits: each difference may use the full ±68-year range.
  const int128 sum = int128{a.raw()} + b.raw();
  return OffsetDelay{Duration::from_raw(saturate(sum / 2)), (t4 - t1) - (t3 - t2)};
}

}  // namespace kairos
