/*
 * ntp-pool lab: LD_PRELOAD shim for ntpd's privilege drop (docs/lab-mechanisms.md#shared-clock).
 *
 * Every lab daemon runs with CAP_SYS_TIME removed from its bounding set, so nothing in the lab
 * can change the host clock (all network namespaces share it). ntpd -u asks cap_set_proc() for
 * CAP_SYS_TIME while dropping root and exits when the kernel refuses. This shim removes
 * CAP_SYS_TIME from that request; the kernel still enforces the bounding set. No libcap headers
 * are needed: the few constants below are libcap's stable ABI (sys/capability.h, linux/capability.h).
 */
#define _GNU_SOURCE
#include <dlfcn.h>

typedef void *cap_t;
typedef int cap_value_t;
enum { LAB_CAP_EFFECTIVE = 0, LAB_CAP_PERMITTED = 1, LAB_CAP_INHERITABLE = 2 };
enum { LAB_CAP_CLEAR = 0 };
enum { LAB_CAP_SYS_TIME = 25 };

int cap_set_proc(cap_t caps) {
  int (*real)(cap_t) = (int (*)(cap_t))dlsym(RTLD_NEXT, "cap_set_proc");
  int (*set_flag)(cap_t, int, int, const cap_value_t *, int) =
      (int (*)(cap_t, int, int, const cap_value_t *, int))dlsym(RTLD_DEFAULT, "cap_set_flag");
  if (set_flag != 0) {
    const cap_value_t drop[1] = {LAB_CAP_SYS_TIME};
    set_flag(caps, LAB_CAP_EFFECTIVE, 1, drop, LAB_CAP_CLEAR);
    set_flag(caps, LAB_CAP_PERMITTED, 1, drop, LAB_CAP_CLEAR);
    set_flag(caps, LAB_CAP_INHERITABLE, 1, drop, LAB_CAP_CLEAR);
  }
  return real != 0 ? real(caps) : -1;
}
