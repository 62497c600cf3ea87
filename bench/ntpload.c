/*
 * ntpload: NTP mode-3 load generator for `npm run bench` (bench/capacity.ts compiles it
 * with gcc at bench time and runs it inside the bench's own "loader" namespace).
 *
 * Why hand-written and in C: the capacity step needs >100k requests/s from tens of
 * thousands of source addresses on one core; a Node dgram loop manages a fraction of that
 * (one syscall per packet, one socket per address) and would measure itself. This program
 * sends with sendmmsg() in batches from ONE socket and picks each packet's source address
 * with IP_PKTINFO; the loader namespace owns the whole source range through an AnyIP route
 * (`ip route add local <range> dev lo`), so replies to every address come back to the same
 * socket. ntpd's rate limiting is per source address: spreading the load over a /16 keeps
 * each address far below `limited`'s threshold (the KoD count in the output shows it).
 *
 * Usage: ntpload DST_IPV4 RATE DURATION_S SRC_BASE SRC_COUNT DRAIN_MS
 *   RATE 0 = unpaced (as fast as the generator can send, for the drop-everything check).
 * Prints one JSON line. Every loop is bounded: DURATION_S <= 60, DRAIN_MS <= 10000,
 * at most MAX_PACKETS requests, and alarm() ends the process if it ever overruns.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define NTP_LEN 48
#define MAX_PACKETS 20000000u
/* Seconds from 1900 (NTP era 0) to 1970 (Unix). */
#define NTP_UNIX 2208988800u

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what) {
  fprintf(stderr, "ntpload: %s: %s\n", what, strerror(errno));
  exit(2);
}

static uint32_t rd32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void wr32(unsigned char *p, uint32_t v) {
  p[0] = v >> 24;
  p[1] = v >> 16;
  p[2] = v >> 8;
  p[3] = v;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: ntpload DST_IPV4 RATE DURATION_S SRC_BASE SRC_COUNT DRAIN_MS\n");
    return 2;
  }
  struct in_addr dst, srcbase;
  if (inet_pton(AF_INET, argv[1], &dst) != 1) { fprintf(stderr, "ntpload: DST_IPV4: not an IPv4 address: %s\n", argv[1]); return 2; }
  double rate = atof(argv[2]);
  double duration = atof(argv[3]);
  if (inet_pton(AF_INET, argv[4], &srcbase) != 1) { fprintf(stderr, "ntpload: SRC_BASE: not an IPv4 address: %s\n", argv[4]); return 2; }
  long srccount = atol(argv[5]);
  long drain_ms = atol(argv[6]);
  if (rate < 0 || rate > 5e6) { fprintf(stderr, "ntpload: RATE: must be 0..5000000 (got %s)\n", argv[2]); return 2; }
  if (duration <= 0 || duration > 60) { fprintf(stderr, "ntpload: DURATION_S: must be >0 and <=60 (got %s)\n", argv[3]); return 2; }
  if (srccount < 1 || srccount > (1L << 20)) { fprintf(stderr, "ntpload: SRC_COUNT: must be 1..1048576 (got %s)\n", argv[5]); return 2; }
  if (drain_ms < 0 || drain_ms > 10000) { fprintf(stderr, "ntpload: DRAIN_MS: must be 0..10000 (got %s)\n", argv[6]); return 2; }
  alarm((unsigned)(duration + drain_ms / 1000.0 + 10));

  uint32_t total = rate > 0 ? (uint32_t)(rate * duration + 0.5) : MAX_PACKETS;
  if (total > MAX_PACKETS) total = MAX_PACKETS;
  unsigned char *seen = calloc(total / 8 + 1, 1);
  if (!seen) die("calloc");

  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  if (fd < 0) die("socket");
  /* Root in our own namespace: FORCE bypasses rmem_max, so the generator's own receive
   * buffer never drops replies (the loader's UDP RcvbufErrors are reported to prove it). */
  int big = 64 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0) die("SO_RCVBUFFORCE");
  int sbig = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sbig, sizeof sbig) < 0) die("SO_SNDBUFFORCE");
  int one = 1;
  if (setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof one) < 0) die("IP_FREEBIND");
  struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = 0, .sin_addr = {htonl(INADDR_ANY)}};
  if (bind(fd, (struct sockaddr *)&any, sizeof any) < 0) die("bind");

  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(123), .sin_addr = dst};
  static unsigned char pkt[BATCH][NTP_LEN];
  static char ctl[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo))];
  static struct iovec iov[BATCH];
  static struct mmsghdr msg[BATCH];
  static struct in_pktinfo *pinfo[BATCH];
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  uint32_t ntp_sec = (uint32_t)wall.tv_sec + NTP_UNIX;
  for (int i = 0; i < BATCH; i++) {
    memset(pkt[i], 0, NTP_LEN);
    pkt[i][0] = 0x23; /* LI 0, version 4, mode 3 (client) */
    wr32(pkt[i] + 40, ntp_sec); /* transmit timestamp: seconds; fraction = sequence number */
    iov[i].iov_base = pkt[i];
    iov[i].iov_len = NTP_LEN;
    memset(&msg[i], 0, sizeof msg[i]);
    msg[i].msg_hdr.msg_name = &to;
    msg[i].msg_hdr.msg_namelen = sizeof to;
    msg[i].msg_hdr.msg_iov = &iov[i];
    msg[i].msg_hdr.msg_iovlen = 1;
    msg[i].msg_hdr.msg_control = ctl[i];
    msg[i].msg_hdr.msg_controllen = sizeof ctl[i];
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg[i].msg_hdr);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
    pinfo[i] = (struct in_pktinfo *)CMSG_DATA(c);
    memset(pinfo[i], 0, sizeof *pinfo[i]);
  }

  static unsigned char rbuf[BATCH][128];
  static struct iovec riov[BATCH];
  static struct mmsghdr rmsg[BATCH];
  for (int i = 0; i < BATCH; i++) {
    riov[i].iov_base = rbuf[i];
    riov[i].iov_len = sizeof rbuf[i];
    memset(&rmsg[i], 0, sizeof rmsg[i]);
    rmsg[i].msg_hdr.msg_iov = &riov[i];
    rmsg[i].msg_hdr.msg_iovlen = 1;
  }

  uint32_t sent = 0, replies = 0, kod = 0, bad = 0, dup = 0;
  uint64_t send_errors = 0;
  uint32_t base = ntohl(srcbase.s_addr);
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  double t0 = now_s(), tlast = t0, send_end = t0 + duration;

  /* Reads every reply queued now; counts distinct answered sequence numbers. */
