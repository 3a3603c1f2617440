#include "daemon/toml_check.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace kairos {

void TomlProblems::add(const toml::parse_error& error) {
  const toml::source_position& at = error.source().begin;
  add(at.line, std::string(error.description()) + " (column " + std::to_string(at.column) + ")");
}

std::string TomlProblems::text() const {
  auto sorted = list_;
  if (style_ == Style::kProse) {
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
      return (a.first == 0 ? SIZE_MAX : a.first) < (b.first == 0 ? SIZE_MAX : b.first);
    });
  }
  std::string out;
  for (const auto& [line, message] : sorted) {
    if (!out.empty()) out += "\n";
    if (style_ == Style::kCompiler) {
      out += origin_ + ":" + std::to_string(line) + ": " + message;
    } else {
      out += origin_ + ": ";
      if (line > 0) out += "line " + std::to_string(line) + ": ";
      out += message;
    }
  }
  return out;
}

std::optional<toml::table> parse_toml(std::string_view text, std::string_view origin, TomlProblems& problems) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    problems.add(e);
    return std::nullopt;
  }
}

void reject_unknown_keys(const toml::table& table, std::initializer_list<std::string_view> known, std::string_view where,
                         TomlProblems& problems, UnknownTables tables) {
  for (const auto& [key, value] : table) {
    if (std::find(known.begin(), known.end(), key.str()) != known.end()) continue;
    const char* what = tables == UnknownTables::kAsTables && value.is_table() ? "table" : "key";
    problems.add(&value, std::string("unknown ") + what + " '" + std::string(key.str()) + "' in " + std::string(where));
  }
}

std::optional<double> toml_number(const toml::node& node) {
  if (auto i = node.value_exact<std::int64_t>()) return static_cast<double>(*i);
  if (auto f = node.value_exact<double>()) return *f;
  return std::nullopt;
}

bool NumberRange::contains(double value) const {
  const bool below = low_open ? !(value > low) : !(value >= low);
  return std::isfinite(value) && !below && value <= high;
}

}  // namespace kairos
