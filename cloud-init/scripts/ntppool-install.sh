#!/bin/sh
# Installs NTPsec on first boot, after cloud-init has written its configuration.
# Run by cloud-init's runcmd, which comes after `packages:` in the final stage.
set -eu

export DEBIAN_FRONTEND=noninteractive
# Keep the ntp.conf and /etc/default/ntpsec that write_files put in place: dpkg would
# otherwise stop and ask whether to replace an existing configuration file.
APT="apt-get -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-confdef --assume-yes --quiet"

# systemd-timesyncd and ntpsec both provide time-daemon and conflict. On Ubuntu 24.04
# apt refuses to swap them inside one install, so timesyncd goes first, explicitly.
if dpkg-query -W -f='${Status}' systemd-timesyncd 2>/dev/null | grep -q 'ok installed'; then
  systemctl disable --now systemd-timesyncd.service || true
  $APT purge systemd-timesyncd
fi

$APT install ntpsec ntpsec-ntpdate

systemctl daemon-reload
systemctl enable ntppool-notrack.service
systemctl restart ntppool-notrack.service
if [ -f /etc/systemd/system/ntppool-reserved-ipv6.service ]; then
  systemctl enable ntppool-reserved-ipv6.service
  systemctl restart ntppool-reserved-ipv6.service
fi
# systemd-sysctl applied /etc/sysctl.d before cloud-init wrote the UDP buffer setting, so
# apply it before ntpd opens its sockets. It is read-only inside a network namespace or
# container (the lab): there ntpd keeps the default buffer, which is not worth failing for.
sysctl -q -p /etc/sysctl.d/60-ntppool-udp.conf ||
  echo "ntppool-install: warning: could not apply /etc/sysctl.d/60-ntppool-udp.conf; default UDP buffers until the next boot" >&2
systemctl enable ntpsec.service
# The package's postinst may already have started ntpd before every file was final.
systemctl restart ntpsec.service
# Debian and Ubuntu name the OpenSSH unit "ssh"; reload picks up the keys-only drop-in.
systemctl reload ssh.service || systemctl reload sshd.service
