import { ACCEPT_SIGNATURE_ALGS, DEFAULT_TOKEN_ALGORITHMS, defaultCryptoBackend, importPublicKey, generateKey, type CryptoBackend, type Generation } from '@aauth-kit/core';
import { assertKnownOptions, identityUrlProblem, optionNames } from '@aauth-kit/core/internal';
import type { DiscoveryOptions } from '@aauth-kit/discovery';
import type { Draft11Options, ReplayOptions, ReplayStore, RevocationCheck, VerifierOptions } from '../types.js';

/** The names of {@link VerifierOptions} (a name outside them is refused: a misspelt option would be dropped). */
const VERIFIER_OPTIONS = optionNames<VerifierOptions>({
  identity: true, trustedIssuers: true, localIssuerKeys: true, fetch: true, now: true, maxSkew: true, leeway: true, tokenLeeway: true,
  requireContentDigest: true, algorithms: true, maxSignatureHeaderBytes: true, replay: true, discovery: true, telemetry: true,
  maxKeyEntries: true, maxTokenEntries: true, cryptoBackend: true, generations: true, draft11: true, revocation: true,
});
const DRAFT11_OPTIONS = optionNames<Draft11Options>({ agentProviders: true, personServers: true, authIssuers: true, allowLoopback: true });
const REPLAY_OPTIONS = optionNames<ReplayOptions>({ store: true, methods: true });
const DISCOVERY_OPTIONS = optionNames<DiscoveryOptions>({
  allowHttpHosts: true, allowHosts: true, resolveHostname: true, allowPrivateAddresses: true, timeoutMs: true, maxBytes: true, maxEntries: true,
  defaultTtl: true, failureTtl: true, maxInflight: true, maxInflightPerHost: true, maxInflightPerCaller: true,
});

/** The -11 settings with their defaults applied. */
export interface ResolvedDraft11Options {
  /** Issuers of agent tokens, or undefined for any. */
  agentProviders: string[] | undefined;
  /** Issuers of person tokens, or undefined for any. */
  personServers: string[] | undefined;
  /** Issuers of auth tokens. */
  authIssuers: string[];
  allowLoopback: boolean;
  /** `Ed25519` and `ES256` as far as `algorithms` allows. */
  algorithms: string[];
}

/** Verifier options with every default applied. */
export interface ResolvedVerifierOptions {
  identity: string;
  trustedIssuers: string[];
  localIssuerKeys: Record<string, { keys: object[] }>;
  /** The given fetch; undefined for discovery's own transport over node:http/https. */
  fetch: typeof fetch | undefined;
  now: () => number;
  maxSkew: number;
  tokenLeeway: number;
  requireContentDigest: boolean;
  algorithms: string[];
  maxSignatureHeaderBytes: number;
  replayStore: ReplayStore | undefined;
  replayMethods: 'non-idempotent' | 'all' | 'none';
  maxKeyEntries: number;
  maxTokenEntries: number;
  cryptoBackend: CryptoBackend;
  /** Validated, with its defaults, by `createDocumentFetcher` of @aauth-kit/discovery (the one validator). */
  discovery: DiscoveryOptions;
  /** Validated by `createDocumentFetcher` (core's createTelemetry). */
  telemetry: VerifierOptions['telemetry'];
  generations: Generation[];
  draft11: ResolvedDraft11Options;
  revocation: RevocationCheck | undefined;
}

const GENERATIONS: readonly Generation[] = ['keycloak', 'draft-11'];

/** Default bound of the key cache: imported public keys of thousands of agents (issue 18). */
export const DEFAULT_MAX_KEY_ENTRIES = 10_000;

function issuerList(value: unknown, path: string): string[] {
  const list = stringList(value, path) ?? [];
  list.forEach((iss, i) => {
    const problem = identityUrlProblem(iss);
    if (problem) throw new TypeError(`${path}[${i}] ${problem} (got ${JSON.stringify(iss)})`);
  });
  return list;
}

