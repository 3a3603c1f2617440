#pragma once
// kairosctl status, sources, clocks, server and waitsync: ask kairosd over its control socket.
#include <string>

#include "daemon/config.hpp"

namespace kairos {

struct ControlOptions {
  std::string socket = kDefaultControlSocket;
  bool json = false;  // print the daemon's JSON as it came
  double timeout = 5.0;  // seconds for one request
};

struct WaitsyncOptions {
  double max_error = 0;  // seconds; 0: any bound
  double timeout = 60;   // seconds in all
  double interval = 1;   // seconds between tries
};

// Exit codes: 0 answered, 1 an error from or about the answer, 2 kairosd unreachable.
int run_control(const std::string& command, const ControlOptions& options);
// Exit codes: 0 synchronized within max_error, 1 not before the timeout, 2 kairosd unreachable.
int run_waitsync(const ControlOptions& control, const WaitsyncOptions& options);

}  // namespace kairos
