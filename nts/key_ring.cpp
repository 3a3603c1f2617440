#include "nts/key_ring.hpp"

#include "nts/openssl_error.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <string>

// Key file grammar (version 1). Every line ends with '\n'; single spaces; no other whitespace,
// no comments, no blank lines, decimal numbers without leading zeros, keys as 64 lowercase hex
// digits. One canonical spelling per ring, so parse → serialize reproduces the input exactly.
//
//   kairos-cookie-keys v1
//   mode <seeded|random>
//   interval <rotation interval in seconds, 60 .. 31622400>
//   old-keys <number of old epochs accepted, 0 .. 64>
//   epoch <current epoch, 0 .. 2^40>
//   key <id> <64 hex digits>        one line per key held, oldest first; ids are the epochs'
//   ...                             (mod 2^32), inside [epoch - old-keys, epoch + 1];
//                                   the current (epoch) and future (epoch + 1) keys are required
//   end
namespace kairos {
namespace {

constexpr std::string_view kMagic = "kairos-cookie-keys v1";
constexpr std::string_view kSeedSalt = "kairos/nts/cookie-master-key/v1";
constexpr char kHexDigits[] = "0123456789abcdef";

ByteView as_bytes(std::string_view s) { return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()}; }
std::string_view as_text(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes exactly out.size() bytes from 2 * out.size() hex digits.
bool decode_hex(std::string_view text, std::span<std::uint8_t> out, bool lowercase_only) {
  if (text.size() != 2 * out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const char hi_c = text[2 * i], lo_c = text[2 * i + 1];
    if (lowercase_only && ((hi_c >= 'A' && hi_c <= 'F') || (lo_c >= 'A' && lo_c <= 'F'))) return false;
    const int hi = hex_value(hi_c), lo = hex_value(lo_c);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return true;
}

// Strict unsigned decimal: digits only, no sign, no leading zeros, no overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  if (s.empty() || s.size() > 20 || (s.size() > 1 && s[0] == '0')) return std::nullopt;
  std::uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// Hands out '\n'-terminated lines; a final line without '\n' counts as truncation.
class LineReader {
 public:
  explicit LineReader(std::string_view text) : text_(text) {}
  std::optional<std::string_view> next() {
    const std::size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string_view line = text_.substr(pos_, end - pos_);
    pos_ = end + 1;
    ++number_;
    return line;
  }
  bool at_end() const { return pos_ == text_.size(); }
  std::size_t number() const { return number_; }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t number_ = 0;
};

// Reads "<name> <decimal>" and checks the bounds.
Result<std::uint64_t> parse_field(LineReader& lines, std::string_view name, std::uint64_t min, std::uint64_t max) {
  auto line = lines.next();
  if (!line) return fail("key file truncated before '" + std::string(name) + "'");
  const std::string where = "key file line " + std::to_string(lines.number()) + ": ";
  if (!line->starts_with(name) || line->size() <= name.size() || (*line)[name.size()] != ' ')
    return fail(where + "expected '" + std::string(name) + " <number>'");
  auto value = parse_decimal(line->substr(name.size() + 1));
  if (!value) return fail(where + "'" + std::string(name) + "' is not a plain decimal number");
  if (*value < min || *value > max) {
    return fail(where + "'" + std::string(name) + "' " + std::to_string(*value) + " is outside " +
                std::to_string(min) + ".." + std::to_string(max));
  }
  return *value;
}

Result<KeyRingConfig> check_config(KeyRingConfig config) {
  if (config.rotation_interval < kMinRotationInterval || config.rotation_interval > kMaxRotationInterval) {
    return fail("rotation interval " + std::to_string(config.rotation_interval) + " s is outside " +
                std::to_string(kMinRotationInterval) + ".." + std::to_string(kMaxRotationInterval) + " s");
  }
  if (config.old_keys > kMaxOldKeys)
    return fail("old key count " + std::to_string(config.old_keys) + " exceeds " + std::to_string(kMaxOldKeys));
  return config;
}

Result<std::uint64_t> epoch_of(std::uint64_t now_unix_seconds, std::uint32_t rotation_interval) {
  const std::uint64_t epoch = now_unix_seconds / rotation_interval;
  if (epoch > kMaxEpoch) return fail("time " + std::to_string(now_unix_seconds) + " is beyond the key ring's range");
  return epoch;
}

}  // namespace

// ---- SecretBytes ----

SecretBytes::SecretBytes(std::size_t capacity) : data_(capacity) {}
SecretBytes::SecretBytes(SecretBytes&& other) noexcept : data_(std::move(other.data_)), size_(other.size_) {
  other.size_ = 0;
}
SecretBytes::~SecretBytes() {
  if (!data_.empty()) OPENSSL_cleanse(data_.data(), data_.size());
}
bool SecretBytes::append(std::string_view text) {
  if (data_.size() - size_ < text.size()) return false;
  std::copy(text.begin(), text.end(), data_.begin() + static_cast<std::ptrdiff_t>(size_));
  size_ += text.size();
  return true;
}

// ---- Seed ----

Seed::~Seed() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }

Result<Seed> Seed::create(ByteView bytes) {
  if (bytes.size() < kMinSeedLength || bytes.size() > kMaxSeedLength) {
    return fail("seed is " + std::to_string(bytes.size()) + " bytes; it must be " + std::to_string(kMinSeedLength) +
                ".." + std::to_string(kMaxSeedLength));
  }
  // A seed of one repeated byte is a placeholder, not a secret.
  if (std::all_of(bytes.begin(), bytes.end(), [&](std::uint8_t b) { return b == bytes[0]; }))
    return fail("seed is one byte repeated; generate it with e.g. 'openssl rand -hex 32'");
  Seed seed;
  std::copy(bytes.begin(), bytes.end(), seed.bytes_.begin());
  seed.length_ = bytes.size();
  return seed;
}

Result<Seed> parse_seed_file(ByteView text) {
  if (text.size() > kMaxSeedFileSize)
    return fail("seed file is larger than " + std::to_string(kMaxSeedFileSize) + " bytes");
  std::string_view digits = as_text(text);
  if (digits.ends_with('\n')) digits.remove_suffix(1);
  if (digits.size() % 2 != 0) return fail("seed file must hold an even number of hex digits");
  std::array<std::uint8_t, kMaxSeedLength> bytes{};
  const std::size_t length = std::min(digits.size() / 2, bytes.size());
  const bool ok = digits.size() / 2 <= bytes.size() &&
                  decode_hex(digits, std::span<std::uint8_t>(bytes.data(), length), false);
  auto seed = ok ? Seed::create(ByteView(bytes.data(), length))
                 : fail("seed file must be hex digits only, on one line");
  OPENSSL_cleanse(bytes.data(), bytes.size());
  return seed;
}

// ---- HKDF ----

Result<void> hkdf_sha256(ByteView ikm, ByteView salt, ByteView info, std::span<std::uint8_t> out) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr), &EVP_KDF_free);
  if (!kdf) return fail(openssl_error("OpenSSL has no HKDF"));
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()), &EVP_KDF_CTX_free);
  if (!ctx) return fail("out of memory for HKDF");
  // OSSL_PARAM takes non-const pointers; OpenSSL only reads these buffers.
  auto octets = [](const char* key, ByteView b) {
    return OSSL_PARAM_construct_octet_string(key, const_cast<std::uint8_t*>(b.data()), b.size());
  };
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      octets(OSSL_KDF_PARAM_KEY, ikm),
      octets(OSSL_KDF_PARAM_SALT, salt),
      octets(OSSL_KDF_PARAM_INFO, info),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) return fail(openssl_error("HKDF failed"));
  return {};
}

