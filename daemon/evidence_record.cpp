#include "daemon/evidence_record.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ctime>
#include <fmt/format.h>

namespace kairos {
namespace {

// 100 years in ns: far beyond any offset a clock model reports, well inside int64.
constexpr double kLargestNs = 100.0 * 365.25 * 86400 * 1e9;

std::vector<std::string_view> split_spaces(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t begin = 0;
  while (begin <= text.size()) {
    const std::size_t end = std::min(text.find(' ', begin), text.size());
    out.push_back(text.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

// A decimal integer, the whole field, no sign unless allowed.
template <class T>
std::optional<T> parse_integer(std::string_view text) {
  if (text.empty() || text.front() == '+') return std::nullopt;
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

Result<int> parse_clock_id(std::string_view text) {
  auto id = parse_integer<int>(text);
  if (!id || *id < 0 || *id > 255) return fail("clock id '" + std::string(text) + "' is not 0..255");
  return *id;
}

// Times are within 100 years of the file's day (a clock stepped far back writes into the file it
// is in), and absolute ones between 1970 and 9999: sums of them never overflow.
constexpr std::int64_t kLargestMs = 3'155'760'000'000;
constexpr std::int64_t kLastUnixMs = 253'402'300'800'000;

Result<std::int64_t> parse_time(std::string_view text, const char* what) {
  auto t = parse_integer<std::int64_t>(text);
  if (!t || *t < -kLargestMs || *t > kLargestMs) {
    return fail(std::string(what) + " '" + std::string(text) + "' is not an integer within 100 years");
  }
  return *t;
}

Result<std::int64_t> parse_unix_ms(std::string_view text, const char* what) {
  auto t = parse_integer<std::int64_t>(text);
  if (!t || *t < 0 || *t > kLastUnixMs) {
    return fail(std::string(what) + " '" + std::string(text) + "' is not a unix time in ms from 1970 to 9999");
  }
  return *t;
}

Result<EvidenceState> parse_state(std::string_view text) {
  if (text.size() == 1) {
    switch (text[0]) {
      case 's': return EvidenceState::kSynchronized;
      case 'u': return EvidenceState::kUnsynchronized;
      case 'n': return EvidenceState::kNoMajority;
      case 'p': return EvidenceState::kPanic;
      default: break;
    }
  }
  return fail("state '" + std::string(text) + "' is not s, u, n or p");
}

// A field that must be present and non-empty after unescaping rules.
Result<std::string> text_field(std::string_view text, const char* what) {
  if (text.empty()) return fail(std::string(what) + " is empty");
  auto value = unescape_field(text);
  if (!value) return fail(std::string(what) + ": " + value.error().message);
  return *value;
}

std::string format_t(std::int64_t t) { return std::to_string(t); }

Result<EvidenceLine> parse_body(const std::vector<std::string_view>& f) {
  const std::string_view kind = f[0];
  auto need = [&](std::size_t n) -> Result<void> {
    if (f.size() != n) {
      return fail(fmt::format("a {} line has {} fields, not {}", kind, n, f.size()));
    }
    return {};
  };
#define KAIROS_TRY(var, expr)                                \
  auto var = (expr);                                         \
  if (!var) return std::unexpected(var.error())
  if (kind == "H") {
    KAIROS_TRY(ok, need(6));
    if (f[1] != kEvidenceMagic) return fail("not an evidence log (no 'kairos-evidence' header)");
    if (f[2] != "1") return fail("evidence log version '" + std::string(f[2]) + "' is not 1");
    EvidenceHeader h;
    KAIROS_TRY(day, parse_unix_ms(f[3], "day start"));  // seconds, so within the range of ms too
    if (*day % 86400 != 0 || *day > kLastUnixMs / 1000) {
      return fail("day start " + std::string(f[3]) + " is not a UTC midnight before 9999");
    }
    h.day_start = *day;
    KAIROS_TRY(interval, parse_time(f[4], "interval"));
    if (*interval < 1 || *interval > 3600 * 1000) return fail("interval " + std::string(f[4]) + " ms is out of range");
    h.interval_ms = *interval;
    auto previous = hash_from_hex(f[5]);
    if (!previous) return fail("previous hash '" + std::string(f[5]) + "' is not 64 hex digits");
    h.previous = *previous;
    return EvidenceLine{h};
  }
  if (kind == "C") {
    KAIROS_TRY(ok, need(4));
    EvidenceClock c;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    KAIROS_TRY(id, parse_clock_id(f[2]));
    KAIROS_TRY(name, text_field(f[3], "clock name"));
    c.t = *t;
    c.id = *id;
    c.name = std::move(*name);
    return EvidenceLine{c};
  }
  if (kind == "R") {
    KAIROS_TRY(ok, need(6));
    EvidenceReading r;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    KAIROS_TRY(id, parse_clock_id(f[2]));
    KAIROS_TRY(state, parse_state(f[3]));
    auto offset = parse_integer<std::int64_t>(f[4]);
    if (!offset || std::abs(static_cast<double>(*offset)) > kLargestNs) {
      return fail("offset '" + std::string(f[4]) + "' is not an integer of ns");
    }
    r.t = *t;
    r.id = *id;
    r.state = *state;
    r.offset_ns = *offset;
    if (f[5] != "inf") {
      auto bound = parse_integer<std::int64_t>(f[5]);
      if (!bound || *bound < 0 || static_cast<double>(*bound) > kLargestNs) {
        return fail("maximum error '" + std::string(f[5]) + "' is not 'inf' or ns >= 0");
      }
      r.max_error_ns = *bound;
    }
    return EvidenceLine{r};
  }
  if (kind == "S") {
    if (f.size() < 3) return fail("an S line has a time and a clock id");
    EvidenceSources s;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    KAIROS_TRY(id, parse_clock_id(f[2]));
    s.t = *t;
    s.id = *id;
    for (std::size_t i = 3; i < f.size(); ++i) {
      const std::size_t eq = f[i].find('=');
      if (eq == std::string_view::npos) return fail("source '" + std::string(f[i]) + "' is not name=authentication");
      KAIROS_TRY(name, text_field(f[i].substr(0, eq), "source name"));
      KAIROS_TRY(auth, text_field(f[i].substr(eq + 1), "source authentication"));
      s.sources.push_back(EvidenceSource{std::move(*name), std::move(*auth)});
    }
    return EvidenceLine{s};
  }
  if (kind == "E") {
    KAIROS_TRY(ok, need(5));
    EvidenceEvent e;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    KAIROS_TRY(id, parse_clock_id(f[2]));
    KAIROS_TRY(what, text_field(f[3], "event"));
    KAIROS_TRY(detail, text_field(f[4], "event detail"));
    e.t = *t;
    e.id = *id;
    e.kind = std::move(*what);
    e.detail = std::move(*detail);
    return EvidenceLine{e};
  }
  if (kind == "G") {
    KAIROS_TRY(ok, need(6));
    EvidenceGap g;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    KAIROS_TRY(from, parse_unix_ms(f[2], "gap start"));
    KAIROS_TRY(to, parse_unix_ms(f[3], "gap end"));
    auto lost = parse_integer<std::uint64_t>(f[4]);
    if (!lost) return fail("records lost '" + std::string(f[4]) + "' is not a count");
    KAIROS_TRY(why, text_field(f[5], "gap reason"));
    if (*to < *from) return fail("a gap ends before it starts");
    g.t = *t;
    g.from_ms = *from;
    g.to_ms = *to;
    g.lost = *lost;
    g.why = std::move(*why);
    return EvidenceLine{g};
  }
  if (kind == "B") {
    KAIROS_TRY(ok, need(4));
    EvidenceStart b;
    KAIROS_TRY(t, parse_time(f[1], "time"));
    b.t = *t;
    if (f[2] != "none") {
      KAIROS_TRY(last, parse_unix_ms(f[2], "last record"));
      b.last_ms = *last;
    }
    KAIROS_TRY(version, text_field(f[3], "version"));
    b.version = std::move(*version);
    return EvidenceLine{b};
  }
#undef KAIROS_TRY
  return fail("unknown line kind '" + std::string(kind) + "'");
}

}  // namespace

const char* to_string(EvidenceState state) {
  switch (state) {
    case EvidenceState::kSynchronized: return "synchronized";
    case EvidenceState::kUnsynchronized: return "unsynchronized";
    case EvidenceState::kNoMajority: return "no majority";
    case EvidenceState::kPanic: return "panic";
  }
  return "unknown";
}

std::int64_t offset_to_ns(double offset) {
  if (std::isnan(offset)) return 0;
  const double ns = std::clamp(offset * 1e9, -kLargestNs, kLargestNs);
  return static_cast<std::int64_t>(std::llround(ns));
}

std::optional<std::int64_t> max_error_to_ns(double max_error) {
  if (!(max_error >= 0) || !std::isfinite(max_error)) return std::nullopt;
  const double ns = std::ceil(max_error * 1e9) + 1;
  if (ns > kLargestNs) return std::nullopt;
  return static_cast<std::int64_t>(ns);
}

std::string escape_field(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f || c == '%' || c == '=') {
      out += fmt::format("%{:02X}", u);
    } else {
      out += c;
    }
  }
  return out;
}

Result<std::string> unescape_field(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u < 0x20 || u == 0x7f) return fail("a control character in a field");
    if (text[i] != '%') {
      out += text[i];
      continue;
    }
    unsigned value = 0;
    if (i + 2 >= text.size()) return fail("a cut '%' escape");
    const auto [end, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc() || end != text.data() + i + 3) return fail("a bad '%' escape");
    out += static_cast<char>(value);
    i += 2;
  }
  return out;
}

std::string format_body(const EvidenceLine& line) {
  struct Formatter {
    std::string operator()(const EvidenceHeader& h) const {
      return fmt::format("H {} {} {} {} {}", kEvidenceMagic, kEvidenceVersion, h.day_start, h.interval_ms,
                         to_hex(h.previous));
    }
    std::string operator()(const EvidenceClock& c) const {
      return fmt::format("C {} {} {}", format_t(c.t), c.id, escape_field(c.name));
    }
    std::string operator()(const EvidenceReading& r) const {
      return fmt::format("R {} {} {} {} {}", format_t(r.t), r.id, static_cast<char>(r.state), r.offset_ns,
                         r.max_error_ns ? std::to_string(*r.max_error_ns) : std::string("inf"));
    }
    std::string operator()(const EvidenceSources& s) const {
      std::string out = fmt::format("S {} {}", format_t(s.t), s.id);
      for (const EvidenceSource& source : s.sources) {
        out += " " + escape_field(source.name) + "=" + escape_field(source.authentication);
      }
      return out;
    }
    std::string operator()(const EvidenceEvent& e) const {
      return fmt::format("E {} {} {} {}", format_t(e.t), e.id, escape_field(e.kind),
                         escape_field(e.detail.empty() ? "-" : e.detail));
    }
    std::string operator()(const EvidenceGap& g) const {
      return fmt::format("G {} {} {} {} {}", format_t(g.t), g.from_ms, g.to_ms, g.lost,
                         escape_field(g.why.empty() ? "-" : g.why));
    }
    std::string operator()(const EvidenceStart& b) const {
      return fmt::format("B {} {} {}", format_t(b.t), b.last_ms ? std::to_string(*b.last_ms) : std::string("none"),
                         escape_field(b.version.empty() ? "-" : b.version));
    }
  };
  return std::visit(Formatter{}, line);
}

Result<ParsedLine> parse_line(std::string_view text) {
  const std::size_t space = text.rfind(' ');
  if (space == std::string_view::npos) return fail("a line without a tag");
  const std::string_view tag = text.substr(space + 1);
  if (tag.size() != 8 || tag.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return fail("the tag '" + std::string(tag.substr(0, 16)) + "' is not 8 lowercase hex digits");
  }
  const std::string_view body = text.substr(0, space);
  const auto fields = split_spaces(body);
  for (std::string_view field : fields) {
    if (field.empty()) return fail("an empty field (two spaces in a row)");
  }
  auto line = parse_body(fields);
  if (!line) return std::unexpected(line.error());
  return ParsedLine{std::move(*line), std::string(body), std::string(tag)};
}

ChainHash chain_next(const ChainHash& previous, std::string_view body) {
  ChainHash out{};
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  unsigned int length = 0;
  // SHA-256 cannot fail on a valid context; a failed allocation leaves zeros, which then break
  // the chain visibly rather than silently.
  if (ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
      EVP_DigestUpdate(ctx, previous.data(), previous.size()) == 1 &&
      EVP_DigestUpdate(ctx, body.data(), body.size()) == 1) {
    EVP_DigestFinal_ex(ctx, out.data(), &length);
  }
  EVP_MD_CTX_free(ctx);
  return out;
}

std::string to_hex(const ChainHash& hash) {
  std::string out;
  out.reserve(64);
  for (std::uint8_t b : hash) out += fmt::format("{:02x}", b);
  return out;
}

std::string chain_tag(const ChainHash& hash) { return to_hex(hash).substr(0, 8); }

std::optional<ChainHash> hash_from_hex(std::string_view hex) {
  if (hex.size() != 64 || hex.find_first_not_of("0123456789abcdef") != std::string_view::npos) return std::nullopt;
  ChainHash out{};
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned value = 0;
    std::from_chars(hex.data() + 2 * i, hex.data() + 2 * i + 2, value, 16);
    out[i] = static_cast<std::uint8_t>(value);
  }
  return out;
}

