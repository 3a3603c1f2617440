#pragma once
// The system clock's frequency across restarts (`<state-dir>/frequency`, like chrony's
// driftfile): the model's estimate of the correction the clock needs and its sd, so a restart
// starts close to the right rate instead of learning it again from 1000 ppm of uncertainty.
//
// The file is JSON, one object: {"version": 1, "frequency_ppm": F, "sd_ppm": S, "written": T}
// (T: Unix seconds, for people reading the file).
#include <cstdint>
#include <string>

#include <cmath>

#include "clock/result.hpp"
#include "nts/bytes.hpp"

namespace kairos {

inline constexpr int kFrequencyFileVersion = 1;
// Larger values are no oscillator's error but a corrupt file (the kernel's limit is 500 ppm).
inline constexpr double kMaxSavedFrequency = 1e-3;

struct SavedFrequency {
  double frequency = 0;  // fractional: the correction the clock needs (ClockStatus::frequency)
  double sd = 0;         // its standard deviation, fractional
  std::int64_t written = 0;  // Unix seconds
};

// Whether the model has learned the frequency at all: an sd over 100 ppm (the spread of ordinary
// oscillators) is the model's prior, not knowledge. Such a model (synchronized on its first
// sample) once wrote its 1000 ppm prior, which the next start refused as out of range.
inline bool frequency_worth_saving(const SavedFrequency& saved) {
  return saved.sd >= 0 && saved.sd < 100e-6 && std::abs(saved.frequency) < kMaxSavedFrequency;
}

std::string format_frequency_file(const SavedFrequency& saved);
Result<SavedFrequency> parse_frequency_file(ByteView bytes);

// Atomic (write_file_atomic): a full disk leaves the old file as it was.
Result<void> save_frequency_file(const std::string& path, const SavedFrequency& saved);
Result<SavedFrequency> load_frequency_file(const std::string& path);

// How sure a restart may be of a saved value: the file's sd, widened (the oscillator's
// temperature, age and a different kernel move it), never narrower than a few ppm.
double seeded_frequency_sd(const SavedFrequency& saved);

}  // namespace kairos
