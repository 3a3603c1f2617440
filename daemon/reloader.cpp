#include "daemon/reloader.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "daemon/logging.hpp"
#include "daemon/reload.hpp"

namespace kairos {
namespace {

std::int64_t unix_seconds_now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace

void use_leap_seconds_file(ClockGraph& clocks, LeapSecondsFile file, const char* when) {
  if (!file.warning.empty()) spdlog::warn("{}{}", when, file.warning);
  if (file.list) {
    const LeapSecondsList& list = *file.list;
    const std::optional<int> tai = list.tai_utc_at(unix_seconds_now());
    spdlog::info("{}leap seconds from {}: TAI - UTC {} s, expires {}, {}", when, file.path, tai ? *tai : 0,
                 utc_date(list.expiry), list.hash_verified ? "hash verified" : "no hash to verify");
  }
  clocks.set_leap_seconds_list(std::move(file.list), file.path);
}

void Reloader::reload() {
  auto next = load_config(path_);
  if (!next) {
    spdlog::error("SIGHUP: {} has problems; nothing changed, the running configuration stays:", path_);
    const std::string& problems = next.error().message;
    for (std::size_t begin = 0; begin < problems.size();) {
      const std::size_t end = std::min(problems.find('\n', begin), problems.size());
      spdlog::error("  {}", problems.substr(begin, end - begin));
      begin = end + 1;
    }
    return;
  }
  ReloadPlan plan = plan_reload(running_, *next);
  if (!plan.restart_needed.empty()) {
    std::string keys;
    for (const std::string& key : plan.restart_needed) keys += (keys.empty() ? "" : ", ") + key;
    spdlog::warn("SIGHUP: {} changed: needs a restart; keeping the old value", keys);
  }
  // From the back, so that the indexes still to go stay valid.
  for (auto i = plan.remove.rbegin(); i != plan.remove.rend(); ++i) {
    const std::size_t at = *i;
    spdlog::info("SIGHUP: source {} removed",
                 std::next(sources_.associations().begin(), static_cast<std::ptrdiff_t>(at))->name());
    sources_.remove(at);
    running_.sources.erase(running_.sources.begin() + static_cast<std::ptrdiff_t>(at));
  }
  for (const SourceConfig& source : plan.add) {
    spdlog::info("SIGHUP: source {} added", source_name(source));
    running_.sources.push_back(source);
    sources_.add(source);
  }
  if (plan.log_level && level_fixed_) {
    spdlog::info("SIGHUP: [logging] level {} not applied: --log-level was given", *plan.log_level);
    plan.log_level.reset();
  }
  if (plan.log_level) {
    if (auto set = set_log_level(*plan.log_level); set) {
      running_.logging.level = *plan.log_level;
    } else {
      spdlog::error("SIGHUP: {}", set.error().message);
      plan.log_level.reset();
    }
  }
  if (service_) service_->reload();  // the certificate and key files, as every SIGHUP
  // The leap-seconds.list too (tzdata updates it twice a year); a broken one keeps the old list.
  if (auto leap = load_leap_seconds_file(next->system_clock, unix_seconds_now()); !leap) {
    spdlog::error("SIGHUP: {}; keeping the leap seconds known before", leap.error().message);
  } else {
    running_.system_clock.leap_seconds_list = next->system_clock.leap_seconds_list;
    use_leap_seconds_file(clocks_, std::move(*leap), "SIGHUP: ");
  }
  spdlog::info("{}", reload_summary(plan));
}

}  // namespace kairos