std::int64_t utc_day_start(std::int64_t unix_seconds) {
  std::int64_t day = unix_seconds / 86400;
  if (unix_seconds % 86400 < 0) --day;
  return day * 86400;
}

std::string evidence_file_name(std::int64_t day_start) {
  const std::time_t t = static_cast<std::time_t>(day_start);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("evidence-{:04d}-{:02d}-{:02d}.log", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

std::optional<std::int64_t> day_start_of_file_name(std::string_view name) {
  // evidence-YYYY-MM-DD.log
  if (name.size() != 23 || !name.starts_with("evidence-") || !name.ends_with(".log")) return std::nullopt;
  auto number = [&](std::size_t at, std::size_t n) { return parse_integer<int>(name.substr(at, n)); };
  if (name[13] != '-' || name[16] != '-') return std::nullopt;
  const auto year = number(9, 4), month = number(14, 2), mday = number(17, 2);
  if (!year || !month || !mday || *year < 1970 || *month < 1 || *month > 12 || *mday < 1 || *mday > 31) {
    return std::nullopt;
  }
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *mday;
  const std::int64_t start = static_cast<std::int64_t>(timegm(&tm));
  if (evidence_file_name(start) != name) return std::nullopt;  // 2027-02-31 and friends
  return start;
}

}  // namespace kairos
