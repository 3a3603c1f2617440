#include "report.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "daemon/tier_watch.hpp"

namespace kairos {
namespace {

using nlohmann::ordered_json;

// A list in the text report shows this many items, then how many more (the JSON has them all).
constexpr std::size_t kTextListLimit = 10;

std::string utc_text(std::int64_t unix_ms, bool date = true) {
  std::int64_t s = unix_ms / 1000;
  std::int64_t ms = unix_ms % 1000;
  if (ms < 0) {
    --s;
    ms += 1000;
  }
  const std::time_t t = static_cast<std::time_t>(s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  const std::string clock = fmt::format("{:02d}:{:02d}:{:02d}{}Z", tm.tm_hour, tm.tm_min, tm.tm_sec,
                                        ms ? fmt::format(".{:03d}", ms) : "");
  if (!date) return clock;
  return fmt::format("{:04d}-{:02d}-{:02d}T{}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, clock);
}

std::string day_text(std::int64_t day_start) { return utc_text(day_start * 1000).substr(0, 10); }

std::string ns_text(std::int64_t ns) {
  const double s = static_cast<double>(ns) * 1e-9;
  if (std::abs(s) >= 1) return fmt::format("{:.3f} s", s);
  if (std::abs(s) >= 1e-3) return fmt::format("{:.3f} ms", s * 1e3);
  if (std::abs(s) >= 1e-6) return fmt::format("{:.3f} µs", s * 1e6);
  return fmt::format("{} ns", ns);
}

std::string seconds_of(std::int64_t ms) { return fmt::format("{:.3f}", static_cast<double>(ms) / 1000); }

double percent(std::int64_t part, std::int64_t whole) {
  return whole > 0 ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

std::string spans_text(const std::vector<EvidenceSpan>& spans) {
  if (spans.empty()) return "none";
  std::string out;
  for (std::size_t i = 0; i < spans.size() && i < kTextListLimit; ++i) {
    out += fmt::format("{}{}–{}", i ? ", " : "", utc_text(spans[i].from_ms, false), utc_text(spans[i].to_ms, false));
  }
  if (spans.size() > kTextListLimit) out += fmt::format(" and {} more", spans.size() - kTextListLimit);
  return out;
}

std::string sources_text(const std::vector<EvidenceSource>& sources) {
  if (sources.empty()) return "(none selected)";
  std::string out;
  for (const EvidenceSource& s : sources) out += fmt::format("{}{} ({})", out.empty() ? "" : ", ", s.name, s.authentication);
  return out;
}

std::string break_text(const ChainBreak& b) {
  return b.line ? fmt::format("{} line {}: {}", b.file, b.line, b.what) : fmt::format("{}: {}", b.file, b.what);
}

std::string chain_text(const EvidenceReport& r) {
  if (r.breaks.empty()) return fmt::format("hash chain verified: {} files, {} records\n", r.files, r.lines);
  std::string out = fmt::format("HASH CHAIN BROKEN ({} files, {} records read):\n", r.files, r.lines);
  for (const ChainBreak& b : r.breaks) out += "  " + break_text(b) + "\n";
  return out;
}

ordered_json spans_json(const std::vector<EvidenceSpan>& spans) {
  ordered_json out = ordered_json::array();
  for (const EvidenceSpan& s : spans) out.push_back({{"from", utc_text(s.from_ms)}, {"to", utc_text(s.to_ms)},
                                                     {"seconds", static_cast<double>(s.to_ms - s.from_ms) / 1000}});
  return out;
}

ordered_json sources_json(const std::vector<EvidenceSource>& sources) {
  ordered_json out = ordered_json::array();
  for (const EvidenceSource& s : sources) out.push_back({{"name", s.name}, {"authentication", s.authentication}});
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// One clock's readings in [from, to) as an SVG: the interval the true time was in (offset ±
// maximum error) as a band, the offset as a line, the tiers as dashed lines. Columns of the plot
// each show the widest interval of the readings they hold, so nothing is hidden by thinning.
std::string clock_svg(const std::string& clock, const EvidenceReport& report, const EvidenceSet& set) {
  constexpr int kWidth = 960, kHeight = 280, kLeft = 70, kRight = 10, kTop = 10, kBottom = 30;
  constexpr int kColumns = kWidth - kLeft - kRight;
  const double span_ms = static_cast<double>(std::max<std::int64_t>(1, report.to_ms - report.from_ms));
  struct Column {
    bool any = false;
    bool unbounded = false;
    double low = INFINITY, high = -INFINITY, offset_sum = 0;
    int n = 0;
  };
  std::vector<Column> columns(kColumns);
  for (const EvidenceFileScan& file : set.files) {
    for (const EvidenceEntry& e : file.entries) {
      const auto* r = std::get_if<EvidenceReading>(&e.line);
      if (!r || e.clock != clock || e.unix_ms < report.from_ms || e.unix_ms >= report.to_ms) continue;
      const auto x = static_cast<std::size_t>(
          std::clamp(static_cast<double>(e.unix_ms - report.from_ms) / span_ms * kColumns, 0.0, kColumns - 1.0));
      Column& c = columns[x];
      c.any = true;
      const double offset = static_cast<double>(r->offset_ns) * 1e-9;
      c.offset_sum += offset;
      ++c.n;
      if (!r->max_error_ns) {
        c.unbounded = true;
        continue;
      }
      const double bound = static_cast<double>(*r->max_error_ns) * 1e-9;
      c.low = std::min(c.low, offset - bound);
      c.high = std::max(c.high, offset + bound);
    }
  }
  // The scale: twice the largest tier, so a breach shows against the tier lines it crosses.
  const double largest = report.tiers.empty() ? 1e-3 : *std::max_element(report.tiers.begin(), report.tiers.end());
  const double limit = 2 * largest;
  const double plot_height = kHeight - kTop - kBottom;
  auto y = [&](double v) { return kTop + plot_height / 2 - std::clamp(v / limit, -1.0, 1.0) * plot_height / 2; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" role=\"img\" "
      "aria-label=\"{}: offset and maximum error\">\n<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" "
      "stroke=\"#999\"/>\n",
      kWidth, kHeight, html_escape(clock), kLeft, kTop, kColumns, plot_height);
  std::string band_top, band_bottom, line;
  std::string gaps;
  for (int x = 0; x < kColumns; ++x) {
    const Column& c = columns[static_cast<std::size_t>(x)];
    const int px = kLeft + x;
    if (!c.any) {
      gaps += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#e0e0e0\"/>", px, kTop,
                          kTop + plot_height);
      continue;
    }
    if (c.unbounded) {
      svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#f4b6b6\"/>", px, kTop,
                         kTop + plot_height);
    }
    if (std::isfinite(c.low)) {
      svg += fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{0}\" y2=\"{2:.1f}\" stroke=\"#9ec5ff\"/>", px,
                         y(c.high), y(c.low));
    }
    line += fmt::format("{}{},{:.1f}", line.empty() ? "" : " ", px, y(c.offset_sum / c.n));
  }
  svg += gaps;
  svg += fmt::format("<polyline fill=\"none\" stroke=\"#c00000\" stroke-width=\"1\" points=\"{}\"/>\n", line);
  for (double tier : report.tiers) {
    for (double sign : {1.0, -1.0}) {
      svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#555\" "
                         "stroke-dasharray=\"4 3\"/>",
                         kLeft, y(sign * tier), kLeft + kColumns, y(sign * tier));
    }
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"11\" text-anchor=\"end\">±{}</text>\n", kLeft - 4,
                       y(tier) + 4, html_escape(tier_text(tier)));
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\">{}</text>", kLeft, kHeight - 8,
                     html_escape(utc_text(report.from_ms)));
  svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\">{}</text>\n", kLeft + kColumns,
                     kHeight - 8, html_escape(utc_text(report.to_ms)));
  svg += "</svg>\n";
  return svg;
}

}  // namespace

