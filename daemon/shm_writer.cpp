#include "daemon/shm_writer.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "daemon/client/net.hpp"
#include "daemon/kairos_shm_layout.h"

namespace kairos {
namespace {

constexpr std::size_t kWords = sizeof(kairos_shm_page) / sizeof(std::uint64_t);
constexpr std::size_t kSequenceWord = offsetof(kairos_shm_page, sequence) / sizeof(std::uint64_t);
static_assert(sizeof(kairos_shm_page) % sizeof(std::uint64_t) == 0);
static_assert(offsetof(kairos_shm_page, sequence) % sizeof(std::uint64_t) == 0);
static_assert(sizeof(kairos_shm_page) <= KAIROS_SHM_FILE_SIZE);
// Another process reads these words: only lock-free atomics are address-free (and so shared
// through a mapping).
static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free);

std::string errno_text() { return std::strerror(errno); }

}  // namespace

ShmClock shm_clock_from_status(const ClockStatus& status, std::optional<double> kernel_frequency,
                               const ShmOptions& options, std::chrono::steady_clock::time_point t0) {
  ShmClock c;
  c.name = status.name;
  c.synchronized = status.state == DisciplineState::kSynchronized;
  c.steered = status.steered;
  c.t0 = t0;
  c.max_age = options.max_age;
  c.offset = status.offset;
  // status.frequency is the rate correction the clock's own oscillator needs. Observed, the
  // clock runs on that oscillator: the offset grows at exactly that rate. Steered, the kernel
  // already applies kernel_frequency, which holds the model's rate plus a slew that ends at a
  // moment the page cannot know (the rate then drops to the model's, about zero): the centre
  // takes half the present rate and the bound the other half, so it covers both.
  double extra_drift = 0;
  if (!status.steered) {
    c.frequency = status.frequency;
  } else if (kernel_frequency) {
    const double rate = status.frequency - *kernel_frequency;
    c.frequency = rate / 2;
    extra_drift = std::abs(rate) / 2;
  } else {
    c.frequency = 0;
    extra_drift = options.max_slew;
  }
  const double frequency_sd = std::isfinite(status.frequency_sd) ? status.frequency_sd : 1.0;
  // Between updates the page's bound grows as the maximum error itself does (Discipline's
  // root_distance: bound_sigmas = 4 frequency sd plus max-drift), never slower.
  constexpr double kFrequencySigmas = 4;
  c.drift = options.max_drift + kFrequencySigmas * frequency_sd + extra_drift;
  // Unsynchronized, the model may hold a number, but nothing vouches for it.
  c.bound = c.synchronized && std::isfinite(status.error_bound) && std::isfinite(status.offset)
                ? status.error_bound
                : std::numeric_limits<double>::infinity();
  return c;
}

Result<std::unique_ptr<ShmWriter>> ShmWriter::create(const std::string& path) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (dir.has_parent_path()) std::filesystem::create_directories(dir.parent_path(), ec);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      return fail("shared time page: cannot create " + dir.string() + ": " + errno_text());
    }
  }
  // O_NOFOLLOW: the page is written by root; a symbolic link put in its place is refused.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd) return fail("shared time page: cannot open " + path + ": " + errno_text());
  // The mode, whatever the umask: every application may read the page, only we write it.
  if (::fchmod(fd.get(), 0644) != 0) return fail("shared time page: chmod " + path + ": " + errno_text());
  if (::ftruncate(fd.get(), KAIROS_SHM_FILE_SIZE) != 0) {
    return fail("shared time page: cannot size " + path + ": " + errno_text());
  }
  void* map = ::mmap(nullptr, KAIROS_SHM_FILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return fail("shared time page: cannot map " + path + ": " + errno_text());
  std::unique_ptr<ShmWriter> writer(new ShmWriter(path, map));
  writer->write_page({});
  return writer;
}

ShmWriter::ShmWriter(std::string path, void* map) : path_(std::move(path)), map_(map) {}

ShmWriter::~ShmWriter() {
  for (ShmClock& c : last_) {
    c.synchronized = false;
    c.steered = false;
    c.bound = std::numeric_limits<double>::infinity();
  }
  write_page(last_);
  ::munmap(map_, KAIROS_SHM_FILE_SIZE);
}

Result<void> ShmWriter::publish(std::span<const ShmClock> clocks) {
  if (clocks.size() > KAIROS_SHM_MAX_CLOCKS) {
    return fail("shared time page: " + std::to_string(clocks.size()) + " clocks, at most " +
                std::to_string(KAIROS_SHM_MAX_CLOCKS) + " fit");
  }
  last_.assign(clocks.begin(), clocks.end());
  write_page(clocks);
  return {};
}

// The sequence lock's write side. In the C++ memory model a plain write racing with a reader's
// read is undefined behaviour even when the reader throws the value away, so every word of the
// page is stored with a relaxed atomic store (std::atomic_ref over the mapping) rather than a
// memcpy. Order: the odd sequence, then a release fence, so a reader that sees any new word and
// then fences (acquire) also sees the odd sequence and discards its copy; then the words; then
// the even sequence with release, so a reader that sees it sees every word before it.
void ShmWriter::write_page(std::span<const ShmClock> clocks) {
  kairos_shm_page page{};
  page.magic = KAIROS_SHM_MAGIC;
  page.version_major = KAIROS_SHM_VERSION_MAJOR;
  page.version_minor = KAIROS_SHM_VERSION_MINOR;
  page.size = sizeof(kairos_shm_page);
  page.clock_count = static_cast<std::uint32_t>(std::min<std::size_t>(clocks.size(), KAIROS_SHM_MAX_CLOCKS));
  for (std::uint32_t i = 0; i < page.clock_count; ++i) {
    const ShmClock& c = clocks[i];
    kairos_shm_clock& r = page.clocks[i];
    std::strncpy(r.name, c.name.c_str(), KAIROS_SHM_NAME_SIZE - 1);
    r.kind = c.phc_index ? KAIROS_SHM_CLOCK_PHC : KAIROS_SHM_CLOCK_REALTIME;
    r.phc_index = c.phc_index ? *c.phc_index : -1;
    r.flags = (c.synchronized ? KAIROS_SHM_SYNCHRONIZED : 0u) | (c.steered ? KAIROS_SHM_STEERED : 0u) |
              (c.leap_insert ? KAIROS_SHM_LEAP_INSERT : 0u) | (c.leap_delete ? KAIROS_SHM_LEAP_DELETE : 0u);
    r.t0_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(c.t0.time_since_epoch()).count();
    r.max_age_ns = c.max_age.count();
    r.offset0 = c.offset;
    r.frequency = c.frequency;
    r.bound0 = c.bound;
    r.drift = c.drift;
  }
  std::array<std::uint64_t, kWords> words;
  std::memcpy(words.data(), &page, sizeof page);

  auto* shared = static_cast<std::uint64_t*>(map_);
  std::atomic_ref<std::uint64_t> sequence(shared[kSequenceWord]);
  // Only this writer changes the sequence. A previous writer that died mid-write left it odd:
  // the next odd value is then two on.
  const std::uint64_t was = sequence.load(std::memory_order_relaxed);
  const std::uint64_t odd = was + 1 + (was & 1);
  sequence.store(odd, std::memory_order_relaxed);
  std::atomic_thread_fence(std::memory_order_release);
  for (std::size_t i = 0; i < kWords; ++i) {
    if (i == kSequenceWord) continue;
    std::atomic_ref<std::uint64_t>(shared[i]).store(words[i], std::memory_order_relaxed);
  }
  sequence.store(odd + 1, std::memory_order_release);
}

}  // namespace kairos
