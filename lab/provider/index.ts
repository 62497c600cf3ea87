import { getAccount } from "./account";
import { getImages, getRegions, getSizes } from "./catalog";
import { droplet } from "./droplet";
import { firewall } from "./firewall";
import { project } from "./project";
import { reservedIp } from "./reservedIp";
import { reservedIpAssignment } from "./reservedIpAssignment";
import { reservedIpv6 } from "./reservedIpv6";
import { reservedIpv6Assignment } from "./reservedIpv6Assignment";
import type { ProviderInvoke, ProviderResource } from "./resource";
import { sshKey } from "./sshKey";
import { getSshKeys } from "./sshKeys";
import { tag } from "./tag";

/** Every DigitalOcean resource type the driver creates through the API, by Pulumi type. */
export const PROVIDER_RESOURCES: ReadonlyMap<string, ProviderResource> = new Map(
  [
    droplet,
    firewall,
    project,
    reservedIp,
    reservedIpAssignment,
    reservedIpv6,
    reservedIpv6Assignment,
    sshKey,
    tag,
  ].map((r) => [r.type, r]),
);

/** Every DigitalOcean data source the driver reads through the API, by invoke token. */
export const PROVIDER_INVOKES: ReadonlyMap<string, ProviderInvoke> = new Map(
  [getAccount, getSshKeys, getRegions, getSizes, getImages].map((i) => [i.token, i]),
);
