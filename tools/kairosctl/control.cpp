#include "control.hpp"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/client/control_client.hpp"
#include "status_format.hpp"

namespace kairos {
namespace {

using nlohmann::json;

enum class Asked { kOk, kFailed, kUnreachable };

std::chrono::milliseconds millis(double seconds) {
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

// One request; the answer parsed, or a message on stderr and how it failed.
Asked ask(const std::string& command, const ControlOptions& options, json& answer, std::string& raw) {
  auto line = control_request(options.socket, command, millis(options.timeout));
  if (!line) {
    std::fprintf(stderr, "kairosctl: %s\n", line.error().message.c_str());
    return line.error().unreachable ? Asked::kUnreachable : Asked::kFailed;
  }
  raw = std::move(*line);
  answer = json::parse(raw, nullptr, false);
  if (answer.is_discarded() || !answer.is_object()) {
    std::fprintf(stderr, "kairosctl: kairosd's answer is not a JSON object\n");
    return Asked::kFailed;
  }
  if (auto e = answer.find("error"); e != answer.end()) {
    std::fprintf(stderr, "kairosctl: kairosd: %s\n", e->is_string() ? e->get<std::string>().c_str() : e->dump().c_str());
    return Asked::kFailed;
  }
  return Asked::kOk;
}

int exit_code(Asked asked) { return asked == Asked::kUnreachable ? 2 : 1; }

}  // namespace

int run_control(const std::string& command, const ControlOptions& options) {
  json answer;
  std::string raw;
  if (Asked asked = ask(command, options, answer, raw); asked != Asked::kOk) return exit_code(asked);
  if (options.json) {
    std::printf("%s\n", answer.dump(2).c_str());
    return 0;
  }
  std::string out;
  if (command == "status") out = format_status(answer);
  if (command == "sources") out = format_sources(answer);
  if (command == "clocks") out = format_clocks(answer);
  if (command == "server") out = format_server(answer);
  std::fputs(out.c_str(), stdout);
  return 0;
}

int run_waitsync(const ControlOptions& control, const WaitsyncOptions& options) {
  const auto end = std::chrono::steady_clock::now() + millis(options.timeout);
  const double max_error = options.max_error > 0 ? options.max_error : std::numeric_limits<double>::infinity();
  for (int attempt = 1;; ++attempt) {
    json answer;
    std::string raw;
    const Asked asked = ask("status", control, answer, raw);
    if (asked == Asked::kUnreachable) return 2;
    if (asked == Asked::kOk) {
      const SyncCheck check = check_sync(answer, max_error);
      if (control.json) {
        if (check.synchronized) std::printf("%s\n", answer.dump(2).c_str());
      } else {
        std::printf("try %d: %s\n", attempt, check.summary.c_str());
        std::fflush(stdout);
      }
      if (check.synchronized) return 0;
    }
    if (std::chrono::steady_clock::now() + millis(options.interval) > end) break;
    std::this_thread::sleep_for(millis(options.interval));
  }
  if (options.max_error > 0) {
    std::fprintf(stderr, "kairosctl: not synchronized within ± %g s after %g s\n", options.max_error, options.timeout);
  } else {
    std::fprintf(stderr, "kairosctl: not synchronized after %g s\n", options.timeout);
  }
  return 1;
}

}  // namespace kairos
