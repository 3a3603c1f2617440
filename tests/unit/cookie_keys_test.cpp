#include "daemon/cookie_keys.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "nts/cookie.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using test::TempDir;

constexpr std::uint64_t kNow = 20000 * 86400 + 100;

NtsKeys some_keys() {
  std::vector<std::uint8_t> c2s(32, 0x11), s2c(32, 0x22);
  return *NtsKeys::create(15, c2s, s2c);
}

std::vector<std::uint8_t> seal(CookieKeys& keys) {
  std::vector<std::uint8_t> cookie(kCookieMaxLength);
  auto n = seal_cookie(some_keys(), keys.ring().current(), cookie);
  EXPECT_TRUE(n) << n.error().message;
  cookie.resize(*n);
  return cookie;
}

TEST(CookieKeys, RandomKeysSurviveARestart) {
  TempDir dir;
  std::vector<std::string> notes;
  const CookieKeysOptions options{std::nullopt, {.rotation_interval = 3600, .old_keys = 2}, dir.file("nts-keys")};
  auto first = CookieKeys::open(options, kNow, notes);
  ASSERT_TRUE(first) << first.error().message;
  ASSERT_EQ(notes.size(), 1u);  // says it started fresh
  const auto cookie = seal(*first);

  notes.clear();
  auto restarted = CookieKeys::open(options, kNow + 10, notes);
  ASSERT_TRUE(restarted) << restarted.error().message;
  EXPECT_TRUE(notes.empty());
  auto opened = open_cookie(cookie, restarted->ring());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, some_keys());
}

TEST(CookieKeys, RotationIsPersistedAndOldCookiesExpireAfterTheWindow) {
  TempDir dir;
  std::vector<std::string> notes;
  const CookieKeysOptions options{std::nullopt, {.rotation_interval = 3600, .old_keys = 1}, dir.file("nts-keys")};
  auto keys = CookieKeys::open(options, kNow, notes);
  ASSERT_TRUE(keys);
  const auto cookie = seal(*keys);
  const std::uint64_t next = kNow + keys->seconds_to_next_rotation(kNow);
  EXPECT_EQ(next % 3600, 0u);
  ASSERT_TRUE(*keys->rotate(next));
  EXPECT_TRUE(open_cookie(cookie, keys->ring()));  // one old key is kept

  auto reloaded = CookieKeys::open(options, next, notes);
  ASSERT_TRUE(reloaded);
  EXPECT_TRUE(open_cookie(cookie, reloaded->ring()));
  ASSERT_TRUE(*reloaded->rotate(next + 3600));
  EXPECT_FALSE(open_cookie(cookie, reloaded->ring()));
  EXPECT_FALSE(*reloaded->rotate(next + 3601));  // same epoch: nothing to do
}

TEST(CookieKeys, ChangedScheduleStartsFreshKeysAndSaysSo) {
  TempDir dir;
  std::vector<std::string> notes;
  auto keys = CookieKeys::open({std::nullopt, {.rotation_interval = 3600, .old_keys = 1}, dir.file("k")}, kNow, notes);
  ASSERT_TRUE(keys);
  const auto cookie = seal(*keys);
  notes.clear();
  auto changed = CookieKeys::open({std::nullopt, {.rotation_interval = 7200, .old_keys = 1}, dir.file("k")}, kNow, notes);
  ASSERT_TRUE(changed) << changed.error().message;
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("another rotation schedule"), std::string::npos);
  EXPECT_FALSE(open_cookie(cookie, changed->ring()));
}

TEST(CookieKeys, CorruptKeyFileIsAnErrorNotSilentlyReplaced) {
  TempDir dir;
  {
    std::ofstream f(dir.file("k"));
    f << "garbage\n";
  }
  std::vector<std::string> notes;
  auto keys = CookieKeys::open({std::nullopt, {}, dir.file("k")}, kNow, notes);
  EXPECT_FALSE(keys);
}

TEST(CookieKeys, SameSeedGivesHostsTheSameKeys) {
  TempDir dir;
  {
    std::ofstream f(dir.file("seed"));
    f << "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
  }
  ::chmod(dir.file("seed").c_str(), 0600);
  std::vector<std::string> notes;
  const CookieKeysOptions options{dir.file("seed"), {.rotation_interval = 3600, .old_keys = 1}, dir.file("unused")};
  auto ke_host = CookieKeys::open(options, kNow, notes);
  auto ntp_host = CookieKeys::open(options, kNow + 1000, notes);
  ASSERT_TRUE(ke_host) << ke_host.error().message;
  ASSERT_TRUE(ntp_host) << ntp_host.error().message;
  auto opened = open_cookie(seal(*ke_host), ntp_host->ring());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, some_keys());
  EXPECT_EQ(dir.entry_count(), 1u);  // nothing persisted for a seeded ring
}

}  // namespace
}  // namespace kairos
