#include "clock/leap_smear.hpp"

namespace kairos {
namespace {

double since(const LeapSmear& smear, NtpTimestamp reading) {
  const NtpTimestamp leap = NtpTimestamp::from_timespec(timespec{.tv_sec = smear.leap, .tv_nsec = 0});
  return (reading - leap).seconds();
}

int sign_of(const LeapSmear& smear) {
  return smear.kind == Leap::kInsert ? 1 : smear.kind == Leap::kDelete ? -1 : 0;
}

}  // namespace

bool smear_active(const LeapSmear& smear, double since_leap) {
  return sign_of(smear) != 0 && since_leap >= -kSmearHalfWindow && since_leap < kSmearHalfWindow;
}

double smear_correction(const LeapSmear& smear, double since_leap, bool repeated) {
  const int s = sign_of(smear);
  if (!smear_active(smear, since_leap)) return 0;
  // After the leap (an insertion's second 23:59:59 included) the kernel's reading is s seconds
  // behind the real seconds elapsed since the window opened.
  const bool after = since_leap >= 0 || (s > 0 && repeated && since_leap >= -1);
  const double elapsed = since_leap + kSmearHalfWindow + (after ? s : 0);
  // Served time advances 86400 s over the window's 86400 + s real seconds, from the noon before.
  const double window = 2 * kSmearHalfWindow + s;
  const double served = elapsed * (2 * kSmearHalfWindow) / window;
  // served - reading, with reading = elapsed - (after ? s : 0) from the same noon.
  return served - elapsed + (after ? s : 0);
}

NtpTimestamp smeared(const LeapSmear& smear, NtpTimestamp reading, bool repeated) {
  const double correction = smear_correction(smear, since(smear, reading), repeated);
  return correction == 0 ? reading : reading + Duration::from_seconds(correction);
}

bool in_ambiguous_second(const LeapSmear& smear, NtpTimestamp reading) {
  const double t = since(smear, reading);
  return smear.kind == Leap::kInsert && t >= -1 && t < 0;
}

}  // namespace kairos
