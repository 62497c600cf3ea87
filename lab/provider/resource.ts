import type { ApiClient } from "./client";

/** Inputs of one registered resource as the mock runtime hands them (secrets unwrapped). */
export type Inputs = Record<string, unknown>;

/** What the provider's Create leaves in state: the resource id and its outputs. */
export interface Created {
  readonly id: string;
  readonly outputs: Record<string, unknown>;
}

/**
 * One DigitalOcean resource type as terraform-provider-digitalocean creates it: the same API
 * calls in the same order with the same waits (each module cites the provider file).
 */
export interface ProviderResource {
  /** The Pulumi type token, e.g. "digitalocean:index/droplet:Droplet". */
  readonly type: string;
  create(api: ApiClient, name: string, inputs: Inputs): Promise<Created>;
}

/** One data source (invoke) as the provider reads it. */
export interface ProviderInvoke {
  readonly token: string;
  invoke(api: ApiClient, args: Inputs): Promise<Record<string, unknown>>;
}

/** `v` as a list of strings (a missing input is an empty list). */
export const strings = (v: unknown): string[] =>
  Array.isArray(v) ? v.filter((x) => x !== undefined && x !== null).map(String) : [];

/** A whole number input (droplet ids arrive as numbers or numeric strings). */
export function intInput(field: string, v: unknown): number {
  const n = typeof v === "number" ? v : Number(String(v));
  if (!Number.isInteger(n)) throw new Error(`${field}: must be a whole number; got ${String(v)}`);
  return n;
}
