#pragma once
// Master keys for server cookies (RFC 8915 §6) and the ring that rotates them on a schedule.
//
// Keys are tied to epochs: epoch = floor(unix_seconds / rotation_interval), key id = epoch mod 2^32.
// The ring holds the current key (the only one that seals), up to `old_keys` older keys and one
// future key (both only open), so cookies survive a rotation and hosts whose clocks or rotation
// are a little apart still open each other's cookies.
//
// Two sources of keys:
//  - seeded: key(epoch) = HKDF-SHA256 of a shared seed (see derive_seeded_key), so every host
//    given the same seed file derives the same ring without copying keys around;
//  - random: fresh RAND_bytes keys per epoch, persisted (serialize / parse_key_ring) so that a
//    restart keeps accepting the cookies already handed out.
//
// Sans-IO: time is a parameter, nothing here reads a clock or a file.
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "clock/result.hpp"
#include "nts/aead.hpp"
#include "nts/bytes.hpp"

namespace kairos {

// Cookies are sealed with AEAD_AES_SIV_CMAC_256 under a 32-byte master key.
inline constexpr AeadId kCookieAead = AeadId::kAesSivCmac256;
inline constexpr std::size_t kMasterKeyLength = 32;

inline constexpr std::uint32_t kMinRotationInterval = 60;             // seconds
inline constexpr std::uint32_t kMaxRotationInterval = 366 * 86400;    // seconds
inline constexpr std::uint32_t kMaxOldKeys = 64;
// Far beyond any real date for any interval; keeps epoch + 1 and the window arithmetic exact.
inline constexpr std::uint64_t kMaxEpoch = std::uint64_t{1} << 40;

inline constexpr std::size_t kMinSeedLength = 32;
inline constexpr std::size_t kMaxSeedLength = 128;
inline constexpr std::size_t kMaxSeedFileSize = 2 * kMaxSeedLength + 1;
inline constexpr std::size_t kMaxKeyFileSize = 16 * 1024;

// A byte buffer for secrets: wiped with OPENSSL_cleanse when destroyed. Its capacity is fixed at
// construction so no reallocation leaves an unwiped copy behind.
class SecretBytes {
 public:
  explicit SecretBytes(std::size_t capacity);
  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&&) = delete;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // Fails (appends nothing) when the text does not fit the fixed capacity.
  bool append(std::string_view text);
  ByteView view() const { return {data_.data(), size_}; }
  std::size_t size() const { return size_; }

 private:
  std::vector<std::uint8_t> data_;
  std::size_t size_ = 0;
};

// The shared secret of a seeded ring; wiped when destroyed.
class Seed {
 public:
  static Result<Seed> create(ByteView bytes);
  Seed(const Seed& other) = default;
  Seed& operator=(const Seed& other) = default;
  ~Seed();
  ByteView bytes() const { return {bytes_.data(), length_}; }

 private:
  Seed() = default;
  std::array<std::uint8_t, kMaxSeedLength> bytes_{};
  std::size_t length_ = 0;
};

// Seed file: the seed as hex digits (either case) on one line, optionally ended by one '\n',
// 64..256 digits (32..128 bytes) and nothing else. Hex so `openssl rand -hex 32 > seed` makes
// one and it survives copy and paste; the 32-byte floor is the master key's own strength.
Result<Seed> parse_seed_file(ByteView text);

// RFC 5869 HKDF with SHA-256 (extract then expand) into `out` (at most 255 * 32 bytes).
Result<void> hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::span<std::uint8_t> out);

// The master key of one epoch of a seeded ring:
//   key = HKDF-SHA256(IKM  = seed,
//                     salt = the 31 ASCII bytes "kairos/nts/cookie-master-key/v1",
//                     info = u32be(rotation_interval) ‖ u64be(epoch),
//                     L    = 32)
// The interval is in `info` so that rings with different schedules never share a key for
// differently sized windows that happen to carry the same epoch number.
Result<void> derive_seeded_key(const Seed& seed, std::uint32_t rotation_interval, std::uint64_t epoch,
                               std::span<std::uint8_t, kMasterKeyLength> out);

