import { randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { errors as joseErrors, jwtVerify, SignJWT, type JWK, type JWTHeaderParameters, type JWTPayload } from 'jose';
import { AAuthError, type AAuthErrorCode } from './errors.js';
import type { PublicJwk, SigningKey } from './keys.js';
import { b64uDecode, b64uEncode } from './lib/base64.js';

/** JWT `typ` values of both wire generations (wire profile sections 6, 7 and 11). */
export const TOKEN_TYP = {
  resource: ['resource+jwt', 'aa-resource+jwt'],
  auth: ['auth+jwt', 'aa-auth+jwt'],
  agent: ['agent+jwt', 'aa-agent+jwt'],
} as const;
export type TokenKind = keyof typeof TOKEN_TYP;

/** JWS algorithms accepted on tokens by default: never `none`, never HMAC. */
export const DEFAULT_TOKEN_ALGORITHMS = ['RS256', 'ES256', 'EdDSA', 'Ed25519'] as const;
/** Longest resource-token lifetime, in seconds (section 6). */
export const MAX_RESOURCE_TOKEN_LIFETIME = 300;

/** The agent chain on exchanged tokens (section 7). */
export interface ActClaim {
  agent: string;
  sub?: string;
  act?: ActClaim;
}

/** Resource token claims (section 6). */
export interface ResourceTokenClaims {
  iss: string;
  aud: string;
  jti: string;
  agent: string;
  agent_jkt: string;
  iat: number;
  exp: number;
  scope: string;
}

/** Auth token claims (section 7). */
export interface AuthTokenClaims {
  iss: string;
  aud: string | string[];
  agent?: string;
  sub?: string;
  scope?: string;
  cnf: { jwk: PublicJwk };
  iat: number;
  exp: number;
  jti?: string;
  act?: ActClaim;
  [claim: string]: unknown;
}

export interface DecodedToken<C = Record<string, unknown>> {
  header: JWTHeaderParameters & Record<string, unknown>;
  claims: C;
}

const MAX_TOKEN = 16 * 1024;

function decodePart(part: string, what: string): Record<string, unknown> {
  const bytes = b64uDecode(part);
  if (!bytes) throw new AAuthError('token_malformed', `The token ${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new AAuthError('token_malformed', `The token ${what} is not JSON`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AAuthError('token_malformed', `The token ${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

/** Decode a compact JWT without verifying it (for routing, display and cheap pre-checks). */
export function decodeToken<C = Record<string, unknown>>(jwt: string): DecodedToken<C> {
  if (typeof jwt !== 'string' || jwt.length > MAX_TOKEN) throw new AAuthError('token_malformed', 'The token is missing or too long');
  const parts = jwt.split('.');
  if (parts.length !== 3 || parts[2]!.length === 0) throw new AAuthError('token_malformed', 'The token is not a compact JWS');
  return {
    header: decodePart(parts[0]!, 'header') as DecodedToken['header'],
    claims: decodePart(parts[1]!, 'payload') as C,
  };
}

/** Which kind of token a `typ` names, or undefined. */
export function tokenKind(typ: unknown): TokenKind | undefined {
  for (const kind of Object.keys(TOKEN_TYP) as TokenKind[]) {
    if ((TOKEN_TYP[kind] as readonly string[]).includes(String(typ))) return kind;
  }
  return undefined;
}

export interface VerifyTokenOptions {
  /** The kind of token expected; its `typ` values are the only ones accepted. */
  kind: TokenKind;
  /** Resolve the verification key for the token's header and (unverified) claims. */
  getKey: (header: DecodedToken['header'], claims: Record<string, unknown>) => Promise<KeyObject | JsonWebKeyInput> | KeyObject | JsonWebKeyInput;
  /** Accepted `alg` values; default {@link DEFAULT_TOKEN_ALGORITHMS}. `none` and HMAC are always refused. */
  algorithms?: readonly string[] | undefined;
  /** Required audience: the token's `aud` must equal it (or, as an array, contain it). */
  audience?: string | undefined;
  /** Accepted issuers (exact match). */
  issuers?: readonly string[] | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Leeway for `exp`/`nbf`/`iat`, seconds; default 5. */
  leeway?: number | undefined;
  /** Longest accepted lifetime `exp - iat`, seconds; no limit by default. */
  maxLifetime?: number | undefined;
}

/** A public JWK accepted by `getKey`: a kit JWK (e.g. `toPublishedJwk()`) or any jose `JWK`. */
export type JsonWebKeyInput = PublicJwk | JWK;

const BANNED_ALG = /^(none|HS\d+)$/i;

function claimError(code: AAuthErrorCode, message: string, kind: TokenKind): AAuthError {
  return new AAuthError(code, `${kind === 'auth' ? 'Auth' : kind === 'resource' ? 'Resource' : 'Agent'} token: ${message}`);
}

/**
 * Verify a JWT of `kind` with jose: cheap header checks (`typ`, `alg` allow-list, issuer) before
 * the key is resolved, then signature, `exp`/`nbf`/`iat`, `aud`. Throws `AAuthError` `token_*`.
 */
export async function verifyToken<C = Record<string, unknown>>(jwt: string, options: VerifyTokenOptions): Promise<DecodedToken<C>> {
  const { kind } = options;
  const { header, claims } = decodeToken(jwt);
  if (!tokenKind(header.typ) || tokenKind(header.typ) !== kind) {
    throw claimError('token_typ_invalid', `typ ${JSON.stringify(header.typ)} is not ${TOKEN_TYP[kind].join(' or ')}`, kind);
  }
  const algorithms = (options.algorithms ?? DEFAULT_TOKEN_ALGORITHMS).filter((a) => !BANNED_ALG.test(a));
  if (typeof header.alg !== 'string' || BANNED_ALG.test(header.alg) || !algorithms.includes(header.alg)) {
    throw claimError('token_alg_not_allowed', `alg ${JSON.stringify(header.alg)} is not allowed`, kind);
  }
  if (typeof claims.iss !== 'string') throw claimError('token_claim_invalid', 'iss is missing', kind);
  if (options.issuers && !options.issuers.includes(claims.iss)) {
    throw claimError('token_issuer_untrusted', `issuer ${JSON.stringify(claims.iss)} is not trusted`, kind);
  }
  const now = (options.now ?? (() => Date.now() / 1000))();
  const leeway = options.leeway ?? 5;
  if (typeof claims.exp !== 'number') throw claimError('token_claim_invalid', 'exp is missing', kind);
  if (claims.exp + leeway <= now) throw claimError('token_expired', `expired ${Math.round(now - claims.exp)} s ago`, kind);
  if (typeof claims.nbf === 'number' && claims.nbf - leeway > now) throw claimError('token_not_yet_valid', 'nbf is in the future', kind);
  if (typeof claims.iat === 'number' && claims.iat - leeway > now) throw claimError('token_not_yet_valid', 'iat is in the future', kind);
  if (options.maxLifetime !== undefined) {
    if (typeof claims.iat !== 'number') throw claimError('token_claim_invalid', 'iat is missing', kind);
    if (claims.exp - claims.iat > options.maxLifetime) {
      throw claimError('token_lifetime_invalid', `lives ${claims.exp - claims.iat} s, more than ${options.maxLifetime} s`, kind);
    }
  }
  if (options.audience !== undefined) {
    const aud = claims.aud;
    const ok = aud === options.audience || (Array.isArray(aud) && aud.includes(options.audience));
    if (!ok) throw claimError('token_audience_invalid', `aud ${JSON.stringify(aud)} is not ${JSON.stringify(options.audience)}`, kind);
  }

  let key: KeyObject | JsonWebKeyInput;
  try {
    key = await options.getKey(header, claims);
  } catch (error) {
    if (error instanceof AAuthError) throw error;
    throw new AAuthError('key_discovery_failed', `${kind} token key: ${(error as Error).message}`, { cause: error });
  }
  try {
    await jwtVerify(jwt, key as KeyObject, {
      algorithms: [header.alg],
      currentDate: new Date(now * 1000),
      clockTolerance: leeway,
    });
  } catch (error) {
    if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
      throw claimError('token_signature_invalid', 'the signature does not verify', kind);
    }
    // The cheap checks above already ran; these cover what jose checks on its own (e.g. a non-numeric iat).
    if (error instanceof joseErrors.JWTExpired) throw claimError('token_expired', 'has expired', kind);
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw claimError('token_claim_invalid', `claim ${JSON.stringify(error.claim)} is invalid (${error.reason})`, kind);
    }
    if (error instanceof joseErrors.JOSEAlgNotAllowed) throw claimError('token_alg_not_allowed', 'alg is not allowed', kind);
    if (error instanceof joseErrors.JOSEError) {
      throw claimError('token_signature_invalid', `cannot be verified (${error.code})`, kind);
    }
    throw claimError('token_signature_invalid', `cannot be verified: ${(error as Error).message}`, kind);
  }
  return { header, claims: claims as C };
}

export interface MintResourceTokenOptions {
  /** The resource identity URL (`iss`). */
  issuer: string;
  /** The auth server issuer (`aud`), exactly. */
  audience: string;
  /** The caller: its identity URL, or `pseudonymous:<thumbprint>` for `hwk`. */
  agent: string;
  /** RFC 7638 thumbprint of the key that signed the request. */
  agentJkt: string;
  /** Space-separated scope. */
  scope: string;
  /** Seconds; default and maximum 300. */
  lifetime?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** `typ`: default `resource+jwt`; `aa-resource+jwt` for the newer draft. */
  typ?: 'resource+jwt' | 'aa-resource+jwt' | undefined;
}

/** Mint a resource token (section 6) signed with the resource's own key. */
export async function mintResourceToken(key: SigningKey, options: MintResourceTokenOptions): Promise<string> {
  if (typeof key !== 'object' || key === null || key.privateKeyObject === undefined) throw new TypeError('key must be a SigningKey');
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  for (const name of ['issuer', 'audience', 'agent', 'agentJkt', 'scope'] as const) {
    if (typeof options[name] !== 'string' || options[name].length === 0) throw new TypeError(`options.${name} must be a non-empty string`);
  }
  // Section 5: the Keycloak extension refuses resource tokens without a scope.
  if (parseScope(options.scope).length === 0) throw new TypeError('options.scope must name at least one scope');
  const lifetime = options.lifetime ?? MAX_RESOURCE_TOKEN_LIFETIME;
  if (!(Number.isInteger(lifetime) && lifetime > 0 && lifetime <= MAX_RESOURCE_TOKEN_LIFETIME)) {
    throw new TypeError(`options.lifetime must be an integer between 1 and ${MAX_RESOURCE_TOKEN_LIFETIME} seconds`);
  }
  if (options.typ !== undefined && !(TOKEN_TYP.resource as readonly string[]).includes(options.typ)) {
    throw new TypeError(`options.typ must be ${TOKEN_TYP.resource.join(' or ')}`);
  }
  const iat = Math.floor((options.now ?? (() => Date.now() / 1000))());
  const claims: ResourceTokenClaims = {
    iss: options.issuer,
    aud: options.audience,
    jti: b64uEncode(randomBytes(16)),
    agent: options.agent,
    agent_jkt: options.agentJkt,
    iat,
    exp: iat + lifetime,
    scope: options.scope,
  };
  return signJwt(key, { typ: options.typ ?? 'resource+jwt' }, claims as unknown as JWTPayload);
}

/** Sign a JWT with a kit key (`alg` from the key, `kid` from the key). */
export async function signJwt(key: SigningKey, header: { typ: string } & Record<string, unknown>, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ ...header, alg: key.jwsAlgorithm, kid: key.kid })
    .sign(key.privateKeyObject);
}

