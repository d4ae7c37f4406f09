/**
 * JWS signature checks and signing with node:crypto `KeyObject`s, synchronously: no WebCrypto, no
 * promise per token. The verifier prepares one {@link TokenKey} per published key and reuses it.
 */
import { createPublicKey, KeyObject, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { AAuthError } from './errors.js';
import { defaultCryptoBackend, importPublicKey, isKitKey, scratchBytes, type PublicKey } from './keys.js';
import { b64uDecode } from './lib/base64.js';

/** A public key prepared for JWS verification, with the `alg` values it can check. */
export interface TokenKey {
  readonly keyObject: KeyObject;
  /** JWS algorithms this key verifies (RFC 7518 section 3.1, RFC 8037, draft -11 `Ed25519`). */
  readonly algorithms: readonly string[];
  /**
   * An Ed25519 key as core's `PublicKey` on the libsodium backend, when that is the default
   * (sodium-native installed): Ed25519 tokens are then checked as request signatures are.
   */
  readonly ed25519?: PublicKey | undefined;
}

const PUBLIC_MEMBERS = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;

function algorithmsOf(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      // RFC 7518 section 3.3: RS256 keys are 2048 bits or larger.
      return (key.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 ? ['RS256'] : [];
    case 'ec':
      return key.asymmetricKeyDetails?.namedCurve === 'prime256v1' ? ['ES256'] : [];
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      return [];
  }
}

/**
 * Prepare a public key (a `KeyObject`, or a public JWK whose `alg`, if any, narrows what it
 * verifies) for {@link verifyTokenSignature}. Throws `key_invalid` for anything else.
 */
export function importTokenKey(key: KeyObject | object): TokenKey {
  let keyObject: KeyObject;
  let jwkAlg: unknown;
  if (key instanceof KeyObject) {
    keyObject = key.type === 'private' ? createPublicKey(key) : key;
  } else {
    if (typeof key !== 'object' || key === null) throw new AAuthError('key_invalid', 'A token key must be a KeyObject or a JWK');
    const jwk = key as Record<string, unknown>;
    jwkAlg = jwk.alg;
    const pub: Record<string, unknown> = {};
    for (const m of PUBLIC_MEMBERS) if (jwk[m] !== undefined) pub[m] = jwk[m];
    try {
      keyObject = createPublicKey({ key: pub as never, format: 'jwk' });
    } catch (error) {
      throw new AAuthError('key_invalid', `Not a usable public key: ${(error as Error).message}`, { cause: error });
    }
  }
  if (keyObject.type !== 'public') throw new AAuthError('key_invalid', 'A token key must be a public key');
  if (keyObject.asymmetricKeyType === 'rsa') checkRsaCost(keyObject);
  let algorithms = algorithmsOf(keyObject);
  // A JWK that names its algorithm verifies that one only (RFC 7517 section 4.4); EdDSA and Ed25519 are one.
  if (typeof jwkAlg === 'string') algorithms = algorithms.filter((a) => a === jwkAlg || (a.startsWith('Ed') && String(jwkAlg).startsWith('Ed')));
  if (keyObject.asymmetricKeyType === 'ed25519' && defaultCryptoBackend() === 'sodium') {
    return { keyObject, algorithms, ed25519: importPublicKey(keyObject.export({ format: 'jwk' }), { backend: 'sodium' }) };
  }
  return { keyObject, algorithms };
}

/** Largest RSA modulus a token key may have, in bits (a public-key operation grows with its square). */
const MAX_RSA_BITS = 8192;
/** Largest RSA public exponent (65537 is the usual one); a public-key operation grows with its length. */
const MAX_RSA_EXPONENT = 2n ** 32n;

/**
 * Refuse an RSA key whose every verification would cost far more than a real one (a published key
 * is untrusted input: a resource's JWKS): a modulus over 8192 bits, or a public exponent over
 * 2^32 (a 3072-bit exponent makes each check ~40x as slow as with 65537).
 */
function checkRsaCost(keyObject: KeyObject): void {
  const details = keyObject.asymmetricKeyDetails;
  const bits = details?.modulusLength ?? 0;
  if (bits > MAX_RSA_BITS) {
    throw new AAuthError('key_invalid', `The RSA key has a ${bits}-bit modulus; token keys are at most ${MAX_RSA_BITS} bits (2048 to 4096 is usual)`);
  }
  const exponent = details?.publicExponent ?? 0n;
  if (exponent > MAX_RSA_EXPONENT) {
    throw new AAuthError('key_invalid', `The RSA key has a ${exponent.toString(2).length}-bit public exponent; token keys need one of at most 2^32 (65537, "e":"AQAB", is usual)`);
  }
}

/**
 * Check the signature of a compact JWS (three parts, already decoded once) made with `alg` and
 * `key`. False on any mismatch (wrong key type for `alg`, bad encoding, bad signature); never throws.
 */
export function verifyTokenSignature(jwt: string, alg: string, key: TokenKey): boolean {
  if (!key.algorithms.includes(alg)) return false;
  const dot = jwt.lastIndexOf('.');
  const signature = b64uDecode(jwt.slice(dot + 1));
  if (!signature) return false;
  // The JWS signing input is ASCII (RFC 7515 section 5.2): latin1 copies it byte for byte, into
  // the shared buffer (issue 18), as every verify below is synchronous and keeps nothing.
  const text = jwt.slice(0, dot);
  const input = key.ed25519 === undefined || isKitKey(key.ed25519) ? scratchBytes(text, 'latin1') : Buffer.from(text, 'latin1');
  try {
    switch (alg) {
      case 'RS256':
        return nodeVerify('sha256', input, key.keyObject, signature);
      case 'ES256':
        // RFC 7518 section 3.4: R || S, 64 bytes, not DER.
        return signature.length === 64 && nodeVerify('sha256', input, { key: key.keyObject, dsaEncoding: 'ieee-p1363' }, signature);
      case 'EdDSA':
      case 'Ed25519':
        if (signature.length !== 64) return false;
        return key.ed25519 !== undefined ? key.ed25519.verify(input, signature) : nodeVerify(null, input, key.keyObject, signature);
      default:
        return false;
    }
  } catch {
    return false;
  }
}

/** The private key type each JWS algorithm signs with (RFC 7518 section 3.1, RFC 8037, draft -11 `Ed25519`). */
const SIGNING_KEY_TYPE: Readonly<Record<string, string>> = { RS256: 'rsa', ES256: 'ec', EdDSA: 'ed25519', Ed25519: 'ed25519' };

/**
 * Sign a compact JWS (a JWT when `payload` holds claims) with `alg` and a private `KeyObject`,
 * synchronously: `{header with alg}.{payload}.{signature}`, each part base64url of its JSON (RFC
 * 7515 section 7.1). The same bytes jose's `SignJWT` produces for these algorithms. Throws a
 * TypeError when the key cannot make `alg` (wrong type, RSA under 2048 bits, a curve other than P-256).
 */
export function signCompactJws(header: Record<string, unknown>, payload: object, alg: string, privateKey: KeyObject): string {
  const signBytes = jwsSigner(alg, privateKey);
  const input = `${Buffer.from(JSON.stringify({ ...header, alg })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  // The signing input is ASCII (base64url and a dot).
  return `${input}.${signBytes(Buffer.from(input, 'latin1')).toString('base64url')}`;
}

/**
 * The JWS signature function of `alg` with a private `KeyObject`, the key checked once: a
 * `TypeError` now when it cannot sign `alg` (wrong type, RSA under 2048 bits, EC not on P-256).
 * ES256 signatures are R || S (RFC 7518 section 3.4).
 */
export function jwsSigner(alg: string, privateKey: KeyObject): (data: Buffer) => Buffer {
  const wanted = SIGNING_KEY_TYPE[alg];
  if (wanted === undefined) throw new TypeError(`Unsupported JWS alg ${JSON.stringify(alg)}`);
  if (!(privateKey instanceof KeyObject) || privateKey.type !== 'private' || privateKey.asymmetricKeyType !== wanted) {
    throw new TypeError(`The key cannot sign ${alg}: it must be a private ${wanted} key`);
  }
  const details = privateKey.asymmetricKeyDetails;
  if (alg === 'RS256' && (details?.modulusLength ?? 0) < 2048) throw new TypeError('RS256 keys must be 2048 bits or larger');
  if (alg === 'ES256' && details?.namedCurve !== 'prime256v1') throw new TypeError('ES256 keys must be on P-256');
  if (alg === 'RS256') return (data) => nodeSign('sha256', data, privateKey);
  if (alg === 'ES256') return (data) => nodeSign('sha256', data, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return (data) => nodeSign(null, data, privateKey);
}
