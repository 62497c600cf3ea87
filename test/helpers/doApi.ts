import { request } from "node:http";
import { type DigitalOcean, type StartOptions, startDigitalOcean } from "../../lab/do/index";
import { RecordingRealiser } from "../../lab/do/realiser";

/** An in-process emulated DigitalOcean on 127.0.0.1 (ephemeral port) with a recording realiser. */
export interface TestApi {
  readonly doi: DigitalOcean;
  readonly realiser: RecordingRealiser;
  call(method: string, path: string, body?: unknown, token?: string | null): Promise<ApiReply>;
  close(): Promise<void>;
}

interface ApiReply {
  readonly status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers are inspected field by field
  readonly body: any;
  readonly headers: Headers;
}

export const TOKEN = "test-token";

export async function startTestApi(
  opts: Partial<StartOptions> & { realiser?: RecordingRealiser } = {},
): Promise<TestApi> {
  const realiser = opts.realiser ?? new RecordingRealiser();
  const doi = await startDigitalOcean({
    listen: { host: "127.0.0.1", port: 0 },
    token: TOKEN,
    timings: { dropletNewMs: 60, actionMs: 40 },
    ...opts,
    realiser,
  });
  return {
    doi,
    realiser,
    async call(method, path, body, token = TOKEN) {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token !== null) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${doi.url}${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return {
        status: res.status,
        body: text ? JSON.parse(text) : undefined,
        headers: res.headers,
      };
    },
    async close() {
      await doi.idle();
      await doi.close();
    },
  };
}

/** Polls `cond` every 10 ms until it holds (or fails after `ms`). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** GET over a unix socket (the metadata service, or the API on a socket listener). */
export function getUnix(
  socketPath: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString("utf8"),
          headers: res.headers,
        }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

/** A droplet create body as the provider sends it (godo DropletCreateRequest). */
export const dropletBody = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: "web-3fa91c2",
  region: "ams3",
  size: "s-1vcpu-1gb",
  image: "debian-12-x64",
  ssh_keys: null,
  backups: false,
  ipv6: true,
  private_networking: false,
  monitoring: true,
  user_data: "#cloud-config\n{}\n",
  tags: [],
  ...over,
});

/** Creates a droplet and waits until it is active; returns its id. */
export async function activeDroplet(
  api: TestApi,
  over: Record<string, unknown> = {},
): Promise<number> {
  const r = await api.call("POST", "/v2/droplets", dropletBody(over));
  if (r.status !== 202) throw new Error(`droplet create: ${r.status} ${JSON.stringify(r.body)}`);
  const id = r.body.droplet.id as number;
  await until(
    async () => (await api.call("GET", `/v2/droplets/${id}`)).body.droplet.status === "active",
  );
  return id;
}
