import { createHmac, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { computeThumbprint, importPrivateKey } from '@aauth-kit/core';
import { jsonSyntaxText, jwsSigner } from '@aauth-kit/core/internal';
import type { JWTPayload } from 'jose';
import type { SigningAlgorithm } from '../load-realm.js';

/** The realm's signing key: signs auth tokens, published in the realm JWKS. */
export interface RealmKey {
  readonly alg: SigningAlgorithm;
  readonly kid: string;
  /** The JWKS entry: public members, `kid`, `use`, and `alg` except for EdDSA (section 2). */
  readonly publicJwk: Record<string, string>;
  readonly publicKey: KeyObject;
  /** Sign a JWT with this key: header `{alg, typ, kid}`. Its tokens are verified by the verifier, as every token. */
  sign(typ: string, claims: JWTPayload): Promise<string>;
  /**
   * A 32-byte secret for `label`, derived from the private key (HMAC-SHA256 keyed by its PKCS#8
   * bytes): every server holding the same key file derives the same secret (issue 17, fleets).
   */
  deriveSecret(label: string): Buffer;
}

const KTY: Record<SigningAlgorithm, { kty: string; crv?: string }> = {
  RS256: { kty: 'RSA' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  ES256: { kty: 'EC', crv: 'P-256' },
};

function generate(alg: SigningAlgorithm): KeyObject {
  // Generated as DER and re-imported: a KeyObject straight from generateKeyPairSync can deadlock
  // Node 20 when a GC finalises the generation job while the key is exported (see core keys.ts).
  const encodings = { privateKeyEncoding: { format: 'der', type: 'pkcs8' }, publicKeyEncoding: { format: 'der', type: 'spki' } } as const;
  const der =
    alg === 'RS256'
      ? generateKeyPairSync('rsa', { modulusLength: 2048, ...encodings }).privateKey
      : alg === 'ES256'
        ? generateKeyPairSync('ec', { namedCurve: 'P-256', ...encodings }).privateKey
        : generateKeyPairSync('ed25519', encodings).privateKey;
  return createPrivateKey({ key: der as unknown as Buffer, format: 'der', type: 'pkcs8' });
}

function publicMembers(jwk: Record<string, unknown>): Record<string, string> {
  const names = jwk.kty === 'RSA' ? ['kty', 'n', 'e'] : jwk.kty === 'EC' ? ['kty', 'crv', 'x', 'y'] : ['kty', 'crv', 'x'];
  return Object.fromEntries(names.map((n) => [n, String(jwk[n])]));
}

function readKeyFile(path: string, alg: SigningAlgorithm): KeyObject {
  let jwk: Record<string, unknown>;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new TypeError(`options.keyFile ${path} cannot be read as a private JWK: ${(error as Error).message}`);
  }
  try {
    jwk = JSON.parse(text) as Record<string, unknown>;
  } catch (error) {
    // Never an excerpt of the file: it holds a private key.
    throw new TypeError(`options.keyFile ${path} cannot be read as a private JWK: ${jsonSyntaxText(error)}`);
  }
  const want = KTY[alg];
  if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
    throw new TypeError(`options.keyFile ${path} must hold a private JWK (with "d")`);
  }
  if (jwk.kty !== want.kty || (want.crv !== undefined && jwk.crv !== want.crv)) {
    throw new TypeError(
      `options.keyFile ${path} holds a ${String(jwk.kty)}${jwk.crv ? `/${String(jwk.crv)}` : ''} key, ` +
        `but options.signingAlgorithm ${alg} needs ${want.kty}${want.crv ? `/${want.crv}` : ''}`,
    );
  }
  const { kid: _kid, alg: _alg, use: _use, key_ops: _ops, ...rest } = jwk;
  try {
    return createPrivateKey({ key: rest as never, format: 'jwk' });
  } catch (error) {
    throw new TypeError(`options.keyFile ${path} is not a usable private key: ${(error as Error).message}`);
  }
}

/**
 * The realm key's synchronous JWS signer (issue 18): the same bytes as core's `signCompactJws`
 * (header `{alg, typ, kid}`), with the key checked once here instead of on every token, the
 * encoded header made once per `typ`, and an Ed25519 key signing through core's key with the
 * kit's crypto backend (libsodium when it is the default), RS256 and ES256 through node:crypto.
 */
function realmSigner(alg: SigningAlgorithm, kid: string, privateKey: KeyObject, jwk: Record<string, unknown>): (typ: string, claims: JWTPayload) => string {
  // A key core would refuse (e.g. RSA under 2048 bits) refuses every token, as signCompactJws did.
  let unusable: unknown;
  let signBytes: ((data: Buffer) => Uint8Array) | undefined;
  try {
    signBytes = jwsSigner(alg, privateKey);
  } catch (error) {
    unusable = error;
  }
  if (signBytes !== undefined && alg === 'EdDSA') {
    const edKey = importPrivateKey({ kty: 'OKP', crv: 'Ed25519', x: String(jwk.x), d: String(jwk.d) });
    signBytes = (data) => edKey.sign(data);
  }
  const headers = new Map<string, string>();
  return (typ, claims) => {
    if (signBytes === undefined) throw unusable;
    let header = headers.get(typ);
    if (header === undefined) {
      header = Buffer.from(JSON.stringify({ alg, typ, kid })).toString('base64url');
      if (headers.size < 16) headers.set(typ, header);
    }
    const input = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    return `${input}.${Buffer.from(signBytes(Buffer.from(input, 'latin1'))).toString('base64url')}`;
  };
}

/**
 * Load the realm key from `keyFile`, or create it there (mode 0600) when the file is absent; with
 * no `keyFile`, an ephemeral key (tokens stop verifying after a restart: the caller warns).
 */
export function loadRealmKey(alg: SigningAlgorithm, keyFile: string | undefined): RealmKey {
  let privateKey: KeyObject;
  if (keyFile !== undefined && existsSync(keyFile)) {
    privateKey = readKeyFile(keyFile, alg);
  } else {
    privateKey = generate(alg);
  }
  const exported = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const pub = publicMembers(exported);
  // RFC 7638 thumbprint as kid: stable across restarts when the key persists.
  const kid = computeThumbprint(pub);
  if (keyFile !== undefined && !existsSync(keyFile)) {
    writeFileSync(keyFile, `${JSON.stringify({ ...exported, kid, alg }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  }
  const publicKey = createPublicKey(privateKey);
  // The Keycloak extension mishandles "alg":"EdDSA" in JWKS entries (section 2); RS256 and ES256 carry it as Keycloak does.
  const publicJwk: Record<string, string> = alg === 'EdDSA' ? { ...pub, kid, use: 'sig' } : { ...pub, kid, use: 'sig', alg };
  const sign = realmSigner(alg, kid, privateKey, exported);
  return {
    alg,
    kid,
    publicJwk,
    publicKey,
    // Synchronous node:crypto signing (issue 18): no WebCrypto round trip per token; the same JWS jose made.
    sign: (typ, claims) => {
      try {
        return Promise.resolve(sign(typ, claims));
      } catch (error) {
        return Promise.reject(error);
      }
    },
    deriveSecret: (label) => createHmac('sha256', privateKey.export({ format: 'der', type: 'pkcs8' })).update(`aauth-kit derived secret\0${label}`).digest(),
  };
}
