import { type SigningKey } from '@aauth-kit/core';
import { assertIdentityUrl, assertKnownOptions, catchRejection, type Telemetry } from '@aauth-kit/core/internal';
import { resolveSigner, type Signer } from '../build-signed-request.js';
import { createMemoryTokenCache, type TokenCache } from '../token-cache.js';
import type { AgentProvider } from '../create-agent-provider.js';
import type { AgentEvent, AgentOptions, Clarification, Interaction } from '../types.js';
import type { AgentSelf, InteractionPolicy } from './next-step.js';
import { readPresented } from './checks-11.js';
import { agentTelemetry, traceEvent } from './telemetry.js';
import { parseAgentIdentifier, serverIdentifierProblem } from './wire-11.js';

/** The -11 options, validated. */
export interface Draft11Config {
  agentToken: string | (() => string | Promise<string>) | undefined;
  provider: AgentProvider | undefined;
  local: string;
  agentTokenLifetime: number;
  ps: string | undefined;
  allowLoopback: boolean;
  /** `login_hint`, `tenant`, `domain_hint` for person server requests. */
  hints: Record<string, string>;
  /** The default mission (`mission_s256`) of every call; undefined: none. */
  missionS256: string | undefined;
}

/** A mission's `s256` (AAuth -11 "Mission Identifier"): unpadded base64url of a SHA-256 digest. */
export const MISSION_S256 = /^[A-Za-z0-9_-]{43}$/;

/** An agent's configuration, validated and resolved once at `createAgent`. */
export interface AgentConfig {
  identity: string | undefined;
  key: SigningKey;
  /** Who the agent is, as a challenge is read. */
  self: AgentSelf;
  /** Signs every request the agent sends. */
  signer: Signer;
  /**
   * Signs `agent.buildSignedRequest()` for a URL the agent speaks -11 to: the dictionary
   * `Signature-Key` form unless `options.signatureKeyForm` was set (then `signer`).
   */
  signer11: Signer;
  fetch: typeof fetch;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  onInteraction: ((interaction: Interaction) => void | Promise<void>) | undefined;
  onClarification: ((clarification: Clarification) => string | Promise<string>) | undefined;
  interaction: InteractionPolicy;
  tokenCache: TokenCache;
  /** Refresh an expiring cached token (`{auth_token}`) before falling back to a challenge. */
  refresh: boolean;
  /** The audit hook; its exceptions are swallowed. */
  emit: (event: AgentEvent) => void;
  /** OpenTelemetry (`options.telemetry`): the agent's tracer, a no-op without `@opentelemetry/api`. */
  telemetry: Telemetry;
  /** Discovery's limits, and `options.telemetry` for its `aauth.discovery` spans. */
  discovery: { timeoutMs: number; maxBytes: number; telemetry?: AgentOptions['telemetry'] };
  tokenRequest: { timeoutMs: number; maxBytes: number };
  /** Longest time an issued auth token is cached, seconds. */
  maxTokenLifetime: number;
  maxBodyBytes: number;
  /** Display fields of `aauth-agent.json`. */
  metadata: Record<string, string>;
  /** AAuth -11; undefined: the Keycloak profile only. */
  draft11: Draft11Config | undefined;
  generation: 'keycloak' | 'draft-11' | 'auto';
}

const KNOWN = new Set([
  'identity', 'key', 'trustedAuthServers', 'authServer', 'fetch', 'now', 'onInteraction', 'onClarification', 'interactionCallback',
  'interactionTimeoutMs', 'sleep', 'tokenCache', 'signatureEncoding', 'signatureKeyForm', 'nonce', 'onEvent',
  'discovery', 'tokenRequest', 'maxBodyBytes', 'metadata', 'refresh', 'maxTokenLifetime', 'draft11', 'generation', 'telemetry',
]);
const LIMIT_OPTIONS: ReadonlySet<string> = new Set(['timeoutMs', 'maxBytes']);
const DRAFT11_KNOWN = new Set(['agentToken', 'provider', 'local', 'agentTokenLifetime', 'ps', 'allowLoopback', 'hints', 'missionS256']);
const HINTS = { loginHint: 'login_hint', tenant: 'tenant', domainHint: 'domain_hint' } as const;

