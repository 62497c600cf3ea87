import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";

/**
 * The transport every emulated endpoint shares: routing, JSON bodies, DigitalOcean's error
 * body, pagination, bearer-token auth, rate-limit headers and a request log. docs/digitalocean-api.md#transport.
 */

/** An API error as DigitalOcean sends it: `{id, message, request_id}` (docs/digitalocean-api.md#errors). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly id: string,
    message: string,
  ) {
    super(message);
  }
}

// Canonical ids and sample messages: OAS shared/responses/*.yml, shared/models/error.yml.
export const notFound = (): ApiError =>
  new ApiError(404, "not_found", "The resource you were accessing could not be found.");
export const unprocessable = (message: string): ApiError =>
  new ApiError(422, "unprocessable_entity", message);
const badRequest = (message: string): ApiError => new ApiError(400, "bad_request", message);

export interface Request {
  readonly method: string;
  /** The path without query, e.g. `/v2/droplets/101`. */
  readonly path: string;
  readonly params: Readonly<Record<string, string>>;
  readonly query: URLSearchParams;
  /** The parsed JSON body (also for DELETE: godo sends bodies on untag and firewall removals). */
  readonly body: unknown;
  /** `http://host[:port]` as the client addressed the server, for absolute links. */
  readonly origin: string;
}

export interface Response {
  readonly status: number;
  /** Omitted for 204. */
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export type Handler = (req: Request) => Response | Promise<Response>;

interface Route {
  readonly method: string;
  readonly segments: readonly string[];
  readonly resource: string;
  readonly handler: Handler;
}

/** Method + path pattern (`/v2/droplets/:id/actions`) → handler, labelled by resource type. */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, resource: string, handler: Handler): void {
    this.routes.push({ method, segments: pattern.split("/").filter(Boolean), resource, handler });
  }

  match(
    method: string,
    path: string,
  ): { route: Route; params: Record<string, string> } | { resource: string } | undefined {
    const parts = path.split("/").filter(Boolean);
    let pathMatched: string | undefined;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { route, params };
      pathMatched ??= route.resource;
    }
    return pathMatched === undefined ? undefined : { resource: pathMatched };
  }
}

function matchSegments(
  pattern: readonly string[],
  parts: readonly string[],
): Record<string, string> | undefined {
  if (pattern.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i] as string;
    const v = parts[i] as string;
    if (p.startsWith(":")) {
      try {
        params[p.slice(1)] = decodeURIComponent(v);
      } catch {
        return undefined;
      }
    } else if (p !== v) return undefined;
  }
  return params;
}

/** Parses a positive integer path/query/body value or answers 404/422 naming it. */
export function intParam(value: unknown, what: string, status: 404 | 422 = 404): number {
  const n = typeof value === "number" ? value : Number(String(value));
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw status === 404 ? notFound() : unprocessable(`${what} must be a positive integer`);
  }
  return n;
}

// ---- pagination ------------------------------------------------------------------------------

/** Query `page`/`per_page`, default 20, max 200 (OAS description.yml:146-158; godo godo.go ListOptions). */
const PER_PAGE_DEFAULT = 20;
const PER_PAGE_MAX = 200;

/**
 * One page of a list as godo reads it: `links.pages.{first,prev,next,last}` as absolute URLs
 * with `page=N` when there is more than one page (doctl reads `last`, do/pagination.go;
 * TF loops on `next`, godo links.go) and `meta.total` always.
 */
export function paginate<T>(req: Request, key: string, items: readonly T[]): Response {
  const perPage = Math.min(
    Math.max(1, Number.parseInt(req.query.get("per_page") ?? "", 10) || PER_PAGE_DEFAULT),
    PER_PAGE_MAX,
  );
  const lastPage = Math.max(1, Math.ceil(items.length / perPage));
  const page = Math.max(1, Number.parseInt(req.query.get("page") ?? "", 10) || 1);
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const link = (n: number): string => {
    const q = new URLSearchParams(req.query);
    q.set("page", String(n));
    q.set("per_page", String(perPage));
    return `${req.origin}${req.path}?${q.toString()}`;
  };
  const pages: Record<string, string> = {};
  if (page > 1) {
    pages.first = link(1);
    pages.prev = link(Math.min(page - 1, lastPage));
  }
  if (page < lastPage) {
    pages.next = link(page + 1);
    pages.last = link(lastPage);
  }
  return {
    status: 200,
    body: {
      [key]: slice,
      links: Object.keys(pages).length > 0 ? { pages } : {},
      meta: { total: items.length },
    },
  };
}

