import { createDocumentFetcher, LruCache } from '@aauth-kit/discovery';
import {
  AAuthError,
  AGENT_TOKEN_11,
  AUTH_TOKEN,
  AUTH_TOKEN_11,
  PERSON_TOKEN,
  decodeToken,
  importPublicKey,
  jwkAlgProblem,
  type DecodedToken,
  type TokenProfile,
  type HttpRequest,
  type PublicKey,
  type SignatureKey,
  type SignedRequest,
  type EcPublicJwk,
  type OkpPublicJwk,
} from '@aauth-kit/core';
import { isIdempotent, ListMemo, parseSignedRequest, showValue, signatureInvalid, verifySignedRequest, verifyText } from '@aauth-kit/core/internal';
import { createMemoryReplayStore } from './create-memory-replay-store.js';
import { TokenVerifier, authenticClaims, type Entry as TokenEntry } from './lib/verify-token.js';
import { KeyDiscovery, keyCacheId } from './lib/key-discovery.js';
import { resolveVerifierOptions } from './lib/options.js';
import { replayKey } from './lib/replay-key.js';
import { generationOfKey, generationOfTyp } from './request-generation.js';
import type {
  PresentedToken,
  PresentedTokenKind,
  ReplayStore,
  RevocationSubject,
  VerifiedAuthToken,
  VerifiedCaller,
  VerifiedRequest,
  VerifiedToken,
  Verifier,
  VerifierOptions,
  VerifyOptions,
  VerifyTokenExpectations,
} from './types.js';

/** The -11 tokens an agent presents under `sig=jwt`, by `typ` (AAuth -11 "Keying Material"). */
const PRESENTED_11: ReadonlyArray<readonly [PresentedTokenKind, TokenProfile]> = [
  ['agent', AGENT_TOKEN_11],
  ['person', PERSON_TOKEN],
  ['auth', AUTH_TOKEN_11],
];

let warnedMemoryStore = false;

type VerifyNow = (request: HttpRequest, options?: VerifyOptions) => VerifiedRequest | Promise<VerifiedRequest>;

/** Each verifier's synchronous-when-it-can verify (see {@link verifyNow}). */
const SYNC = new WeakMap<Verifier, VerifyNow>();

/**
 * `verifier.verify(request, options)` answered without a promise when no step waits (issue 18:
 * a middleware then runs its route in the same turn): the {@link VerifiedRequest} itself, or a
 * promise of it when a step waits (key discovery, a token, the replay store, revocation). A
 * refusal found before the first wait is thrown. The same checks as `verify`, in the same order.
 * For the kit's middleware; a verifier made elsewhere is answered by its own `verify`.
 */
export function verifyNow(verifier: Verifier, request: HttpRequest, options?: VerifyOptions): VerifiedRequest | Promise<VerifiedRequest> {
  const now = SYNC.get(verifier);
  return now !== undefined ? now(request, options) : verifier.verify(request, options);
}

/** The token decoded, or undefined when it does not decode (its verification then names why). */
function decodeQuietly(jwt: string): DecodedToken | undefined {
  try {
    return decodeToken(jwt);
  } catch {
    return undefined;
  }
}

/** A numeric claim, or undefined. */
const numeric = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);

/** The `agent` of every level of an `act` chain, outermost first (the kit's depth limit bounds it). */
function actAgents(act: unknown): string[] {
  const agents: string[] = [];
  for (let level = act, depth = 0; typeof level === 'object' && level !== null && depth < 16; depth++) {
    const agent = (level as Record<string, unknown>).agent;
    if (typeof agent === 'string') agents.push(agent);
    level = (level as Record<string, unknown>).act;
  }
  return agents;
}

/**
 * Create a framework-neutral verifier of AAuth-signed requests and auth tokens (wire profile
 * sections 3, 4 and 7). Options are validated now; misuse throws a TypeError naming the option.
 */
