import { type ApiClient, isStatus, retryContext } from "./client";
import type { Created, Inputs, ProviderResource } from "./resource";

export interface ApiKey {
  id: number;
  name: string;
  fingerprint: string;
  public_key: string;
}

/** Default create timeout of the SDK (schema.DefaultTimeout = 20 min) bounds the 404 retries. */
const CREATE_TIMEOUT_S = 20 * 60;

/**
 * digitalocean.SshKey — terraform-provider-digitalocean digitalocean/sshkey/resource_ssh_key.go:
 * Create (61-97): POST /v2/account/keys {name, public_key}; then GET /v2/account/keys/{id}
 * retried while 404 (RetryContext, create timeout); then Read (99-124): GET again.
 */
export const sshKey: ProviderResource = {
  type: "digitalocean:index/sshKey:SshKey",
  async create(api: ApiClient, name: string, inputs: Inputs): Promise<Created> {
    const { body } = await api.call<{ ssh_key: ApiKey }>("POST", "/v2/account/keys", {
      name: String(inputs.name ?? name),
      public_key: String(inputs.publicKey),
    });
    const id = body.ssh_key.id;
    await retryContext("SSH key visible", CREATE_TIMEOUT_S, api.timing, async () => {
      try {
        await api.call("GET", `/v2/account/keys/${id}`);
        return "done";
      } catch (e) {
        if (isStatus(e, 404)) return "retry";
        throw e;
      }
    });
    const read = await api.call<{ ssh_key: ApiKey }>("GET", `/v2/account/keys/${id}`);
    const k = read.body.ssh_key;
    return {
      id: String(k.id),
      outputs: { ...inputs, name: k.name, fingerprint: k.fingerprint, publicKey: k.public_key },
    };
  },
};
