#include "daemon/seccomp_filter.hpp"

#include <linux/ethtool.h>
#include <linux/ptp_clock.h>
#include <linux/sockios.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace kairos {
namespace {

// Sanitizer builds (tests only): their runtimes give each thread a signal stack, read limits,
// and LeakSanitizer stops the threads at exit by ptrace to scan their registers.
#ifdef KAIROS_SANITIZER_RUNTIME
#define KAIROS_SANITIZER_SYSCALLS \
  , "sigaltstack", "getrlimit", "prlimit64", "ptrace", "wait4", "sched_getparam", "sched_getscheduler", "getppid"
#else
#define KAIROS_SANITIZER_SYSCALLS
#endif

// Grouped by what needs them; a name unknown on this architecture is skipped.
constexpr std::string_view kAllowed[] = {
    // The event loop: poll, timers, signals, eventfds.
    "poll", "ppoll", "epoll_wait", "epoll_pwait", "epoll_ctl", "epoll_create1", "timerfd_create", "timerfd_settime",
    "timerfd_gettime", "signalfd4", "eventfd2", "rt_sigprocmask", "rt_sigaction", "rt_sigreturn", "restart_syscall",
    "nanosleep", "clock_nanosleep", "sched_yield",
    // Time: reading clocks, the kernel's discipline state (modes 0 while observing), PHCs.
    "clock_gettime", "clock_getres", "gettimeofday", "time", "clock_adjtime", "adjtimex", "clock_settime",
    // Memory and threads.
    "mmap", "munmap", "mprotect", "mremap", "madvise", "brk", "futex", "set_robust_list", "get_robust_list",
    "rseq", "clone", "clone3", "exit", "exit_group", "gettid", "getpid", "tgkill", "membarrier",
    "sched_getaffinity", "getrandom",
    // sd_journal_send passes long entries in a sealed memfd.
    "memfd_create", "ftruncate",
    // Sockets: NTP (batched), NTS-KE (TLS over TCP), DNS, netlink (link events), journald/syslog.
    "socket", "socketpair", "bind", "listen", "accept", "accept4", "connect", "shutdown", "getsockname",
    "getpeername", "setsockopt", "getsockopt", "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg",
    // Files: state files (atomic rename), certificates on reload, /etc for DNS, sysfs, /dev/ptpN.
    "openat", "open", "close", "read", "write", "readv", "writev", "pread64", "pwrite64", "lseek", "fstat",
    "newfstatat", "stat", "lstat", "statx", "fcntl", "fsync", "fdatasync", "rename", "renameat", "renameat2",
    "unlink", "unlinkat", "mkdir", "mkdirat", "readlink", "readlinkat", "getdents64", "access", "faccessat",
    "faccessat2", "uname", "umask", "fchmod", "dup", "dup2", "dup3", "pipe2",
    // Credentials, read only; capget/capset lower and raise CAP_NET_ADMIN around NIC ioctls.
    "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "capget", "capset", "prctl"
    KAIROS_SANITIZER_SYSCALLS
};

// ioctl: only the requests kairos makes (SIOCETHTOOL for the NIC's stamping capabilities, the
// HWTSTAMP pair, if_nametoindex's SIOCGIFINDEX, TCGETS for isatty, the PHC reads).
constexpr unsigned long kIoctls[] = {
    SIOCETHTOOL, SIOCGHWTSTAMP, SIOCSHWTSTAMP, SIOCGIFINDEX, SIOCGIFNAME, TCGETS, FIONREAD,
    PTP_CLOCK_GETCAPS, PTP_SYS_OFFSET, PTP_SYS_OFFSET_EXTENDED, PTP_SYS_OFFSET_PRECISE,
};

struct ContextDeleter {
  void operator()(void* ctx) const { seccomp_release(ctx); }
};

}  // namespace

std::span<const std::string_view> seccomp_allowed_syscalls() { return kAllowed; }

Result<void> install_seccomp_filter() {
  std::unique_ptr<void, ContextDeleter> ctx(seccomp_init(SCMP_ACT_KILL_PROCESS));
  if (!ctx) return fail("seccomp: cannot create a filter");
  if (int r = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); r != 0) {
    return fail(std::string("seccomp: thread sync unavailable: ") + std::strerror(-r));
  }
  for (std::string_view name : kAllowed) {
    const int nr = seccomp_syscall_resolve_name(std::string(name).c_str());
    if (nr == __NR_SCMP_ERROR) continue;  // not a system call on this architecture
    if (int r = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, nr, 0); r != 0) {
      return fail("seccomp: cannot allow " + std::string(name) + ": " + std::strerror(-r));
    }
  }
  for (unsigned long request : kIoctls) {
    // The request is an int in the kernel's ioctl: compare the low 32 bits only.
    // Spelled out rather than SCMP_A1(...), a C compound literal clang warns about in C++.
    const scmp_arg_cmp low_bits{.arg = 1, .op = SCMP_CMP_MASKED_EQ, .datum_a = 0xffffffffu, .datum_b = request};
    if (int r = seccomp_rule_add(ctx.get(), SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, low_bits); r != 0) {
      return fail(std::string("seccomp: cannot allow an ioctl: ") + std::strerror(-r));
    }
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(std::string("seccomp: no_new_privs: ") + std::strerror(errno));
  if (int r = seccomp_load(ctx.get()); r != 0) {
    return fail(std::string("seccomp: cannot load the filter: ") + std::strerror(-r));
  }
  spdlog::info("seccomp: {} system calls allowed; any other kills kairosd (the audit log names it: "
               "journalctl -k | grep SECCOMP; set [daemon] seccomp = false to run without)",
               std::size(kAllowed));
  return {};
}

Result<void> forbid_exec() {
  std::unique_ptr<void, ContextDeleter> ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (!ctx) return fail("seccomp: cannot create a filter");
  if (int r = seccomp_attr_set(ctx.get(), SCMP_FLTATR_CTL_TSYNC, 1); r != 0) {
    return fail(std::string("seccomp: thread sync unavailable: ") + std::strerror(-r));
  }
  for (int nr : {SCMP_SYS(execve), SCMP_SYS(execveat)}) {
    if (int r = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0); r != 0) {
      return fail(std::string("seccomp: cannot refuse exec: ") + std::strerror(-r));
    }
  }
  if (int r = seccomp_load(ctx.get()); r != 0) {
    return fail(std::string("seccomp: cannot load the exec filter: ") + std::strerror(-r));
  }
  return {};
}

}  // namespace kairos
