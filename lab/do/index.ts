import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { registerAccount } from "./account";
import { registerActions } from "./actions";
import { registerCatalog } from "./catalog";
import { type AccountSettings, Cloud } from "./cloud";
import { Pipeline, type RequestLogEntry, Router } from "./core";
import { DO_DEFAULTS, type Timings } from "./defaults";
import { registerDroplets } from "./droplets";
import { registerFirewalls } from "./firewalls";
import { MetadataSockets } from "./metadata";
import { registerProjects } from "./projects";
import type { Realiser } from "./realiser";
import { registerReservedIps } from "./reservedIps";
import { registerReservedIpv6 } from "./reservedIpv6";
import { registerSshKeys } from "./sshKeys";
import { registerTags } from "./tags";

/**
 * The emulated DigitalOcean: one HTTP server speaking API v2 at the root (`/v2/...`, which
 * godo requires: firewalls and projects use absolute paths, docs/digitalocean-api.md#base-url) on any number of
 * listeners, plus one metadata socket per droplet (metadata.ts).
 */

type Listen = { readonly socketPath: string } | { readonly host: string; readonly port: number };

export interface StartOptions {
  readonly realiser: Realiser;
  /** The bearer token accepted for every method (DO_DEFAULTS.token when omitted). */
  readonly token?: string;
  /** A bearer token with the "read" scope only: writes answer 403 (lab/do/core.ts). */
  readonly readOnlyToken?: string;
  /** One or more listeners: a unix socket and/or a TCP address (loopback on the host). */
  readonly listen: Listen | readonly Listen[];
  readonly timings?: Partial<Timings>;
  readonly account?: Partial<AccountSettings>;
  readonly rateLimitPerHour?: number;
  /** Where the per-droplet metadata sockets live; a fresh temporary directory when omitted. */
  readonly metadataDir?: string;
}

export interface DigitalOcean {
  /** `http://host:port` of the first TCP listener (undefined when only unix sockets). */
  readonly url: string | undefined;
  /** Every listener as bound: TCP URLs and socket paths. */
  readonly listeners: readonly string[];
  readonly token: string;
  readonly cloud: Cloud;
  readonly metadata: MetadataSockets;
  /** API requests per resource type (the lab report's counts). */
  counts(): Record<string, number>;
  readonly requestLog: readonly RequestLogEntry[];
  /** Waits for background work (actions, deletions, firewall application) to finish. */
  idle(): Promise<void>;
  close(): Promise<void>;
}

export async function startDigitalOcean(opts: StartOptions): Promise<DigitalOcean> {
  const token = opts.token ?? DO_DEFAULTS.token;
  const timings: Timings = { ...DO_DEFAULTS.timings, ...opts.timings };
  const account: AccountSettings = { ...DO_DEFAULTS.account, ...opts.account };
  const ownDir = opts.metadataDir === undefined;
  const metadataDir = opts.metadataDir ?? mkdtempSync(join(tmpdir(), "ntp-lab-do-meta-"));
  let metadata: MetadataSockets | undefined;
  const cloud = new Cloud(opts.realiser, timings, account, (id) =>
    (metadata as MetadataSockets).open(id),
  );
  metadata = new MetadataSockets(cloud, metadataDir);
  const router = new Router();
  registerAccount(router, cloud);
  registerActions(router, cloud);
  registerCatalog(router);
  registerDroplets(router, cloud);
  registerFirewalls(router, cloud);
  registerProjects(router, cloud);
  registerReservedIps(router, cloud);
  registerReservedIpv6(router, cloud);
  registerSshKeys(router, cloud);
  registerTags(router, cloud);
  const pipeline = new Pipeline(router, {
    token,
    readOnlyToken: opts.readOnlyToken,
    rateLimitPerHour: opts.rateLimitPerHour ?? DO_DEFAULTS.rateLimitPerHour,
    now: () => cloud.now(),
  });
  const servers: Server[] = [];
  const listeners: string[] = [];
  const all = (Array.isArray(opts.listen) ? opts.listen : [opts.listen]) as Listen[];
  try {
    for (const l of all) {
      const server = createServer((req, res) => {
        // A client gone mid-answer must not become an unhandled rejection in the lab.
        pipeline.handle(req, res).catch(() => res.destroy());
      });
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        if ("socketPath" in l) {
          rmSync(l.socketPath, { force: true });
          server.listen(l.socketPath, () => resolve());
        } else server.listen(l.port, l.host, () => resolve());
      });
      if ("socketPath" in l) listeners.push(l.socketPath);
      else {
        const a = server.address() as AddressInfo;
        const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
        listeners.push(`http://${host}:${a.port}`);
      }
    }
  } catch (e) {
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    throw e;
  }
  const m = metadata;
  return {
    url: listeners.find((l) => l.startsWith("http://")),
    listeners,
    token,
    cloud,
    metadata: m,
    counts: () => pipeline.counts(),
    requestLog: pipeline.log,
    idle: () => cloud.idle(),
    async close() {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((r) => {
              s.close(() => r());
              s.closeAllConnections();
            }),
        ),
      );
      for (const l of all) if ("socketPath" in l) rmSync(l.socketPath, { force: true });
      await m.close();
      if (ownDir) rmSync(metadataDir, { recursive: true, force: true });
    },
  };
}
