import { existsSync } from 'node:fs';
import { AAuthError, generateKey, isAAuthError, loadKeyFile, saveKeyFile, type SigningKey } from '@aauth-kit/core';
import { assertKnownOptions, bodyDeadline, DEFAULT_BODY_TIMEOUT_MS, identityUrlProblem, optionNames, serveDocuments, serverIdentifierProblem } from '@aauth-kit/core/internal';
import { createMemoryReplayStore, createVerifier, type DiscoveryOptions, type ReplayOptions, type RevocationRegistry } from '@aauth-kit/verifier';
import express, { type Router } from 'express';
import { loadRealm, SIGNING_ALGORITHMS, type RealmConfig, type SigningAlgorithm } from './load-realm.js';
import { createMemoryPendingStore, type PendingStore } from './pending-store.js';
import { createMemoryUsedTokenStore, type UsedTokenStore } from './used-token-store.js';
import type { AuditEvent } from './audit-event.js';
import { createAuditEmitter } from './lib/audit.js';
import { createMemoryRateLimitStore, type RateLimitStore } from './lib/brute-force.js';
import { createMemorySessionStore, type SessionStore } from './lib/interaction-sessions.js';
import { endpoints, type ServerContext } from './lib/context.js';
import { createInteractionRouter } from './lib/interaction.js';
import { sendRefusal } from './lib/http-edge.js';
import { createOAuthTokenRouter } from './lib/oauth-token-routes.js';
import { createOAuthTokenService } from './lib/oauth-token-service.js';
import { createAccessService } from './lib/access-server/access-service.js';
import { createFederation } from './lib/access-server/federate.js';
import { createAccessRouter } from './lib/access-server/routes.js';
import { createPersonService } from './lib/person-server/person-service.js';
import { createPersonRouter } from './lib/person-server/routes.js';
import { createRevocationPusher } from './lib/person-server/revocation-push.js';
import { createRevocationRouter } from './lib/revocation-routes.js';
import { createMemoryDraft11Records, type Draft11Records } from './records-11.js';
import { listenRouter } from './lib/listen-router.js';
import { authServerTelemetry } from './lib/telemetry.js';
import { loadRealmKey, type RealmKey } from './lib/realm-key.js';
import { createTokenRouter } from './lib/token-routes.js';
import { createTokenService } from './lib/token-service.js';
import type { IssuancePolicy } from './issuance-policy.js';
import { createPolicyCheck } from './lib/policy-hook.js';
import { warningHook } from './lib/warning-hook.js';

/** JWS algorithms the embedded server signs auth tokens with (section 7). */
export type { SigningAlgorithm };

