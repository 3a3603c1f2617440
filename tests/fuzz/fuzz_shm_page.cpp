// The time page's reader must survive any page a broken or hostile writer leaves: any header,
// any record (NaN, infinities, huge ages, negative bounds). The input is the file's bytes; the
// last 16 are the reader's clock readings when there are enough.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "tools/kairos_now/kairos_now.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::int64_t reading_ns = 1'700'000'000'000'000'000;
  std::int64_t monotonic_ns = 0;
  if (size >= sizeof(kairos_shm_page) + 16) {
    std::memcpy(&reading_ns, data + size - 16, 8);
    std::memcpy(&monotonic_ns, data + size - 8, 8);
    size -= 16;
  }
  kairos_shm_page page{};
  std::memcpy(&page, data, std::min(size, sizeof page));
  if (kairos_check_page(&page, size) != 0) return 0;
  if (page.clock_count > KAIROS_SHM_MAX_CLOCKS || size < sizeof page) abort();

  // Any reading a clock can give: non-negative seconds within time_t's 64 bits.
  const timespec reading{.tv_sec = static_cast<time_t>((reading_ns / 1'000'000'000) & 0x3fffffffffffLL),
                         .tv_nsec = std::abs(reading_ns % 1'000'000'000)};
  for (std::uint32_t i = 0; i < page.clock_count; ++i) {
    kairos_time t{};
    if (kairos_bound_at(&page.clocks[i], &reading, monotonic_ns, &t) != 0) abort();
    if (t.earliest.tv_nsec < 0 || t.earliest.tv_nsec >= 1'000'000'000) abort();
    if (t.latest.tv_nsec < 0 || t.latest.tv_nsec >= 1'000'000'000) abort();
    const bool ordered = t.earliest.tv_sec < t.latest.tv_sec ||
                         (t.earliest.tv_sec == t.latest.tv_sec && t.earliest.tv_nsec <= t.latest.tv_nsec);
    if (!ordered) abort();
    // An unbounded answer is the bare reading.
    if ((t.status & KAIROS_NOW_UNBOUNDED) &&
        (t.earliest.tv_sec != reading.tv_sec || t.earliest.tv_nsec != reading.tv_nsec ||
         t.latest.tv_sec != reading.tv_sec || t.latest.tv_nsec != reading.tv_nsec)) {
      abort();
    }
  }
  return 0;
}
