#include "daemon/metrics_text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <functional>

#include <fmt/format.h>

namespace kairos {
namespace {

// The format's floats are Go's ParseFloat syntax, with +Inf, -Inf and NaN spelled so.
std::string number(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  std::array<char, 32> buffer{};
  // Shortest text that reads back as the same double: exact in tests, no noise in scrapes.
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return ec == std::errc{} ? std::string(buffer.data(), end) : "NaN";
}

std::string number(std::uint64_t value) { return std::to_string(value); }
std::string number(bool value) { return value ? "1" : "0"; }

// One metric family: HELP and TYPE once, then its samples, as the format wants them grouped.
class Family {
 public:
  Family(std::string& out, std::string_view name, std::string_view type, std::string_view help)
      : out_(out), name_(name) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;  // constant text here, without backslashes or line feeds to escape
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  // labels: name="value" pairs, values escaped here.
  template <class T>
  void sample(std::initializer_list<std::pair<std::string_view, std::string_view>> labels, T value) {
    sample_of("", labels, value);
  }

  // A sample of the family's name with a suffix: a summary's _sum and _count.
  template <class T>
  void sample_of(std::string_view suffix, std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                 T value) {
    out_ += name_;
    out_ += suffix;
    if (labels.size() != 0) {
      out_ += '{';
      bool first = true;
      for (const auto& [label, text] : labels) {
        if (!first) out_ += ',';
        first = false;
        out_ += label;
        out_ += "=\"";
        out_ += escape_label_value(text);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
    out_ += number(value);
    out_ += '\n';
  }

 private:
  std::string& out_;
  std::string_view name_;
};

void clock_metrics(std::string& out, const std::vector<ClockStatus>& clocks) {
  using Get = std::function<void(Family&, const ClockStatus&)>;
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, const Get& get) {
    Family family(out, name, type, help);
    for (const ClockStatus& c : clocks) get(family, c);
  };
  each("kairos_clock_synchronized", "gauge", "1 when the clock's model is synchronized to its sources, else 0.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.state == DisciplineState::kSynchronized); });
  each("kairos_clock_steered", "gauge", "1 when kairosd adjusts this clock, 0 when it only observes it.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.steered); });
  each("kairos_clock_offset_seconds", "gauge", "True time minus the clock's reading, as the model estimates it.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.offset); });
  each("kairos_clock_error_bound_seconds", "gauge",
       "Maximum error: half-width of the interval around the offset the true time is in; +Inf while unknown.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.error_bound); });
  each("kairos_clock_estimate_error_seconds", "gauge", "The model's standard deviation of the offset; +Inf while unknown.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.estimate_error); });
  each("kairos_clock_frequency_offset_ratio", "gauge",
       "The model's correction of the clock's rate, a fraction (1e-06 is 1 ppm).",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, c.frequency); });
  each("kairos_clock_steps_total", "counter", "Times the clock was stepped instead of slewed.",
       [](Family& f, const ClockStatus& c) { f.sample({{"clock", c.name}}, static_cast<std::uint64_t>(c.steps)); });
  // [evidence] tiers, labelled by the tier in seconds as people write it ("0.0001", not "1e-04");
  // no samples without the section.
  auto tier_label = [](double tier) { return fmt::format("{:g}", tier); };
  bool tiers = false;
  for (const ClockStatus& c : clocks) tiers = tiers || !c.tiers.empty();
  if (!tiers) return;
  each("kairos_clock_within_tier", "gauge",
       "1 while |offset| + maximum error is within the tier (seconds), judged on the maximum error, else 0.",
       [&](Family& f, const ClockStatus& c) {
         for (const TierState& t : c.tiers) f.sample({{"clock", c.name}, {"tier", tier_label(t.tier)}}, t.within);
       });
  each("kairos_clock_tier_breaches_total", "counter", "Times the clock left the tier (seconds) after being within it.",
       [&](Family& f, const ClockStatus& c) {
         for (const TierState& t : c.tiers) f.sample({{"clock", c.name}, {"tier", tier_label(t.tier)}}, t.breaches);
       });
}

void source_metrics(std::string& out, const std::vector<SourceSnapshot>& sources) {
  using Get = std::function<void(Family&, const SourceSnapshot&)>;
  auto each = [&](std::string_view name, std::string_view type, std::string_view help, const Get& get) {
    Family family(out, name, type, help);
    for (const SourceSnapshot& s : sources) get(family, s);
  };
  each("kairos_source_reachable", "gauge", "1 when one of the last eight polls was answered, else 0.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.reach != 0); });
  each("kairos_source_reach", "gauge", "The reach register: the last eight polls, newest in bit 0 (0 to 255).",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, std::uint64_t{s.reach}); });
  each("kairos_source_poll_seconds", "gauge", "The current poll interval.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, std::ldexp(1.0, s.poll)); });
  each("kairos_source_selected", "gauge", "1 when the source was a truechimer in the last selection, else 0.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.selected); });
  // A state set: one series per state, 1 for the one the source is in.
  each("kairos_source_state", "gauge",
       "1 for where the source stood in the last selection: combined (steers), selected (voted; a preferred "
       "source steers), not selected, noselect, too far (root distance beyond max-distance), disagrees (a "
       "refclock outside the NTS-authenticated time), unconfirmed (require-agreement, not yet confirmed by NTS), "
       "no sample.",
       [](Family& f, const SourceSnapshot& s) {
         for (SourceState state : {SourceState::kCombined, SourceState::kSelected, SourceState::kNotSelected,
                                   SourceState::kNoSelect, SourceState::kTooFar, SourceState::kDisagrees,
                                   SourceState::kUnconfirmed, SourceState::kNoSample}) {
           f.sample({{"source", s.name}, {"state", to_string(state)}}, s.state == state);
         }
       });
  // A source that has no sample yet has no series here rather than a made-up zero.
  each("kairos_source_last_offset_seconds", "gauge", "Offset of the last accepted sample, server minus us.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.last) f.sample({{"source", s.name}}, s.last->offset);
       });
  each("kairos_source_last_delay_seconds", "gauge", "Round-trip delay of the last accepted sample.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.last) f.sample({{"source", s.name}}, s.last->delay);
       });
  each("kairos_source_last_sample_age_seconds", "gauge", "Time since the last accepted sample was taken.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.last) f.sample({{"source", s.name}}, s.last_age);
       });
  each("kairos_source_samples_total", "counter", "Samples accepted from the source.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.samples); });
  each("kairos_source_interleaved_samples_total", "counter", "Accepted samples from interleaved answers.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.interleaved); });
  each("kairos_source_timeouts_total", "counter", "Polls that got no usable answer in time.",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.timeouts); });
  each("kairos_source_rejected_total", "counter", "Responses that failed a check (forged, stale, unauthenticated).",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.rejected); });
  each("kairos_source_naks_total", "counter", "NTS NAKs received (the server could not open our cookie).",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.naks); });
  each("kairos_source_kisses_total", "counter", "Kiss-o'-Death answers received (RATE, DENY, RSTR).",
       [](Family& f, const SourceSnapshot& s) { f.sample({{"source", s.name}}, s.counters.kisses); });
  // The NTS guard of refclocks (clock/agreement_guard.hpp): only guarded sources have these series,
  // and without any the families are left out.
  const bool any_guarded =
      std::any_of(sources.begin(), sources.end(), [](const SourceSnapshot& s) { return s.guard.has_value(); });
  if (any_guarded) {
  each("kairos_source_guard_alarm", "gauge",
       "1 while the guarded source (a refclock) disagrees with the NTS-authenticated time and is not selectable.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.guard) f.sample({{"source", s.name}}, s.guard->alarm());
       });
  each("kairos_source_disagreement_seconds", "gauge",
       "The guarded source's time minus the NTS-authenticated time, at the last check.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.guard && s.guard->disagreement) f.sample({{"source", s.name}}, *s.guard->disagreement);
       });
  each("kairos_source_guard_rejected_total", "counter",
       "Samples of the guarded source refused because it disagreed with the NTS-authenticated time.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.guard) f.sample({{"source", s.name}}, s.guard->rejected);
       });
  each("kairos_source_guard_episodes_total", "counter",
       "Times the guarded source began to disagree with the NTS-authenticated time.",
       [](Family& f, const SourceSnapshot& s) {
         if (s.guard) f.sample({{"source", s.name}}, s.guard->episodes);
       });
  }
  each("kairos_source_nts_ke_total", "counter", "NTS-KE sessions with the source's key-exchange server, by result.",
       [](Family& f, const SourceSnapshot& s) {
         f.sample({{"source", s.name}, {"result", "ok"}}, s.counters.ke_ok);
         f.sample({{"source", s.name}, {"result", "failed"}}, s.counters.ke_failed);
       });
}

