// kairos-sim: runs the clock model (or the PI baseline) in a simulated world read from a scenario
// file, deterministically for a seed, and reports how well the clock was kept: a summary, JSON,
// a CSV of every second, a plot, or one table over every scenario compared with its targets.
// The table is information, so it exits 0 even when a target is missed. Numbers of other daemons
// come only from running them (tests/clknetsim/), never from this table.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "engine.hpp"
#include "metrics.hpp"
#include "scenario.hpp"
#include "sim_evidence.hpp"

extern char** environ;

namespace kairos::sim {
namespace {

using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

// The table runs this many simulations at once; results land by index, so the order they finish
// in never shows.
constexpr unsigned kTableThreads = 2;

struct Options {
  std::string scenario;
  std::string scenario_dir = KAIROS_SIM_SCENARIO_DIR;
  std::uint64_t seed = 1;
  double duration = 0;
  bool json = false;
  std::string csv;
  std::string plot;
  std::string evidence;
  Servo servo = Servo::kKalman;
  bool list = false;
  bool table = false;
  unsigned seeds = 5;  // make sim's table: the README's numbers are means over seeds 1..5
};

int bad_input(const std::string& message) {
  std::fprintf(stderr, "kairos-sim: %s\n", message.c_str());
  return 2;
}

int failure(const std::string& message) {
  std::fprintf(stderr, "kairos-sim: %s\n", message.c_str());
  return 1;
}

const char* servo_name(Servo servo) { return servo == Servo::kKalman ? "kalman" : "pi"; }

std::string printf_text(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// A time error in the unit that keeps it readable.
std::string seconds_text(double s) {
  if (!std::isfinite(s)) return s > 0 ? "inf" : "nan";
  const double a = std::abs(s);
  if (a == 0) return "0";
  if (a >= 1) return printf_text("%.3f s", s);
  if (a >= 1e-3) return printf_text("%.3f ms", s * 1e3);
  if (a >= 1e-6) return printf_text("%.2f µs", s * 1e6);
  return printf_text("%.1f ns", s * 1e9);
}

std::string rate_text(double r) {
  if (std::abs(r) >= 1e-6) return printf_text("%.3f ppm", r * 1e6);
  return printf_text("%.2f ppb", r * 1e9);
}

// ---- scenarios on disk ----

// NAME is a file when it looks like one, else DIR/NAME.toml.
std::string scenario_path(const std::string& name, const std::string& dir) {
  if (name.find('/') != std::string::npos || name.ends_with(".toml")) return name;
  return dir + "/" + name + ".toml";
}

Result<std::vector<std::string>> scenario_files(const std::string& dir) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return fail("cannot read the scenario directory " + dir + ": " + ec.message());
  std::vector<std::string> paths;
  for (const auto& entry : it) {
    if (entry.is_regular_file() && entry.path().extension() == ".toml") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  if (paths.empty()) return fail("no scenarios (*.toml) in " + dir);
  return paths;
}

// --duration replaces the scenario's, and must leave something after settling.
Result<double> run_duration(const Scenario& s, double override_duration) {
  if (override_duration <= 0) return s.duration;
  if (!(override_duration > s.settle)) {
    return fail("--duration " + printf_text("%g", override_duration) + " leaves nothing after " + s.name +
                "'s settling time (" + printf_text("%g", s.settle) + " s)");
  }
  return override_duration;
}

std::vector<Record> simulate(const Scenario& s, const RunOptions& options) {
  std::vector<Record> records;
  records.reserve(static_cast<std::size_t>(options.duration > 0 ? options.duration : s.duration) + 1);
  run(s, options, [&records](const Record& r) { records.push_back(r); });
  return records;
}

// ---- one run: summary, CSV, plot ----

void print_summary(const Scenario& s, const Options& o, const Metrics& m) {
  std::printf("%s, seed %llu, %s servo: %zu s measured after %g s settling\n", s.name.c_str(),
              static_cast<unsigned long long>(o.seed), servo_name(o.servo), m.seconds, s.settle);
  std::printf("offset      rms %s, max %s, mean %s, sd %s\n", seconds_text(m.rms_offset).c_str(),
              seconds_text(m.max_offset).c_str(), seconds_text(m.mean_offset).c_str(),
              seconds_text(m.sd_offset).c_str());
  std::printf("frequency   rms error %s\n", rate_text(m.rms_freq_error).c_str());
  std::printf("sync        within 1 ms for good after %g s\n", m.time_to_sync);
  std::printf("max error   covers %.3f %% of seconds, median ±%s, %zu s unbounded\n", m.max_error_coverage * 100,
              seconds_text(m.max_error_median).c_str(), m.unbounded);
  std::printf("4 sd        covers %.3f %% of seconds, median width %s (%.2f x rms)\n", m.bound_coverage * 100,
              seconds_text(m.bound_median_width).c_str(), bound_width_ratio(m));
  if (s.phc) std::printf("phc         rms offset %s\n", seconds_text(m.rms_phc_offset).c_str());
  // What the association core did (daemon/source_core.hpp's counters, all sources).
  std::printf("association %.0f samples, %.0f NAKs, %.0f NTS-KEs (%.0f failed), %.0f kisses\n", m.samples, m.naks,
              m.nts_ke, m.nts_ke_failed, m.kisses);
}

Result<void> write_csv(const std::string& path, const std::vector<Record>& records) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return fail("cannot write " + path + ": " + std::strerror(errno));
  std::fprintf(f,
               "time,offset,freq_error,bound_low,bound_high,max_error,phc_offset,synchronized,samples,naks,nts_ke_ok,"
               "nts_ke_failed,kisses\n");
  for (const Record& r : records) {
    std::fprintf(f, "%.12g,%.12g,%.12g,%.12g,%.12g,%.12g,%.12g,%d,%llu,%llu,%llu,%llu,%llu\n", r.time, r.offset,
                 r.freq_error, r.bound_low, r.bound_high, r.max_error, r.phc_offset, r.synchronized ? 1 : 0,
                 static_cast<unsigned long long>(r.samples), static_cast<unsigned long long>(r.naks),
                 static_cast<unsigned long long>(r.nts_ke_ok), static_cast<unsigned long long>(r.nts_ke_failed),
                 static_cast<unsigned long long>(r.kisses));
  }
  const bool ok = std::ferror(f) == 0;
  if (std::fclose(f) != 0 || !ok) return fail("cannot write " + path);
  return {};
}

bool gnuplot_installed() {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= dirs.size()) {
    std::size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    const std::string dir = dirs.substr(start, end - start);
    if (::access(((dir.empty() ? "." : dir) + "/gnuplot").c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

constexpr const char* kNoGnuplot = "--plot needs gnuplot (Debian: apt-get install gnuplot-nox; scripts/deps.sh)";

// A file that is removed when it goes out of scope.
class TempFile {
 public:
  TempFile() {
    std::string name = (fs::temp_directory_path() / "kairos-sim-XXXXXX.gp").string();
    fd_ = ::mkstemps(name.data(), 3);
    if (fd_ >= 0) path_ = name;
  }
  ~TempFile() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(path_.c_str());
    }
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  const std::string& path() const { return path_; }
  bool write(const std::string& text) const {
    std::size_t done = 0;
    while (done < text.size()) {
      const ssize_t n = ::write(fd_, text.data() + done, text.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// gnuplot's single-quoted strings take a quote as ''.
std::string gnuplot_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

std::string plot_number(double v) { return std::isfinite(v) ? printf_text("%.9g", v) : "NaN"; }

// The clock's error and the model's bound on it, as gnuplot draws them: the bound is on true
// time minus the clock, so as clock error it is [-high, -low].
std::string plot_script(const Scenario& s, const Options& o, const Metrics& m, const std::vector<Record>& records) {
  double low = INFINITY, high = -INFINITY;
  for (const Record& r : records) {
    if (r.time < s.settle) continue;  // the start's 0.1 s would flatten everything after it
    const double centre = -(r.bound_low + r.bound_high) / 2;
    for (double v : {r.offset, -r.bound_high, -r.bound_low, centre - r.max_error, centre + r.max_error}) {
      if (!std::isfinite(v)) continue;
      low = std::min(low, v);
      high = std::max(high, v);
    }
  }
  if (!(low <= high)) low = high = 0;
  const double largest = std::max(std::abs(low), std::abs(high));
  const double scale = largest < 1e-6 ? 1e9 : largest < 10e-3 ? 1e6 : 1e3;
  const char* unit = scale == 1e9 ? "ns" : scale == 1e6 ? "µs" : "ms";
  double pad = (high - low) * 0.05;
  if (pad == 0) pad = 1 / scale;

  std::string out;
  out += "set encoding utf8\n";
  out += "set terminal pngcairo size 1200,600 font ',10'\n";
  out += "set output " + gnuplot_quoted(o.plot) + "\n";
  out += "set title " + gnuplot_quoted(s.name + ", seed " + std::to_string(o.seed) + ", " + servo_name(o.servo) +
                                       " servo: RMS offset " + seconds_text(m.rms_offset) + " after settling") +
         " noenhanced\n";
  out += "set xlabel 'time (h)'\nset ylabel " + gnuplot_quoted(std::string("clock error (") + unit + ")") + "\n";
  out += "set grid\nset key top right\n";
  const double hours = records.empty() ? 1 : (records.back().time + 1) / 3600;
  out += "set xrange [0:" + plot_number(hours) + "]\n";
  out += "set yrange [" + plot_number((low - pad) * scale) + ":" + plot_number((high + pad) * scale) + "]\n";
  out += "set arrow from " + plot_number(s.settle / 3600) + ", graph 0 to " + plot_number(s.settle / 3600) +
         ", graph 1 nohead dashtype 2 linecolor rgb 'gray40'\n";
  out += "$data << EOD\n";
  for (const Record& r : records) {
    // The maximum error is around the model's centre; as clock error, -centre ± max_error.
    const double centre = -(r.bound_low + r.bound_high) / 2;
    out += plot_number(r.time / 3600) + " " + plot_number(r.offset * scale) + " " +
           plot_number(-r.bound_high * scale) + " " + plot_number(-r.bound_low * scale) + " " +
           plot_number((centre - r.max_error) * scale) + " " + plot_number((centre + r.max_error) * scale) + "\n";
  }
  out += "EOD\n";
  out += "plot $data using 1:5:6 with filledcurves fillcolor rgb '#d8e6ff' fillstyle solid 0.6 noborder "
         "title 'maximum error', \\\n     $data using 1:3:4 with filledcurves fillcolor rgb '#9ec5ff' fillstyle solid 0.6 "
         "noborder title '4 sd', \\\n     $data using 1:2 with lines linecolor rgb '#c00000' title 'offset'\n";
  return out;
}

Result<void> write_plot(const Scenario& s, const Options& o, const Metrics& m, const std::vector<Record>& records) {
  TempFile script;
  if (!script.ok()) return fail(std::string("cannot create a temporary gnuplot script: ") + std::strerror(errno));
  if (!script.write(plot_script(s, o, m, records))) return fail("cannot write the gnuplot script " + script.path());
  std::string program = "gnuplot";
  std::vector<char*> argv{program.data(), const_cast<char*>(script.path().c_str()), nullptr};
  pid_t pid = 0;
  if (int err = ::posix_spawnp(&pid, "gnuplot", nullptr, nullptr, argv.data(), environ); err != 0) {
    if (err == ENOENT) return fail(kNoGnuplot);
    return fail(std::string("cannot start gnuplot: ") + std::strerror(err));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return fail(std::string("waiting for gnuplot: ") + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("gnuplot failed drawing " + o.plot);
  return {};
}

int run_one(const Options& o) {
  auto scenario = load_scenario(scenario_path(o.scenario, o.scenario_dir));
  if (!scenario) return bad_input(scenario.error().message);
  auto duration = run_duration(*scenario, o.duration);
  if (!duration) return bad_input(duration.error().message);
  if (!o.plot.empty() && !gnuplot_installed()) return bad_input(kNoGnuplot);

  const std::vector<Record> records = simulate(*scenario, {.seed = o.seed, .duration = *duration, .servo = o.servo});
  const Metrics metrics = summarize(records, scenario->settle);
  if (o.json) {
    Json out = Json::parse(to_json(metrics, scenario->name, o.seed));
    out["servo"] = servo_name(o.servo);
    out["bound_width_ratio"] = bound_width_ratio(metrics);
    std::cout << out.dump(2) << "\n";
  } else {
    print_summary(*scenario, o, metrics);
  }
  if (!o.csv.empty()) {
    if (auto written = write_csv(o.csv, records); !written) return failure(written.error().message);
  }
  if (!o.plot.empty()) {
    if (auto drawn = write_plot(*scenario, o, metrics, records); !drawn) return failure(drawn.error().message);
  }
  if (!o.evidence.empty()) {
    if (auto written = write_evidence(o.evidence, *scenario, records); !written) return failure(written.error().message);
  }
  return 0;
}

// ---- the table ----

constexpr Servo kServos[] = {Servo::kKalman, Servo::kPi};
constexpr std::size_t kServoCount = std::size(kServos);

struct TableRow {
  const Scenario* scenario = nullptr;
  Metrics by_servo[kServoCount];  // averaged over seeds, in kServos order
};

// Every scenario × servo × seed, run kTableThreads at a time; each result goes to its own slot.
std::vector<TableRow> run_table(const std::vector<Scenario>& scenarios, const std::vector<double>& durations,
                                unsigned seeds) {
  const std::size_t per_scenario = kServoCount * seeds;
  const std::size_t jobs = scenarios.size() * per_scenario;
  std::vector<Metrics> results(jobs);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t job = next++; job < jobs; job = next++) {
      const std::size_t index = job / per_scenario;
      const Servo servo = kServos[(job % per_scenario) / seeds];
      const std::uint64_t seed = job % seeds + 1;
      const Scenario& s = scenarios[index];
      results[job] = summarize(simulate(s, {.seed = seed, .duration = durations[index], .servo = servo}), s.settle);
    }
  };
  {
    std::vector<std::jthread> threads;
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < std::min(kTableThreads, cores); ++i) threads.emplace_back(worker);
  }
  std::vector<TableRow> rows(scenarios.size());
  for (std::size_t i = 0; i < scenarios.size(); ++i) {
    rows[i].scenario = &scenarios[i];
    for (std::size_t v = 0; v < kServoCount; ++v) {
      const auto first = results.begin() + static_cast<std::ptrdiff_t>(i * per_scenario + v * seeds);
      rows[i].by_servo[v] = average(std::vector<Metrics>(first, first + seeds));
    }
  }
  return rows;
}

// One column of the table: a metric, its target (none: nullptr), and which way is better.
struct Column {
  const char* title;
  const char* json_key;
  double (*value)(const Metrics&);
  std::optional<double> Expectations::*expected;
  bool higher_is_better;
  std::string (*text)(double);
  // A target computed from the scenario and the run instead of written in it.
  std::optional<double> (*computed)(const Scenario&, const Metrics&) = nullptr;
};

// The width a maximum error may have: what no client can know better, 1.25 × (half the path's
// shortest round trip + the server's root distance), over the best server, plus 4 × the rms
// error the model actually had.
std::optional<double> max_error_width_target(const Scenario& s, const Metrics& m) {
  double best = INFINITY;
  for (const ServerModel& server : s.servers) {
    const double min_delay = server.up.base + server.down.base;  // NTP takes the server's own time out
    best = std::min(best, min_delay / 2 + server.root_delay / 2 + server.root_dispersion);
  }
  if (!std::isfinite(best)) return std::nullopt;
  return 1.25 * best + 4 * m.rms_offset;
}

// The target of column c in scenario s for the kalman metrics m.
std::optional<double> target_of(const Column& c, const Scenario& s, const Metrics& m) {
  if (c.computed) return c.computed(s, m);
  if (c.expected) return s.target.*c.expected;
  return std::nullopt;
}

std::string sync_text(double s) { return printf_text("%.1f s", s); }
std::string coverage_text(double c) { return printf_text("%.5f", c); }

std::string count_text(double n) { return printf_text("%.0f", n); }

const Column kColumns[] = {
    {"rms", "rms_offset", [](const Metrics& m) { return m.rms_offset; }, &Expectations::rms_offset, false, seconds_text},
    {"max", "max_offset", [](const Metrics& m) { return m.max_offset; }, &Expectations::max_offset, false, seconds_text},
    {"sync", "time_to_sync", [](const Metrics& m) { return m.time_to_sync; }, &Expectations::time_to_sync, false,
     sync_text},
    {"maxerr cover", "max_error_coverage", [](const Metrics& m) { return m.max_error_coverage; },
     &Expectations::max_error_coverage, true, coverage_text},
    {"maxerr median", "max_error_median", [](const Metrics& m) { return m.max_error_median; }, nullptr, false,
     seconds_text, max_error_width_target},
    {"unbounded s", "unbounded_seconds", [](const Metrics& m) { return static_cast<double>(m.unbounded); }, nullptr,
     false, count_text},
    {"4sd cover", "bound_coverage", [](const Metrics& m) { return m.bound_coverage; }, &Expectations::bound_coverage,
     true, coverage_text},
    // The association core's counts over the run: NTS NAKs, NTS-KE attempts, kisses.
    {"NAKs", "naks", [](const Metrics& m) { return m.naks; }, &Expectations::max_naks, false, count_text},
    {"NTS-KEs", "nts_ke", [](const Metrics& m) { return m.nts_ke; }, &Expectations::max_nts_ke, false, count_text},
    {"kisses", "kisses", [](const Metrics& m) { return m.kisses; }, &Expectations::max_kisses, false, count_text},
};

bool met(const Column& c, double value, double target) { return c.higher_is_better ? value >= target : value <= target; }

// Pads to a width in characters, not bytes ("µs" is one byte longer than it looks).
std::string padded(const std::string& text, std::size_t width) {
  std::size_t chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
  return text + std::string(width > chars ? width - chars : 1, ' ');
}

constexpr std::size_t kNameWidth = 16, kServoWidth = 9, kCellWidth = 16;

void print_line(std::string line) {
  line.erase(line.find_last_not_of(' ') + 1);
  std::printf("%s\n", line.c_str());
}

void print_table(const std::vector<TableRow>& rows, unsigned seeds) {
  std::string header = padded("scenario", kNameWidth) + padded("servo", kServoWidth);
  for (const Column& c : kColumns) header += padded(c.title, kCellWidth);
  std::printf("kairos-sim: means over seeds 1..%u; statistics after each scenario's settling time\n\n", seeds);
  print_line(header);
  std::size_t targets = 0, missed = 0;
  for (const TableRow& row : rows) {
    const Scenario& s = *row.scenario;
    for (std::size_t v = 0; v < kServoCount; ++v) {
      std::string line = padded(v == 0 ? s.name : "", kNameWidth) + padded(servo_name(kServos[v]), kServoWidth);
      for (const Column& c : kColumns) line += padded(c.text(c.value(row.by_servo[v])), kCellWidth);
      print_line(line);
    }
    // The kalman row is judged against each target.
    std::string target = padded("", kNameWidth) + padded("target", kServoWidth);
    bool any_target = false;
    for (const Column& c : kColumns) {
      std::string cell = "-";
      if (const std::optional<double> t = target_of(c, s, row.by_servo[0])) {
        const bool ok = met(c, c.value(row.by_servo[0]), *t);
        cell = c.text(*t) + (ok ? " ok" : " MISSED");
        any_target = true;
        ++targets;
        missed += ok ? 0 : 1;
      }
      target += padded(cell, kCellWidth);
    }
    if (any_target) print_line(target);
  }
  std::printf("\nkalman met %zu of %zu targets\n", targets - missed, targets);
}

Json metrics_json(const Metrics& m) {
  Json out = Json::parse(to_json(m, "", 0));
  out.erase("scenario");
  out.erase("seed");
  out["bound_width_ratio"] = bound_width_ratio(m);
  return out;
}

Json table_json(const std::vector<TableRow>& rows, unsigned seeds) {
  Json out;
  out["seeds"] = seeds;
  Json list = Json::array();
  for (const TableRow& row : rows) {
    const Scenario& s = *row.scenario;
    Json entry;
    entry["scenario"] = s.name;
    entry["description"] = s.description;
    for (std::size_t v = 0; v < kServoCount; ++v) entry[servo_name(kServos[v])] = metrics_json(row.by_servo[v]);
    Json target = Json::object();
    for (const Column& c : kColumns) {
      if (const std::optional<double> t = target_of(c, s, row.by_servo[0])) {
        target[c.json_key] = {{"value", *t}, {"ok", met(c, c.value(row.by_servo[0]), *t)}};
      }
    }
    entry["target"] = target;
    list.push_back(entry);
  }
  out["scenarios"] = list;
  return out;
}

int run_all(const Options& o) {
  auto files = scenario_files(o.scenario_dir);
  if (!files) return bad_input(files.error().message);
  std::vector<Scenario> scenarios;
  std::vector<double> durations;
  for (const std::string& path : *files) {
    auto s = load_scenario(path);
    if (!s) return bad_input(s.error().message);
    auto duration = run_duration(*s, o.duration);
    if (!duration) return bad_input(duration.error().message);
    scenarios.push_back(std::move(*s));
    durations.push_back(*duration);
  }
  const std::vector<TableRow> rows = run_table(scenarios, durations, o.seeds);
  if (o.json) {
    std::cout << table_json(rows, o.seeds).dump(2) << "\n";
  } else {
    print_table(rows, o.seeds);
  }
  return 0;
}

int list(const Options& o) {
  auto files = scenario_files(o.scenario_dir);
  if (!files) return bad_input(files.error().message);
  for (const std::string& path : *files) std::printf("%s\n", fs::path(path).stem().c_str());
  return 0;
}

}  // namespace
}  // namespace kairos::sim

int main(int argc, char** argv) {
  using namespace kairos::sim;
  Options o;
  CLI::App app{"kairos-sim: the clock model in a simulated world, deterministic for a seed"};
  auto* scenario = app.add_option("--scenario", o.scenario, "scenario NAME (DIR/NAME.toml) or a .toml file");
  app.add_option("--seed", o.seed, "random seed of the run")->capture_default_str();
  app.add_option("--duration", o.duration, "seconds to simulate instead of the scenario's")
      ->check(CLI::PositiveNumber);
  app.add_flag("--json", o.json, "print JSON");
  auto* csv = app.add_option("--csv", o.csv, "write every second to FILE (CSV)");
  auto* plot = app.add_option("--plot", o.plot, "draw offset and error bound to FILE.png (gnuplot)");
  auto* evidence = app.add_option("--evidence", o.evidence,
                                  "write the run's evidence log into DIR (for kairosctl report; DIR new or empty)");
  std::string servo = "kalman";
  app.add_option("--servo", servo, "kalman (kairos' model) or pi (the baseline)")
      ->check(CLI::IsMember({"kalman", "pi"}))
      ->capture_default_str();
  app.add_option("--scenario-dir", o.scenario_dir, "where scenario NAMEs are looked up")->capture_default_str();
  auto* list_flag = app.add_flag("--list", o.list, "print the scenario names in DIR");
  auto* table = app.add_flag("--table", o.table, "run every scenario with both servos and print a table");
  app.add_option("--seeds", o.seeds, "--table: seeds 1..N per scenario and servo")
      ->check(CLI::Range(1u, 1000u))
      ->capture_default_str()
      ->needs(table);
  table->excludes(scenario)->excludes(list_flag)->excludes(csv)->excludes(plot)->excludes(evidence);
  list_flag->excludes(scenario);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  o.servo = servo == "pi" ? Servo::kPi : Servo::kKalman;
  if (o.list) return list(o);
  if (o.table) return run_all(o);
  if (o.scenario.empty()) return bad_input("--scenario NAME is needed (or --list, --table); see --help");
  return run_one(o);
}