export interface VerifyResourceTokenOptions extends Omit<VerifyTokenOptions, 'kind' | 'maxLifetime'> {
  /** Expected `agent` (the signer's identity). */
  agent?: string | undefined;
  /** Expected `agent_jkt` (the signer's thumbprint). */
  agentJkt?: string | undefined;
}

/** Verify a resource token with every claim check of section 6. */
export async function verifyResourceToken(jwt: string, options: VerifyResourceTokenOptions): Promise<DecodedToken<ResourceTokenClaims>> {
  const token = await verifyToken<ResourceTokenClaims>(jwt, { ...options, kind: 'resource', maxLifetime: MAX_RESOURCE_TOKEN_LIFETIME });
  checkResourceTokenClaims(token.claims, options);
  return token;
}

/** The claim checks of a resource token that need no signature (the agent runs these too). */
export function checkResourceTokenClaims(claims: Record<string, unknown> | ResourceTokenClaims, expect: { agent?: string | undefined; agentJkt?: string | undefined } = {}): void {
  const c = claims as Record<string, unknown>;
  for (const name of ['iss', 'aud', 'jti', 'agent', 'agent_jkt', 'scope'] as const) {
    if (typeof c[name] !== 'string' || (c[name] as string).length === 0) {
      throw new AAuthError('token_claim_invalid', `Resource token: ${name} is missing`);
    }
  }
  for (const name of ['iat', 'exp'] as const) {
    if (typeof c[name] !== 'number') throw new AAuthError('token_claim_invalid', `Resource token: ${name} is missing`);
  }
  if (expect.agent !== undefined && c.agent !== expect.agent) {
    throw new AAuthError('token_agent_mismatch', `Resource token: agent ${JSON.stringify(c.agent)} is not the signer ${JSON.stringify(expect.agent)}`);
  }
  if (expect.agentJkt !== undefined && c.agent_jkt !== expect.agentJkt) {
    throw new AAuthError('token_agent_mismatch', "Resource token: agent_jkt is not the signer's key thumbprint");
  }
}

/** Split a space-separated scope string into a de-duplicated list. */
export function parseScope(scope: unknown): string[] {
  if (typeof scope !== 'string') return [];
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

/** True when every scope in `required` is in `granted`. */
export function hasScopes(granted: string | readonly string[] | undefined, required: readonly string[]): boolean {
  const set = new Set(typeof granted === 'string' || granted === undefined ? parseScope(granted) : granted);
  return required.every((s) => set.has(s));
}
