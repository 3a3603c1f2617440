#pragma once
// An NTS source's keys and unused cookies across restarts (`<state-dir>/nts/<source>`, like
// chrony's ntsdumpdir): a restart goes on with them instead of a new NTS-KE. kairosd writes it
// only at a clean exit, and consumes it when read (take_nts_state): the file is gone while the
// daemon runs, so after a crash nothing is restored and no cookie is ever sent twice (a cookie
// sent twice links the client's requests, RFC 8915 §6); the next start runs NTS-KE instead.
//
// The file is JSON, one object, mode 0600:
//   {"version": 1, "source": "<as configured>", "ntp_server": "<host>", "ntp_port": 123,
//    "aead": 15, "c2s": "<hex>", "s2c": "<hex>", "cookies": ["<hex>", ...],
//    "certificate_sha256": "<64 hex digits>" (optional: the NTS-KE server's certificate)}
#include <optional>
#include <string>

#include "clock/result.hpp"
#include "nts/bytes.hpp"
#include "nts/ke_client.hpp"

namespace kairos {

inline constexpr int kNtsStateVersion = 1;
inline constexpr std::size_t kMaxSavedCookies = 16;
inline constexpr std::size_t kMaxSavedCookieSize = 1024;

struct SavedNtsState {
  std::string source;  // the source's address as configured: the file is only for that source
  KeClientResult ke;   // keys, cookies, NTP server and port
};

// A file name for a source name: letters, digits, '-' and '.' (not leading) kept, every other
// byte as "_xx" (hex), so two names never share a file and no name leaves the directory.
std::string nts_state_file_name(const std::string& source);

std::string format_nts_state(const SavedNtsState& state);
Result<SavedNtsState> parse_nts_state(ByteView bytes);

// Writes <state_dir>/nts/<name> atomically (making nts/ if needed). A state without cookies is
// not worth a file: any old one is removed instead.
Result<void> save_nts_state(const std::string& state_dir, const SavedNtsState& state);
// Reads and removes the file for `source`: nullopt when there is none; an error (the file is
// gone all the same) when it is unreadable, corrupt or for another source.
Result<std::optional<KeClientResult>> take_nts_state(const std::string& state_dir, const std::string& source);

}  // namespace kairos
