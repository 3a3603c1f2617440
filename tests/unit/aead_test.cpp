#include "nts/aead.hpp"

#include <gtest/gtest.h>

#include <openssl/evp.h>

#include <random>
#include <vector>

#include "test_util.hpp"

namespace kairos {
namespace {

using test::hex;
using test::to_hex;
using Buffer = std::vector<std::uint8_t>;

Buffer seal(Aead& aead, const std::vector<Buffer>& ad, const Buffer& nonce, const Buffer& plaintext) {
  std::vector<ByteView> parts(ad.begin(), ad.end());
  Buffer out(plaintext.size() + kAeadTagLength);
  auto n = aead.seal(parts, nonce, plaintext, out);
  EXPECT_TRUE(n.has_value()) << n.error().message;
  out.resize(n.value_or(0));
  return out;
}

Result<Buffer> open(Aead& aead, const std::vector<Buffer>& ad, const Buffer& nonce, const Buffer& ciphertext) {
  std::vector<ByteView> parts(ad.begin(), ad.end());
  Buffer out(ciphertext.size());
  auto n = aead.open(parts, nonce, ciphertext, out);
  if (!n) return std::unexpected(n.error());
  out.resize(*n);
  return out;
}

// RFC 5297 A.1: deterministic mode, one associated-data component, no nonce.
TEST(Aead, Rfc5297DeterministicVector) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, hex("fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  ASSERT_TRUE(aead) << aead.error().message;
  const std::vector<Buffer> ad = {hex("101112131415161718191a1b1c1d1e1f2021222324252627")};
  const Buffer plaintext = hex("112233445566778899aabbccddee");
  const Buffer ciphertext = seal(*aead, ad, {}, plaintext);
  EXPECT_EQ(to_hex(ciphertext), "85632d07c6e8f37f950acd320a2ecc9340c02b9690c4dc04daef7f6afe5c");
  auto back = open(*aead, ad, {}, ciphertext);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, plaintext);
}

// RFC 5297 A.2: two associated-data components and a nonce, the shape NTS uses.
TEST(Aead, Rfc5297NonceBasedVector) {
  auto aead = Aead::create(15, hex("7f7e7d7c7b7a79787776757473727170404142434445464748494a4b4c4d4e4f"));
  ASSERT_TRUE(aead) << aead.error().message;
  const std::vector<Buffer> ad = {
      hex("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100"),
      hex("102030405060708090a0")};
  const Buffer nonce = hex("09f911029d74e35bd84156c5635688c0");
  const Buffer plaintext =
      hex("7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553");
  const Buffer ciphertext = seal(*aead, ad, nonce, plaintext);
  EXPECT_EQ(to_hex(ciphertext),
            "7bdb6e3b432667eb06f4d14bff2fbd0fcb900f2fddbe404326601965c889bf17"
            "dba77ceb094fa663b7a3f748ba8af829ea64ad544a272e9c485b62a3fd5c0d");
  auto back = open(*aead, ad, nonce, ciphertext);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, plaintext);
}

// The A.2 inputs under a 512-bit key (AEAD_AES_SIV_CMAC_512), from the NIST SIV vectors.
TEST(Aead, SivCmac512Vector) {
  auto aead = Aead::create(AeadId::kAesSivCmac512,
                           hex("7f7e7d7c7b7a797877767574737271706f6e6d6c6b6a69686766656463626160"
                               "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5b5d5e5f"));
  ASSERT_TRUE(aead) << aead.error().message;
  const std::vector<Buffer> ad = {
      hex("00112233445566778899aabbccddeeffdeaddadadeaddadaffeeddccbbaa99887766554433221100"),
      hex("102030405060708090a0")};
  const Buffer ciphertext = seal(
      *aead, ad, hex("09f911029d74e35bd84156c5635688c0"),
      hex("7468697320697320736f6d6520706c61696e7465787420746f20656e6372797074207573696e67205349562d414553"));
  EXPECT_EQ(to_hex(ciphertext),
            "85b8167310038db7dc4692c0281ca35868181b2762f3c24f2efa5fb80cb14351"
            "6ce6c434b898a6fd8eb98a418842f51f66fc67de43ac185a66dd72475bbb08");
}