std::optional<std::int64_t> parse_report_time_ms(const std::string& text) {
  if (!text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    std::int64_t s = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), s);
    if (ec != std::errc() || end != text.data() + text.size() || s > std::numeric_limits<std::int64_t>::max() / 1000) {
      return std::nullopt;
    }
    return s * 1000;
  }
  std::tm tm{};
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  char tail[4] = {};
  const int n = std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%3s", &year, &month, &day, &hour, &minute, &second, tail);
  if (n == 3 && text.size() == 10) {
    hour = minute = second = 0;
  } else if (!(n == 6 || (n == 7 && std::string(tail) == "Z"))) {
    return std::nullopt;
  }
  if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<std::int64_t>(timegm(&tm)) * 1000;
}

std::optional<double> parse_tier(const std::string& text) {
  std::string number = text;
  double scale = 1;
  for (const auto& [suffix, factor] : {std::pair{"ns", 1e-9}, std::pair{"us", 1e-6}, std::pair{"µs", 1e-6},
                                       std::pair{"ms", 1e-3}, std::pair{"s", 1.0}}) {
    const std::string s = suffix;
    if (number.size() > s.size() && number.ends_with(s)) {
      number.resize(number.size() - s.size());
      scale = factor;
      break;
    }
  }
  while (!number.empty() && number.back() == ' ') number.pop_back();
  double value = 0;
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
  if (number.empty() || ec != std::errc() || end != number.data() + number.size()) return std::nullopt;
  const double tier = value * scale;
  if (!(tier >= 1e-9 && tier <= 1000)) return std::nullopt;
  return tier;
}

