#include "clock/leap_seconds_list.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <iterator>

#include "clock/ntp_time.hpp"

namespace kairos {
namespace {

constexpr std::int64_t kDay = 86400;
// Beyond 2^33 NTP seconds (year 2172) a value is a typo, not a date this file can mean.
constexpr std::int64_t kMaxNtpSeconds = std::int64_t{1} << 33;
constexpr int kMaxTaiUtc = 1000;

std::int64_t day_start(std::int64_t unix_seconds) {
  std::int64_t day = unix_seconds / kDay;
  if (unix_seconds % kDay < 0) --day;
  return day * kDay;
}

bool first_of_month(std::int64_t unix_seconds) {
  using namespace std::chrono;
  const year_month_day date(floor<days>(sys_seconds(seconds(unix_seconds))));
  return date.day() == std::chrono::day(1);
}

bool is_blank(char c) { return c == ' ' || c == '\t'; }

// The line split into words at blanks.
std::vector<std::string_view> words_of(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && is_blank(line[i])) ++i;
    const std::size_t begin = i;
    while (i < line.size() && !is_blank(line[i])) ++i;
    if (i > begin) words.push_back(line.substr(begin, i - begin));
  }
  return words;
}

// Digits only (no sign, no spaces), at most 12 of them: NTP seconds.
std::optional<std::int64_t> ntp_seconds(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  std::int64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > kMaxNtpSeconds) return std::nullopt;
  return value;
}

std::optional<int> tai_utc(std::string_view text) {
  const std::string_view digits = !text.empty() && (text[0] == '-' || text[0] == '+') ? text.substr(1) : text;
  if (digits.empty() || digits.size() > 4) return std::nullopt;
  if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) return std::nullopt;
  int value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (value > kMaxTaiUtc) return std::nullopt;
  return text[0] == '-' ? -value : value;
}

// "#h" words: five hex numbers of up to 8 digits each (NIST's copy drops leading zeros), as the
// 20 bytes of a SHA-1.
std::optional<std::array<unsigned char, 20>> hash_words(const std::vector<std::string_view>& words) {
  if (words.size() != 6) return std::nullopt;
  std::array<unsigned char, 20> out{};
  for (std::size_t w = 0; w < 5; ++w) {
    const std::string_view text = words[w + 1];
    std::uint32_t value = 0;
    if (text.empty() || text.size() > 8) return std::nullopt;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
    if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
    for (std::size_t b = 0; b < 4; ++b) out[w * 4 + b] = static_cast<unsigned char>(value >> (24 - 8 * b));
  }
  return out;
}

std::optional<std::array<unsigned char, 20>> sha1(const std::string& text) {
  std::array<unsigned char, 20> out{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), out.data(), &length, EVP_sha1(), nullptr) != 1 || length != out.size()) {
    return std::nullopt;
  }
  return out;
}

// A "#x" tag line: the tag followed by a blank (a comment may start "#hello").
bool tagged(std::string_view line, char tag) {
  return line.size() >= 3 && line[0] == '#' && line[1] == tag && is_blank(line[2]);
}

}  // namespace

std::optional<int> LeapSecondsList::tai_utc_at(std::int64_t unix_seconds) const {
  const auto after = std::upper_bound(entries.begin(), entries.end(), unix_seconds,
                                      [](std::int64_t t, const LeapSecondsEntry& e) { return t < e.utc; });
  if (after == entries.begin()) return std::nullopt;
  return std::prev(after)->tai_utc;
}

std::optional<LeapEvent> LeapSecondsList::next_leap_after(std::int64_t unix_seconds) const {
  // The first entry is where the count starts (1972), not a leap second.
  for (std::size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].utc <= unix_seconds) continue;
    return LeapEvent{.utc = entries[i].utc,
                     .leap = entries[i].tai_utc > entries[i - 1].tai_utc ? Leap::kInsert : Leap::kDelete,
                     .tai_utc_after = entries[i].tai_utc};
  }
  return std::nullopt;
}

Leap LeapSecondsList::leap_tonight(std::int64_t unix_seconds) const {
  const std::optional<LeapEvent> next = next_leap_after(unix_seconds);
  if (!next || next->utc != day_start(unix_seconds) + kDay) return Leap::kNone;
  return next->leap;
}

Leap LeapSecondsList::leap_this_month(std::int64_t unix_seconds) const {
  using namespace std::chrono;
  const year_month_day date(floor<days>(sys_seconds(seconds(unix_seconds))));
  const sys_days next_month((date.year() / date.month() + months(1)) / 1);  // calendar months
  const std::optional<LeapEvent> next = next_leap_after(unix_seconds);
  if (!next || next->utc != duration_cast<seconds>(next_month.time_since_epoch()).count()) return Leap::kNone;
  return next->leap;
}

