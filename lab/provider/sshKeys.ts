import type { ApiClient } from "./client";
import type { Inputs, ProviderInvoke } from "./resource";
import type { ApiKey } from "./sshKey";

interface Filter {
  key: string;
  values: string[];
  all?: boolean;
  matchBy?: string;
}

interface Sort {
  key: string;
  direction?: string;
}

/** internal/datalist filter semantics: exact (default), substring or re; `all` = every value. */
export function matches(record: Record<string, unknown>, f: Filter): boolean {
  const v = String(record[f.key] ?? "");
  const one = (want: string): boolean =>
    f.matchBy === "substring"
      ? v.includes(want)
      : f.matchBy === "re"
        ? new RegExp(want).test(v)
        : v === want;
  return f.all ? f.values.every(one) : f.values.some(one);
}

/**
 * The data source digitalocean_ssh_keys (invoke digitalocean:index/getSshKeys:getSshKeys) —
 * terraform-provider-digitalocean digitalocean/sshkey/ssh_keys.go:33-66: GET
 * /v2/account/keys?page=N&per_page=200 until the last page, then the datalist's filters and
 * sorts (internal/datalist) over {id, name, fingerprint, public_key}.
 */
export const getSshKeys: ProviderInvoke = {
  token: "digitalocean:index/getSshKeys:getSshKeys",
  async invoke(api: ApiClient, args: Inputs): Promise<Record<string, unknown>> {
    const keys: ApiKey[] = [];
    for (let page = 1; ; page++) {
      const { body } = await api.call<{
        ssh_keys: ApiKey[];
        links?: { pages?: { next?: string; last?: string } };
      }>("GET", `/v2/account/keys?page=${page}&per_page=200`);
      keys.push(...body.ssh_keys);
      if (!body.links?.pages?.next) break;
    }
    let records = keys.map((k) => ({
      id: k.id,
      name: k.name,
      fingerprint: k.fingerprint,
      public_key: k.public_key,
    }));
    const filters = (args.filters as Filter[] | undefined) ?? [];
    for (const f of filters) records = records.filter((r) => matches(r, f));
    for (const s of [...((args.sorts as Sort[] | undefined) ?? [])].reverse()) {
      const dir = s.direction === "desc" ? -1 : 1;
      records.sort((a, b) =>
        String(a[s.key as keyof typeof a]) < String(b[s.key as keyof typeof b]) ? -dir : dir,
      );
    }
    return {
      ...args,
      id: "ssh_keys",
      sshKeys: records.map((r) => ({
        id: r.id,
        name: r.name,
        fingerprint: r.fingerprint,
        publicKey: r.public_key,
      })),
    };
  },
};
