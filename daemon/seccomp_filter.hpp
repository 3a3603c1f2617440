#pragma once
// [daemon] seccomp = true: an allow-list of the system calls kairosd makes once it runs (found
// with `strace -f -c` on a server and a client on loopback, plus the paths they take rarely:
// reloads, NIC re-setup, state files, journald/syslog). Anything else kills the whole process,
// which the kernel's audit log names (type=SECCOMP ... syscall=N).
#include <span>
#include <string_view>

#include "clock/result.hpp"

namespace kairos {

// The system calls allowed without looking at their arguments (ioctl is allowed for kairos'
// requests only, see seccomp_filter.cpp).
std::span<const std::string_view> seccomp_allowed_syscalls();

// Loads the filter into every thread of the process (SECCOMP_FILTER_FLAG_TSYNC), so the NTP
// server's workers already running are covered. Needs no_new_privs or CAP_SYS_ADMIN; sets
// no_new_privs itself.
Result<void> install_seccomp_filter();

// A filter that allows everything but execve/execveat (EPERM), loaded into every thread. Its use
// is the side effect: TSYNC gives every thread the caller's no_new_privs, which prctl cannot.
Result<void> forbid_exec();

}  // namespace kairos