Result<LeapSecondsList> parse_leap_seconds_list(std::string_view text, std::string_view origin) {
  const std::string where(origin);
  auto problem = [&where](std::size_t line, const std::string& message) {
    return fail(where + ":" + std::to_string(line) + ": " + message);
  };
  if (text.size() > kMaxLeapSecondsListBytes) {
    return fail(where + ": " + std::to_string(text.size()) + " bytes is no leap-seconds.list (at most " +
                std::to_string(kMaxLeapSecondsListBytes) + ")");
  }
  LeapSecondsList list;
  std::optional<std::int64_t> expiry;
  std::optional<std::int64_t> updated;
  std::optional<std::array<unsigned char, 20>> hash;
  std::string updated_digits;
  std::string expiry_digits;
  std::string data_digits;  // both fields of every data line, in order: part of what is hashed
  std::size_t number = 0;
  std::size_t begin = 0;
  while (begin < text.size()) {
    std::size_t end = text.find('\n', begin);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(begin, end - begin);
    begin = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\0') != std::string_view::npos) return problem(number, "a NUL byte: not a text file");
    const std::vector<std::string_view> words = words_of(line);
    if (tagged(line, '$') || tagged(line, '@')) {
      const bool is_expiry = line[1] == '@';
      const char* what = is_expiry ? "expiry (#@)" : "update time (#$)";
      std::optional<std::int64_t>& slot = is_expiry ? expiry : updated;
      if (slot) return problem(number, std::string("a second ") + what);
      const std::optional<std::int64_t> value = words.size() == 2 ? ntp_seconds(words[1]) : std::nullopt;
      if (!value) return problem(number, std::string("the ") + what + " is one number of NTP seconds");
      slot = *value - kNtpUnixOffset;
      (is_expiry ? expiry_digits : updated_digits) = std::string(words[1]);
      continue;
    }
    if (tagged(line, 'h')) {
      if (hash) return problem(number, "a second hash (#h)");
      hash = hash_words(words);
      if (!hash) return problem(number, "the hash (#h) is five hex words");
      continue;
    }
    if (words.empty() || line.front() == '#') continue;
    if (list.entries.size() >= kMaxLeapSecondsEntries) {
      return problem(number, "more than " + std::to_string(kMaxLeapSecondsEntries) + " data lines");
    }
    if (words.size() < 2 || (words.size() > 2 && words[2].front() != '#')) {
      return problem(number, "a data line is '<NTP seconds> <TAI-UTC> [# comment]'");
    }
    const std::optional<std::int64_t> ntp = ntp_seconds(words[0]);
    if (!ntp || *ntp < kNtpUnixOffset) return problem(number, "'" + std::string(words[0]) + "' is no time in NTP seconds since 1970");
    const std::optional<int> offset = tai_utc(words[1]);
    if (!offset) return problem(number, "'" + std::string(words[1]) + "' is no TAI-UTC in seconds");
    const std::int64_t utc = *ntp - kNtpUnixOffset;
    // TAI - UTC changes only at the end of a month (a leap second is the month's last second).
    if (utc % kDay != 0 || !first_of_month(utc)) {
      return problem(number, std::string(words[0]) + " is not 00:00 UTC on the first of a month");
    }
    if (!list.entries.empty()) {
      const LeapSecondsEntry& previous = list.entries.back();
      if (utc <= previous.utc) return problem(number, "times must increase from line to line");
      if (std::abs(*offset - previous.tai_utc) != 1) {
        return problem(number, "TAI-UTC changes by one second at a time (a leap second), here from " +
                                   std::to_string(previous.tai_utc) + " to " + std::to_string(*offset));
      }
    }
    list.entries.push_back(LeapSecondsEntry{.utc = utc, .tai_utc = *offset});
    data_digits += words[0];
    data_digits += words[1];
  }
  if (list.entries.empty()) return fail(where + ": no data lines (<NTP seconds> <TAI-UTC>)");
  if (!expiry) return fail(where + ": no expiry (#@ line)");
  list.expiry = *expiry;
  list.updated = updated.value_or(0);
  if (hash) {
    const auto computed = sha1(updated_digits + expiry_digits + data_digits);
    if (!computed) return fail(where + ": SHA-1 unavailable to check the hash (#h)");
    if (*computed != *hash) {
      return fail(where + ": the hash (#h) does not match the contents: the file is damaged or was edited");
    }
    list.hash_verified = true;
  }
  return list;
}

Result<LeapSecondsList> read_leap_seconds_list(const std::string& path) {
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rbe"), &std::fclose);
  if (!file) return fail("cannot read " + path + ": " + std::strerror(errno));
  // One byte more than allowed, so that the parser sees a file that is too large as such.
  std::string text(kMaxLeapSecondsListBytes + 1, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file.get()));
  if (std::ferror(file.get())) return fail("cannot read " + path + ": " + std::strerror(errno));
  return parse_leap_seconds_list(text, path);
}

}  // namespace kairos