Result<void> derive_seeded_key(const Seed& seed, std::uint32_t rotation_interval, std::uint64_t epoch,
                               std::span<std::uint8_t, kMasterKeyLength> out) {
  std::array<std::uint8_t, 12> info{};
  ByteWriter w(info);
  w.u32(rotation_interval);
  w.u64(epoch);
  return hkdf_sha256(seed.bytes(), as_bytes(kSeedSalt), info, out);
}

// ---- MasterKey ----

MasterKey::MasterKey(std::uint32_t id, ByteView key, Aead aead) : id_(id), aead_(std::move(aead)) {
  std::copy(key.begin(), key.end(), key_.begin());
}
MasterKey::MasterKey(MasterKey&& other) noexcept : id_(other.id_), key_(other.key_), aead_(std::move(other.aead_)) {
  OPENSSL_cleanse(other.key_.data(), other.key_.size());
}
MasterKey& MasterKey::operator=(MasterKey&& other) noexcept {
  if (this != &other) {
    id_ = other.id_;
    key_ = other.key_;
    aead_ = std::move(other.aead_);
    OPENSSL_cleanse(other.key_.data(), other.key_.size());
  }
  return *this;
}
MasterKey::~MasterKey() { OPENSSL_cleanse(key_.data(), key_.size()); }