export function createVerifier(options: VerifierOptions): Verifier {
  const o = resolveVerifierOptions(options);
  const allowsEd25519 = o.algorithms.includes('EdDSA') || o.algorithms.includes('Ed25519');
  const allowsEs256 = o.algorithms.includes('ES256');
  const checkKeyAlgorithm = (key: PublicKey): void => {
    const ok = key.algorithm === 'ed25519' ? allowsEd25519 : allowsEs256;
    if (!ok) throw new AAuthError('unsupported_algorithm', `Keys using ${key.algorithm} are not accepted here`);
  };

  // Discovery (wire profile section 4) validates its own options: TypeErrors name options.discovery.*.
  const fetcher = createDocumentFetcher({ ...o.discovery, fetch: o.fetch, now: o.now, ...(o.telemetry === undefined ? {} : { telemetry: o.telemetry }) }, 'options.discovery');
  const importKey = (jwk: unknown) => importPublicKey(jwk, { backend: o.cryptoBackend });
  // One bounded cache of imported public keys (issue 18): jwks_uri, hwk and cnf keys alike, by key
  // material, apart from the document cache (discovery.maxEntries) that holds what they came in.
  const keyCache = new LruCache<string, PublicKey>(o.maxKeyEntries);
  const discovery = new KeyDiscovery({
    fetcher,
    localIssuerKeys: o.localIssuerKeys,
    checkKeyAlgorithm,
    importKey,
    allowLoopback: o.draft11.allowLoopback,
    algorithms11: o.draft11.algorithms,
    maxWarmKeys: o.maxKeyEntries,
    keyCache,
  });
  const tokens = new TokenVerifier({
    discovery,
    identity: o.identity,
    trustedIssuers: o.trustedIssuers,
    algorithms: o.algorithms,
    now: o.now,
    leeway: o.tokenLeeway,
    maxEntries: o.maxTokenEntries,
    cnfKey,
  });
  // -11 tokens: their own trust per kind (expect.issuers below), the same discovery, caches and clock.
  const tokens11 = new TokenVerifier({
    discovery,
    identity: o.identity,
    trustedIssuers: undefined,
    algorithms: o.algorithms.filter((a) => a !== 'EdDSA'),
    now: o.now,
    leeway: o.tokenLeeway,
    maxEntries: o.maxTokenEntries,
    cnfKey,
    // One cache, one bound: a token's typ picks its pipeline again on every hit.
    shareCacheWith: tokens,
  });

  let replayStore: ReplayStore | undefined = o.replayStore;
  if (!replayStore && o.replayMethods !== 'none') {
    replayStore = createMemoryReplayStore({ now: o.now });
    if (!warnedMemoryStore) {
      warnedMemoryStore = true;
      process.emitWarning('AAuth replay protection uses an in-memory store: use createRedisReplayStore() for more than one process', {
        code: 'AAUTH_MEMORY_REPLAY_STORE',
      });
    }
  }

  function inlineKey(jwk: OkpPublicJwk | EcPublicJwk): PublicKey {
    const cacheKey = keyCacheId(jwk as unknown as Record<string, unknown>)!;
    let key = keyCache.get(cacheKey);
    if (!key) {
      key = importKey(jwk);
      keyCache.set(cacheKey, key);
    }
    checkKeyAlgorithm(key);
    return key;
  }

  /** A token's `cnf.jwk` (section 7): string members share the inline-key cache; anything else is imported, and refused there. */
  function cnfKey(jwk: unknown): PublicKey {
    const k = jwk as Record<string, unknown>;
    const strings = typeof k.crv === 'string' && typeof k.x === 'string' && (k.kty === 'OKP' || (k.kty === 'EC' && typeof k.y === 'string'));
    if (strings && k.d === undefined) return inlineKey(k as unknown as OkpPublicJwk | EcPublicJwk);
    const key = importKey(jwk);
    checkKeyAlgorithm(key);
    return key;
  }

  /** A rejected but authentic token still names its caller if the request is signed with its cnf.jwk. */
  function withCaller(error: unknown, signed: SignedRequest): unknown {
    if (!(error instanceof AAuthError)) return error;
    const claims = authenticClaims.get(error);
    if (!claims) return error;
    let key: PublicKey;
    try {
      key = cnfKey(claims.cnf?.jwk);
      verifySignedRequest(signed, key);
    } catch {
      return error;
    }
    const agent = typeof claims.agent === 'string' ? claims.agent : typeof claims.aud === 'string' ? claims.aud : undefined;
    if (agent === undefined) return error;
    const caller: VerifiedCaller = { scheme: 'jwt', agent, thumbprint: key.thumbprint };
    return new AAuthError(error.code, error.message, { details: { ...error.details, caller }, cause: error.cause });
  }

  // The earlier agent document (`agent` instead of `issuer`) is accepted while the Keycloak profile is spoken.
  const legacyAgents = o.generations.includes('keycloak');
  // The parse options of every request (built once: the warm path allocates what it must only).
  const parseOptions = Object.freeze({
    now: o.now,
    maxSkew: o.maxSkew,
    requireContentDigest: o.requireContentDigest,
    maxHeaderBytes: o.maxSignatureHeaderBytes,
  });

  // The parse options with a route's extra components, made once per list content (issue 18: a
  // guard passes its route's list, often empty, on every request; others a new array each time).
  const routeParseOptions = new ListMemo<typeof parseOptions>();
  const withComponents = (required: readonly string[]): typeof parseOptions =>
    Object.freeze({ ...parseOptions, requiredComponents: Object.freeze(required.map((c) => c.toLowerCase())) });
  function parseOptionsFor(required: readonly string[] | undefined): typeof parseOptions {
    if (required === undefined || required.length === 0) return parseOptions;
    return routeParseOptions.get(required, withComponents);
  }

  /**
   * {@link Verifier.verify} without a promise when no step waits (issue 18): a request signed
   * under `hwk`, or under `jwks_uri` with a warm agent key and no replay check to make, is
   * verified and answered synchronously; anything that waits (discovery, a token, the replay
   * store, revocation) answers a promise. A refusal before the first wait is thrown, not rejected.
   * The same checks, in the same order, either way.
   */
  function verifyOrWait(request: HttpRequest, verifyOptions: VerifyOptions = {}): VerifiedRequest | Promise<VerifiedRequest> {
    // Cheap checks first (architecture: refuse cheaply): coverage, created window, digest.
    const signed = parseSignedRequest(request, parseOptionsFor(verifyOptions.requiredComponents));
    const sk = signed.signatureKey!;
    // jwt (issue 18): a token seen before is one lookup (its cached header names the generation);
    // a new one is decoded once, here, for both the generation and its verification.
    let entry: TokenEntry | undefined;
    let decoded: DecodedToken | undefined;
    if (sk.scheme === 'jwt') {
      entry = tokens.entry(sk.jwt);
      if (entry === undefined) decoded = decodeQuietly(sk.jwt);
    }
    const header = (entry?.token ?? decoded)?.header;
    const generation = header !== undefined ? generationOfTyp(header.typ, o.generations) : generationOfKey(sk, o.generations);
    switch (sk.scheme) {
      case 'hwk': {
        if (generation === 'draft-11') {
          // -09 section 3.3: the inline key's alg is required and must agree with kty/crv.
          const problem = jwkAlgProblem(sk.jwk, 'draft-11', { algorithms: o.draft11.algorithms });
          if (problem) throw new AAuthError(problem.code, `Signature-Key hwk: ${problem.reason}`);
        }
        const key = inlineKey(sk.jwk);
        return signedBy(signed, generation, `pseudonymous:${key.thumbprint}`, key);
      }
      case 'jwks_uri': {
        // -09 section 3.6: a -11 jwks_uri names its document (`dwk`); the earlier agent document
        // (`agent` instead of `issuer`) is accepted only while the Keycloak profile is spoken.
        if (generation === 'draft-11' && sk.dwk === undefined) throw new AAuthError('signature_key_malformed', 'Signature-Key jwks_uri needs dwk in -11');
        if (generation === 'draft-11' && sk.dwk !== undefined && sk.dwk !== 'aauth-agent.json' && verifyOptions.serverDocuments?.includes(sk.dwk)) {
          // A -11 server signing as itself (a person or access server revoking at a resource).
          return discovery.serverKey11(sk.id, sk.dwk, sk.kid, verifyOptions.caller).then((key) => signedBy(signed, generation, sk.id, key));
        }
        // Warm (issue 18): the key found before, while its documents are the cached ones; no wait.
        const warm = discovery.warmAgentKey(sk.id, sk.kid, sk.dwk, legacyAgents);
        if (warm !== undefined) return signedByAgentKey(signed, generation, sk, warm, verifyOptions);
        return discovery.agentKey(sk.id, sk.kid, sk.dwk, verifyOptions.caller, legacyAgents).then((key) => signedByAgentKey(signed, generation, sk, key, verifyOptions));
      }
      case 'jwt':
        return verifyJwt(signed, sk.jwt, generation, entry, decoded, verifyOptions);
    }
  }

  /**
   * {@link signedBy} for an agent key from its JWKS: when the cached key does not verify, the JWKS
   * is refetched (at most once a minute per URL, as for an unknown kid) and a different key under
   * the same kid tried; an agent restarted with a new key is recognised within a minute, not when
   * its JWKS expires. A refusal names the JWKS and its age.
   */
  function signedByAgentKey(
    signed: SignedRequest,
    generation: VerifiedRequest['generation'],
    sk: Extract<SignatureKey, { scheme: 'jwks_uri' }>,
    key: PublicKey,
    verifyOptions: VerifyOptions,
  ): VerifiedRequest | Promise<VerifiedRequest> {
    if (verifyText(key, signed.signatureBase, signed.signature)) return settle(signed, generation, sk.id, key, undefined, undefined);
    const jwks = discovery.agentJwksOf(sk.id, sk.kid, sk.dwk, legacyAgents);
    return discovery.agentKey(sk.id, sk.kid, sk.dwk, verifyOptions.caller, legacyAgents, true).then((fresh) => {
      if (fresh !== key && verifyText(fresh, signed.signatureBase, signed.signature)) return settle(signed, generation, sk.id, fresh, undefined, undefined);
      // Both keys were tried above (or the refetch gave the same one): refused without verifying again.
      const refusal = signatureInvalid(signed);
      if (jwks === undefined) throw refusal;
      const age = Math.max(0, Math.round(o.now() - jwks.fetchedAt));
      throw new AAuthError(
        'signature_invalid',
        `${refusal.message}. The key is kid ${JSON.stringify(sk.kid)} of ${jwks.url} as fetched ${age} s ago; ` +
          'a JWKS is refetched on a failing signature at most once a minute, so an agent that changed its key under the same kid is seen within a minute',
      );
    });
  }

  /** The request's signature checked with `key` (else `signature_invalid`), then {@link settle}. */
  function signedBy(signed: SignedRequest, generation: VerifiedRequest['generation'], agent: string, key: PublicKey): VerifiedRequest | Promise<VerifiedRequest> {
    verifySignedRequest(signed, key);
    return settle(signed, generation, agent, key, undefined, undefined);
  }

  /** A request signed under `sig=jwt`: its token (cached or verified now), proof of possession, revocation; then {@link settle}. */
  async function verifyJwt(
    signed: SignedRequest,
    jwt: string,
    generation: VerifiedRequest['generation'],
    entry: TokenEntry | undefined,
    decoded: DecodedToken | undefined,
    verifyOptions: VerifyOptions,
  ): Promise<VerifiedRequest> {
    let key: PublicKey;
    let agent: string;
    if (generation === 'draft-11') {
      const presented = cachedPresented11(jwt, entry) ?? (await verifyPresented11(jwt, verifyOptions.caller, decoded));
      if (o.revocation) await checkRevoked11(presented);
      key = presented.token.cnf!;
      // An agent token names the agent; person and auth tokens name none (AAuth -11 "Auth Token Structure").
      agent = presented.kind === 'agent' ? presented.token.subject! : `pseudonymous:${key.thumbprint}`;
      try {
        verifySignedRequest(signed, key);
      } catch {
        throw new AAuthError('token_cnf_mismatch');
      }
      return settle(signed, generation, agent, key, undefined, presented);
    }
    if (!o.generations.includes('draft-11')) {
      // A -11 token at a verifier that speaks only the Keycloak profile: say so, not "typ is not auth+jwt".
      const typ = (entry?.token ?? decoded)?.header.typ;
      if (typeof typ === 'string' && typ.startsWith('aa-')) {
        throw new AAuthError(
          'token_typ_invalid',
          `Token: typ ${JSON.stringify(typ.slice(0, 40))} is an AAuth -11 token, and this verifier speaks only the Keycloak profile (options.generations). ` +
            'A resource speaks -11 when its identity is https://host (no path), or a loopback http identity with draft11.allowLoopback',
        );
      }
    }
    let token: VerifiedAuthToken;
    try {
      token = (entry !== undefined ? (tokens.cached(jwt, AUTH_TOKEN, undefined, entry) as VerifiedAuthToken | undefined) : undefined) ?? ((await tokens.verifyFresh(jwt, AUTH_TOKEN, undefined, true, decoded)) as VerifiedAuthToken);
    } catch (error) {
      throw withCaller(error, signed);
    }
    key = token.cnf;
    // Keycloak omits `agent` when it equals `aud` (section 7).
    agent = token.agent ?? (typeof token.audience === 'string' ? token.audience : o.identity);
    try {
      verifySignedRequest(signed, key);
    } catch {
      // Proof of possession (section 7): the request must be signed with cnf.jwk.
      throw new AAuthError('token_cnf_mismatch');
    }
    // Issue 17: revoked by token, by agent (anywhere in its act chain) or by the user's grant.
    // After proof of possession, so the refusal names the caller and a fresh challenge follows.
    // A token without jti (optional in the Keycloak profile) is asked about with the empty jti: no
    // revocation by token can name it, but one by agent or by grant still covers it.
    if (o.revocation) {
      const jti = typeof token.claims.jti === 'string' ? token.claims.jti : '';
      const subject: RevocationSubject = { agents: [agent, ...actAgents(token.act)], sub: token.subject, iat: numeric(token.claims.iat) };
      if (await revoked(token.issuer, jti, subject)) {
        throw new AAuthError('token_revoked', `Auth token: revoked by ${token.issuer}`, {
          details: { kind: 'auth', caller: { scheme: 'jwt', agent, thumbprint: key.thumbprint } satisfies VerifiedCaller },
        });
      }
    }
    return settle(signed, generation, agent, key, token, undefined);
  }

  /**
   * A verified request's replay check (after verification, so forgeries cannot fill the store:
   * section 3), then its result; synchronous when no check is made for its method.
   */
  function settle(
    signed: SignedRequest,
    generation: VerifiedRequest['generation'],
    agent: string,
    key: PublicKey,
    token: VerifiedAuthToken | undefined,
    presented: PresentedToken | undefined,
  ): VerifiedRequest | Promise<VerifiedRequest> {
    const check = o.replayMethods === 'all' || (o.replayMethods === 'non-idempotent' && !isIdempotent(signed.method));
    if (check && replayStore) return checkReplay(replayStore, signed, key).then(() => resultOf(signed, generation, agent, key, token, presented));
    return resultOf(signed, generation, agent, key, token, presented);
  }

  async function checkReplay(store: ReplayStore, signed: SignedRequest, key: PublicKey): Promise<void> {
    const now = o.now();
    const until = Math.min(signed.expires ?? Number.POSITIVE_INFINITY, (signed.created ?? now) + o.maxSkew);
    const ttl = Math.max(1, Math.ceil(until - now) + 1);
    let first: boolean;
    try {
      first = await store.checkAndStore(replayKey(key, signed.signature), ttl);
    } catch (error) {
      // A failing store is the server's problem, never the caller's: 503 with Retry-After (issue
      // 13). The Redis store's own refusal (its timeout, its bound) keeps its message.
      if (error instanceof AAuthError && error.code === 'replay_store_failed') throw error;
      throw new AAuthError('replay_store_failed', undefined, { cause: error, headers: { 'Retry-After': '1' } });
    }
    if (!first) throw new AAuthError('signature_replayed');
  }

  function resultOf(
    signed: SignedRequest,
    generation: VerifiedRequest['generation'],
    agent: string,
    key: PublicKey,
    token: VerifiedAuthToken | undefined,
    presented: PresentedToken | undefined,
  ): VerifiedRequest {
    const sk = signed.signatureKey!;
    const result: VerifiedRequest = { scheme: sk.scheme, generation, agent, thumbprint: key.thumbprint, key, signed };
    if (token) result.token = token;
    if (presented) result.presented = presented;
    if (sk.scheme === 'jwks_uri' && sk.dwk !== undefined) result.dwk = sk.dwk;
    return result;
  }

  /** {@link verifyOrWait} as a promise (a synchronous refusal becomes a rejection). */
  function verify(request: HttpRequest, verifyOptions?: VerifyOptions): Promise<VerifiedRequest> {
    try {
      return Promise.resolve(verifyOrWait(request, verifyOptions));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** A -11 token's kind and profile under `sig=jwt`, by its `typ` (AAuth -11 "Keying Material"). */
  function kind11(typ: unknown): readonly [PresentedTokenKind, TokenProfile] {
    const entry = PRESENTED_11.find(([, profile]) => profile.typ.includes(typ as string));
    if (!entry) {
      throw new AAuthError('token_typ_invalid', `Token: typ ${showValue(typ)} is not aa-agent+jwt, aa-person+jwt or aa-auth+jwt`);
    }
    return entry;
  }

  /** What each -11 kind expects, made once (frozen: the token pipeline resolves it once). */
  const expect11 = new Map<PresentedTokenKind, VerifyTokenExpectations>(
    PRESENTED_11.map(([kind]) => {
      const expect: VerifyTokenExpectations = { allowLoopback: o.draft11.allowLoopback };
      if (kind === 'agent') {
        expect.audience = null;
        if (o.draft11.agentProviders) expect.issuers = o.draft11.agentProviders;
      } else if (kind === 'person') {
        if (o.draft11.personServers) expect.issuers = o.draft11.personServers;
      } else {
        expect.issuers = o.draft11.authIssuers;
      }
      return [kind, Object.freeze(expect)];
    }),
  );

  /** A -11 token seen before (issue 18): its cached verification, every header and claim check run again; or undefined. */
  function cachedPresented11(jwt: string, entry: TokenEntry | undefined): PresentedToken | undefined {
    if (entry === undefined) return undefined;
    const [kind, profile] = kind11(entry.token.header.typ);
    const verified = tokens11.cached(jwt, profile, expect11.get(kind), entry);
    if (verified === undefined) return undefined;
    if (!verified.cnf) throw new AAuthError('token_cnf_missing', `${profile.label}: cnf.jwk is missing`);
    return { kind, token: verified };
  }

  /**
   * A -11 token under `sig=jwt` (AAuth -11 "Agent Token Verification", "Person Token
   * Verification", "Auth Token Verification"): its `typ` picks the kind; the issuers trusted for
   * that kind; the key at `{iss}/.well-known/{dwk}`; `cnf.jwk` with `alg`. Revocation: {@link checkRevoked11}.
   */
  async function verifyPresented11(jwt: string, caller: string | undefined, decoded: DecodedToken | undefined): Promise<PresentedToken> {
    const [kind, profile] = kind11((decoded ?? decodeToken(jwt)).header.typ);
    const base = expect11.get(kind)!;
    const expect = caller === undefined ? base : { ...base, caller };
    // Claim refusals before any fetch (refuse cheaply); -11 names no caller in a fresh challenge.
    let verified: VerifiedToken;
    try {
      verified = await tokens11.verifyFresh(jwt, profile, expect, false, decoded);
    } catch (error) {
      throw kind === 'auth' ? withAuthIssuerHint(error) : error;
    }
    if (!verified.cnf) throw new AAuthError('token_cnf_missing', `${profile.label}: cnf.jwk is missing`);
    return { kind, token: verified };
  }

  /**
   * An auth token from an issuer outside draft11.authIssuers: the bare "is not trusted" left a
   * newcomer stuck after a whole consent flow (personServers 'any' takes person tokens from any
   * person server, but auth tokens only from the listed ones). Say where the list comes from.
   */
  function withAuthIssuerHint(error: unknown): unknown {
    if (!(error instanceof AAuthError) || error.code !== 'token_issuer_untrusted') return error;
    const listed = o.draft11.authIssuers.length === 0 ? 'none' : o.draft11.authIssuers.join(', ');
    return new AAuthError(
      'token_issuer_untrusted',
      `${error.message}: auth tokens are taken from draft11.authIssuers (now: ${listed}; by default the trusted issuers and a draft11.personServers list, ` +
        "'any' adds none): list this person or access server in draft11.personServers or draft11.authIssuers",
      { headers: error.headers, ...(error.details === undefined ? {} : { details: error.details }), cause: error },
    );
  }

  /** Revocation of a -11 token: an agent token names its agent (`sub`); person and auth tokens name the user (`sub`), no agent. */
  async function checkRevoked11({ kind, token }: PresentedToken): Promise<void> {
    const jti = token.claims.jti;
    if (!o.revocation || typeof jti !== 'string') return;
    const sub = typeof token.claims.sub === 'string' ? token.claims.sub : undefined;
    const subject: RevocationSubject = kind === 'agent' ? { agents: sub === undefined ? [] : [sub], iat: numeric(token.claims.iat) } : { agents: [], sub, iat: numeric(token.claims.iat) };
    const label = PRESENTED_11.find(([k]) => k === kind)![1].label;
    if (await revoked(token.issuer, jti, subject)) throw new AAuthError('token_revoked', `${label}: revoked by ${token.issuer}`, { details: { kind } });
  }

  /** Ask the revocation state; a failing store is the server's problem, never the caller's: 503, as for replay. */
  async function revoked(issuer: string, jti: string, subject: RevocationSubject): Promise<boolean> {
    try {
      return await o.revocation!.isRevoked(issuer, jti, subject);
    } catch (error) {
      if (error instanceof AAuthError && error.code === 'revocation_store_failed') throw error;
      throw new AAuthError('revocation_store_failed', 'The revocation check failed', { cause: error, headers: { 'Retry-After': '1' } });
    }
  }

  /** Section 7 at a resource: the auth profile, claim refusals only after the signature (they name the caller). */
  function verifyAuthToken(jwt: string, audience: string): Promise<VerifiedAuthToken> {
    return tokens.verify(jwt, AUTH_TOKEN, audience === o.identity ? undefined : { audience }, true) as Promise<VerifiedAuthToken>;
  }

  const verifier: Verifier = {
    verify,
    resolveAgentKey: (id, kid) => discovery.agentKey(id, kid),
    resolveResourceJwk: (iss, kid) => discovery.resourceJwk(iss, kid),
    resolveIssuerJwk: (iss, kid) => discovery.issuerJwk(iss, kid),
    resolveMetadata: (kind, id) => discovery.metadataDocument(kind, id),
    resolveServerMetadata: (id, dwk, caller) => discovery.serverMetadata11(id, dwk, caller),
    verifyToken: (jwt, profile, expect) => tokens.verify(jwt, profile, expect),
    verifyAuthToken: (jwt, opts = {}) => verifyAuthToken(jwt, opts.audience ?? o.identity),
    stats: () => ({
      documents: fetcher.size,
      keys: keyCache.size,
      tokens: tokens.size,
      inflight: fetcher.inflightCount,
      fetches: fetcher.fetchCount,
    }),
  };
  SYNC.set(verifier, verifyOrWait);
  return verifier;
}
