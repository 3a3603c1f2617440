#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <toml++/toml.h>

#include "daemon/toml_check.hpp"

namespace kairos::sim {
namespace {

// Far more servers than any scenario needs; keeps a hostile count from allocating gigabytes.
constexpr std::int64_t kMaxServerCount = 64;
constexpr std::size_t kMaxFileBytes = 1 << 20;

constexpr NumberRange kAnyFinite{};
constexpr NumberRange kNonNegative{.low = 0, .phrase = "a number >= 0"};
constexpr NumberRange kPositive{.low = 0, .low_open = true, .phrase = "a number > 0"};
constexpr NumberRange kProbability{.low = 0, .high = 1, .phrase = "a probability in [0, 1]"};
// Beyond 1 % a rate error is no oscillator a time daemon meets, and the servo's slew limit
// could never follow it.
constexpr NumberRange kRate{.low = -0.01, .high = 0.01, .phrase = "a rate between -0.01 and 0.01"};

std::string number_text(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

std::string quoted(std::string_view key) { return "'" + std::string(key) + "'"; }

// Reads one TOML table's keys into a struct, checking each value on the way.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string where, TomlProblems& problems)
      : table_(table), where_(std::move(where)), problems_(problems) {}

  void allow_only(std::initializer_list<std::string_view> known) const {
    reject_unknown_keys(table_, known, where_, problems_, UnknownTables::kAsTables);
  }

  const toml::node* node(std::string_view key) const { return table_.get(key); }
  const std::string& where() const { return where_; }
  TomlProblems& problems() const { return problems_; }

  // A number (integers accepted: `poll = 16`) within limits.
  void number(std::string_view key, double& out, const NumberRange& limits) const {
    if (auto v = number(key, limits)) out = *v;
  }
  void number(std::string_view key, std::optional<double>& out, const NumberRange& limits) const {
    if (auto v = number(key, limits)) out = *v;
  }
  std::optional<double> number(std::string_view key, const NumberRange& limits) const {
    const toml::node* n = table_.get(key);
    if (!n) return std::nullopt;
    std::optional<double> value = toml_number(*n);
    if (!value) {
      problems_.add(n, quoted(key) + " in " + where_ + " must be a number");
      return std::nullopt;
    }
    if (!limits.contains(*value)) {
      problems_.add(n, quoted(key) + " in " + where_ + " must be " + limits.phrase + " (not " + number_text(*value) + ")");
      return std::nullopt;
    }
    return value;
  }

  void integer(std::string_view key, int& out, std::int64_t low, std::int64_t high) const {
    if (auto v = integer(key, low, high)) out = static_cast<int>(*v);
  }
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t low, std::int64_t high) const {
    const toml::node* n = table_.get(key);
    if (!n) return std::nullopt;
    auto value = n->value_exact<std::int64_t>();
    if (!value || *value < low || *value > high) {
      problems_.add(n, quoted(key) + " in " + where_ + " must be an integer from " + std::to_string(low) + " to " +
                           std::to_string(high));
      return std::nullopt;
    }
    return value;
  }

  void boolean(std::string_view key, bool& out) const {
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (auto value = n->value_exact<bool>()) {
      out = *value;
    } else {
      problems_.add(n, quoted(key) + " in " + where_ + " must be true or false");
    }
  }

  void text(std::string_view key, std::string& out) const {
    const toml::node* n = table_.get(key);
    if (!n) return;
    if (auto value = n->value_exact<std::string>()) {
      out = *value;
    } else {
      problems_.add(n, quoted(key) + " in " + where_ + " must be a string");
    }
  }

  // One of a few words, mapped to its value.
  template <class T>
  void choice(std::string_view key, T& out, std::initializer_list<std::pair<std::string_view, T>> words) const {
    const toml::node* n = table_.get(key);
    if (!n) return;
    std::string allowed;
    if (auto value = n->value_exact<std::string>()) {
      for (const auto& [word, mapped] : words) {
        if (*value == word) {
          out = mapped;
          return;
        }
      }
    }
    for (const auto& word : words) allowed += (allowed.empty() ? "\"" : ", \"") + std::string(word.first) + "\"";
    problems_.add(n, quoted(key) + " in " + where_ + " must be one of " + allowed);
  }

