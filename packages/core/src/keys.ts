import {
  createECDH,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { closeSync, existsSync, fchmodSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AAuthError } from './errors.js';
import { b64uDecode } from './lib/base64.js';
import { jsonSyntaxText } from './lib/json-syntax.js';

/** An Ed25519 public JWK (RFC 8037). */
export interface OkpPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid?: string;
  alg?: string;
  use?: string;
}
/** A P-256 public JWK. */
export interface EcPublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  kid?: string;
  alg?: string;
  use?: string;
}
/** An RSA public JWK (JWT issuers only). */
export interface RsaPublicJwk {
  kty: 'RSA';
  n: string;
  e: string;
  kid?: string;
  alg?: string;
  use?: string;
}
export type PublicJwk = OkpPublicJwk | EcPublicJwk | RsaPublicJwk;
/** A private signing JWK (`d` present). */
export type PrivateJwk = (OkpPublicJwk | EcPublicJwk) & { d: string };

/** Signature algorithms for HTTP message signatures, named as RFC 9421 section 6.2 names them. */
export type HttpSigAlgorithm = 'ed25519' | 'ecdsa-p256-sha256';
/**
 * Which implementation signs and verifies Ed25519: libsodium through the optional dependency
 * `sodium-native` (the default when it loads: about 2x node:crypto here, BENCHMARKS.md figure 1),
 * node:crypto (the default without it), or @noble/ed25519 (the portable fallback, by choice only).
 * P-256 keys always use node:crypto. See {@link defaultCryptoBackend}.
 */
export type CryptoBackend = 'node' | 'noble' | 'sodium';

/** The slice of sodium-native the kit uses. */
interface SodiumApi {
  crypto_sign_verify_detached(signature: Uint8Array, message: Uint8Array, publicKey: Uint8Array): boolean;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): void;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): void;
}

/** The functions and sizes of sodium-native 5's addon that its JS API wraps for the three above. */
interface SodiumBinding {
  crypto_sign_BYTES: number;
  crypto_sign_PUBLICKEYBYTES: number;
  crypto_sign_SECRETKEYBYTES: number;
  crypto_sign_SEEDBYTES: number;
  crypto_sign_seed_keypair(publicKey: Uint8Array, secretKey: Uint8Array, seed: Uint8Array): number;
  crypto_sign_detached(signature: Uint8Array, message: Uint8Array, secretKey: Uint8Array): number;
  crypto_sign_verify_detached(...bufferOffsetLength: [ArrayBufferLike, number, number, ArrayBufferLike, number, number, ArrayBufferLike, number, number]): boolean;
}

/** RFC 8032 section 7.1, TEST 2 (also in test/vectors/rfc8032-ed25519.json): the prebuilt addon must reproduce it before the kit uses it. */
const RFC8032_TEST_2 = {
  seed: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
  publicKey: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
  message: '72',
  signature: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
};

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

/**
 * The three functions over sodium-native 5's addon, with the argument checks of the package's own
 * JS API (the addon aborts the process on a wrong size instead of throwing).
 */
function wrapSodiumBinding(b: SodiumBinding): SodiumApi {
  const views = (...arrays: unknown[]): void => check(arrays.every((a) => ArrayBuffer.isView(a)), 'sodium arguments must be typed arrays');
  return {
    crypto_sign_seed_keypair(publicKey, secretKey, seed) {
      views(publicKey, secretKey, seed);
      check(publicKey.byteLength === b.crypto_sign_PUBLICKEYBYTES && secretKey.byteLength === b.crypto_sign_SECRETKEYBYTES && seed.byteLength === b.crypto_sign_SEEDBYTES, 'crypto_sign_seed_keypair: wrong sizes');
      check(b.crypto_sign_seed_keypair(publicKey, secretKey, seed) === 0, 'crypto_sign_seed_keypair failed');
    },
    crypto_sign_detached(signature, message, secretKey) {
      views(signature, message, secretKey);
      check(signature.byteLength === b.crypto_sign_BYTES && secretKey.byteLength === b.crypto_sign_SECRETKEYBYTES, 'crypto_sign_detached: wrong sizes');
      check(b.crypto_sign_detached(signature, message, secretKey) === 0, 'crypto_sign_detached failed');
    },
    crypto_sign_verify_detached(signature, message, publicKey) {
      views(signature, message, publicKey);
      check(signature.byteLength >= b.crypto_sign_BYTES && publicKey.byteLength === b.crypto_sign_PUBLICKEYBYTES, 'crypto_sign_verify_detached: wrong sizes');
      return b.crypto_sign_verify_detached(
        signature.buffer,
        signature.byteOffset,
        signature.byteLength,
        message.buffer,
        message.byteOffset,
        message.byteLength,
        publicKey.buffer,
        publicKey.byteOffset,
        publicKey.byteLength,
      );
    },
  };
}

