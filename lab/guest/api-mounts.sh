# shellcheck shell=bash
# ntp-pool lab: the kernel file systems a chrooted Debian root needs, mounted under root $1.
# Sourced by droplet-init.sh and image-exec.sh, which run in a private mount namespace: these
# mounts exist only there. Returns non-zero naming the mount that failed (on stdout).
api_mounts() {
  local R=$1 n
  mount -t proc proc "$R/proc" || { echo proc; return 1; }
  mount -t sysfs sysfs "$R/sys" || { echo sysfs; return 1; }
  # A private /dev with only the usual character devices: the host's /dev/shm and disks stay out.
  mount -t tmpfs -o mode=755,nosuid tmpfs "$R/dev" || { echo dev; return 1; }
  for n in null zero full random urandom tty; do
    { touch "$R/dev/$n" && mount --bind "/dev/$n" "$R/dev/$n"; } || { echo "dev/$n"; return 1; }
  done
  mkdir -p "$R/dev/pts" "$R/dev/shm"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts "$R/dev/pts" || { echo devpts; return 1; }
  ln -sf pts/ptmx "$R/dev/ptmx"
  mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
  ln -sf /proc/self/fd "$R/dev/fd"
  ln -sf /proc/self/fd/0 "$R/dev/stdin"
  ln -sf /proc/self/fd/1 "$R/dev/stdout"
  ln -sf /proc/self/fd/2 "$R/dev/stderr"
  mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$R/run" || { echo run; return 1; }
  mkdir -p "$R/run/lock"
}
