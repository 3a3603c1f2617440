#include "nts/key_ring.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using test::to_hex;

constexpr std::uint64_t kDay = 86400;
constexpr std::uint64_t kNow = 19000 * kDay + 1234;  // inside epoch 19000 of a daily ring

Seed seed_of(std::uint8_t first) {
  std::vector<std::uint8_t> bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + i);
  return Seed::create(bytes).value();
}

ByteView text_bytes(const std::string& s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::string as_string(const SecretBytes& b) { return {reinterpret_cast<const char*>(b.view().data()), b.size()}; }
std::vector<std::uint8_t> key_of(KeyRing& ring, std::uint32_t id) {
  MasterKey* key = ring.find(id);
  if (key == nullptr) return {};
  return {key->key().begin(), key->key().end()};
}

KeyRingConfig daily(std::uint32_t old_keys) { return KeyRingConfig{86400, old_keys}; }

// RFC 5869 A.1, so the OpenSSL parameters are wired the way the RFC means.
TEST(Hkdf, Rfc5869TestCase1) {
  std::vector<std::uint8_t> okm(42);
  auto ok = hkdf_sha256(hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"), hex("000102030405060708090a0b0c"),
                        hex("f0f1f2f3f4f5f6f7f8f9"), okm);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(to_hex(okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

// Computed independently (Python hmac) from the formula documented in key_ring.hpp.
TEST(KeyRing, SeededKeyMatchesDocumentedDerivation) {
  auto ring = KeyRing::from_seed(seed_of(0), daily(0), kNow);
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->current().id(), 19000u);
  EXPECT_EQ(to_hex(key_of(*ring, 19000)), "9d0844f44d8ee3158bfa9b852d94494a508fe0277bce159f48e76b407e0f1e2e");
}

TEST(KeyRing, WindowHoldsOldCurrentAndFutureKeys) {
  auto ring = KeyRing::from_seed(seed_of(1), daily(2), kNow);
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->key_count(), 4u);
  for (std::uint32_t id : {18998u, 18999u, 19000u, 19001u}) EXPECT_NE(ring->find(id), nullptr) << id;
  EXPECT_EQ(ring->find(18997), nullptr);
  EXPECT_EQ(ring->find(19002), nullptr);
  EXPECT_EQ(ring->current().id(), 19000u);
}

TEST(KeyRing, SameSeedDerivesIdenticalRings) {
  auto a = KeyRing::from_seed(seed_of(7), daily(3), kNow);
  auto b = KeyRing::from_seed(seed_of(7), daily(3), kNow + 60);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(*a == *b);
  EXPECT_EQ(as_string(a->serialize()), as_string(b->serialize()));
}

TEST(KeyRing, DifferentSeedsDeriveDifferentKeys) {
  auto a = KeyRing::from_seed(seed_of(7), daily(1), kNow);
  auto b = KeyRing::from_seed(seed_of(8), daily(1), kNow);
  ASSERT_TRUE(a && b);
  EXPECT_FALSE(*a == *b);
  EXPECT_NE(key_of(*a, 19000), key_of(*b, 19000));
  EXPECT_NE(key_of(*a, 18999), key_of(*b, 18999));
}

TEST(KeyRing, DifferentIntervalsDeriveDifferentKeysForTheSameEpoch) {
  auto a = KeyRing::from_seed(seed_of(7), KeyRingConfig{3600, 0}, 19000 * 3600);
  auto b = KeyRing::from_seed(seed_of(7), KeyRingConfig{86400, 0}, 19000 * kDay);
  ASSERT_TRUE(a && b);
  EXPECT_NE(key_of(*a, 19000), key_of(*b, 19000));
}

TEST(KeyRing, RandomRotationPromotesFutureToCurrentAndCurrentToOld) {
  auto ring = KeyRing::from_random(daily(2), kNow);
  ASSERT_TRUE(ring) << ring.error().message;
  EXPECT_EQ(ring->key_count(), 2u);  // no old keys were ever used for sealing
  const auto current = key_of(*ring, 19000);
  const auto future = key_of(*ring, 19001);
  EXPECT_NE(current, future);

  auto moved = ring->rotate(kNow + kDay);
  ASSERT_TRUE(moved) << moved.error().message;
  EXPECT_TRUE(*moved);
  EXPECT_EQ(ring->current().id(), 19001u);
  EXPECT_EQ(key_of(*ring, 19001), future);
  EXPECT_EQ(key_of(*ring, 19000), current);
  EXPECT_EQ(ring->key_count(), 3u);
  EXPECT_FALSE(key_of(*ring, 19002).empty());
}

TEST(KeyRing, RotateWithinTheEpochChangesNothing) {
  auto ring = KeyRing::from_random(daily(1), kNow);
  ASSERT_TRUE(ring);
  const auto before = as_string(ring->serialize());
  auto moved = ring->rotate(kNow + 100);
  ASSERT_TRUE(moved);
  EXPECT_FALSE(*moved);
  EXPECT_EQ(as_string(ring->serialize()), before);
}

TEST(KeyRing, RotationDropsKeysThatLeaveTheWindow) {
  auto ring = KeyRing::from_seed(seed_of(3), daily(1), kNow);
  ASSERT_TRUE(ring);
  ASSERT_TRUE(ring->rotate(kNow + 2 * kDay));
  EXPECT_EQ(ring->find(19000), nullptr);
  EXPECT_NE(ring->find(19001), nullptr);
  EXPECT_EQ(ring->current().id(), 19002u);
  EXPECT_NE(ring->find(19003), nullptr);
}

TEST(KeyRing, SeededRingRotatedBackMatchesAFreshRing) {
  auto ring = KeyRing::from_seed(seed_of(3), daily(2), kNow);
  ASSERT_TRUE(ring);
  ASSERT_TRUE(ring->rotate(kNow + 10 * kDay));
  ASSERT_TRUE(ring->rotate(kNow));
  auto fresh = KeyRing::from_seed(seed_of(3), daily(2), kNow);
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(*ring == *fresh);
}

TEST(KeyRing, BadConfigIsRefused) {
  EXPECT_FALSE(KeyRing::from_random(KeyRingConfig{0, 1}, kNow));
  EXPECT_FALSE(KeyRing::from_random(KeyRingConfig{kMinRotationInterval - 1, 1}, kNow));
  EXPECT_FALSE(KeyRing::from_random(KeyRingConfig{kMaxRotationInterval + 1, 1}, kNow));
  EXPECT_FALSE(KeyRing::from_random(KeyRingConfig{86400, kMaxOldKeys + 1}, kNow));
  EXPECT_TRUE(KeyRing::from_random(KeyRingConfig{kMinRotationInterval, kMaxOldKeys}, kNow));
}

TEST(KeyRing, EarlyEpochsHaveNoKeysBeforeZero) {
  auto ring = KeyRing::from_seed(seed_of(3), KeyRingConfig{60, 5}, 60);  // epoch 1
  ASSERT_TRUE(ring);
  EXPECT_EQ(ring->key_count(), 3u);  // epochs 0, 1, 2
  EXPECT_EQ(ring->find(0xffffffffu), nullptr);
}

// ---- seed file ----

TEST(SeedFile, HexWithOptionalNewlineIsAccepted) {
  const std::string digits = "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F";
  for (const std::string& text : {digits, digits + "\n"}) {
    auto seed = parse_seed_file(text_bytes(text));
    ASSERT_TRUE(seed) << seed.error().message;
    EXPECT_EQ(to_hex({seed->bytes().begin(), seed->bytes().end()}), test::to_hex(hex(digits)));
  }
}

TEST(SeedFile, MalformedSeedsAreRefused) {
  const std::string good = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
  const std::vector<std::string> bad = {
      "",
      good.substr(0, 62),                 // 31 bytes: too short
      good.substr(0, 63),                 // odd digit count
      good + "\n\n",                      // two newlines
      good + "\r\n",                      // CRLF
      " " + good,                         // whitespace
      good.substr(0, 60) + "zz1e1f",      // not hex
      std::string(64, '0'),               // one repeated byte
      std::string(2 * kMaxSeedLength + 2, 'a') + "b1",  // too long
  };
  for (const auto& text : bad) EXPECT_FALSE(parse_seed_file(text_bytes(text))) << "accepted: " << text;
  std::string longest;
  for (std::size_t i = 0; i < kMaxSeedLength; ++i) longest += (i % 2 ? "ab" : "cd");
  EXPECT_TRUE(parse_seed_file(text_bytes(longest + "\n")));
}

// ---- key file ----

std::string seeded_file() {
  auto ring = KeyRing::from_seed(seed_of(5), daily(2), kNow).value();
  return as_string(ring.serialize());
}

TEST(KeyFile, SerializedLayoutIsTheDocumentedOne) {
  const std::string text = seeded_file();
  EXPECT_TRUE(text.starts_with("kairos-cookie-keys v1\nmode seeded\ninterval 86400\nold-keys 2\nepoch 19000\n"
                               "key 18998 "));
  EXPECT_TRUE(text.ends_with("\nend\n"));
  // 22 + 12 + 15 + 11 + 12 header bytes, four "key NNNNN <64 hex>" lines, "end".
  EXPECT_EQ(text.size(), 72 + 4 * (4 + 6 + 64 + 1) + 4);
}

TEST(KeyFile, SeededAndRandomRingsRoundTrip) {
  auto random = KeyRing::from_random(daily(3), kNow).value();
  ASSERT_TRUE(random.rotate(kNow + kDay));
  for (KeyRing* ring : {&random}) {
    const std::string text = as_string(ring->serialize());
    auto back = parse_key_ring(text_bytes(text));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_TRUE(*back == *ring);
    EXPECT_EQ(as_string(back->serialize()), text);
  }
  const std::string seeded = seeded_file();
  auto back = parse_key_ring(text_bytes(seeded));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->mode(), KeyMode::kSeeded);
  EXPECT_EQ(as_string(back->serialize()), seeded);
}

TEST(KeyFile, LoadedSeededRingRotatesOnlyWithItsOwnSeed) {
  auto back = parse_key_ring(text_bytes(seeded_file())).value();
  EXPECT_FALSE(back.rotate(kNow + kDay));
  EXPECT_FALSE(back.attach_seed(seed_of(6)));
  ASSERT_TRUE(back.attach_seed(seed_of(5)));
  ASSERT_TRUE(back.rotate(kNow + kDay));
  auto fresh = KeyRing::from_seed(seed_of(5), daily(2), kNow + kDay).value();
  EXPECT_TRUE(back == fresh);
}

TEST(KeyFile, EveryTruncationAndExtensionIsRefused) {
  const std::string text = seeded_file();
  for (std::size_t n = 0; n < text.size(); ++n)
    EXPECT_FALSE(parse_key_ring(text_bytes(text.substr(0, n)))) << "prefix of " << n << " bytes accepted";
  for (const std::string& extra : std::vector<std::string>{"\n", "x", "end\n", "key 19001 " + std::string(64, 'a') + "\n"})
    EXPECT_FALSE(parse_key_ring(text_bytes(text + extra))) << "accepted trailing " << extra;
}

// The format is canonical: a changed byte is refused or yields a different ring, never the same
// ring spelled differently.
TEST(KeyFile, EveryByteChangeIsRefusedOrChangesTheRing) {
  const std::string text = seeded_file();
  const auto original = parse_key_ring(text_bytes(text)).value();
  for (std::size_t i = 0; i < text.size(); ++i) {
    for (int mask : {0x01, 0x20, 0x80}) {
      std::string changed = text;
      changed[i] = static_cast<char>(changed[i] ^ mask);
      auto parsed = parse_key_ring(text_bytes(changed));
      if (parsed) {
        EXPECT_FALSE(*parsed == original) << "byte " << i << " mask " << mask;
      }
    }
  }
}

std::string replace(std::string text, const std::string& from, const std::string& to) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

std::string line_of(const std::string& text, const std::string& prefix) {
  const auto at = text.find(prefix);
  return text.substr(at, text.find('\n', at) + 1 - at);
}

TEST(KeyFile, CorruptionsAreRefusedWithAMessage) {
  const std::string text = seeded_file();
  const std::string old_line = line_of(text, "key 18999 ");
  const std::string current_line = line_of(text, "key 19000 ");
  const std::string future_line = line_of(text, "key 19001 ");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"wrong magic", replace(text, "kairos-cookie-keys", "kairos-cookie-keyz")},
      {"future version", replace(text, "v1\n", "v2\n")},
      {"unknown mode", replace(text, "mode seeded", "mode copied")},
      {"interval too short", replace(text, "interval 86400", "interval 59")},
      {"interval leading zero", replace(text, "interval 86400", "interval 086400")},
      {"interval signed", replace(text, "interval 86400", "interval +86400")},
      {"interval overflow", replace(text, "interval 86400", "interval 99999999999999999999999")},
      {"too many old keys", replace(text, "old-keys 2", "old-keys 65")},
      {"epoch too far", replace(text, "epoch 19000", "epoch 1099511627777")},
      {"fields out of order", replace(replace(text, "interval 86400\n", ""), "old-keys 2\n", "old-keys 2\ninterval 86400\n")},
      {"CRLF", replace(text, "mode seeded\n", "mode seeded\r\n")},
      {"trailing space", replace(text, "epoch 19000\n", "epoch 19000 \n")},
      {"duplicate key", replace(text, current_line, current_line + current_line)},
      {"keys out of order", replace(text, old_line + current_line, current_line + old_line)},
      {"missing current key", replace(text, current_line, "")},
      {"missing future key", replace(text, future_line, "")},
      {"key outside window", replace(text, "key 18998 ", "key 18997 ")},
      {"uppercase hex", replace(text, current_line.substr(10, 2), "AB")},
      {"short key", replace(text, current_line, current_line.substr(0, current_line.size() - 3) + "\n")},
      {"non-hex key", replace(text, current_line.substr(10, 2), "zz")},
      {"blank line", replace(text, "end\n", "\nend\n")},
      {"comment", replace(text, "end\n", "# note\nend\n")},
      {"oversized", text + std::string(kMaxKeyFileSize, 'x')},
  };
  for (const auto& [name, corrupt] : cases) {
    auto parsed = parse_key_ring(text_bytes(corrupt));
    EXPECT_FALSE(parsed) << name << " accepted";
    if (!parsed) {
      EXPECT_FALSE(parsed.error().message.empty()) << name;
    }
  }
  auto duplicate = parse_key_ring(text_bytes(replace(text, current_line, current_line + current_line)));
  ASSERT_FALSE(duplicate);
  EXPECT_NE(duplicate.error().message.find("duplicate"), std::string::npos) << duplicate.error().message;
}

}  // namespace
}  // namespace kairos
