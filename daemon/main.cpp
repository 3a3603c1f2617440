// kairosd: the kairos time daemon. It measures its sources (NTS or plain NTP), feeds the clock
// model (which steers the system clock with `steer = true`, and only observes otherwise), and
// serves time (NTP and NTS, with an NTS-KE server) when configured. main() reads the command
// line and the configuration; the running daemon's components are daemon/daemon.hpp's.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>

#include "daemon/config.hpp"
#include "daemon/daemon.hpp"
#include "daemon/leap_seconds_file.hpp"
#include "daemon/logging.hpp"

using namespace kairos;

namespace {

std::int64_t unix_seconds_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kairosd — NTS time daemon"};
  std::string config_path = "/etc/kairos/kairos.toml";
  bool no_steer = false;
  bool foreground = false;
  std::string check_path;
  std::optional<std::string> log_level;
  app.set_version_flag("--version", std::string("kairosd ") + KAIROS_VERSION);
  app.add_option("-c,--config", config_path, "Configuration file (TOML)");
  app.add_flag("--no-steer", no_steer, "Observe only: measure, never adjust a clock");
  app.add_flag("--foreground", foreground, "Log to stderr whatever [logging] target says (kairosd never forks)");
  // `--check-config FILE` as in the manual page, or `--config FILE --check-config`.
  auto* check = app.add_option("--check-config", check_path, "Check the configuration (FILE, else --config), print every "
                                                             "problem and exit")
                    ->expected(0, 1);
  app.add_option("--log-level", log_level, "debug, info, warn or error (overrides [logging] level)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  CLI11_PARSE(app, argc, argv);
  const bool check_only = check->count() > 0;
  if (check_only && !check_path.empty()) config_path = check_path;

  auto config = load_config(config_path);
  if (!config) {
    std::fprintf(stderr, "%s\n", config.error().message.c_str());
    return 1;
  }
  // The leap-seconds.list is checked with the file: a configured one that cannot be used is an
  // error before anything starts.
  auto leap_file = load_leap_seconds_file(config->system_clock, unix_seconds_now());
  if (!leap_file) {
    std::fprintf(stderr, "%s: %s\n", config_path.c_str(), leap_file.error().message.c_str());
    return 1;
  }
  if (check_only) {
    if (!leap_file->warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", config_path.c_str(), leap_file->warning.c_str());
    // A TAI refclock needs TAI - UTC: without a current list it would never be used.
    const bool tai_known = leap_file->list && !leap_file->list->expired(unix_seconds_now());
    for (const RefclockConfig& ref : config->refclocks) {
      if (ref.tai && !tai_known) {
        std::fprintf(stderr, "%s:%zu: warning: [[refclock]] '%s' keeps TAI, and no current leap-seconds list gives "
                     "TAI - UTC: its readings will not be used until one does\n",
                     config_path.c_str(), ref.line, ref.name.c_str());
      }
    }
    std::printf("%s: ok (%zu sources%s%s%s%s)\n", config_path.c_str(), config->sources.size(),
                config->refclocks.empty() ? "" : fmt::format(", {} refclocks", config->refclocks.size()).c_str(),
                config->ptp.empty() ? "" : fmt::format(", {} PTP ports", config->ptp.size()).c_str(),
                config->server ? ", NTP server" : "", config->ke_server ? ", NTS-KE server" : "");
    return 0;
  }
  const bool steer = config->steer && !no_steer;
  if (foreground) config->logging.target = "stderr";

  if (auto logging = set_up_logging(config->logging, log_level); !logging) {
    std::fprintf(stderr, "%s\n", logging.error().message.c_str());
    return 1;
  }
  auto daemon = Daemon::start(std::move(*config), std::move(*leap_file),
                              DaemonOptions{.config_path = config_path,
                                            .steer = steer,
                                            .level_fixed = log_level.has_value(),
                                            .version = KAIROS_VERSION});
  if (!daemon) {
    spdlog::critical("{}", daemon.error().message);
    return 1;
  }
  if (auto ran = (*daemon)->run(); !ran) {
    spdlog::critical("{}", ran.error().message);
    return 1;
  }
  return 0;
}
