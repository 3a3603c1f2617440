#include "daemon/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>

#include "daemon/client/net.hpp"
#include "daemon/seccomp_filter.hpp"

namespace kairos {
namespace {

struct CapDeleter {
  void operator()(cap_t caps) const { cap_free(caps); }
};
using UniqueCaps = std::unique_ptr<std::remove_pointer_t<cap_t>, CapDeleter>;

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

bool listens_below_1024(const std::vector<std::string>& listen) {
  return std::any_of(listen.begin(), listen.end(), [](const std::string& entry) {
    auto split = split_host_port(entry, 0);
    return split && split->second < 1024;
  });
}

bool has_flag(cap_t caps, cap_value_t capability, cap_flag_t set) {
  cap_flag_value_t value = CAP_CLEAR;
  return cap_get_flag(caps, capability, set, &value) == 0 && value == CAP_SET;
}

// Sets the calling thread's capabilities to exactly `kept` permitted and `effective` effective.
Result<void> set_capabilities(const std::vector<cap_value_t>& kept, const std::vector<cap_value_t>& effective) {
  UniqueCaps caps(cap_init());  // everything clear
  if (!caps) return fail(errno_text("cap_init"));
  if (!kept.empty() && cap_set_flag(caps.get(), CAP_PERMITTED, static_cast<int>(kept.size()), kept.data(), CAP_SET) != 0) {
    return fail(errno_text("cap_set_flag"));
  }
  if (!effective.empty() &&
      cap_set_flag(caps.get(), CAP_EFFECTIVE, static_cast<int>(effective.size()), effective.data(), CAP_SET) != 0) {
    return fail(errno_text("cap_set_flag"));
  }
  if (cap_set_proc(caps.get()) != 0) return fail(errno_text("cap_set_proc"));
  return {};
}

Result<void> clear_ambient_and_set_no_new_privs() {
  // EINVAL: a kernel without ambient capabilities (< 4.3), which then has none to clear.
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) {
    return fail(errno_text("clearing the ambient capabilities"));
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(errno_text("PR_SET_NO_NEW_PRIVS"));
  return {};
}

// Reads back what the kernel holds for this thread: the drop is only done when it says so.
Result<void> verify(const std::vector<cap_value_t>& kept) {
  UniqueCaps caps(cap_get_proc());
  if (!caps) return fail(errno_text("cap_get_proc"));
  const auto last = static_cast<cap_value_t>(cap_max_bits());
  for (cap_value_t c = 0; c < last; ++c) {
    const bool wanted = std::find(kept.begin(), kept.end(), c) != kept.end();
    if (!wanted && (has_flag(caps.get(), c, CAP_PERMITTED) || has_flag(caps.get(), c, CAP_EFFECTIVE))) {
      return fail(std::string("capability ") + cap_to_name(c) + " is still held after the drop");
    }
  }
  if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return fail("no_new_privs is not set after the drop");
  return {};
}

std::string describe(const std::vector<cap_value_t>& kept) {
  if (kept.empty()) return "none";
  std::string out;
  for (cap_value_t c : kept) {
    char* name = cap_to_name(c);
    out += (out.empty() ? "" : " ") + std::string(name ? name : "?");
    cap_free(name);
  }
  return out;
}

Result<void> become_user(const std::string& user, const std::vector<cap_value_t>& kept) {
  errno = 0;
  const passwd* pw = getpwnam(user.c_str());
  if (!pw) return fail("user '" + user + "' " + (errno ? errno_text("cannot be looked up") : "does not exist"));
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (uid == 0) return fail("user '" + user + "' is root: name an unprivileged user");

  // The bounding set is trimmed while CAP_SETPCAP is still effective; the capabilities the
  // process holds now are not affected by it, so setuid below still works.
  const auto last = static_cast<cap_value_t>(cap_max_bits());
  for (cap_value_t c = 0; c < last; ++c) {
    if (std::find(kept.begin(), kept.end(), c) != kept.end()) continue;
    if (cap_drop_bound(c) != 0 && errno != EINVAL) return fail(errno_text("dropping the bounding set"));
  }
  // Without it, leaving uid 0 would clear the permitted set (capabilities(7), "Effect of user ID
  // changes"); only this thread sets it, so the others lose everything.
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return fail(errno_text("PR_SET_KEEPCAPS"));
  if (initgroups(user.c_str(), gid) != 0) return fail(errno_text("initgroups"));
  if (setgid(gid) != 0) return fail(errno_text("setgid"));
  if (setuid(uid) != 0) return fail(errno_text("setuid"));
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return fail(errno_text("PR_SET_KEEPCAPS"));
  if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) {
    return fail("the uid/gid change did not take");
  }
  return {};
}

}  // namespace

