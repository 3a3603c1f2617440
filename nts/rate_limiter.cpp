#include "nts/rate_limiter.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

namespace kairos {

RateKey rate_key_ipv4(std::span<const std::uint8_t, 4> address) {
  RateKey key{};
  std::copy(address.begin(), address.end(), key.begin());
  key[7] = 4;  // keeps an IPv4 key from equalling the /64 of an IPv6 address
  return key;
}

RateKey rate_key_ipv6(std::span<const std::uint8_t, 16> address) {
  RateKey key{};
  std::copy_n(address.begin(), kRateKeyLength, key.begin());
  return key;
}

namespace {

std::int64_t seconds_to_ns(double seconds) {
  const double ns = std::clamp(seconds, 0.0, 1e9) * 1e9;
  return static_cast<std::int64_t>(ns);
}

// splitmix64's finaliser: a good 64-bit mixer, keyed by starting from the secret.
std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

}  // namespace

RateLimiter::RateLimiter(RateLimitConfig config, std::uint64_t hash_key)
    : config_(config),
      interval_ns_(std::max<std::int64_t>(seconds_to_ns(config.interval), 1)),
      burst_window_ns_(0),
      hash_key_(hash_key) {
  const std::uint32_t burst = std::max<std::uint32_t>(config_.burst, 1);
  burst_window_ns_ = interval_ns_ * static_cast<std::int64_t>(burst - 1);
  const std::size_t wanted = std::clamp<std::size_t>(config_.entries, kWays, std::size_t{1} << 24);
  const std::size_t size = std::bit_ceil(wanted);
  entries_.resize(size);
  set_mask_ = size / kWays - 1;
}

std::size_t RateLimiter::set_of(const RateKey& client) const {
  std::uint64_t word = 0;
  std::memcpy(&word, client.data(), sizeof word);
  return static_cast<std::size_t>(mix(word ^ hash_key_) ^ mix(hash_key_ + word)) & set_mask_;
}

RateDecision RateLimiter::check(const RateKey& client, std::int64_t now_ns) {
  Entry* set = &entries_[set_of(client) * kWays];
  Entry* entry = nullptr;
  Entry* oldest = set;
  for (std::size_t i = 0; i < kWays; ++i) {
    if (set[i].used && set[i].client == client) {
      entry = &set[i];
      break;
    }
    if (!set[i].used || (oldest->used && set[i].last_seen < oldest->last_seen)) oldest = &set[i];
  }
  if (entry == nullptr) {
    entry = oldest;
    *entry = Entry{client, true, now_ns, std::numeric_limits<std::int64_t>::min(), now_ns};
  }
  entry->last_seen = now_ns;

  if (now_ns >= entry->tat - burst_window_ns_) {
    entry->tat = std::max(entry->tat, now_ns) + interval_ns_;
    return RateDecision::kAllow;
  }
  if (entry->last_kiss == std::numeric_limits<std::int64_t>::min() || now_ns - entry->last_kiss >= interval_ns_) {
    entry->last_kiss = now_ns;
    return RateDecision::kKiss;
  }
  return RateDecision::kDrop;
}

}  // namespace kairos
