// The physical limit of one Ed25519 operation on this machine: raw libsodium (sodium-native, an
// optional dependency) when it is installed, raw node:crypto otherwise. node:crypto is always
// measured beside it, so the report shows both and which one the ratios are taken against.
import { createPrivateKey, createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import { createRequire } from 'node:module';

let sodium = null;
let sodiumError = null;
try {
  sodium = createRequire(import.meta.url)('sodium-native');
} catch (e) {
  sodiumError = e.message;
}

/** True when raw libsodium is the limit row (sodium-native loads). */
export const hasSodium = sodium !== null;
/** The name of the limit row, for table headings. */
export const LIMIT = hasSodium ? 'libsodium' : 'node:crypto';
/** A sentence for the figure descriptions: which limit, and why. */
export const limitNote = hasSodium
  ? 'The limit row is a raw libsodium (sodium-native) Ed25519 operation on the same bytes, the fastest Ed25519 available here; the raw node:crypto operation is shown beside it.'
  : `The limit row is a raw node:crypto Ed25519 operation: sodium-native (libsodium, the fastest Ed25519) is not installed here (${sodiumError}).`;

/**
 * Raw verifies over a pool of distinct signed messages, `pairs` of [base, sig] taken in turn:
 * { limit, node } closures (limit is libsodium when installed, else the node closure itself), each
 * throwing if a signature does not verify. The limit of one verify per *request*: requests
 * are distinct, and Ed25519 verification is variable-time, so one signature verified over and over
 * runs faster than distinct ones (the branch predictor learns its one path): 2-9% here
 * (bench/distinct-signatures.mjs).
 */
export function rawPoolVerifiers(jwk, pairs) {
  const n = pairs.length;
  const pub = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });
  let i = 0;
  const node = () => {
    const [base, sig] = pairs[i++ % n];
    if (!nodeVerify(null, base, pub, sig)) throw new Error('node:crypto baseline verify failed');
  };
  if (!hasSodium) return { limit: node, node };
  const raw = Buffer.from(jwk.x, 'base64url');
  let j = 0;
  const limit = () => {
    const [base, sig] = pairs[j++ % n];
    if (!sodium.crypto_sign_verify_detached(sig, base, raw)) throw new Error('libsodium baseline verify failed');
  };
  for (let k = 0; k < n; k++) limit();
  for (let k = 0; k < Math.min(n, 64); k++) node();
  return { limit, node };
}

/** A signed request's [signature base, signature] bytes (a signRequest result), for rawPoolVerifiers. */
export const signedPair = (signed) => [Buffer.from(signed.signatureBase), Buffer.from(/:([^:]*):/.exec(signed.headers.signature)[1], 'base64')];

/** Raw signs of `base` with the private JWK (d, x): { limit, node } closures. */
export function rawSigners(privateJwk, base) {
  const pk = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', x: privateJwk.x, d: privateJwk.d }, format: 'jwk' });
  const node = () => nodeSign(null, base, pk);
  if (!hasSodium) return { limit: node, node };
  const secret = Buffer.alloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES), secret, Buffer.from(privateJwk.d, 'base64url'));
  const out = Buffer.alloc(sodium.crypto_sign_BYTES);
  const limit = () => {
    sodium.crypto_sign_detached(out, base, secret);
    return out;
  };
  // Both produce the same (deterministic) Ed25519 signature.
  if (!limit().equals(node())) throw new Error('libsodium and node:crypto disagree on an Ed25519 signature');
  return { limit, node };
}