TEST(Aead, EveryAlgorithmRoundTripsAndRejectsTampering) {
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    Buffer key(*aead_key_length(id));
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<std::uint8_t>(i * 7 + id);
    auto aead = Aead::create(id, key);
    ASSERT_TRUE(aead) << aead.error().message;
    const std::vector<Buffer> ad = {Buffer(48, 0x23)};
    const Buffer nonce(16, 0x42);
    const Buffer plaintext(100, 0x99);
    Buffer ciphertext = seal(*aead, ad, nonce, plaintext);
    ASSERT_EQ(ciphertext.size(), plaintext.size() + 16);
    ASSERT_TRUE(open(*aead, ad, nonce, ciphertext));

    for (std::size_t pos : {std::size_t{0}, std::size_t{15}, std::size_t{16}, ciphertext.size() - 1}) {
      Buffer flipped = ciphertext;
      flipped[pos] ^= 1;
      EXPECT_FALSE(open(*aead, ad, nonce, flipped)) << "id " << id << " byte " << pos;
    }
    Buffer other_nonce = nonce;
    other_nonce[3] ^= 0x80;
    EXPECT_FALSE(open(*aead, ad, other_nonce, ciphertext));
    EXPECT_FALSE(open(*aead, {Buffer(48, 0x24)}, nonce, ciphertext));
    EXPECT_FALSE(open(*aead, {}, nonce, ciphertext));
    // The context must still work after failures.
    EXPECT_TRUE(open(*aead, ad, nonce, ciphertext));
  }
}

TEST(Aead, EmptyPlaintextIsJustATag) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 1));
  ASSERT_TRUE(aead);
  Buffer ciphertext = seal(*aead, {Buffer(4, 2)}, Buffer(16, 3), {});
  ASSERT_EQ(ciphertext.size(), kAeadTagLength);
  auto back = open(*aead, {Buffer(4, 2)}, Buffer(16, 3), ciphertext);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_TRUE(back->empty());
}

// OpenSSL's own AES-SIV as an independent reference (one context per operation, non-empty
// plaintext: the two things it cannot do that kairos' Aead must).
Buffer openssl_siv(std::uint16_t id, const Buffer& key, const std::vector<Buffer>& ad, const Buffer& nonce,
                   const Buffer& plaintext) {
  const char* name = id == 15 ? "AES-128-SIV" : id == 16 ? "AES-192-SIV" : "AES-256-SIV";
  EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Buffer out(plaintext.size() + 16);
  int len = 0;
  bool ok = EVP_EncryptInit_ex2(ctx, cipher, key.data(), nullptr, nullptr) == 1;
  for (const Buffer& part : ad) ok = ok && EVP_EncryptUpdate(ctx, nullptr, &len, part.data(), static_cast<int>(part.size())) == 1;
  ok = ok && EVP_EncryptUpdate(ctx, nullptr, &len, nonce.data(), static_cast<int>(nonce.size())) == 1;
  ok = ok && EVP_EncryptUpdate(ctx, out.data() + 16, &len, plaintext.data(), static_cast<int>(plaintext.size())) == 1;
  ok = ok && EVP_EncryptFinal_ex(ctx, out.data() + 16 + len, &len) == 1;
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, out.data()) == 1;
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  EXPECT_TRUE(ok);
  return out;
}

TEST(Aead, MatchesOpenSslSivOnRandomInputsWithOneContextPerKey) {
  std::mt19937 rng(20261123);
  auto random_bytes = [&](std::size_t n) {
    Buffer b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
  };
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const Buffer key = random_bytes(*aead_key_length(id));
    auto aead = Aead::create(id, key);
    ASSERT_TRUE(aead);
    // Many operations on the same Aead: the contexts are re-armed, never re-keyed.
    for (int round = 0; round < 200; ++round) {
      std::vector<Buffer> ad;
      for (std::size_t i = 0, n = rng() % 4; i < n; ++i) ad.push_back(random_bytes(1 + rng() % 70));  // OpenSSL skips empty components
      const Buffer nonce = random_bytes(1 + rng() % 32);
      const Buffer plaintext = random_bytes(1 + rng() % 150);
      const Buffer ours = seal(*aead, ad, nonce, plaintext);
      ASSERT_EQ(to_hex(ours), to_hex(openssl_siv(id, key, ad, nonce, plaintext))) << "id " << id << " round " << round;
      auto back = open(*aead, ad, nonce, ours);
      ASSERT_TRUE(back) << back.error().message;
      ASSERT_EQ(*back, plaintext);
    }
  }
}

