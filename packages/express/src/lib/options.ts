import { ACCESS_MODES, GENERATIONS, type AccessMode, type Generation, type SigningKey } from '@aauth-kit/core';
import { assertIdentityUrl, assertKnownOptions, DEFAULT_BODY_TIMEOUT_MS, optionNames, serverIdentifierProblem } from '@aauth-kit/core/internal';
import type { VerifierOptions } from '@aauth-kit/verifier';
import type { RequireLevel, RequireOptions, ResourceDisplayMetadata, ResourceDraft11Options, ResourceOptions } from '../types.js';
import { resolveRevocationOptions, type ResolvedRevocation } from './revocation.js';

/** The resource's own -11 settings, resolved. */
export interface ResolvedResourceDraft11 {
  allowLoopback: boolean;
  accessServer: string | undefined;
  accessMode: AccessMode | undefined;
  /** Absolute URL of the authorization endpoint, when configured. */
  authorizationEndpoint: string | undefined;
  sessionLifetime: number;
  maxSessions: number;
  pendingPath: string;
  maxPending: number;
  maxPendingBytes: number;
  /** Pushed revocation, when `draft11.revocation` is on. */
  revocation: ResolvedRevocation | undefined;
}

export interface ResolvedRoute {
  level: RequireLevel;
  scope: string[];
  requiredComponents: string[];
  /** -11: deliver the auth-token challenge as a 202 holding the call. */
  deferred?: boolean;
}

export interface ResolvedResourceOptions {
  identity: string;
  origin: string;
  key: SigningKey;
  authServer: string | undefined;
  scopes: Record<string, string> | undefined;
  /** The display fields to publish, checked. */
  metadata: Record<string, string>;
  additionalSignatureComponents: string[];
  maxBodyBytes: number;
  /** Time a request has to deliver its whole body, ms. */
  bodyTimeoutMs: number;
  /** GETs of one event-loop turn verified together (lib/turn-batch.ts). */
  batch: boolean;
  requirementHeader: boolean;
  errors: 'respond' | 'next';
  onError: ResourceOptions['onError'];
  callerKey: NonNullable<ResourceOptions['callerKey']>;
  now: (() => number) | undefined;
  verifierOptions: VerifierOptions;
  /** The generations spoken: as configured, or by default both when `identity` is a -11 server identifier. */
  generations: Generation[];
  draft11: ResolvedResourceDraft11;
  /** The signature window, seconds (`maxSkew`; published as `signature_window`). */
  signatureWindow: number;
  resolveRoute(options: RequireOptions, path?: string): ResolvedRoute;
}

/** The option names of createResource (a name outside them is refused: a misspelt option would be dropped without a word). */
const RESOURCE_OPTIONS = optionNames<ResourceOptions>({
  identity: true, key: true, authServer: true, scopes: true, metadata: true, additionalSignatureComponents: true, maxBodyBytes: true, bodyTimeoutMs: true, batch: true, requirementHeader: true,
  errors: true, onError: true, callerKey: true, telemetry: true, draft11: true,
  // The verifier's, passed on.
  localIssuerKeys: true, fetch: true, now: true, maxSkew: true, leeway: true, tokenLeeway: true, requireContentDigest: true, algorithms: true,
  maxSignatureHeaderBytes: true, replay: true, discovery: true, maxKeyEntries: true, maxTokenEntries: true, cryptoBackend: true, generations: true,
  revocation: true,
});
/** A route's settings given to createResource: where each goes instead. */
const ROUTE_HINTS: Readonly<Record<string, string>> = Object.fromEntries(
  ['level', 'scope', 'requiredComponents', 'deferred'].map((name) => [name, `a route's ${name} goes to resource.require({ ${name} }) (or to aauth({ ... }), which takes both)`]),
);
const RESOURCE_HINTS: Readonly<Record<string, string>> = { ...ROUTE_HINTS, trustedIssuers: 'more trusted issuers go in authServer: { issuer, trustedIssuers }' };
const RESOURCE_DRAFT11_OPTIONS = optionNames<ResourceDraft11Options>({
  agentProviders: true, personServers: true, authIssuers: true, allowLoopback: true,
  accessServer: true, accessMode: true, authorizationEndpoint: true, sessionLifetime: true, maxSessions: true, pendingPath: true, maxPending: true, maxPendingBytes: true, revocation: true,
});
const REQUIRE_OPTIONS = optionNames<RequireOptions>({ level: true, scope: true, requiredComponents: true, deferred: true });

