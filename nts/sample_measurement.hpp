#pragma once
// An NTP sample as the clock model takes it: one place decides what of the exchange and of the
// server's header reaches the model, for the daemon and the simulator alike.
#include "clock/leap.hpp"
#include "clock/measurement.hpp"
#include "nts/ntp_client.hpp"
#include "nts/ntp_packet.hpp"

namespace kairos {

Leap to_leap(NtpLeap leap);

// `time` is when the response arrived on the model's time axis; `stamp_precision` is the sd of
// our own timestamps' error (both ends together). The server's announced precision (2^p s, a
// resolution: sd 2^p/√12) adds to it.
Measurement to_measurement(const NtpSample& sample, double time, double stamp_precision);

}  // namespace kairos
