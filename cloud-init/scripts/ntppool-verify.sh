#!/bin/sh
# ntppool-verify.sh: the on-droplet post-deploy check of an NTP Pool member (issue 3).
#
# Pulumi's remote.Command sends this text on stdin and runs
#   sh -s -- --timeout 600 --upstream ntp1.example --upstream ntp2.example ...
# so nothing is installed on the droplet, and a change here re-runs the check without
# touching user-data (which would replace the droplet).
#
# It passes when, within the timeout:
#   1. cloud-init has finished without errors (`cloud-init status --wait`: 0 ok, 1 error;
#      newer releases also 2 = finished with recoverable errors -> a warning here);
#   2. ntpd answers ntpq on 127.0.0.1 and is synchronised: leap != 11, stratum 2..5 (the
#      pool's add form accepts 1..5; ours sync from upstreams so >= 2), a system peer ("*"
#      or "o" in `ntpq -pn`), and at least --min-reachable (default 3) upstreams with a
#      non-zero reach register;
#   3. the leap-second file ntpd loaded (`expire=` in `ntpq -c rv`) has not expired
#      (RFC 8633 §3.7; Debian 12's original tzdata file expired on 2026-06-28);
#   4. with --reserved-ipv6 ADDR: ADDR is configured in the guest (DigitalOcean routes a
#      reserved IPv6 to the droplet but never configures it; the user-data's unit adds it at
#      boot, before the address is assigned, so this holds in both verification phases and
#      proves it even where the deployer has no IPv6 to check it from outside).
# Then it asks each upstream once with `ntpdate -q` (diagnostics, never a failure).
#
# ntpq exits 0 when nothing answers, so only its OUTPUT is judged. The loop polls the local
# daemon every --interval seconds (default 2); ntpq to 127.0.0.1 is exempt from `limited`.
#
# Output: progress on stderr; on success the last stdout line is one JSON object (see
# docs/verification.md#the-verification-output). On failure: exit 1 and "ntppool-verify: FAIL: <what is missing>".
set -u

timeout_s=600
interval_s=2
min_reachable=3
# Seconds ntpd may stay unreachable after cloud-init finished before "ntpd not running".
not_running_grace_s=30
# Upstreams further than this from the member's synchronised clock are named as wrong: above
# 100 ms a pool monitor scores under +0.5 per check (the outside check's fail bound).
disagree_ms=100
upstreams=""
n_up=0
reserved_ipv6=""
warnings=""

log() { printf 'ntppool-verify: %s\n' "$*" >&2; }
fail() {
  printf 'ntppool-verify: FAIL: %s\n' "$1" >&2
  shift
  # Further arguments are detail lines (each may hold several lines).
  for detail in "$@"; do
    [ -n "$detail" ] && printf '%s\n' "$detail" | sed 's/^/  /' >&2
  done
  exit 1
}
warn() {
  log "warning: $1"
  warnings="$warnings$1
"
}
now() { date -u +%s; }

is_uint() {
  case $1 in '' | *[!0-9]*) return 1 ;; *) return 0 ;; esac
}

# JSON string literal: escape backslash and quote, drop control characters.
json_str() {
  printf '"%s"' "$(printf '%s' "$1" | tr '\t\n\r' '   ' | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g')"
}

# JSON number or null: ntpq's numbers look like -0.012981 or 2.
json_num() {
  case $1 in
    '' | *[!0-9.+-]* | *.*.* | ?*[+-]*) printf 'null' ;;
    *) printf '%s' "$1" ;;
  esac
}

while [ $# -gt 0 ]; do
  case $1 in
    --timeout | --interval | --min-reachable | --upstream | --reserved-ipv6)
      [ $# -ge 2 ] || fail "option $1 needs a value"
      case $1 in
        --timeout) timeout_s=$2 ;;
        --interval) interval_s=$2 ;;
        --min-reachable) min_reachable=$2 ;;
        --reserved-ipv6)
          case $2 in
            '' | *[!0-9A-Fa-f:]*) fail "--reserved-ipv6: '$2' is not an IPv6 address" ;;
          esac
          reserved_ipv6=$2
          ;;
        --upstream)
          # Host names and IP literals only: the names end up in messages and JSON.
          case $2 in
            '' | -* | *[!A-Za-z0-9.:-]*) fail "--upstream: '$2' is not a host name or IP address" ;;
          esac
          upstreams="$upstreams$2
"
          n_up=$((n_up + 1))
          ;;
      esac
      shift 2
      ;;
    *) fail "unknown argument '$1' (expected --timeout N, --interval N, --min-reachable N, --upstream HOST, --reserved-ipv6 ADDR)" ;;
  esac
