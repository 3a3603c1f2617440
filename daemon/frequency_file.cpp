#include "daemon/frequency_file.hpp"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "daemon/state_file.hpp"

namespace kairos {
namespace {

constexpr std::size_t kMaxFrequencyFileSize = 4096;
// A saved sd is what the model knew while it had samples; after a restart the oscillator may be
// warmer or colder. Ten times wider, and at least 5 ppm, lets the first minutes of samples
// correct a stale value quickly while a good one still spares the long initial convergence.
constexpr double kSeedWidening = 10.0;
constexpr double kMinSeedSd = 5e-6;

Result<double> finite_number(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end()) return fail(std::string("no \"") + key + "\"");
  if (!it->is_number()) return fail(std::string("\"") + key + "\" is not a number");
  const double v = it->get<double>();
  if (!std::isfinite(v)) return fail(std::string("\"") + key + "\" is not finite");
  return v;
}

}  // namespace

std::string format_frequency_file(const SavedFrequency& saved) {
  nlohmann::json j;
  j["version"] = kFrequencyFileVersion;
  j["frequency_ppm"] = saved.frequency * 1e6;
  j["sd_ppm"] = saved.sd * 1e6;
  j["written"] = saved.written;
  return j.dump(2) + "\n";
}

Result<SavedFrequency> parse_frequency_file(ByteView bytes) {
  const auto j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail("not a JSON object");
  const auto version = j.find("version");
  if (version == j.end() || !version->is_number_integer()) return fail("no integer \"version\"");
  if (version->get<std::int64_t>() != kFrequencyFileVersion) {
    return fail("version " + version->dump() + ", expected " + std::to_string(kFrequencyFileVersion));
  }
  auto ppm = finite_number(j, "frequency_ppm");
  if (!ppm) return std::unexpected(ppm.error());
  auto sd_ppm = finite_number(j, "sd_ppm");
  if (!sd_ppm) return std::unexpected(sd_ppm.error());
  SavedFrequency saved;
  saved.frequency = *ppm * 1e-6;
  saved.sd = *sd_ppm * 1e-6;
  if (std::abs(saved.frequency) > kMaxSavedFrequency) return fail("frequency " + std::to_string(*ppm) + " ppm is out of range");
  if (saved.sd < 0 || saved.sd > kMaxSavedFrequency) return fail("sd " + std::to_string(*sd_ppm) + " ppm is out of range");
  if (const auto written = j.find("written"); written != j.end() && written->is_number_integer()) {
    saved.written = written->get<std::int64_t>();
  }
  return saved;
}

Result<void> save_frequency_file(const std::string& path, const SavedFrequency& saved) {
  const std::string text = format_frequency_file(saved);
  const auto* data = reinterpret_cast<const std::uint8_t*>(text.data());
  return write_file_atomic(path, ByteView(data, text.size()), 0644);
}

Result<SavedFrequency> load_frequency_file(const std::string& path) {
  auto bytes = read_file_bounded(path, kMaxFrequencyFileSize);
  if (!bytes) return std::unexpected(bytes.error());
  auto saved = parse_frequency_file(*bytes);
  if (!saved) return fail(path + ": " + saved.error().message);
  return saved;
}

double seeded_frequency_sd(const SavedFrequency& saved) {
  return std::clamp(kSeedWidening * saved.sd, kMinSeedSd, kMaxSavedFrequency);
}

}  // namespace kairos