/** Options of {@link createAuthServer}; validated when it is called. */
export interface AuthServerOptions {
  /** Path to a Keycloak realm export, or the parsed object (validated: a bad field is named). */
  realm: string | object;
  /** Scheme and authority the server is reached at, e.g. `http://localhost:8080`; issuer = `{baseUrl}/realms/{realm}`. */
  baseUrl: string;
  /** File holding the realm signing key (created if absent, mode 0600); default: an ephemeral key, with a warning. */
  keyFile?: string | undefined;
  /**
   * JWS algorithm of auth tokens; default the realm's `aauth.token.signing.alg` attribute, else
   * `'RS256'` (as Keycloak). EdDSA signs and verifies several times faster than RS256.
   */
  signingAlgorithm?: SigningAlgorithm | undefined;
  /** Fetch for resource and issuer discovery; default `globalThis.fetch`. */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Where pending consent requests live; default in memory (one process). */
  pendingStore?: PendingStore | undefined;
  /** Where redeemed resource tokens are remembered, each until its `exp` (single use); default in memory, bounded (one process). The verifier's `createRedisReplayStore` fits. */
  usedTokenStore?: UsedTokenStore | undefined;
  /**
   * Where rate-limit counters live (sign-in failures, unknown interaction codes, failed client
   * authentications); default in memory (one process). `createRedisAuthServerStores` gives a shared one.
   */
  rateLimitStore?: RateLimitStore | undefined;
  /**
   * Where the consent page's sign-in sessions live; default in memory (the sign-in and the decision
   * must then reach the same process). `createRedisAuthServerStores` gives a shared one.
   */
  sessionStore?: SessionStore | undefined;
  /** Life of a pending request in seconds; default 600. */
  pendingLifetime?: number | undefined;
  /** Receives one event per decision (never a token); default: none. */
  onAudit?: ((event: AuditEvent) => void) | undefined;
  /** OpenTelemetry (issue 19, docs/telemetry.md): an `aauth.token_issue` span per request to an issuing endpoint when an SDK is registered; `recordSubject` records the issued token's `sub`. */
  telemetry?: { enabled?: boolean | undefined; recordSubject?: boolean | undefined } | undefined;
  /** Receives warnings (ephemeral key, in-memory store, unusable realm entries); default `console.warn`. */
  onWarning?: ((message: string) => void) | undefined;
  /** Discovery limits and egress policy for resource and issuer metadata (the verifier's `discovery`). */
  discovery?: DiscoveryOptions | undefined;
  /** Replay protection of signed requests (the verifier's `replay`); default in memory. */
  replay?: ReplayOptions | undefined;
  /** Allowed distance of a signature's `created` from now, seconds; default 60. */
  maxSkew?: number | undefined;
  /** Largest token request body in bytes; default 65536. */
  maxBodyBytes?: number | undefined;
  /** Time a request has to deliver its whole body, ms; default 30000 (later: 408 body_timeout, and the connection is closed). */
  bodyTimeoutMs?: number | undefined;
  /**
   * Asked before any token is issued, after the realm file's rules (issue 17): allow, deny with a
   * reason (403 `policy_denied`) or narrow the scopes; `createOpaPolicy` asks an OPA server. Default: none.
   */
  policy?: IssuancePolicy | undefined;
  /** How long the policy may take, in milliseconds, before the request is refused with 503 `policy_unavailable`; default 5000. */
  policyTimeoutMs?: number | undefined;
  /** The AAuth -11 person server (draft-11 profile; realm attributes `aauth.person.*`). */
  draft11?: AuthServerDraft11Options | undefined;
  /** Revocation by token, agent and grant (issue 17): the shared registry and who may revoke; default none. */
  revocation?: AuthServerRevocationOptions | undefined;
  /** Where the -11 person and access servers keep their records (issued tokens, bindings, grants); default in memory (one process). `createRedisAuthServerStores` gives shared ones. */
  draft11Records?: Draft11Records | undefined;
}

/**
 * Revocation at the auth server (issue 17). Refresh and exchange refuse revoked tokens (400
 * `grant_revoked`); `POST {issuer}/protocol/aauth/revoke` records revocations for the listed clients.
 */
export interface AuthServerRevocationOptions {
  /** Where revocations live: the verifier's `createRedisRevocationStore` for a fleet, `createMemoryRevocationStore` for one process. Resources given the same store refuse the revoked tokens. */
  store: RevocationRegistry;
  /** Realm clients (confidential, client secret; Basic or post; a public client is refused with a TypeError) that may call the revocation endpoint; default none (the endpoint is not served). */
  clients?: string[] | undefined;
}

/**
 * Deployment settings of the -11 person server. It is served at the origin of `baseUrl`, which
 * must be a -11 server identifier (`https://host`, no port), unless `allowLoopback` is set.
 */
export interface AuthServerDraft11Options {
  /**
   * Accept `http` and a port on `localhost`, `127.0.0.1` or `[::1]` as the person server's own
   * identifier and in the identifiers it meets (agent providers, resources); default false. Tests and local development only.
   */
  allowLoopback?: boolean | undefined;
  /** File holding the person server's Ed25519 key (created if absent, mode 0600); default an ephemeral key: tokens and directed `sub`s change after a restart. */
  keyFile?: string | undefined;
  /** File holding the access server's Ed25519 key (realm attribute `aauth.access.enabled`; created if absent, mode 0600); default an ephemeral key. */
  accessKeyFile?: string | undefined;
}

