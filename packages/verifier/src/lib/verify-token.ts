import {
  AAuthError,
  checkTokenClaims,
  checkTokenHeader,
  classifyToken,
  decodeToken,
  TOKEN_DWK_11,
  importTokenKey,
  isAAuthError,
  parseScope,
  verifyTokenSignature,
  type ActClaim,
  type AuthTokenClaims,
  type CheckedToken,
  type DecodedToken,
  type PublicKey,
  type TokenExpectations,
  type TokenKey,
  type TokenKeySource,
  type TokenProfile,
} from '@aauth-kit/core';
import { showValue } from '@aauth-kit/core/internal';
import type { VerifiedToken, VerifyTokenExpectations } from '../types.js';
import type { KeyDiscovery } from './key-discovery.js';
import { LruCache } from '@aauth-kit/discovery';

/** What the verifier resolved at creation and hands its token pipeline. */
export interface TokenVerifierOptions {
  discovery: KeyDiscovery;
  /** The default audience: this party's identity. */
  identity: string;
  /** Issuers of `issuers: 'trusted'` profiles; undefined: any (the caller narrows with `expect.issuers`). */
  trustedIssuers: readonly string[] | undefined;
  /** The configured allow-list (a subset of core's). */
  algorithms: readonly string[];
  now: () => number;
  leeway: number;
  maxEntries: number;
  /** Share the verified-token cache of another pipeline (one bound, `maxTokenEntries`, for both generations). */
  shareCacheWith?: TokenVerifier | undefined;
  /** Imports a `cnf.jwk` with the configured crypto backend and checks its algorithm. */
  cnfKey: (jwk: unknown) => PublicKey;
}

/**
 * Claims of a token whose signature verified but which failed a claim check (expiry, audience,
 * cnf). The verifier uses them to mint a fresh challenge for the caller; they never leave the process.
 */
export const authenticClaims = new WeakMap<AAuthError, AuthTokenClaims>();

/**
 * Seconds a signing key found for (source, issuer, kid, alg) is reused without asking discovery
 * again: at most this much longer than discovery's own cache (at least 60 s, section 4), and a
 * burst of new tokens from one issuer costs one lookup, not one each.
 */
const KEY_REUSE_SECONDS = 1;

/** A cached verified token. */
export interface Entry {
  token: VerifiedToken;
  /** Where the signing key came from: a token verified with an issuer key is not a resource token. */
  keys: TokenKeySource;
  /** Epoch seconds after which the entry is dropped (`exp` + leeway). */
  until: number;
}