// ---- the request pipeline ------------------------------------------------------------------

export interface RequestLogEntry {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly resource: string;
  readonly status: number;
  readonly ms: number;
}

export interface PipelineOptions {
  /** The token accepted for every method; any token not named here answers 401. */
  readonly token: string;
  /**
   * A token with DigitalOcean's "read" scope only: GET and HEAD answer as for `token`, any
   * other method 403 `forbidden`, as DigitalOcean answers a read-only personal access token.
   */
  readonly readOnlyToken?: string;
  /** Requests per sliding hour before 429 (OAS description.yml:189-277: 5000). */
  readonly rateLimitPerHour: number;
  readonly now: () => number;
}

/**
 * Authenticates, rate-limits, routes, and writes the JSON answer with DigitalOcean's headers.
 * Every answer (errors included) carries RateLimit-Limit/Remaining/Reset (godo godo.go
 * populateRate) and x-request-id (godo falls back to it, godo.go CheckResponse).
 */
export class Pipeline {
  readonly log: RequestLogEntry[] = [];
  private readonly window: number[] = [];

  constructor(
    private readonly router: Router,
    private readonly opts: PipelineOptions,
  ) {}

  /** Requests per resource type (the label each route was registered with). */
  counts(): Record<string, number> {
    const c: Record<string, number> = {};
    for (const e of this.log) c[e.resource] = (c[e.resource] ?? 0) + 1;
    return c;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = this.opts.now();
    const requestId = randomUUID();
    const url = new URL(req.url ?? "/", "http://emulator");
    const method = (req.method ?? "GET").toUpperCase();
    const found = this.router.match(method, url.pathname);
    const resource =
      found === undefined ? "unknown" : "route" in found ? found.route.resource : found.resource;
    const headers: Record<string, string> = {
      "x-request-id": requestId,
      ...this.rateHeaders(started),
    };
    let out: Response;
    try {
      const raw = await readBody(req);
      out = await this.answer(req, method, url, found, raw, started);
    } catch (e) {
      if (!(e instanceof ApiError)) {
        // A bug in the emulator: DigitalOcean's 500 shape, with the cause for the lab's log.
        out = {
          status: 500,
          body: { id: "server_error", message: `Server Error: ${(e as Error).message}` },
        };
      } else {
        out = { status: e.status, body: { id: e.id, message: e.message } };
        if (e.status === 429) headers["retry-after"] = "60";
      }
    }
    if (out.status >= 400 && out.body && typeof out.body === "object") {
      out = { ...out, body: { ...(out.body as object), request_id: requestId } };
    }
    Object.assign(headers, out.headers ?? {});
    if (out.status === 204 || out.body === undefined) {
      res.writeHead(out.status, headers);
      res.end();
    } else {
      const text = JSON.stringify(out.body);
      res.writeHead(out.status, {
        ...headers,
        "content-type": "application/json; charset=utf-8",
        "content-length": String(Buffer.byteLength(text)),
      });
      res.end(text);
    }
    this.log.push({
      at: started,
      method,
      path: url.pathname,
      resource,
      status: out.status,
      ms: this.opts.now() - started,
    });
  }