done
is_uint "$timeout_s" || fail "--timeout must be whole seconds, got '$timeout_s'"
{ is_uint "$interval_s" && [ "$interval_s" -ge 1 ]; } || fail "--interval must be whole seconds >= 1, got '$interval_s'"
is_uint "$min_reachable" || fail "--min-reachable must be a whole number, got '$min_reachable'"

start=$(now)
deadline=$((start + timeout_s))
remaining() { r=$((deadline - $(now))); [ "$r" -gt 0 ] || r=0; echo "$r"; }

for tool in awk sed tr timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not installed (coreutils/mawk provide them)"
done

# --- 1. cloud-init --------------------------------------------------------------------
cloud_init=absent
# Everything after "detail:" (22.4.2 puts it on the next lines, newer releases on the
# same line), joined with "; ".
ci_detail() {
  printf '%s\n' "$1" | awk '
    d { if ($0 != "") out = out (out == "" ? "" : "; ") $0; next }
    /^detail:/ { d = 1; sub(/^detail:[ \t]*/, ""); if ($0 != "") out = $0 }
    END { print substr(out, 1, 600) }'
}
if command -v cloud-init >/dev/null 2>&1; then
  log "waiting for cloud-init (at most $(remaining) s)"
  ci_out=$(timeout "$(remaining)" cloud-init status --wait --long 2>&1)
  ci_rc=$?
  case $ci_rc in
    0) cloud_init="done" ;;
    2)
      cloud_init=recoverable-errors
      warn "cloud-init finished with recoverable errors: $(ci_detail "$ci_out")"
      ;;
    124) fail "cloud-init did not finish within $timeout_s s ($(printf '%s\n' "$ci_out" | grep '^status:' | tail -n 1))" ;;
    *) fail "cloud-init failed: $(ci_detail "$ci_out")" "see /var/log/cloud-init-output.log and: cloud-init status --long" ;;
  esac
  log "cloud-init: $cloud_init"
else
  warn "cloud-init not installed: its status was not checked"
fi
# Only now: ntpsec itself is installed by cloud-init, so SSH can log in before it exists.
command -v ntpq >/dev/null 2>&1 || fail "ntpq not installed (package ntpsec provides it)"

# --- 2. ntpd synchronised -------------------------------------------------------------
rv_get() { printf '%s\n' "$rv" | tr ',' '\n' | sed -n "s/^[ ]*$1=//p" | head -n 1 | tr -d '"'; }

# Reads $peers (ntpq -pn); sets peer_rows, reach_rows, sys_peer, unreached. Column 7 is
# the reach register; the tally code is the first character of a row.
peers_awk() {
  printf '%s\n' "$peers" | awk -v want="$1" '
    t && NF >= 10 {
      tally = substr($0, 1, 1); split(substr($0, 2), f, " ")
      rows++
      if (f[7] != "0") reached++; else unreached = unreached (unreached == "" ? "" : " ") f[1]
      if ((tally == "*" || tally == "o") && sys == "") sys = f[1]
      if (tally == "x") fals = fals (fals == "" ? "" : "\n") f[1] " " f[9]
    }
    /^=+$/ { t = 1 }
    END {
      if (want == "rows") print rows + 0
      else if (want == "reached") print reached + 0
      else if (want == "sys") print sys
      else if (want == "false") { if (fals != "") print fals }
      else print unreached
    }'
}
read_peers() {
  peer_rows=$(peers_awk rows)
  reach_rows=$(peers_awk reached)
  sys_peer=$(peers_awk sys)
  unreached=$(peers_awk unreached)
  falsetickers=$(peers_awk false)
}

# Upstreams more than disagree_ms away from this machine's clock, from query_upstreams's
# up_lines ("host: stratum S, offset O ms, leap"): when ntpd is synchronised that clock is
# the majority's time, so these are the upstreams that are wrong.
disagreeing() {
  printf '%s\n' "$up_lines" | awk -v lim="$disagree_ms" '
    / offset / {
      o = $0; sub(/.* offset /, "", o); sub(/ ms.*/, "", o)
      if (o + 0 > lim || o + 0 < -lim) { h = $1; sub(/:$/, "", h); printf "%s%s (%+.1f ms)", sep, h, o; sep = ", " }
    }'
}