Result<MasterKey> MasterKey::create(std::uint32_t id, ByteView key) {
  if (key.size() != kMasterKeyLength)
    return fail("master key must be " + std::to_string(kMasterKeyLength) + " bytes, got " + std::to_string(key.size()));
  auto aead = Aead::create(kCookieAead, key);
  if (!aead) return std::unexpected(aead.error());
  return MasterKey(id, key, std::move(*aead));
}

// ---- KeyRing ----

KeyRing::KeyRing(KeyMode mode, KeyRingConfig config, std::uint64_t epoch)
    : mode_(mode), config_(config), epoch_(epoch), slots_(slot_count()) {}

std::optional<std::uint64_t> KeyRing::slot_epoch(std::uint64_t epoch, std::size_t slot) const {
  if (epoch + slot < config_.old_keys) return std::nullopt;
  return epoch + slot - config_.old_keys;
}

Result<MasterKey> KeyRing::make_key(std::uint64_t epoch) const {
  std::array<std::uint8_t, kMasterKeyLength> key{};
  Result<void> made;
  if (mode_ == KeyMode::kSeeded) {
    if (!seed_) return fail("seeded key ring has no seed; attach the seed file before rotating");
    made = derive_seeded_key(*seed_, config_.rotation_interval, epoch, key);
  } else if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
    made = fail(openssl_error("RAND_bytes failed"));
  }
  auto master = made ? MasterKey::create(static_cast<std::uint32_t>(epoch), key) : std::unexpected(made.error());
  OPENSSL_cleanse(key.data(), key.size());
  return master;
}

// The slots for the window of `epoch`: keys the ring already holds for those epochs are carried
// over (in either direction, so a clock stepped back finds its keys again where it can), missing
// current and future keys are made, and missing old keys too for seeded rings (a random ring never
// sealed with a key it did not have). All new keys are made before anything is moved, so a
// failure leaves the ring as it was.
Result<std::vector<std::optional<MasterKey>>> KeyRing::build_window(std::uint64_t epoch) {
  std::vector<std::optional<MasterKey>> next(slot_count());
  std::vector<std::optional<std::size_t>> carry_from(slot_count());
  for (std::size_t j = 0; j < next.size(); ++j) {
    auto key_epoch = slot_epoch(epoch, j);
    if (!key_epoch) continue;
    if (auto i = slot_of(*key_epoch); i && slots_[*i]) {
      carry_from[j] = *i;
      continue;
    }
    if (j < config_.old_keys && mode_ != KeyMode::kSeeded) continue;
    auto key = make_key(*key_epoch);
    if (!key) return std::unexpected(key.error());
    next[j] = std::move(*key);
  }
  for (std::size_t j = 0; j < next.size(); ++j) {
    if (carry_from[j]) next[j] = std::move(slots_[*carry_from[j]]);
  }
  return next;
}

std::optional<std::size_t> KeyRing::slot_of(std::uint64_t key_epoch) const {
  if (key_epoch + config_.old_keys < epoch_) return std::nullopt;
  const std::uint64_t i = key_epoch + config_.old_keys - epoch_;
  if (i >= slots_.size()) return std::nullopt;
  return static_cast<std::size_t>(i);
}

Result<void> KeyRing::move_to(std::uint64_t epoch) {
  auto next = build_window(epoch);
  if (!next) return std::unexpected(next.error());
  slots_ = std::move(*next);  // keys left behind are wiped by ~MasterKey
  epoch_ = epoch;
  return {};
}

Result<KeyRing> KeyRing::from_seed(const Seed& seed, KeyRingConfig config, std::uint64_t now_unix_seconds) {
  auto checked = check_config(config);
  if (!checked) return std::unexpected(checked.error());
  auto epoch = epoch_of(now_unix_seconds, config.rotation_interval);
  if (!epoch) return std::unexpected(epoch.error());
  KeyRing ring(KeyMode::kSeeded, config, *epoch);
  ring.seed_ = seed;
  auto moved = ring.move_to(*epoch);
  if (!moved) return std::unexpected(moved.error());
  return ring;
}

