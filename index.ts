import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { loadFleetConfig } from "./components/config";
import { PoolServer } from "./components/PoolServer";

const fleet = loadFleetConfig();

const servers = fleet.members.map(
  (member) =>
    new PoolServer(member.name, {
      member,
      sshSourceCidrs: fleet.sshSourceCidrs,
      sshKeyFingerprints: fleet.sshKeyFingerprints,
      tags: fleet.tags,
      protectReservedIp: fleet.protectReservedIp,
      verifyTimeoutSeconds: fleet.verifyTimeoutSeconds,
    }),
);

if (fleet.projectName !== undefined) {
  new digitalocean.Project("fleet-project", {
    name: fleet.projectName,
    purpose: "Service or API",
    description: "NTP Pool Project members (ntp-pool)",
    resources: servers.flatMap((s) => s.projectResources),
  });
}

/** One entry per member, keyed by name: what `npm run pool -- register` reads. */
export const members = pulumi
  .all(
    servers.map((s) =>
      pulumi.all({
        name: s.name,
        region: s.region,
        ipv4: s.ipv4,
        ipv6: s.ipv6.apply((v6) => v6 ?? null),
        dropletId: s.dropletId,
        upstreams: [...s.upstreams],
        registration: s.registration,
        verification: s.verification,
      }),
    ),
  )
  .apply((entries) => Object.fromEntries(entries.map((e) => [e.name, e])));