std::string report_text(const EvidenceReport& r) {
  std::string out = fmt::format("Evidence report {} – {}\n", utc_text(r.from_ms), utc_text(r.to_ms));
  out += "Within a tier: |offset| + maximum error at most the tier (the maximum error, not the estimate); "
         "time without a record is never within.\n";
  for (const ClockDay& d : r.days) {
    out += fmt::format("\n{}, {}: {} s in range, {} s recorded ({} readings), {} s with an unknown bound\n", d.clock,
                       day_text(d.day_start), seconds_of(d.period_ms), seconds_of(d.recorded_ms), d.readings,
                       seconds_of(d.unbounded_ms));
    for (const TierShare& t : d.tiers) {
      out += fmt::format("  within {:<7}: {:9.4f} % ({} s), outside while recorded: {}\n", tier_text(t.tier),
                         percent(t.within_ms, d.period_ms), seconds_of(t.within_ms), spans_text(t.breaches));
    }
    if (d.worst_max_error_ns) {
      out += fmt::format("  worst maximum error: {} at {}; worst |offset| + maximum error: {} at {}\n",
                         ns_text(*d.worst_max_error_ns), utc_text(d.worst_max_error_ms, false),
                         ns_text(*d.worst_divergence_ns), utc_text(d.worst_divergence_ms, false));
    } else {
      out += "  worst maximum error: no bounded reading\n";
    }
    out += "  unsynchronized: " + spans_text(d.unsynchronized) + "\n";
    out += "  without records: " + spans_text(d.unrecorded) + "\n";
    out += fmt::format("  source changes: {}\n", d.source_changes.size());
    for (std::size_t i = 0; i < d.source_changes.size() && i < kTextListLimit; ++i) {
      out += fmt::format("    {} → {}\n", utc_text(d.source_changes[i].unix_ms, false),
                         sources_text(d.source_changes[i].sources));
    }
    if (!d.events.empty()) {
      out += fmt::format("  events: {}\n", d.events.size());
      for (std::size_t i = 0; i < d.events.size() && i < kTextListLimit; ++i) {
        out += fmt::format("    {} {} {}\n", utc_text(d.events[i].unix_ms, false), d.events[i].kind, d.events[i].detail);
      }
      if (d.events.size() > kTextListLimit) out += fmt::format("    and {} more\n", d.events.size() - kTextListLimit);
    }
  }
  out += "\nTraceability (the selected sources and their authentication):\n";
  if (r.traceability.empty()) out += "  none recorded\n";
  for (const Traceability& t : r.traceability) {
    out += fmt::format("  {}: {}, {} – {}\n", t.clock, sources_text(t.sources), utc_text(t.first_ms),
                       utc_text(t.last_ms));
  }
  out += fmt::format("\nWriter starts: {}; gaps (records lost while writing failed): {}\n", r.starts.size(),
                     r.gaps.size());
  for (const EvidenceStart& b : r.starts) {
    out += fmt::format("  start at {}, last record before it: {}\n", utc_text(b.t),
                       b.last_ms ? utc_text(*b.last_ms) : "none");
  }
  for (const EvidenceGap& g : r.gaps) {
    out += fmt::format("  gap: {} records lost {} – {} ({})\n", g.lost, utc_text(g.from_ms), utc_text(g.to_ms), g.why);
  }
  out += "\n" + chain_text(r);
  return out;
}

