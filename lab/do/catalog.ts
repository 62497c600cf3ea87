import { notFound, ok, paginate, type Router } from "./core";

/**
 * Regions, sizes and images, as far as clients read them: the objects embedded in droplets
 * and reserved IPs (TF reads `region.slug`, `size.slug`, `size.price_hourly`,
 * resource_droplet.go setDropletAttributes) and the lists doctl prints
 * (godo regions.go, sizes.go, images.go). Slugs, names and prices from DigitalOcean's
 * public catalog (docs.digitalocean.com/platform/regional-availability/, pricing pages).
 */

export interface RegionObject {
  readonly slug: string;
  readonly name: string;
  readonly sizes: readonly string[];
  readonly available: boolean;
  readonly features: readonly string[];
}

export interface SizeObject {
  readonly slug: string;
  readonly memory: number;
  readonly vcpus: number;
  readonly disk: number;
  readonly transfer: number;
  readonly price_monthly: number;
  readonly price_hourly: number;
  readonly regions: readonly string[];
  readonly available: boolean;
  readonly description: string;
}

export interface ImageObject {
  readonly id: number;
  readonly name: string;
  readonly distribution: string;
  readonly slug: string;
  readonly public: boolean;
  readonly regions: readonly string[];
  readonly created_at: string;
  readonly min_disk_size: number;
  readonly type: string;
  readonly size_gigabytes: number;
  readonly description: string;
  readonly tags: readonly string[];
  readonly status: string;
}

const REGION_NAMES: Readonly<Record<string, string>> = {
  ams3: "Amsterdam 3",
  atl1: "Atlanta 1",
  blr1: "Bangalore 1",
  fra1: "Frankfurt 1",
  lon1: "London 1",
  nyc1: "New York 1",
  nyc3: "New York 3",
  sfo2: "San Francisco 2",
  sfo3: "San Francisco 3",
  sgp1: "Singapore 1",
  syd1: "Sydney 1",
  tor1: "Toronto 1",
};

// [slug, memory MiB, vcpus, disk GB, transfer TB, $/month, $/hour, description]
const SIZE_ROWS: readonly (readonly [
  string,
  number,
  number,
  number,
  number,
  number,
  number,
  string,
])[] = [
  ["s-1vcpu-512mb-10gb", 512, 1, 10, 0.5, 4, 0.00595, "Basic"],
  ["s-1vcpu-1gb", 1024, 1, 25, 1, 6, 0.00893, "Basic"],
  ["s-1vcpu-2gb", 2048, 1, 50, 2, 12, 0.01786, "Basic"],
  ["s-2vcpu-2gb", 2048, 2, 60, 3, 18, 0.02679, "Basic"],
  ["s-2vcpu-4gb", 4096, 2, 80, 4, 24, 0.03571, "Basic"],
  ["s-4vcpu-8gb", 8192, 4, 160, 5, 48, 0.07143, "Basic"],
];

const REGION_FEATURES = ["backups", "ipv6", "metadata", "install_agent", "storage"] as const;

/**
 * Regions DigitalOcean still lists but closed to new droplets for accounts without resources
 * there (its "Regional Availability" page; SFO1 since 2019): `available: false` and no sizes
 * in GET /v2/regions, and a droplet or reserved IP create there is refused.
 */
const RESTRICTED_REGIONS: Readonly<Record<string, string>> = {
  ams2: "Amsterdam 2",
  nyc2: "New York 2",
  sfo1: "San Francisco 1",
};

export const REGIONS: readonly RegionObject[] = [
  ...Object.entries(REGION_NAMES).map(([slug, name]) => ({
    slug,
    name,
    sizes: SIZE_ROWS.map((r) => r[0]),
    available: true,
    features: REGION_FEATURES,
  })),
  ...Object.entries(RESTRICTED_REGIONS).map(([slug, name]) => ({
    slug,
    name,
    sizes: [],
    available: false,
    features: REGION_FEATURES,
  })),
].sort((a, b) => a.slug.localeCompare(b.slug));

export const SIZES: readonly SizeObject[] = SIZE_ROWS.map(
  ([slug, memory, vcpus, disk, transfer, pm, ph, description]) => ({
    slug,
    memory,
    vcpus,
    disk,
    transfer,
    price_monthly: pm,
    price_hourly: ph,
    regions: Object.keys(REGION_NAMES),
    available: true,
    description,
  }),
);

const image = (id: number, slug: string, distribution: string, name: string): ImageObject => ({
  id,
  name,
  distribution,
  slug,
  public: true,
  regions: Object.keys(REGION_NAMES),
  created_at: "2026-07-01T00:00:00Z",
  min_disk_size: 10,
  type: "base",
  size_gigabytes: 2.5,
  description: `${distribution} ${name}`,
  tags: [],
  status: "available",
});

/** The distribution images the program may name (components/defaults.ts, docs/decisions.md#daemon-and-image). */
export const IMAGES: readonly ImageObject[] = [
  image(155_700_001, "debian-12-x64", "Debian", "12 x64"),
  image(155_700_002, "ubuntu-24-04-x64", "Ubuntu", "24.04 (LTS) x64"),
];

export const findRegion = (slug: string): RegionObject | undefined =>
  REGIONS.find((r) => r.slug === slug);
/** A region that takes new droplets and reserved IPs. */
export const findOpenRegion = (slug: string): RegionObject | undefined =>
  REGIONS.find((r) => r.slug === slug && r.available);
export const findSize = (slug: string): SizeObject | undefined =>
  SIZES.find((s) => s.slug === slug);
/** By slug or numeric id (droplet create's `image` is either, godo droplets.go DropletCreateImage). */
export const findImage = (ref: string | number): ImageObject | undefined =>
  IMAGES.find((i) => i.slug === ref || String(i.id) === String(ref));

export function registerCatalog(router: Router): void {
  router.add("GET", "/v2/regions", "regions", (req) => paginate(req, "regions", REGIONS));
  router.add("GET", "/v2/sizes", "sizes", (req) => paginate(req, "sizes", SIZES));
  router.add("GET", "/v2/images", "images", (req) => {
    // godo images.go: `type=distribution|application`, `private=true` (the lab has no private images).
    const type = req.query.get("type");
    const list =
      req.query.get("private") === "true"
        ? []
        : IMAGES.filter(() => type === null || type === "distribution");
    return paginate(req, "images", list);
  });
  router.add("GET", "/v2/images/:ref", "images", (req) => {
    const img = findImage(req.params.ref ?? "");
    if (!img) throw notFound();
    return ok({ image: img });
  });
}
