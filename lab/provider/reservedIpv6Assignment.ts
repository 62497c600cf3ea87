import { type ApiClient, waitForState } from "./client";
import { RESERVED_IP_ACTION_WAIT } from "./reservedIpActions";
import { prefixedUniqueId } from "./reservedIpAssignment";
import { getReservedIpv6 } from "./reservedIpv6";
import { type Created, type Inputs, intInput, type ProviderResource } from "./resource";

/**
 * digitalocean.ReservedIpv6Assignment — terraform-provider-digitalocean
 * digitalocean/reservedipv6/resource_reserved_ipv6_assignment.go: Create (46-69): no droplet
 * idle wait; POST /v2/reserved_ipv6/{ip}/actions {type: assign, droplet_id}; wait on the
 * global GET /v2/actions/{id} (123-157: new|in-progress → completed, Delay 10 s, MinTimeout
 * 3 s, NotFoundChecks 60); then Read (71-89): GET /v2/reserved_ipv6/{ip}, an error when the
 * IP is not on the droplet.
 */
export const reservedIpv6Assignment: ProviderResource = {
  type: "digitalocean:index/reservedIpv6Assignment:ReservedIpv6Assignment",
  async create(api: ApiClient, _name: string, inputs: Inputs): Promise<Created> {
    const ip = String(inputs.ip);
    const dropletId = intInput("ReservedIpv6Assignment.dropletId", inputs.dropletId);
    const { body } = await api.call<{ action: { id: number } }>(
      "POST",
      `/v2/reserved_ipv6/${ip}/actions`,
      { type: "assign", droplet_id: dropletId },
    );
    const actionId = body.action.id;
    await waitForState(
      {
        what: `reserved IPv6 ${ip} action ${actionId}`,
        ...RESERVED_IP_ACTION_WAIT,
        refresh: async () => {
          const r = await api.call<{ action: { status: string } }>(
            "GET",
            `/v2/actions/${actionId}`,
          );
          return { result: undefined, state: r.body.action.status };
        },
      },
      api.timing,
    );
    const id = prefixedUniqueId(`${dropletId}-${ip}-`);
    const r = await getReservedIpv6(api, ip);
    if (r.droplet === null || r.droplet.id !== dropletId)
      throw new Error(`Error assigning reserved IPv6 ${ip} to dropletID ${dropletId}`);
    return { id, outputs: { ...inputs, ip, dropletId } };
  },
};