Result<KeyRing> KeyRing::from_random(KeyRingConfig config, std::uint64_t now_unix_seconds) {
  auto checked = check_config(config);
  if (!checked) return std::unexpected(checked.error());
  auto epoch = epoch_of(now_unix_seconds, config.rotation_interval);
  if (!epoch) return std::unexpected(epoch.error());
  KeyRing ring(KeyMode::kRandom, config, *epoch);
  auto moved = ring.move_to(*epoch);
  if (!moved) return std::unexpected(moved.error());
  return ring;
}

Result<bool> KeyRing::rotate(std::uint64_t now_unix_seconds) {
  auto next_epoch = epoch_of(now_unix_seconds, config_.rotation_interval);
  if (!next_epoch) return std::unexpected(next_epoch.error());
  if (*next_epoch == epoch_) return false;
  if (mode_ == KeyMode::kSeeded && !seed_)
    return fail("seeded key ring has no seed; attach the seed file before rotating");
  auto moved = move_to(*next_epoch);
  if (!moved) return std::unexpected(moved.error());
  return true;
}

Result<void> KeyRing::attach_seed(const Seed& seed) {
  if (mode_ != KeyMode::kSeeded) return fail("a random key ring takes no seed");
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (!slots_[i]) continue;
    std::array<std::uint8_t, kMasterKeyLength> derived{};
    auto made = derive_seeded_key(seed, config_.rotation_interval, *slot_epoch(epoch_, i), derived);
    const bool same = made && CRYPTO_memcmp(derived.data(), slots_[i]->key().data(), derived.size()) == 0;
    OPENSSL_cleanse(derived.data(), derived.size());
    if (!made) return std::unexpected(made.error());
    if (!same) {
      return fail("seed does not derive the stored key " + std::to_string(slots_[i]->id()) +
                  "; was the seed file changed?");
    }
  }
  seed_ = seed;
  return {};
}

MasterKey& KeyRing::current() { return *slots_[config_.old_keys]; }

MasterKey* KeyRing::find(std::uint32_t id) {
  // Ids are epochs mod 2^32, so the slot is the id's distance from the oldest slot's id.
  const auto oldest_id = static_cast<std::uint32_t>(epoch_ - config_.old_keys);
  const std::uint32_t slot = id - oldest_id;
  if (slot >= slots_.size() || !slots_[slot]) return nullptr;
  return &*slots_[slot];
}

std::size_t KeyRing::key_count() const {
  return static_cast<std::size_t>(std::count_if(slots_.begin(), slots_.end(), [](const auto& s) { return s.has_value(); }));
}

SecretBytes KeyRing::serialize() const {
  // Header at most ~100 bytes; a key line at most 4 + 10 + 1 + 64 + 1 bytes.
  SecretBytes out(128 + slots_.size() * 96);
  auto line = [&](std::string_view a, std::string_view b) {
    out.append(a);
    out.append(b);
    out.append("\n");
  };
  line(kMagic, "");
  line("mode ", mode_ == KeyMode::kSeeded ? "seeded" : "random");
  line("interval ", std::to_string(config_.rotation_interval));
  line("old-keys ", std::to_string(config_.old_keys));
  line("epoch ", std::to_string(epoch_));
  for (const auto& slot : slots_) {
    if (!slot) continue;
    std::array<char, 2 * kMasterKeyLength> hex{};
    for (std::size_t i = 0; i < kMasterKeyLength; ++i) {
      hex[2 * i] = kHexDigits[slot->key()[i] >> 4];
      hex[2 * i + 1] = kHexDigits[slot->key()[i] & 15];
    }
    line("key " + std::to_string(slot->id()) + " ", std::string_view(hex.data(), hex.size()));
    OPENSSL_cleanse(hex.data(), hex.size());
  }
  line("end", "");
  return out;
}

