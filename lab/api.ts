import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { type DigitalOcean, startDigitalOcean } from "./do/index";
import { startForwarder } from "./forwarder";
import type { Lab } from "./lab";
import type { ApiEndpoint } from "./provider/client";

/**
 * Where the deployer (the lab's internet namespace) reaches the emulated API: a forwarder
 * listening inside that namespace, to the API's unix socket in the run directory. Nothing
 * listens in the host's network namespace.
 */
const API_ADDRESS = "127.0.0.1";
const API_PORT = 8080;

export interface LabApi {
  /** The host side: the unix socket and the lab's token (the mock-runtime driver uses it). */
  readonly endpoint: ApiEndpoint;
  /** A token of the same account with the "read" scope only (writes answer 403). */
  readonly readOnlyToken: string;
  /** `DIGITALOCEAN_API_URL` inside the deployer namespace. */
  readonly url: string;
  readonly server: DigitalOcean;
  close(): Promise<void>;
}

/**
 * Starts the emulated DigitalOcean (lab/do/) with the lab as its realiser: the only path by
 * which droplets, reserved IPs and firewalls become namespaces, NAT and nftables.
 */
export async function startLabApi(lab: Lab): Promise<LabApi> {
  const socketPath = join(lab.runDir, "api.sock");
  // A lab token: random per run, shaped like DigitalOcean's (doctl's prompt wants dop_v1_ +
  // 64 hex), never a real one.
  const token = `dop_v1_${randomBytes(32).toString("hex")}`;
  const readOnlyToken = `dop_v1_${randomBytes(32).toString("hex")}`;
  const server = await startDigitalOcean({
    realiser: lab.realiser,
    token,
    readOnlyToken,
    listen: { socketPath },
    metadataDir: join(lab.runDir, "metadata"),
  });
  try {
    await startForwarder(lab.td, lab.inet, API_ADDRESS, API_PORT, socketPath);
  } catch (e) {
    await server.close();
    throw e;
  }
  return {
    endpoint: { socketPath, token },
    readOnlyToken,
    url: `http://${API_ADDRESS}:${API_PORT}`,
    server,
    close: () => server.close(),
  };
}
