import { createHash } from 'node:crypto';
import { compactVerify, errors as joseErrors } from 'jose';
import {
  AAuthError,
  TOKEN_TYP,
  decodeToken,
  parseScope,
  tokenKind,
  type ActClaim,
  type AuthTokenClaims,
  type PublicKey,
} from '@aauth-kit/core';
import type { VerifiedAuthToken } from '../types.js';
import type { KeyDiscovery } from './key-discovery.js';
import { LruCache } from './lru.js';

const BANNED_ALG = /^(none|HS\d+)$/i;
const MAX_ACT_DEPTH = 32;

export interface AuthTokenCheckerOptions {
  discovery: KeyDiscovery;
  trustedIssuers: readonly string[];
  algorithms: readonly string[];
  now: () => number;
  leeway: number;
  maxEntries: number;
  checkKeyAlgorithm: (key: PublicKey) => void;
  /** Imports a public JWK (the cnf key) with the configured crypto backend. */
  importKey: (jwk: unknown) => PublicKey;
}

/**
 * Claims of a token whose issuer signature verified but which failed a later check (expiry,
 * audience, cnf). The verifier uses them to mint a fresh challenge for the caller; they never
 * leave the process.
 */
export const authenticClaims = new WeakMap<AAuthError, AuthTokenClaims>();

function fail(code: ConstructorParameters<typeof AAuthError>[0], message: string, cause?: unknown): AAuthError {
  return new AAuthError(code, `Auth token: ${message}`, cause === undefined ? {} : { cause });
}

function unsecuredHeader(jwt: string): boolean {
  const first = jwt.split('.')[0] ?? '';
  if (first.length > 4096) return false;
  try {
    const header = JSON.parse(Buffer.from(first, 'base64url').toString('utf8')) as { alg?: unknown };
    return typeof header.alg === 'string' && header.alg.toLowerCase() === 'none';
  } catch {
    return false;
  }
}

function validAct(value: unknown, depth: number): boolean {
  if (depth > MAX_ACT_DEPTH) return false;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const a = value as Record<string, unknown>;
  if (a.agent !== undefined && typeof a.agent !== 'string') return false;
  if (a.sub !== undefined && typeof a.sub !== 'string') return false;
  return a.act === undefined || validAct(a.act, depth + 1);
}

/**
 * Auth-token verification of wire profile section 7, cheapest checks first: shape, `typ`, `alg`
 * allow-list, trusted issuer; then the issuer key and signature; then `exp`/`nbf`/`iat`, `aud`,
 * `cnf.jwk`, `scope`, `act`. Verified tokens are cached by hash until `exp`.
 */
export class AuthTokenChecker {
  private readonly cache: LruCache<string, VerifiedAuthToken>;
  private readonly algorithms: readonly string[];

  constructor(private readonly options: AuthTokenCheckerOptions) {
    this.cache = new LruCache(options.maxEntries);
    this.algorithms = options.algorithms.filter((a) => !BANNED_ALG.test(a));
  }

  get size(): number {
    return this.cache.size;
  }

