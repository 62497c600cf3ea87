/**
 * Every default of the emulated DigitalOcean, in one place. Timings are short next to the
 * real cloud (a droplet is `new` for ~30-60 s there) but long enough that clients see the
 * intermediate states they poll for: TF polls first after 10 s (docs/digitalocean-api.md#polling), doctl every 5 s.
 */
export const DO_DEFAULTS = {
  timings: {
    /** Least time a droplet stays `new` (its `create` action `in-progress`), on top of the realisation. */
    dropletNewMs: 3000,
    /** Least time any other action stays `in-progress`. */
    actionMs: 1500,
  },
  account: {
    /** docs products/networking/reserved-ips/details/limits: 3 reserved IPs per account by default. */
    reservedIpLimit: 3,
    /** DigitalOcean's default for new accounts (docs products/droplets/details/limits). */
    dropletLimit: 10,
    volumeLimit: 100,
    email: "lab@example.com",
    uuid: "7c1d9a8e-3b4f-4e1a-9f0d-5a6b7c8d9e0f",
  },
  /** OAS description.yml:189-277: 5000 requests per hour. */
  rateLimitPerHour: 5000,
  /** The lab token when the caller gives none (never a real DigitalOcean token). */
  token: "lab-token-not-a-digitalocean-secret",
} as const;

export interface Timings {
  readonly dropletNewMs: number;
  readonly actionMs: number;
}
