import type { ImageObject, RegionObject, SizeObject } from "../do/catalog";
import type { ApiClient } from "./client";
import type { Inputs, ProviderInvoke } from "./resource";
import { matches } from "./sshKeys";

type Filter = Parameters<typeof matches>[1];

/**
 * Every page of a list endpoint, per_page 200, until `links.pages.next` is gone: how the
 * provider's list data sources page (terraform-provider-digitalocean region/regions.go
 * getDigitalOceanRegions, size/datasource_sizes.go getDigitalOceanSizes,
 * image/images.go listDigitalOceanImages).
 */
async function listAll<T>(api: ApiClient, path: string, key: string): Promise<T[]> {
  const all: T[] = [];
  for (let page = 1; ; page++) {
    const { body } = await api.call<Record<string, unknown>>(
      "GET",
      `${path}?page=${page}&per_page=200`,
    );
    all.push(...((body[key] as T[] | undefined) ?? []));
    const links = body.links as { pages?: { next?: string } } | undefined;
    if (!links?.pages?.next) break;
  }
  return all;
}

/** internal/datalist: the filters (sorts are not used by the program) over flattened records. */
function filtered<R extends Record<string, unknown>>(records: R[], args: Inputs): R[] {
  const filters = (args.filters as Filter[] | undefined) ?? [];
  return records.filter((r) => filters.every((f) => matches(r, f)));
}

/** digitalocean_regions (region/datasource_regions.go, flattenRegion). */
export const getRegions: ProviderInvoke = {
  token: "digitalocean:index/getRegions:getRegions",
  async invoke(api: ApiClient, args: Inputs): Promise<Record<string, unknown>> {
    const regions = await listAll<RegionObject>(api, "/v2/regions", "regions");
    const records = regions.map((r) => ({
      slug: r.slug,
      name: r.name,
      available: r.available,
      sizes: [...r.sizes],
      features: [...r.features],
    }));
    return { ...args, id: "regions", regions: filtered(records, args) };
  },
};

/** digitalocean_sizes (size/datasource_sizes.go, flattenDigitalOceanSize). */
export const getSizes: ProviderInvoke = {
  token: "digitalocean:index/getSizes:getSizes",
  async invoke(api: ApiClient, args: Inputs): Promise<Record<string, unknown>> {
    const sizes = await listAll<SizeObject>(api, "/v2/sizes", "sizes");
    const records = sizes.map((s) => ({
      slug: s.slug,
      available: s.available,
      transfer: s.transfer,
      priceMonthly: s.price_monthly,
      priceHourly: s.price_hourly,
      memory: s.memory,
      vcpus: s.vcpus,
      disk: s.disk,
      regions: [...s.regions],
      gpuInfos: [],
    }));
    return { ...args, id: "sizes", sizes: filtered(records, args) };
  },
};

/** digitalocean_images (image/datasource_images.go; GET /v2/images, every type). */
export const getImages: ProviderInvoke = {
  token: "digitalocean:index/getImages:getImages",
  async invoke(api: ApiClient, args: Inputs): Promise<Record<string, unknown>> {
    const images = await listAll<ImageObject>(api, "/v2/images", "images");
    const records = images.map((i) => ({
      id: i.id,
      name: i.name,
      slug: i.slug,
      distribution: i.distribution,
      type: i.type,
      private: !i.public,
      regions: [...i.regions],
      minDiskSize: i.min_disk_size,
      sizeGigabytes: i.size_gigabytes,
      description: i.description,
      status: i.status,
      tags: [...i.tags],
      created: i.created_at,
      image: String(i.id),
      errorMessage: "",
    }));
    return { ...args, id: "images", images: filtered(records, args) };
  },
};
