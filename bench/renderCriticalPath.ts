/** Part 4 of BENCHMARKS.md: the critical path on paper, beside the lab's measured boot. */
import { criticalPath, pathTotal } from "./criticalPath";
import { markdownTable } from "./renderFormat";
import type { LabResults } from "./results";

export function criticalPathSection(firstSync: number | null, lab?: LabResults): string {
  const steps = criticalPath(firstSync, {
    precheckAfterSync: lab?.steps?.split?.precheckAfterSync?.median ?? null,
    postcheck: lab?.steps?.split?.postcheck?.median ?? null,
  });
  const total = pathTotal(steps);
  const syncStep = steps.find((s) => s.step.startsWith("ntpd start"));
  const rows = steps.map((s, i) => [
    String(i + 1),
    s.step,
    `${s.low}–${s.high}`,
    s.source,
    s.keptShort,
  ]);
  return [
    "## 4. Deployment critical path, on paper (boot → verified on a real droplet)",
    "",
    "Not measurable here (no DigitalOcean account, no Pulumi CLI): each step names its source.",
    "",
    markdownTable(["#", "step", "seconds", "source", "what keeps it short"], rows),
    "",
    `Serial total: about ${total.low}–${total.high} s (${(total.low / 60).toFixed(1)}–${(total.high / 60).toFixed(1)} min) from \`pulumi up\` creating the droplet to both verification phases passing.`,
    `The first sync is ${Math.round((100 * ((syncStep?.low ?? 0) + (syncStep?.high ?? 0))) / (total.low + total.high))}% of the path; droplet creation and the apt steps dominate.`,
    "",
    labStagesLine(lab),
  ].join("\n");
}

/** The lab's measured boot of the same user-data (first verified run), for comparison. */
export function labStagesLine(lab: LabResults | undefined): string {
  const run = lab?.runs.find((x) => x.ok && x.stages.length > 0);
  if (!run) return "No lab run verified a member in this bench run, so no measured boot is shown.";
  const stages = run.stages.map((s) => `${s.name} ${s.seconds} s`).join(", ");
  return [
    "Measured in the lab on this machine (the same user-data through real cloud-init 22.4.2 in a",
    "debootstrap Debian 12 root; packages come from a LOCAL apt repository, so apt's download",
    `time is missing): ${stages}; droplet created → cloud-init done ${run.bootSeconds?.toFixed(1) ?? "?"} s,`,
    `→ ntpd synchronised ${run.syncSeconds?.toFixed(1) ?? "?"} s; lab start → both verification phases passed ${run.labSeconds?.toFixed(1) ?? "?"} s.`,
  ].join("\n");
}
