// kairos-now: prints each clock kairosd publishes with its bound on the true time, read the way
// an application would (kairos_now.hpp). Exit status: 0 when every clock shown is usable
// (synchronized, fresh, bounded), 1 when one is not, 2 when the page cannot be read.
#include <CLI/CLI.hpp>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <string>

#include "kairos_now.hpp"

namespace {

std::string utc(const timespec& t) {
  std::tm tm{};
  gmtime_r(&t.tv_sec, &tm);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%09ldZ", date, t.tv_nsec);
  return out;
}

std::string status_words(std::uint32_t s) {
  std::string out = (s & KAIROS_NOW_SYNCHRONIZED) ? "synchronized" : "unsynchronized";
  out += (s & KAIROS_NOW_STEERED) ? ", steered" : ", observed";
  if (s & KAIROS_NOW_STALE) out += ", STALE";
  if (s & KAIROS_NOW_UNBOUNDED) out += ", unbounded";
  if (s & KAIROS_NOW_LEAP_INSERT) out += ", leap second inserted tonight";
  if (s & KAIROS_NOW_LEAP_DELETE) out += ", leap second deleted tonight";
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"kairos-now — the time with kairosd's error bound, from its shared page"};
  std::string path = KAIROS_SHM_DEFAULT_PATH;
  int only = -1;
  app.add_option("-p,--path", path, "The page kairosd publishes");
  app.add_option("-c,--clock", only, "Only this clock (index)");
  CLI11_PARSE(app, argc, argv);

  const kairos::TimePage page(path.c_str());
  if (!page.ok()) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), page.error_message());
    return 2;
  }
  const int count = page.clock_count();
  if (count < 0) {
    std::fprintf(stderr, "%s: %s\n", path.c_str(), kairos_strerror(count));
    return 2;
  }
  if (count == 0) std::printf("no clocks published\n");
  int unusable = 0;
  for (int i = 0; i < count; ++i) {
    if (only >= 0 && i != only) continue;
    kairos_shm_clock record{};
    kairos_time t{};
    if (int r = page.read_clock(i, record); r != 0) {
      std::fprintf(stderr, "clock %d: %s\n", i, kairos_strerror(r));
      return 2;
    }
    if (int r = page.now(i, t); r != 0) {
      std::fprintf(stderr, "clock %d (%s): %s\n", i, record.name, kairos_strerror(r));
      return 2;
    }
    std::printf("%d %s: %s\n", i, record.name, status_words(t.status).c_str());
    if (!(t.status & KAIROS_NOW_UNBOUNDED)) {
      const double width = static_cast<double>(t.latest.tv_sec - t.earliest.tv_sec) +
                           static_cast<double>(t.latest.tv_nsec - t.earliest.tv_nsec) * 1e-9;
      std::printf("  earliest %s\n  latest   %s\n  ± %.9f s (offset %+.9f s, %+.3f ppm, bound grows %.3f ppm)\n",
                  utc(t.earliest).c_str(), utc(t.latest).c_str(), width / 2, record.offset0, record.frequency * 1e6,
                  record.drift * 1e6);
    }
    if (!KAIROS_NOW_USABLE(t.status)) ++unusable;
  }
  if (only >= count) {
    std::fprintf(stderr, "clock %d: %s\n", only, kairos_strerror(KAIROS_E_NO_CLOCK));
    return 2;
  }
  return unusable ? 1 : 0;
}
