#pragma once
// kairosd's TOML configuration. Parsing is pure (text in, values or every problem out, each with
// its line), so --check-config, the daemon and the fuzzer run the same code.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "clock/result.hpp"

namespace kairos {

struct SourceConfig {
  std::string address;  // host[:port]; the port is NTS-KE's with nts, NTP's without
  bool nts = true;
  std::optional<std::string> ca;  // extra trust anchor (PEM)
  std::vector<std::uint16_t> aeads{17, 16, 15};  // NTS-KE AEAD preference, most wanted first
  int minpoll = 4;                // log2 seconds
  int maxpoll = 10;
  bool iburst = false;
  std::size_t line = 0;
};

struct DaemonConfig {
  bool steer = false;  // observe only unless set
  std::string state_dir = "/var/lib/kairos";
  std::vector<SourceConfig> sources;
};

inline constexpr int kMinPollLimit = -6;  // 1/64 s, for labs and tests
inline constexpr int kMaxPollLimit = 17;  // 36 h

// `origin` names the text in messages (usually the file path).
Result<DaemonConfig> parse_config(std::string_view text, std::string_view origin);
Result<DaemonConfig> load_config(const std::string& path);

}  // namespace kairos
