// Any bytes as a leap-seconds.list (clock/leap_seconds_list.hpp): a list that keeps its promises
// (times increasing, one second per change, bounded) or an error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "clock/leap_seconds_list.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto list = kairos::parse_leap_seconds_list(text, "fuzz");
  if (!list) return 0;
  if (list->entries.empty() || list->entries.size() > kairos::kMaxLeapSecondsEntries) std::abort();
  for (std::size_t i = 1; i < list->entries.size(); ++i) {
    const auto& a = list->entries[i - 1];
    const auto& b = list->entries[i];
    if (b.utc <= a.utc || std::abs(b.tai_utc - a.tai_utc) != 1) std::abort();
    if (list->tai_utc_at(b.utc) != b.tai_utc || list->tai_utc_at(b.utc - 1) != a.tai_utc) std::abort();
    const auto next = list->next_leap_after(a.utc);
    if (!next || next->utc != b.utc || next->leap == kairos::Leap::kNone) std::abort();
    if (list->leap_tonight(b.utc - 1) != next->leap) std::abort();
  }
  return 0;
}