function resolveDraft11(options: VerifierOptions, path: string, trustedIssuers: string[], algorithms: string[]): ResolvedDraft11Options {
  const d = options.draft11 ?? {};
  if (typeof d !== 'object' || d === null) throw new TypeError(`${path} must be an object`);
  assertKnownOptions(d, DRAFT11_OPTIONS, path);
  const anyOrList = (value: unknown, name: string): string[] | undefined =>
    value === undefined || value === 'any' ? undefined : issuerList(value, `${path}.${name}`);
  const agentProviders = anyOrList(d.agentProviders, 'agentProviders');
  const personServers = anyOrList(d.personServers, 'personServers');
  const authIssuers = d.authIssuers === undefined ? [...new Set([...trustedIssuers, ...(personServers ?? [])])] : issuerList(d.authIssuers, `${path}.authIssuers`);
  if (d.allowLoopback !== undefined && typeof d.allowLoopback !== 'boolean') throw new TypeError(`${path}.allowLoopback must be a boolean`);
  return {
    agentProviders,
    personServers,
    authIssuers,
    allowLoopback: d.allowLoopback ?? false,
    algorithms: ACCEPT_SIGNATURE_ALGS.filter((a) => algorithms.includes(a)),
  };
}

const KNOWN_ALGORITHMS = new Set<string>(DEFAULT_TOKEN_ALGORITHMS);

/** `leeway`, or its deprecated alias `tokenLeeway`; 0 is allowed. */
function leeway(options: VerifierOptions, path: string): number {
  const { leeway: value, tokenLeeway: alias } = options;
  if (value !== undefined && alias !== undefined && value !== alias) {
    throw new TypeError(`${path}.leeway and ${path}.tokenLeeway (its deprecated alias) disagree: give only ${path}.leeway`);
  }
  const [given, name] = value !== undefined ? [value, 'leeway'] : [alias, 'tokenLeeway'];
  return given === 0 ? 0 : positive(given, `${path}.${name}`, 5, false);
}

function backend(value: unknown, path: string): CryptoBackend {
  // Unset: libsodium when sodium-native loads, else node:crypto (decided once per process, never throws).
  if (value === undefined) return defaultCryptoBackend();
  if (value !== 'node' && value !== 'noble' && value !== 'sodium') throw new TypeError(`${path} must be 'node', 'noble' or 'sodium'`);
  try {
    // Core checks here, once, that the backend can load (sodium-native is optional).
    importPublicKey(generateKey().jwk, { backend: value });
  } catch (error) {
    throw new TypeError(`${path}: ${(error as Error).message}`);
  }
  return value;
}

