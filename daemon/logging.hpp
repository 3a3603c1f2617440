#pragma once
// Where kairosd's log lines go ([logging] target) and from which level on ([logging] level, or
// kairosd --log-level). Under systemd a stderr line carries no timestamp: journald adds its own.
#include <optional>
#include <string>

#include "clock/result.hpp"
#include "daemon/config.hpp"

namespace kairos {

// Replaces spdlog's default logger. `level_override` wins over the configuration's level.
Result<void> set_up_logging(const LoggingConfig& config, const std::optional<std::string>& level_override);

// A new [logging] level on SIGHUP: the logger stays, only its threshold moves.
Result<void> set_log_level(const std::string& level);

// True when stderr is the stream systemd named in JOURNAL_STREAM (device:inode), i.e. journald
// reads it, as opposed to an inherited variable with stderr redirected elsewhere.
bool stderr_goes_to_journal();

}  // namespace kairos