  // A sub-table (`up = { ... }` or [server.up]); nullptr, with a problem, when it is something else.
  const toml::table* table(std::string_view key) const {
    const toml::node* n = table_.get(key);
    if (!n) return nullptr;
    if (const toml::table* t = n->as_table()) return t;
    problems_.add(n, quoted(key) + " in " + where_ + " must be a table { ... }");
    return nullptr;
  }

  // An array of tables (`[[server]]` or `key = [{...}, {...}]`).
  std::vector<const toml::table*> tables(std::string_view key) const {
    std::vector<const toml::table*> out;
    const toml::node* n = table_.get(key);
    if (!n) return out;
    const toml::array* list = n->as_array();
    if (!list || !list->is_array_of_tables()) {
      problems_.add(n, quoted(key) + " in " + where_ + " must be a list of tables ([[" + std::string(key) +
                           "]] or [{...}, ...])");
      return out;
    }
    for (const toml::node& item : *list) out.push_back(item.as_table());
    return out;
  }

 private:
  const toml::table& table_;
  std::string where_;
  TomlProblems& problems_;
};

void read_oscillator(const TableReader& r, OscillatorModel& out) {
  r.number("frequency", out.frequency, kRate);
  r.number("random-walk", out.random_walk, kNonNegative);
  r.number("initial-offset", out.initial_offset, kAnyFinite);
}

void read_clock(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[clock]", problems);
  r.allow_only({"frequency", "random-walk", "initial-offset", "temperature-steps", "square-wave", "ramp", "flicker"});
  read_oscillator(r, s.clock);
  r.number("ramp", s.clock.ramp, kAnyFinite);
  r.number("flicker", s.clock.flicker, kNonNegative);
  if (const toml::table* wave = r.table("square-wave")) {
    const TableReader wr(*wave, "[clock] square-wave", problems);
    wr.allow_only({"half-period", "change"});
    wr.number("half-period", s.clock.square_half_period, kPositive);
    wr.number("change", s.clock.square_change, kRate);
  }
  for (const toml::table* step : r.tables("temperature-steps")) {
    const TableReader sr(*step, "[clock] temperature-steps", problems);
    sr.allow_only({"at", "change"});
    TemperatureStep parsed;
    sr.number("at", parsed.at, kNonNegative);
    sr.number("change", parsed.change, kRate);
    s.clock.temperature_steps.push_back(parsed);
  }
}

void read_client(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[client]", problems);
  r.allow_only({"poll", "max-poll", "initial-burst", "burst-interval", "timestamping", "timestamp-precision",
                "interleaved", "step", "step-threshold", "max-slew"});
  ClientModel& c = s.client;
  r.number("poll", c.poll, kPositive);
  r.number("max-poll", c.max_poll, kPositive);
  if (c.max_poll && *c.max_poll < c.poll) problems.add(r.node("max-poll"), "'max-poll' in [client] is shorter than 'poll'");
  r.integer("initial-burst", c.initial_burst, 0, 64);
  r.number("burst-interval", c.burst_interval, kNonNegative);
  r.choice<Timestamping>("timestamping", c.timestamping,
                         {{"software", Timestamping::kSoftware}, {"hardware", Timestamping::kHardware}});
  r.number("timestamp-precision", c.timestamp_precision, kNonNegative);
  r.boolean("interleaved", c.interleaved);
  r.choice<StepMode>("step", c.step_mode,
                     {{"start-only", StepMode::kStartOnly}, {"always", StepMode::kAlways}, {"never", StepMode::kNever}});
  r.number("step-threshold", c.step_threshold, kNonNegative);
  r.number("max-slew", c.max_slew, kNonNegative);
}

void read_phc(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[phc]", problems);
  r.allow_only({"frequency", "random-walk", "initial-offset", "readout-delay", "readout-jitter", "readings", "interval"});
  PhcModel phc;
  read_oscillator(r, phc.oscillator);
  r.number("readout-delay", phc.readout_delay, kNonNegative);
  r.number("readout-jitter", phc.readout_jitter, kNonNegative);
  r.integer("readings", phc.readings, 1, 25);
  r.number("interval", phc.interval, kPositive);
  s.phc = phc;
}

void read_delay(const TableReader& server, std::string_view key, DelayModel& out) {
  const toml::table* t = server.table(key);
  if (!t) return;
  const TableReader r(*t, quoted(key) + " in [[server]]", server.problems());
  r.allow_only({"base", "jitter", "spike-probability", "spike-base", "spike-jitter"});
  r.number("base", out.base, kNonNegative);
  r.number("jitter", out.jitter_mean, kNonNegative);
  r.number("spike-probability", out.spike_probability, kProbability);
  r.number("spike-base", out.spike_base, kNonNegative);
  r.number("spike-jitter", out.spike_mean, kNonNegative);
}

void read_interval(const TableReader& server, std::string_view key, std::optional<Interval>& out) {
  const toml::table* t = server.table(key);
  if (!t) return;
  const TableReader r(*t, quoted(key) + " in [[server]]", server.problems());
  r.allow_only({"start", "duration"});
  Interval interval;
  r.number("start", interval.start, kNonNegative);
  r.number("duration", interval.duration, kNonNegative);
  out = interval;
}

void read_server(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[[server]]", problems);
  r.allow_only({"up", "down", "loss", "offset", "step-at", "step-by", "processing", "root-delay", "root-dispersion",
                "trust", "require", "count", "nts", "new-keys-at", "ke-down", "rate-kiss"});
  ServerModel server;
  read_delay(r, "up", server.up);
  read_delay(r, "down", server.down);
  r.number("loss", server.loss, kProbability);
  r.number("offset", server.offset, kAnyFinite);
  r.number("step-at", server.step_at, kNonNegative);
  r.number("step-by", server.step_by, kAnyFinite);
  if (r.node("step-by") && !r.node("step-at")) problems.add(r.node("step-by"), "'step-by' needs 'step-at' in [[server]]");
  r.number("processing", server.processing, kNonNegative);
  r.number("root-delay", server.root_delay, kNonNegative);
  r.number("root-dispersion", server.root_dispersion, kNonNegative);
  r.boolean("trust", server.trusted);
  r.boolean("require", server.required);
  r.boolean("nts", server.nts);
  r.number("new-keys-at", server.new_keys_at, kNonNegative);
  read_interval(r, "ke-down", server.ke_down);
  read_interval(r, "rate-kiss", server.rate_kiss);
  for (const char* key : {"new-keys-at", "ke-down"}) {
    if (r.node(key) && !server.nts) problems.add(r.node(key), quoted(key) + " needs 'nts = true' in [[server]]");
  }
  const auto count = r.integer("count", 1, kMaxServerCount).value_or(1);
  for (std::int64_t i = 0; i < count; ++i) s.servers.push_back(server);
}

void read_loss_burst(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[[loss-burst]]", problems);
  r.allow_only({"start", "duration", "probability"});
  LossBurst burst;
  r.number("start", burst.start, kNonNegative);
  r.number("duration", burst.duration, kNonNegative);
  r.number("probability", burst.probability, kProbability);
  s.loss_bursts.push_back(burst);
}

void read_leap(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[leap]", problems);
  r.allow_only({"at", "insert", "announce"});
  LeapEvent leap;
  r.number("at", leap.at, kNonNegative);
  r.boolean("insert", leap.insert);
  r.number("announce", leap.announce, kNonNegative);
  s.leap = leap;
}

void read_foreign_step(const toml::table& t, Scenario& s, TomlProblems& problems) {
  const TableReader r(t, "[foreign-step]", problems);
  r.allow_only({"at", "by"});
  ForeignStep step;
  r.number("at", step.at, kNonNegative);
  r.number("by", step.by, kAnyFinite);
  s.foreign_step = step;
}

void read_expectations(const TableReader& r, Expectations& out) {
  r.allow_only({"rms-offset", "max-offset", "sd-offset", "time-to-sync", "bound-coverage", "max-error-coverage",
                "max-naks", "max-nts-ke", "max-kisses"});
  r.number("rms-offset", out.rms_offset, kNonNegative);
  r.number("max-offset", out.max_offset, kNonNegative);
  r.number("sd-offset", out.sd_offset, kNonNegative);
  r.number("time-to-sync", out.time_to_sync, kNonNegative);
  r.number("bound-coverage", out.bound_coverage, kProbability);
  r.number("max-error-coverage", out.max_error_coverage, kProbability);
  r.number("max-naks", out.max_naks, kNonNegative);
  r.number("max-nts-ke", out.max_nts_ke, kNonNegative);
  r.number("max-kisses", out.max_kisses, kNonNegative);
}

// A [section] that must be a single table.
template <class Reader>
void read_section(const toml::table& root, std::string_view name, Reader read, Scenario& s, TomlProblems& problems) {
  const toml::node* n = root.get(name);
  if (!n) return;
  if (const toml::table* t = n->as_table()) {
    read(*t, s, problems);
  } else {
    problems.add(n, quoted(name) + " must be a table: [" + std::string(name) + "]");
  }
}

// A [[section]] that must be an array of tables.
template <class Reader>
void read_list(const toml::table& root, std::string_view name, Reader read, Scenario& s, TomlProblems& problems) {
  const toml::node* n = root.get(name);
  if (!n) return;
  const toml::array* list = n->as_array();
  if (!list || !list->is_array_of_tables()) {
    problems.add(n, quoted(name) + " is written as [[" + std::string(name) + "]] tables");
    return;
  }
  for (const toml::node& item : *list) read(*item.as_table(), s, problems);
}

// "dir/lan.toml" -> "lan"; empty when the source is not a .toml file.
std::string file_stem(std::string_view source) {
  constexpr std::string_view kSuffix = ".toml";
  if (source.size() <= kSuffix.size() || !source.ends_with(kSuffix)) return {};
  source.remove_suffix(kSuffix.size());
  if (auto slash = source.rfind('/'); slash != std::string_view::npos) source.remove_prefix(slash + 1);
  return std::string(source);
}

void check_whole(const toml::table& root, Scenario& s, std::string_view source, TomlProblems& problems) {
  if (const std::string stem = file_stem(source); !stem.empty()) {
    if (s.name.empty()) {
      s.name = stem;
    } else if (s.name != stem) {
      problems.add(root.get("name"), "name '" + s.name + "' does not match the file name '" + stem + ".toml'");
    }
  }
  if (!(s.settle < s.duration)) {
    problems.add(root.get("settle") ? root.get("settle") : root.get("duration"),
                 "'settle' (" + number_text(s.settle) + ") must be shorter than 'duration' (" +
                     number_text(s.duration) + ")");
  }
  if (s.servers.empty()) problems.add(std::size_t{0}, "no [[server]]: a scenario needs at least one");
  const bool hardware = s.client.timestamping == Timestamping::kHardware;
  if (hardware && !s.phc) {
    const toml::table* client = root.get("client") ? root.get("client")->as_table() : nullptr;
    problems.add(client ? client->get("timestamping") : nullptr,
                 "timestamping = \"hardware\" needs a [phc] table (the NIC's clock)");
  }
  if (!hardware && s.phc) {
    problems.add(root.get("phc"), "[phc] is only used with timestamping = \"hardware\" in [client]");
  }
}

}  // namespace