  async verify(jwt: string, audience: string): Promise<VerifiedAuthToken> {
    const { now, leeway } = this.options;
    const cacheKey = createHash('sha256').update(audience).update('\0').update(jwt).digest('base64url');
    const cached = this.cache.get(cacheKey);
    if (cached) {
      if (cached.expiresAt + leeway > now()) return cached;
      this.cache.delete(cacheKey);
    }

    if (typeof jwt === 'string' && jwt.endsWith('.') && unsecuredHeader(jwt)) {
      // An unsecured JWS (alg none, RFC 7519 section 6) has an empty signature: name it for what it is.
      throw fail('token_alg_not_allowed', 'alg "none" is not allowed');
    }
    const { header, claims } = decodeToken<Record<string, unknown>>(jwt);
    if (tokenKind(header.typ) !== 'auth') {
      // A resource token, ID token or access token is never an auth token (section 7).
      throw fail('token_typ_invalid', `typ ${JSON.stringify(header.typ)} is not ${TOKEN_TYP.auth.join(' or ')}`);
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || BANNED_ALG.test(alg) || !this.algorithms.includes(alg)) {
      throw fail('token_alg_not_allowed', `alg ${JSON.stringify(alg)} is not allowed`);
    }
    if (header.crit !== undefined) throw fail('token_malformed', 'crit header parameters are not supported');
    const iss = claims.iss;
    if (typeof iss !== 'string' || iss.length === 0) throw fail('token_claim_invalid', 'iss is missing');
    if (!this.options.trustedIssuers.includes(iss)) {
      throw fail('token_issuer_untrusted', `issuer ${JSON.stringify(iss.slice(0, 200))} is not trusted`);
    }
    const kid = typeof header.kid === 'string' ? header.kid : undefined;

    let jwk: Record<string, unknown>;
    try {
      jwk = await this.options.discovery.issuerJwk(iss, kid, alg);
    } catch (error) {
      const why = error instanceof AAuthError ? error.message : String(error);
      throw fail('token_signature_invalid', `the issuer key cannot be found (${why})`, error);
    }
    try {
      await compactVerify(jwt, jwk as never, { algorithms: [alg] });
    } catch (error) {
      if (error instanceof joseErrors.JWSSignatureVerificationFailed) throw fail('token_signature_invalid', 'the signature does not verify', error);
      const code = error instanceof joseErrors.JOSEError ? error.code : 'ERR';
      throw fail('token_signature_invalid', `the signature cannot be verified (${code})`, error);
    }

    // From here on the claims are the issuer's: a failure still tells who the caller is.
    try {
      return this.checkClaims(jwt, claims, audience, cacheKey);
    } catch (error) {
      if (error instanceof AAuthError) authenticClaims.set(error, claims as AuthTokenClaims);
      throw error;
    }
  }

  private checkClaims(jwt: string, claims: Record<string, unknown>, audience: string, cacheKey: string): VerifiedAuthToken {
    const { leeway } = this.options;
    const now = this.options.now();
    const exp = claims.exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) throw fail('token_claim_invalid', 'exp is missing');
    if (exp + leeway <= now) throw fail('token_expired', `expired ${Math.round(now - exp)} s ago`);
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf - leeway > now)) {
      throw fail('token_not_yet_valid', 'nbf is in the future');
    }
    if (claims.iat !== undefined && (typeof claims.iat !== 'number' || claims.iat - leeway > now)) {
      throw fail('token_not_yet_valid', 'iat is in the future');
    }
    const aud = claims.aud;
    const audOk = aud === audience || (Array.isArray(aud) && aud.every((a) => typeof a === 'string') && aud.includes(audience));
    if (!audOk) throw fail('token_audience_invalid', `aud ${JSON.stringify(aud)?.slice(0, 200)} is not ${JSON.stringify(audience)}`);

    const cnf = claims.cnf as Record<string, unknown> | undefined;
    if (typeof cnf !== 'object' || cnf === null || typeof cnf.jwk !== 'object' || cnf.jwk === null) {
      throw fail('token_cnf_missing', 'cnf.jwk is missing');
    }
    let cnfKey: PublicKey;
    try {
      cnfKey = this.options.importKey(cnf.jwk);
    } catch (error) {
      throw fail('token_claim_invalid', `cnf.jwk is not a usable key (${(error as Error).message})`, error);
    }
    try {
      this.options.checkKeyAlgorithm(cnfKey);
    } catch (error) {
      throw fail('token_claim_invalid', `cnf.jwk algorithm is not allowed`, error);
    }
    if (claims.scope !== undefined && typeof claims.scope !== 'string') throw fail('token_claim_invalid', 'scope is not a string');
    for (const name of ['agent', 'sub'] as const) {
      if (claims[name] !== undefined && typeof claims[name] !== 'string') throw fail('token_claim_invalid', `${name} is not a string`);
    }
    if (claims.act !== undefined && !validAct(claims.act, 1)) throw fail('token_claim_invalid', 'act is not a valid actor chain');

    const token: VerifiedAuthToken = {
      raw: jwt,
      issuer: claims.iss as string,
      audience: aud as string | string[],
      scope: parseScope(claims.scope),
      expiresAt: exp,
      cnf: cnfKey,
      claims: claims as AuthTokenClaims,
    };
    if (typeof claims.sub === 'string') token.subject = claims.sub;
    if (typeof claims.agent === 'string') token.agent = claims.agent;
    if (claims.act !== undefined) token.act = claims.act as ActClaim;
    this.cache.set(cacheKey, token);
    return token;
  }
}
