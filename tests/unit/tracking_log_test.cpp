#include "daemon/tracking_log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>

#include "daemon/config.hpp"

namespace kairos {
namespace {

ClockStatus status(const char* name, double offset, double bound) {
  ClockStatus s;
  s.name = name;
  s.state = DisciplineState::kSynchronized;
  s.offset = offset;
  s.error_bound = bound;
  s.frequency = -1.25e-6;
  return s;
}

TEST(TrackingLog, OneLinePerClockWithTheOffsetAndTheBoundItClaims) {
  const std::string path = ::testing::TempDir() + "/tracking-" + std::to_string(::getpid());
  ::unlink(path.c_str());
  {
    auto log = TrackingLog::open(path);
    ASSERT_TRUE(log) << log.error().message;
    const ClockStatus clocks[] = {status("system", -2.5e-6, 1.5e-5),
                                  status("eth0", 0, std::numeric_limits<double>::infinity())};
    (*log)->write(timespec{1262304000, 5}, clocks);
    EXPECT_EQ((*log)->failed_writes(), 0u);
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(),
            "1262304000.000000005 system synchronized -2.500000000e-06 1.500000000e-05 -1.250000\n"
            "1262304000.000000005 eth0 synchronized +0.000000000e+00 inf -1.250000\n");
  ::unlink(path.c_str());
}

TEST(TrackingLog, AFullDiskIsSaidAndSurvived) {
  auto log = TrackingLog::open("/dev/full");
  ASSERT_TRUE(log) << log.error().message;
  const ClockStatus clocks[] = {status("system", 0, 1e-6)};
  (*log)->write(timespec{1, 0}, clocks);
  (*log)->write(timespec{2, 0}, clocks);
  EXPECT_EQ((*log)->failed_writes(), 2u);
}

TEST(TrackingLog, TheConfigTakesOnlyAnAbsolutePath) {
  auto good = parse_config("[[source]]\naddress = \"x\"\n[logging]\ntracking = \"/var/log/kairos/tracking.log\"\n", "t.toml");
  ASSERT_TRUE(good) << good.error().message;
  EXPECT_EQ(good->logging.tracking, "/var/log/kairos/tracking.log");
  auto relative = parse_config("[[source]]\naddress = \"x\"\n[logging]\ntracking = \"tracking.log\"\n", "t.toml");
  ASSERT_FALSE(relative);
  EXPECT_NE(relative.error().message.find("absolute path"), std::string::npos) << relative.error().message;
}

}  // namespace
}  // namespace kairos
