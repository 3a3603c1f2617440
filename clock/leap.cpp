#include "clock/leap.hpp"

#include <chrono>

namespace kairos {

bool last_day_of_month(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const auto day = floor<days>(sys_seconds(seconds(unix_seconds)));
  return year_month_day(day + days(1)).day() == std::chrono::day(1);
}

const char* to_string(Leap leap) {
  switch (leap) {
    case Leap::kNone: return "none";
    case Leap::kInsert: return "insert";
    case Leap::kDelete: return "delete";
    case Leap::kUnsynchronized: return "unsynchronized";
  }
  return "none";
}

}  // namespace kairos
