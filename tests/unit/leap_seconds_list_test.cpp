#include "clock/leap_seconds_list.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace kairos {
namespace {

// Modelled on /usr/share/zoneinfo/leap-seconds.list: the last entries of the real file and one
// invented leap second at the end of 2025, under a hash over exactly these fields (NIST writes the
// first word without its leading zero).
constexpr const char* kList =
    "#\tLIST OF LEAP SECONDS\n"
    "#$\t3960835200\n"
    "#\n"
    "#\tFile expires on 28 June 2026\n"
    "#@\t3991593600\n"
    "#\n"
    "#NTP Time      DTAI    Day Month Year\n"
    "3550089600      35      # 1 Jul 2012\n"
    "3644697600      36      # 1 Jul 2015\n"
    "3692217600      37      # 1 Jan 2017\n"
    "3976214400      38      # 1 Jan 2026\n"
    "#\n"
    "#h\t48b0102 dd3a3175 af02b60c 0e6cbfa7 6b236d15\n";

constexpr std::int64_t k2017 = 1483228800;  // 2017-01-01T00:00:00Z
constexpr std::int64_t k2026 = 1767225600;  // 2026-01-01T00:00:00Z
constexpr std::int64_t kExpiry = 3991593600 - 2208988800;

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  text.replace(text.find(from), from.size(), to);
  return text;
}

TEST(LeapSecondsListTest, ParsesEntriesExpiryAndVerifiesTheHash) {
  auto list = parse_leap_seconds_list(kList, "leap-seconds.list");
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->entries.size(), 4u);
  EXPECT_EQ(list->entries[2].utc, k2017);
  EXPECT_EQ(list->entries[2].tai_utc, 37);
  EXPECT_EQ(list->expiry, kExpiry);
  EXPECT_EQ(list->updated, 3960835200 - 2208988800);
  EXPECT_TRUE(list->hash_verified);
}

TEST(LeapSecondsListTest, TaiMinusUtcChangesAtTheListedInstant) {
  auto list = parse_leap_seconds_list(kList, "x");
  ASSERT_TRUE(list);
  EXPECT_EQ(list->tai_utc_at(k2017 - 1), 36);
  EXPECT_EQ(list->tai_utc_at(k2017), 37);
  EXPECT_EQ(list->tai_utc_at(k2026 + 100), 38);
  EXPECT_FALSE(list->tai_utc_at(0).has_value());  // before the list's first line
}

TEST(LeapSecondsListTest, NextLeapAndTheDayItIsArmedOn) {
  auto list = parse_leap_seconds_list(kList, "x");
  ASSERT_TRUE(list);
  auto next = list->next_leap_after(k2017);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->utc, k2026);
  EXPECT_EQ(next->leap, Leap::kInsert);
  EXPECT_EQ(next->tai_utc_after, 38);
  EXPECT_FALSE(list->next_leap_after(k2026).has_value());
  // Armed on 2025-12-31 only: not the day before, not the day after.
  EXPECT_EQ(list->leap_tonight(k2026 - 1), Leap::kInsert);
  EXPECT_EQ(list->leap_tonight(k2026 - 86400), Leap::kInsert);
  EXPECT_EQ(list->leap_tonight(k2026 - 86401), Leap::kNone);
  EXPECT_EQ(list->leap_tonight(k2026), Leap::kNone);
  // What sources announce all month long: December 2025, not November, not January.
  EXPECT_EQ(list->leap_this_month(k2026 - 20 * 86400), Leap::kInsert);
  EXPECT_EQ(list->leap_this_month(k2026 - 40 * 86400), Leap::kNone);
  EXPECT_EQ(list->leap_this_month(k2026 + 10), Leap::kNone);
}

TEST(LeapSecondsListTest, ExpiresAtItsExpiryDate) {
  auto list = parse_leap_seconds_list(kList, "x");
  ASSERT_TRUE(list);
  EXPECT_FALSE(list->expired(kExpiry - 1));
  EXPECT_TRUE(list->expired(kExpiry));
}

TEST(LeapSecondsListTest, ANegativeChangeIsADeletion) {
  // No hash: a hand-made list is accepted, only not marked verified.
  const std::string text = "#@ 3991593600\n3692217600 37\n3976214400 36\n";
  auto list = parse_leap_seconds_list(text, "x");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_FALSE(list->hash_verified);
  EXPECT_EQ(list->leap_tonight(k2026 - 10), Leap::kDelete);
}

TEST(LeapSecondsListTest, AnEditedFileFailsTheHash) {
  // A later expiry, well-formed: only the hash can tell.
  auto list = parse_leap_seconds_list(replaced(kList, "#@\t3991593600", "#@\t4007145600"), "f");
  ASSERT_FALSE(list);
  EXPECT_NE(list.error().message.find("hash"), std::string::npos) << list.error().message;
  // Comments are not hashed: editing one changes nothing.
  EXPECT_TRUE(parse_leap_seconds_list(replaced(kList, "# 1 Jul 2015", "# a comment"), "f"));
}

