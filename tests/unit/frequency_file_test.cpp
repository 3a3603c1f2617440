#include "daemon/frequency_file.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::TempDir;

ByteView view(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

TEST(FrequencyFile, SaveThenLoadRoundTrips) {
  TempDir dir;
  const std::string path = dir.file("frequency");
  ASSERT_TRUE(save_frequency_file(path, {.frequency = -12.345678e-6, .sd = 0.021e-6, .written = 1'700'000'000}));
  auto loaded = load_frequency_file(path);
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_NEAR(loaded->frequency, -12.345678e-6, 1e-15);
  EXPECT_NEAR(loaded->sd, 0.021e-6, 1e-15);
  EXPECT_EQ(loaded->written, 1'700'000'000);
  EXPECT_EQ(dir.entry_count(), 1u);
}

TEST(FrequencyFile, SavingReplacesTheOldValue) {
  TempDir dir;
  const std::string path = dir.file("frequency");
  ASSERT_TRUE(save_frequency_file(path, {.frequency = 1e-6, .sd = 1e-8}));
  ASSERT_TRUE(save_frequency_file(path, {.frequency = 2e-6, .sd = 1e-8}));
  EXPECT_NEAR(load_frequency_file(path)->frequency, 2e-6, 1e-15);
}

TEST(FrequencyFile, MissingFileIsAnError) {
  TempDir dir;
  auto loaded = load_frequency_file(dir.file("frequency"));
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find("frequency"), std::string::npos);
}

TEST(FrequencyFile, SavingIntoAMissingDirectoryFails) {
  TempDir dir;
  EXPECT_FALSE(save_frequency_file(dir.file("gone/frequency"), {.frequency = 1e-6, .sd = 1e-8}));
}

TEST(FrequencyFile, CorruptInputIsRefused) {
  for (const std::string text : {"", "garbage", "{\"version\": 1, \"frequency_ppm\": 1.5", "[1, 2]",
                                 R"({"version": 1, "frequency_ppm": "1.5", "sd_ppm": 0.1})",
                                 R"({"version": 1, "sd_ppm": 0.1})", R"({"version": 1, "frequency_ppm": 1.5})",
                                 R"({"frequency_ppm": 1.5, "sd_ppm": 0.1})"}) {
    EXPECT_FALSE(parse_frequency_file(view(text))) << text;
  }
}

TEST(FrequencyFile, WrongVersionIsRefused) {
  auto parsed = parse_frequency_file(view(R"({"version": 2, "frequency_ppm": 1.5, "sd_ppm": 0.1})"));
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("version 2"), std::string::npos) << parsed.error().message;
}

TEST(FrequencyFile, ImplausibleValuesAreRefused) {
  EXPECT_FALSE(parse_frequency_file(view(R"({"version": 1, "frequency_ppm": 5000, "sd_ppm": 0.1})")));
  EXPECT_FALSE(parse_frequency_file(view(R"({"version": 1, "frequency_ppm": 1, "sd_ppm": -0.1})")));
  EXPECT_FALSE(parse_frequency_file(view(R"({"version": 1, "frequency_ppm": 1e400, "sd_ppm": 0.1})")));
  EXPECT_TRUE(parse_frequency_file(view(R"({"version": 1, "frequency_ppm": -499.9, "sd_ppm": 0})")));
}

TEST(FrequencyFile, CorruptFileOnDiskIsAnErrorNamingIt) {
  TempDir dir;
  const std::string path = dir.file("frequency");
  write_text(path, "{\"version\": 1, \"frequency_ppm\": ");
  auto loaded = load_frequency_file(path);
  ASSERT_FALSE(loaded);
  EXPECT_NE(loaded.error().message.find(path), std::string::npos);
}

TEST(FrequencyFile, SeededUncertaintyIsWiderThanSaved) {
  EXPECT_DOUBLE_EQ(seeded_frequency_sd({.frequency = 0, .sd = 1e-6}), 10e-6);
  EXPECT_DOUBLE_EQ(seeded_frequency_sd({.frequency = 0, .sd = 1e-9}), 5e-6);  // never narrower than 5 ppm
  EXPECT_LE(seeded_frequency_sd({.frequency = 0, .sd = 1e-3}), kMaxSavedFrequency);
}

}  // namespace
}  // namespace kairos

namespace kairos {
namespace {

// A model synchronized on its first sample still has its 1000 ppm prior for the frequency: once
// written, the next start refused the file as out of range and started from nothing.
TEST(FrequencyFile, OnlyALearnedFrequencyIsWorthSaving) {
  EXPECT_TRUE(frequency_worth_saving({.frequency = 12e-6, .sd = 0.05e-6}));
  EXPECT_FALSE(frequency_worth_saving({.frequency = 0, .sd = 1000e-6}));
  EXPECT_FALSE(frequency_worth_saving({.frequency = 0, .sd = 150e-6}));
  EXPECT_FALSE(frequency_worth_saving({.frequency = 2e-3, .sd = 1e-6}));
}

}  // namespace
}  // namespace kairos
