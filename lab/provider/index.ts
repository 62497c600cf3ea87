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

/**
 * The provider this driver mirrors: the `@pulumi/digitalocean` SDK the program is built with
 * (package.json; test/unit/lab/provider-version.test.ts keeps the two equal) and the
 * terraform-provider-digitalocean code its modules were read from (each cites its files).
 * It mirrors only what a first `pulumi up` does — each resource's Create and the data
 * sources the program reads — never an update, a replacement, a delete, or the engine's and
 * the provider's decisions about them (lab/README.md "What the mock-runtime driver does not
 * model"); `--engine pulumi` rehearses those with the real engine and provider.
 */
export const MIRRORED_PROVIDER = {
  sdk: "@pulumi/digitalocean",
  sdkVersion: "4.80.1",
  terraformProvider: "terraform-provider-digitalocean",
  terraformProviderVersion: "v2.99.1",
} as const;

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
