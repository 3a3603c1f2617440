/* The page kairosd publishes its clocks' error bounds in, shared by the writer (daemon/shm_writer)
 * and the reader library (kairos_now.c). Plain C so C programs can include it.
 *
 * Time model of one clock, as a reader at its own instant computes it:
 *   t       = clock_gettime(CLOCK_MONOTONIC)            (the reader's now on the model's axis)
 *   reading = clock_gettime(the record's clock)
 *   true    = reading + offset0 + frequency * (t - t0)
 *   bound   = bound0 + drift * (t - t0)                 (half-width: true is within ± bound)
 *
 * Why t and t0 are on CLOCK_MONOTONIC (not MONOTONIC_RAW, not REALTIME): kairosd's model already
 * runs on it (std::chrono::steady_clock), so t0 is taken, not converted; it is never stepped, so
 * t - t0 stays right across steps of the clock being described; it is the same in every process
 * of one time namespace and is read through the vDSO. Its rate follows the kernel's frequency
 * correction of CLOCK_REALTIME, which differs from true seconds by at most a few hundred ppm:
 * a relative error of that size on the small terms frequency * (t - t0) and drift * (t - t0),
 * negligible next to drift itself. Readers in another time namespace see a different
 * CLOCK_MONOTONIC and must not use the page.
 *
 * Concurrency: a sequence lock. `sequence` is odd while the writer changes the page; a reader
 * copies the page (every 8-byte word with a relaxed atomic load), then checks that `sequence` was
 * even and unchanged around the copy. Every field therefore lives in whole 8-byte words, and the
 * records are multiples of 8 bytes.
 *
 * Compatibility: readers reject another version_major; a new minor version only appends fields
 * (and grows `size`), so older readers keep working. */
#ifndef KAIROS_SHM_LAYOUT_H
#define KAIROS_SHM_LAYOUT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KAIROS_SHM_DEFAULT_PATH "/run/kairos/time.shm"
#define KAIROS_SHM_MAGIC 0x4d48534bu /* "KSHM" in little-endian bytes */
#define KAIROS_SHM_VERSION_MAJOR 1
#define KAIROS_SHM_VERSION_MINOR 0
#define KAIROS_SHM_MAX_CLOCKS 8
#define KAIROS_SHM_NAME_SIZE 16

/* kind: which clock `reading` comes from. */
#define KAIROS_SHM_CLOCK_REALTIME 0u /* CLOCK_REALTIME */
#define KAIROS_SHM_CLOCK_PHC 1u      /* /dev/ptp<phc_index>; a PHC's dynamic clockid belongs to the
                                        process holding the descriptor, so the index is published */

/* flags, set by the writer. */
#define KAIROS_SHM_SYNCHRONIZED 0x1u /* the model is synchronized to its sources */
#define KAIROS_SHM_STEERED 0x2u      /* the clock is adjusted by kairosd (else only observed) */
#define KAIROS_SHM_LEAP_INSERT 0x4u  /* a leap second is inserted at the end of this UTC day */
#define KAIROS_SHM_LEAP_DELETE 0x8u  /* a leap second is deleted at the end of this UTC day */

struct kairos_shm_clock {
  char name[KAIROS_SHM_NAME_SIZE]; /* NUL-terminated */
  uint32_t kind;                   /* KAIROS_SHM_CLOCK_* */
  int32_t phc_index;               /* N of /dev/ptpN for KAIROS_SHM_CLOCK_PHC, else -1 */
  uint32_t flags;                  /* KAIROS_SHM_* flags */
  uint32_t reserved;
  int64_t t0_ns;      /* CLOCK_MONOTONIC (ns) the model below was computed at: the update time */
  int64_t max_age_ns; /* readers call the record stale when t - t0 exceeds this */
  double offset0;     /* true time minus the clock's reading at t0 (s) */
  double frequency;   /* rate of change of that offset (s/s) */
  double bound0;      /* half-width of the interval around the true time at t0 (s); may be +inf */
  double drift;       /* growth rate of the bound (s/s) */
};

struct kairos_shm_page {
  uint32_t magic; /* KAIROS_SHM_MAGIC */
  uint16_t version_major;
  uint16_t version_minor;
  uint32_t size;        /* bytes of this structure as the writer knows it */
  uint32_t clock_count; /* records in use, at most KAIROS_SHM_MAX_CLOCKS */
  uint64_t sequence;    /* odd while being written */
  struct kairos_shm_clock clocks[KAIROS_SHM_MAX_CLOCKS];
};

/* The file is one page long; the structure fits with room for minor versions to grow. */
#define KAIROS_SHM_FILE_SIZE 4096

#ifdef __cplusplus
}
#endif

#endif
