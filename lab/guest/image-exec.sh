#!/bin/bash
# ntp-pool lab: runs one command from a cached image root (lab/imageExec.ts builds the call).
# Runs in a private mount namespace (unshare --mount --propagation private), inside the caller's
# network namespace: every mount below exists only for this command and its children and is
# gone when the last of them exits; nothing is visible on the host and the cached root on disk
# is never written (a tmpfs overlay takes every write).
#
# Usage: image-exec.sh ROOT [--bind SRC DST] [--ro-bind SRC DST] [--tmpfs DST] [--env K=V]
#        [--hosts FILE] [--cwd DIR] -- ARGV...
set -eu

fail() {
  echo "image-exec: $*" >&2
  exit 125
}

R=$1
shift
[ -d "$R/usr/bin" ] || fail "$R is not an image root"
binds=()
tmpfs=()
envs=()
hosts=""
cwd=/
while [ $# -gt 0 ]; do
  case $1 in
    --bind | --ro-bind)
      binds+=("$1" "$2" "$3")
      shift 3
      ;;
    --tmpfs)
      tmpfs+=("$2")
      shift 2
      ;;
    --env)
      envs+=("$2")
      shift 2
      ;;
    --hosts)
      hosts=$2
      shift 2
      ;;
    --cwd)
      cwd=$2
      shift 2
      ;;
    --)
      shift
      break
      ;;
    *) fail "unknown option $1" ;;
  esac
done
[ $# -gt 0 ] || fail "no command"

# Writes go to a tmpfs upper layer over the read-only image. The tmpfs is mounted on the
# image's own /mnt (private to this namespace; an overlay's lower layer never shows submounts),
# and the overlay covers $R itself, so the process root stays the image path ($R) as
# /proc/<pid>/root shows it.
mount -t tmpfs -o mode=755 ntp-lab-rw "$R/mnt" || fail "tmpfs for the overlay"
mkdir "$R/mnt/upper" "$R/mnt/work"
mount -t overlay overlay -o "lowerdir=$R,upperdir=$R/mnt/upper,workdir=$R/mnt/work" "$R" ||
  fail "overlay on $R"

# shellcheck source=lab/guest/api-mounts.sh
. "$(dirname "$0")/api-mounts.sh"
what=$(api_mounts "$R") || fail "$what"

i=0
while [ $i -lt ${#binds[@]} ]; do
  kind=${binds[$i]} src=${binds[$((i + 1))]} dst=$R${binds[$((i + 2))]}
  i=$((i + 3))
  [ -e "$src" ] || fail "bind source $src does not exist"
  if [ -d "$src" ]; then mkdir -p "$dst"; else mkdir -p "$(dirname "$dst")" && touch "$dst"; fi
  mount --bind "$src" "$dst" || fail "bind $src"
  if [ "$kind" = --ro-bind ]; then mount -o remount,ro,bind "$dst" || fail "ro $src"; fi
done
for d in "${tmpfs[@]}"; do
  mkdir -p "$R$d"
  mount -t tmpfs -o mode=1777 tmpfs "$R$d" || fail "tmpfs $d"
done
if [ -n "$hosts" ]; then mount --bind "$hosts" "$R/etc/hosts" || fail "hosts"; fi

exec chroot "$R" /usr/bin/env -i -C "$cwd" PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 HOME=/root "${envs[@]}" "$@"
