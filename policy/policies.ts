/**
 * The pack's policies: wiring of the pure rules in ./rules to CrossGuard callbacks. Kept apart
 * from index.ts (which starts the policy server) so tests can call the callbacks directly.
 */
import type { Policies, ReportViolation } from "@pulumi/policy";
import {
  checkDropletUserData,
  checkFirewall,
  checkReservedIps,
  checkSshExposure,
  type StackResource,
  TYPES,
} from "./rules";

function report(problems: readonly string[], reportViolation: ReportViolation): void {
  for (const p of problems) {
    reportViolation(p);
  }
}

export const policies: Policies = [
  {
    name: "ntp-firewall-open",
    description:
      "Firewalls allow inbound UDP 123 from 0.0.0.0/0 and ::/0 and outbound UDP 123 to upstreams.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
      if (args.type !== TYPES.firewall) return;
      report(checkFirewall(args.props), reportViolation);
    },
  },
  {
    name: "ssh-not-world-open",
    description: "SSH (TCP 22) should not be reachable from the whole internet.",
    enforcementLevel: "advisory",
    validateResource: (args, reportViolation) => {
      if (args.type !== TYPES.firewall) return;
      report(checkSshExposure(args.props), reportViolation);
    },
  },
  {
    name: "ntp-conf-pool-rules",
    description:
      "Droplet user-data writes an ntp.conf with 4-7 `server` upstreams, no `burst`, no *.pool.ntp.org, and `noquery` on `restrict default`.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
      if (args.type !== TYPES.droplet) return;
      report(checkDropletUserData(args.props), reportViolation);
    },
  },
  {
    name: "droplet-has-reserved-ip",
    description: "Every droplet has a reserved IPv4: the address the pool knows for years.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
      const resources: StackResource[] = args.resources.map((r) => ({
        type: r.type,
        urn: r.urn,
        name: r.name,
        props: r.props,
        propertyDependencies: Object.fromEntries(
          Object.entries(r.propertyDependencies).map(([k, deps]) => [k, deps.map((d) => d.urn)]),
        ),
      }));
      report(checkReservedIps(resources), reportViolation);
    },
  },
];
