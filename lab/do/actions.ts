import { findRegion } from "./catalog";
import type { ActionRecord, Cloud } from "./cloud";
import { intParam, notFound, ok, paginate, type Router, unprocessable } from "./core";

/**
 * Actions: every asynchronous change (droplet create and power actions, reserved IP
 * assign/unassign) is one, listed globally at `/v2/actions[/{id}]` (godo action.go; the
 * reserved-IPv6 waits and doctl `--wait` poll only there: docs/digitalocean-api.md#actions).
 *
 * Lifecycle (docs/digitalocean-api.md#action-lifecycle): `in-progress` with `completed_at: null`, then `completed` with
 * `completed_at` set — TF's generic wait decides on `completed_at != nil` (TF util/wait.go),
 * doctl on `status` (godo util/droplet.go WaitForActive). A failed realisation gives
 * `errored` (with `completed_at`, so no client waits on it forever).
 */

export function renderAction(a: ActionRecord): Record<string, unknown> {
  const region = findRegion(a.region);
  return {
    id: a.id,
    status: a.status,
    type: a.type,
    started_at: a.startedAt,
    completed_at: a.completedAt,
    resource_id: a.resourceId,
    resource_type: a.resourceType,
    region: region ?? null,
    region_slug: a.region,
    ...(a.projectId !== undefined ? { project_id: a.projectId } : {}),
  };
}

export interface ActionSpec {
  readonly type: string;
  readonly resourceId: number | null;
  readonly resourceType: string;
  readonly resourceKey?: string;
  readonly region: string;
  /** Listed in this droplet's actions. */
  readonly listedOn?: number;
  /** Droplets whose one pending event this action holds (docs/digitalocean-api.md#one-pending-event-per-droplet). */
  readonly locks: readonly number[];
  readonly projectId?: string;
  /** Least time in progress (timings). */
  readonly minMs: number;
}

/** DigitalOcean's answer to a second concurrent action (hashicorp/packer#1814, TF #1034). */
export const PENDING_EVENT = "Droplet already has a pending event.";

/**
 * Starts an action: 422 if a droplet it touches already has a pending event; otherwise the
 * record is `in-progress` at once and `work` runs in the background. `work` realises the
 * change and returns the state change to apply; that commit, `completed` and `completed_at`
 * happen together, no earlier than `minMs` after the start — so the API never shows a
 * change the realiser has not made.
 */
export function startAction(
  cloud: Cloud,
  spec: ActionSpec,
  work: () => Promise<() => void>,
  onError?: () => void,
): ActionRecord {
  for (const d of spec.locks) {
    if (cloud.pendingEvent.has(d)) throw unprocessable(PENDING_EVENT);
  }
  const started = cloud.now();
  const action: ActionRecord = {
    id: cloud.actionId(),
    status: "in-progress",
    type: spec.type,
    startedAt: cloud.iso(),
    completedAt: null,
    resourceId: spec.resourceId,
    resourceType: spec.resourceType,
    region: spec.region,
    ...(spec.resourceKey !== undefined ? { resourceKey: spec.resourceKey } : {}),
    ...(spec.listedOn !== undefined ? { dropletId: spec.listedOn } : {}),
    ...(spec.projectId !== undefined ? { projectId: spec.projectId } : {}),
  };
  cloud.actions.set(action.id, action);
  for (const d of spec.locks) cloud.pendingEvent.set(d, action.id);
  cloud.spawn(`${spec.type} (${spec.resourceType} ${spec.resourceId ?? ""})`, async () => {
    try {
      const commit = await work();
      const left = spec.minMs - (cloud.now() - started);
      if (left > 0) await new Promise((r) => setTimeout(r, left));
      commit();
      action.status = "completed";
    } catch (e) {
      action.status = "errored";
      onError?.();
      throw e;
    } finally {
      action.completedAt = cloud.iso();
      for (const d of spec.locks) {
        if (cloud.pendingEvent.get(d) === action.id) cloud.pendingEvent.delete(d);
      }
    }
  });
  return action;
}

/** Newest first, as DigitalOcean lists actions. */
export const newestFirst = (list: Iterable<ActionRecord>): ActionRecord[] =>
  [...list].sort((a, b) => b.id - a.id);

export function registerActions(router: Router, cloud: Cloud): void {
  router.add("GET", "/v2/actions", "actions", (req) =>
    paginate(req, "actions", newestFirst(cloud.actions.values()).map(renderAction)),
  );
  router.add("GET", "/v2/actions/:id", "actions", (req) => {
    const a = cloud.actions.get(intParam(req.params.id, "action id"));
    if (!a) throw notFound();
    return ok({ action: renderAction(a) });
  });
}
