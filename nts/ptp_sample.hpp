#pragma once
// A PTP measurement as the clock model takes it, the counterpart of nts/sample_measurement for
// NTP: one place decides what of the exchange and of the master's Announce reaches the model.
#include <cstdint>
#include <optional>

#include "clock/leap.hpp"
#include "clock/measurement.hpp"
#include "nts/ptp_port.hpp"

namespace kairos {

// clockAccuracy (IEEE 1588-2019 Table 5) as the seconds the grandmaster claims to be within:
// 0x20 25 ns, 0x21 100 ns, 0x22 250 ns, 0x23 1 µs ... 0x2F 1 s, 0x30 10 s. Unknown (0xFE), "more than
// 10 s" (0x31), reserved and profile-specific codes: nullopt.
std::optional<double> clock_accuracy_seconds(std::uint8_t code);

// leap61/leap59 of the master's Announce as the model's leap warning.
Leap to_leap(const PtpMasterInfo& master);

// `stamp_precision` is the sd of our own timestamps' error (t2 and t3 together, as
// clock/measurement.hpp's stamp_precision gives it). PTP has no root delay; the grandmaster's
// stated accuracy stands for the root dispersion (0 when it states none).
Measurement to_measurement(const PtpMeasurement& measurement, double stamp_precision);

}  // namespace kairos