const LEVELS: readonly RequireLevel[] = ['signature', 'identity', 'person', 'auth-token'];
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const COMPONENT = /^(@[a-z-]+|[a-z0-9!#$%&'*+.^_`|~-]+)$/;

const DISPLAY_URLS = ['logo_uri', 'logo_dark_uri', 'documentation_uri', 'tos_uri', 'policy_uri'];
const DISPLAY_FIELDS = optionNames<ResourceDisplayMetadata>({ name: true, description: true, logo_uri: true, logo_dark_uri: true, documentation_uri: true, tos_uri: true, policy_uri: true });

/** `options.metadata`: display fields only, strings, the URL fields absolute http(s) URLs without credentials. */
function displayMetadata(value: unknown): Record<string, string> {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError('options.metadata must be an object of display fields (name, logo_uri, ...)');
  assertKnownOptions(value, DISPLAY_FIELDS, 'options.metadata');
  const out: Record<string, string> = {};
  for (const [field, v] of Object.entries(value as Record<string, unknown>)) {
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length === 0) throw new TypeError(`options.metadata.${field} must be a non-empty string`);
    if (DISPLAY_URLS.includes(field)) {
      let url: URL | undefined;
      try {
        url = new URL(v);
      } catch {
        url = undefined;
      }
      if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
        throw new TypeError(`options.metadata.${field} must be an absolute http(s) URL without credentials (got ${JSON.stringify(v.slice(0, 100))})`);
      }
    }
    out[field] = v;
  }
  return out;
}

function components(value: unknown, path: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((c) => typeof c !== 'string' || !COMPONENT.test(c.toLowerCase()))) {
    throw new TypeError(`${path} must be an array of component names ("@query", "content-type", ...)`);
  }
  return [...new Set((value as string[]).map((c) => c.toLowerCase()))];
}

