import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";

/** SSH wire encoding of a string (uint32 length + bytes). */
function sshString(b: Buffer | string): Buffer {
  const buf = typeof b === "string" ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(buf.length);
  return Buffer.concat([len, buf]);
}

/** The outputs of `tls.PrivateKey` for algorithm ED25519 (provider docs' attribute names). */
export interface Ed25519Key {
  readonly privateKeyOpenssh: string;
  readonly privateKeyPem: string;
  readonly privateKeyPemPkcs8: string;
  readonly publicKeyOpenssh: string;
  readonly publicKeyPem: string;
  readonly publicKeyFingerprintMd5: string;
  readonly publicKeyFingerprintSha256: string;
}

/**
 * A fresh Ed25519 key in the formats the tls provider returns. The OpenSSH private key is the
 * unencrypted "openssh-key-v1" container (PROTOCOL.key in OpenSSH's sources).
 */
export function generateEd25519(): Ed25519Key {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d as string, "base64url");
  const pub = Buffer.from(jwk.x as string, "base64url");
  const pubBlob = Buffer.concat([sshString("ssh-ed25519"), sshString(pub)]);
  const check = randomBytes(4);
  let priv = Buffer.concat([
    check,
    check,
    sshString("ssh-ed25519"),
    sshString(pub),
    sshString(Buffer.concat([seed, pub])),
    sshString(""),
  ]);
  const pad: number[] = [];
  for (let i = 1; (priv.length + pad.length) % 8 !== 0; i++) pad.push(i);
  priv = Buffer.concat([priv, Buffer.from(pad)]);
  const nkeys = Buffer.alloc(4);
  nkeys.writeUInt32BE(1);
  const body = Buffer.concat([
    Buffer.from("openssh-key-v1\0"),
    sshString("none"),
    sshString("none"),
    sshString(""),
    nkeys,
    sshString(pubBlob),
    sshString(priv),
  ]).toString("base64");
  const wrapped = body.match(/.{1,70}/g)?.join("\n") ?? body;
  const pkcs8 = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  return {
    privateKeyOpenssh: `-----BEGIN OPENSSH PRIVATE KEY-----\n${wrapped}\n-----END OPENSSH PRIVATE KEY-----\n`,
    privateKeyPem: pkcs8,
    privateKeyPemPkcs8: pkcs8,
    publicKeyOpenssh: `ssh-ed25519 ${pubBlob.toString("base64")}\n`,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    publicKeyFingerprintMd5: md5Fingerprint(`ssh-ed25519 ${pubBlob.toString("base64")}`),
    publicKeyFingerprintSha256: `SHA256:${createHash("sha256").update(pubBlob).digest("base64").replace(/=+$/, "")}`,
  };
}

/** DigitalOcean's SSH key fingerprint: MD5 of the key blob, colon-separated hex. */
export function md5Fingerprint(publicKeyOpenssh: string): string {
  const blob = publicKeyOpenssh.trim().split(/\s+/)[1];
  if (!blob)
    throw new Error(`publicKey: not an OpenSSH public key: "${publicKeyOpenssh.slice(0, 40)}"`);
  const hex = createHash("md5").update(Buffer.from(blob, "base64")).digest("hex");
  return hex.match(/../g)?.join(":") ?? hex;
}