# ntpdate -q each upstream once; sets up_json and up_lines (human-readable).
query_upstreams() {
  up_json=""
  up_lines=""
  up_answered=0
  if ! command -v ntpdate >/dev/null 2>&1; then
    warn "ntpdate not installed (package ntpsec-ntpdate): upstreams not queried directly"
    return
  fi
  for u in $upstreams; do
    out=$(ntpdate -q "$u" 2>&1)
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} .* s[0-9]+ ' | tail -n 1)
    if [ -n "$line" ]; then
      # 2026-11-27 07:30:03.366093 (+0000) -0.000078 +/- 0.000140 10.77.0.12 s1 no-leap
      # shellcheck disable=SC2086 # split the fields of ntpdig's answer line
      set -- $line
      st=${8#s}
      off_ms=$(awk -v s="$4" 'BEGIN { printf "%.3f", s * 1000 }')
      up_answered=$((up_answered + 1))
      item="{\"host\":$(json_str "$u"),\"answered\":true,\"stratum\":$(json_num "$st"),\"offsetMs\":$(json_num "$off_ms"),\"leap\":$(json_str "$9")}"
      up_lines="$up_lines$u: stratum $st, offset ${off_ms} ms, $9
"
    else
      why=$(printf '%s\n' "$out" | grep -v 'no eligible servers' | head -n 1 | sed 's/^ntpdig: //')
      [ -n "$why" ] || why="no answer"
      item="{\"host\":$(json_str "$u"),\"answered\":false,\"error\":$(json_str "$why")}"
      up_lines="$up_lines$u: $why
"
    fi
    up_json="$up_json${up_json:+,}$item"
  done
}

log "waiting for ntpd to synchronise (at most $(remaining) s)"
synced_at=""
not_running_since=""
while :; do
  rv=$(ntpq -c rv 2>&1)
  peers=$(ntpq -pn 2>&1)
  state=ok
  case "$rv$peers" in
    *"***Socket error"*) state=not-running ;;
    *"***Request timed out"*) state=no-answer ;;
  esac
  if [ "$state" = ok ]; then
    not_running_since=""
    leap=$(rv_get leap)
    stratum=$(rv_get stratum)
    read_peers
    total=$n_up
    [ "$total" -gt 0 ] || total=$peer_rows
    if [ "$leap" != 11 ] && is_uint "$stratum" && [ "$stratum" -ge 2 ] && [ "$stratum" -le 5 ] &&
      [ -n "$sys_peer" ] && [ "$reach_rows" -ge "$min_reachable" ]; then
      synced_at=$(now)
      break
    fi
  elif [ "$state" = not-running ]; then
    [ -n "$not_running_since" ] || not_running_since=$(now)
  fi
  t=$(now)
  if [ "$state" = not-running ] && [ $((t - not_running_since)) -ge "$not_running_grace_s" ]; then
    hint=""
    command -v systemctl >/dev/null 2>&1 && hint="systemctl is-active ntpsec: $(systemctl is-active ntpsec 2>&1)"
    fail "ntpd not running (ntpq on 127.0.0.1: $(printf '%s\n' "$rv" | head -n 1))" "$hint" "see: journalctl -u ntpsec"
  fi
  if [ "$t" -ge "$deadline" ]; then
    waited=$((t - start))
    case $state in
      not-running) fail "ntpd not running (ntpq on 127.0.0.1: socket error)" "see: journalctl -u ntpsec" ;;
      no-answer) fail "ntpd does not answer ntpq on 127.0.0.1 (is 'restrict 127.0.0.1' missing from ntp.conf?)" ;;
    esac
    if [ "$reach_rows" -lt "$min_reachable" ]; then
      query_upstreams
      if [ "$reach_rows" -eq 0 ]; then
        fail "0 of $total upstreams reachable — is outbound UDP 123 allowed?" "$up_lines"
      fi
      fail "$reach_rows of $total upstreams reachable after $waited s (need $min_reachable); not reached: $unreached" "$up_lines"
    fi
    if [ "$leap" = 11 ] || [ -z "$sys_peer" ]; then
      query_upstreams
      # No majority of upstreams agrees (e.g. two of four on a wrong time): ntpd rightly
      # refuses to synchronise; name the upstreams that disagree with this droplet's clock.
      bad=$(disagreeing)
      why=""
      [ -n "$bad" ] && why=" — upstreams disagree: more than $disagree_ms ms from this droplet's clock: $bad"
      fail "ntpd not synchronised after $waited s: leap=$leap stratum=$stratum, $([ -n "$sys_peer" ] && echo "system peer $sys_peer" || echo "no system peer"); $reach_rows of $total upstreams reachable$why" \
        "ntpq -pn:" "$(printf '%s\n' "$peers" | tr '\n' '|')" "$up_lines"
    fi
    fail "ntpd is at stratum $stratum; the pool accepts only 1-5 (are the upstreams stratum 4 or worse?)"
  fi
  sleep "$interval_s"
done
log "synchronised after $((synced_at - start)) s: stratum $stratum, system peer $sys_peer, $reach_rows of $total upstreams reachable"

# --- 3. leap-second file --------------------------------------------------------------
expire=$(rv_get expire)
last_leap=$(rv_get leapsec)
[ -n "$expire" ] || fail "ntpd loaded no leap-second file (no expire= in ntpq -c rv): add 'leapfile /usr/share/zoneinfo/leap-seconds.list' to ntp.conf"
case $expire in
  [0-9][0-9][0-9][0-9]-[0-1][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]Z) ;;
  *) fail "leap-second file: cannot read its expiry '$expire' from ntpq -c rv" ;;