Result<Scenario> parse_scenario(std::string_view toml_text, std::string_view source_name) {
  TomlProblems problems(source_name, TomlProblems::Style::kProse);
  std::optional<toml::table> parsed = parse_toml(toml_text, source_name, problems);
  if (!parsed) return fail(problems.text());
  const toml::table& root = *parsed;

  Scenario s;
  const TableReader top(root, "the top level", problems);
  top.allow_only({"name", "description", "duration", "settle", "clock", "client", "phc", "server", "loss-burst", "leap",
                  "foreign-step", "target"});
  top.text("name", s.name);
  top.text("description", s.description);
  top.number("duration", s.duration, kPositive);
  top.number("settle", s.settle, kNonNegative);
  read_section(root, "clock", read_clock, s, problems);
  read_section(root, "client", read_client, s, problems);
  read_section(root, "phc", read_phc, s, problems);
  read_list(root, "server", read_server, s, problems);
  read_list(root, "loss-burst", read_loss_burst, s, problems);
  read_section(root, "leap", read_leap, s, problems);
  read_section(root, "foreign-step", read_foreign_step, s, problems);
  read_section(
      root, "target",
      [](const toml::table& t, Scenario& sc, TomlProblems& p) { read_expectations(TableReader(t, "[target]", p), sc.target); },
      s, problems);
  check_whole(root, s, source_name, problems);

  if (!problems.empty()) return fail(problems.text());
  return s;
}

Result<Scenario> load_scenario(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path + ": cannot open");
  std::string text;
  text.resize(kMaxFileBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return fail(path + ": read error");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileBytes) return fail(path + ": larger than 1 MiB, not a scenario");
  return parse_scenario(text, path);
}

}  // namespace kairos::sim
