import type { Cloud, TagRecord } from "./cloud";
import {
  addReads,
  bodyObject,
  created,
  noContent,
  notFound,
  type Request,
  type Router,
  stringField,
  unprocessable,
} from "./core";
import { TAG_NAME } from "./droplets";

/**
 * Tags (godo tags.go; TF tag/; docs/digitalocean-api.md#tags). Names are case-stable: the first spelling
 * is canonical and lookups ignore case (OAS resources/tags/models/tags.yml:22-23). Tagging a
 * droplet changes which firewalls cover it, so it re-applies firewalls.
 */

function renderTag(cloud: Cloud, t: TagRecord): Record<string, unknown> {
  const key = t.name.toLowerCase();
  const droplets = [...cloud.droplets.values()].filter((d) =>
    d.tags.some((x) => x.toLowerCase() === key),
  );
  const last = droplets.at(-1);
  const lastUri = last ? `/v2/droplets/${last.id}` : undefined;
  // Every sub-object present: TF reads each count through a pointer (resource_tag.go Read).
  return {
    name: t.name,
    resources: {
      count: droplets.length,
      ...(lastUri ? { last_tagged_uri: lastUri } : {}),
      droplets: { count: droplets.length, ...(lastUri ? { last_tagged_uri: lastUri } : {}) },
      images: { count: 0 },
      volumes: { count: 0 },
      volume_snapshots: { count: 0 },
      databases: { count: 0 },
    },
  };
}

function findTag(cloud: Cloud, name: string | undefined): TagRecord {
  const t = cloud.tags.get((name ?? "").toLowerCase());
  if (!t) throw notFound();
  return t;
}

/** `{"resources":[{"resource_id":"101","resource_type":"droplet"}]}` → droplet ids (godo tags.go). */
function dropletResources(cloud: Cloud, req: Request): number[] {
  const list = bodyObject(req).resources;
  if (!Array.isArray(list) || list.length === 0)
    throw unprocessable("resources must be a non-empty array");
  return list.map((r: unknown, i: number) => {
    const o = (r ?? {}) as Record<string, unknown>;
    if (o.resource_type !== "droplet") {
      throw unprocessable(
        `resources[${i}].resource_type: only "droplet" is emulated (got ${JSON.stringify(o.resource_type)})`,
      );
    }
    const id = Number(o.resource_id);
    if (!cloud.droplets.has(id))
      throw unprocessable(`resources[${i}]: droplet ${String(o.resource_id)} not found`);
    return id;
  });
}

export function registerTags(router: Router, cloud: Cloud): void {
  const res = "tags";
  router.add("POST", "/v2/tags", res, (req) => {
    const name = stringField(bodyObject(req), "name");
    if (!TAG_NAME.test(name))
      throw unprocessable(`name must match ${TAG_NAME.source} (got "${name}")`);
    // An existing tag is returned as is (TF tag/tags.go creates every added tag unconditionally).
    return created({ tag: renderTag(cloud, cloud.ensureTag(name)) });
  });
  addReads(router, {
    path: "/v2/tags",
    resource: res,
    listKey: "tags",
    itemKey: "tag",
    all: () => cloud.tags.values(),
    find: (name) => findTag(cloud, name),
    render: (t) => renderTag(cloud, t),
  });
  router.add("DELETE", "/v2/tags/:name", res, (req) => {
    const t = findTag(cloud, req.params.name);
    const key = t.name.toLowerCase();
    // Deleting a tag untags its resources (OAS tags_delete.yml) and leaves firewalls naming it.
    for (const d of cloud.droplets.values()) d.tags = d.tags.filter((x) => x.toLowerCase() !== key);
    for (const fw of cloud.firewalls.values())
      fw.tags = fw.tags.filter((x) => x.toLowerCase() !== key);
    cloud.tags.delete(key);
    cloud.refreshFirewalls();
    return noContent;
  });
  router.add("POST", "/v2/tags/:name/resources", res, (req) => {
    const t = findTag(cloud, req.params.name);
    for (const id of dropletResources(cloud, req)) {
      const d = cloud.droplets.get(id);
      if (d && !d.tags.some((x) => x.toLowerCase() === t.name.toLowerCase())) d.tags.push(t.name);
    }
    cloud.refreshFirewalls();
    return noContent;
  });
  router.add("DELETE", "/v2/tags/:name/resources", res, (req) => {
    const t = findTag(cloud, req.params.name);
    for (const id of dropletResources(cloud, req)) {
      const d = cloud.droplets.get(id);
      if (d) d.tags = d.tags.filter((x) => x.toLowerCase() !== t.name.toLowerCase());
    }
    cloud.refreshFirewalls();
    return noContent;
  });
}
