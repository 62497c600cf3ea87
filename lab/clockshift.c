/*
 * ntp-pool lab: LD_PRELOAD shim that makes one process's wall clock wrong by a fixed amount,
 * for falseticker upstreams (docs/lab-mechanisms.md#falsetickers).
 *
 * libfaketime alone shifts what ntpd reads from clock_gettime (its transmit timestamps), but
 * NTPsec takes every receive timestamp from the kernel (SO_TIMESTAMPNS control messages on
 * recvmsg), which it does not shift: a client then sees half the offset and a round trip as
 * long as the whole shift. This shim shifts both, so the daemon is consistently wrong:
 *
 * - clock_gettime(CLOCK_REALTIME*, CLOCK_TAI), gettimeofday and time: + offset;
 * - recvmsg/recvmmsg: SCM_TIMESTAMPNS (struct timespec) and SCM_TIMESTAMP (struct timeval)
 *   control messages, old and new (64-bit) variants: + offset.
 *
 * CLOCK_MONOTONIC and friends are left alone (intervals stay true). The offset comes from
 * NTP_LAB_CLOCK_SHIFT, in seconds (e.g. "2", "-0.5"); unset or 0 leaves the process
 * unchanged. The host clock is never touched: the process never had CAP_SYS_TIME.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

/* Linux asm-generic/socket.h: the kernel sends whichever variant the socket asked for. */
#define LAB_SO_TIMESTAMP_OLD 29
#define LAB_SO_TIMESTAMPNS_OLD 35
#define LAB_SO_TIMESTAMP_NEW 63
#define LAB_SO_TIMESTAMPNS_NEW 64

static long long shift_ns;
static int ready;

static void init(void) {
  if (ready) return;
  const char *s = getenv("NTP_LAB_CLOCK_SHIFT");
  shift_ns = s != 0 ? (long long)(strtod(s, 0) * 1e9) : 0;
  ready = 1;
}

static void shift_ts(struct timespec *ts) {
  long long ns = (long long)ts->tv_sec * 1000000000LL + ts->tv_nsec + shift_ns;
  long long sec = ns / 1000000000LL;
  long long rem = ns % 1000000000LL;
  if (rem < 0) {
    rem += 1000000000LL;
    sec -= 1;
  }
  ts->tv_sec = (time_t)sec;
  ts->tv_nsec = (long)rem;
}

static void shift_tv(struct timeval *tv) {
  struct timespec ts = {tv->tv_sec, tv->tv_usec * 1000L};
  shift_ts(&ts);
  tv->tv_sec = ts.tv_sec;
  tv->tv_usec = ts.tv_nsec / 1000L;
}

static int is_realtime(clockid_t id) {
  return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
  static int (*real)(clockid_t, struct timespec *);
  if (real == 0) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
  init();
  int r = real(id, ts);
  if (r == 0 && shift_ns != 0 && is_realtime(id)) shift_ts(ts);
  return r;
}

int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  static int (*real)(struct timeval *, void *);
  if (real == 0) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
  init();
  int r = real(tv, tz);
  /* glibc declares tv nonnull, so the compiler may drop a NULL test of it; callers may still
     pass NULL to read only tz, hence the test through a volatile copy. */
  struct timeval *volatile p = tv;
  if (r == 0 && p != 0 && shift_ns != 0) shift_tv(p);
  return r;
}

time_t time(time_t *out) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  if (out != 0) *out = ts.tv_sec;
  return ts.tv_sec;
}

static void shift_cmsgs(struct msghdr *m) {
  if (shift_ns == 0 || m->msg_control == 0) return;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != 0; c = CMSG_NXTHDR(m, c)) {
    if (c->cmsg_level != SOL_SOCKET) continue;
    if (c->cmsg_type == LAB_SO_TIMESTAMPNS_OLD || c->cmsg_type == LAB_SO_TIMESTAMPNS_NEW) {
      /* x86_64/arm64: time_t is 64-bit, so old and new share struct timespec's layout. */
      shift_ts((struct timespec *)(void *)CMSG_DATA(c));
    } else if (c->cmsg_type == LAB_SO_TIMESTAMP_OLD || c->cmsg_type == LAB_SO_TIMESTAMP_NEW) {
      shift_tv((struct timeval *)(void *)CMSG_DATA(c));
    }
  }
}

ssize_t recvmsg(int fd, struct msghdr *m, int flags) {
  static ssize_t (*real)(int, struct msghdr *, int);
  if (real == 0) real = (ssize_t (*)(int, struct msghdr *, int))dlsym(RTLD_NEXT, "recvmsg");
  init();
  ssize_t r = real(fd, m, flags);
  if (r >= 0) shift_cmsgs(m);
  return r;
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned int n, int flags, struct timespec *timeout) {
  static int (*real)(int, struct mmsghdr *, unsigned int, int, struct timespec *);
  if (real == 0)
    real = (int (*)(int, struct mmsghdr *, unsigned int, int, struct timespec *))dlsym(
        RTLD_NEXT, "recvmmsg");
  init();
  int r = real(fd, v, n, flags, timeout);
  for (int i = 0; i < r; i++) shift_cmsgs(&v[i].msg_hdr);
  return r;
}
