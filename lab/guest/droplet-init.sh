#!/bin/bash
# ntp-pool lab: "boot" of one lab droplet. Runs as PID 1 of a private PID namespace, in a
# private mount and UTS namespace, inside the droplet's network namespace, with CAP_SYS_TIME
# dropped from the bounding set (so nothing started from here can touch the host clock).
# Killing this process ends every process of the droplet and frees all of its mounts:
# nothing here is visible on the host.
#
# Environment (set by lab/droplet.ts): LAB_LOWER (cached Debian root, read-only), LAB_UPPER,
# LAB_WORK, LAB_ROOT (overlay dirs), LAB_REPO (host dir) and LAB_GUEST_REPO (its path in the
# guest), LAB_HOSTNAME.
# Protocol on stdout, one line each: "STAGE <name> <rc> <seconds>", then "READY" or "FAILED <why>".
set -u

fail() {
  echo "FAILED $*"
  exit 1
}

R=$LAB_ROOT
mount -t overlay overlay -o "lowerdir=$LAB_LOWER,upperdir=$LAB_UPPER,workdir=$LAB_WORK" "$R" ||
  fail "overlay mount"
# The lab's local apt repository (read-only), where the image's sources.list points.
{ mount --bind "$LAB_REPO" "$R$LAB_GUEST_REPO" && mount -o remount,ro,bind "$R$LAB_GUEST_REPO"; } ||
  fail "apt repository"
# shellcheck source=lab/guest/api-mounts.sh
. "$(dirname "$0")/api-mounts.sh"
what=$(api_mounts "$R") || fail "$what"
# What a systemd boot leaves in /run: the marker that tells cloud-init, invoke-rc.d, service
# and deb-systemd-invoke to go through systemctl (the lab's stand-in, lab/guest/systemctl), and
# cloud-init-generator's "enabled" flag (cloud-init status reports "disabled" without it).
mkdir -p "$R/run/systemd/system" "$R/run/cloud-init"
touch "$R/run/cloud-init/enabled"
hostname "$LAB_HOSTNAME"

in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 NTP_LAB_RUN="$NTP_LAB_RUN" "$@"; }

stage() {
  local name=$1
  shift
  local t0=$SECONDS
  in_root "$@" >>"$R/var/log/ntp-lab-boot.log" 2>&1
  local rc=$?
  echo "STAGE $name $rc $((SECONDS - t0))"
  return $rc
}

# The order of a systemd boot of a cloud image: cloud-init-local, cloud-init (network),
# then multi-user.target units (ssh, ntpsec if enabled) alongside cloud-config and cloud-final.
stage init-local /usr/bin/cloud-init init --local
stage init /usr/bin/cloud-init init
for unit in "$R"/etc/systemd/system/multi-user.target.wants/*.service; do
  [ -e "$unit" ] || continue
  stage "start:$(basename "$unit")" /usr/bin/systemctl start "$(basename "$unit")"
done
stage modules-config /usr/bin/cloud-init modules --mode config
stage modules-final /usr/bin/cloud-init modules --mode final
# Units enabled by the final stage (e.g. a package installed by `packages:`) start as they would
# at the end of a boot; already-running ones are left alone.
for unit in "$R"/etc/systemd/system/multi-user.target.wants/*.service; do
  [ -e "$unit" ] || continue
  stage "start:$(basename "$unit")" /usr/bin/systemctl start "$(basename "$unit")"
done
echo READY
# Stay PID 1: reap orphans until the lab kills this namespace.
trap '' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
