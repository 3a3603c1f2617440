/* The reader API of the time page, compiled as C11 and used the way a C program would: a page
 * written by hand (no C++ writer involved), opened, read, and refused when it is not a page. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kairos_now.h"

static int failures = 0;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

static int64_t ns_of(struct timespec t) { return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec; }

static int write_page(const char* path, const struct kairos_shm_page* page) {
  char bytes[KAIROS_SHM_FILE_SIZE];
  memset(bytes, 0, sizeof bytes);
  memcpy(bytes, page, sizeof *page);
  FILE* f = fopen(path, "wb");
  if (!f) return -1;
  const size_t written = fwrite(bytes, 1, sizeof bytes, f);
  fclose(f);
  return written == sizeof bytes ? 0 : -1;
}

static struct kairos_shm_page one_clock_page(void) {
  struct kairos_shm_page page;
  memset(&page, 0, sizeof page);
  page.magic = KAIROS_SHM_MAGIC;
  page.version_major = KAIROS_SHM_VERSION_MAJOR;
  page.version_minor = KAIROS_SHM_VERSION_MINOR;
  page.size = sizeof page;
  page.clock_count = 1;
  struct kairos_shm_clock* c = &page.clocks[0];
  strcpy(c->name, "system");
  c->kind = KAIROS_SHM_CLOCK_REALTIME;
  c->phc_index = -1;
  c->flags = KAIROS_SHM_SYNCHRONIZED | KAIROS_SHM_STEERED;
  struct timespec mono;
  clock_gettime(CLOCK_MONOTONIC, &mono);
  c->t0_ns = ns_of(mono);
  c->max_age_ns = 60 * (int64_t)1000000000;
  c->offset0 = 0.25; /* true time is a quarter second ahead of CLOCK_REALTIME */
  c->frequency = 0;
  c->bound0 = 1e-3;
  c->drift = 1e-6;
  return page;
}

static void bound_brackets_the_published_truth(const char* path) {
  struct kairos_shm_page page = one_clock_page();
  CHECK(write_page(path, &page) == 0);
  struct kairos_handle* h = NULL;
  CHECK(kairos_open(path, &h) == 0);
  if (!h) return;
  CHECK(kairos_clock_count(h) == 1);
  struct timespec before, after;
  struct kairos_time t;
  clock_gettime(CLOCK_REALTIME, &before);
  CHECK(kairos_now(h, 0, &t) == 0);
  clock_gettime(CLOCK_REALTIME, &after);
  CHECK(KAIROS_NOW_USABLE(t.status));
  CHECK(t.status & KAIROS_NOW_STEERED);
  /* The reading lies in [before, after]; true = reading + 0.25 within ±1 ms (+ drift). */
  CHECK(ns_of(t.earliest) <= ns_of(after) + 250000000);
  CHECK(ns_of(t.latest) >= ns_of(before) + 250000000);
  CHECK(ns_of(t.latest) - ns_of(t.earliest) >= 2000000);
  CHECK(ns_of(t.latest) - ns_of(t.earliest) < 2100000);
  CHECK(kairos_now(h, 1, &t) == KAIROS_E_NO_CLOCK);
  struct kairos_shm_clock record;
  CHECK(kairos_read_clock(h, 0, &record) == 0);
  CHECK(strcmp(record.name, "system") == 0);
  kairos_close(h);
}

static void foreign_file_is_refused(const char* path) {
  struct kairos_shm_page page = one_clock_page();
  page.magic = 0x12345678u;
  CHECK(write_page(path, &page) == 0);
  struct kairos_handle* h = NULL;
  CHECK(kairos_open(path, &h) == KAIROS_E_MAGIC);
  CHECK(h == NULL);
  page = one_clock_page();
  page.version_major = KAIROS_SHM_VERSION_MAJOR + 1;
  CHECK(write_page(path, &page) == 0);
  CHECK(kairos_open(path, &h) == KAIROS_E_VERSION);
  CHECK(kairos_open("/nonexistent/kairos/time.shm", &h) == KAIROS_E_OPEN);
  CHECK(strcmp(kairos_strerror(KAIROS_E_MAGIC), "not a kairos time page (wrong magic)") == 0);
}

int main(void) {
  char path[] = "/tmp/kairos_now_c_testXXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 2;
  close(fd);
  bound_brackets_the_published_truth(path);
  foreign_file_is_refused(path);
  unlink(path);
  if (failures) {
    fprintf(stderr, "%d checks failed\n", failures);
    return 1;
  }
  printf("kairos_now C API: all checks passed\n");
  return 0;
}
