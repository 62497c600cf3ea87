import type { ApiClient } from "./client";
import type { Created, Inputs, ProviderResource } from "./resource";

export interface ApiReservedIpv6 {
  ip: string;
  region_slug: string;
  droplet: { id: number; region: { slug: string } } | null;
}

export async function getReservedIpv6(api: ApiClient, ip: string): Promise<ApiReservedIpv6> {
  const { body } = await api.call<{ reserved_ipv6: ApiReservedIpv6 }>(
    "GET",
    `/v2/reserved_ipv6/${ip}`,
  );
  return body.reserved_ipv6;
}

/**
 * digitalocean.ReservedIpv6 — terraform-provider-digitalocean
 * digitalocean/reservedipv6/resource_reserved_ipv6.go: Create (57-74): POST /v2/reserved_ipv6
 * {region_slug}; id = the IP; then Read (76-102): GET /v2/reserved_ipv6/{ip}.
 */
export const reservedIpv6: ProviderResource = {
  type: "digitalocean:index/reservedIpv6:ReservedIpv6",
  async create(api: ApiClient, _name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ reserved_ipv6: ApiReservedIpv6 }>(
      "POST",
      "/v2/reserved_ipv6",
      { region_slug: String(inputs.regionSlug ?? "") },
    );
    const r = await getReservedIpv6(api, body.reserved_ipv6.ip);
    return {
      id: r.ip,
      outputs: {
        ...inputs,
        ip: r.ip,
        urn: `do:reservedipv6:${r.ip}`,
        regionSlug:
          inputs.dropletId !== undefined && r.droplet ? r.droplet.region.slug : r.region_slug,
        ...(r.droplet ? { dropletId: r.droplet.id } : {}),
      },
    };
  },
};
