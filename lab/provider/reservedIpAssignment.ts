import { randomBytes } from "node:crypto";
import type { ApiClient } from "./client";
import {
  getReservedIp,
  reservedIpAction,
  waitForReservedIpAction,
  waitOnDroplet,
} from "./reservedIpActions";
import { type Created, type Inputs, intInput, type ProviderResource } from "./resource";

/**
 * The SDK's id.PrefixedUniqueId: prefix + a timestamp-ordered unique suffix (26 characters).
 * Only its shape matters to the lab.
 */
export const prefixedUniqueId = (prefix: string): string =>
  `${prefix}${Date.now().toString().padStart(18, "0")}${randomBytes(4).toString("hex")}`;

/**
 * digitalocean.ReservedIpAssignment — terraform-provider-digitalocean
 * digitalocean/reservedip/resource_reserved_ip_assignment.go: Create (46-71): waitOnDroplet
 * (GET /v2/droplets/{id}/actions?per_page=50 until idle), POST /v2/reserved_ips/{ip}/actions
 * {type: assign, droplet_id}, wait on GET /v2/reserved_ips/{ip}/actions/{id}; id
 * "<droplet>-<ip>-<unique>"; then Read (73-91): GET /v2/reserved_ips/{ip}, the assignment
 * dropped when the IP is on another droplet.
 */
export const reservedIpAssignment: ProviderResource = {
  type: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  async create(api: ApiClient, _name: string, inputs: Inputs): Promise<Created> {
    const ip = String(inputs.ipAddress);
    const dropletId = intInput("ReservedIpAssignment.dropletId", inputs.dropletId);
    await waitOnDroplet(api, dropletId);
    const action = await reservedIpAction(api, ip, { type: "assign", droplet_id: dropletId });
    await waitForReservedIpAction(api, ip, action, dropletId);
    const id = prefixedUniqueId(`${dropletId}-${ip}-`);
    const r = await getReservedIp(api, ip);
    if (r.droplet === null || r.droplet.id !== dropletId)
      throw new Error(
        `ReservedIpAssignment: reserved IP ${ip} is not on droplet ${dropletId} after the assign action (the provider drops the resource from state)`,
      );
    return { id, outputs: { ...inputs, ipAddress: ip, dropletId } };
  },
};
