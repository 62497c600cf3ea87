import { spawn } from "node:child_process";
import { join } from "node:path";
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
