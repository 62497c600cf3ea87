import * as pulumi from "@pulumi/pulumi";

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
}

export const recorded: Recorded[] = [];

/** The last lines the two verification commands print on success (verify/summary.ts). */
export const ON_DROPLET = {
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
export const OUTSIDE = {
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

export function resetRecorder(): void {
  recorded.length = 0;
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
        break;
      case "digitalocean:index/reservedIp:ReservedIp":
        id = `203.0.113.${n % 250}`;
        state.ipAddress = id;
        state.reservedIpUrn = `do:floatingip:${id}`;
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
      });
    }
    callback(err, res);
  });
};
