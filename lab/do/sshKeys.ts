import { md5Fingerprint } from "../keys";
import type { Cloud, KeyRecord } from "./cloud";
import {
  addReads,
  bodyObject,
  created,
  noContent,
  notFound,
  ok,
  type Router,
  stringField,
  unprocessable,
} from "./core";

/**
 * SSH keys of the account (godo keys.go; TF sshkey/; docs/digitalocean-api.md#ssh-keys). GET/PUT/DELETE take
 * the id or the fingerprint (godo keys.go GetByFingerprint etc.).
 */

/**
 * DigitalOcean's fingerprint: MD5 of the decoded key blob as colon-separated hex (OAS
 * ssh_key_fingerprint.yml shows the 16-byte colon form; lab/keys.ts computes it). Undefined
 * when the text is no OpenSSH public key (its blob must start with its own type string).
 */
function sshFingerprint(publicKey: string): string | undefined {
  const [type, blob] = publicKey.trim().split(/\s+/);
  if (!type || !blob || !/^(ssh-|ecdsa-sha2-|sk-)/.test(type)) return undefined;
  const bytes = Buffer.from(blob, "base64");
  const len = bytes.length >= 4 ? bytes.readUInt32BE(0) : 0;
  if (len === 0 || bytes.subarray(4, 4 + len).toString("latin1") !== type) return undefined;
  return md5Fingerprint(publicKey);
}

const renderKey = (k: KeyRecord): Record<string, unknown> => ({
  id: k.id,
  fingerprint: k.fingerprint,
  public_key: k.publicKey,
  name: k.name,
});

function findKey(cloud: Cloud, ref: string | undefined): KeyRecord {
  const v = ref ?? "";
  const k = [...cloud.keys.values()].find((x) => String(x.id) === v || x.fingerprint === v);
  if (!k) throw notFound();
  return k;
}

export function registerSshKeys(router: Router, cloud: Cloud): void {
  const res = "ssh_keys";
  router.add("POST", "/v2/account/keys", res, (req) => {
    const b = bodyObject(req);
    const name = stringField(b, "name");
    const publicKey = stringField(b, "public_key").trim();
    const fingerprint = sshFingerprint(publicKey);
    if (!fingerprint)
      throw unprocessable(
        "Key invalid type, we support 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256'...",
      );
    // Observed wording (vagrant-digitalocean#178, packer-plugin-digitalocean#113).
    if ([...cloud.keys.values()].some((k) => k.fingerprint === fingerprint)) {
      throw unprocessable("SSH Key is already in use on your account");
    }
    const k: KeyRecord = { id: cloud.keyId(), name, publicKey, fingerprint };
    cloud.keys.set(k.id, k);
    return created({ ssh_key: renderKey(k) });
  });
  addReads(router, {
    path: "/v2/account/keys",
    resource: res,
    listKey: "ssh_keys",
    itemKey: "ssh_key",
    all: () => cloud.keys.values(),
    find: (ref) => findKey(cloud, ref),
    render: renderKey,
  });
  router.add("PUT", "/v2/account/keys/:ref", res, (req) => {
    const k = findKey(cloud, req.params.ref);
    k.name = stringField(bodyObject(req), "name");
    return ok({ ssh_key: renderKey(k) });
  });
  router.add("DELETE", "/v2/account/keys/:ref", res, (req) => {
    cloud.keys.delete(findKey(cloud, req.params.ref).id);
    return noContent;
  });
}
