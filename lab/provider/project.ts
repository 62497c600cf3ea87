import type { ApiClient } from "./client";
import { type Created, type Inputs, type ProviderResource, strings } from "./resource";

interface ApiProject {
  id: string;
  name: string;
  description: string;
  purpose: string;
  environment: string;
  is_default: boolean;
  owner_uuid: string;
  owner_id: number;
  created_at: string;
  updated_at: string;
}

interface Page {
  links?: { pages?: { next?: string } };
}

/**
 * LoadResourceURNs (digitalocean/project/projects.go:124-157): GET
 * /v2/projects/{id}/resources?page=N&per_page=200 while the answer has a next page.
 */
async function loadResourceUrns(api: ApiClient, projectId: string): Promise<string[]> {
  const urns: string[] = [];
  for (let page = 1; ; page++) {
    const { body } = await api.call<{ resources: { urn: string }[] } & Page>(
      "GET",
      `/v2/projects/${projectId}/resources?page=${page}&per_page=200`,
    );
    urns.push(...body.resources.map((r) => r.urn));
    if (!body.links?.pages?.next) return urns;
  }
}

/**
 * digitalocean.Project — terraform-provider-digitalocean digitalocean/project/resource_project.go:
 * Create (104-167): POST /v2/projects {name, purpose, description, environment}; with
 * resources, POST /v2/projects/{id}/resources {resources: [urn...]}; with is_default, PATCH
 * /v2/projects/{id}; then Read (169-223): GET /v2/projects/{id} and the resource URNs, which
 * become state as listed (the API lists reserved IPs as do:floatingip:..., docs/digitalocean-api.md#projects-keep-the-floating-ip-name).
 */
export const project: ProviderResource = {
  type: "digitalocean:index/project:Project",
  async create(api: ApiClient, name: string, inputs: Inputs): Promise<Created> {
    const req: Record<string, unknown> = {
      name: String(inputs.name ?? name),
      purpose: String(inputs.purpose ?? ""),
    };
    if (inputs.description) req.description = String(inputs.description);
    if (inputs.environment) req.environment = String(inputs.environment);
    const { body } = await api.call<{ project: ApiProject }>("POST", "/v2/projects", req);
    const p = body.project;
    const resources = strings(inputs.resources).filter((u) => u !== "");
    if (resources.length > 0) {
      try {
        await api.call("POST", `/v2/projects/${p.id}/resources`, { resources });
      } catch (e) {
        // On an assignment error the provider deletes the project it made, then fails.
        await api.call("DELETE", `/v2/projects/${p.id}`).catch(() => undefined);
        throw new Error(
          `Error creating Project: Error assigning resources: ${(e as Error).message}`,
        );
      }
    }
    if (inputs.isDefault === true)
      await api.call("PATCH", `/v2/projects/${p.id}`, {
        name: p.name,
        description: p.description,
        purpose: p.purpose,
        environment: p.environment,
        is_default: true,
      });
    const { body: read } = await api.call<{ project: ApiProject }>("GET", `/v2/projects/${p.id}`);
    const r = read.project;
    return {
      id: r.id,
      outputs: {
        ...inputs,
        name: r.name,
        purpose: r.purpose.replace(/^Other: /, ""),
        description: r.description,
        environment: r.environment,
        isDefault: r.is_default,
        ownerUuid: r.owner_uuid,
        ownerId: r.owner_id,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
        resources: await loadResourceUrns(api, r.id),
      },
    };
  },
};
