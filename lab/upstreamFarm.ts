import { join } from "node:path";
import type { Faults } from "./faults";
import { ensureSharedObject } from "./image";
import type { Region } from "./region";
import { describeUpstreamKind, GOOD_UPSTREAM, startUpstream, type Upstream } from "./upstreams";

/**
 * The upstream NTP servers a region's droplets are configured with (not DigitalOcean: the
 * internet's time servers): one NTPsec server per name a droplet's ntp.conf gives, each in
 * its own namespace on the internet bridge, good or faulty as `faults` says (lab/upstreams.ts).
 */
export class UpstreamFarm {
  private readonly upstreams = new Map<string, Upstream>();
  private lock: Promise<void> = Promise.resolve();

  constructor(
    private readonly region: Region,
    private readonly cacheDir: string,
    private readonly tools: string,
    private readonly faults: Faults,
    private readonly log: (msg: string) => void,
  ) {}

  /** /etc/hosts lines naming every upstream started so far. */
  hostsLines(): string {
    return `127.0.0.1\tlocalhost\n${this.dropletHosts()}`;
  }

  /** The upstreams' name lines alone, for a droplet's /etc/hosts. */
  dropletHosts(): string {
    return [...this.upstreams.values()].map((u) => `${u.address}\t${u.hostname}\n`).join("");
  }

  /** Starts (once each) the upstreams named by a droplet's ntp.conf. Serialised. */
  ensure(names: readonly string[]): Promise<void> {
    const next = this.lock.then(async () => {
      for (const hostname of names) {
        if (this.upstreams.has(hostname)) continue;
        if (/^[\d.]+$/.test(hostname) || hostname.includes(":")) {
          throw new Error(
            `upstream "${hostname}": IP-literal upstreams are not emulated by the lab`,
          );
        }
        const k = this.upstreams.size + 1;
        const down = k <= (this.faults.upstreamsDown ?? 0);
        if (down) this.log(`FAULT INJECTION: upstream ${hostname} is kept down`);
        const u = await startUpstream({
          td: this.region.td,
          ns: `${this.region.prefix}-u${k}`,
          sw: this.region.sw,
          index: k,
          hostname,
          dir: join(this.region.runDir, `u${k}`),
          env: this.region.env,
          down,
          tools: this.tools,
          ...(await this.kind(k)),
        });
        this.upstreams.set(hostname, u);
        this.log(
          `upstream ${hostname} → ${u.address} (${down ? "down" : describeUpstreamKind(this.faults.upstreamKinds?.[k - 1] ?? GOOD_UPSTREAM)})`,
        );
      }
      this.region.writeInternetHosts(this.hostsLines());
    });
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** startUpstream's kind options for upstream `k` (1-based), announced as fault injection. */
  private async kind(k: number) {
    const kind = this.faults.upstreamKinds?.[k - 1];
    if (kind === undefined || kind.kind === "good") return {};
    this.log(`FAULT INJECTION: upstream ${k} is ${describeUpstreamKind(kind)}`);
    return {
      kind,
      clockShift: await ensureSharedObject(this.cacheDir, "clockshift"),
      leapSource: join(this.tools, "usr/share/zoneinfo/leap-seconds.list"),
    };
  }
}