#define DRAIN()                                                                 \
  for (int guard = 0; guard < 4096; guard++) {                                  \
    for (int i = 0; i < BATCH; i++) rmsg[i].msg_hdr.msg_flags = 0;              \
    int r = recvmmsg(fd, rmsg, BATCH, MSG_DONTWAIT, NULL);                      \
    if (r <= 0) break;                                                          \
    for (int i = 0; i < r; i++) {                                               \
      unsigned char *p = rbuf[i];                                               \
      uint32_t seq = rd32(p + 28);                                              \
      if (rmsg[i].msg_len < NTP_LEN || (p[0] & 7) != 4 || rd32(p + 24) != ntp_sec || seq >= sent) { bad++; continue; } \
      if (seen[seq >> 3] & (1u << (seq & 7))) { dup++; continue; }             \
      seen[seq >> 3] |= 1u << (seq & 7);                                        \
      if (p[1] == 0) kod++; else replies++;                                     \
    }                                                                           \
  }

  for (;;) {
    double t = now_s();
    if (sent >= total || t >= send_end) break;
    uint32_t due = rate > 0 ? (uint32_t)((t - t0) * rate) + 1 : total;
    if (due > total) due = total;
    uint32_t n = due > sent ? due - sent : 0;
    if (n > BATCH) n = BATCH;
    if (n > 0) {
      for (uint32_t i = 0; i < n; i++) {
        uint32_t seq = sent + i;
        wr32(pkt[i] + 44, seq);
        pinfo[i]->ipi_spec_dst.s_addr = htonl(base + (uint32_t)(seq % (uint32_t)srccount));
      }
      int r = sendmmsg(fd, msg, n, 0);
      if (r > 0) { sent += (uint32_t)r; tlast = now_s(); }
      else if (errno == EAGAIN || errno == ENOBUFS || errno == EWOULDBLOCK) send_errors++;
      else die("sendmmsg");
    }
    DRAIN();
    if (n == 0) {
      /* Ahead of schedule: wait for replies or the next packet's due time (<= 200 us). */
      double wait = (sent + 1) / rate - (now_s() - t0);
      if (wait > 200e-6) wait = 200e-6;
      if (wait > 0) {
        struct timespec ts = {0, (long)(wait * 1e9)};
        ppoll(&pfd, 1, &ts, NULL);
      }
    }
  }
  double drain_end = now_s() + drain_ms / 1000.0;
  for (int guard = 0; guard < 1000000 && now_s() < drain_end; guard++) {
    struct timespec ts = {0, 2000000};
    ppoll(&pfd, 1, &ts, NULL);
    DRAIN();
  }
  double send_seconds = tlast - t0;
  printf("{\"rate\":%.0f,\"duration\":%.3f,\"sources\":%ld,\"sent\":%u,\"sendSeconds\":%.4f,"
         "\"achievedRate\":%.1f,\"replies\":%u,\"kod\":%u,\"bad\":%u,\"dup\":%u,\"sendErrors\":%llu}\n",
         rate, duration, srccount, sent, send_seconds, send_seconds > 0 ? sent / send_seconds : 0.0,
         replies, kod, bad, dup, (unsigned long long)send_errors);
  return 0;
}
