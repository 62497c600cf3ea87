/*
 * LD_PRELOAD shim for the capacity bench: gives every UDP socket the process creates a
 * receive buffer of NTP_BENCH_RCVBUF bytes, exactly what `net.core.rmem_default` would
 * give it on a droplet.
 *
 * Why a shim: neither ntpd (NTPsec 1.2.2) nor chronyd sets SO_RCVBUF, so their buffer is
 * rmem_default; on this kernel net.core.rmem_default is read-only inside a network
 * namespace (it shows init_net's value), and the bench must not change the host's
 * sysctls. SO_RCVBUFFORCE stores twice the value it is given (socket(7)), so it is given
 * half, and the socket ends up with sk_rcvbuf == NTP_BENCH_RCVBUF like the sysctl would.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/socket.h>

int socket(int domain, int type, int protocol) {
  static int (*real_socket)(int, int, int);
  if (!real_socket) real_socket = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
  int fd = real_socket(domain, type, protocol);
  const char *want = getenv("NTP_BENCH_RCVBUF");
  if (fd >= 0 && want && (domain == AF_INET || domain == AF_INET6) && (type & 0xf) == SOCK_DGRAM) {
    int half = atoi(want) / 2;
    if (half > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof half);
  }
  return fd;
}
