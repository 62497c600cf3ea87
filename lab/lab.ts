import { join } from "node:path";
import { Deployer, type ProbeSources } from "./deployer";
import type { Faults } from "./faults";
import type { Image } from "./image";
import { LabRealiser } from "./labRealiser";
import { Region } from "./region";
import { UpstreamFarm } from "./upstreamFarm";

/**
 * One lab run's emulated DigitalOcean, assembled: the region's network (lab/region.ts, with
 * its edge), the upstream farm, the deployer's machine and the realiser the emulated API
 * drives (lab/labRealiser.ts). The drivers (lab/run.ts) hold one of these per run.
 */
export class Lab {
  readonly region: Region;
  readonly upstreams: UpstreamFarm;
  readonly deployer: Deployer;
  readonly realiser: LabRealiser;
  /** Where the droplets' logs are copied (kept after teardown). */
  readonly reportDir: string;

  constructor(
    readonly prefix: string,
    readonly cacheDir: string,
    readonly image: Image,
    faults: Faults,
    log: (msg: string) => void,
  ) {
    this.region = new Region(prefix, cacheDir, image.tools);
    this.reportDir = join(cacheDir, "reports", prefix);
    this.upstreams = new UpstreamFarm(this.region, cacheDir, image.tools, faults, log);
    this.deployer = new Deployer(
      this.region,
      image.root,
      (host) => this.realiser.dropletByAddress(host),
      log,
    );
    this.realiser = new LabRealiser(
      this.region,
      image,
      this.upstreams,
      this.deployer,
      faults,
      this.reportDir,
      log,
    );
  }

  get td() {
    return this.region.td;
  }

  get runDir(): string {
    return this.region.runDir;
  }

  /** The internet namespace: the deployer's machine and the outside world. */
  get inet(): string {
    return this.region.inet;
  }

  async up(): Promise<void> {
    await this.region.up(this.upstreams.hostsLines());
  }

  /** Probe sources for lab/prober.ts (lab/deployer.ts addProbeSources). */
  addProbeSources(): Promise<ProbeSources> {
    return this.deployer.addProbeSources();
  }
}
