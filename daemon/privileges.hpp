#pragma once
// Dropping root once kairosd holds what only root could get (bound ports below 1024, NICs set up):
// it becomes [daemon] user and keeps only the capabilities its configuration needs, so a bug
// after the start reaches no more than the clock and the NICs it was given.
#include <sys/capability.h>

#include <optional>
#include <string>
#include <vector>

#include "clock/result.hpp"
#include "daemon/config.hpp"

namespace kairos {

// What the daemon keeps after the drop. Pure: derived from the configuration alone.
struct PrivilegePlan {
  std::optional<std::string> user;  // nullopt: stay as started
  bool sys_time = false;            // steering: clock_adjtime/adjtimex with modes
  bool net_bind_service = false;    // a listener below 1024
  bool net_admin = false;           // SIOCSHWTSTAMP again on link events; permitted, not effective
  std::vector<cap_value_t> kept() const;
};

PrivilegePlan plan_privileges(const DaemonConfig& config, bool steer);

// As root with a user: the user's groups, gid and uid, then only the plan's capabilities
// (CAP_NET_ADMIN permitted but not effective), empty ambient and bounding sets beyond them, and
// no_new_privs. Not root with a user: checks that we already are that user and trims the
// capabilities we hold to the plan's. No user: nothing. Any error is meant to stop the daemon.
//
// Capabilities, no_new_privs and the bounding set are per thread in the kernel. Threads already
// running (the NTP server's workers) follow the uid change, which glibc applies to every thread,
// and without PR_SET_KEEPCAPS of their own they lose every capability with it. no_new_privs
// reaches them through a seccomp filter loaded with TSYNC that refuses execve (kairosd never runs
// a program), so none of them can gain privileges from a set-uid binary either.
Result<void> drop_privileges(const PrivilegePlan& plan);

// Raises a permitted capability into the effective set of the calling thread for one scope (the
// NIC ioctls) and lowers it again. Without the capability permitted it does nothing: the call it
// guards then fails with EPERM and says so.
class ScopedCapability {
 public:
  explicit ScopedCapability(cap_value_t capability);
  ~ScopedCapability();
  ScopedCapability(const ScopedCapability&) = delete;
  ScopedCapability& operator=(const ScopedCapability&) = delete;
  bool raised() const { return raised_; }

 private:
  cap_value_t capability_;
  bool raised_ = false;
};

}  // namespace kairos