std::string report_json(const EvidenceReport& r) {
  ordered_json out;
  out["from"] = utc_text(r.from_ms);
  out["to"] = utc_text(r.to_ms);
  out["tiers"] = r.tiers;
  ordered_json days = ordered_json::array();
  for (const ClockDay& d : r.days) {
    ordered_json day;
    day["clock"] = d.clock;
    day["day"] = day_text(d.day_start);
    day["seconds_in_range"] = static_cast<double>(d.period_ms) / 1000;
    day["seconds_recorded"] = static_cast<double>(d.recorded_ms) / 1000;
    day["seconds_unbounded"] = static_cast<double>(d.unbounded_ms) / 1000;
    day["readings"] = d.readings;
    ordered_json tiers = ordered_json::array();
    for (const TierShare& t : d.tiers) {
      tiers.push_back({{"tier", t.tier},
                       {"within_percent", percent(t.within_ms, d.period_ms)},
                       {"within_seconds", static_cast<double>(t.within_ms) / 1000},
                       {"outside_while_recorded", spans_json(t.breaches)}});
    }
    day["tiers"] = tiers;
    day["worst_max_error"] = d.worst_max_error_ns
                                 ? ordered_json{{"seconds", static_cast<double>(*d.worst_max_error_ns) * 1e-9},
                                                {"at", utc_text(d.worst_max_error_ms)}}
                                 : ordered_json(nullptr);
    day["worst_offset_plus_max_error"] =
        d.worst_divergence_ns ? ordered_json{{"seconds", static_cast<double>(*d.worst_divergence_ns) * 1e-9},
                                             {"at", utc_text(d.worst_divergence_ms)}}
                              : ordered_json(nullptr);
    day["unsynchronized"] = spans_json(d.unsynchronized);
    day["without_records"] = spans_json(d.unrecorded);
    ordered_json changes = ordered_json::array();
    for (const TimedSources& c : d.source_changes) {
      changes.push_back({{"at", utc_text(c.unix_ms)}, {"sources", sources_json(c.sources)}});
    }
    day["source_changes"] = changes;
    ordered_json events = ordered_json::array();
    for (const TimedEvent& e : d.events) events.push_back({{"at", utc_text(e.unix_ms)}, {"kind", e.kind}, {"detail", e.detail}});
    day["events"] = events;
    days.push_back(day);
  }
  out["days"] = days;
  ordered_json trace = ordered_json::array();
  for (const Traceability& t : r.traceability) {
    trace.push_back({{"clock", t.clock}, {"sources", sources_json(t.sources)}, {"from", utc_text(t.first_ms)},
                     {"to", utc_text(t.last_ms)}});
  }
  out["traceability"] = trace;
  ordered_json starts = ordered_json::array();
  for (const EvidenceStart& b : r.starts) {
    starts.push_back({{"at", utc_text(b.t)}, {"last_record", b.last_ms ? ordered_json(utc_text(*b.last_ms)) : ordered_json(nullptr)}});
  }
  out["starts"] = starts;
  ordered_json gaps = ordered_json::array();
  for (const EvidenceGap& g : r.gaps) {
    gaps.push_back({{"lost", g.lost}, {"from", utc_text(g.from_ms)}, {"to", utc_text(g.to_ms)}, {"why", g.why}});
  }
  out["gaps"] = gaps;
  ordered_json breaks = ordered_json::array();
  for (const ChainBreak& b : r.breaks) breaks.push_back({{"file", b.file}, {"line", b.line}, {"what", b.what}});
  out["chain"] = {{"verified", r.breaks.empty()}, {"files", r.files}, {"records", r.lines}, {"breaks", breaks}};
  return out.dump(2, ' ', false, ordered_json::error_handler_t::replace) + "\n";
}

