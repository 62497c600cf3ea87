/**
 * NTPsec configuration for a pool member, written to /etc/ntpsec/ntp.conf by cloud-init.
 * cloud-init's own `ntp:` module is not used: it has no NTPsec client and writes
 * /etc/ntp.conf, which NTPsec never reads (docs/decisions.md#daemon-and-image).
 */

/** Paths of the Debian/Ubuntu ntpsec package. */
export const NTPSEC_PATHS = {
  conf: "/etc/ntpsec/ntp.conf",
  defaults: "/etc/default/ntpsec",
  drift: "/var/lib/ntpsec/ntp.drift",
  leap: "/usr/share/zoneinfo/leap-seconds.list",
} as const;

/** `upstreams` must already be validated (components/validate.ts). */
export function renderNtpConf(upstreams: readonly string[]): string {
  return [
    "# Written by ntp-pool (cloud-init). Rules: https://www.ntppool.org/join/configuration",
    "# and RFC 8633. Changes here are lost when the droplet is replaced.",
    `driftfile ${NTPSEC_PATHS.drift}`,
    // RFC 8633 §3.7: a public server must know about leap seconds; tzdata keeps this current.
    `leapfile ${NTPSEC_PATHS.leap}`,
    "",
    // Hand-picked upstreams with iburst (fast first sync); never `burst`, never the pool,
    // never the LOCAL clock: ntppool.org/join/configuration.
    ...upstreams.map((u) => `server ${u} iburst`),
    // Debian's own default. ntpd only follows a majority of at least three agreeing
    // upstreams, so no single bad server can pull the member off, even with `-g` after the
    // automatic restart (the reason Debian's unit ships Restart=no).
    "tos minclock 4 minsane 3",
    "",
    // Serve time to everyone, rate-limit abusers with KoD (NTPsec: `kod` needs `limited`),
    // refuse runtime changes and mode 6 queries from outside (no reflection amplifier).
    // `nopeer`/`notrap` are omitted: NTPsec ignores them and logs an error for each.
    "restrict default kod limited nomodify noquery",
    "restrict 127.0.0.1",
    "restrict ::1",
    "",
  ].join("\n");
}

/**
 * /etc/default/ntpsec. `-g` allows the first large step, `-N` runs at high priority (the
 * package defaults). IGNORE_DHCP: DigitalOcean's DHCP could otherwise replace the
 * configured upstreams with its own servers.
 */
export function renderNtpsecDefaults(): string {
  return ['NTPD_OPTS="-g -N"', 'IGNORE_DHCP="yes"', ""].join("\n");
}