// One master key: its id and 32 bytes, with the Aead built once so sealing and opening cookies
// never set up a cipher.
class MasterKey {
 public:
  static Result<MasterKey> create(std::uint32_t id, ByteView key);
  MasterKey(MasterKey&& other) noexcept;
  MasterKey& operator=(MasterKey&& other) noexcept;
  MasterKey(const MasterKey&) = delete;
  MasterKey& operator=(const MasterKey&) = delete;
  ~MasterKey();

  std::uint32_t id() const { return id_; }
  ByteView key() const { return key_; }
  Aead& aead() { return aead_; }

 private:
  MasterKey(std::uint32_t id, ByteView key, Aead aead);
  std::uint32_t id_;
  std::array<std::uint8_t, kMasterKeyLength> key_{};
  Aead aead_;
};

enum class KeyMode : std::uint8_t { kSeeded, kRandom };

struct KeyRingConfig {
  std::uint32_t rotation_interval = 86400;  // seconds per epoch
  std::uint32_t old_keys = 7;               // epochs before the current one still accepted
  bool operator==(const KeyRingConfig&) const = default;
};

class KeyRing {
 public:
  static Result<KeyRing> from_seed(const Seed& seed, KeyRingConfig config, std::uint64_t now_unix_seconds);
  // Fresh random current and future keys; old slots stay empty (nothing was sealed with them).
  static Result<KeyRing> from_random(KeyRingConfig config, std::uint64_t now_unix_seconds);

  KeyRing(KeyRing&&) noexcept = default;
  KeyRing& operator=(KeyRing&&) noexcept = default;

  // Moves the window to the epoch of `now`: keys still inside it are kept, keys that left it are
  // wiped, new slots get derived (seeded) or random keys. Returns whether the window moved.
  // A seeded ring loaded from a file needs attach_seed first.
  Result<bool> rotate(std::uint64_t now_unix_seconds);

  // Gives a seeded ring parsed from a file its seed back, after checking that the seed derives
  // exactly the stored keys (so a changed seed file is noticed, not silently used).
  Result<void> attach_seed(const Seed& seed);

  MasterKey& current();
  // The current, an old or the future key with this id; nullptr when unknown or expired.
  MasterKey* find(std::uint32_t id);

  KeyMode mode() const { return mode_; }
  const KeyRingConfig& config() const { return config_; }
  std::uint64_t epoch() const { return epoch_; }
  std::size_t key_count() const;

  // Versioned text, see key_ring.cpp for the exact grammar. parse_key_ring(serialize()) gives an
  // equal ring and serialize() of a parsed ring reproduces the input byte for byte.
  SecretBytes serialize() const;

  friend bool operator==(const KeyRing& a, const KeyRing& b);
  friend Result<KeyRing> parse_key_ring(ByteView text);

 private:
  KeyRing(KeyMode mode, KeyRingConfig config, std::uint64_t epoch);
  std::size_t slot_count() const { return std::size_t{config_.old_keys} + 2; }
  // Epoch of slot i in the window of `epoch`, nullopt for slots before epoch 0.
  std::optional<std::uint64_t> slot_epoch(std::uint64_t epoch, std::size_t slot) const;
  // Slot of a key epoch in the current window, if inside it.
  std::optional<std::size_t> slot_of(std::uint64_t key_epoch) const;
  Result<MasterKey> make_key(std::uint64_t epoch) const;
  Result<std::vector<std::optional<MasterKey>>> build_window(std::uint64_t epoch);
  Result<void> move_to(std::uint64_t epoch);

  KeyMode mode_;
  KeyRingConfig config_;
  std::uint64_t epoch_;
  std::optional<Seed> seed_;
  // Slot i holds the key of epoch (epoch_ - old_keys + i): old keys, then current, then future.
  std::vector<std::optional<MasterKey>> slots_;
};

Result<KeyRing> parse_key_ring(ByteView text);

}  // namespace kairos
