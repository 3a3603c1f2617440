#pragma once
// kairosd's TOML configuration. Parsing is pure (text in, values or every problem out, each with
// its line), so --check-config, the daemon and the fuzzer run the same code.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"
#include "nts/key_ring.hpp"
#include "nts/rate_limiter.hpp"

namespace kairos {

struct SourceConfig {
  std::string address;  // host[:port]; the port is NTS-KE's with nts, NTP's without
  bool nts = true;
  std::optional<std::string> ca;  // extra trust anchor (PEM)
  std::vector<std::uint16_t> aeads{17, 16, 15};  // NTS-KE AEAD preference, most wanted first
  int minpoll = 4;                // log2 seconds
  int maxpoll = 10;
  bool iburst = false;
  bool xleave = false;  // interleaved requests (RFC 9769; chrony's name for it)
  std::size_t line = 0;
};

// [server]: the NTP responder (plain NTPv4 and NTS).
struct NtpServerConfig {
  std::vector<std::string> listen{"0.0.0.0:123", "[::]:123"};  // host:port, IPv6 in brackets
  unsigned workers = 0;                     // threads with their own socket; 0 = one per core
  std::optional<int> local_stratum;         // serve the local clock as this stratum (labs, demos)
  bool interleaved = true;                  // answer interleaved requests (RFC 9769), kernel TX stamps
  std::optional<RateLimitConfig> rate_limit = RateLimitConfig{};  // nullopt: `rate-limit = false`
  // For an NTP-only host of a fleet whose NTS-KE runs elsewhere: the shared seed (and schedule)
  // its cookies are sealed with. With a local [nts-ke-server] the keys are configured there.
  std::optional<std::string> key_seed;
  KeyRingConfig keys;
  std::size_t line = 0;
};

// [nts-ke-server]: the NTS-KE listener (RFC 8915 §4) and the cookie master keys.
struct KeServerConfig {
  std::vector<std::string> listen{"0.0.0.0:4460", "[::]:4460"};
  std::string certificate;                  // PEM chain, leaf first
  std::string private_key;                  // PEM
  std::optional<std::string> key_seed;      // hex seed file shared by a fleet; else random keys
  KeyRingConfig keys;                       // rotation-interval, old-keys
  std::optional<std::string> ntp_server;    // NTPv4 Server Negotiation record
  std::optional<std::uint16_t> ntp_port;    // NTPv4 Port Negotiation record
  std::vector<std::uint16_t> aeads{15, 16, 17};  // offered; the client's first supported one wins
  std::size_t max_connections = 256;        // concurrent; more are closed at once
  double timeout = 2.0;                     // seconds a connection may take from accept to close
  std::size_t max_request = 1024;           // bytes of NTS-KE request accepted
  std::optional<RateLimitConfig> rate_limit = RateLimitConfig{.interval = 0.1, .burst = 32, .entries = 16384};
  std::size_t line = 0;
};

struct DaemonConfig {
  bool steer = false;  // observe only unless set
  std::string state_dir = "/var/lib/kairos";
  std::vector<SourceConfig> sources;
  std::optional<NtpServerConfig> server;
  std::optional<KeServerConfig> ke_server;
  // The cookie keys the NTP server opens and the KE server seals with, if any.
  bool has_cookie_keys() const { return ke_server || (server && server->key_seed); }
  std::optional<std::string> cookie_key_seed() const { return ke_server ? ke_server->key_seed : server ? server->key_seed : std::nullopt; }
  KeyRingConfig cookie_key_schedule() const { return ke_server ? ke_server->keys : server ? server->keys : KeyRingConfig{}; }
};

inline constexpr int kMinPollLimit = -6;  // 1/64 s, for labs and tests
inline constexpr int kMaxPollLimit = 17;  // 36 h

// `origin` names the text in messages (usually the file path).
Result<DaemonConfig> parse_config(std::string_view text, std::string_view origin);
Result<DaemonConfig> load_config(const std::string& path);

}  // namespace kairos
