import type { ApiClient } from "./client";
import type { Inputs, ProviderInvoke } from "./resource";

interface ApiAccount {
  droplet_limit: number;
  floating_ip_limit: number;
  reserved_ip_limit?: number;
  email: string;
  uuid: string;
  email_verified: boolean;
  status: string;
  status_message: string;
}

/**
 * The data source digitalocean_account (invoke digitalocean:index/getAccount:getAccount) —
 * terraform-provider-digitalocean digitalocean/account/datasource_account.go:55-72:
 * GET /v2/account; id = the account's uuid.
 */
export const getAccount: ProviderInvoke = {
  token: "digitalocean:index/getAccount:getAccount",
  async invoke(api: ApiClient, _args: Inputs): Promise<Record<string, unknown>> {
    const { body } = await api.call<{ account: ApiAccount }>("GET", "/v2/account");
    const a = body.account;
    return {
      id: a.uuid,
      dropletLimit: a.droplet_limit,
      floatingIpLimit: a.floating_ip_limit,
      email: a.email,
      uuid: a.uuid,
      emailVerified: a.email_verified,
      status: a.status,
      statusMessage: a.status_message,
    };
  },
};