// Sizes around block and chunk boundaries (CMAC and CTR hand OpenSSL up to 256 bytes per call),
// and associated data split in odd places, still match the reference.
TEST(Aead, MatchesOpenSslSivAcrossBlockAndChunkBoundaries) {
  std::mt19937 rng(5297);
  auto random_bytes = [&](std::size_t n) {
    Buffer b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
  };
  const std::size_t sizes[] = {1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 271, 272, 273, 511, 512, 513, 1000, 1500};
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const Buffer key = random_bytes(*aead_key_length(id));
    auto aead = Aead::create(id, key);
    ASSERT_TRUE(aead);
    for (std::size_t ad_size : sizes) {
      for (std::size_t plain_size : sizes) {
        const std::vector<Buffer> ad = {random_bytes(ad_size), random_bytes(1 + rng() % 40)};
        const Buffer nonce = random_bytes(16);
        const Buffer plaintext = random_bytes(plain_size);
        const Buffer ours = seal(*aead, ad, nonce, plaintext);
        ASSERT_EQ(to_hex(ours), to_hex(openssl_siv(id, key, ad, nonce, plaintext)))
            << "id " << id << " ad " << ad_size << " plaintext " << plain_size;
        auto back = open(*aead, ad, nonce, ours);
        ASSERT_TRUE(back) << back.error().message;
        ASSERT_EQ(*back, plaintext);
      }
    }
  }
}

TEST(Aead, FailedOpenZeroesTheOutput) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 9));
  ASSERT_TRUE(aead);
  Buffer ciphertext = seal(*aead, {}, Buffer(16, 1), Buffer(40, 0x5a));
  ciphertext[20] ^= 4;
  Buffer out(40, 0xee);
  EXPECT_FALSE(aead->open({}, Buffer(16, 1), ciphertext, out));
  EXPECT_EQ(out, Buffer(40, 0));
}

// A re-keyed Aead behaves exactly like one created with the new key, for every algorithm, and
// again after many switches back and forth (as a server does between clients).
TEST(Aead, RekeyMatchesAFreshlyCreatedAead) {
  std::mt19937 rng(8915);
  auto random_bytes = [&](std::size_t n) {
    Buffer b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
  };
  for (std::uint16_t id : {std::uint16_t{15}, std::uint16_t{16}, std::uint16_t{17}}) {
    const std::size_t key_length = *aead_key_length(id);
    auto reused = Aead::create(id, random_bytes(key_length));
    ASSERT_TRUE(reused);
    for (int round = 0; round < 20; ++round) {
      const Buffer key = random_bytes(key_length);
      ASSERT_TRUE(reused->rekey(key)) << id;
      auto fresh = Aead::create(id, key);
      ASSERT_TRUE(fresh);
      const std::vector<Buffer> ad = {random_bytes(1 + rng() % 200)};
      const Buffer nonce = random_bytes(16);
      const Buffer plaintext = random_bytes(rng() % 120);
      const Buffer sealed = seal(*reused, ad, nonce, plaintext);
      ASSERT_EQ(to_hex(sealed), to_hex(seal(*fresh, ad, nonce, plaintext))) << id << " round " << round;
      auto back = open(*fresh, ad, nonce, sealed);
      ASSERT_TRUE(back) << back.error().message;
      EXPECT_EQ(*back, plaintext);
    }
  }
}

TEST(Aead, FailedRekeyLeavesNoUsableKey) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 1));
  ASSERT_TRUE(aead);
  const Buffer sealed = seal(*aead, {}, Buffer(16, 2), Buffer(20, 3));
  EXPECT_FALSE(aead->rekey(Buffer(48, 4)));  // a key for AEAD 16, not 15
  Buffer out(64);
  EXPECT_FALSE(aead->seal({}, Buffer(16, 2), Buffer(20, 3), out));
  EXPECT_FALSE(aead->open({}, Buffer(16, 2), sealed, out));
  ASSERT_TRUE(aead->rekey(Buffer(32, 1)));
  EXPECT_TRUE(open(*aead, {}, Buffer(16, 2), sealed));
}

TEST(Aead, MovedFromAeadRefusesToWork) {
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 1));
  ASSERT_TRUE(aead);
  Aead moved = std::move(*aead);
  Buffer out(64);
  EXPECT_TRUE(moved.seal({}, Buffer(16, 2), Buffer(20, 3), out));
  EXPECT_FALSE(aead->seal({}, Buffer(16, 2), Buffer(20, 3), out));  // NOLINT(bugprone-use-after-move)
  EXPECT_FALSE(aead->rekey(Buffer(32, 1)));
}

TEST(Aead, BadKeysAndBuffersAreErrors) {
  EXPECT_FALSE(Aead::create(15, Buffer(31)));
  EXPECT_FALSE(Aead::create(30, Buffer(16)));  // GCM-SIV is not offered
  EXPECT_FALSE(Aead::create(0, Buffer(32)));
  auto aead = Aead::create(AeadId::kAesSivCmac256, Buffer(32, 1));
  ASSERT_TRUE(aead);
  Buffer small(10);
  EXPECT_FALSE(aead->seal({}, {}, Buffer(5), small));
  EXPECT_FALSE(aead->open({}, {}, Buffer(15), small));
}

}  // namespace
}  // namespace kairos
