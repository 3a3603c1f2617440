#pragma once
// Watches successive cross-timestamps of a PHC for what no servo should smooth over: a reset
// (many drivers restart their clock at 1970 after a link reset) and a jump (someone else stepped
// it, or the hardware lost its count). The daemon answers both by stepping the PHC and locking
// again. Pure: it sees only the cross-timestamps.
#include <optional>

#include "hwts/cross_timestamp.hpp"

namespace kairos {

enum class PhcEvent {
  kNone,
  kReset,  // the PHC reads before 2000-01-01
  kJump,   // the offset moved more than the clocks' rates allow
};
const char* to_string(PhcEvent event);

struct PhcWatchLimits {
  // The largest rate difference the two clocks can have (fractional): both oscillators' error
  // and both adjustments. 1000 ppm: two clocks each steered anywhere within ±500 ppm.
  double max_frequency_difference = 1e-3;
  // Movement beyond the rates' allowance that still counts as noise (s).
  double threshold = 10e-6;
};

class PhcWatch {
 public:
  explicit PhcWatch(PhcWatchLimits limits = {}) : limits_(limits) {}

  // Compares with the previous cross-timestamp and remembers this one, so a reset or jump is
  // reported once and the readings after it are the new normal.
  PhcEvent check(const CrossTimestamp& current);
  // After our own step of either clock: the next reading starts afresh.
  void forget() { last_.reset(); }

 private:
  PhcWatchLimits limits_;
  std::optional<CrossTimestamp> last_;
};

}  // namespace kairos
