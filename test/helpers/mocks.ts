import * as pulumi from "@pulumi/pulumi";
import { IMAGES, REGIONS, SIZES } from "../../lab/do/catalog";

/** What the engine was asked to register, including the options mocks do not see. */
export interface Recorded {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly parent: string;
  readonly inputs: Record<string, unknown>;
  readonly state: Record<string, unknown>;
  readonly protect: boolean;
  readonly dependencies: readonly string[];
  readonly additionalSecretOutputs: readonly string[];
  readonly replaceOnChanges: readonly string[];
  readonly ignoreChanges: readonly string[];
  /**
   * The program's `deleteBeforeReplace` as the engine receives it: undefined when the program
   * leaves the choice to the provider (the SDK sends `deleteBeforeReplaceDefined` false).
   */
  readonly deleteBeforeReplace: boolean | undefined;
  /** customTimeouts as the engine receives them ("" when unset). */
  readonly customTimeouts: { readonly create: string; readonly update: string };
}

export const recorded: Recorded[] = [];

/** The last lines the two verification commands print on success (verify/summary.ts). */
const ON_DROPLET = {
  check: "on-droplet",
  synced: true,
  secondsToSync: 7,
  stratum: 2,
  leap: "00",
  systemPeer: "192.0.2.11",
  reachableUpstreams: 4,
  upstreamCount: 4,
  offsetMs: 0.012,
  leapFileExpires: "2027-06-28T00:00Z",
  lastLeapSecond: "2017-01-01T00:00Z",
  cloudInit: "done",
  upstreams: [],
  warnings: [],
};
const OUTSIDE = {
  check: "outside",
  ipv4: {
    address: "203.0.113.1",
    stratum: 2,
    leap: 0,
    refid: "192.0.2.11",
    offsetMs: 0.2,
    delayMs: 1.1,
    relativeTo: "upstream ntp1.time.nl (192.0.2.11)",
    mode6Refused: true,
    samples: 1,
  },
  warnings: [],
};
let counter = 0;

/** What `digitalocean.getAccount` answers (DigitalOcean's defaults for a new account). */
const DEFAULT_ACCOUNT = { dropletLimit: 25, floatingIpLimit: 3 };
/** The account the mocks answer with; tests change it. */
export const account: {
  limits: { dropletLimit?: number; floatingIpLimit?: number };
  sshKeys: { id: number; name: string; fingerprint: string; publicKey: string }[];
  /** When set, every DigitalOcean data source fails with this text (the provider's error). */
  apiError?: string;
} = { limits: { ...DEFAULT_ACCOUNT }, sshKeys: [] };

/**
 * The catalog data sources answer from the emulator's catalog (lab/do/catalog.ts, the
 * API's shapes), renamed as the provider returns them.
 */
const CATALOG = {
  regions: REGIONS.map((r) => ({ ...r, sizes: [...r.sizes], features: [...r.features] })),
  sizes: SIZES.map((s) => ({
    slug: s.slug,
    available: s.available,
    regions: [...s.regions],
    memory: s.memory,
    vcpus: s.vcpus,
    disk: s.disk,
    transfer: s.transfer,
    priceMonthly: s.price_monthly,
    priceHourly: s.price_hourly,
    gpuInfos: [],
  })),
  images: IMAGES.map((i) => ({ ...i, regions: [...i.regions], tags: [...i.tags] })),
};
/** The `outputs` of the stack's previous deployment (read by its StackReference). */
export const previous: { outputs: Record<string, unknown> } = { outputs: {} };
/** Invokes the program made, in order. */
export const invoked: { token: string; inputs: Record<string, unknown> }[] = [];

export function resetRecorder(): void {
  recorded.length = 0;
  invoked.length = 0;
  account.limits = { ...DEFAULT_ACCOUNT };
  account.sshKeys = [];
  account.apiError = undefined;
  previous.outputs = {};
}

