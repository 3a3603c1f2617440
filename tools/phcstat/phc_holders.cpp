#include "phc_holders.hpp"

#include <fcntl.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace kairos::phcstat {
namespace {

namespace fs = std::filesystem;

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string read_comm(const fs::path& dir) {
  std::ifstream in(dir / "comm");
  std::string comm;
  if (!std::getline(in, comm) || comm.empty()) return "?";
  return comm;
}

bool opened_for_writing(const fs::path& fdinfo) {
  std::ifstream in(fdinfo);
  std::stringstream text;
  text << in.rdbuf();
  return fdinfo_opened_for_writing(text.str());
}

}  // namespace

// The "flags:" line is the open flags in octal; the access mode is their low two bits.
bool fdinfo_opened_for_writing(std::string_view fdinfo) {
  constexpr std::string_view kFlags = "flags:";
  std::size_t at = 0;
  while (at < fdinfo.size()) {
    std::size_t end = fdinfo.find('\n', at);
    if (end == std::string_view::npos) end = fdinfo.size();
    std::string_view line = fdinfo.substr(at, end - at);
    at = end + 1;
    if (!line.starts_with(kFlags)) continue;
    line.remove_prefix(kFlags.size());
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    unsigned long flags = 0;
    const auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), flags, 8);
    if (ec != std::errc()) return false;
    return (flags & O_ACCMODE) != O_RDONLY;
  }
  return false;
}

ProcScan scan_phc_holders(const std::string& proc_root, int self) {
  ProcScan scan;
  std::error_code ec;
  for (const fs::directory_entry& process : fs::directory_iterator(proc_root, ec)) {
    const std::string name = process.path().filename().string();
    if (!all_digits(name)) continue;
    const int pid = std::atoi(name.c_str());
    if (pid == self) continue;
    std::error_code fd_ec;
    fs::directory_iterator fds(process.path() / "fd", fd_ec);
    if (fd_ec) {
      // Another user's process (or gone since the listing): its descriptors are not ours to see.
      if (fd_ec != std::errc::no_such_file_or_directory) ++scan.unreadable;
      continue;
    }
    std::string comm;
    for (const fs::directory_entry& fd : fds) {
      std::error_code link_ec;
      const fs::path target = fs::read_symlink(fd.path(), link_ec);
      if (link_ec) continue;
      const std::string device = target.string();
      if (device.rfind("/dev/ptp", 0) != 0) continue;
      if (comm.empty()) comm = read_comm(process.path());
      const bool write = opened_for_writing(process.path() / "fdinfo" / fd.path().filename());
      std::vector<PhcHolder>& list = scan.holders[device];
      auto same = std::find_if(list.begin(), list.end(), [pid](const PhcHolder& h) { return h.pid == pid; });
      if (same != list.end()) {
        same->write = same->write || write;
      } else {
        list.push_back(PhcHolder{.pid = pid, .comm = comm, .write = write});
      }
    }
  }
  for (auto& [device, list] : scan.holders) {
    std::sort(list.begin(), list.end(), [](const PhcHolder& a, const PhcHolder& b) { return a.pid < b.pid; });
  }
  return scan;
}

std::vector<std::string> steering_holders(const std::vector<PhcHolder>& holders) {
  std::vector<std::string> out;
  for (const PhcHolder& h : holders) {
    if (h.write) out.push_back(h.comm + " (pid " + std::to_string(h.pid) + ")");
  }
  return out;
}

}  // namespace kairos::phcstat