void server_metrics(std::string& out, const ServerSnapshot& s) {
  if (s.ntp) {
    Family(out, "kairos_server_ntp_requests_total", "counter", "NTP requests received by the server.")
        .sample({}, s.received);
    Family responses(out, "kairos_server_ntp_responses_total", "counter", "NTP responses sent with time, by kind.");
    responses.sample({{"kind", "plain"}}, s.plain);
    responses.sample({{"kind", "nts"}}, s.nts);
    Family(out, "kairos_server_ntp_naks_total", "counter", "NTS NAKs sent (cookie that could not be opened).")
        .sample({}, s.naks);
    Family(out, "kairos_server_ntp_rate_limited_total", "counter", "RATE kiss-o'-death answers, plain and NTS.")
        .sample({}, s.rate_limited);
    Family(out, "kairos_server_ntp_dropped_total", "counter", "Requests dropped without an answer.")
        .sample({}, s.dropped);
    Family(out, "kairos_server_ntp_late_dropped_total", "counter",
           "Requests dropped unanswered because they waited longer than max-wait after their kernel RX stamp.")
        .sample({}, s.late);
    Family rx(out, "kairos_server_ntp_rx_stamps_total", "counter",
              "Requests by the stamp of their receive timestamp: hardware (the NIC's, converted to system time), "
              "kernel (software), daemon (read in user space).");
    rx.sample({{"source", "hardware"}}, s.rx_hardware);
    rx.sample({{"source", "kernel"}}, s.rx_kernel);
    rx.sample({{"source", "daemon"}}, s.rx_daemon);
    Family tx(out, "kairos_server_ntp_tx_stamps_total", "counter",
              "Transmit stamps that improved a saved answer for the interleaved mode, by source.");
    tx.sample({{"source", "hardware"}}, s.tx_hardware);
    tx.sample({{"source", "kernel"}}, s.tx_kernel);
    // Quantile 1 is the maximum.
    Family latency(out, "kairos_server_ntp_response_latency_seconds", "summary",
                   "Kernel RX stamp of a request to its answer handed to the kernel, every answer since the start.");
    latency.sample({{"quantile", "0.5"}}, s.latency_p50);
    latency.sample({{"quantile", "0.99"}}, s.latency_p99);
    latency.sample({{"quantile", "1"}}, s.latency_max);
    latency.sample_of("_sum", {}, s.latency_sum);
    latency.sample_of("_count", {}, s.latency_count);
  }
  if (s.nts_ke) {
    Family ke(out, "kairos_server_nts_ke_connections_total", "counter",
              "NTS-KE connections by result: ok (cookies sent), failed, refused (over a limit).");
    ke.sample({{"result", "ok"}}, s.ke_ok);
    ke.sample({{"result", "failed"}}, s.ke_failed);
    ke.sample({{"result", "refused"}}, s.ke_refused);
  }
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string metrics_text(const DaemonStatus& status, std::string_view version) {
  std::string out;
  Family(out, "kairos_build_info", "gauge", "Always 1; the version of kairosd as a label.")
      .sample({{"version", version}}, std::uint64_t{1});
  clock_metrics(out, status.clocks);
  source_metrics(out, status.sources);
  Family(out, "kairos_guard_alarm", "gauge",
         "1 while any refclock disagrees with the NTS-authenticated time (page on this), else 0.")
      .sample({}, guard_alarm(status));
  if (status.server) server_metrics(out, *status.server);
  return out;
}

}  // namespace kairos