/** Validate `options.draft11` (profile sections 2 and 6). */
function resolveDraft11(options: AgentOptions, now: () => number): Draft11Config | undefined {
  const d = options.draft11;
  if (d === undefined) return undefined;
  if (typeof d !== 'object' || d === null) throw new TypeError('options.draft11 must be an object');
  assertKnownOptions(d, DRAFT11_KNOWN, 'options.draft11');
  if ((d.agentToken === undefined) === (d.provider === undefined)) {
    throw new TypeError('options.draft11 needs exactly one of agentToken (an external agent provider) and provider (createAgentProvider)');
  }
  if (d.allowLoopback !== undefined && typeof d.allowLoopback !== 'boolean') throw new TypeError('options.draft11.allowLoopback must be a boolean');
  const allowLoopback = d.allowLoopback === true;
  if (d.ps !== undefined) {
    const problem = serverIdentifierProblem(d.ps, allowLoopback);
    if (problem) throw new TypeError(`options.draft11.ps ${problem} (got ${JSON.stringify(d.ps)})`);
  }
  if (typeof d.agentToken === 'string') {
    // Fail at start-up, not on the first request: the token must be an agent token for this key.
    try {
      readPresented(d.agentToken, 'agent', options.key.thumbprint, now());
    } catch (error) {
      throw new TypeError(`options.draft11.agentToken is not usable: ${(error as Error).message}`);
    }
  } else if (d.agentToken !== undefined && typeof d.agentToken !== 'function') {
    throw new TypeError('options.draft11.agentToken must be a string or a function returning one');
  }
  if (d.provider !== undefined && (typeof d.provider !== 'object' || typeof d.provider.mintAgentToken !== 'function')) {
    throw new TypeError('options.draft11.provider must be an AgentProvider (createAgentProvider)');
  }
  const local = d.local ?? 'agent';
  if (typeof local !== 'string' || parseAgentIdentifier(`aauth:${local}@x.example`) === undefined) {
    throw new TypeError(`options.draft11.local must be 1-255 characters of A-Z a-z 0-9 - _ + . (got ${JSON.stringify(local)})`);
  }
  const lifetime = positive(d.agentTokenLifetime, 'options.draft11.agentTokenLifetime', 3600);
  if (lifetime > 86_400) throw new TypeError('options.draft11.agentTokenLifetime must be at most 86400 (24 h)');
  const hints: Record<string, string> = {};
  if (d.hints !== undefined) {
    if (typeof d.hints !== 'object' || d.hints === null) throw new TypeError('options.draft11.hints must be an object');
    for (const [k, v] of Object.entries(d.hints)) {
      const wire = HINTS[k as keyof typeof HINTS];
      if (wire === undefined) throw new TypeError(`options.draft11.hints.${k} is not a hint (loginHint, tenant, domainHint)`);
      if (v === undefined) continue;
      if (typeof v !== 'string' || v.length === 0 || v.length > 512) throw new TypeError(`options.draft11.hints.${k} must be a non-empty string of at most 512 characters`);
      hints[wire] = v;
    }
  }
  if (d.missionS256 !== undefined && (typeof d.missionS256 !== 'string' || !MISSION_S256.test(d.missionS256))) {
    throw new TypeError(`options.draft11.missionS256 must be a mission's s256: the unpadded base64url SHA-256 of the mission blob, 43 characters (got ${JSON.stringify(d.missionS256)})`);
  }
  return { agentToken: d.agentToken, provider: d.provider, local, agentTokenLifetime: lifetime, ps: d.ps, allowLoopback, hints, missionS256: d.missionS256 };
}
const METADATA_FIELDS = new Set(['name', 'logo_uri', 'policy_uri', 'tos_uri']);

function fn<T>(value: T | undefined, path: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`${path} must be a function`);
  return value;
}

function positive(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`${path} must be a positive number (got ${typeof value === 'string' ? `the string ${JSON.stringify(value)}` : String(value)})`);
  return value;
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw new TypeError(`${path} must be one of ${allowed.join(', ')} (got ${JSON.stringify(value)})`);
  return value as T;
}

function limits(value: unknown, path: string, timeoutMs: number, maxBytes: number): { timeoutMs: number; maxBytes: number } {
  if (value === undefined) return { timeoutMs, maxBytes };
  if (typeof value !== 'object' || value === null) throw new TypeError(`${path} must be an object`);
  const v = value as Record<string, unknown>;
  assertKnownOptions(v, LIMIT_OPTIONS, path);
  return { timeoutMs: positive(v.timeoutMs, `${path}.timeoutMs`, timeoutMs), maxBytes: positive(v.maxBytes, `${path}.maxBytes`, maxBytes) };
}