esac
# Same fixed-width UTC format on both sides, so a string comparison orders them.
today=$(date -u +%Y-%m-%dT%H:%MZ)
if [ "$(printf '%s\n%s\n' "$expire" "$today" | LC_ALL=C sort | head -n 1)" = "$expire" ] && [ "$expire" != "$today" ]; then
  fail "leap-second file expired on $expire (ntpd loaded it; RFC 8633 §3.7)" \
    "install a current tzdata (apt-get install tzdata) and restart ntpsec"
fi
# A file is published ~6 months ahead; under 30 days left means tzdata is not being updated.
exp_s=$(date -u -d "$(printf '%s' "$expire" | sed 's/T/ /; s/Z$//')" +%s 2>/dev/null || echo "")
if is_uint "$exp_s" && [ $((exp_s - $(now))) -lt $((30 * 86400)) ]; then
  warn "leap-second file expires on $expire (in under 30 days): is tzdata being updated?"
fi

# --- 4. reserved IPv6 configured in the guest -----------------------------------------
if [ -n "$reserved_ipv6" ]; then
  command -v ip >/dev/null 2>&1 || fail "ip not installed (package iproute2 provides it)"
  # `ip -6 addr show to ADDR/128` prints the interface holding exactly that address.
  if [ -z "$(ip -6 -o addr show to "$reserved_ipv6/128" 2>/dev/null)" ]; then
    fail "reserved IPv6 $reserved_ipv6 is not configured in the guest (DigitalOcean routes it but never adds it)" \
      "the user-data's ntppool-reserved-ipv6.service adds it at boot: systemctl status ntppool-reserved-ipv6" \
      "ip -6 addr: $(ip -6 -o addr show 2>&1 | awk '{print $2, $4}' | tr '\n' ' ')"
  fi
  log "reserved IPv6 $reserved_ipv6 is configured"
fi

# --- 5. upstreams, directly -----------------------------------------------------------
query_upstreams
# A falseticker among the upstreams: ntpd outvoted it (it follows the majority), but the
# operator should replace it. ntpq -pn marks it "x"; ntpdate -q from here (this clock is now
# the majority's time) shows how far off it is.
peers=$(ntpq -pn 2>&1)
read_peers
if [ -n "$falsetickers" ]; then
  old_ifs=$IFS
  IFS='
'
  for f in $falsetickers; do
    warn "upstream ${f%% *} is a falseticker (ntpq -pn tally 'x', offset ${f#* } ms): ntpd does not follow it; replace it"
  done
  IFS=$old_ifs
fi
bad=$(disagreeing)
[ -n "$bad" ] && warn "upstreams more than $disagree_ms ms from the time this member keeps: $bad"
# An upstream that answers nothing usable (unsynchronised: kiss INIT; rate-limiting this
# member: kiss RATE; or silent) leaves the member with fewer sources than configured.
unusable=$(printf '%s\n' "$up_lines" | grep -v ' offset .* ms' | grep -v '^$')
if [ -n "$unusable" ]; then
  old_ifs=$IFS
  IFS='
'
  # ntpdig repeats the host in its message ("h: h: Response dropped ..."): once is enough.
  for l in $unusable; do
    warn "upstream $(printf '%s' "$l" | sed 's/^\([^:]*\): \1: /\1: /') (ntpdate -q from the member)"
  done
  IFS=$old_ifs
fi
if [ -n "$upstreams" ] && command -v ntpdate >/dev/null 2>&1 && [ "$up_answered" -lt "$min_reachable" ]; then
  warn "only $up_answered of $n_up upstreams answered ntpdate -q from here"
fi

# --- summary --------------------------------------------------------------------------
offset=$(rv_get offset)
warn_json=""
old_ifs=$IFS
IFS='
'
for w in $warnings; do warn_json="$warn_json${warn_json:+,}$(json_str "$w")"; done
IFS=$old_ifs
printf '{"check":"on-droplet","synced":true,"secondsToSync":%s,"stratum":%s,"leap":%s,"systemPeer":%s,"reachableUpstreams":%s,"upstreamCount":%s,"offsetMs":%s,"leapFileExpires":%s,"lastLeapSecond":%s,"cloudInit":%s,"upstreams":[%s],"warnings":[%s]}\n' \
  "$((synced_at - start))" "$(json_num "$stratum")" "$(json_str "$leap")" "$(json_str "$sys_peer")" \
  "$reach_rows" "$total" "$(json_num "$offset")" "$(json_str "$expire")" "$(json_str "$last_leap")" \
  "$(json_str "$cloud_init")" "$up_json" "$warn_json"
