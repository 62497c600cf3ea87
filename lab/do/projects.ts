import { randomUUID } from "node:crypto";
import type { Cloud, ProjectRecord } from "./cloud";
import {
  ApiError,
  addReads,
  bodyObject,
  created,
  noContent,
  notFound,
  ok,
  paginate,
  type Request,
  type Router,
  unprocessable,
} from "./core";
import { projectOf } from "./reservedIps";

/**
 * Projects and their resources (godo projects.go; TF project/; docs/digitalocean-api.md#projects and the two sections after #projects-keep-the-floating-ip-name).
 * Droplets and reserved IPs carry their project; an assigned reserved IP is listed in its
 * droplet's project. Listings name reserved IPv4 `do:floatingip:<ip>` whatever URN assigned
 * it ("Floating IPs retrieved using the Projects API will retain the original name", OAS
 * DigitalOcean-public.v2.yaml:311).
 */

/** OAS resources/projects/models/project.yml:37-57; anything else is stored as "Other: …". */
const PURPOSES = [
  "Just trying out DigitalOcean",
  "Class project / Educational purposes",
  "Website or blog",
  "Web Application",
  "Service or API",
  "Mobile Application",
  "Machine learning / AI / Data processing",
  "IoT",
  "Operational / Developer tooling",
];
/** OAS project.yml:58-65 (TF sends "" when unset). */
const ENVIRONMENTS = ["Development", "Staging", "Production", ""];

/** OAS shared/responses precondition_failed.yml:17; TF retries on this text (project/resource_project.go). */
const PROJECT_NOT_EMPTY =
  "cannot delete a project with resources. move or remove the resources first";
/** Observed in TF issues #445 and #1264 (docs/digitalocean-api.md#moving-an-assigned-reserved-ip). */
const MOVE_ASSIGNED_IP =
  "Cannot move a Reserved IP with an associated Droplet. Move the Droplet instead";

function renderProject(cloud: Cloud, p: ProjectRecord): Record<string, unknown> {
  return {
    id: p.id,
    owner_uuid: cloud.account.uuid,
    owner_id: cloud.ownerId,
    name: p.name,
    description: p.description,
    purpose: p.purpose,
    environment: p.environment,
    is_default: p.id === cloud.defaultProjectId,
    created_at: p.createdAt,
    updated_at: p.updatedAt,
  };
}

function findProject(cloud: Cloud, id: string | undefined): ProjectRecord {
  const p = cloud.projects.get(id === "default" ? cloud.defaultProjectId : (id ?? ""));
  if (!p) throw notFound();
  return p;
}

/** The URNs listed in a project, in DigitalOcean's naming. */
function projectUrns(cloud: Cloud, projectId: string): string[] {
  const urns: string[] = [];
  for (const d of cloud.droplets.values())
    if (d.projectId === projectId) urns.push(`do:droplet:${d.id}`);
  for (const r of cloud.reservedIps.values())
    if (projectOf(cloud, r) === projectId) urns.push(`do:floatingip:${r.ip}`);
  // How listings name reserved IPv6 is UNCONFIRMED (docs/digitalocean-api.md#projects-keep-the-floating-ip-name): the godo URN form.
  for (const r of cloud.reservedIpv6.values())
    if (projectOf(cloud, r) === projectId) urns.push(`do:reservedipv6:${r.ip}`);
  for (const urn of cloud.projects.get(projectId)?.others.keys() ?? []) urns.push(urn);
  return urns;
}

function textField(
  b: Record<string, unknown>,
  field: string,
  max: number,
  fallback: string,
): string {
  const v = b[field] ?? fallback;
  if (typeof v !== "string") throw unprocessable(`${field} must be a string`);
  if (v.length > max)
    throw unprocessable(`${field} must be at most ${max} characters (got ${v.length})`);
  return v;
}

function projectFields(b: Record<string, unknown>, current?: ProjectRecord) {
  const name = textField(b, "name", 175, current?.name ?? "");
  if (name === "") throw unprocessable("name is required");
  const purpose = textField(b, "purpose", 255, current?.purpose ?? "");
  if (purpose === "") throw unprocessable("purpose is required");
  const environment = textField(b, "environment", 20, current?.environment ?? "");
  const env = ENVIRONMENTS.find((e) => e.toLowerCase() === environment.toLowerCase());
  if (env === undefined)
    throw unprocessable(
      `environment must be one of Development, Staging, Production (got "${environment}")`,
    );
  return {
    name,
    description: textField(b, "description", 255, current?.description ?? ""),
    purpose:
      PURPOSES.includes(purpose) || purpose.startsWith("Other: ") ? purpose : `Other: ${purpose}`,
    environment: env,
  };
}

/**
 * `POST /v2/projects/{id}/resources`: droplets first (so a droplet and its IP may move in one
 * request — docs/digitalocean-api.md#moving-an-assigned-reserved-ip allows it, real behaviour UNCONFIRMED), then IPs, which
 * get 412 when assigned to a droplet in another project.
 */