/** A running-or-mountable embedded auth server. */
export interface AuthServer {
  /** `{baseUrl}/realms/{realm}`. */
  readonly issuer: string;
  /** The parsed realm (policy, users, lifetimes). */
  readonly realm: RealmConfig;
  /** Express router serving `/realms/{realm}/...`; mount it at `/` of an app whose origin is `baseUrl`. */
  router(): Router;
  /** Listen on `host` (default 127.0.0.1) and `port` (default: the port of `baseUrl`). */
  listen(port?: number, host?: string): Promise<{ url: string; close(): Promise<void> }>;
  /** The realm JWKS, as served at `/protocol/aauth/certs`. */
  jwks(): { keys: object[] };
  /** The -11 person server's identifier (the origin of `baseUrl`), or undefined when it is not served. */
  readonly personServer: string | undefined;
  /** The -11 access server's identifier (the origin of `baseUrl`), or undefined when it is not served (`aauth.access.enabled`). */
  readonly accessServer: string | undefined;
}

const ALGORITHMS: readonly SigningAlgorithm[] = SIGNING_ALGORITHMS;

function positiveInteger(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TypeError(`${path} must be a positive integer`);
  return value;
}

/**
 * How start-up errors and warnings name what the user set: the API's option paths, or the command
 * line's flags (run-cli.ts). Internal: not exported from the package.
 */
export interface MessageNames {
  baseUrl: string;
  realm: string;
  /** Warning when no key file is given. */
  ephemeralKey: string;
  /** Warning when pending requests live in memory. */
  memoryPendingStore: string;
}

/**
 * A failing records store behind the person server's revocation check: the verifier's 503
 * `revocation_store_failed`, saying what the store said (not connected, timed out) with its Retry-After.
 */
function asRevocationStoreFailure(error: unknown): never {
  if (!isAAuthError(error)) throw error;
  throw new AAuthError('revocation_store_failed', error.message, { headers: error.headers, cause: error });
}

const API_NAMES: MessageNames = {
  baseUrl: 'options.baseUrl',
  realm: 'options.realm',
  ephemeralKey: 'no keyFile given: the realm signing key is ephemeral, and tokens it signed stop verifying after a restart (dev only)',
  memoryPendingStore: 'pending consent requests are kept in memory: a fleet of auth servers needs a shared options.pendingStore',
};

function parseBaseUrl(value: unknown, name: string): URL {
  const problem = identityUrlProblem(value);
  if (problem) throw new TypeError(`${name} ${problem} (got ${JSON.stringify(value)})`);
  return new URL(value as string);
}

/**
 * Create the embedded, Keycloak-compatible AAuth auth server (wire profile sections 7, 8, 10) for
 * one realm export. Throws a `TypeError` naming the bad option or realm field.
 */
export function createAuthServer(options: AuthServerOptions): AuthServer {
  return buildAuthServer(options, API_NAMES);
}

/**
 * How a tenant server (create-tenant-auth-server.ts) builds one of its realms. Internal: not exported
 * from the package.
 */
export interface TenantBuild {
  /** The realm's signing key, kept by the tenant server across reloads of the realm file. */
  key?: RealmKey | undefined;
  /** False: this realm does not serve the -11 roles, which live at the origin (one realm per origin serves them). */
  serveDraft11?: boolean | undefined;
}

/** The option names of createAuthServer (a name outside them is refused: a misspelt option would be dropped without a word). */
const AUTH_SERVER_OPTIONS = optionNames<AuthServerOptions>({
  realm: true, baseUrl: true, keyFile: true, signingAlgorithm: true, fetch: true, now: true, pendingStore: true, usedTokenStore: true,
  rateLimitStore: true, sessionStore: true, pendingLifetime: true, onAudit: true, telemetry: true, onWarning: true, discovery: true, replay: true,
  maxSkew: true, maxBodyBytes: true, bodyTimeoutMs: true, policy: true, policyTimeoutMs: true, draft11: true, revocation: true, draft11Records: true,
});
const AUTH_SERVER_DRAFT11_OPTIONS = optionNames<AuthServerDraft11Options>({ allowLoopback: true, keyFile: true, accessKeyFile: true });
const AUTH_SERVER_HINTS: Readonly<Record<string, string>> = {
  issuer: 'the issuer is {baseUrl}/realms/{realm name}: set baseUrl',
  port: 'the port goes to authServer.listen(port)',
  host: 'the address goes to authServer.listen(port, host)',
};

