#include "nts/cookie.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <vector>

#include "nts/ntp_packet.hpp"
#include "test_util.hpp"

namespace kairos {
namespace {

using Buffer = std::vector<std::uint8_t>;

constexpr std::uint64_t kDay = 86400;
constexpr std::uint64_t kNow = 19000 * kDay + 77;

Seed seed_of(std::uint8_t first) {
  Buffer bytes(32);
  for (std::size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<std::uint8_t>(first + 3 * i);
  return Seed::create(bytes).value();
}

KeyRing seeded_ring(std::uint8_t seed, std::uint64_t now, std::uint32_t old_keys = 1) {
  return KeyRing::from_seed(seed_of(seed), KeyRingConfig{86400, old_keys}, now).value();
}

NtsKeys keys_for(std::uint16_t aead_id) {
  const std::size_t n = aead_key_length(aead_id).value();
  Buffer c2s(n), s2c(n);
  for (std::size_t i = 0; i < n; ++i) {
    c2s[i] = static_cast<std::uint8_t>(i);
    s2c[i] = static_cast<std::uint8_t>(0xa0 + i);
  }
  return NtsKeys::create(aead_id, c2s, s2c).value();
}

std::array<std::uint8_t, kCookieNonceLength> nonce_of(std::uint8_t b) {
  std::array<std::uint8_t, kCookieNonceLength> nonce{};
  nonce.fill(b);
  return nonce;
}

Buffer seal(const NtsKeys& keys, MasterKey& master, std::uint8_t nonce = 0x42) {
  Buffer out(kCookieMaxLength);
  auto n = seal_cookie(keys, master, nonce_of(nonce), out);
  EXPECT_TRUE(n) << n.error().message;
  out.resize(n.value_or(0));
  return out;
}

std::string error_of(ByteView cookie, KeyRing& ring) {
  auto opened = open_cookie(cookie, ring);
  return opened ? std::string("opened") : opened.error().message;
}

TEST(Cookie, RoundTripsForEveryAead) {
  auto ring = seeded_ring(1, kNow);
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const NtsKeys keys = keys_for(id);
    const Buffer cookie = seal(keys, ring.current());
    EXPECT_EQ(cookie.size(), cookie_length(id).value()) << id;
    // key id ‖ nonce ‖ ciphertext
    EXPECT_EQ(test::to_hex(Buffer(cookie.begin(), cookie.begin() + 4)), "00004a38") << id;  // 19000
    EXPECT_EQ(Buffer(cookie.begin() + 4, cookie.begin() + 20), Buffer(16, 0x42));
    auto opened = open_cookie(cookie, ring);
    ASSERT_TRUE(opened) << id << ": " << opened.error().message;
    EXPECT_TRUE(*opened == keys);
    EXPECT_EQ(opened->aead_id(), id);
  }
  EXPECT_EQ(cookie_length(15), 104u);
  EXPECT_EQ(cookie_length(30), std::nullopt);
}

TEST(Cookie, NonceMakesCookiesDifferAndIsDeterministic) {
  auto ring = seeded_ring(1, kNow);
  const NtsKeys keys = keys_for(15);
  EXPECT_EQ(seal(keys, ring.current(), 1), seal(keys, ring.current(), 1));
  EXPECT_NE(seal(keys, ring.current(), 1), seal(keys, ring.current(), 2));
}

TEST(Cookie, RandomNonceCookiesDifferAndOpen) {
  auto ring = seeded_ring(1, kNow);
  const NtsKeys keys = keys_for(15);
  Buffer a(kCookieMaxLength), b(kCookieMaxLength);
  auto na = seal_cookie(keys, ring.current(), a);
  auto nb = seal_cookie(keys, ring.current(), b);
  ASSERT_TRUE(na && nb);
  a.resize(*na);
  b.resize(*nb);
  EXPECT_NE(a, b);
  EXPECT_TRUE(open_cookie(a, ring));
  EXPECT_TRUE(open_cookie(b, ring));
}

TEST(Cookie, OldKeyStillOpensAfterOneRotation) {
  auto ring = seeded_ring(2, kNow, 1);
  const NtsKeys keys = keys_for(15);
  const Buffer cookie = seal(keys, ring.current());
  ASSERT_TRUE(ring.rotate(kNow + kDay));
  auto opened = open_cookie(cookie, ring);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(*opened == keys);
}

TEST(Cookie, CookieFromRotatedOutKeyIsRefused) {
  auto ring = seeded_ring(2, kNow, 1);
  const Buffer cookie = seal(keys_for(15), ring.current());
  ASSERT_TRUE(ring.rotate(kNow + 2 * kDay));
  EXPECT_EQ(error_of(cookie, ring), "cookie key id 19000 is unknown or expired");
}

TEST(Cookie, FutureKeyIsAccepted) {
  // A host a rotation ahead seals with what is this host's future key.
  auto behind = seeded_ring(3, kNow);
  auto ahead = seeded_ring(3, kNow + kDay);
  const NtsKeys keys = keys_for(16);
  const Buffer cookie = seal(keys, ahead.current());
  auto opened = open_cookie(cookie, behind);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(*opened == keys);
  // Two rotations ahead is too far.
  auto far = seeded_ring(3, kNow + 2 * kDay);
  EXPECT_EQ(error_of(seal(keys, far.current()), behind), "cookie key id 19002 is unknown or expired");
}

TEST(Cookie, RingsFromTheSameSeedOpenEachOthersCookies) {
  auto a = seeded_ring(4, kNow);
  auto b = seeded_ring(4, kNow + 5);
  const NtsKeys keys = keys_for(17);
  auto opened = open_cookie(seal(keys, a.current()), b);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(*opened == keys);
  EXPECT_TRUE(open_cookie(seal(keys, b.current()), a));
}

TEST(Cookie, RingsFromDifferentSeedsDoNot) {
  auto a = seeded_ring(4, kNow);
  auto b = seeded_ring(5, kNow);
  EXPECT_EQ(error_of(seal(keys_for(15), a.current()), b), "cookie authentication failed");
}

TEST(Cookie, EveryBitFlipIsRefused) {
  auto ring = seeded_ring(6, kNow, 2);
  const Buffer cookie = seal(keys_for(15), ring.current());
  ASSERT_TRUE(open_cookie(cookie, ring));
  for (std::size_t i = 0; i < cookie.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      Buffer changed = cookie;
      changed[i] = static_cast<std::uint8_t>(changed[i] ^ (1 << bit));
      EXPECT_FALSE(open_cookie(changed, ring)) << "byte " << i << " bit " << bit;
    }
  }
}

// Pins the documented layout: the ciphertext after key id and nonce opens under the master key
// with the key id bytes as associated data, and only with them.
TEST(Cookie, CiphertextBindsTheKeyIdAsAssociatedData) {
  auto ring = seeded_ring(6, kNow);
  const NtsKeys keys = keys_for(15);
  const Buffer cookie = seal(keys, ring.current());
  const ByteView key_id = ByteView(cookie).first(4);
  const ByteView nonce = ByteView(cookie).subspan(4, 16);
  const ByteView ciphertext = ByteView(cookie).subspan(20);
  Buffer plain(ciphertext.size());
  const ByteView with_id[] = {key_id};
  auto n = ring.current().aead().open(with_id, nonce, ciphertext, plain);
  ASSERT_TRUE(n) << n.error().message;
  plain.resize(*n);
  Buffer expected = {0, 15, 0, 0};
  expected.insert(expected.end(), keys.c2s().begin(), keys.c2s().end());
  expected.insert(expected.end(), keys.s2c().begin(), keys.s2c().end());
  EXPECT_EQ(plain, expected);
  EXPECT_FALSE(ring.current().aead().open({}, nonce, ciphertext, plain));
}

// Moving a cookie to another id the ring knows fails to open.
TEST(Cookie, KeyIdOfAnotherKnownKeyIsRefused) {
  auto ring = seeded_ring(6, kNow, 2);
  Buffer cookie = seal(keys_for(15), ring.current());
  cookie[3] = static_cast<std::uint8_t>(cookie[3] - 1);  // 18999, an old key of the ring
  ASSERT_NE(ring.find(18999), nullptr);
  EXPECT_EQ(error_of(cookie, ring), "cookie authentication failed");
}

TEST(Cookie, TruncatedAndExtendedCookiesAreRefused) {
  auto ring = seeded_ring(6, kNow);
  const Buffer cookie = seal(keys_for(15), ring.current());
  for (std::size_t n = 0; n < cookie.size(); ++n)
    EXPECT_FALSE(open_cookie(ByteView(cookie).first(n), ring)) << n;
  for (std::size_t extra = 1; extra <= 80; ++extra) {
    Buffer longer = cookie;
    longer.resize(cookie.size() + extra, 0);
    EXPECT_FALSE(open_cookie(longer, ring)) << extra;
  }
  EXPECT_EQ(error_of(ByteView(cookie).first(101), ring), "cookie length 101 fits no supported AEAD");
}

// A Cookie field's body is the cookie plus zero padding to a word; the server reads the cookie
// back from it.
TEST(Cookie, CookieFromFieldStripsPadding) {
  auto ring = seeded_ring(6, kNow);
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const Buffer cookie = seal(keys_for(id), ring.current());
    EXPECT_EQ(cookie.size() % 4, 0u) << id;  // whole words: nothing for a client to pad
    Buffer body = cookie;
    body.resize(cookie.size() + 3, 0);  // tolerated all the same
    auto found = cookie_from_field(body);
    ASSERT_TRUE(found) << id;
    EXPECT_EQ(Buffer(found->begin(), found->end()), cookie);
    EXPECT_TRUE(open_cookie(*found, ring));
    EXPECT_TRUE(cookie_from_field(cookie));  // unpadded, as a caller may pass it
    body.back() = 1;
    EXPECT_FALSE(cookie_from_field(body)) << id;  // padding must be zero
  }
  EXPECT_FALSE(cookie_from_field(Buffer(100)));
  EXPECT_FALSE(cookie_from_field(Buffer(103)));
  EXPECT_FALSE(cookie_from_field({}));
}