/**
 * sodium-native 5 the short way (issue 18, cold start): its prebuilt addon for this platform
 * straight from the package's prebuilds/ (one dlopen, through `require` so that a later
 * `require('sodium-native')` reuses it), where the package's entry point finds the same file through
 * require-addon's resolver and then wraps ~300 functions: ~15 ms of a resource's start. Undefined,
 * and the caller loads the package itself, on anything unexpected: another major version, no
 * prebuild for this platform-arch, musl (its prebuilds are named apart), a load error, or an addon
 * that does not reproduce RFC 8032's TEST 2 (sign, verify, and refuse a changed signature).
 */
export function loadSodiumPrebuild(require: NodeJS.Require = createRequire(import.meta.url)): SodiumApi | undefined {
  try {
    const manifestPath = require.resolve('sodium-native/package.json');
    const version = (require(manifestPath) as { version?: unknown }).version;
    if (typeof version !== 'string' || !version.startsWith('5.')) return undefined;
    if (process.platform === 'linux' && existsSync('/etc/alpine-release')) return undefined;
    const addon = join(dirname(manifestPath), 'prebuilds', `${process.platform}-${process.arch}`, 'sodium-native.node');
    if (!existsSync(addon)) return undefined;
    const api = wrapSodiumBinding(require(addon) as SodiumBinding);
    const hex = (h: string): Buffer => Buffer.from(h, 'hex');
    const publicKey = Buffer.alloc(32);
    const secretKey = Buffer.alloc(64);
    api.crypto_sign_seed_keypair(publicKey, secretKey, hex(RFC8032_TEST_2.seed));
    const signature = Buffer.alloc(64);
    api.crypto_sign_detached(signature, hex(RFC8032_TEST_2.message), secretKey);
    const changed = Buffer.from(signature);
    changed[0]! ^= 1;
    const reproduced =
      publicKey.equals(hex(RFC8032_TEST_2.publicKey)) &&
      signature.equals(hex(RFC8032_TEST_2.signature)) &&
      api.crypto_sign_verify_detached(signature, hex(RFC8032_TEST_2.message), publicKey) === true &&
      api.crypto_sign_verify_detached(changed, hex(RFC8032_TEST_2.message), publicKey) === false;
    return reproduced ? api : undefined;
  } catch {
    return undefined;
  }
}

const requireSodium = (): unknown => loadSodiumPrebuild() ?? createRequire(import.meta.url)('sodium-native');
let sodiumLoader: () => unknown = requireSodium;
/** The outcome of the one attempt to load sodium-native: the API, or why it did not load. */
let sodiumLoaded: { api: SodiumApi } | { error: Error } | undefined;

function tryLoadSodium(): { api: SodiumApi } | { error: Error } {
  if (sodiumLoaded === undefined) {
    try {
      const api = sodiumLoader() as SodiumApi;
      if (typeof api?.crypto_sign_verify_detached !== 'function') throw new Error('sodium-native has no crypto_sign_verify_detached');
      sodiumLoaded = { api };
    } catch (error) {
      sodiumLoaded = { error: error instanceof Error ? error : new Error(String(error)) };
    }
  }
  return sodiumLoaded;
}