function assignResources(cloud: Cloud, req: Request) {
  const p = findProject(cloud, req.params.id);
  const list = bodyObject(req).resources;
  if (!Array.isArray(list) || list.some((u) => typeof u !== "string")) {
    throw unprocessable("resources must be an array of URNs");
  }
  const urns = list as string[];
  const parsed = urns.map((urn) => {
    const m = /^do:([a-z0-9_]+):(.+)$/.exec(urn);
    if (!m) throw unprocessable(`"${urn}" is not a URN of the form do:<type>:<id>`);
    return { urn, kind: m[1] as string, id: m[2] as string };
  });
  // Validate everything before changing anything.
  for (const r of parsed) {
    if (r.kind === "droplet" && !cloud.droplets.has(Number(r.id)))
      throw unprocessable(`${r.urn} was not found`);
    if ((r.kind === "reservedip" || r.kind === "floatingip") && !cloud.reservedIps.has(r.id)) {
      throw unprocessable(`${r.urn} was not found`);
    }
    if (r.kind === "reservedipv6" && !cloud.reservedIpv6.has(r.id))
      throw unprocessable(`${r.urn} was not found`);
  }
  const movedDroplets = new Set(
    parsed.filter((r) => r.kind === "droplet").map((r) => Number(r.id)),
  );
  for (const r of parsed) {
    if (r.kind !== "reservedip" && r.kind !== "floatingip") continue;
    const ip = cloud.reservedIps.get(r.id);
    const d =
      ip?.dropletId === null || ip === undefined ? undefined : cloud.droplets.get(ip.dropletId);
    if (d && d.projectId !== p.id && !movedDroplets.has(d.id)) {
      throw new ApiError(412, "precondition_failed", MOVE_ASSIGNED_IP);
    }
  }
  const at = cloud.iso();
  for (const r of parsed) {
    if (r.kind === "droplet") {
      const d = cloud.droplets.get(Number(r.id));
      if (d) d.projectId = p.id;
    } else if (r.kind === "reservedip" || r.kind === "floatingip") {
      const ip = cloud.reservedIps.get(r.id);
      if (ip) ip.projectId = p.id;
    } else if (r.kind === "reservedipv6") {
      const ip = cloud.reservedIpv6.get(r.id);
      if (ip) ip.projectId = p.id;
    } else {
      for (const q of cloud.projects.values()) q.others.delete(r.urn);
      p.others.set(r.urn, at);
    }
  }
  // Echoes the URNs as sent (godo projects.go AssignResources; OAS assigned_resources_list.yml).
  return ok({
    resources: urns.map((urn) => ({
      urn,
      assigned_at: at,
      links: { self: selfLink(req.origin, urn) },
      status: "assigned",
    })),
  });
}

function selfLink(origin: string, urn: string): string {
  const [, kind, id] = urn.split(":");
  const path: Record<string, string> = {
    droplet: "droplets",
    floatingip: "floating_ips",
    reservedip: "reserved_ips",
    reservedipv6: "reserved_ipv6",
  };
  return `${origin}/v2/${path[kind ?? ""] ?? `${kind}s`}/${id}`;
}

export function registerProjects(router: Router, cloud: Cloud): void {
  const res = "projects";
  router.add("POST", "/v2/projects", res, (req) => {
    const at = cloud.iso();
    const p: ProjectRecord = {
      id: randomUUID(),
      ...projectFields(bodyObject(req)),
      isDefault: false,
      createdAt: at,
      updatedAt: at,
      others: new Map(),
    };
    if ([...cloud.projects.values()].some((q) => q.name === p.name)) {
      throw unprocessable(`a project named "${p.name}" already exists`);
    }
    cloud.projects.set(p.id, p);
    return created({ project: renderProject(cloud, p) });
  });
  addReads(router, {
    path: "/v2/projects",
    resource: res,
    listKey: "projects",
    itemKey: "project",
    all: () => cloud.projects.values(),
    find: (id) => findProject(cloud, id),
    render: (p) => renderProject(cloud, p),
  });
  for (const method of ["PATCH", "PUT"]) {
    router.add(method, "/v2/projects/:id", res, (req) => {
      const p = findProject(cloud, req.params.id);
      const b = bodyObject(req);
      Object.assign(p, projectFields(b, p), { updatedAt: cloud.iso() });
      if (b.is_default === true) cloud.defaultProjectId = p.id;
      return ok({ project: renderProject(cloud, p) });
    });
  }
  router.add("DELETE", "/v2/projects/:id", res, (req) => {
    const p = findProject(cloud, req.params.id);
    if (p.id === cloud.defaultProjectId)
      throw unprocessable("the default project cannot be deleted");
    if (projectUrns(cloud, p.id).length > 0)
      throw new ApiError(412, "precondition_failed", PROJECT_NOT_EMPTY);
    cloud.projects.delete(p.id);
    return noContent;
  });
  router.add("GET", "/v2/projects/:id/resources", res, (req) => {
    const p = findProject(cloud, req.params.id);
    const list = projectUrns(cloud, p.id).map((urn) => ({
      urn,
      assigned_at: p.others.get(urn) ?? p.createdAt,
      links: { self: selfLink(req.origin, urn) },
      status: "ok",
    }));
    return paginate(req, "resources", list);
  });
  router.add("POST", "/v2/projects/:id/resources", res, (req) => assignResources(cloud, req));
}