/** A timer; cleared when `signal` aborts (the caller of a consent poll gave up), so nothing keeps the process alive. */
const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** Validate `createAgent` options once, at start-up; misuse throws a `TypeError` naming the option. */
export function resolveOptions(options: AgentOptions): AgentConfig {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  assertKnownOptions(options, KNOWN, 'options', 'createAgent');
  const key = options.key as unknown as Record<string, unknown> | undefined;
  if (
    typeof key !== 'object' || key === null || typeof key.sign !== 'function' || typeof key.thumbprint !== 'string' ||
    typeof key.kid !== 'string' || typeof key.toPublishedJwk !== 'function'
  ) {
    throw new TypeError('options.key must be a SigningKey from @aauth-kit/core (generateKey, importPrivateKey or loadKeyFile)');
  }
  if (options.identity !== undefined) assertIdentityUrl(options.identity, 'options.identity');
  if (options.authServer !== undefined) assertIdentityUrl(options.authServer, 'options.authServer');
  const trusted: string[] = [];
  if (options.trustedAuthServers !== undefined) {
    if (!Array.isArray(options.trustedAuthServers)) throw new TypeError('options.trustedAuthServers must be an array of issuer URLs');
    options.trustedAuthServers.forEach((issuer, i) => {
      assertIdentityUrl(issuer, `options.trustedAuthServers[${i}]`);
      trusted.push(issuer);
    });
  }
  if (options.authServer !== undefined && !trusted.includes(options.authServer)) trusted.push(options.authServer);

  if (options.interactionCallback !== undefined) {
    let ok = false;
    try {
      ok = /^https?:$/.test(new URL(options.interactionCallback).protocol);
    } catch {
      ok = false;
    }
    if (!ok) throw new TypeError('options.interactionCallback must be an absolute http(s) URL');
  }
  const cache = options.tokenCache;
  if (cache !== undefined) {
    for (const m of ['get', 'set', 'delete', 'deleteResource', 'clear'] as const) {
      if (typeof (cache as unknown as Record<string, unknown>)[m] !== 'function') throw new TypeError(`options.tokenCache.${m} must be a function`);
    }
  }
  const metadata: Record<string, string> = {};
  if (options.metadata !== undefined) {
    if (typeof options.metadata !== 'object' || options.metadata === null) throw new TypeError('options.metadata must be an object');
    for (const [k, v] of Object.entries(options.metadata)) {
      if (!METADATA_FIELDS.has(k)) throw new TypeError(`options.metadata.${k} is not a field of aauth-agent.json (name, logo_uri, policy_uri, tos_uri)`);
      if (v === undefined) continue; // `?: string | undefined`: an explicit undefined is an absent field
      if (typeof v !== 'string') throw new TypeError(`options.metadata.${k} must be a string`);
      metadata[k] = v;
    }
  }
  if (options.refresh !== undefined && typeof options.refresh !== 'boolean') throw new TypeError('options.refresh must be a boolean');
  const now = fn(options.now, 'options.now') ?? (() => Date.now() / 1000);
  const onEvent = fn(options.onEvent, 'options.onEvent');
  const onInteraction = fn(options.onInteraction, 'options.onInteraction');
  const onClarification = fn(options.onClarification, 'options.onClarification');
  const signatureEncoding = oneOf(options.signatureEncoding, 'options.signatureEncoding', ['base64', 'base64url'], 'base64');
  const nonce = oneOf(options.nonce, 'options.nonce', ['always', 'non-idempotent'], 'always');
  const draft11 = resolveDraft11(options, now);
  const keycloakConfigured = options.identity !== undefined || trusted.length > 0;
  const fallbackGeneration = draft11 === undefined ? 'keycloak' : keycloakConfigured ? 'auto' : 'draft-11';
  const generation = oneOf(options.generation, 'options.generation', ['keycloak', 'draft-11', 'auto'], fallbackGeneration);
  if (generation !== 'keycloak' && draft11 === undefined) throw new TypeError(`options.generation ${JSON.stringify(generation)} needs options.draft11`);
  // -11 peers read only the dictionary form (HTTP Signature Keys -09): it is a -11-only agent's
  // default; an agent that also speaks the Keycloak profile keeps the parenthesised one there.
  const signatureKeyForm = oneOf(options.signatureKeyForm, 'options.signatureKeyForm', ['parenthesised', 'dictionary'], generation === 'draft-11' ? 'dictionary' : 'parenthesised');
  const signerConfig = { key: options.key, identity: options.identity, now, signatureEncoding, nonce };
  const signer = resolveSigner({ ...signerConfig, signatureKeyForm });
  const telemetry = agentTelemetry(options.telemetry);
  return {
    identity: options.identity,
    key: options.key,
    self: { identity: options.identity, thumbprint: options.key.thumbprint, trustedAuthServers: trusted },
    signer,
    signer11: options.signatureKeyForm === undefined && signatureKeyForm !== 'dictionary' ? resolveSigner({ ...signerConfig, signatureKeyForm: 'dictionary' }) : signer,
    fetch: fn(options.fetch, 'options.fetch') ?? globalThis.fetch.bind(globalThis),
    now,
    sleep: fn(options.sleep, 'options.sleep') ?? defaultSleep,
    onInteraction,
    onClarification,
    interaction: {
      handler: onInteraction !== undefined,
      clarify: onClarification !== undefined,
      callback: options.interactionCallback,
      timeoutMs: positive(options.interactionTimeoutMs, 'options.interactionTimeoutMs', 600_000),
    },
    tokenCache: cache ?? createMemoryTokenCache(),
    refresh: options.refresh ?? true,
    emit: (event) => {
      traceEvent(telemetry, event);
      try {
        // An async hook's rejection is ignored as a throw is (unhandled, it would end the process).
        catchRejection(onEvent?.(event), () => undefined);
      } catch {
        // An audit hook must not break requests.
      }
    },
    telemetry,
    discovery: { ...limits(options.discovery, 'options.discovery', 3000, 64 * 1024), ...(options.telemetry === undefined ? {} : { telemetry: options.telemetry }) },
    tokenRequest: limits(options.tokenRequest, 'options.tokenRequest', 60_000, 64 * 1024),
    maxTokenLifetime: positive(options.maxTokenLifetime, 'options.maxTokenLifetime', 3600),
    maxBodyBytes: positive(options.maxBodyBytes, 'options.maxBodyBytes', 16 * 1024 * 1024),
    metadata,
    draft11,
    generation,
  };
}