function positive(value: unknown, path: string, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${path} must be a positive ${integer ? 'integer' : 'number'} (got ${JSON.stringify(value)})`);
  }
  return value;
}

function stringList(value: unknown, path: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
    throw new TypeError(`${path} must be an array of non-empty strings`);
  }
  return [...value] as string[];
}

function fn<T>(value: unknown, path: string): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw new TypeError(`${path} must be a function`);
  return value as T;
}

/** Validate and default verifier options; misuse throws a TypeError naming the option path. */
export function resolveVerifierOptions(options: VerifierOptions, path = 'options'): ResolvedVerifierOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError(`${path} must be an object`);
  assertKnownOptions(options, VERIFIER_OPTIONS, path, 'createVerifier');
  const problem = identityUrlProblem(options.identity);
  if (problem) throw new TypeError(`${path}.identity ${problem} (got ${JSON.stringify(options.identity)})`);

  const trustedIssuers = stringList(options.trustedIssuers, `${path}.trustedIssuers`) ?? [];
  trustedIssuers.forEach((iss, i) => {
    let url: URL | undefined;
    try {
      url = new URL(iss);
    } catch {
      url = undefined;
    }
    if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:') || iss.endsWith('/') || url.search || url.hash) {
      throw new TypeError(`${path}.trustedIssuers[${i}] must be an absolute http(s) URL without trailing slash, query or fragment`);
    }
  });

  const localIssuerKeys: Record<string, { keys: object[] }> = {};
  if (options.localIssuerKeys !== undefined) {
    if (typeof options.localIssuerKeys !== 'object' || options.localIssuerKeys === null) {
      throw new TypeError(`${path}.localIssuerKeys must be an object of issuer -> { keys: [...] }`);
    }
    for (const [iss, jwks] of Object.entries(options.localIssuerKeys)) {
      if (typeof jwks !== 'object' || jwks === null || !Array.isArray(jwks.keys) || jwks.keys.some((k) => typeof k !== 'object' || k === null)) {
        throw new TypeError(`${path}.localIssuerKeys[${JSON.stringify(iss)}].keys must be an array of JWK objects`);
      }
      localIssuerKeys[iss] = { keys: [...jwks.keys] };
    }
  }

  const algorithms = stringList(options.algorithms, `${path}.algorithms`) ?? [...DEFAULT_TOKEN_ALGORITHMS];
  for (const alg of algorithms) {
    if (!KNOWN_ALGORITHMS.has(alg)) {
      throw new TypeError(`${path}.algorithms may only contain ${[...KNOWN_ALGORITHMS].join(', ')} (got ${JSON.stringify(alg)})`);
    }
  }
  if (algorithms.length === 0) throw new TypeError(`${path}.algorithms must not be empty`);

  const replay = options.replay ?? {};
  if (typeof replay !== 'object' || replay === null) throw new TypeError(`${path}.replay must be an object`);
  assertKnownOptions(replay, REPLAY_OPTIONS, `${path}.replay`);
  const replayMethods = replay.methods ?? 'non-idempotent';
  if (!['non-idempotent', 'all', 'none'].includes(replayMethods)) {
    throw new TypeError(`${path}.replay.methods must be 'non-idempotent', 'all' or 'none'`);
  }
  if (replay.store !== undefined && (typeof replay.store !== 'object' || replay.store === null || typeof replay.store.checkAndStore !== 'function')) {
    throw new TypeError(`${path}.replay.store must have a checkAndStore(key, ttlSeconds) method`);
  }

  const d = options.discovery ?? {};
  if (typeof d !== 'object' || d === null) throw new TypeError(`${path}.discovery must be an object`);
  assertKnownOptions(d, DISCOVERY_OPTIONS, `${path}.discovery`);
  if (options.requireContentDigest !== undefined && typeof options.requireContentDigest !== 'boolean') {
    throw new TypeError(`${path}.requireContentDigest must be a boolean`);
  }
  const generations = options.generations ?? [...GENERATIONS];
  if (!Array.isArray(generations) || generations.length === 0 || generations.some((g) => !GENERATIONS.includes(g))) {
    throw new TypeError(`${path}.generations must be a non-empty array of 'keycloak' and 'draft-11'`);
  }
  const revocation = options.revocation;
  if (revocation !== undefined && (typeof revocation !== 'object' || revocation === null || typeof revocation.isRevoked !== 'function')) {
    throw new TypeError(`${path}.revocation must have an isRevoked(issuer, jti) method`);
  }

  return {
    identity: options.identity,
    trustedIssuers,
    localIssuerKeys,
    // No globalThis.fetch default: discovery's own node:http transport does not load undici (issue 18, cold start).
    fetch: fn<typeof fetch>(options.fetch, `${path}.fetch`),
    now: fn<() => number>(options.now, `${path}.now`) ?? (() => Date.now() / 1000),
    maxSkew: positive(options.maxSkew, `${path}.maxSkew`, 60, false),
    tokenLeeway: leeway(options, path),
    requireContentDigest: options.requireContentDigest ?? true,
    algorithms,
    maxSignatureHeaderBytes: positive(options.maxSignatureHeaderBytes, `${path}.maxSignatureHeaderBytes`, 16 * 1024),
    replayStore: replay.store,
    replayMethods,
    maxKeyEntries: positive(options.maxKeyEntries, `${path}.maxKeyEntries`, DEFAULT_MAX_KEY_ENTRIES),
    maxTokenEntries: positive(options.maxTokenEntries, `${path}.maxTokenEntries`, 10_000),
    cryptoBackend: backend(options.cryptoBackend, `${path}.cryptoBackend`),
    discovery: d,
    telemetry: options.telemetry,
    generations: [...new Set(generations)],
    draft11: resolveDraft11(options, `${path}.draft11`, trustedIssuers, algorithms),
    revocation,
  };
}
