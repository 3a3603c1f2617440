#pragma once
// Which processes hold a PHC open, and so which daemon appears to steer it: every
// /proc/PID/fd/N link is read, and one that points at /dev/ptpN names its process by
// /proc/PID/comm (ptp4l, phc2sys, chronyd, kairosd) and its access by /proc/PID/fdinfo/N's
// flags. Steering (clock_adjtime with modes) needs the descriptor open for writing, so only
// writers count as steering; readers (kairosd's refclock, chronyd's refclock PHC) only watch.
// The proc root is a parameter so tests run on a fake tree.
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace kairos::phcstat {

struct PhcHolder {
  int pid = 0;
  std::string comm;   // the process name, "?" when unreadable
  bool write = false;  // open for writing: it may steer the clock
};

struct ProcScan {
  // Device path (the link's target) → the processes holding it, by pid, each once.
  std::map<std::string, std::vector<PhcHolder>> holders;
  std::size_t unreadable = 0;  // processes whose descriptors we may not read (not root)
};

// Whether an fdinfo file's text (its "flags:" line, octal) says the descriptor was opened for
// writing; false when it has no such line.
bool fdinfo_opened_for_writing(std::string_view fdinfo);

// Scans `proc_root` for descriptors pointing at /dev/ptp*; skips `self` (phcstat's own).
ProcScan scan_phc_holders(const std::string& proc_root = "/proc", int self = 0);

// The holders that may steer (open for writing), as "ptp4l (pid 812)" each.
std::vector<std::string> steering_holders(const std::vector<PhcHolder>& holders);

}  // namespace kairos::phcstat
