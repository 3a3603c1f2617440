/* The reader side of the error-bound page; see kairos_now.h and daemon/kairos_shm_layout.h. */
#define _GNU_SOURCE /* clock_gettime, O_CLOEXEC, sched_yield under -std=c11 as well */
#include "kairos_now.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define WORDS (sizeof(struct kairos_shm_page) / sizeof(uint64_t))
#define SEQUENCE_WORD (offsetof(struct kairos_shm_page, sequence) / sizeof(uint64_t))
/* Beyond this (s) an offset plus bound cannot be turned into nanoseconds exactly in a double
 * (2^53 ns is 104 days); no disciplined clock is that far off, so the record is unbounded. */
#define MAX_OFFSET 1e6

_Static_assert(sizeof(struct kairos_shm_page) % sizeof(uint64_t) == 0, "the page is copied in 8-byte words");
_Static_assert(sizeof(struct kairos_shm_clock) % sizeof(uint64_t) == 0, "records are whole 8-byte words");
_Static_assert(offsetof(struct kairos_shm_page, sequence) % sizeof(uint64_t) == 0, "the sequence is one word");
_Static_assert(sizeof(struct kairos_shm_page) <= KAIROS_SHM_FILE_SIZE, "the page fits its file");

struct kairos_handle {
  const uint64_t* words; /* the shared mapping */
  size_t length;         /* bytes mapped (the file's size at open) */
  int phc_fds[KAIROS_SHM_MAX_CLOCKS]; /* /dev/ptpN opened on first use, by record index; -1: not yet */
  int phc_index[KAIROS_SHM_MAX_CLOCKS]; /* which N each descriptor is for */
};

int kairos_check_page(const struct kairos_shm_page* page, size_t file_size) {
  if (!page) return KAIROS_E_ARGUMENT;
  if (file_size < sizeof(struct kairos_shm_page)) return KAIROS_E_TRUNCATED;
  if (page->magic != KAIROS_SHM_MAGIC) return KAIROS_E_MAGIC;
  if (page->version_major != KAIROS_SHM_VERSION_MAJOR) return KAIROS_E_VERSION;
  /* A later minor version may be longer, never shorter, and never longer than its file. */
  if (page->size < sizeof(struct kairos_shm_page) || page->size > file_size) return KAIROS_E_CORRUPT;
  if (page->clock_count > KAIROS_SHM_MAX_CLOCKS) return KAIROS_E_CORRUPT;
  return 0;
}

/* The sequence lock's read side. The C11 memory model allows no data race, even one whose
 * result is thrown away, so every word is read with a relaxed atomic load (GCC/Clang builtins,
 * which work on plain memory). The acquire load of the sequence orders the copy after it; the
 * acquire fence orders the copy before the second sequence load, so an unchanged even sequence
 * proves no write overlapped the copy (the writer's release fence and release store pair with
 * these). */
