import type { Cloud } from "./cloud";
import { ok, type Router } from "./core";

/**
 * The account (godo account.go) and the token-info endpoint `doctl auth init` validates
 * against (doctl do/oauth.go; docs/digitalocean-api.md#doctl).
 */
export function registerAccount(router: Router, cloud: Cloud): void {
  router.add("GET", "/v2/account", "account", () =>
    ok({
      account: {
        droplet_limit: cloud.account.dropletLimit,
        // The old name of the same limit (godo account.go keeps both).
        floating_ip_limit: cloud.account.reservedIpLimit,
        reserved_ip_limit: cloud.account.reservedIpLimit,
        volume_limit: cloud.account.volumeLimit,
        email: cloud.account.email,
        name: "Lab",
        uuid: cloud.account.uuid,
        email_verified: true,
        status: "active",
        status_message: "",
        team: { uuid: cloud.account.uuid, name: "My Team" },
      },
    }),
  );
  router.add("GET", "/v1/oauth/token/info", "account", () =>
    ok({
      resource_owner_id: cloud.ownerId,
      scopes: ["read", "write"],
      expires_in_seconds: 2_592_000,
      application: { uid: "" },
      created_at: Math.floor(cloud.now() / 1000),
    }),
  );
}
