// Experiment, not part of Oriole: does the commit thread's pwrite count
// matter? SQLite writes each WAL frame as two pwrite calls (its 24-byte
// header, then the page), about one call per W1 message. This LD_PRELOAD
// shim gathers consecutive pwrites to a file whose name ends in "-wal" and
// writes them as one, before any fsync, read, truncate, stat or close of
// any file (so no reader, and no sync, sees the WAL behind the writer).
// docs/benchmarks.md, nineteenth pass, has what it measured. Build and run:
//
//   gcc -shared -fPIC -O2 -o /tmp/walbuf.so bench/experiments/walbuf.c -ldl -lpthread
//   printf '#!/bin/sh\nLD_PRELOAD=/tmp/walbuf.so exec %s "$@"\n' "$PWD/target/release/oriole" > /tmp/oriole-walbuf
//   chmod +x /tmp/oriole-walbuf
//   bench/step.sh /tmp/oriole-walbuf w1 33000 12
//
// It assumes `synchronous = FULL` (every commit syncs the WAL, which
// flushes the buffer before the WAL index says the frames are there).
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static signed char kind[65536]; // 0 unknown, 1 wal, 2 other
static int bfd = -1; static off_t boff; static size_t blen; static char *buf; static size_t bcap;
static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pread64)(int, void *, size_t, off_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);
static int (*real_ftruncate64)(int, off_t);
static int (*real_fstat64)(int, struct stat64 *);
unsigned long walbuf_flushes, walbuf_writes;

static void init(void) {
  if (real_pwrite64) return;
  real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
  real_pread64 = dlsym(RTLD_NEXT, "pread64");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_close = dlsym(RTLD_NEXT, "close");
  real_ftruncate64 = dlsym(RTLD_NEXT, "ftruncate64");
  real_fstat64 = dlsym(RTLD_NEXT, "fstat64");
}
static int is_wal(int fd) {
  if (fd < 0 || fd >= 65536) return 0;
  if (!kind[fd]) {
    char p[64], t[4096]; snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(p, t, sizeof t - 1);
    kind[fd] = (n > 4 && memcmp(t + n - 4, "-wal", 4) == 0) ? 1 : 2;
  }
  return kind[fd] == 1;
}
static int flush_locked(void) {
  size_t done = 0;
  while (done < blen) {
    ssize_t w = real_pwrite64(bfd, buf + done, blen - done, boff + done);
    if (w < 0) { blen = 0; bfd = -1; return -1; }
    done += w;
  }
  if (blen) walbuf_flushes++;
  blen = 0; bfd = -1; return 0;
}
static int flush(void) { pthread_mutex_lock(&mu); int r = flush_locked(); pthread_mutex_unlock(&mu); return r; }

ssize_t pwrite64(int fd, const void *data, size_t n, off_t off) {
  init();
  if (!is_wal(fd)) return real_pwrite64(fd, data, n, off);
  pthread_mutex_lock(&mu);
  walbuf_writes++;
  if (blen && (fd != bfd || off != boff + (off_t)blen || blen + n > (8u << 20))) {
    if (flush_locked() < 0) { pthread_mutex_unlock(&mu); return -1; }
  }
  if (!blen) { bfd = fd; boff = off; }
  if (blen + n > bcap) { bcap = (blen + n) * 2; buf = realloc(buf, bcap); }
  memcpy(buf + blen, data, n); blen += n;
  pthread_mutex_unlock(&mu);
  return n;
}
ssize_t pwrite(int fd, const void *d, size_t n, off_t o) { return pwrite64(fd, d, n, o); }
ssize_t pread64(int fd, void *d, size_t n, off_t o) { init(); if (blen) flush(); return real_pread64(fd, d, n, o); }
ssize_t pread(int fd, void *d, size_t n, off_t o) { return pread64(fd, d, n, o); }
int fsync(int fd) { init(); if (blen) flush(); return real_fsync(fd); }
int fdatasync(int fd) { init(); if (blen) flush(); return real_fdatasync(fd); }
int close(int fd) { init(); if (blen) flush(); if (fd >= 0 && fd < 65536) kind[fd] = 0; return real_close(fd); }
int ftruncate64(int fd, off_t l) { init(); if (blen) flush(); return real_ftruncate64(fd, l); }
int ftruncate(int fd, off_t l) { return ftruncate64(fd, l); }
int fstat64(int fd, struct stat64 *s) { init(); if (blen) flush(); return real_fstat64(fd, s); }
int fstat(int fd, struct stat *s) { return fstat64(fd, (struct stat64 *)s); }
