#pragma once
// What kairos.toml (daemon/config.cpp) and the simulator's scenario files (tools/sim/scenario.cpp)
// share in checking a TOML document: the problems collected with their lines so one run reports
// all of them, the parser's own error at its line and column, unknown keys, numbers written as
// integers or floats, and ranges. Each reader keeps its own phrasing of what a value must be.
// A library of its own (kairos_toml): the simulator links it without the rest of the daemon.
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <utility>
#include <vector>

namespace kairos {

class TomlProblems {
 public:
  enum class Style {
    kCompiler,  // "origin:12: message", in the order found (kairos.toml, as compilers say it)
    kProse,     // "origin: line 12: message", sorted by line, those about the whole file last
  };
  TomlProblems(std::string_view origin, Style style) : origin_(origin), style_(style) {}

  void add(const toml::node* node, const std::string& message) { add(node ? node->source().begin.line : 0, message); }
  void add(std::size_t line, const std::string& message) { list_.emplace_back(line, message); }
  // The parser's error: its line, and its column at the end (a syntax error is somewhere on the line).
  void add(const toml::parse_error& error);
  bool empty() const { return list_.empty(); }
  std::string text() const;

 private:
  std::string origin_;
  Style style_;
  std::vector<std::pair<std::size_t, std::string>> list_;
};

// Parses `text`; nullopt, with the parser's error added to `problems`, when it is not TOML.
std::optional<toml::table> parse_toml(std::string_view text, std::string_view origin, TomlProblems& problems);

// How an unknown key whose value is a table is named: "unknown key 'x'" or "unknown table 'x'".
enum class UnknownTables { kAsKeys, kAsTables };
// Every key of `table` not in `known`: "unknown key 'k' in WHERE", at the key's line.
void reject_unknown_keys(const toml::table& table, std::initializer_list<std::string_view> known, std::string_view where,
                         TomlProblems& problems, UnknownTables tables = UnknownTables::kAsKeys);

// A number written either way (`poll = 16`, `poll = 16.0`); nullopt for anything else.
std::optional<double> toml_number(const toml::node& node);

// The interval a number must fall in, and how to say so ("a probability in [0, 1]").
struct NumberRange {
  double low = -std::numeric_limits<double>::infinity();
  double high = std::numeric_limits<double>::infinity();
  bool low_open = false;  // low itself is not allowed
  const char* phrase = "a finite number";

  // Finite and within the interval (NaN never is).
  bool contains(double value) const;
};

}  // namespace kairos