static int read_page(const struct kairos_handle* h, struct kairos_shm_page* out) {
  uint64_t copy[WORDS];
  for (int attempt = 0; attempt < KAIROS_NOW_MAX_RETRIES; ++attempt) {
    /* A writer preempted inside its critical section holds the page for a time slice: after a
     * short spin, let it run. */
    if (attempt >= 100) sched_yield();
    const uint64_t before = __atomic_load_n(&h->words[SEQUENCE_WORD], __ATOMIC_ACQUIRE);
    if (before & 1u) continue;
    for (size_t i = 0; i < WORDS; ++i) copy[i] = __atomic_load_n(&h->words[i], __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    const uint64_t after = __atomic_load_n(&h->words[SEQUENCE_WORD], __ATOMIC_RELAXED);
    if (before != after) continue;
    memcpy(out, copy, sizeof *out);
    return kairos_check_page(out, h->length);
  }
  return KAIROS_E_BUSY;
}

int kairos_open(const char* path, struct kairos_handle** out) {
  if (!out) return KAIROS_E_ARGUMENT;
  *out = NULL;
  const int fd = open(path ? path : KAIROS_SHM_DEFAULT_PATH, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return KAIROS_E_OPEN;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return KAIROS_E_OPEN;
  }
  if (st.st_size < (off_t)sizeof(struct kairos_shm_page)) {
    close(fd);
    return KAIROS_E_TRUNCATED;
  }
  /* Only the structure this library knows is mapped; a longer page of a later minor version
   * keeps its extra fields to itself. */
  const size_t length = (size_t)st.st_size < KAIROS_SHM_FILE_SIZE ? (size_t)st.st_size : KAIROS_SHM_FILE_SIZE;
  void* map = mmap(NULL, length, PROT_READ, MAP_SHARED, fd, 0);
  const int saved = errno;
  close(fd); /* the mapping keeps the file */
  if (map == MAP_FAILED) {
    errno = saved;
    return KAIROS_E_OPEN;
  }
  struct kairos_handle* h = calloc(1, sizeof *h);
  if (!h) {
    munmap(map, length);
    return KAIROS_E_OPEN;
  }
  h->words = map;
  h->length = length;
  for (int i = 0; i < KAIROS_SHM_MAX_CLOCKS; ++i) h->phc_fds[i] = -1;
  struct kairos_shm_page page;
  const int checked = read_page(h, &page);
  if (checked != 0) {
    kairos_close(h);
    return checked;
  }
  *out = h;
  return 0;
}

void kairos_close(struct kairos_handle* h) {
  if (!h) return;
  for (int i = 0; i < KAIROS_SHM_MAX_CLOCKS; ++i) {
    if (h->phc_fds[i] >= 0) close(h->phc_fds[i]);
  }
  munmap((void*)h->words, h->length);
  free(h);
}

int kairos_clock_count(struct kairos_handle* h) {
  if (!h) return KAIROS_E_ARGUMENT;
  struct kairos_shm_page page;
  const int r = read_page(h, &page);
  return r != 0 ? r : (int)page.clock_count;
}

int kairos_read_clock(struct kairos_handle* h, int clock_index, struct kairos_shm_clock* out) {
  if (!h || !out) return KAIROS_E_ARGUMENT;
  struct kairos_shm_page page;
  const int r = read_page(h, &page);
  if (r != 0) return r;
  if (clock_index < 0 || (uint32_t)clock_index >= page.clock_count) return KAIROS_E_NO_CLOCK;
  *out = page.clocks[clock_index];
  out->name[KAIROS_SHM_NAME_SIZE - 1] = '\0';
  return 0;
}

/* The clock id to read record `index` with. A PHC's id is made from a descriptor of this
 * process (the kernel's FD_TO_CLOCKID), opened once and kept; threads racing to open it keep
 * the first descriptor. */
static int clock_of(struct kairos_handle* h, int index, const struct kairos_shm_clock* c, clockid_t* id) {
  if (c->kind == KAIROS_SHM_CLOCK_REALTIME) {
    *id = CLOCK_REALTIME;
    return 0;
  }
  if (c->kind != KAIROS_SHM_CLOCK_PHC || c->phc_index < 0) return KAIROS_E_CLOCK;
  int fd = __atomic_load_n(&h->phc_fds[index], __ATOMIC_ACQUIRE);
  if (fd >= 0 && __atomic_load_n(&h->phc_index[index], __ATOMIC_RELAXED) != c->phc_index) {
    return KAIROS_E_CLOCK; /* the daemon now publishes another PHC here: reopen the handle */
  }
  if (fd < 0) {
    char path[32];
    snprintf(path, sizeof path, "/dev/ptp%d", (int)c->phc_index);
    const int opened = open(path, O_RDONLY | O_CLOEXEC);
    if (opened < 0) return KAIROS_E_CLOCK;
    int expected = -1;
    __atomic_store_n(&h->phc_index[index], c->phc_index, __ATOMIC_RELAXED);
    if (__atomic_compare_exchange_n(&h->phc_fds[index], &expected, opened, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
      fd = opened;
    } else {
      close(opened);
      fd = expected;
    }
  }
  *id = (clockid_t)((~(unsigned)fd << 3) | 3u);
  return 0;
}

static struct timespec add_ns(struct timespec t, int64_t ns) {
  int64_t sec = (int64_t)t.tv_sec + ns / 1000000000;
  int64_t nsec = (int64_t)t.tv_nsec + ns % 1000000000;
  if (nsec < 0) {
    nsec += 1000000000;
    sec -= 1;
  } else if (nsec >= 1000000000) {
    nsec -= 1000000000;
    sec += 1;
  }
  struct timespec out;
  out.tv_sec = (time_t)sec;
  out.tv_nsec = (long)nsec;
  return out;
}

int kairos_bound_at(const struct kairos_shm_clock* c, const struct timespec* reading, int64_t monotonic_ns,
                    struct kairos_time* out) {
  if (!c || !reading || !out) return KAIROS_E_ARGUMENT;
  if (reading->tv_nsec < 0 || reading->tv_nsec >= 1000000000) return KAIROS_E_ARGUMENT;
  out->status = c->flags & (KAIROS_NOW_SYNCHRONIZED | KAIROS_NOW_STEERED | KAIROS_NOW_LEAP_INSERT |
                            KAIROS_NOW_LEAP_DELETE);
  out->earliest = *reading;
  out->latest = *reading;
  /* The writer's t0 precedes its publication, which precedes this reader's copy and its
   * monotonic reading: a negative age is a wrong record, judged as data of age 0 but stale. */
  int64_t age_ns;
  if (__builtin_sub_overflow(monotonic_ns, c->t0_ns, &age_ns)) age_ns = INT64_MAX;
  if (age_ns < 0 || age_ns > c->max_age_ns) out->status |= KAIROS_NOW_STALE;
  const double age = age_ns < 0 ? 0.0 : (double)age_ns * 1e-9;
  const double offset = c->offset0 + c->frequency * age;
  const double bound = c->bound0 + c->drift * age;
  /* Written so that NaN fails every test. */
  if (!(c->bound0 >= 0 && c->drift >= 0 && fabs(offset) + bound <= MAX_OFFSET)) {
    out->status |= KAIROS_NOW_UNBOUNDED;
    return 0;
  }
  /* Rounded outwards, so the nanosecond interval contains the real one. */
  out->earliest = add_ns(*reading, (int64_t)floor((offset - bound) * 1e9));
  out->latest = add_ns(*reading, (int64_t)ceil((offset + bound) * 1e9));
  return 0;
}

int kairos_now(struct kairos_handle* h, int clock_index, struct kairos_time* out) {
  if (!h || !out) return KAIROS_E_ARGUMENT;
  struct kairos_shm_page page;
  const int r = read_page(h, &page);
  if (r != 0) return r;
  if (clock_index < 0 || (uint32_t)clock_index >= page.clock_count) return KAIROS_E_NO_CLOCK;
  const struct kairos_shm_clock* c = &page.clocks[clock_index];
  clockid_t id;
  const int found = clock_of(h, clock_index, c, &id);
  if (found != 0) return found;
  /* Monotonic first, then the clock: both after the copy, so t >= t0. */
  struct timespec mono, reading;
  if (clock_gettime(CLOCK_MONOTONIC, &mono) != 0 || clock_gettime(id, &reading) != 0) return KAIROS_E_CLOCK;
  return kairos_bound_at(c, &reading, (int64_t)mono.tv_sec * 1000000000 + mono.tv_nsec, out);
}

const char* kairos_strerror(int code) {
  switch (code) {
    case 0: return "ok";
    case KAIROS_E_OPEN: return "the time page could not be opened";
    case KAIROS_E_TRUNCATED: return "the time page is truncated";
    case KAIROS_E_MAGIC: return "not a kairos time page (wrong magic)";
    case KAIROS_E_VERSION: return "unsupported time page version";
    case KAIROS_E_CORRUPT: return "corrupt time page header";
    case KAIROS_E_BUSY: return "the time page stayed locked by its writer";
    case KAIROS_E_NO_CLOCK: return "no such clock on the time page";
    case KAIROS_E_CLOCK: return "the clock could not be read";
    case KAIROS_E_ARGUMENT: return "invalid argument";
    default: return "unknown error";
  }
}
