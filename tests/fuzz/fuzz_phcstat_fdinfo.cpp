// Any bytes as a /proc/PID/fdinfo/N file: a yes or no on "opened for writing", never a crash, and
// the answer depends only on the first "flags:" line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "phc_holders.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool write = kairos::phcstat::fdinfo_opened_for_writing(text);
  // Lines after the first "flags:" line change nothing (one that only contains "flags:" is none).
  const bool has_flags_line = text.starts_with("flags:") || text.find("\nflags:") != std::string_view::npos;
  if (has_flags_line &&
      kairos::phcstat::fdinfo_opened_for_writing(std::string(text) + "\nflags:\t02\n") != write) {
    abort();
  }
  return 0;
}
