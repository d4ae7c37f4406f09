import { createHash } from 'node:crypto';
import { type HeadersInput, isAAuthError, type SigningKey } from '@aauth-kit/core';
import { assessChallenge, type ChallengeDecision } from '../assess-challenge.js';
import { buildSignedRequest, defaultScheme, type SignerConfig } from '../build-signed-request.js';
import type { CachedToken, TokenCache } from '../token-cache.js';
import type { AgentEvent, BuildSignedRequestOptions, Interaction, RequestToSign, SignatureScheme, SignedRequestHeaders } from '../types.js';
import { createIssuerMetadataResolver, type IssuerMetadataResolver } from './issuer-metadata.js';
import { refreshAuthToken, requestAuthToken, type TokenRequestConfig } from './token-request.js';

/** Options after validation and defaults. */
export interface ResolvedOptions {
  identity: string | undefined;
  key: SigningKey;
  trustedAuthServers: string[];
  fetch: typeof fetch;
  now: () => number;
  onInteraction: ((interaction: Interaction) => void | Promise<void>) | undefined;
  interactionCallback: string | undefined;
  interactionTimeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  tokenCache: TokenCache;
  signatureEncoding: 'base64' | 'base64url';
  signatureKeyForm: 'parenthesised' | 'dictionary';
  nonce: 'always' | 'non-idempotent';
  onEvent: ((event: AgentEvent) => void) | undefined;
  discovery: { timeoutMs: number; maxBytes: number };
  tokenRequest: { timeoutMs: number; maxBytes: number };
  maxBodyBytes: number;
  metadata: Record<string, string>;
  /** Refresh an expiring cached token (`{auth_token}`) before falling back to a challenge. */
  refresh: boolean;
}

/** A token a request carried, and where it came from. */
export interface CarriedToken {
  token: string;
  source: 'explicit' | 'cache' | 'fresh';
  cacheKey?: string | undefined;
}

/** Tokens are renewed this many seconds before they expire (issue 4). */
export const RENEW_BEFORE = 30;
const MAX_HINTS = 1000;

/** sha-256 of the upstream token: the cache key never holds the token itself. */
export function upstreamHash(token: string | undefined): string {
  return token === undefined ? '' : createHash('sha256').update(token).digest('base64url');
}

/** Everything an agent shares between `fetch`, `wrapFetch` and the got hooks. */
export class AgentEngine {
  readonly options: ResolvedOptions;
  private readonly metadata: IssuerMetadataResolver;
  private readonly inflight = new Map<string, Promise<{ token: string; expiresAt: number }>>();
  /** Cache key -> the refresh under way for it (single flight); resolves undefined when it failed. */
  private readonly refreshing = new Map<string, Promise<string | undefined>>();
  /** (method, origin + path, upstream hash) -> the cache key of the token that worked there. */
  private readonly hints = new Map<string, string>();

  constructor(options: ResolvedOptions) {
    this.options = options;
    this.metadata = createIssuerMetadataResolver({ ...options.discovery, now: options.now });
  }

  get identity(): string | undefined {
    return this.options.identity;
  }

  get key(): SigningKey {
    return this.options.key;
  }

  /** The scheme for requests signed with the agent's own key. */
  ownScheme(requested?: SignatureScheme): 'jwks_uri' | 'hwk' {
    if (requested === 'hwk' || requested === 'jwks_uri') return requested;
    return defaultScheme(this.options.identity) as 'jwks_uri' | 'hwk';
  }

  signerConfig(): SignerConfig {
    const o = this.options;
    return {
      key: o.key,
      identity: o.identity,
      now: o.now,
      signatureEncoding: o.signatureEncoding,
      signatureKeyForm: o.signatureKeyForm,
      nonce: o.nonce,
    };
  }

  sign(request: RequestToSign, options: BuildSignedRequestOptions = {}): SignedRequestHeaders {
    return buildSignedRequest(request, { ...this.signerConfig(), ...options });
  }

