import { type ApiClient, isStatus, waitForState } from "./client";

/**
 * What terraform-provider-digitalocean digitalocean/reservedip/reserved_ip_actions.go shares
 * between ReservedIp and ReservedIpAssignment (v2.95.0 and later).
 */

interface ApiAction {
  id: number;
  status: string;
}

export interface ApiReservedIp {
  ip: string;
  region: { slug: string };
  droplet: { id: number; region: { slug: string } } | null;
  locked?: boolean;
}

/**
 * waitOnDroplet (reserved_ip_actions.go:41-67): GET /v2/droplets/{id}/actions?per_page=50
 * until no action is pending (status other than completed/errored); Delay 3 s,
 * MinTimeout 2 s, Timeout 2 min.
 */
export async function waitOnDroplet(api: ApiClient, dropletId: number): Promise<void> {
  await waitForState(
    {
      what: `droplet ${dropletId} pending events before reserved IP assign`,
      pending: ["waiting"],
      target: ["ready"],
      delay: 3,
      minTimeout: 2,
      timeout: 120,
      refresh: async () => {
        const { body } = await api.call<{ actions: ApiAction[] }>(
          "GET",
          `/v2/droplets/${dropletId}/actions?per_page=50`,
        );
        const pending = body.actions.some(
          (a) => a.status !== "completed" && a.status !== "errored",
        );
        return { result: undefined, state: pending ? "waiting" : "ready" };
      },
    },
    api.timing,
  );
}

/** POST /v2/reserved_ips/{ip}/actions (godo reserved_ips_actions.go Assign/Unassign). */
export async function reservedIpAction(
  api: ApiClient,
  ip: string,
  body: { type: "assign"; droplet_id: number } | { type: "unassign" },
): Promise<number> {
  const r = await api.call<{ action: ApiAction }>("POST", `/v2/reserved_ips/${ip}/actions`, body);
  return r.body.action.id;
}

/**
 * waitForReservedIPReady / waitForReservedIPAssignmentReady (resource_reserved_ip.go:214-232,
 * resource_reserved_ip_assignment.go:125-143): new|in-progress → completed, Delay 10 s,
 * MinTimeout 3 s, Timeout 60 min, NotFoundChecks 60; each refresh
 * GET /v2/reserved_ips/{ip}/actions/{id}, and on 404 GET /v2/reserved_ips/{ip}, accepted when
 * the assignment already shows (newReservedIPActionStateRefreshFunc, reserved_ip_actions.go:96-120).
 */
/**
 * The StateChangeConf both reserved-IP families wait on their assign/unassign actions with
 * (resource_reserved_ip.go:214-232; reservedipv6/resource_reserved_ipv6_assignment.go:123-157):
 * only the refresh differs.
 */
export const RESERVED_IP_ACTION_WAIT = {
  pending: ["new", "in-progress"],
  target: ["completed"],
  delay: 10,
  minTimeout: 3,
  timeout: 60 * 60,
  notFoundChecks: 60,
} as const;

export async function waitForReservedIpAction(
  api: ApiClient,
  ip: string,
  actionId: number,
  dropletId: number | null,
): Promise<void> {
  await waitForState(
    {
      what: `reserved IP ${ip} action ${actionId}`,
      ...RESERVED_IP_ACTION_WAIT,
      refresh: async () => {
        try {
          const { body } = await api.call<{ action: ApiAction }>(
            "GET",
            `/v2/reserved_ips/${ip}/actions/${actionId}`,
          );
          return { result: undefined, state: body.action.status };
        } catch (e) {
          if (!isStatus(e, 404)) throw e;
          const r = await api
            .call<{ reserved_ip: ApiReservedIp }>("GET", `/v2/reserved_ips/${ip}`)
            .catch(() => undefined);
          const got = r?.body.reserved_ip.droplet?.id ?? null;
          return got === dropletId ? { result: undefined, state: "completed" } : undefined;
        }
      },
    },
    api.timing,
  );
}

export async function getReservedIp(api: ApiClient, ip: string): Promise<ApiReservedIp> {
  const { body } = await api.call<{ reserved_ip: ApiReservedIp }>("GET", `/v2/reserved_ips/${ip}`);
  return body.reserved_ip;
}
