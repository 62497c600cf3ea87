import type { ApiClient } from "./client";
import {
  type ApiReservedIp,
  getReservedIp,
  reservedIpAction,
  waitForReservedIpAction,
  waitOnDroplet,
} from "./reservedIpActions";
import { type Created, type Inputs, intInput, type ProviderResource } from "./resource";

/**
 * digitalocean.ReservedIp — terraform-provider-digitalocean
 * digitalocean/reservedip/resource_reserved_ip.go: Create (56-92): POST /v2/reserved_ips
 * {region}; id = the IP; when droplet_id is set: waitOnDroplet, assign, wait; then Read
 * (134-160): GET /v2/reserved_ips/{ip}.
 */
export const reservedIp: ProviderResource = {
  type: "digitalocean:index/reservedIp:ReservedIp",
  async create(api: ApiClient, _name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ reserved_ip: ApiReservedIp }>("POST", "/v2/reserved_ips", {
      region: String(inputs.region ?? ""),
    });
    const ip = body.reserved_ip.ip;
    const dropletId =
      inputs.dropletId === undefined
        ? undefined
        : intInput("ReservedIp.dropletId", inputs.dropletId);
    if (dropletId !== undefined) {
      await waitOnDroplet(api, dropletId);
      const action = await reservedIpAction(api, ip, { type: "assign", droplet_id: dropletId });
      await waitForReservedIpAction(api, ip, action, dropletId);
    }
    const r = await getReservedIp(api, ip);
    const assigned = dropletId !== undefined && r.droplet !== null;
    return {
      id: ip,
      outputs: {
        ...inputs,
        region: assigned ? r.droplet?.region.slug : r.region.slug,
        ...(assigned ? { dropletId: r.droplet?.id } : {}),
        ipAddress: r.ip,
        urn: `do:reservedip:${r.ip}`,
      },
    };
  },
};
