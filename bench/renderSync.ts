/** Part 1a of BENCHMARKS.md, daemon start → synchronised: its summary row and every run. */
import { fmtSummary, markdownTable } from "./renderFormat";
import type { SyncResults } from "./results";

export function syncRow(
  label: string,
  s: SyncResults | undefined,
  a: "ntpsec" | "ntpsec-default-tos",
  note: string,
): string[] {
  return [
    label,
    fmtSummary(s?.summary[a]),
    a === "ntpsec" ? fmtSummary(s?.summary.chrony) : "—",
    note,
  ];
}

export function syncSection(s: SyncResults): string {
  const rows = s.runs.map((x, i) => [
    String(i + 1),
    x.variant,
    x.seconds.toFixed(2),
    x.pollSeconds.toFixed(2),
  ]);
  return [
    "### 1a. Daemon start → synchronised, every run",
    "",
    "4 NTPsec orphan-mode stratum-1 upstreams in their own namespaces (`tos orphan 1`), one",
    "member namespace per daemon, runs interleaved. NTPsec gets OUR ntp.conf",
    "(`cloud-init/ntpConf.ts renderNtpConf`, only the drift and leap file paths moved into",
    "the scratch dir; the leap file is the host's with a fresh expiry) and the deployed",
    "options `-g -N`. chrony 4.3 (Debian package, extracted) gets the same servers with",
    "`iburst`, `minsources 3` (= `tos minsane 3`), `allow`, `ratelimit`; it runs with `-x`.",
    "Both run under `capsh --drop=cap_sys_time`. Synchronised = leap ≠ 11, stratum 2, a system",
    "peer (`ntpq -c rv -c peers` / `chronyc tracking` + `sources`), polled on loopback; the",
    "time is the middle of the first synchronised poll.",
    "",
    markdownTable(["#", "variant", "seconds", "poll period s"], rows),
  ].join("\n");
}
