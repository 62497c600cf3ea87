#!/bin/bash
# ntp-pool lab: "boot" of one lab droplet. Runs as PID 1 of a private PID namespace, in a
# private mount and UTS namespace, inside the droplet's network namespace, with CAP_SYS_TIME
# dropped from the bounding set (so nothing started from here can touch the host clock).
# Killing this process ends every process of the droplet and frees all of its mounts:
# nothing here is visible on the host.
#
# Environment (set by lab/droplet.ts): LAB_LOWER (cached Debian root, read-only), LAB_UPPER,
# LAB_WORK, LAB_ROOT (overlay dirs), LAB_REPO (host dir) and LAB_GUEST_REPO (its path in the
# guest), LAB_DMI (the droplet's DMI files).
# Protocol on stdout, one line each: "STAGE <name> <rc> <seconds>", then "READY" or "FAILED <why>".
set -u

fail() {
  echo "FAILED $*"
  exit 1
}

R=$LAB_ROOT
# On a reboot the previous boot's mount namespace may still be being released (its overlay
# holds the upper and work dirs until then): a few retries, not a failure.
for try in 1 2 3 4 5 6 7 8 9 10; do
  mount -t overlay overlay -o "lowerdir=$LAB_LOWER,upperdir=$LAB_UPPER,workdir=$LAB_WORK" "$R" && break
  [ "$try" = 10 ] && fail "overlay mount"
  sleep 0.5
done
# The lab's local apt repository (read-only), where the image's sources.list points.
{ mount --bind "$LAB_REPO" "$R$LAB_GUEST_REPO" && mount -o remount,ro,bind "$R$LAB_GUEST_REPO"; } ||
  fail "apt repository"
# shellcheck source=lab/guest/api-mounts.sh
. "$(dirname "$0")/api-mounts.sh"
what=$(api_mounts "$R") || fail "$what"
# The SMBIOS identity of a droplet (vendor DigitalOcean, serial = droplet id; files prepared
# in $LAB_DMI): cloud-init's DigitalOcean datasource reads /sys/class/dmi/id. Over the host's
# files when it has DMI; otherwise /sys/class becomes a tmpfs holding the real class
# directories (bind-mounted) plus dmi/id.
dmi_view() {
  local d="$R/sys/class/dmi/id" f
  if [ -d "$d" ]; then
    for f in "$LAB_DMI"/*; do
      [ -e "$d/$(basename "$f")" ] || continue
      mount --bind "$f" "$d/$(basename "$f")" || return 1
    done
    return 0
  fi
  local real="$LAB_DMI.sys"
  mkdir -p "$real" && mount -t sysfs sysfs "$real" || return 1
  mount -t tmpfs -o mode=755 tmpfs "$R/sys/class" || return 1
  for f in "$real"/class/*; do
    mkdir "$R/sys/class/$(basename "$f")" && mount --rbind "$f" "$R/sys/class/$(basename "$f")" || return 1
  done
  mkdir -p "$R/sys/class/dmi/id" && cp "$LAB_DMI"/* "$R/sys/class/dmi/id/" &&
    mount -o remount,ro "$R/sys/class"
}
dmi_view || fail "dmi"
# What a systemd boot leaves in /run: the marker that tells cloud-init, invoke-rc.d, service
# and deb-systemd-invoke to go through systemctl (the lab's stand-in, lab/guest/systemctl), and
# cloud-init-generator's "enabled" flag (cloud-init status reports "disabled" without it).
mkdir -p "$R/run/systemd/system" "$R/run/cloud-init"
touch "$R/run/cloud-init/enabled"
# A fresh machine's name until cloud-init sets the droplet's from the metadata (set_hostname,
# once per instance). On a later boot of the same disk the name is the one that instance
# wrote to /etc/hostname, which systemd sets at boot (hostname(5)).
if [ -s "$LAB_UPPER/etc/hostname" ]; then hostname "$(head -n 1 "$LAB_UPPER/etc/hostname")"; else hostname localhost; fi

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

# Starts the services a target wants, in name order (no ordering between units is emulated;
# ntppool-reserved-ipv6 sorts before ntpsec, as its Before= asks). Their links point into the
# guest's root, so the link itself is tested, not its target on the host; already-running
# ones are left alone.
start_wanted() {
  local unit
  for unit in "$R/etc/systemd/system/$1.wants"/*.service; do
    [ -L "$unit" ] || [ -e "$unit" ] || continue
    stage "start:$(basename "$unit")" /usr/bin/systemctl start "$(basename "$unit")"
  done
}
# The order of a systemd boot of a cloud image: sysinit.target's units (none in the image; on
# a later boot e.g. the user-data's ntppool-notrack.service) with cloud-init-local, then
# cloud-init (network), then multi-user.target units (ssh, ntpsec if enabled) alongside
# cloud-config and cloud-final.
start_wanted sysinit.target
stage init-local /usr/bin/cloud-init init --local
stage init /usr/bin/cloud-init init
start_wanted multi-user.target
stage modules-config /usr/bin/cloud-init modules --mode config
stage modules-final /usr/bin/cloud-init modules --mode final
# Units enabled by the final stage (e.g. a package installed by `packages:`) start as they would
# at the end of a boot.
start_wanted multi-user.target
echo READY
# Stay PID 1: reap orphans until the lab kills this namespace.
trap '' TERM INT
while :; do
  sleep 3600 &
  wait $!
done