TEST(LeapSecondsListTest, BadLinesAreNamedWithTheirLineNumber) {
  auto bad_number = parse_leap_seconds_list(replaced(kList, "3644697600      36", "36446976OO      36"), "f");
  ASSERT_FALSE(bad_number);
  EXPECT_NE(bad_number.error().message.find("f:9:"), std::string::npos) << bad_number.error().message;
  auto not_midnight = parse_leap_seconds_list(replaced(kList, "3644697600      36", "3644697601      36"), "f");
  ASSERT_FALSE(not_midnight);
  EXPECT_NE(not_midnight.error().message.find("f:9:"), std::string::npos) << not_midnight.error().message;
  auto extra = parse_leap_seconds_list(replaced(kList, "3644697600      36", "3644697600 36 junk"), "f");
  ASSERT_FALSE(extra);
  EXPECT_NE(extra.error().message.find("f:9:"), std::string::npos);
  auto backwards = parse_leap_seconds_list("#@ 3991593600\n3692217600 37\n3644697600 36\n", "f");
  ASSERT_FALSE(backwards);
  EXPECT_NE(backwards.error().message.find("f:3:"), std::string::npos) << backwards.error().message;
  auto bad_hash = parse_leap_seconds_list(replaced(kList, "6b236d15", "6b236d15 1"), "f");
  ASSERT_FALSE(bad_hash);
  EXPECT_NE(bad_hash.error().message.find("f:13:"), std::string::npos) << bad_hash.error().message;
  auto two_expiries = parse_leap_seconds_list("#@ 3991593600\n#@ 3991593600\n3692217600 37\n", "f");
  ASSERT_FALSE(two_expiries);
  EXPECT_NE(two_expiries.error().message.find("f:2:"), std::string::npos);
}

TEST(LeapSecondsListTest, MissingExpiryOrDataIsAnError) {
  EXPECT_FALSE(parse_leap_seconds_list("3692217600 37\n", "f"));
  EXPECT_FALSE(parse_leap_seconds_list("#@ 3991593600\n# nothing else\n", "f"));
  EXPECT_FALSE(parse_leap_seconds_list("", "f"));
}

TEST(LeapSecondsListTest, AbsurdSizesAreRefused) {
  std::string huge = "#@ 3991593600\n";
  huge.append(kMaxLeapSecondsListBytes, '#');
  EXPECT_FALSE(parse_leap_seconds_list(huge, "f"));
  // Within the byte limit but over the entry limit: a leap second every month from 1972 on.
  std::string many = "#@ 3991593600\n";
  std::chrono::year_month month = std::chrono::year(1972) / std::chrono::January;
  for (std::size_t i = 0; i <= kMaxLeapSecondsEntries; ++i, month += std::chrono::months(1)) {
    const auto unix = std::chrono::sys_days(month / 1).time_since_epoch();
    const std::int64_t ntp = std::chrono::duration_cast<std::chrono::seconds>(unix).count() + 2208988800;
    many += std::to_string(ntp) + " " + std::to_string(10 + i % 2) + "\n";
  }
  auto parsed = parse_leap_seconds_list(many, "f");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("more than"), std::string::npos) << parsed.error().message;
}

TEST(LeapSecondsListTest, CarriageReturnsAreTolerated) {
  std::string crlf;
  for (char c : std::string(kList)) {
    if (c == '\n') crlf += '\r';
    crlf += c;
  }
  auto list = parse_leap_seconds_list(crlf, "x");
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_TRUE(list->hash_verified);
}

TEST(LeapSecondsListTest, ReadsAFileAndSaysWhyNot) {
  const std::string path = ::testing::TempDir() + "/kairos-leap-seconds.list";
  std::ofstream(path) << kList;
  auto list = read_leap_seconds_list(path);
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_EQ(list->entries.size(), 4u);
  std::filesystem::remove(path);
  auto missing = read_leap_seconds_list(path);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find(path), std::string::npos);
}

// The copy this machine has (Debian's tzdata), when there is one: it parses, its hash holds, and
// it knows the leap second at the end of 2016.
TEST(LeapSecondsListTest, TheSystemListParses) {
  const std::string path = "/usr/share/zoneinfo/leap-seconds.list";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " is not installed";
  auto list = read_leap_seconds_list(path);
  ASSERT_TRUE(list) << list.error().message;
  EXPECT_TRUE(list->hash_verified);
  EXPECT_EQ(list->tai_utc_at(k2017), 37);
  EXPECT_EQ(list->leap_tonight(k2017 - 3600), Leap::kInsert);
}

}  // namespace
}  // namespace kairos
