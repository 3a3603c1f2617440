#include "daemon/cookie_keys.hpp"

#include <sys/stat.h>

#include "daemon/state_file.hpp"

namespace kairos {

Result<CookieKeys> CookieKeys::open(const CookieKeysOptions& options, std::uint64_t now_unix_seconds,
                                    std::vector<std::string>& notes) {
  if (options.seed_file) {
    auto seed = load_seed_file(*options.seed_file);
    if (!seed) return std::unexpected(seed.error());
    auto ring = KeyRing::from_seed(*seed, options.schedule, now_unix_seconds);
    if (!ring) return fail("cookie keys from " + *options.seed_file + ": " + ring.error().message);
    return CookieKeys(options, std::move(*ring));
  }

  std::optional<KeyRing> ring;
  struct stat st {};
  if (::stat(options.state_file.c_str(), &st) == 0) {
    auto loaded = load_key_ring(options.state_file);
    if (!loaded) return std::unexpected(loaded.error());  // never silently drop keys in use
    if (loaded->mode() != KeyMode::kRandom) {
      notes.push_back(options.state_file + " holds a seeded ring but no key-seed is configured; starting fresh random keys");
    } else if (loaded->config() != options.schedule) {
      notes.push_back(options.state_file + " was written for another rotation schedule; starting fresh random keys "
                      "(clients holding old cookies get an NTS NAK and run NTS-KE again)");
    } else {
      ring = std::move(*loaded);
    }
  } else {
    notes.push_back("no cookie key file at " + options.state_file + "; starting fresh random keys");
  }
  if (!ring) {
    auto fresh = KeyRing::from_random(options.schedule, now_unix_seconds);
    if (!fresh) return std::unexpected(fresh.error());
    ring = std::move(*fresh);
  }
  CookieKeys keys(options, std::move(*ring));
  auto rotated = keys.ring_.rotate(now_unix_seconds);
  if (!rotated) return std::unexpected(rotated.error());
  if (auto saved = keys.save(); !saved) return std::unexpected(saved.error());
  return keys;
}

Result<bool> CookieKeys::rotate(std::uint64_t now_unix_seconds) {
  auto moved = ring_.rotate(now_unix_seconds);
  if (!moved) return moved;
  if (*moved) {
    if (auto saved = save(); !saved) return std::unexpected(saved.error());
  }
  return moved;
}

std::uint64_t CookieKeys::seconds_to_next_rotation(std::uint64_t now_unix_seconds) const {
  const std::uint64_t interval = ring_.config().rotation_interval;
  return interval - now_unix_seconds % interval;
}

Result<void> CookieKeys::save() const {
  if (ring_.mode() != KeyMode::kRandom) return {};
  return save_key_ring(options_.state_file, ring_);
}

}  // namespace kairos
