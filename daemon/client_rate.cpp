#include "daemon/client_rate.hpp"

#include <netinet/in.h>
#include <openssl/rand.h>

namespace kairos {

std::optional<RateKey> rate_key_of(const sockaddr_storage& peer) {
  if (peer.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(peer).sin_addr;
    return rate_key_ipv4(std::span<const std::uint8_t, 4>(reinterpret_cast<const std::uint8_t*>(&a), 4));
  }
  if (peer.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(peer).sin6_addr;
    return rate_key_ipv6(std::span<const std::uint8_t, 16>(a.s6_addr, 16));
  }
  return std::nullopt;
}

RateLimiter make_rate_limiter(const RateLimitConfig& config) {
  std::uint64_t key = 0;
  // Without randomness the limiter still works; only its table becomes predictable.
  (void)RAND_bytes(reinterpret_cast<unsigned char*>(&key), sizeof key);
  return RateLimiter(config, key);
}

}  // namespace kairos