std::vector<cap_value_t> PrivilegePlan::kept() const {
  std::vector<cap_value_t> out;
  if (sys_time) out.push_back(CAP_SYS_TIME);
  if (net_bind_service) out.push_back(CAP_NET_BIND_SERVICE);
  if (net_admin) out.push_back(CAP_NET_ADMIN);
  return out;
}

PrivilegePlan plan_privileges(const DaemonConfig& config, bool steer) {
  PrivilegePlan plan;
  plan.user = config.user;
  plan.sys_time = steer;
  plan.net_bind_service = (config.server && listens_below_1024(config.server->listen)) ||
                          (config.ke_server && listens_below_1024(config.ke_server->listen));
  plan.net_admin = std::any_of(config.interfaces.begin(), config.interfaces.end(), [](const InterfaceConfig& i) {
    return i.hw_timestamping != HwTimestampingMode::kOff;
  });
  return plan;
}

Result<void> drop_privileges(const PrivilegePlan& plan) {
  if (!plan.user) {
    if (geteuid() == 0) spdlog::warn("running as root with every capability: set [daemon] user to drop them");
    return {};
  }
  const std::vector<cap_value_t> kept = plan.kept();
  std::vector<cap_value_t> effective = kept;
  std::erase(effective, CAP_NET_ADMIN);  // raised only around the NIC ioctls (ScopedCapability)

  if (geteuid() == 0) {
    if (auto ok = become_user(*plan.user, kept); !ok) return ok;
  } else {
    errno = 0;
    const passwd* pw = getpwnam(plan.user->c_str());
    if (!pw) return fail("user '" + *plan.user + "' does not exist");
    if (pw->pw_uid != geteuid() || pw->pw_uid != getuid()) {
      return fail("started as uid " + std::to_string(getuid()) + ", not as [daemon] user '" + *plan.user + "' (uid " +
                  std::to_string(pw->pw_uid) + "), and not as root to become it");
    }
    // Started as the user already (systemd User= with ambient capabilities): only the
    // capabilities it actually holds can be kept.
    UniqueCaps now(cap_get_proc());
    if (!now) return fail(errno_text("cap_get_proc"));
    std::vector<cap_value_t> held;
    for (cap_value_t c : kept) {
      if (has_flag(now.get(), c, CAP_PERMITTED)) {
        held.push_back(c);
      } else {
        spdlog::warn("capability {} is needed but was not given to kairosd", describe({c}));
      }
    }
    std::erase_if(effective, [&](cap_value_t c) { return std::find(held.begin(), held.end(), c) == held.end(); });
    if (auto ok = set_capabilities(held, effective); !ok) return ok;
    if (auto ok = clear_ambient_and_set_no_new_privs(); !ok) return ok;
    if (auto ok = verify(held); !ok) return ok;
    if (auto ok = forbid_exec(); !ok) return ok;
    spdlog::info("running as {} (uid {}), capabilities kept: {}", *plan.user, getuid(), describe(held));
    return {};
  }
  if (auto ok = set_capabilities(kept, effective); !ok) return ok;
  if (auto ok = clear_ambient_and_set_no_new_privs(); !ok) return ok;
  if (auto ok = verify(kept); !ok) return ok;
  if (auto ok = forbid_exec(); !ok) return ok;
  if (setuid(0) == 0) return fail("root could be regained after the drop");
  spdlog::info("running as {} (uid {}, gid {}), capabilities kept: {}", *plan.user, getuid(), getgid(), describe(kept));
  return {};
}

ScopedCapability::ScopedCapability(cap_value_t capability) : capability_(capability) {
  UniqueCaps caps(cap_get_proc());
  if (!caps || !has_flag(caps.get(), capability, CAP_PERMITTED) || has_flag(caps.get(), capability, CAP_EFFECTIVE)) {
    return;
  }
  if (cap_set_flag(caps.get(), CAP_EFFECTIVE, 1, &capability, CAP_SET) == 0 && cap_set_proc(caps.get()) == 0) {
    raised_ = true;
  }
}

ScopedCapability::~ScopedCapability() {
  if (!raised_) return;
  UniqueCaps caps(cap_get_proc());
  if (!caps || cap_set_flag(caps.get(), CAP_EFFECTIVE, 1, &capability_, CAP_CLEAR) != 0 || cap_set_proc(caps.get()) != 0) {
    spdlog::error("could not lower capability {} again", capability_);
  }
}

}  // namespace kairos
