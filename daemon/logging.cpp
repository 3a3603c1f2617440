#include "daemon/logging.hpp"

#include <sys/stat.h>
#include <syslog.h>

#include <cstdio>
#include <cstdlib>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/sinks/systemd_sink.h>
#include <spdlog/spdlog.h>

namespace kairos {
namespace {

constexpr const char* kName = "kairosd";

Result<spdlog::level::level_enum> parse_level(const std::string& text) {
  if (text == "debug") return spdlog::level::debug;
  if (text == "info") return spdlog::level::info;
  if (text == "warn") return spdlog::level::warn;
  if (text == "error") return spdlog::level::err;
  return fail("log level '" + text + "' is not debug, info, warn or error");
}

}  // namespace

bool stderr_goes_to_journal() {
  const char* stream = std::getenv("JOURNAL_STREAM");
  if (!stream) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(stream, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (fstat(2, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode;
}

Result<void> set_up_logging(const LoggingConfig& config, const std::optional<std::string>& level_override) {
  auto level = parse_level(level_override.value_or(config.level));
  if (!level) return std::unexpected(level.error());
  spdlog::drop(kName);  // set up a second time (tests): the name is free again
  std::shared_ptr<spdlog::logger> logger;
  std::string pattern;
  if (config.target == "journald") {
    // The journal keeps time, priority and the process; the line is only the message.
    logger = std::make_shared<spdlog::logger>(kName, std::make_shared<spdlog::sinks::systemd_sink_mt>(kName));
    pattern = "%v";
  } else if (config.target == "syslog") {
    // LOG_NDELAY: /dev/log is connected now, before a privilege drop or syscall filter.
    logger = std::make_shared<spdlog::logger>(
        kName, std::make_shared<spdlog::sinks::syslog_sink_mt>(kName, LOG_PID | LOG_NDELAY, LOG_DAEMON, false));
    pattern = "%v";
  } else if (config.target == "stderr") {
    logger = std::make_shared<spdlog::logger>(kName, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    pattern = stderr_goes_to_journal() ? "%l %v" : "%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v";
  } else {
    return fail("log target '" + config.target + "' is not stderr, journald or syslog");
  }
  spdlog::set_default_logger(logger);
  spdlog::set_pattern(pattern);
  spdlog::set_level(*level);
  return {};
}

Result<void> set_log_level(const std::string& level) {
  auto parsed = parse_level(level);
  if (!parsed) return std::unexpected(parsed.error());
  spdlog::set_level(*parsed);
  return {};
}

}  // namespace kairos