bool operator==(const KeyRing& a, const KeyRing& b) {
  if (a.mode_ != b.mode_ || a.config_ != b.config_ || a.epoch_ != b.epoch_ || a.slots_.size() != b.slots_.size())
    return false;
  for (std::size_t i = 0; i < a.slots_.size(); ++i) {
    const auto& x = a.slots_[i];
    const auto& y = b.slots_[i];
    if (x.has_value() != y.has_value()) return false;
    if (x && (x->id() != y->id() || !std::equal(x->key().begin(), x->key().end(), y->key().begin()))) return false;
  }
  return true;
}

namespace {

struct KeyLine {
  std::uint32_t id;
  std::array<std::uint8_t, kMasterKeyLength> key{};
  ~KeyLine() { OPENSSL_cleanse(key.data(), key.size()); }
};

// Parses "key <id> <64 lowercase hex>".
Result<void> parse_key_line(std::string_view line, std::size_t number, KeyLine& out) {
  const std::string where = "key file line " + std::to_string(number) + ": ";
  if (!line.starts_with("key ")) return fail(where + "expected 'key <id> <hex>' or 'end'");
  line.remove_prefix(4);
  const std::size_t space = line.find(' ');
  if (space == std::string_view::npos) return fail(where + "key line has no key bytes");
  auto id = parse_decimal(line.substr(0, space));
  if (!id || *id > UINT32_MAX) return fail(where + "key id is not a 32-bit decimal number");
  out.id = static_cast<std::uint32_t>(*id);
  if (!decode_hex(line.substr(space + 1), out.key, true))
    return fail(where + "key must be " + std::to_string(2 * kMasterKeyLength) + " lowercase hex digits");
  return {};
}

}  // namespace

Result<KeyRing> parse_key_ring(ByteView text) {
  if (text.size() > kMaxKeyFileSize) return fail("key file is larger than " + std::to_string(kMaxKeyFileSize) + " bytes");
  LineReader lines(as_text(text));
  auto magic = lines.next();
  if (!magic || *magic != kMagic) return fail("not a kairos cookie key file (expected first line '" + std::string(kMagic) + "')");
  auto mode_line = lines.next();
  KeyMode mode;
  if (mode_line == "mode seeded") {
    mode = KeyMode::kSeeded;
  } else if (mode_line == "mode random") {
    mode = KeyMode::kRandom;
  } else {
    return fail("key file line 2: expected 'mode seeded' or 'mode random'");
  }
  auto interval = parse_field(lines, "interval", kMinRotationInterval, kMaxRotationInterval);
  if (!interval) return std::unexpected(interval.error());
  auto old_keys = parse_field(lines, "old-keys", 0, kMaxOldKeys);
  if (!old_keys) return std::unexpected(old_keys.error());
  auto epoch = parse_field(lines, "epoch", 0, kMaxEpoch);
  if (!epoch) return std::unexpected(epoch.error());

  KeyRing ring(mode, KeyRingConfig{static_cast<std::uint32_t>(*interval), static_cast<std::uint32_t>(*old_keys)},
               *epoch);
  const auto oldest_id = static_cast<std::uint32_t>(*epoch - *old_keys);
  std::optional<std::size_t> last_slot;
  for (;;) {
    auto line = lines.next();
    if (!line) return fail("key file truncated: no 'end' line");
    if (*line == "end") break;
    KeyLine key;
    auto parsed = parse_key_line(*line, lines.number(), key);
    if (!parsed) return std::unexpected(parsed.error());
    const std::string where = "key file line " + std::to_string(lines.number()) + ": ";
    const std::uint32_t slot = key.id - oldest_id;
    if (slot >= ring.slot_count() || !ring.slot_epoch(*epoch, slot))
      return fail(where + "key id " + std::to_string(key.id) + " is outside the window of epoch " + std::to_string(*epoch));
    if (last_slot && slot == *last_slot) return fail(where + "duplicate key id " + std::to_string(key.id));
    if (last_slot && slot < *last_slot) return fail(where + "key ids are not in ascending order");
    auto master = MasterKey::create(key.id, key.key);
    if (!master) return std::unexpected(master.error());
    ring.slots_[slot] = std::move(*master);
    last_slot = slot;
  }
  if (!lines.at_end()) return fail("key file has data after 'end'");
  if (!ring.slots_[*old_keys]) return fail("key file lacks the current key (id " + std::to_string(oldest_id + *old_keys) + ")");
  if (!ring.slots_[*old_keys + 1]) return fail("key file lacks the future key");
  return ring;
}

}  // namespace kairos
