#pragma once
// Per-client request rate limiting for the NTP responder and the NTS-KE listener, in a table of
// fixed size so a flood from many addresses costs bounded memory.
//
// Each client has a "theoretical arrival time" (GCRA, the cell-rate form of a token bucket): a
// request is allowed when it arrives no earlier than tat - (burst - 1) * interval, and then moves
// tat to max(tat, now) + interval. So a client may send `burst` requests at once and then one per
// `interval` on average. Over the limit, at most one request per interval is answered with a kiss
// (RATE) so a well-behaved client learns to slow down; the rest are dropped unanswered.
//
// The table is set-associative: an address hashes to one set of kWays entries; a new address takes
// the set's least recently seen entry. The hash is keyed with a per-limiter random value so an
// attacker cannot aim many addresses at one set to evict a victim. Evicting only forgets a
// client's history, which errs towards allowing it.
//
// Sans-IO: time is a parameter (monotonic nanoseconds). Not thread-safe: one per worker.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "nts/bytes.hpp"

namespace kairos {

struct RateLimitConfig {
  double interval = 2.0;       // seconds between requests a client may keep up on average
  std::uint32_t burst = 8;     // requests a client may send at once
  std::size_t entries = 65536; // clients remembered, rounded up to a power of two
  bool operator==(const RateLimitConfig&) const = default;
};

enum class RateDecision : std::uint8_t {
  kAllow,
  kKiss,  // over the limit: answer with a RATE kiss-o'-death
  kDrop,  // over the limit, and already kissed this interval
};

// The bytes that identify a client: IPv4 addresses whole, IPv6 addresses by their /64 (one host
// usually owns a whole /64, so limiting single addresses there limits nothing).
inline constexpr std::size_t kRateKeyLength = 8;
using RateKey = std::array<std::uint8_t, kRateKeyLength>;
RateKey rate_key_ipv4(std::span<const std::uint8_t, 4> address);
RateKey rate_key_ipv6(std::span<const std::uint8_t, 16> address);

class RateLimiter {
 public:
  static constexpr std::size_t kWays = 4;

  // `hash_key` seeds the address hash; pass random bytes (tests pass fixed ones).
  RateLimiter(RateLimitConfig config, std::uint64_t hash_key);

  RateDecision check(const RateKey& client, std::int64_t now_ns);

  std::size_t capacity() const { return entries_.size(); }
  const RateLimitConfig& config() const { return config_; }

 private:
  struct Entry {
    RateKey client{};
    bool used = false;
    std::int64_t tat = 0;        // theoretical arrival time of the next request
    std::int64_t last_kiss = 0;  // when this client was last sent a kiss
    std::int64_t last_seen = 0;
  };
  std::size_t set_of(const RateKey& client) const;

  RateLimitConfig config_;
  std::int64_t interval_ns_;
  std::int64_t burst_window_ns_;  // (burst - 1) * interval
  std::uint64_t hash_key_;
  std::size_t set_mask_;
  std::vector<Entry> entries_;
};

}  // namespace kairos