  emit(event: AgentEvent): void {
    try {
      this.options.onEvent?.(event);
    } catch {
      // An audit hook must not break requests.
    }
  }

  assess(status: number, headers: HeadersInput, signedWith: SignatureScheme): ChallengeDecision {
    return assessChallenge(
      { status, headers },
      {
        identity: this.options.identity,
        thumbprint: this.options.key.thumbprint,
        trustedAuthServers: this.options.trustedAuthServers,
        now: this.options.now(),
        signedWith,
      },
    );
  }

  private cacheKey(resource: string, scope: string, agent: string, upstream: string): string {
    return JSON.stringify([resource, scope, agent, upstream]);
  }

  /**
   * The cached token under `key` if it is valid for more than `RENEW_BEFORE` seconds. An expired or
   * expiring token an auth server issued is refreshed (`{auth_token}`, one request per key at a
   * time); when that fails, or the token cannot be refreshed, the entry is dropped.
   */
  private async fresh(key: string, transport: typeof fetch): Promise<string | undefined> {
    const entry = this.options.tokenCache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt - RENEW_BEFORE > this.options.now()) return entry.token;
    const authServer = entry.authServer;
    if (!this.options.refresh || authServer === undefined) {
      this.options.tokenCache.delete(key);
      return undefined;
    }
    let flight = this.refreshing.get(key);
    if (flight === undefined) {
      flight = this.refresh(key, entry, authServer, transport).finally(() => this.refreshing.delete(key));
      this.refreshing.set(key, flight);
    }
    return flight;
  }

  /** One refresh; never throws: a failure evicts the entry, emits `refresh_failed` and answers undefined. */
  private async refresh(key: string, entry: CachedToken, authServer: string, transport: typeof fetch): Promise<string | undefined> {
    const base = { resource: entry.resource, authServer, scope: entry.scope };
    try {
      const metadata = await this.metadata.resolve(authServer, transport);
      const signAs = entry.signAs ?? this.ownScheme();
      const issued = await refreshAuthToken({ metadata, authToken: entry.token, signAs, transport }, this.tokenConfig());
      this.options.tokenCache.set(key, { ...entry, token: issued.token, expiresAt: issued.expiresAt });
      this.emit({ type: 'refreshed', ...base, expiresAt: issued.expiresAt });
      return issued.token;
    } catch (error) {
      if (this.options.tokenCache.get(key)?.token === entry.token) this.options.tokenCache.delete(key);
      const code = isAAuthError(error) ? error.code : 'auth_server_error';
      const message = isAAuthError(error) ? error.message : 'The refresh failed';
      this.emit({ type: 'refresh_failed', ...base, code, message });
      return undefined;
    }
  }

  private tokenConfig(): TokenRequestConfig {
    const o = this.options;
    return {
      signer: this.signerConfig(),
      now: o.now,
      sleep: o.sleep,
      timeoutMs: o.tokenRequest.timeoutMs,
      maxBytes: o.tokenRequest.maxBytes,
      interactionTimeoutMs: o.interactionTimeoutMs,
      onInteraction: o.onInteraction,
      interactionCallback: o.interactionCallback,
      emit: (event) => this.emit(event),
    };
  }

  private hintKey(method: string, url: URL, upstream: string): string {
    return `${method.toUpperCase()} ${url.origin}${url.pathname} ${upstream}`;
  }

  /**
   * A cached token to present on a first attempt: one that worked on this route, or for (origin,
   * scope); refreshed first when it is about to expire.
   */
  async firstToken(method: string, url: URL, upstream: string, scope: string | undefined, transport: typeof fetch): Promise<CarriedToken | undefined> {
    const hinted = this.hints.get(this.hintKey(method, url, upstream));
    if (hinted !== undefined) {
      const token = await this.fresh(hinted, transport);
      if (token !== undefined) return { token, source: 'cache', cacheKey: hinted };
    }
    if (scope !== undefined) {
      const agent = this.options.identity ?? `pseudonymous:${this.options.key.thumbprint}`;
      const key = this.cacheKey(url.origin, scope, agent, upstream);
      const token = await this.fresh(key, transport);
      if (token !== undefined) return { token, source: 'cache', cacheKey: key };
    }
    return undefined;
  }

  rememberHint(method: string, url: URL, upstream: string, cacheKey: string): void {
    const key = this.hintKey(method, url, upstream);
    this.hints.delete(key);
    this.hints.set(key, cacheKey);
    while (this.hints.size > MAX_HINTS) this.hints.delete(this.hints.keys().next().value as string);
  }

  forgetHint(method: string, url: URL, upstream: string): void {
    this.hints.delete(this.hintKey(method, url, upstream));
  }

  /** A 401 answered a request carrying this token: drop it (unless the cache already holds a newer one). */
  evict(carried: CarriedToken | undefined): void {
    if (carried?.cacheKey === undefined) return;
    if (this.options.tokenCache.get(carried.cacheKey)?.token === carried.token) this.options.tokenCache.delete(carried.cacheKey);
  }

  /**
   * An auth token for an `exchange` decision: from the cache (unless it is `avoid`, the token that
   * was just refused), else from the auth server, one request per (resource, scope, agent,
   * upstream) at a time (single flight).
   */
  async obtainToken(
    decision: Extract<ChallengeDecision, { action: 'exchange' }>,
    upstreamToken: string | undefined,
    transport: typeof fetch,
    avoid: string | undefined,
  ): Promise<{ token: string; cacheKey: string }> {
    const upstream = upstreamHash(upstreamToken);
    const key = this.cacheKey(decision.resource, decision.scope, decision.claims.agent, upstream);
    const cached = await this.fresh(key, transport);
    if (cached !== undefined && cached !== avoid) {
      const expiresAt = this.options.tokenCache.get(key)?.expiresAt ?? 0;
      this.emit({ type: 'exchanged', resource: decision.resource, authServer: decision.authServer, scope: decision.scope, exchange: upstreamToken !== undefined, cached: true, expiresAt });
      return { token: cached, cacheKey: key };
    }
    let flight = this.inflight.get(key);
    if (flight === undefined) {
      flight = this.exchange(decision, upstreamToken, transport, key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, flight);
    }
    const issued = await flight;
    return { token: issued.token, cacheKey: key };
  }

  private async exchange(
    decision: Extract<ChallengeDecision, { action: 'exchange' }>,
    upstreamToken: string | undefined,
    transport: typeof fetch,
    key: string,
  ): Promise<{ token: string; expiresAt: number }> {
    const o = this.options;
    const metadata = await this.metadata.resolve(decision.authServer, transport);
    const issued = await requestAuthToken(
      { metadata, resourceToken: decision.resourceToken, upstreamToken, signAs: decision.signAs, transport },
      this.tokenConfig(),
    );
    o.tokenCache.set(key, {
      token: issued.token,
      expiresAt: issued.expiresAt,
      resource: decision.resource,
      scope: decision.scope,
      authServer: decision.authServer,
      signAs: decision.signAs,
    });
    this.emit({
      type: 'exchanged',
      resource: decision.resource,
      authServer: decision.authServer,
      scope: decision.scope,
      exchange: upstreamToken !== undefined,
      cached: false,
      expiresAt: issued.expiresAt,
    });
    return issued;
  }

  invalidate(resource: string): void {
    this.options.tokenCache.deleteResource(resource);
    let origin: string | undefined;
    try {
      origin = new URL(resource).origin;
    } catch {
      origin = undefined;
    }
    for (const [hint, cacheKey] of this.hints) {
      const [target] = JSON.parse(cacheKey) as [string];
      const hintOrigin = hint.split(' ')[1] ?? '';
      if (target === resource || (origin !== undefined && hintOrigin.startsWith(`${origin}/`))) {
        this.options.tokenCache.delete(cacheKey);
        this.hints.delete(hint);
      }
    }
  }

  flush(): void {
    this.options.tokenCache.clear();
    this.hints.clear();
    this.metadata.clear();
  }
}
