#!/bin/sh
# ntppool-admin-keys.sh: installs the humans' SSH keys (the stack's sshKeyFingerprints) for
# root, between two marker lines of /root/.ssh/authorized_keys. Lines outside the block —
# the deploy key cloud-init installed from the droplet's ssh_keys — are kept as they are.
#
# Pulumi's remote.Command `<member>-admin-keys` sends this text on stdin and runs
#   sh -s -- 'ssh-ed25519 AAAA... alice' 'ssh-rsa AAAA... bob'
# so changing the keys reruns it on the running droplet instead of replacing the droplet
# (the provider's droplet `ssh_keys` is ForceNew). No arguments empties the block: a key
# removed from the stack loses access.
set -eu

fail() {
  printf 'ntppool-admin-keys: FAIL: %s\n' "$1" >&2
  exit 1
}

begin="# ntp-pool sshKeyFingerprints: begin (managed by pulumi up; edits inside are replaced)"
end="# ntp-pool sshKeyFingerprints: end"
for key in "$@"; do
  case $key in
    *"
"*) fail "a key spans several lines" ;;
    ssh-ed25519\ * | ssh-rsa\ * | ecdsa-sha2-*\ * | sk-ssh-ed25519@openssh.com\ * | sk-ecdsa-sha2-*\ *) ;;
    *) fail "not an OpenSSH public key: $(printf '%s' "$key" | cut -c 1-40)" ;;
  esac
done

umask 077
dir=/root/.ssh
file=$dir/authorized_keys
mkdir -p "$dir"
tmp=$(mktemp "$file.XXXXXX")
trap 'rm -f "$tmp"' EXIT
if [ -f "$file" ]; then
  awk -v b="$begin" -v e="$end" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$file" >"$tmp"
fi
{
  printf '%s\n' "$begin"
  for key in "$@"; do printf '%s\n' "$key"; done
  printf '%s\n' "$end"
} >>"$tmp"
chmod 600 "$tmp"
mv "$tmp" "$file"
trap - EXIT
printf '{"check":"admin-keys","keys":%d}\n' "$#"
