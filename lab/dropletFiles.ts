import { stringify } from "yaml";

/*
 * What the lab writes for a droplet before its first boot, besides the user-data the
 * metadata service serves: pure renderers (lab/droplet.ts puts them in place).
 */

/**
 * The droplet's cloud-init settings, in its overlay over the image's file of the same name:
 * cloud-init's own DigitalOcean datasource (DataSourceDigitalOcean, cloud-init 22.4.2) reads
 * the metadata service, as on a droplet, where ds-identify would pick it from the DMI vendor.
 * `use_ip4LL: false`: the datasource puts a link-local address on the lowest-ifindex
 * *physical* NIC (helpers/digitalocean.py:18-73, get_link_local_nic), and cloud-init counts a
 * NIC as physical only when /sys/class/net/<nic>/device exists (distros/networking.py:299-300)
 * — a veth has none, so the datasource would fail; the lab's eth0 is up and addressed before
 * boot instead, and reaches 169.254.169.254 through its gateway (lab/README.md).
 * Renderers: only ENI, as on DigitalOcean's Debian images; the lab image has no ifupdown, so
 * cloud-init converts the metadata's network config but cannot render it and leaves eth0 as
 * the lab set it (the same addresses). Without this, it would pick networkd (the lab's
 * systemctl stand-in exists) and fail on the missing systemd-network user.
 */
export function renderDropletCloudCfg(): string {
  return stringify({
    datasource_list: ["DigitalOcean", "None"],
    datasource: { DigitalOcean: { use_ip4LL: false } },
    system_info: { network: { renderers: ["eni"] } },
    // DigitalOcean's images log in as root with the droplet's SSH keys.
    disable_root: false,
  });
}

/**
 * What the droplet's /sys/class/dmi/id shows (cloud-init's dmi.read_dmi_data: sys_vendor is
 * "system-manufacturer", product_serial "system-serial-number"; helpers/digitalocean.py:
 * 218-243 requires the vendor "DigitalOcean" and takes the droplet id from the serial).
 */
export function renderDmi(id: string): Record<string, string> {
  return {
    sys_vendor: "DigitalOcean\n",
    product_serial: `${id}\n`,
    product_name: "Droplet\n",
  };
}