std::string report_html(const EvidenceReport& r, const EvidenceSet& set) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Clock evidence report</title>\n"
      "<style>body{font-family:sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}"
      ".bad{color:#b00000;font-weight:bold}.ok{color:#006000;font-weight:bold}pre{white-space:pre-wrap}</style>"
      "</head><body>\n";
  out += fmt::format("<h1>Clock evidence report</h1><p>{} – {}</p>\n", html_escape(utc_text(r.from_ms)),
                     html_escape(utc_text(r.to_ms)));
  out += r.breaks.empty() ? fmt::format("<p class=\"ok\">Hash chain verified: {} files, {} records.</p>\n", r.files, r.lines)
                          : "<p class=\"bad\">" + html_escape(chain_text(r)) + "</p>\n";
  out += "<p>A clock is within a tier while |offset| + maximum error is at most the tier: judged on the maximum "
         "error (where the true time is), never on the estimate. Time without a record is never within.</p>\n";
  out += "<table><tr><th>clock</th><th>day</th>";
  for (double tier : r.tiers) out += "<th>within " + html_escape(tier_text(tier)) + "</th>";
  out += "<th>worst maximum error</th><th>unsynchronized</th><th>without records</th><th>source changes</th></tr>\n";
  for (const ClockDay& d : r.days) {
    out += fmt::format("<tr><td>{}</td><td>{}</td>", html_escape(d.clock), day_text(d.day_start));
    for (const TierShare& t : d.tiers) {
      const double p = percent(t.within_ms, d.period_ms);
      out += fmt::format("<td{}>{:.4f} %</td>", p < 100 ? " class=\"bad\"" : "", p);
    }
    out += fmt::format("<td>{}</td><td>{} s</td><td>{} s</td><td>{}</td></tr>\n",
                       d.worst_max_error_ns ? html_escape(ns_text(*d.worst_max_error_ns) + " at " +
                                                          utc_text(d.worst_max_error_ms, false))
                                            : "-",
                       [&] {
                         std::int64_t ms = 0;
                         for (const EvidenceSpan& s : d.unsynchronized) ms += s.to_ms - s.from_ms;
                         return seconds_of(ms);
                       }(),
                       [&] {
                         std::int64_t ms = 0;
                         for (const EvidenceSpan& s : d.unrecorded) ms += s.to_ms - s.from_ms;
                         return seconds_of(ms);
                       }(),
                       d.source_changes.size());
  }
  out += "</table>\n";
  std::vector<std::string> clocks;
  for (const ClockDay& d : r.days) {
    if (std::find(clocks.begin(), clocks.end(), d.clock) == clocks.end()) clocks.push_back(d.clock);
  }
  for (const std::string& clock : clocks) {
    out += "<h2>" + html_escape(clock) + "</h2>\n<p>Blue: the interval the true time was in (offset ± maximum "
           "error, as true time minus the clock); red: the offset; dashed: the tiers; pink: unknown bound; grey: "
           "no record. Values beyond the frame are drawn at its edge.</p>\n";
    out += clock_svg(clock, r, set);
  }
  out += "<h2>Traceability</h2><ul>\n";
  for (const Traceability& t : r.traceability) {
    out += "<li>" + html_escape(t.clock + ": " + sources_text(t.sources) + ", " + utc_text(t.first_ms) + " – " +
                                utc_text(t.last_ms)) +
           "</li>\n";
  }
  out += "</ul>\n<h2>Full report</h2><pre>" + html_escape(report_text(r)) + "</pre>\n</body></html>\n";
  return out;
}

int run_report(const ReportCommandOptions& options) {
  EvidenceReportOptions report_options;
  if (!options.from.empty()) {
    auto from = parse_report_time_ms(options.from);
    if (!from) {
      std::fprintf(stderr, "kairosctl: --from '%s' is not a date, a UTC time or unix seconds\n", options.from.c_str());
      return 2;
    }
    report_options.from_ms = *from;
  }
  if (!options.to.empty()) {
    auto to = parse_report_time_ms(options.to);
    if (!to || *to <= report_options.from_ms) {
      std::fprintf(stderr, "kairosctl: --to '%s' is not a time after --from\n", options.to.c_str());
      return 2;
    }
    report_options.to_ms = *to;
  }
  if (!options.tiers.empty()) {
    report_options.tiers.clear();
    for (const std::string& text : options.tiers) {
      auto tier = parse_tier(text);
      if (!tier) {
        std::fprintf(stderr, "kairosctl: --tier '%s' is not a duration like 100us, 1ms or 0.05\n", text.c_str());
        return 2;
      }
      report_options.tiers.push_back(*tier);
    }
    std::sort(report_options.tiers.begin(), report_options.tiers.end());
  }
  auto set = read_evidence_dir(options.dir);
  if (!set) {
    std::fprintf(stderr, "kairosctl: %s\n", set.error().message.c_str());
    return 2;
  }
  if (set->files.empty()) {
    std::fprintf(stderr, "kairosctl: no evidence files (evidence-YYYY-MM-DD.log) in %s\n", options.dir.c_str());
    return 2;
  }
  // Only --from: to the end of the log; only --to: from its start.
  if (report_options.to_ms == 0 && report_options.from_ms != 0) {
    report_options.to_ms = build_evidence_report(*set, {}).to_ms;
  }
  if (report_options.from_ms == 0 && report_options.to_ms != 0) {
    report_options.from_ms = build_evidence_report(*set, {}).from_ms;
  }
  const EvidenceReport report = build_evidence_report(*set, report_options);
  std::string text;
  if (options.format == "json") {
    text = report_json(report);
  } else if (options.format == "html") {
    text = report_html(report, *set);
  } else {
    text = report_text(report);
  }
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (!report.breaks.empty()) {
    std::fprintf(stderr, "kairosctl: the evidence log's hash chain is broken (%zu breaks)\n", report.breaks.size());
    return 1;
  }
  return 0;
}

}  // namespace kairos
