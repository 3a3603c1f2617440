#pragma once
// What the NTP workers and the NTS-KE listener both need to rate-limit clients by address.
#include <sys/socket.h>

#include <optional>

#include "nts/rate_limiter.hpp"

namespace kairos {

// The limiter's key for a peer address; nullopt for families other than IPv4 and IPv6.
std::optional<RateKey> rate_key_of(const sockaddr_storage& peer);

// A limiter whose address hash is keyed with fresh random bytes, so nobody outside can aim
// addresses at one set of its table.
RateLimiter make_rate_limiter(const RateLimitConfig& config);

}  // namespace kairos
