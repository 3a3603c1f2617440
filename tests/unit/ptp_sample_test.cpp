#include "nts/ptp_sample.hpp"

#include <gtest/gtest.h>

namespace kairos {
namespace {

TEST(PtpSample, ClockAccuracyCodesAreTheStandardsFigures) {
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x20), 25e-9);
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x21), 100e-9);
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x23), 1e-6);
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x29), 1e-3);
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x2f), 1.0);
  EXPECT_DOUBLE_EQ(*clock_accuracy_seconds(0x30), 10.0);
  EXPECT_FALSE(clock_accuracy_seconds(0x31));  // "more than 10 s" bounds nothing
  EXPECT_FALSE(clock_accuracy_seconds(0xfe));  // unknown
  EXPECT_FALSE(clock_accuracy_seconds(0x1f));
}

TEST(PtpSample, MeasurementCarriesOffsetDelayLeapAndAccuracy) {
  PtpMeasurement ptp;
  ptp.time = 12.5;
  ptp.offset = 3e-6;
  ptp.delay = 100e-6;
  ptp.master.quality.clock_accuracy = 0x21;
  ptp.master.leap61 = true;
  Measurement m = to_measurement(ptp, 1.4e-6);
  EXPECT_EQ(m.time, 12.5);
  EXPECT_EQ(m.offset, 3e-6);
  EXPECT_EQ(m.delay, 100e-6);
  EXPECT_EQ(m.root_delay, 0);
  EXPECT_DOUBLE_EQ(m.root_dispersion, 100e-9);
  EXPECT_EQ(m.precision, 1.4e-6);
  EXPECT_EQ(m.leap, Leap::kInsert);
  ptp.master.leap61 = false;
  ptp.master.leap59 = true;
  ptp.master.quality.clock_accuracy = 0xfe;
  m = to_measurement(ptp, 1.4e-6);
  EXPECT_EQ(m.leap, Leap::kDelete);
  EXPECT_EQ(m.root_dispersion, 0);
}

// A Sync's own queueing is never measured: the spread of the delay exchanges stands for it.
TEST(PtpSample, PrecisionAddsTheDelaySpreadToTheStamps) {
  PtpMeasurement ptp;
  ptp.delay = 100e-6;
  ptp.delay_spread = 4e-6;
  EXPECT_DOUBLE_EQ(to_measurement(ptp, 3e-6).precision, 5e-6);
}

}  // namespace
}  // namespace kairos