function sodium(): SodiumApi {
  const loaded = tryLoadSodium();
  if ('error' in loaded) {
    throw new TypeError(`The 'sodium' backend needs the optional dependency sodium-native (npm install sodium-native): ${loaded.error.message}`);
  }
  return loaded.api;
}

/**
 * The Ed25519 backend used when none is given (`backend` of the key functions, `cryptoBackend` of
 * the verifier): `'sodium'` when the optional dependency sodium-native loads, else `'node'`.
 * Decided once per process, on first use; never throws. `'noble'` is never the default.
 */
export function defaultCryptoBackend(): CryptoBackend {
  return 'api' in tryLoadSodium() ? 'sodium' : 'node';
}

/**
 * For tests: replace how sodium-native is loaded (a loader that throws stands for an absent
 * package) and forget the earlier outcome; no argument restores the real loader.
 */
export function setSodiumLoaderForTests(loader?: () => unknown): void {
  sodiumLoader = loader ?? requireSodium;
  sodiumLoaded = undefined;
}

/** A public key ready to verify HTTP message signatures. */
export interface PublicKey {
  /** The public JWK, without private members. */
  readonly jwk: OkpPublicJwk | EcPublicJwk;
  /** RFC 7638 SHA-256 thumbprint, base64url. */
  readonly thumbprint: string;
  readonly algorithm: HttpSigAlgorithm;
  /** Verify `signature` over `data`; false on any mismatch, never throws for bad signatures. */
  verify(data: Uint8Array, signature: Uint8Array): boolean;
}

/** A private key that signs HTTP message signatures and JWTs. */
export interface SigningKey extends PublicKey {
  /** Key id as published in this party's `/jwks.json`. */
  readonly kid: string;
  /** JWS `alg` for JWTs this key signs. */
  readonly jwsAlgorithm: 'EdDSA' | 'ES256';
  readonly backend: CryptoBackend;
  /** Sign `data`; Ed25519 is deterministic. */
  sign(data: Uint8Array): Uint8Array;
  /** The node:crypto private key (for jose). */
  readonly privateKeyObject: KeyObject;
  /** Export the private JWK (with `kid`). Handle with care. */
  toPrivateJwk(): PrivateJwk;
  /** Export PKCS#8 PEM. */
  toPem(): string;
  /** The JWK to publish in `/jwks.json` (with `kid`, and no `alg`: wire profile section 2). */
  toPublishedJwk(): OkpPublicJwk | EcPublicJwk;
}

export interface KeyOptions {
  /** Key id; default: the RFC 7638 thumbprint. */
  kid?: string | undefined;
  /** Ed25519 implementation; default {@link defaultCryptoBackend}() (`'sodium'` when sodium-native loads, else `'node'`). P-256 keys always use node:crypto. */
  backend?: CryptoBackend | undefined;
}

/** Options of {@link saveKeyFile}. */
export interface SaveKeyFileOptions {
  /** `'jwk'` (default: private JWK with `kid`, JSON) or `'pem'` (PKCS#8; the `kid` is not stored). */
  format?: 'jwk' | 'pem' | undefined;
}

