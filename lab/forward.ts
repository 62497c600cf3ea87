import { spawn } from "node:child_process";
import { join } from "node:path";
import { replaceTable } from "./firewall";
import type { Teardown } from "./teardown";

const FORWARDER = join(__dirname, "forward.cjs");

/**
 * Starts lab/forward.cjs inside namespace `ns`: TCP `address:port` there → `socketPath`.
 * Resolves with its PID once it listens (registered for teardown at once).
 */
export function startForwarder(
  td: Teardown,
  ns: string,
  address: string,
  port: number,
  socketPath: string,
): Promise<number> {
  const child = spawn(
    "ip",
    ["netns", "exec", ns, process.execPath, FORWARDER, address, String(port), socketPath],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  td.addPid(child.pid);
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    child.stdout?.once("data", () => resolve(child.pid as number));
    child.once("exit", (code) =>
      reject(new Error(`forwarder ${ns} ${address}:${port} exited (${code}): ${err.trim()}`)),
    );
  });
}

/** DigitalOcean's metadata service address, on-link from every droplet (docs/digitalocean-api.md#metadata-service). */
export const METADATA_ADDRESS = "169.254.169.254";

/** The edge-local port behind which droplet N's metadata forwarder listens. */
export const metadataPort = (n: number): number => 9000 + n;

export const EDGE_METADATA_TABLE = "ntplab_md";

/**
 * The metadata service on the edge (the droplets' "hypervisor"): 169.254.169.254:80 arriving
 * from droplet N's link is translated to that droplet's own forwarder port, so a droplet is
 * told apart by the interface its request came in on, never by its source address; the
 * per-droplet ports accept nothing that was not translated so (no droplet reads another's).
 */
export function renderEdgeMetadata(
  ports: readonly { readonly ifname: string; readonly port: number }[],
): string {
  return replaceTable("ip", EDGE_METADATA_TABLE, [
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    ...ports.map(
      (p) =>
        `    iifname "${p.ifname}" ip daddr ${METADATA_ADDRESS} tcp dport 80 dnat to ${METADATA_ADDRESS}:${p.port}`,
    ),
    "  }",
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    `    ip daddr ${METADATA_ADDRESS} ct status dnat accept`,
    `    ip daddr ${METADATA_ADDRESS} drop`,
    "  }",
  ]);
}
