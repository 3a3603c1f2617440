#pragma once
// Link up/down and hot-plug events from rtnetlink (RTNLGRP_LINK), so the daemon can re-arm
// hardware timestamping when a NIC comes back, and notice one that appears or goes away.
//
// "Up" means administratively up and operationally running (IFF_UP and IFF_RUNNING): the kernel
// sets IFF_RUNNING when the operational state is UP (or UNKNOWN, for drivers that do not track
// carrier), so a port with its cable pulled is down even though it was configured up.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "clock/result.hpp"

namespace kairos {

struct LinkEvent {
  enum class Kind : std::uint8_t {
    kAdded,    // a new interface (hot-plug, or the new name after a rename)
    kRemoved,  // gone (unplugged, deleted, or the old name after a rename)
    kUp,
    kDown,
    kResync,  // events were lost (socket overflow); the events after it are rebuilt from a snapshot
  };
  std::string interface;  // empty for kResync
  int ifindex = 0;
  Kind kind = Kind::kAdded;
};
const char* to_string(LinkEvent::Kind kind);

class LinkMonitor {
 public:
  struct Options {
    std::size_t max_events = 256;  // most events one read_events() returns
    int receive_buffer = 0;        // socket receive buffer in bytes; 0 keeps libnl's default
  };

  // Subscribes to link notifications in the caller's network namespace and takes a snapshot of
  // the current links, so later events are changes, not the existing links announced again.
  static Result<LinkMonitor> open(Options options);
  static Result<LinkMonitor> open() { return open(Options{}); }

  ~LinkMonitor();
  LinkMonitor(LinkMonitor&&) noexcept;
  LinkMonitor& operator=(LinkMonitor&&) noexcept;

  // Readable when notifications wait; the socket is non-blocking.
  int fd() const;
  // Drains waiting notifications into events, at most max_events; what is left stays queued
  // for the next call. Never blocks.
  std::vector<LinkEvent> read_events();
  // Asks the kernel now (in the monitor's namespace) whether `interface` is up.
  Result<bool> is_up(const std::string& interface) const;

 private:
  struct State;
  explicit LinkMonitor(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace kairos