function checkKeyOptions(options: KeyOptions, path = 'options'): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${path} must be an object`);
  if (options.kid !== undefined && (typeof options.kid !== 'string' || options.kid.length === 0)) {
    throw new TypeError(`${path}.kid must be a non-empty string`);
  }
  checkBackend(options.backend, `${path}.backend`);
}

function checkBackend(backend: unknown, path: string): void {
  if (backend !== undefined && backend !== 'node' && backend !== 'noble' && backend !== 'sodium') {
    throw new TypeError(`${path} must be 'node', 'noble' or 'sodium'`);
  }
  // Fail at configuration time, not on the first request, when a backend cannot load.
  if (backend === 'sodium') sodium();
  if (backend === 'noble') noble();
}

type Noble = typeof import('@noble/ed25519');
const requireNoble = (): unknown => createRequire(import.meta.url)('@noble/ed25519');
let nobleLoader: () => unknown = requireNoble;
let nobleApi: Noble | undefined;
/**
 * @noble/ed25519's API, loaded on first use: it is an ES module only, loaded with `require()`
 * (Node.js 20.19 and later load ES modules that way), so a process that never chooses the noble
 * backend never loads it. Throws a TypeError naming the fix where it cannot load.
 */
function noble(): Noble {
  if (nobleApi === undefined) {
    let api: Noble;
    try {
      api = nobleLoader() as Noble;
    } catch (error) {
      const why = error instanceof Error ? error.message : String(error);
      throw new TypeError(`The 'noble' backend loads @noble/ed25519, an ES module, with require(), which needs Node.js 20.19 or later (this is ${process.version}); use 'node' or 'sodium' here: ${why}`);
    }
    // @noble/ed25519 needs a synchronous SHA-512 for its sync API; node:crypto provides one.
    api.hashes.sha512 = (m: Uint8Array) => new Uint8Array(createHash('sha512').update(m).digest());
    nobleApi = api;
  }
  return nobleApi;
}

/**
 * For tests: replace how @noble/ed25519 is loaded (a loader that throws stands for a Node.js that
 * cannot require an ES module) and forget the loaded API; no argument restores the real loader.
 */
export function setNobleLoaderForTests(loader?: () => unknown): void {
  nobleLoader = loader ?? requireNoble;
  nobleApi = undefined;
}

function str(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new AAuthError('key_invalid', `JWK member "${name}" must be a non-empty string`);
  }
  return value;
}

function fixedB64u(value: unknown, name: string, bytes: number): string {
  const s = str(value, name);
  const decoded = b64uDecode(s);
  if (!decoded || decoded.length !== bytes) {
    throw new AAuthError('key_invalid', `JWK member "${name}" must be ${bytes} bytes of base64url`);
  }
  // One spelling per key: a last character with unused bits set decodes to the same bytes, but would
  // give the same key another RFC 7638 thumbprint (another pseudonymous agent, another cnf binding).
  if (decoded.toString('base64url') !== s) {
    throw new AAuthError('key_invalid', `JWK member "${name}" is not canonical base64url: its last character sets bits beyond the ${bytes} bytes (encode the key with a standard base64url encoder)`);
  }
  return s;
}

/**
 * RFC 7638 JWK thumbprint (SHA-256, base64url) for OKP, EC and RSA keys.
 * Never use a JWK's `kid` in its place (wire profile section 2).
 */
export function computeThumbprint(jwk: unknown): string {
  if (typeof jwk !== 'object' || jwk === null) throw new AAuthError('key_invalid', 'A JWK must be an object');
  const k = jwk as Record<string, unknown>;
  let canonical: string;
  // RFC 7638 section 3.2: required members only, lexicographic order, no whitespace.
  switch (k.kty) {
    case 'OKP':
      canonical = JSON.stringify({ crv: str(k.crv, 'crv'), kty: 'OKP', x: str(k.x, 'x') });
      break;
    case 'EC':
      canonical = JSON.stringify({ crv: str(k.crv, 'crv'), kty: 'EC', x: str(k.x, 'x'), y: str(k.y, 'y') });
      break;
    case 'RSA':
      canonical = JSON.stringify({ e: str(k.e, 'e'), kty: 'RSA', n: str(k.n, 'n') });
      break;
    default:
      throw new AAuthError('key_invalid', `Unsupported JWK kty ${JSON.stringify(k.kty)}`);
  }
  return createHash('sha256').update(canonical).digest('base64url');
}

function publicOnly(k: Record<string, unknown>): OkpPublicJwk | EcPublicJwk {
  if (typeof k.kty !== 'string' || k.kty.length === 0) throw new AAuthError('key_invalid', 'JWK member "kty" must be a non-empty string');
  if (k.kty === 'OKP') {
    if (k.crv !== 'Ed25519') throw new AAuthError('unsupported_algorithm', `Unsupported OKP curve ${JSON.stringify(k.crv)}`);
    return { kty: 'OKP', crv: 'Ed25519', x: fixedB64u(k.x, 'x', 32) };
  }
  if (k.kty === 'EC') {
    if (k.crv !== 'P-256') throw new AAuthError('unsupported_algorithm', `Unsupported EC curve ${JSON.stringify(k.crv)}`);
    return { kty: 'EC', crv: 'P-256', x: fixedB64u(k.x, 'x', 32), y: fixedB64u(k.y, 'y', 32) };
  }
  throw new AAuthError('unsupported_algorithm', `Keys of kty ${JSON.stringify(k.kty)} cannot sign HTTP messages`);
}

class NodePublicKey implements PublicKey {
  readonly jwk: OkpPublicJwk | EcPublicJwk;
  readonly thumbprint: string;
  readonly algorithm: HttpSigAlgorithm;
  protected readonly keyObject: KeyObject;
  protected readonly rawPublic: Uint8Array | undefined;
  protected readonly useNoble: boolean;
  protected readonly useSodium: boolean;
  /** sodium-native, loaded once, when this key uses it. */
  protected readonly sodium: SodiumApi | undefined;

  constructor(jwk: OkpPublicJwk | EcPublicJwk, keyObject: KeyObject, backend: CryptoBackend) {
    this.jwk = jwk;
    this.thumbprint = computeThumbprint(jwk);
    this.algorithm = jwk.kty === 'OKP' ? 'ed25519' : 'ecdsa-p256-sha256';
    this.keyObject = keyObject;
    this.useNoble = backend === 'noble' && jwk.kty === 'OKP';
    this.useSodium = backend === 'sodium' && jwk.kty === 'OKP';
    this.sodium = this.useSodium ? sodium() : undefined;
    this.rawPublic = jwk.kty === 'OKP' ? b64uDecode(jwk.x) : undefined;
  }

  verify(data: Uint8Array, signature: Uint8Array): boolean {
    try {
      if (this.algorithm === 'ed25519') {
        if (signature.length !== 64) return false;
        if (this.useSodium) return this.sodium!.crypto_sign_verify_detached(signature, data, this.rawPublic!);
        if (this.useNoble) return noble().verify(signature, data, this.rawPublic!);
        return nodeVerify(null, data, this.keyObject, signature);
      }
      if (signature.length !== 64) return false;
      return nodeVerify('sha256', data, { key: this.keyObject, dsaEncoding: 'ieee-p1363' }, signature);
    } catch {
      return false;
    }
  }
}

class NodeSigningKey extends NodePublicKey implements SigningKey {
  readonly kid: string;
  readonly jwsAlgorithm: 'EdDSA' | 'ES256';
  readonly backend: CryptoBackend;
  readonly privateKeyObject: KeyObject;
  private readonly seed: Uint8Array | undefined;
  private readonly sodiumSecret: Uint8Array | undefined;

  constructor(privateKey: KeyObject, options: KeyOptions) {
    const exported = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const pub = publicOnly(exported);
    const backend = options.backend ?? defaultCryptoBackend();
    super(pub, createPublicKey(privateKey), backend);
    this.privateKeyObject = privateKey;
    this.backend = backend;
    this.kid = options.kid ?? this.thumbprint;
    this.jwsAlgorithm = pub.kty === 'OKP' ? 'EdDSA' : 'ES256';
    this.seed = pub.kty === 'OKP' ? b64uDecode(String(exported.d)) : undefined;
    if (this.useSodium) {
      // libsodium signs with the 64-byte secret key (seed followed by the public key).
      const secret = Buffer.alloc(64);
      this.sodium!.crypto_sign_seed_keypair(Buffer.alloc(32), secret, this.seed!);
      this.sodiumSecret = secret;
    }
  }

  sign(data: Uint8Array): Uint8Array {
    if (this.algorithm === 'ed25519') {
      if (this.useSodium) {
        const signature = Buffer.alloc(64);
        this.sodium!.crypto_sign_detached(signature, data, this.sodiumSecret!);
        return signature;
      }
      if (this.useNoble) return noble().sign(data, this.seed!);
      return nodeSign(null, data, this.privateKeyObject);
    }
    return nodeSign('sha256', data, { key: this.privateKeyObject, dsaEncoding: 'ieee-p1363' });
  }

  toPrivateJwk(): PrivateJwk {
    const exported = this.privateKeyObject.export({ format: 'jwk' }) as Record<string, string>;
    return { ...this.jwk, d: exported.d!, kid: this.kid } as PrivateJwk;
  }

  toPem(): string {
    return this.privateKeyObject.export({ format: 'pem', type: 'pkcs8' }).toString();
  }

  toPublishedJwk(): OkpPublicJwk | EcPublicJwk {
    return { ...this.jwk, kid: this.kid };
  }
}

/** PKCS#8 DER header of an Ed25519 private key; the 32-byte seed follows it (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * A fresh private KeyObject that shares nothing with a key-generation job. Node 20 can deadlock
 * when a GC finalises a generateKeyPairSync job while its key is being exported (seen here: the
 * test worker hung in KeyObjectHandle::ExportJWK -> ~KeyGenJob on the same mutex), so Ed25519
 * keys are built from a random seed and P-256 keys are generated as DER and re-imported.
 */
function newPrivateKey(alg: 'EdDSA' | 'ES256'): KeyObject {
  if (alg === 'ES256') {
    const der = generateKeyPairSync('ec', {
      namedCurve: 'P-256',
      privateKeyEncoding: { format: 'der', type: 'pkcs8' },
      publicKeyEncoding: { format: 'der', type: 'spki' },
    }).privateKey;
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  }
  const der = Buffer.concat([ED25519_PKCS8_PREFIX, randomBytes(32)]);
  const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return key;
}

/** Generate a new signing key: Ed25519 by default, or P-256 (`alg: 'ES256'`). */
export function generateKey(options: KeyOptions & { alg?: 'EdDSA' | 'ES256' | undefined } = {}): SigningKey {
  checkKeyOptions(options);
  if (options.alg !== undefined && options.alg !== 'EdDSA' && options.alg !== 'ES256') {
    throw new TypeError("options.alg must be 'EdDSA' or 'ES256'");
  }
  return new NodeSigningKey(newPrivateKey(options.alg === 'ES256' ? 'ES256' : 'EdDSA'), options);
}

/**
 * Import a private key from a JWK object, a JWK JSON string or a PKCS#8 PEM string.
 * A JWK's own `kid` is used unless `options.kid` is given.
 */
export function importPrivateKey(input: PrivateJwk | string | Record<string, unknown>, options: KeyOptions = {}): SigningKey {
  checkKeyOptions(options);
  let keyObject: KeyObject;
  let kid = options.kid;
  let claimed: OkpPublicJwk | EcPublicJwk | undefined;
  try {
    if (typeof input === 'string' && input.trimStart().startsWith('-----BEGIN')) {
      // OpenSSL refuses text before the armour line; key files often start with a blank line.
      keyObject = createPrivateKey({ key: input.trim(), format: 'pem' });
    } else {
      let jwk: Record<string, unknown>;
      try {
        jwk = (typeof input === 'string' ? JSON.parse(input) : input) as Record<string, unknown>;
      } catch (error) {
        // Never an excerpt of the text: it is meant to hold a private key.
        throw new AAuthError('key_invalid', `Cannot import private key: it is neither a PEM private key nor a JSON JWK (${jsonSyntaxText(error)})`);
      }
      if (typeof jwk !== 'object' || jwk === null || typeof jwk.d !== 'string') {
        throw new AAuthError('key_invalid', 'A private JWK needs a "d" member');
      }
      claimed = publicOnly(jwk);
      kid ??= typeof jwk.kid === 'string' && jwk.kid.length > 0 ? jwk.kid : undefined;
      const { kid: _k, alg: _a, use: _u, key_ops: _o, ...rest } = jwk;
      keyObject = createPrivateKey({ key: rest as never, format: 'jwk' });
    }
  } catch (error) {
    if (error instanceof AAuthError) throw error;
    throw new AAuthError('key_invalid', `Cannot import private key: ${(error as Error).message}`, { cause: error });
  }
  const type = keyObject.asymmetricKeyType;
  if (type !== 'ed25519' && !(type === 'ec' && keyObject.asymmetricKeyDetails?.namedCurve === 'prime256v1')) {
    throw new AAuthError('unsupported_algorithm', `Unsupported private key type ${String(type)}`);
  }
  // node:crypto takes a JWK's public members on trust (Ed25519 ignores "x", P-256 keeps a wrong
  // "x"/"y"); a key whose public half does not match "d" would sign what its JWKS cannot verify.
  if (claimed && !publicMatchesPrivate(claimed, keyObject)) {
    throw new AAuthError('key_invalid', 'The private JWK\'s public members do not match its "d"');
  }
  return new NodeSigningKey(keyObject, kid === undefined ? { ...options } : { ...options, kid });
}

function publicMatchesPrivate(claimed: OkpPublicJwk | EcPublicJwk, keyObject: KeyObject): boolean {
  const d = (keyObject.export({ format: 'jwk' }) as Record<string, string>).d!;
  if (claimed.kty === 'OKP') {
    return createPublicKey(keyObject).export({ format: 'jwk' }).x === claimed.x;
  }
  const ecdh = createECDH('prime256v1');
  ecdh.setPrivateKey(Buffer.from(d, 'base64url'));
  const point = ecdh.getPublicKey();
  return point.subarray(1, 33).toString('base64url') === claimed.x && point.subarray(33, 65).toString('base64url') === claimed.y;
}

/**
 * Import a public JWK (Ed25519 or P-256) for verifying HTTP message signatures.
 * Throws `key_invalid` / `unsupported_algorithm` for anything else.
 */
export function importPublicKey(jwk: unknown, options: { backend?: CryptoBackend | undefined } = {}): PublicKey {
  checkBackend(options.backend, 'options.backend');
  checkKeyOptions(options);
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new AAuthError('key_invalid', 'A JWK must be an object');
  if ((jwk as Record<string, unknown>).d !== undefined) {
    throw new AAuthError('key_invalid', 'A public JWK must not carry a private member "d"');
  }
  const pub = publicOnly(jwk as Record<string, unknown>);
  let keyObject: KeyObject;
  try {
    keyObject = createPublicKey({ key: pub as never, format: 'jwk' });
  } catch (error) {
    throw new AAuthError('key_invalid', `Not a valid public key: ${(error as Error).message}`, { cause: error });
  }
  return new NodePublicKey(pub, keyObject, options.backend ?? defaultCryptoBackend());
}

/** Export a key's public part as SPKI PEM. */
export function exportPublicPem(key: PublicKey): string {
  return createPublicKey({ key: key.jwk as never, format: 'jwk' }).export({ format: 'pem', type: 'spki' }).toString();
}

/** Load a private key from a file holding a private JWK (JSON) or a PKCS#8 PEM. */
export function loadKeyFile(path: string, options: KeyOptions = {}): SigningKey {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  checkKeyOptions(options);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // The usual first-run mistake: the file was never made. Say how to make one.
    const fix =
      code === 'ENOENT'
        ? `: there is no such file. Create one with \`npx aauth keygen --out ${path}\` (or generateKey() and saveKeyFile(${JSON.stringify(path)}, key) from @aauth-kit/core), or give the path of the key you have`
        : code === 'EACCES'
          ? ': permission denied (a key file is mode 0600: run as its owner)'
          : code === 'EISDIR'
            ? ': that is a folder, not a key file'
            : `: ${(error as Error).message}`;
    throw new AAuthError('key_invalid', `Cannot read key file ${path}${fix}`, { cause: error });
  }
  return importPrivateKey(text, options);
}

