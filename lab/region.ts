import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Edge } from "./edge";
import { METADATA_ADDRESS } from "./edgeRules";
import { type ImageExecOptions, imageMustRun } from "./imageExec";
import { ADDR, addNamespace, attachToBridge, ip, writeNetnsHosts } from "./net";
import { Teardown } from "./teardown";

/** A fresh run prefix: short (namespace names stay short) and unique per run. */
export function newPrefix(): string {
  return `ntpl-${randomBytes(3).toString("hex")}`;
}

/**
 * The emulated DigitalOcean region's network: the switch (the "internet" bridge), the edge
 * router every droplet is linked to (lab/edge.ts), and the internet namespace where the
 * deployer and the outside world live. Every namespace of a run starts with its prefix.
 */
export class Region {
  readonly td: Teardown;
  /** Where the run keeps its files (sockets, keys, droplet disks). */
  readonly runDir: string;
  readonly sw: string;
  readonly inet: string;
  readonly edge: Edge;
  /** Environment of every process the lab starts (lab/teardown.ts finds them by it). */
  readonly env: Readonly<Record<string, string>>;

  constructor(
    readonly prefix: string,
    cacheDir: string,
    /** The tools root every client and daemon outside a droplet runs from. */
    private readonly tools: string,
  ) {
    this.td = new Teardown(prefix);
    this.runDir = join(cacheDir, "runs", prefix);
    this.sw = `${prefix}-sw`;
    this.inet = `${prefix}-inet`;
    this.env = { NTP_LAB_RUN: prefix };
    this.edge = new Edge(`${prefix}-edge`, this.tool(`${prefix}-edge`));
  }

  /** Switch (wan bridge), edge router and "internet" namespace. */
  async up(hostsLines: string): Promise<void> {
    this.td.addPath(this.runDir);
    mkdirSync(this.runDir, { recursive: true });
    const edge = this.edge.ns;
    await addNamespace(this.td, this.sw);
    await ip("-n", this.sw, "link", "add", "wan", "type", "bridge");
    await ip("-n", this.sw, "link", "set", "wan", "up");
    await addNamespace(this.td, edge);
    await attachToBridge(this.sw, "wan", edge, "edge", [
      `${ADDR.wanEdge}/24`,
      `${ADDR.wanEdge6}/64`,
    ]);
    // sysctl from the tools image like every other tool (procps is not on every host).
    await imageMustRun(
      ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1", "net.ipv6.conf.all.forwarding=1"],
      this.tool(edge),
    );
    // The metadata service's address, local to the edge (lab/edgeRules.ts redirects to it).
    await ip("-n", edge, "addr", "add", `${METADATA_ADDRESS}/32`, "dev", "lo");
    await addNamespace(this.td, this.inet);
    await attachToBridge(this.sw, "wan", this.inet, "inet", [
      `${ADDR.internet}/24`,
      `${ADDR.internet6}/64`,
    ]);
    await ip("-n", this.inet, "route", "add", "default", "via", ADDR.wanEdge);
    await ip("-n", this.inet, "-6", "route", "add", "default", "via", ADDR.wanEdge6);
    this.writeInternetHosts(hostsLines);
    await this.edge.up();
  }

  /** The internet namespace's /etc/hosts (the upstreams' names). */
  writeInternetHosts(lines: string): void {
    writeNetnsHosts(this.td, this.inet, lines);
  }

  /** How a client tool (nft, conntrack, ssh, ntpdig) runs in `ns`: from the tools image. */
  tool(ns: string, binds: readonly string[] = []): ImageExecOptions {
    return {
      root: this.tools,
      netns: ns,
      binds: binds.map((host) => ({ host })),
      env: this.env,
    };
  }
}
