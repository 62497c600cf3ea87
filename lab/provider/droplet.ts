import { type ApiClient, isStatus, waitForState } from "./client";
import { type Created, type Inputs, type ProviderResource, strings } from "./resource";

interface ApiNetwork {
  ip_address: string;
  type: string;
}

interface ApiDroplet {
  id: number;
  name: string;
  status: string;
  locked: boolean;
  memory: number;
  vcpus: number;
  disk: number;
  created_at: string;
  vpc_uuid?: string;
  features?: string[];
  tags?: string[];
  volume_ids?: string[];
  region: { slug: string };
  size: { slug: string; price_hourly: number; price_monthly: number };
  networks: { v4?: ApiNetwork[]; v6?: ApiNetwork[] };
}

/** resource_droplet.go FindIPv4AddrByType / FindIPv6AddrByType: the first entry of that type. */
const firstOfType = (nets: ApiNetwork[] | undefined, type: string): string =>
  (nets ?? []).find((n) => n.type === type)?.ip_address ?? "";

/** setDropletAttributes (resource_droplet.go:487-542): what a GET puts in state. */
function dropletState(d: ApiDroplet): Record<string, unknown> {
  const ipv4 = firstOfType(d.networks.v4, "public");
  const features = d.features ?? [];
  return {
    name: d.name,
    urn: `do:droplet:${d.id}`,
    region: d.region.slug,
    size: d.size.slug,
    priceHourly: d.size.price_hourly,
    priceMonthly: d.size.price_monthly,
    disk: d.disk,
    vcpus: d.vcpus,
    memory: d.memory,
    status: d.status,
    locked: d.locked,
    createdAt: d.created_at,
    vpcUuid: d.vpc_uuid,
    ipv4Address: ipv4,
    ipv4AddressPrivate: firstOfType(d.networks.v4, "private"),
    ipv6Address: firstOfType(d.networks.v6, "public").toLowerCase(),
    publicNetworking: ipv4 !== "",
    backups: features.includes("backups"),
    ipv6: features.includes("ipv6"),
    privateNetworking: features.includes("private_networking"),
    monitoring: features.includes("monitoring"),
    volumeIds: d.volume_ids ?? [],
    tags: d.tags ?? [],
  };
}

/** expandDropletCreateRequest (resource_droplet.go:326-426): the POST body godo marshals. */
export function dropletCreateRequest(name: string, inputs: Inputs): Record<string, unknown> {
  const image = String(inputs.image ?? "");
  const req: Record<string, unknown> = {
    name: String(inputs.name ?? name),
    region: String(inputs.region ?? ""),
    size: String(inputs.size ?? ""),
    // An image given as a number is an id, anything else a slug (resource_droplet.go:338-343).
    image: /^\d+$/.test(image) ? Number(image) : image,
    // expandSshKeys (resource_droplet.go:1072-1088): numbers are key ids, others fingerprints.
    ssh_keys:
      inputs.sshKeys === undefined
        ? null
        : strings(inputs.sshKeys).map((k) => (/^\d+$/.test(k) ? Number(k) : k)),
    backups: inputs.backups === true,
    ipv6: inputs.ipv6 === true,
    private_networking: inputs.privateNetworking === true,
    monitoring: inputs.monitoring === true,
    tags: strings(inputs.tags),
  };
  if (typeof inputs.userData === "string" && inputs.userData !== "")
    req.user_data = inputs.userData;
  if (inputs.publicNetworking === false) req.public_networking = false;
  if (typeof inputs.dropletAgent === "boolean") req.with_droplet_agent = inputs.dropletAgent;
  if (typeof inputs.vpcUuid === "string" && inputs.vpcUuid !== "") req.vpc_uuid = inputs.vpcUuid;
  const volumes = strings(inputs.volumeIds).filter((v) => v !== "");
  if (volumes.length > 0) req.volumes = volumes.map((id) => ({ id }));
  return req;
}

/** The resource's create timeout (resource_droplet.go:59: schema.DefaultTimeout(60 min)). */
const CREATE_TIMEOUT_S = 60 * 60;

/**
 * digitalocean.Droplet — terraform-provider-digitalocean digitalocean/droplet/resource_droplet.go:
 * Create (428-456): POST /v2/droplets; then waitForDropletAttribute(status: new → active)
 * (922-947: Delay 10 s, MinTimeout 3 s, NotFoundChecks 120), each refresh a
 * GET /v2/droplets/{id} (dropletStateRefreshFunc 951-1000: 404 during create = not yet
 * there; a locked droplet counts as not found). No separate Read: the last refresh set state.
 */
export const droplet: ProviderResource = {
  type: "digitalocean:index/droplet:Droplet",
  async create(api: ApiClient, name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ droplet: ApiDroplet }>(
      "POST",
      "/v2/droplets",
      dropletCreateRequest(name, inputs),
    );
    const id = body.droplet.id;
    const d = await waitForState<ApiDroplet>(
      {
        what: `droplet ${id} status`,
        pending: ["new"],
        target: ["active"],
        delay: 10,
        minTimeout: 3,
        timeout: CREATE_TIMEOUT_S,
        notFoundChecks: 120,
        refresh: async () => {
          try {
            const r = await api.call<{ droplet: ApiDroplet }>("GET", `/v2/droplets/${id}`);
            if (r.body.droplet.locked) return undefined;
            return { result: r.body.droplet, state: r.body.droplet.status };
          } catch (e) {
            if (isStatus(e, 404)) return undefined;
            throw e;
          }
        },
      },
      api.timing,
    );
    return { id: String(id), outputs: { ...inputs, ...dropletState(d) } };
  },
};