// Seals a hand-made plaintext the way seal_cookie frames it, to reach the checks after decryption.
Buffer seal_plaintext(MasterKey& master, const Buffer& plaintext) {
  Buffer out(kCookieOverhead + plaintext.size());
  ByteWriter w(out);
  w.u32(master.id());
  const auto nonce = nonce_of(9);
  w.bytes(nonce);
  const Buffer key_id(out.begin(), out.begin() + 4);
  const ByteView ad[] = {key_id};
  EXPECT_TRUE(master.aead().seal(ad, nonce, plaintext, std::span<std::uint8_t>(out).subspan(w.size())));
  return out;
}

TEST(Cookie, BadAeadIdInsideIsRefused) {
  auto ring = seeded_ring(7, kNow);
  Buffer plaintext(68, 0x11);
  plaintext[0] = 0;
  plaintext[1] = 99;
  plaintext[2] = plaintext[3] = 0;
  EXPECT_EQ(error_of(seal_plaintext(ring.current(), plaintext), ring), "cookie holds unsupported AEAD 99");
  // AEAD 15 with the key bytes of an AEAD 16 cookie: a valid length, the wrong content.
  Buffer mismatched(100, 0x22);
  mismatched[0] = 0;
  mismatched[1] = 15;
  mismatched[2] = mismatched[3] = 0;
  EXPECT_EQ(error_of(seal_plaintext(ring.current(), mismatched), ring), "cookie holds 96 key bytes for AEAD 15");
  Buffer reserved(68, 0x11);
  reserved[0] = 0;
  reserved[1] = 15;
  reserved[2] = 0;
  reserved[3] = 1;
  EXPECT_EQ(error_of(seal_plaintext(ring.current(), reserved), ring), "cookie has a non-zero reserved field");
}

TEST(Cookie, BadKeysAndBuffersAreErrors) {
  EXPECT_FALSE(NtsKeys::create(30, Buffer(16), Buffer(16)));
  EXPECT_FALSE(NtsKeys::create(15, Buffer(32), Buffer(31)));
  EXPECT_FALSE(NtsKeys::create(16, Buffer(32), Buffer(32)));
  auto ring = seeded_ring(7, kNow);
  Buffer small(103);
  EXPECT_FALSE(seal_cookie(keys_for(15), ring.current(), nonce_of(1), small));
}

}  // namespace
}  // namespace kairos
