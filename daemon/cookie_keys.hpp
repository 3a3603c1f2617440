#pragma once
// The server's cookie master keys over the daemon's life: derived from the fleet seed, or random
// and persisted in the state directory so a restart keeps accepting the cookies handed out
// before it; moved to each new epoch on schedule.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "nts/key_ring.hpp"

namespace kairos {

struct CookieKeysOptions {
  std::optional<std::string> seed_file;  // fleet-wide seed; else random keys
  KeyRingConfig schedule;
  std::string state_file;                // where a random ring is persisted
};

class CookieKeys {
 public:
  // Seeded: derives the ring for now. Random: loads the persisted ring (a missing file, or one
  // written for another schedule, starts a fresh ring; `notes` says so), moves it to now and
  // saves it back.
  static Result<CookieKeys> open(const CookieKeysOptions& options, std::uint64_t now_unix_seconds,
                                 std::vector<std::string>& notes);

  KeyRing& ring() { return ring_; }
  const KeyRing& ring() const { return ring_; }

  // Moves the window to now and persists a random ring; returns whether the keys changed.
  Result<bool> rotate(std::uint64_t now_unix_seconds);

  // Seconds from now until the next epoch begins (at least 1).
  std::uint64_t seconds_to_next_rotation(std::uint64_t now_unix_seconds) const;

 private:
  CookieKeys(CookieKeysOptions options, KeyRing ring) : options_(std::move(options)), ring_(std::move(ring)) {}
  Result<void> save() const;

  CookieKeysOptions options_;
  KeyRing ring_;
};

}  // namespace kairos
