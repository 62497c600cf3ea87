/** The dev stack's droplet as the program registers it (inputs of digitalocean.Droplet). */
export const DROPLET_INPUTS = {
  name: "ams-ntp-1",
  region: "ams3",
  size: "s-1vcpu-1gb",
  image: "debian-12-x64",
  ipv6: true,
  monitoring: true,
  userData: "#cloud-config\n",
  tags: ["ntppool-ams-ntp-1"],
} as const;
