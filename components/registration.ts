/**
 * What the operator types into manage.ntppool.org. The pool has no registration API, and
 * its add form queries the address live and accepts only stratum 1–5, so this is printed
 * for after verification.
 */
export interface Registration {
  readonly url: string;
  readonly addresses: readonly { readonly address: string; readonly family: "IPv4" | "IPv6" }[];
  readonly notes: readonly string[];
}

const MANAGE_URL = "https://manage.ntppool.org/manage/servers";

export function buildRegistration(ipv4: string, ipv6: string | undefined): Registration {
  const addresses: Registration["addresses"][number][] = [{ address: ipv4, family: "IPv4" }];
  if (ipv6 !== undefined) {
    addresses.push({ address: ipv6, family: "IPv6" });
  }
  return {
    url: MANAGE_URL,
    addresses,
    notes: [
      "Add each address as its own server: the pool treats IPv4 and IPv6 as separate servers.",
      "Register only after the verification output shows the member synchronised; the add form rejects stratum 0 and 16.",
      "Start with a low net speed setting: real load in underserved zones reaches tens of thousands of queries per second.",
    ],
  };
}