/** Validate and default resource options; misuse throws a TypeError naming the option path. */
export function resolveResourceOptions(options: ResourceOptions): ResolvedResourceOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  assertKnownOptions(options, RESOURCE_OPTIONS, 'options', 'createResource', RESOURCE_HINTS);
  const { identity, key, authServer, scopes, metadata, additionalSignatureComponents, maxBodyBytes, bodyTimeoutMs, batch, requirementHeader, errors, onError, callerKey, draft11, generations: given, ...rest } = options;
  assertIdentityUrl(identity, 'options.identity');
  const d11 = draft11 ?? {};
  if (typeof d11 !== 'object' || d11 === null) throw new TypeError('options.draft11 must be an object');
  assertKnownOptions(d11, RESOURCE_DRAFT11_OPTIONS, 'options.draft11');
  const { accessServer, accessMode, authorizationEndpoint, sessionLifetime, maxSessions, pendingPath, maxPending, maxPendingBytes, revocation: revocationOption, ...verifierDraft11 } = d11;
  for (const [name, value] of [['sessionLifetime', sessionLifetime], ['maxSessions', maxSessions], ['maxPending', maxPending], ['maxPendingBytes', maxPendingBytes]] as const) {
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)) {
      throw new TypeError(`options.draft11.${name} must be a positive integer`);
    }
  }
  if (d11.allowLoopback !== undefined && typeof d11.allowLoopback !== 'boolean') throw new TypeError('options.draft11.allowLoopback must be a boolean');
  const allowLoopback = d11.allowLoopback ?? false;
  // Draft-11 profile section 2: a -11 identity is https and a bare host (loopback only when allowed).
  const identity11Problem = serverIdentifierProblem(identity, { allowLoopback });
  let generations: Generation[];
  if (given === undefined) {
    generations = identity11Problem === undefined ? [...GENERATIONS] : ['keycloak'];
  } else {
    if (!Array.isArray(given) || given.length === 0 || given.some((g) => !GENERATIONS.includes(g))) {
      throw new TypeError("options.generations must be a non-empty array of 'keycloak' and 'draft-11'");
    }
    generations = [...new Set(given)];
    if (generations.includes('draft-11') && identity11Problem !== undefined) {
      throw new TypeError(`options.identity ${identity11Problem} for -11 (a server identifier: https://host; draft11.allowLoopback for local development)`);
    }
  }
  if (accessServer !== undefined) {
    const problem = serverIdentifierProblem(accessServer, { allowLoopback });
    if (problem) throw new TypeError(`options.draft11.accessServer ${problem} (got ${JSON.stringify(accessServer)})`);
  }
  if (accessMode !== undefined && !(ACCESS_MODES as readonly string[]).includes(accessMode)) {
    throw new TypeError(`options.draft11.accessMode must be one of ${ACCESS_MODES.join(', ')}`);
  }
  let authorizationUrl: string | undefined;
  if (authorizationEndpoint !== undefined) {
    if (typeof authorizationEndpoint !== 'string' || !/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(authorizationEndpoint)) {
      throw new TypeError('options.draft11.authorizationEndpoint must be a path starting with / (no query or fragment)');
    }
    authorizationUrl = `${identity}${authorizationEndpoint}`;
  }
  if (pendingPath !== undefined && (typeof pendingPath !== 'string' || !/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/.test(pendingPath))) {
    throw new TypeError('options.draft11.pendingPath must be a path starting with / (no trailing slash, query or fragment)');
  }
  const k = key as Partial<SigningKey> | undefined;
  if (typeof k !== 'object' || k === null || typeof k.sign !== 'function' || typeof k.kid !== 'string' || typeof k.toPublishedJwk !== 'function') {
    throw new TypeError('options.key must be a SigningKey (generateKey(), importPrivateKey() or loadKeyFile() from @aauth-kit/core)');
  }
  if (k.jwsAlgorithm !== 'EdDSA') throw new TypeError('options.key must be an Ed25519 key: resource tokens are EdDSA (wire profile section 6)');

  let issuer: string | undefined;
  let trustedIssuers: string[] = [];
  if (typeof authServer === 'string') {
    assertIdentityUrl(authServer, 'options.authServer');
    issuer = authServer;
  } else if (authServer !== undefined) {
    if (typeof authServer !== 'object' || authServer === null) throw new TypeError('options.authServer must be an issuer URL or { issuer, trustedIssuers }');
    assertIdentityUrl(authServer.issuer, 'options.authServer.issuer');
    issuer = authServer.issuer;
    if (authServer.trustedIssuers !== undefined) {
      if (!Array.isArray(authServer.trustedIssuers)) throw new TypeError('options.authServer.trustedIssuers must be an array of issuer URLs');
      authServer.trustedIssuers.forEach((iss, i) => assertIdentityUrl(iss, `options.authServer.trustedIssuers[${i}]`));
      trustedIssuers = [...authServer.trustedIssuers];
    }
  }

  if (scopes !== undefined) {
    if (typeof scopes !== 'object' || scopes === null || Array.isArray(scopes)) {
      // A route's scope written as `scopes` (aauth() takes both) reads as a list or a string.
      const meant = typeof scopes === 'string' || Array.isArray(scopes) ? ' (the scopes this resource knows, for the metadata; a route\'s scope is options.scope)' : '';
      throw new TypeError(`options.scopes must be an object of scope -> description${meant}`);
    }
    for (const [name, description] of Object.entries(scopes)) {
      if (!SCOPE_TOKEN.test(name)) throw new TypeError(`options.scopes key ${JSON.stringify(name)} is not a valid scope (no spaces or quotes)`);
      if (typeof description !== 'string') throw new TypeError(`options.scopes[${JSON.stringify(name)}] must be a string`);
    }
  }
  const display = displayMetadata(metadata);
  const extra = components(additionalSignatureComponents, 'options.additionalSignatureComponents');
  const bodyLimit = maxBodyBytes ?? 1024 * 1024;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 0) throw new TypeError('options.maxBodyBytes must be a non-negative integer');
  const bodyTimeout = bodyTimeoutMs ?? DEFAULT_BODY_TIMEOUT_MS;
  if (!Number.isInteger(bodyTimeout) || bodyTimeout <= 0) throw new TypeError('options.bodyTimeoutMs must be a positive integer (milliseconds)');
  if (batch !== undefined && typeof batch !== 'boolean') throw new TypeError('options.batch must be a boolean');
  if (requirementHeader !== undefined && typeof requirementHeader !== 'boolean') throw new TypeError('options.requirementHeader must be a boolean');
  if (errors !== undefined && errors !== 'respond' && errors !== 'next') throw new TypeError("options.errors must be 'respond' or 'next'");
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('options.onError must be a function');
  if (callerKey !== undefined && typeof callerKey !== 'function') throw new TypeError('options.callerKey must be a function (req) => string');

  const verifierOptions: VerifierOptions = {
    ...rest,
    identity,
    trustedIssuers: issuer === undefined ? trustedIssuers : [issuer, ...trustedIssuers.filter((i) => i !== issuer)],
    generations,
    draft11: verifierDraft11,
  };
  // Four-party: the access server's auth tokens are the ones this resource's resource tokens lead to.
  if (accessServer !== undefined) {
    const base = verifierDraft11.authIssuers ?? [...(verifierOptions.trustedIssuers ?? []), ...(Array.isArray(verifierDraft11.personServers) ? verifierDraft11.personServers : [])];
    verifierOptions.draft11 = { ...verifierDraft11, authIssuers: [...new Set([...base, accessServer])] };
  }
  const signatureWindow = rest.maxSkew ?? 60;
  // Pushed revocation (AAuth -11 "Token Revocation"): by default the servers whose tokens are accepted may revoke them.
  const d11Resolved = verifierOptions.draft11 ?? {};
  const personServers = Array.isArray(d11Resolved.personServers) ? d11Resolved.personServers : 'any';
  const authIssuers = d11Resolved.authIssuers ?? [...(verifierOptions.trustedIssuers ?? []), ...(personServers === 'any' ? [] : personServers)];
  const revocation = resolveRevocationOptions(revocationOption, { personServers, authIssuers }, rest.now ?? (() => Date.now() / 1000));
  if (revocation !== undefined) {
    if (!generations.includes('draft-11')) throw new TypeError("options.draft11.revocation needs -11: options.generations does not include 'draft-11'");
    const own = revocation.store;
    const theirs = rest.revocation;
    if (theirs !== undefined && (typeof theirs !== 'object' || theirs === null || typeof theirs.isRevoked !== 'function')) {
      throw new TypeError('options.revocation must have an isRevoked(issuer, jti) method');
    }
    // The verifier consults the pushed state, and the app's own check when it gave one.
    verifierOptions.revocation =
      theirs === undefined ? own : { isRevoked: async (issuer, jti, subject) => (await own.isRevoked(issuer, jti, subject)) || (await theirs.isRevoked(issuer, jti, subject)) };
  }

  return {
    identity,
    origin: new URL(identity).origin,
    key: key,
    authServer: issuer,
    scopes,
    metadata: display,
    additionalSignatureComponents: extra,
    maxBodyBytes: bodyLimit,
    bodyTimeoutMs: bodyTimeout,
    batch: batch ?? true,
    requirementHeader: requirementHeader ?? false,
    errors: errors ?? 'respond',
    onError,
    // The TCP peer by default; behind a proxy that is the proxy, so the operator passes a better key.
    callerKey: callerKey ?? ((req) => req.socket.remoteAddress ?? 'unknown'),
    now: rest.now,
    verifierOptions,
    generations,
    draft11: { allowLoopback, accessServer, accessMode, authorizationEndpoint: authorizationUrl, sessionLifetime: sessionLifetime ?? 3600, maxSessions: maxSessions ?? 10_000, pendingPath: pendingPath ?? '/aauth/pending', maxPending: maxPending ?? 1000, maxPendingBytes: maxPendingBytes ?? 64 * 1024 * 1024, revocation },
    signatureWindow,
    resolveRoute(route: RequireOptions, path = 'options'): ResolvedRoute {
      if (typeof route !== 'object' || route === null) throw new TypeError(`${path} must be an object`);
      assertKnownOptions(route, REQUIRE_OPTIONS, path, 'resource.require');
      // An empty scope list with no level would make a signature-level route of what reads as a scoped one.
      if (route.level === undefined && route.scope !== undefined && (typeof route.scope === 'string' ? route.scope.trim() : route.scope).length === 0) {
        throw new TypeError(`${path}.scope is empty: name at least one scope for an auth-token route, or leave scope out (and set level) for the others`);
      }
      const scope = route.scope === undefined ? [] : typeof route.scope === 'string' ? route.scope.split(' ').filter(Boolean) : route.scope;
      if (!Array.isArray(scope) || scope.some((s) => typeof s !== 'string' || !SCOPE_TOKEN.test(s))) {
        throw new TypeError(`${path}.scope must be a scope string or an array of scopes`);
      }
      const level = route.level ?? (scope.length > 0 ? 'auth-token' : 'signature');
      if (!LEVELS.includes(level)) throw new TypeError(`${path}.level must be 'signature', 'identity', 'person' or 'auth-token'`);
      if (level === 'person' && !generations.includes('draft-11')) {
        throw new TypeError(`${path}.level 'person' needs -11 (a person token): options.generations does not include 'draft-11'`);
      }
      if (level === 'auth-token') {
        // The Keycloak extension refuses resource tokens without scope (section 5).
        if (scope.length === 0) throw new TypeError(`${path}.scope must name at least one scope at the auth-token level`);
        // -11 needs no configured auth server: the person token names the person server (three-party).
        if (issuer === undefined && generations.includes('keycloak')) throw new TypeError('options.authServer is required for routes at the auth-token level');
        if (scopes) {
          const unknown = scope.filter((s) => !(s in scopes));
          if (unknown.length > 0) throw new TypeError(`${path}.scope ${unknown.join(' ')} is not in options.scopes`);
        }
      } else if (scope.length > 0) {
        throw new TypeError(`${path}.scope is only meaningful at the auth-token level`);
      }
      if (route.deferred !== undefined && typeof route.deferred !== 'boolean') throw new TypeError(`${path}.deferred must be a boolean`);
      if (route.deferred === true && (level !== 'auth-token' || !generations.includes('draft-11'))) {
        throw new TypeError(`${path}.deferred is for -11 routes at the auth-token level`);
      }
      const resolved: ResolvedRoute = { level, scope: [...new Set(scope)], requiredComponents: [...new Set([...extra, ...components(route.requiredComponents, `${path}.requiredComponents`)])] };
      if (route.deferred === true) resolved.deferred = true;
      return resolved;
    },
  };
}