  private async answer(
    req: IncomingMessage,
    method: string,
    url: URL,
    found: ReturnType<Router["match"]>,
    raw: string,
    now: number,
  ): Promise<Response> {
    // Bearer token (godo godo.go NewFromToken via oauth2); 401 body OAS shared/responses/unauthorized.yml.
    const auth = req.headers.authorization ?? "";
    const readOnly =
      this.opts.readOnlyToken !== undefined && auth === `Bearer ${this.opts.readOnlyToken}`;
    if (auth !== `Bearer ${this.opts.token}` && !readOnly) {
      throw new ApiError(401, "unauthorized", "Unable to authenticate you.");
    }
    // The message users of read-only and narrowly scoped tokens report from DigitalOcean
    // (docs/digitalocean-api.md#tokens-and-scopes).
    if (readOnly && method !== "GET" && method !== "HEAD") {
      throw new ApiError(403, "forbidden", "You are not authorized to perform this operation.");
    }
    this.window.push(now);
    if (this.window.length > this.opts.rateLimitPerHour) {
      throw new ApiError(429, "too_many_requests", "API Rate limit exceeded.");
    }
    if (found === undefined) throw notFound();
    if (!("route" in found)) {
      throw new ApiError(405, "method_not_allowed", `${method} is not allowed on ${url.pathname}`);
    }
    let body: unknown;
    if (raw.trim() !== "") {
      try {
        body = JSON.parse(raw);
      } catch {
        throw badRequest("unable to parse the request body as JSON");
      }
    }
    const host = req.headers.host ?? "localhost";
    return found.route.handler({
      method,
      path: url.pathname,
      params: found.params,
      query: url.searchParams,
      body,
      origin: `http://${host}`,
    });
  }

  private rateHeaders(now: number): Record<string, string> {
    const hour = 3600_000;
    while (this.window.length > 0 && (this.window[0] as number) <= now - hour) this.window.shift();
    const limit = this.opts.rateLimitPerHour;
    const oldest = this.window[0] ?? now;
    return {
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": String(Math.max(0, limit - this.window.length - 1)),
      // Unix epoch seconds when the oldest request in the window expires (OAS description.yml).
      "ratelimit-reset": String(Math.ceil((oldest + hour) / 1000)),
    };
  }
}

/** The request body as text (bounded: nothing a client sends here exceeds a few hundred KiB). */
function readBody(req: IncomingMessage): Promise<string> {
  const limit = 4 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > limit) {
        reject(new ApiError(413, "request_entity_too_large", "request body too large"));
        req.destroy();
      } else chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

// ---- small validation helpers shared by the resource modules -------------------------------

/** The request body as an object, or 422 naming what was expected. */
export function bodyObject(req: Request): Record<string, unknown> {
  const b = req.body;
  if (b === undefined || b === null || typeof b !== "object" || Array.isArray(b)) {
    throw unprocessable("request payload validation failed: expected a JSON object");
  }
  return b as Record<string, unknown>;
}

export function stringField(body: Record<string, unknown>, field: string): string {
  const v = body[field];
  if (typeof v !== "string" || v === "") throw unprocessable(`${field} is required`);
  return v;
}

export function stringList(body: Record<string, unknown>, field: string): string[] {
  const v = body[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    throw unprocessable(`${field} must be an array of strings`);
  }
  return v as string[];
}

export function intList(body: Record<string, unknown>, field: string): number[] {
  const v = body[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => !Number.isSafeInteger(x))) {
    throw unprocessable(`${field} must be an array of integers`);
  }
  return v as number[];
}

export const created = (body: unknown): Response => ({ status: 201, body });
export const accepted = (body: unknown): Response => ({ status: 202, body });
export const ok = (body: unknown): Response => ({ status: 200, body });
export const noContent: Response = { status: 204 };

/** `GET {path}` (paginated list under `listKey`) and `GET {path}/:id` (one object under `itemKey`). */
export function addReads<T>(
  router: Router,
  r: {
    readonly path: string;
    readonly resource: string;
    readonly listKey: string;
    readonly itemKey: string;
    readonly all: () => Iterable<T>;
    readonly find: (id: string | undefined) => T;
    readonly render: (item: T) => unknown;
  },
): void {
  router.add("GET", r.path, r.resource, (req) =>
    paginate(req, r.listKey, [...r.all()].map(r.render)),
  );
  router.add("GET", `${r.path}/:id`, r.resource, (req) =>
    ok({ [r.itemKey]: r.render(r.find(req.params.id)) }),
  );
}
