/* kairos_now: what time is it, and how sure is kairosd? Reads the error-bound page kairosd
 * publishes (daemon/kairos_shm_layout.h) without talking to the daemon: one mapping, a sequence-locked
 * copy and two clock_gettime calls (vDSO) per answer.
 *
 *   struct kairos_handle* h;
 *   if (kairos_open(NULL, &h) == 0) {
 *     struct kairos_time t;
 *     if (kairos_now(h, 0, &t) == 0 && (t.status & KAIROS_NOW_SYNCHRONIZED) &&
 *         !(t.status & KAIROS_NOW_STALE)) { ... true time is within [t.earliest, t.latest] ... }
 *     kairos_close(h);
 *   }
 *
 * Every function returns 0 or a negative KAIROS_E_* code. A handle may be shared by threads. */
#ifndef KAIROS_NOW_H
#define KAIROS_NOW_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "daemon/kairos_shm_layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* kairos_time.status bits. The first four are the daemon's (KAIROS_SHM_* flags). */
#define KAIROS_NOW_SYNCHRONIZED KAIROS_SHM_SYNCHRONIZED
#define KAIROS_NOW_STEERED KAIROS_SHM_STEERED
#define KAIROS_NOW_LEAP_INSERT KAIROS_SHM_LEAP_INSERT
#define KAIROS_NOW_LEAP_DELETE KAIROS_SHM_LEAP_DELETE
#define KAIROS_NOW_STALE 0x10u     /* the daemon has not updated the record for longer than it promised */
#define KAIROS_NOW_UNBOUNDED 0x20u /* no finite bound: earliest and latest are just the clock's reading */

/* The bound is trustworthy only when status has SYNCHRONIZED and neither STALE nor UNBOUNDED. */
#define KAIROS_NOW_USABLE(status) \
  (((status) & (KAIROS_NOW_SYNCHRONIZED | KAIROS_NOW_STALE | KAIROS_NOW_UNBOUNDED)) == KAIROS_NOW_SYNCHRONIZED)

#define KAIROS_E_OPEN -1      /* the page could not be opened or mapped (see errno) */
#define KAIROS_E_TRUNCATED -2 /* the file is shorter than the page */
#define KAIROS_E_MAGIC -3     /* not a kairos page */
#define KAIROS_E_VERSION -4   /* a layout major version this library does not know */
#define KAIROS_E_CORRUPT -5   /* impossible header (size, clock count) */
#define KAIROS_E_BUSY -6      /* the writer kept the page locked through every retry (or died writing) */
#define KAIROS_E_NO_CLOCK -7  /* clock_index is not a published clock */
#define KAIROS_E_CLOCK -8     /* the clock could not be read */
#define KAIROS_E_ARGUMENT -9  /* a NULL pointer where one is required */

/* Copy attempts of the page before kairos_now gives up with KAIROS_E_BUSY. */
#define KAIROS_NOW_MAX_RETRIES 1000

struct kairos_time {
  struct timespec earliest; /* true time was at least this (rounded down to the ns) ... */
  struct timespec latest;   /* ... and at most this (rounded up) when the clock was read */
  uint32_t status;          /* KAIROS_NOW_* bits */
};

struct kairos_handle;

/* Maps the page at `path` (NULL: KAIROS_SHM_DEFAULT_PATH) and checks its header. */
int kairos_open(const char* path, struct kairos_handle** out);
/* The bound on the true time of the clock published at `clock_index`, at this instant. */
int kairos_now(struct kairos_handle* handle, int clock_index, struct kairos_time* out);
/* A consistent copy of the record published at `clock_index` (the model behind kairos_now). */
int kairos_read_clock(struct kairos_handle* handle, int clock_index, struct kairos_shm_clock* out);
/* Records currently published (0 or more), or a negative KAIROS_E_* code. */
int kairos_clock_count(struct kairos_handle* handle);
void kairos_close(struct kairos_handle* handle);
/* A short English description of a KAIROS_E_* code. */
const char* kairos_strerror(int code);

/* The pure parts, for tests and fuzzing. kairos_check_page validates a copied page that came
 * from a file `file_size` bytes long. kairos_bound_at evaluates one record's model for a clock
 * `reading` taken at `monotonic_ns` (CLOCK_MONOTONIC). */
int kairos_check_page(const struct kairos_shm_page* page, size_t file_size);
int kairos_bound_at(const struct kairos_shm_clock* clock, const struct timespec* reading, int64_t monotonic_ns,
                    struct kairos_time* out);

#ifdef __cplusplus
}
#endif

#endif