/** {@link createAuthServer} with its messages naming options as `names` says (the CLI names its flags). */
export function buildAuthServer(options: AuthServerOptions, names: MessageNames, tenant: TenantBuild = {}): AuthServer {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  assertKnownOptions(options, AUTH_SERVER_OPTIONS, 'options', 'createAuthServer', AUTH_SERVER_HINTS);
  const warn = warningHook(options.onWarning, '[aauth-auth-server]');
  const base = parseBaseUrl(options.baseUrl, names.baseUrl);
  if (options.signingAlgorithm !== undefined && !ALGORITHMS.includes(options.signingAlgorithm)) throw new TypeError(`options.signingAlgorithm must be one of ${ALGORITHMS.join(', ')}`);
  if (options.keyFile !== undefined && (typeof options.keyFile !== 'string' || options.keyFile.length === 0)) {
    throw new TypeError('options.keyFile must be a file path');
  }
  for (const name of ['fetch', 'now', 'onAudit', 'onWarning', 'policy'] as const) {
    if (options[name] !== undefined && typeof options[name] !== 'function') throw new TypeError(`options.${name} must be a function`);
  }
  const pendingLifetime = positiveInteger(options.pendingLifetime, 'options.pendingLifetime', 600);
  const maxBodyBytes = positiveInteger(options.maxBodyBytes, 'options.maxBodyBytes', 64 * 1024);
  const bodyTimeoutMs = positiveInteger(options.bodyTimeoutMs, 'options.bodyTimeoutMs', DEFAULT_BODY_TIMEOUT_MS);
  const policyTimeoutMs = positiveInteger(options.policyTimeoutMs, 'options.policyTimeoutMs', 5000);
  const realm = loadRealm(options.realm, { onWarning: warn, path: names.realm });

  const issuer = `${options.baseUrl}/realms/${realm.name}`;
  const now = options.now ?? (() => Date.now() / 1000);
  // The option, else the realm's attribute, else RS256 (as Keycloak).
  const alg = options.signingAlgorithm ?? realm.signingAlgorithm ?? 'RS256';
  if (tenant.key !== undefined && tenant.key.alg !== alg) {
    throw new TypeError(`realm ${realm.name} now asks for ${alg} auth tokens (aauth.token.signing.alg), but its kept key signs ${tenant.key.alg}: restart the server to change it`);
  }
  const key = tenant.key ?? loadRealmKey(alg, options.keyFile);
  if (options.keyFile === undefined && tenant.key === undefined) {
    warn(names.ephemeralKey);
  }
  let store = options.pendingStore;
  if (store === undefined) {
    store = createMemoryPendingStore({ now });
    warn(names.memoryPendingStore);
  } else if (typeof store.put !== 'function' || typeof store.take !== 'function' || typeof store.decide !== 'function') {
    throw new TypeError('options.pendingStore must implement put, get, getByCode, decide and take');
  }

  const usedTokens = options.usedTokenStore ?? createMemoryUsedTokenStore({ now });
  if (typeof usedTokens !== 'object' || usedTokens === null || typeof usedTokens.checkAndStore !== 'function') {
    throw new TypeError('options.usedTokenStore must implement checkAndStore');
  }
  const rateLimits = options.rateLimitStore ?? createMemoryRateLimitStore(now);
  if (typeof rateLimits !== 'object' || rateLimits === null || typeof rateLimits.throttle !== 'function') {
    throw new TypeError('options.rateLimitStore must implement throttle');
  }
  const sessions = options.sessionStore ?? createMemorySessionStore(now);
  if (typeof sessions !== 'object' || sessions === null || typeof sessions.get !== 'function' || typeof sessions.put !== 'function' || typeof sessions.delete !== 'function') {
    throw new TypeError('options.sessionStore must implement put, get and delete');
  }

  const revocation = options.revocation;
  if (revocation !== undefined) {
    const r = revocation as Partial<AuthServerRevocationOptions>;
    const st = r.store as Partial<RevocationRegistry> | undefined;
    if (typeof r !== 'object' || r === null || typeof st !== 'object' || st === null || ['revoke', 'revokeAgent', 'revokeGrant', 'isRevoked', 'coveredThrough'].some((m) => typeof st[m as keyof RevocationRegistry] !== 'function')) {
      throw new TypeError('options.revocation.store must be a revocation registry (revoke, revokeAgent, revokeGrant, isRevoked, coveredThrough)');
    }
    if (r.clients !== undefined && (!Array.isArray(r.clients) || r.clients.some((c) => typeof c !== 'string' || !realm.clients.some((k) => k.clientId === c)))) {
      const unknown = Array.isArray(r.clients) ? r.clients.find((c) => typeof c !== 'string' || !realm.clients.some((k) => k.clientId === c)) : undefined;
      throw new TypeError(
        `options.revocation.clients must list client ids of the realm${unknown === undefined ? '' : ` (${JSON.stringify(unknown)} is none of ${realm.clients.map((k) => k.clientId).join(', ')})`}`,
      );
    }
    const open = (r.clients ?? []).find((c) => realm.clients.find((k) => k.clientId === c)?.publicClient === true);
    if (open !== undefined) {
      throw new TypeError(`options.revocation.clients must list confidential clients (with a client secret): ${JSON.stringify(open)} is a public client, and anyone could revoke as it`);
    }
  }

  const jwks = { keys: [key.publicJwk] };
  const verifier = createVerifier({
    identity: issuer,
    trustedIssuers: [issuer, ...realm.policy.trustedIssuers],
    localIssuerKeys: { [issuer]: jwks },
    now,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.discovery ? { discovery: options.discovery } : {}),
    // Key discovery's fetches are `aauth.discovery` spans under the token_issue span (docs/telemetry.md).
    ...(options.telemetry ? { telemetry: options.telemetry } : {}),
    ...(options.replay ? { replay: options.replay } : {}),
    ...(options.maxSkew !== undefined ? { maxSkew: options.maxSkew } : {}),
  });

  const telemetry = authServerTelemetry(options.telemetry, realm, base.origin);
  const ctx: ServerContext = {
    issuer,
    issuerPath: new URL(issuer).pathname,
    origin: base.origin,
    realm,
    key,
    keys: verifier,
    tokens: verifier,
    store,
    usedTokens,
    rateLimits,
    sessions,
    now,
    pendingLifetime,
    audit: telemetry.audit(createAuditEmitter(options.onAudit, warn, realm)),
    warn,
    secureCookies: base.protocol === 'https:',
    policy: createPolicyCheck(options.policy, policyTimeoutMs, realm.name, now),
    ...(revocation !== undefined ? { revocation: revocation.store } : {}),
  };
  const tokens = createTokenService(ctx);
  // Issue 13, finding 8: poll signatures are single use, remembered in the replay store given for
  // signed requests (shared by a fleet) or in memory, for as long as a signature can be fresh.
  const polls = { store: options.replay?.store ?? createMemoryReplayStore({ now }), ttl: 2 * (options.maxSkew ?? 60) + 1 };
  const oauthTokens = createOAuthTokenService(ctx);
  const urls = endpoints(issuer);

  // The -11 person server (draft-11 profile sections 2, 6-9) at the base URL's origin, from the same realm.
  const draft11 = options.draft11 ?? {};
  if (typeof draft11 !== 'object' || draft11 === null) throw new TypeError('options.draft11 must be an object');
  assertKnownOptions(draft11, AUTH_SERVER_DRAFT11_OPTIONS, 'options.draft11');
  if (draft11.allowLoopback !== undefined && typeof draft11.allowLoopback !== 'boolean') throw new TypeError('options.draft11.allowLoopback must be a boolean');
  if (draft11.keyFile !== undefined && (typeof draft11.keyFile !== 'string' || draft11.keyFile.length === 0)) throw new TypeError('options.draft11.keyFile must be a file path');
  if (draft11.accessKeyFile !== undefined && (typeof draft11.accessKeyFile !== 'string' || draft11.accessKeyFile.length === 0)) throw new TypeError('options.draft11.accessKeyFile must be a file path');
  const allowLoopback = draft11.allowLoopback === true;
  const psIssuer = base.origin;
  const psProblem = serverIdentifierProblem(psIssuer, { allowLoopback });
  let personRouter: Router | undefined;
  const draft11Here = tenant.serveDraft11 !== false;
  if (draft11Here && realm.person.enabled && psProblem !== undefined && options.draft11 !== undefined) {
    warn(`the -11 person server is not served: the origin of ${names.baseUrl} ${psProblem} (a -11 server identifier; options.draft11.allowLoopback relaxes it for loopback)`);
  }
  const personServer = draft11Here && realm.person.enabled && psProblem === undefined ? psIssuer : undefined;
  /** A role's Ed25519 key: from its file, else new (saved when a file is named, else ephemeral with a warning). */
  const roleKey = (file: string | undefined, option: string, role: string): SigningKey => {
    if (file !== undefined && existsSync(file)) {
      let loaded: SigningKey;
      try {
        loaded = loadKeyFile(file);
      } catch (error) {
        // An RSA PEM, a P-256 JWK, text that is no key: the option's misuse, named (the CLI says its flag).
        if (!isAAuthError(error)) throw error;
        throw new TypeError(`${option} ${file} must hold an Ed25519 private key (a JWK or PKCS#8 PEM, e.g. from aauth keygen --out): ${error.message}`);
      }
      if (loaded.algorithm !== 'ed25519') throw new TypeError(`${option} ${file} must hold an Ed25519 private key (a JWK or PKCS#8 PEM, e.g. from aauth keygen --out), not ${loaded.algorithm}`);
      return loaded;
    }
    const fresh = generateKey();
    if (file !== undefined) saveKeyFile(file, fresh);
    else if (options.draft11 !== undefined) warn(`no ${option} given: the ${role} key is ephemeral, and its tokens${role === 'person server' ? ' and directed subs' : ''} change after a restart (dev only)`);
    return fresh;
  };
  // The -11 access server (AAuth -11 "AS Token Endpoint") at the same origin, when the realm enables it.
  if (draft11Here && realm.access.enabled && psProblem !== undefined) {
    warn(`the -11 access server is not served: the origin of ${names.baseUrl} ${psProblem} (a -11 server identifier; options.draft11.allowLoopback relaxes it for loopback)`);
  }
  const accessServer = draft11Here && realm.access.enabled && psProblem === undefined ? psIssuer : undefined;
  realm.access.trustedPersonServers.forEach((id, i) => {
    const problem = serverIdentifierProblem(id, { allowLoopback });
    if (problem) throw new TypeError(`${names.realm}.attributes["aauth.access.trusted.person.servers"][${i}] ${problem} (got ${JSON.stringify(id)})`);
  });
  realm.access.personTrustedAccessServers.forEach((id, i) => {
    const problem = serverIdentifierProblem(id, { allowLoopback });
    if (problem) throw new TypeError(`${names.realm}.attributes["aauth.person.trusted.access.servers"][${i}] ${problem} (got ${JSON.stringify(id)})`);
  });
  const records11 = options.draft11Records ?? createMemoryDraft11Records(now);
  if (typeof records11?.person?.putIssued !== 'function' || typeof records11?.access?.putIssued !== 'function') {
    throw new TypeError('options.draft11Records must hold the person and access record stores (createRedisAuthServerStores gives them)');
  }
  let withdrawGrant11: ((user: string, agent: string, until: number) => Promise<number>) | undefined;
  let accessRouter: Router | undefined;
  if (accessServer !== undefined) {
    // Its own key and JWKS, apart from the person server's: each role's tokens name their document (dwk).
    const asKey = roleKey(draft11.accessKeyFile, 'options.draft11.accessKeyFile', 'access server');
    const verifierAs = createVerifier({
      identity: accessServer,
      // Presented and upstream tokens come from the trusted person servers, or (a step-up) from itself.
      trustedIssuers: [accessServer, ...realm.access.trustedPersonServers],
      generations: ['draft-11'],
      draft11: { allowLoopback, personServers: realm.access.trustedPersonServers, authIssuers: [accessServer, ...realm.access.trustedPersonServers] },
      now,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.discovery ? { discovery: options.discovery } : {}),
      ...(options.telemetry ? { telemetry: options.telemetry } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
      ...(options.maxSkew !== undefined ? { maxSkew: options.maxSkew } : {}),
    });
    // AS-43: its revocations reach the resources of the auth tokens it issued, signed as itself.
    const asRevocationPush = createRevocationPusher(ctx, {
      issuer: accessServer,
      key: asKey,
      dwk: 'aauth-access.json',
      allowLoopback,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.discovery ? { discovery: options.discovery } : {}),
      ...(options.telemetry ? { telemetry: options.telemetry } : {}),
    });
    const service = createAccessService(ctx, {
      issuer: accessServer,
      key: asKey,
      verifier: verifierAs,
      allowLoopback,
      revocationPush: asRevocationPush,
      ...(options.maxSkew !== undefined ? { skew: options.maxSkew } : {}),
      records: records11.access,
    });
    accessRouter = createAccessRouter(ctx, { issuer: accessServer, key: asKey, verifier: verifierAs, service, trustedPersonServers: realm.access.trustedPersonServers, maxBodyBytes });
  }
  if (personServer !== undefined) {
    const psKey = roleKey(draft11.keyFile, 'options.draft11.keyFile', 'person server');
    const verifier11 = createVerifier({
      identity: personServer,
      // Its own person and auth tokens come back as presented tokens (three-party); the access
      // servers it federates to issue the auth tokens it checks before handing them over (four-party).
      trustedIssuers: [personServer, ...realm.access.personTrustedAccessServers],
      generations: ['draft-11'],
      draft11: { allowLoopback },
      // PS-111: an agent token its provider revoked here is refused (401 revoked_jwt), keyed by (iss, jti).
      revocation: { isRevoked: (iss: string, jti: string) => records11.person.isTokenRevoked(iss, jti).catch(asRevocationStoreFailure) },
      now,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.discovery ? { discovery: options.discovery } : {}),
      ...(options.telemetry ? { telemetry: options.telemetry } : {}),
      ...(options.replay ? { replay: options.replay } : {}),
      ...(options.maxSkew !== undefined ? { maxSkew: options.maxSkew } : {}),
    });
    // The consent page names -11 parties from their documents, read as this person server reads them.
    ctx.metadata11 = verifier11;
    const revocationPush = createRevocationPusher(ctx, {
      issuer: personServer,
      key: psKey,
      allowLoopback,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.discovery ? { discovery: options.discovery } : {}),
    });
    const federation = createFederation({
      issuer: personServer,
      key: psKey,
      verifier: verifier11,
      allowLoopback,
      trustedAccessServers: realm.access.personTrustedAccessServers,
      fetch: options.fetch ?? globalThis.fetch,
      now,
    });
    const service = createPersonService(ctx, { issuer: personServer, key: psKey, verifier: verifier11, allowLoopback, revocationPush, federation, records: records11.person, ...(options.maxSkew !== undefined ? { skew: options.maxSkew } : {}) });
    withdrawGrant11 = service.withdrawGrant;
    personRouter = createPersonRouter(ctx, { issuer: personServer, key: psKey, verifier: verifier11, service, maxBodyBytes, polls });
  }

  let built: Router | undefined;
  function router(): Router {
    if (built) return built;
    const r = express.Router();
    r.use(telemetry.middleware);
    // Every endpoint that takes a body gets it within bodyTimeoutMs, or answers 408 and closes.
    r.use(bodyDeadline(bodyTimeoutMs, (res, error) => sendRefusal(res, error, ctx.warn, { 'Cache-Control': 'no-store' })));
    const metadata = { issuer, token_endpoint: urls.token, interaction_endpoint: urls.interaction, jwks_uri: urls.jwks };
    // Issuer metadata (section 9) and the realm JWKS at Keycloak's two paths, served as every well-known document is.
    const documents = { '/.well-known/aauth-issuer.json': metadata, '/.well-known/aauth-issuer': metadata, '/protocol/aauth/certs': jwks, '/protocol/openid-connect/certs': jwks };
    r.use(serveDocuments(Object.fromEntries(Object.entries(documents).map(([path, body]) => [`${ctx.issuerPath}${path}`, body])), 'authServer.router()'));
    r.use(createTokenRouter(ctx, verifier, tokens, maxBodyBytes, polls));
    r.use(createInteractionRouter(ctx));
    r.use(createOAuthTokenRouter(ctx, oauthTokens, maxBodyBytes));
    if (personRouter) r.use(personRouter);
    if (accessRouter) r.use(accessRouter);
    if (revocation !== undefined && (revocation.clients ?? []).length > 0) {
      const issuers = [issuer, ...(personServer === undefined ? [] : [personServer])];
      r.use(createRevocationRouter(ctx, { registry: revocation.store, clients: revocation.clients ?? [], issuers, maxBodyBytes, ...(withdrawGrant11 ? { withdrawGrant11 } : {}) }));
    }
    built = r;
    return r;
  }

  return {
    issuer,
    realm,
    router,
    jwks: () => ({ keys: [{ ...key.publicJwk }] }),
    personServer,
    accessServer,
    listen: (port, host) => listenRouter(router, base, port, host),
  };
}
