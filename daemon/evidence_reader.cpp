#include "daemon/evidence_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace kairos {
namespace {

// A day of 1 s records for a few clocks is a few MB; far more is not an evidence file.
constexpr std::size_t kMaxFileBytes = std::size_t{1} << 30;

std::int64_t line_time(const EvidenceLine& line) {
  return std::visit(
      [](const auto& l) -> std::int64_t {
        if constexpr (requires { l.t; }) {
          return l.t;
        } else {
          return 0;
        }
      },
      line);
}

std::optional<int> line_clock(const EvidenceLine& line) {
  return std::visit(
      [](const auto& l) -> std::optional<int> {
        if constexpr (requires { l.id; }) {
          return l.id;
        } else {
          return std::nullopt;
        }
      },
      line);
}

// The whole file, refused beyond max_bytes (checked before reading, so a huge file costs nothing).
Result<std::string> read_whole_file(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail("cannot open " + path + ": " + std::strerror(errno));
  std::string out;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && static_cast<std::size_t>(st.st_size) <= max_bytes) {
    out.reserve(static_cast<std::size_t>(st.st_size));
  }
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return fail("cannot read " + path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) {
      ::close(fd);
      return fail(path + " is larger than " + std::to_string(max_bytes) + " bytes");
    }
    out.append(chunk, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

Result<std::string> read_evidence_file(const std::string& path) { return read_whole_file(path, kMaxFileBytes); }

EvidenceFileScan scan_evidence_text(std::string_view text, std::string_view name) {
  EvidenceFileScan scan;
  scan.name = std::string(name);
  ChainHash hash{};
  std::map<int, std::string> clocks;
  bool chain_broken = false;  // only the first mismatched tag of a file is named
  auto add_break = [&](std::size_t line, std::string what) {
    scan.breaks.push_back(ChainBreak{scan.name, line, std::move(what)});
  };
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t newline = text.find('\n', begin);
    if (newline == std::string_view::npos) {
      scan.torn = true;
      add_break(scan.lines + 1, "the file ends inside a line (cut, or a write that failed halfway)");
      break;
    }
    const std::string_view raw = text.substr(begin, newline - begin);
    begin = newline + 1;
    ++scan.lines;
    scan.good_size = begin;
    const std::size_t number = scan.lines;
    auto parsed = parse_line(raw);
    // The chain runs over what the file holds, so one edited line shows as one break at it.
    const std::size_t space = raw.rfind(' ');
    const std::string_view body = space == std::string_view::npos ? raw : raw.substr(0, space);
    if (!parsed) {
      add_break(number, "unreadable line: " + parsed.error().message);
      hash = chain_next(hash, body);
      chain_broken = true;
      continue;
    }
    if (number == 1) {
      const auto* header = std::get_if<EvidenceHeader>(&parsed->line);
      if (!header) {
        add_break(number, "the first line is not an evidence header");
        chain_broken = true;
      } else {
        scan.header = *header;
        hash = header->previous;
      }
    } else if (std::holds_alternative<EvidenceHeader>(parsed->line)) {
      add_break(number, "a second header inside the file");
      chain_broken = true;
    }
    hash = chain_next(hash, body);
    if (chain_tag(hash) != parsed->tag && !chain_broken) {
      add_break(number, "the line does not match the chain (edited, inserted, or a line before it removed)");
      chain_broken = true;
    }
    const std::int64_t day_start = scan.header ? scan.header->day_start : 0;
    const std::int64_t interval = scan.header ? scan.header->interval_ms : 1000;
    EvidenceEntry entry;
    entry.unix_ms = day_start * 1000 + line_time(parsed->line);
    entry.interval_ms = interval;
    if (const auto* c = std::get_if<EvidenceClock>(&parsed->line)) clocks[c->id] = c->name;
    if (auto id = line_clock(parsed->line)) {
      const auto found = clocks.find(*id);
      if (found == clocks.end()) {
        add_break(number, fmt::format("clock {} is not declared before it is used", *id));
        continue;
      }
      entry.clock = found->second;
    }
    entry.line = std::move(parsed->line);
    scan.entries.push_back(std::move(entry));
  }
  scan.end = hash;
  if (scan.lines == 0 && !scan.torn) add_break(0, "the file is empty (no header)");
  return scan;
}

EvidenceSet link_evidence_files(std::vector<EvidenceFileScan> files) {
  EvidenceSet set;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const EvidenceFileScan& file = files[i];
    set.lines += file.lines;
    for (const ChainBreak& b : file.breaks) set.breaks.push_back(b);
    if (i == 0 || !file.header) continue;
    const EvidenceFileScan& before = files[i - 1];
    if (file.header->previous == before.end) continue;
    std::string what = fmt::format("its header does not continue the chain of {} (which ends at {}, the header "
                                   "names {}):",
                                   before.name, chain_tag(before.end), chain_tag(file.header->previous));
    const auto before_day = before.header ? std::optional(before.header->day_start) : std::nullopt;
    if (before_day && file.header->day_start - *before_day > 86400) {
      what += fmt::format(" {} day(s) missing between them, or", (file.header->day_start - *before_day) / 86400 - 1);
    }
    what += fmt::format(" {} was cut or edited", before.name);
    set.breaks.push_back(ChainBreak{file.name, 0, what});
  }
  set.files = std::move(files);
  return set;
}

Result<std::vector<std::string>> list_evidence_files(const std::string& dir) {
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return fail("cannot read the evidence directory " + dir + ": " + ec.message());
  std::vector<std::string> names;
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (day_start_of_file_name(name)) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<EvidenceSet> read_evidence_dir(const std::string& dir) {
  auto names = list_evidence_files(dir);
  if (!names) return std::unexpected(names.error());
  std::vector<EvidenceFileScan> files;
  for (const std::string& name : *names) {
    auto bytes = read_whole_file(dir + "/" + name, kMaxFileBytes);
    if (!bytes) {
      EvidenceFileScan unreadable;
      unreadable.name = name;
      unreadable.breaks.push_back(ChainBreak{name, 0, "unreadable: " + bytes.error().message});
      files.push_back(std::move(unreadable));
      continue;
    }
    EvidenceFileScan scan =
        scan_evidence_text(*bytes, name);
    if (scan.header && evidence_file_name(scan.header->day_start) != name) {
      scan.breaks.push_back(ChainBreak{name, 1, "the header is for another day (" +
                                                    evidence_file_name(scan.header->day_start) + ")"});
    }
    files.push_back(std::move(scan));
  }
  return link_evidence_files(std::move(files));
}

}  // namespace kairos