/** Plausible provider outputs for each resource type; inputs are echoed back as state. */
export const testMocks: pulumi.runtime.Mocks = {
  newResource(args) {
    counter += 1;
    const n = counter;
    const state: Record<string, unknown> = { ...args.inputs };
    let id = `${args.name}-id`;
    switch (args.type) {
      case "digitalocean:index/droplet:Droplet":
        id = String(400000 + n);
        state.dropletUrn = `do:droplet:${id}`;
        state.ipv4Address = `192.0.2.${n % 250}`;
        if (args.inputs.ipv6 === true) state.ipv6Address = `2001:db8:1::${n.toString(16)}`;
        break;
      case "digitalocean:index/reservedIp:ReservedIp":
        id = `203.0.113.${n % 250}`;
        state.ipAddress = id;
        // What the provider returns (godo reserved_ips.go URN()); the Projects API lists the
        // same address as do:floatingip: (components/PoolServer.ts).
        state.reservedIpUrn = `do:reservedip:${id}`;
        break;
      case "pulumi:pulumi:StackReference":
        id = String(args.inputs.name);
        state.outputs = previous.outputs;
        state.secretOutputNames = [];
        break;
      case "digitalocean:index/reservedIpv6:ReservedIpv6":
        id = `2001:db8::${n.toString(16)}`;
        state.ip = id;
        break;
      case "tls:index/privateKey:PrivateKey":
        state.privateKeyOpenssh = `-----BEGIN OPENSSH PRIVATE KEY-----\nMOCK-PRIVATE-${args.name}\n-----END OPENSSH PRIVATE KEY-----\n`;
        state.privateKeyPem = `MOCK-PEM-${args.name}`;
        state.publicKeyOpenssh = `ssh-ed25519 AAAAMOCK${n} ${args.name}\n`;
        break;
      case "digitalocean:index/sshKey:SshKey":
        id = String(900000 + n);
        state.fingerprint = `aa:bb:${n}`;
        break;
      case "digitalocean:index/tag:Tag":
        id = String(args.inputs.name);
        break;
      case "command:remote:Command":
        state.stdout = `waiting for ntpd\n${JSON.stringify(ON_DROPLET)}`;
        state.stderr = "";
        break;
      case "command:local:Command":
        state.stdout = JSON.stringify(OUTSIDE);
        state.stderr = "";
        break;
    }
    return { id, state };
  },
  call(args) {
    invoked.push({ token: args.token, inputs: args.inputs });
    // As a gRPC error: the SDK rejects the invoke with `new Error(err.details)`
    // (runtime/invoke.js), so the program sees the provider's text alone.
    if (account.apiError !== undefined && args.token.startsWith("digitalocean:"))
      throw Object.assign(new Error(account.apiError), { details: account.apiError });
    switch (args.token) {
      case "digitalocean:index/getAccount:getAccount":
        return { id: "acct", status: "active", ...account.limits };
      case "digitalocean:index/getSshKeys:getSshKeys":
        return { id: "keys", sshKeys: account.sshKeys };
      case "digitalocean:index/getRegions:getRegions":
        return { id: "regions", regions: CATALOG.regions };
      case "digitalocean:index/getSizes:getSizes":
        return { id: "sizes", sizes: CATALOG.sizes };
      case "digitalocean:index/getImages:getImages": {
        // internal/datalist's exact-match filter, the only kind the program uses.
        const filters = (args.inputs.filters ?? []) as { key: string; values: string[] }[];
        const images = CATALOG.images.filter((img) =>
          filters.every((f) => f.values.includes(String(img[f.key as keyof typeof img]))),
        );
        return { id: "images", images };
      }
    }
    return args.inputs;
  },
};

// Mocks see neither the parent nor the options; record them from the request itself.
// biome-ignore lint/suspicious/noExplicitAny: the SDK's internal monitor is untyped.
const { MockMonitor } = require("@pulumi/pulumi/runtime/mocks") as { MockMonitor: any };
const original = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (
  // biome-ignore lint/suspicious/noExplicitAny: protobuf request
  req: any,
  // biome-ignore lint/suspicious/noExplicitAny: grpc callback
  callback: (err: unknown, res: any) => void,
) {
  // biome-ignore lint/suspicious/noExplicitAny: protobuf response
  return original.call(this, req, (err: unknown, res: any) => {
    if (!err && res) {
      recorded.push({
        type: req.getType(),
        name: req.getName(),
        urn: res.getUrn(),
        parent: req.getParent(),
        inputs: pulumi.runtime.deserializeProperties(req.getObject()),
        state: pulumi.runtime.deserializeProperties(res.getObject()),
        protect: req.getProtect() === true,
        dependencies: req.getDependenciesList(),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        replaceOnChanges: req.getReplaceonchangesList(),
        ignoreChanges: req.getIgnorechangesList(),
        deleteBeforeReplace: req.getDeletebeforereplacedefined()
          ? req.getDeletebeforereplace() === true
          : undefined,
        customTimeouts: {
          create: req.getCustomtimeouts()?.getCreate() ?? "",
          update: req.getCustomtimeouts()?.getUpdate() ?? "",
        },
      });
    }
    callback(err, res);
  });
};
