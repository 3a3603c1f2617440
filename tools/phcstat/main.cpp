// phcstat: the PTP hardware clocks of this machine and the kernel's view of its system clock,
// with checks (OK / WARN / FAIL). The exit code is the number of failed checks. Read-only.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <thread>
#include <unistd.h>

#include "daemon/client/control_client.hpp"
#include "report.hpp"

int main(int argc, char** argv) {
  using namespace kairos::phcstat;
  CLI::App app{"phcstat — PTP hardware clocks, their NICs and the system clock, with checks"};
  Environment env;
  Thresholds th;
  bool json = false;
  double watch = 0;
  app.add_option("-d,--device", env.devices, "Only this PHC (/dev/ptpN); repeatable");
  app.add_flag("--json", json, "Print one JSON object");
  app.add_option("--watch", watch, "Print one line every SECONDS until interrupted")->check(CLI::Range(0.1, 3600.0));
  app.add_option("--readings", env.readings, "Cross-timestamp readings per measurement (best is kept)")
      ->check(CLI::Range(1, 25));
  app.add_option("--warn-offset", th.warn_offset, "WARN when a PHC is this far (s) from the system clock");
  app.add_option("--fail-offset", th.fail_offset, "FAIL when a PHC is this far (s) from the system clock");
  app.add_option("--warn-read-delay", th.warn_read_delay, "WARN when a cross-timestamp window is wider (s)");
  app.add_option("--sysfs", env.sysfs, "Where sysfs is mounted")->default_val("/sys");
  std::string socket = "/run/kairos/control.sock";
  bool no_kairosd = false;
  app.add_option("--socket", socket, "kairosd's control socket")->default_val(socket);
  app.add_flag("--no-kairosd", no_kairosd, "Do not ask kairosd for its view");
  app.add_option("--proc", env.proc, "Where procfs is mounted (the processes holding each PHC open)")
      ->default_val("/proc");
  CLI11_PARSE(app, argc, argv);
  env.self = static_cast<int>(::getpid());
  if (!no_kairosd) {
    env.ask_kairosd = [socket]() -> std::expected<std::string, std::string> {
      auto answer = kairos::control_request(socket, "clocks", std::chrono::milliseconds(2000));
      if (answer) return *answer;
      if (answer.error().unreachable) return std::unexpected("kairosd not running? no control socket at " + socket);
      return std::unexpected(answer.error().message);
    };
  }

  if (watch > 0) {
    for (;;) {
      const Report r = build_report(env, th);
      std::printf("%s\n", watch_line(r).c_str());
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::duration<double>(watch));
    }
  }
  const Report r = build_report(env, th);
  if (json) {
    std::printf("%s\n", to_json(r).dump(2).c_str());
  } else {
    std::fputs(to_text(r).c_str(), stdout);
  }
  return std::min(r.failures(), 125);
}
