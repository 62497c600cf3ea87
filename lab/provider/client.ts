import { request } from "node:http";
import { sleep } from "../exec";

/**
 * The lab driver's DigitalOcean API client: what godo does for the provider, over the
 * emulator's unix socket. Bearer token on every request (godo.go: oauth2 transport), JSON
 * bodies, an error carrying the status and the API's `message` (godo.go CheckResponse).
 */
export interface ApiEndpoint {
  /** The emulator's unix socket (the host side of the API; nothing listens on a host port). */
  readonly socketPath: string;
  readonly token: string;
}

/** A non-2xx answer, as godo's ErrorResponse: status and the API's message. */
class ApiError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly apiMessage: string,
  ) {
    super(`${method} ${path}: ${status} ${apiMessage}`);
  }
}

export interface ApiAnswer<T> {
  readonly status: number;
  readonly body: T;
}

/**
 * One client per registered resource: counts the calls it makes (the report's "API calls per
 * resource"), and scales the provider's StateChangeConf timings by one knob.
 */
export class ApiClient {
  private readonly made: string[] = [];

  constructor(
    readonly endpoint: ApiEndpoint,
    readonly timing: Timing,
  ) {}

  /** The calls made so far, in order ("GET /v2/droplets/1"). */
  get log(): readonly string[] {
    return this.made;
  }

  get calls(): number {
    return this.made.length;
  }

  async call<T = Record<string, unknown>>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<ApiAnswer<T>> {
    this.made.push(`${method} ${path}`);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return await new Promise<ApiAnswer<T>>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.endpoint.socketPath,
          method,
          path,
          headers: {
            Authorization: `Bearer ${this.endpoint.token}`,
            Accept: "application/json",
            "User-Agent": "ntp-pool-lab (mock runtime driver)",
            ...(payload !== undefined
              ? {
                  "Content-Type": "application/json",
                  "Content-Length": Buffer.byteLength(payload),
                }
              : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const status = res.statusCode ?? 0;
            let parsed: unknown;
            try {
              parsed = text === "" ? {} : JSON.parse(text);
            } catch {
              parsed = undefined;
            }
            if (status < 200 || status > 299) {
              // godo.go: the body's `message`, or the raw text when it is not JSON.
              const msg =
                (parsed as { message?: string } | undefined)?.message ?? (text.trim() || "");
              reject(new ApiError(method, path, status, msg));
              return;
            }
            if (parsed === undefined) {
              reject(
                new ApiError(method, path, status, `answer is not JSON: ${text.slice(0, 200)}`),
              );
              return;
            }
            resolve({ status, body: parsed as T });
          });
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

/** True when `e` is an API error with this status (util.IsDigitalOceanError). */
export const isStatus = (e: unknown, status: number): boolean =>
  e instanceof ApiError && e.status === status;

/**
 * The one timing knob: every StateChangeConf delay, back-off and retry pause of the provider
 * is multiplied by `scale` (1 = the provider's own values, so the lab rehearses real timing).
 */
export interface Timing {
  readonly scale: number;
}

export const PROVIDER_TIMING: Timing = { scale: 1 };

/** One refresh result: `undefined` = "not found" (StateChangeConf's nil result). */
type Refresh<T> = () => Promise<{ result: T; state: string } | undefined>;

export interface StateChangeConf<T> {
  readonly what: string;
  readonly pending: readonly string[];
  readonly target: readonly string[];
  readonly refresh: Refresh<T>;
  /** Seconds before the first refresh. */
  readonly delay: number;
  /** Lower bound of the wait between refreshes, seconds. */
  readonly minTimeout: number;
  /** Overall bound, seconds. */
  readonly timeout: number;
  /** Consecutive "not found" refreshes tolerated (default 20, state.go). */
  readonly notFoundChecks?: number;
}

/**
 * terraform-plugin-sdk/v2 helper/retry StateChangeConf.WaitForStateContext
 * (vendor/github.com/hashicorp/terraform-plugin-sdk/v2/helper/retry/state.go:54-200 in
 * terraform-provider-digitalocean v2.99.1): sleep Delay, refresh at once, then wait 100 ms
 * doubling, clamped to [MinTimeout, 10 s]; a state outside pending ∪ target fails at once;
 * more than NotFoundChecks consecutive nil results fail.
 */
export async function waitForState<T>(conf: StateChangeConf<T>, timing: Timing): Promise<T> {
  const s = timing.scale;
  const deadline = Date.now() + conf.timeout * 1000 * Math.max(s, 0.01);
  const notFoundChecks = conf.notFoundChecks ?? 20;
  await sleep(conf.delay * 1000 * s);
  let wait = 0;
  let notFound = 0;
  let last = "";
  for (;;) {
    if (Date.now() > deadline)
      throw new Error(
        `${conf.what}: timeout while waiting for state to become '${conf.target.join(", ")}' (last state: '${last}', timeout: ${conf.timeout}s)`,
      );
    await sleep(wait * s);
    if (wait === 0) wait = 100;
    const r = await conf.refresh();
    if (r === undefined) {
      notFound += 1;
      if (notFound > notFoundChecks)
        throw new Error(`${conf.what}: couldn't find resource (${notFound} retries)`);
    } else {
      notFound = 0;
      last = r.state;
      if (conf.target.includes(r.state)) return r.result;
      if (!conf.pending.includes(r.state))
        throw new Error(
          `${conf.what}: unexpected state '${r.state}', wanted target '${conf.target.join(", ")}'`,
        );
    }
    wait *= 2;
    wait = Math.min(Math.max(wait, conf.minTimeout * 1000), 10_000);
  }
}

/**
 * terraform-plugin-sdk/v2 helper/retry RetryContext (vendor/.../helper/retry/wait.go:15-60):
 * calls `f` until it succeeds or throws a non-retryable error, as a StateChangeConf with no
 * Delay and MinTimeout 500 ms, within `timeout` seconds.
 */
export async function retryContext(
  what: string,
  timeout: number,
  timing: Timing,
  f: () => Promise<"done" | "retry">,
): Promise<void> {
  await waitForState(
    {
      what,
      pending: ["retryableerror"],
      target: ["success"],
      refresh: async () => ({
        result: undefined,
        state: (await f()) === "done" ? "success" : "retryableerror",
      }),
      delay: 0,
      minTimeout: 0.5,
      timeout,
    },
    timing,
  );
}
