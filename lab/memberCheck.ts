import { join } from "node:path";
import { parseNtpqPeers } from "../verify/parse";
import type { Droplet } from "./droplet";
import { run, sleep } from "./exec";
import type { Lab } from "./lab";
import type { MemberOutput, MemberReport } from "./report";

/** What cloud-init itself recorded per module (from its log), for the report. */
export interface ModuleResult {
  readonly stage: string;
  readonly module: string;
  readonly result: "SUCCESS" | "FAIL" | "SKIP";
  readonly detail: string;
}

/** Parses cloud-init's log for per-module results ("finish: <stage>/config-<module>: ..."). */
export function parseModuleResults(log: string): ModuleResult[] {
  const out: ModuleResult[] = [];
  const re = /finish: ([\w-]+)\/config-([\w-]+): (SUCCESS|FAIL): (.*)$/gm;
  for (const m of log.matchAll(re)) {
    out.push({
      stage: m[1] as string,
      module: m[2] as string,
      result: m[3] as "SUCCESS" | "FAIL",
      detail: (m[4] as string).trim(),
    });
  }
  return out;
}

/** ntpq's peer table inside the droplet (ntpq's output, never its exit code). */
async function peersInside(d: Droplet): Promise<string> {
  try {
    const r = await run(d.enterArgv(["ntpq", "-n", "-c", "peers"]), { timeoutMs: 15000 });
    return r.stdout + r.stderr;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Why a member never answered synchronised, read from ntpq's peer table inside it. */
export function whyUnsynchronised(peers: string, booted: boolean): string {
  let reach: number[] = [];
  try {
    const table = parseNtpqPeers(peers);
    if (table.ok) reach = table.value.map((p) => p.reach);
  } catch {
    // Not a peer table (ntpq missing, the droplet gone): ntpd is not answering.
  }
  if (reach.length > 0 && reach.every((r) => r === 0))
    return `upstreams unreachable from the droplet: reach 0 for all ${reach.length} servers (firewall? upstreams down?)`;
  if (reach.length === 0)
    return `ntpd is not answering inside the droplet${booted ? "" : " (boot did not finish)"}`;
  return "not synchronised";
}

/** Waits for the member's boot, then measures it from outside (politely: one query per 2 s). */
export async function checkMember(
  lab: Lab,
  m: MemberOutput,
  commands: readonly { name: string; status: string }[],
  timeoutSeconds: number,
  log: (msg: string) => void,
): Promise<MemberReport> {
  const d = lab.realiser.droplet(m.dropletId, `members.${m.name}.dropletId`);
  const mine = commands.filter((c) => c.name.startsWith(`${m.name}-`));
  const rep: MemberReport = {
    name: m.name,
    reservedIpv4: m.ipv4,
    reservedIpv6: m.ipv6,
    dropletId: m.dropletId,
    bootSeconds: null,
    syncSeconds: null,
    stratum: null,
    offset: null,
    verification: { present: mine.length > 0, ok: false, detail: "" },
    cloudInit: { stages: [], modules: [] },
  };
  const deadline = d.t0 + timeoutSeconds * 1000;
  const boot = await Promise.race([
    d.booted,
    sleep(Math.max(0, deadline - Date.now())).then(() => undefined),
  ]);
  rep.cloudInit.stages = [...d.stages];
  rep.logs = join(lab.reportDir, d.spec.name);
  rep.cloudInit.modules = parseModuleResults(
    d.readGuestFile(lab.image.root, "var/log/cloud-init.log") ?? "",
  );
  if (boot?.ok) {
    rep.bootSeconds = boot.seconds;
    log(`${m.name}: boot finished in ${boot.seconds.toFixed(1)} s`);
  }
  const failedStages = d.stages.filter((s) => s.rc !== 0).map((s) => `${s.name} (rc ${s.rc})`);
  while (Date.now() < deadline) {
    const q = await lab.deployer.queryFromOutside(m.ipv4);
    if (
      q &&
      q.stratum >= 1 &&
      q.stratum <= 15 &&
      q.leap !== "alarm" &&
      q.leap !== "unsynchronized"
    ) {
      rep.syncSeconds = d.syncSeconds ?? (Date.now() - d.t0) / 1000;
      rep.stratum = q.stratum;
      rep.offset = q.offset;
      break;
    }
    await sleep(2000);
  }
  const verified = mine.every((c) => c.status === "emulated");
  if (rep.syncSeconds === null) {
    const peers = await peersInside(d);
    rep.peersInside = peers;
    rep.verification = {
      present: mine.length > 0,
      ok: false,
      detail: `no synchronised answer from ${m.ipv4} within ${timeoutSeconds} s: ${whyUnsynchronised(peers, boot !== undefined)}${failedStages.length ? `; failed boot steps: ${failedStages.join(", ")}` : ""}`,
    };
  } else if (failedStages.length > 0) {
    rep.verification = {
      present: mine.length > 0,
      ok: false,
      detail: `failed boot steps: ${failedStages.join(", ")}`,
    };
  } else {
    rep.verification = {
      present: mine.length > 0,
      ok: verified,
      detail:
        mine.length > 0
          ? `verification commands passed (${mine.map((c) => c.name).join(", ")})`
          : "verification commands absent from the program; the lab's own check: synchronised answer from outside",
    };
  }
  log(`${m.name}: ${rep.verification.ok ? "OK" : "FAILED"}: ${rep.verification.detail}`);
  return rep;
}
