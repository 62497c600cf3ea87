import type { ApiClient } from "./client";
import type { Created, Inputs, ProviderResource } from "./resource";

interface ApiTag {
  name: string;
  resources: {
    count: number;
    droplets: { count: number };
    images: { count: number };
    volumes: { count: number };
    volume_snapshots: { count: number };
    databases: { count: number };
  };
}

/** Read (resource_tag.go:77-101): GET /v2/tags/{name}; every count comes from `resources`. */
async function readTag(api: ApiClient, name: string): Promise<Record<string, unknown>> {
  const { body } = await api.call<{ tag: ApiTag }>("GET", `/v2/tags/${encodeURIComponent(name)}`);
  const t = body.tag;
  return {
    name: t.name,
    totalResourceCount: t.resources.count,
    dropletsCount: t.resources.droplets.count,
    imagesCount: t.resources.images.count,
    volumesCount: t.resources.volumes.count,
    volumeSnapshotsCount: t.resources.volume_snapshots.count,
    databasesCount: t.resources.databases.count,
  };
}

/**
 * digitalocean.Tag — terraform-provider-digitalocean digitalocean/tag/resource_tag.go:57-75:
 * POST /v2/tags {name}; id = the tag's name; then Read.
 */
export const tag: ProviderResource = {
  type: "digitalocean:index/tag:Tag",
  async create(api: ApiClient, name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ tag: ApiTag }>("POST", "/v2/tags", {
      name: String(inputs.name ?? name),
    });
    const id = body.tag.name;
    return { id, outputs: { ...inputs, ...(await readTag(api, id)) } };
  },
};