/**
 * Write a private key to a file, readable by the owner only (mode 0600, also when the file
 * already existed with a wider mode). Default format: private JWK with `kid`.
 */
export function saveKeyFile(path: string, key: SigningKey, options: SaveKeyFileOptions = {}): void {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('path must be a non-empty string');
  const format = options.format ?? 'jwk';
  if (format !== 'jwk' && format !== 'pem') throw new TypeError("options.format must be 'jwk' or 'pem'");
  const text = format === 'pem' ? key.toPem() : `${JSON.stringify(key.toPrivateJwk(), null, 2)}\n`;
  // `mode` on open only applies when the file is created: tighten an existing file before writing the secret.
  const fd = openSync(path, 'w', 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** Reused for the text a kit key verifies (issue 18): no buffer allocated per verified request. */
let textScratch = Buffer.allocUnsafe(4096);
/** Texts longer than this get bytes of their own rather than a larger shared buffer. */
const SCRATCH_MAX_CHARS = 65536;

/**
 * The bytes of `text` (UTF-8, or latin1 for a text known to be ASCII such as a JWS signing input)
 * in the shared buffer: valid only until the next call, so for a synchronous verify that keeps
 * nothing, made at once. A text too long to share the buffer gets bytes of its own.
 */
export function scratchBytes(text: string, encoding: 'utf8' | 'latin1' = 'utf8'): Uint8Array {
  if (text.length > SCRATCH_MAX_CHARS) return Buffer.from(text, encoding);
  // At most 3 UTF-8 bytes per UTF-16 code unit, 1 latin1 byte: a text this long always fits.
  const room = encoding === 'utf8' ? text.length * 3 : text.length;
  if (room > textScratch.length) textScratch = Buffer.allocUnsafe(room);
  return textScratch.subarray(0, writeText(textScratch, text, encoding));
}

/** Node's Buffer has direct per-encoding writers (utf8Write, latin1Write) under the argument juggling of `write`. */
type DirectWriters = { utf8Write?: (text: string, offset: number) => number; latin1Write?: (text: string, offset: number) => number };
const direct = Buffer.prototype as unknown as DirectWriters;
/** `text` written at offset 0 of `into`, whose room the caller made; the byte count. */
const writeText: (into: Buffer, text: string, encoding: 'utf8' | 'latin1') => number =
  typeof direct.utf8Write === 'function' && typeof direct.latin1Write === 'function'
    ? (into, text, encoding) => (encoding === 'utf8' ? (into as unknown as Required<DirectWriters>).utf8Write(text, 0) : (into as unknown as Required<DirectWriters>).latin1Write(text, 0))
    : (into, text, encoding) => into.write(text, 0, encoding);

/** A key of this kit (made by generateKey, importPublicKey, ...): its verify is synchronous and keeps nothing. */
export function isKitKey(key: PublicKey): boolean {
  return key instanceof NodePublicKey;
}

/**
 * Verify `signature` over the UTF-8 bytes of `text` with `key`. The kit's own keys verify
 * synchronously and keep nothing, so the bytes are written into one reused buffer; any other
 * {@link PublicKey} implementation is handed bytes of its own.
 */
export function verifyText(key: PublicKey, text: string, signature: Uint8Array): boolean {
  return key.verify(isKitKey(key) ? scratchBytes(text) : Buffer.from(text, 'utf8'), signature);
}

/** The raw 32-byte Ed25519 public key of an OKP key (for fast backends). */
export function rawPublicKey(key: PublicKey): Uint8Array {
  if (key.jwk.kty !== 'OKP') throw new AAuthError('unsupported_algorithm', 'Only Ed25519 keys have a raw form here');
  return b64uDecode(key.jwk.x)!;
}

