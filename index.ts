import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { loadFleetConfig } from "./components/config";
import { PoolServer } from "./components/PoolServer";
import { preflight } from "./components/preflight";

const fleet = loadFleetConfig();

/** Checks that need the cloud first (components/preflight.ts), then one PoolServer each. */
async function deploy() {
  const checked = await preflight(fleet);
  const servers = fleet.members.map(
    (member) =>
      new PoolServer(member.name, {
        member,
        sshSourceCidrs: fleet.sshSourceCidrs,
        adminPublicKeys: checked.adminPublicKeys,
        tags: fleet.tags,
        protectReservedIp: fleet.protectReservedIp,
        verifyTimeoutSeconds: fleet.verifyTimeoutSeconds,
        requireIpv6OutsideCheck: fleet.requireIpv6OutsideCheck,
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

  return pulumi
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
}

/** One entry per member, keyed by name: what `npm run pool -- register` reads. */
export const members = pulumi.output(deploy());