function unsecuredHeader(jwt: string): boolean {
  const first = jwt.split('.', 1)[0] ?? '';
  if (first.length > 4096) return false;
  try {
    const header = JSON.parse(Buffer.from(first, 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' && header.alg.toLowerCase() === 'none';
  } catch {
    return false;
  }
}

function authentic(error: AAuthError, claims: unknown): AAuthError {
  authenticClaims.set(error, claims as AuthTokenClaims);
  return error;
}

/**
 * The one token verification pipeline: core's pure header and claim checks (token-profiles.ts),
 * the signing key through key discovery, a synchronous node:crypto signature check with one
 * prepared key per published JWK, and verified tokens cached, keyed by the token itself, until `exp`.
 */
export class TokenVerifier {
  /** @internal shared with a sibling pipeline (`shareCacheWith`). */
  readonly cache: LruCache<string, Entry>;
  private readonly keys = new WeakMap<object, TokenKey>();
  private readonly recentKeys: LruCache<string, { key: TokenKey; until: number }>;
  private readonly defaults: TokenExpectations;
  private readonly frozen = new WeakMap<VerifyTokenExpectations, TokenExpectations>();

  constructor(private readonly options: TokenVerifierOptions) {
    this.cache = options.shareCacheWith?.cache ?? new LruCache(options.maxEntries);
    this.recentKeys = new LruCache(64);
    this.defaults = { audience: options.identity, algorithms: options.algorithms };
  }

  get size(): number {
    return this.cache.size;
  }

  /**
   * The cached entry of exactly this token string (the cache is keyed by the token itself, which
   * the entry holds anyway as `token.raw`), or undefined; an entry past its `exp` is dropped. No
   * check runs here: the caller hands the entry to {@link cached} (or reads its header to route).
   */
  entry(jwt: string, now: number = this.options.now()): Entry | undefined {
    const hit = this.cache.get(jwt);
    if (hit === undefined) return undefined;
    if (hit.until > now) return hit;
    this.cache.delete(jwt);
    return undefined;
  }

  /**
   * A repeated token, synchronously: the cached verification of `jwt` with every header and claim
   * check run again for this call (`exp` against the clock, audience, issuer trust), or undefined
   * when it is not cached or its entry cannot serve these profiles (then {@link verify} it).
   * Throws the refusal of a check, carrying the (authentic) claims.
   */
  cached(jwt: string, profiles: TokenProfile | readonly TokenProfile[], expect?: VerifyTokenExpectations, entry?: Entry): VerifiedToken | undefined {
    const now = this.options.now();
    const hit = entry ?? this.entry(jwt, now);
    if (hit === undefined || (entry !== undefined && entry.token.raw !== jwt)) return undefined;
    const wanted = this.wanted(expect);
    const checked = checkTokenHeader(hit.token, profiles, wanted, this.options.trustedIssuers);
    if (checked.profile.keys !== hit.keys || (hit.token.cnf === undefined && checked.profile.bindsKey)) return undefined;
    const refusal = checkTokenClaims(checked, wanted, { now, leeway: this.options.leeway });
    if (refusal) throw authentic(refusal, hit.token.claims);
    return hit.token;
  }

  /**
   * Verify `jwt` under `profiles`. With `authenticate`, a claim refusal is thrown only after the
   * signature verified, and carries the (then authentic) claims: a resource names the caller in
   * its fresh challenge. Without it, a claim refusal comes before any key lookup (refuse cheaply).
   * `decoded`: the token already decoded by the caller (`decodeToken(jwt)`), so it is decoded once.
   */
  async verify(
    jwt: string,
    profiles: TokenProfile | readonly TokenProfile[],
    expect?: VerifyTokenExpectations,
    authenticate = false,
    decoded?: DecodedToken,
  ): Promise<VerifiedToken> {
    if (typeof jwt !== 'string') decodeToken(jwt);
    return this.cached(jwt, profiles, expect) ?? this.verifyFresh(jwt, profiles, expect, authenticate, decoded);
  }

  /**
   * First sight of a token (the caller found no {@link entry} for it): header and claim checks, the
   * key, the signature, `cnf.jwk`; cached until `exp`. `decoded` as for {@link verify}.
   */
  async verifyFresh(
    jwt: string,
    profiles: TokenProfile | readonly TokenProfile[],
    expect: VerifyTokenExpectations | undefined,
    authenticate: boolean,
    decoded: DecodedToken | undefined,
  ): Promise<VerifiedToken> {
    const o = this.options;
    const wanted = this.wanted(expect);
    const clock = { now: o.now(), leeway: o.leeway };
    if (jwt.endsWith('.') && unsecuredHeader(jwt)) {
      // An unsecured JWS (alg none, RFC 7519 section 6) has an empty signature: name it for what it is.
      const label = (Array.isArray(profiles) ? profiles[0] : (profiles as TokenProfile))?.label ?? 'Token';
      throw new AAuthError('token_alg_not_allowed', `${label}: alg "none" is not allowed`);
    }
    const checked = checkTokenHeader(decoded ?? decodeToken(jwt), profiles, wanted, o.trustedIssuers);
    const { profile, claims } = checked;
    const refusal = checkTokenClaims(checked, wanted, clock);
    if (refusal && !authenticate) throw refusal;
    const key = this.recentKey(checked, clock.now) ?? (await this.key(checked, clock.now, expect?.caller));
    if (!verifyTokenSignature(jwt, checked.alg, key)) {
      // The cached JWKS may hold an older key under this kid (an issuer restarted with a new key):
      // refetched at most once a minute per URL (section 4), as for an unknown kid.
      const fresh = await this.key(checked, clock.now, expect?.caller, true);
      if (fresh === key || !verifyTokenSignature(jwt, checked.alg, fresh)) {
        throw new AAuthError(
          'token_signature_invalid',
          `${profile.label}: the signature does not verify with the key ${checked.kid === undefined ? '' : `kid ${JSON.stringify(checked.kid.slice(0, 100))} `}of ${checked.issuer.slice(0, 200)} ` +
            '(its JWKS is refetched on a failing signature at most once a minute, so a key changed under the same kid is seen within a minute)',
        );
      }
    }
    // From here on the claims are the issuer's: a refusal still tells who the caller is.
    if (refusal) throw authentic(refusal, claims);
    let cnf: PublicKey | undefined;
    if (profile.bindsKey) {
      try {
        cnf = o.cnfKey((claims.cnf as { jwk: unknown }).jwk);
      } catch (error) {
        const why = isAAuthError(error, 'unsupported_algorithm') ? 'algorithm is not allowed' : `is not a usable key (${(error as Error).message})`;
        throw authentic(new AAuthError('token_claim_invalid', `${profile.label}: cnf.jwk ${why}`, { cause: error }), claims);
      }
    }
    const token = verifiedToken(jwt, checked, cnf);
    const until = token.expiresAt + o.leeway;
    if (until > clock.now) this.cache.set(jwt, { token, keys: profile.keys, until });
    return token;
  }

  /**
   * The expectations of one call: the defaults when none are given; those of a frozen `expect`
   * (the verifier's own, made once) computed once; any other computed per call.
   */
  private wanted(expect: VerifyTokenExpectations | undefined): TokenExpectations {
    if (expect === undefined) return this.defaults;
    if (!Object.isFrozen(expect)) return this.expectations(expect);
    let wanted = this.frozen.get(expect);
    if (wanted === undefined) {
      wanted = this.expectations(expect);
      this.frozen.set(expect, wanted);
    }
    return wanted;
  }

  /** The caller's expectations over the verifier's defaults; `algorithms` can only narrow the configured list. */
  private expectations(expect: VerifyTokenExpectations): TokenExpectations {
    const { audience, algorithms, caller: _caller, ...rest } = expect;
    return {
      ...rest,
      audience: audience === null ? undefined : (audience ?? this.options.identity),
      algorithms: algorithms === undefined ? this.options.algorithms : algorithms.filter((a) => this.options.algorithms.includes(a)),
    };
  }

  /** The last key id built, and what it was built from: tokens of one issuer's key in a row reuse it (issue 18). */
  private lastKeyId: { source: string; alg: string; issuer: string; kid: string | undefined; id: string } | undefined;

  /** {@link keyId}, the string built once while the same issuer key signs token after token. */
  private keyIdOf(checked: CheckedToken): string {
    const source = keySource(checked);
    const last = this.lastKeyId;
    if (last !== undefined && last.source === source && last.alg === checked.alg && last.issuer === checked.issuer && last.kid === checked.kid) return last.id;
    const id = keyId(checked);
    this.lastKeyId = { source, alg: checked.alg, issuer: checked.issuer, kid: checked.kid, id };
    return id;
  }

  private recentKey(checked: CheckedToken, now: number): TokenKey | undefined {
    const recent = this.recentKeys.peek(this.keyIdOf(checked));
    return recent && recent.until > now ? recent.key : undefined;
  }

  /** The signing key, by the profile's key source (sections 7 and 8; -11 `{iss}/.well-known/{dwk}`); one prepared key per published JWK. */
  private async key(checked: CheckedToken, now: number, caller?: string, refresh = false): Promise<TokenKey> {
    const { discovery } = this.options;
    const { profile, issuer, kid, alg } = checked;
    const draft11 = isDraft11Profile(profile);
    const whose = draft11 ? 'issuer' : profile.keys === 'resource' ? 'resource' : 'issuer';
    let jwk: object;
    try {
      if (draft11) {
        const dwk = checked.claims.dwk;
        const kind = classifyToken(checked.header.typ)?.kind;
        const allowed: readonly string[] = kind === undefined ? [] : TOKEN_DWK_11[kind];
        if (typeof dwk !== 'string' || !allowed.includes(dwk)) {
          throw new AAuthError('token_claim_invalid', `${profile.label}: dwk ${showValue(dwk, 100)} is not ${allowed.join(' or ')}`);
        }
        jwk = await discovery.tokenJwk11(issuer, dwk, kid, alg, caller, refresh);
      } else {
        jwk = profile.keys === 'resource' ? await discovery.resourceJwk(issuer, kid, alg, caller, refresh) : await discovery.issuerJwk(issuer, kid, alg, caller, refresh);
      }
    } catch (error) {
      // -11 (-09 section 5.4): the metadata and key refusals keep their own codes (issuer_mismatch, ...).
      if (draft11 && error instanceof AAuthError && KEEP_CODE_11.has(error.code)) {
        throw error.message.startsWith(profile.label) ? error : new AAuthError(error.code, `${profile.label}: ${error.message}`, { cause: error.cause, details: error.details });
      }
      // -11: a server condition (discovery busy for this caller or host, 503 with Retry-After) is not
      // the token's fault: kept, so the caller retries instead of discarding a good token.
      if (draft11 && error instanceof AAuthError && error.status >= 500) throw error;
      const why = error instanceof AAuthError ? error.message : String(error);
      throw new AAuthError('token_signature_invalid', `${profile.label}: the ${whose} key cannot be found (${why})`, { cause: error });
    }
    // Discovery hands out the same frozen JWK object while its JWKS stays cached: the key is prepared once.
    let key = this.keys.get(jwk);
    if (!key) {
      try {
        key = importTokenKey(jwk);
      } catch (error) {
        throw new AAuthError('token_signature_invalid', `${profile.label}: the ${whose} key is not usable (${(error as Error).message})`, { cause: error });
      }
      this.keys.set(jwk, key);
    }
    this.recentKeys.set(this.keyIdOf(checked), { key, until: now + KEY_REUSE_SECONDS });
    return key;
  }
}

/** -11 token kinds: keys at `{iss}/.well-known/{dwk}` (draft-11 profile section 6). */
export function isDraft11Profile(profile: TokenProfile): boolean {
  return profile.keys === 'dwk';
}

/** Refusals of -11 key discovery that name their own -09 code (issuer_missing, invalid_key, ...). */
const KEEP_CODE_11 = new Set<string>([
  'issuer_missing',
  'issuer_mismatch',
  'key_alg_missing',
  'key_alg_mismatch',
  'key_invalid',
  'unsupported_algorithm',
  'token_claim_invalid',
  'token_signature_invalid',
]);

/**
 * What identifies a signing key: where it is looked up, the issuer, the `kid` (or none) and the
 * `alg`. Source and `alg` come from fixed lists and the issuer is length-prefixed: no two differ in one.
 */
function keyId(checked: CheckedToken): string {
  const { issuer, kid, alg } = checked;
  return `${keySource(checked)} ${alg} ${issuer.length} ${issuer} ${kid === undefined ? '-' : `+${kid}`}`;
}

/** Where a token's key is looked up: -11 keys come from the document `dwk` names (a person server's and an access server's differ). */
function keySource({ profile, claims }: CheckedToken): string {
  return isDraft11Profile(profile) ? `dwk:${String(claims.dwk)}` : profile.keys;
}

function verifiedToken(raw: string, checked: CheckedToken, cnf: PublicKey | undefined): VerifiedToken {
  const { claims } = checked;
  const token: VerifiedToken = {
    raw,
    header: checked.header,
    claims,
    issuer: checked.issuer,
    scope: parseScope(claims.scope),
    expiresAt: claims.exp as number,
  };
  if (claims.aud !== undefined) token.audience = claims.aud as string | string[];
  if (typeof claims.sub === 'string') token.subject = claims.sub;
  if (typeof claims.agent === 'string') token.agent = claims.agent;
  if (claims.act !== undefined) token.act = claims.act as ActClaim;
  if (cnf) token.cnf = cnf;
  return token;
}
