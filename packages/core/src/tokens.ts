import { KeyObject as KeyObjectClass, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { JWK, JWTHeaderParameters, JWTPayload } from 'jose';
import { checkTokenClaims, checkTokenHeader } from './check-token.js';
import { AAuthError } from './errors.js';
import { algOf11, jwkAlgProblem } from './jwk-alg.js';
import type { PublicJwk, SigningKey } from './keys.js';
import { b64uDecode, b64uEncode } from './lib/base64.js';
import {
  AGENT_TOKEN,
  AGENT_TOKEN_11,
  AUTH_TOKEN,
  AUTH_TOKEN_11,
  MAX_RESOURCE_TOKEN_LIFETIME,
  PERSON_TOKEN,
  RESOURCE_TOKEN,
  RESOURCE_TOKEN_11,
  TOKEN_LEEWAY,
  TOKEN_TYP,
  TOKEN_TYP_11,
  type Generation,
  type TokenProfile,
} from './token-profiles.js';
import { importTokenKey, signCompactJws, verifyTokenSignature, type TokenKey } from './token-signature.js';

/** The token kinds: the Keycloak profile's three, and -11's person token. */
export type TokenKind = 'resource' | 'auth' | 'agent' | 'person';

/**
 * The actor chain on exchanged tokens: `agent` in the AAuth form (section 7), `sub` in the RFC 8693
 * section 4.1 form; each level names at least one of them (the one rule of act-chain.ts).
 */
export interface ActClaim {
  agent?: string;
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

/** The kind and generation a `typ` names (`aa-auth+jwt` -> auth, draft-11), or undefined. */
export function classifyToken(typ: unknown): { kind: TokenKind; generation: Generation } | undefined {
  for (const [generation, table] of [['keycloak', TOKEN_TYP], ['draft-11', TOKEN_TYP_11]] as const) {
    for (const [kind, values] of Object.entries(table)) {
      if ((values as readonly string[]).includes(String(typ))) return { kind: kind as TokenKind, generation };
    }
  }
  return undefined;
}

/**
 * Which kind of token a `typ` names, in either generation, or undefined. For routing and display:
 * which generation's profile then applies is {@link classifyToken}'s `generation`.
 */
export function tokenKind(typ: unknown): TokenKind | undefined {
  return classifyToken(typ)?.kind;
}

/** Options of {@link verifyToken}: the kind, your key, and what to expect. */
export interface VerifyTokenOptions {
  /** The kind of token expected; its profile (token-profiles.ts) sets the accepted `typ` values and claim checks. */
  kind: TokenKind;
  /** The generation whose profile applies; default `'keycloak'` (`'person'` exists in `'draft-11'` only). */
  generation?: Generation | undefined;
  /** -11: accept loopback server identifiers in `iss`, `ps` and agent identifiers; default false. */
  allowLoopback?: boolean | undefined;
  /** Resolve the verification key for the token's header and (unverified) claims. */
  getKey: (header: DecodedToken['header'], claims: Record<string, unknown>) => Promise<KeyObject | JsonWebKeyInput> | KeyObject | JsonWebKeyInput;
  /** Accepted `alg` values, narrowing {@link DEFAULT_TOKEN_ALGORITHMS}. `none` and HMAC are always refused. */
  algorithms?: readonly string[] | undefined;
  /** Required audience: the token's `aud` must equal it (or, as an array, contain it). */
  audience?: string | undefined;
  /** Accepted issuers (exact match). */
  issuers?: readonly string[] | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Leeway for `exp`/`nbf`/`iat`, seconds; default {@link TOKEN_LEEWAY} (5). */
  leeway?: number | undefined;
  /** Longest accepted lifetime `exp - iat`, seconds; default the profile's (300 s for resource tokens). */
  maxLifetime?: number | undefined;
}

/** A public JWK accepted by `getKey`: a kit JWK (e.g. `toPublishedJwk()`) or any jose `JWK`. */
export type JsonWebKeyInput = PublicJwk | JWK;

const PROFILE_OF_KIND: Record<Generation, Partial<Record<TokenKind, TokenProfile>>> = {
  keycloak: { resource: RESOURCE_TOKEN, auth: AUTH_TOKEN, agent: AGENT_TOKEN },
  'draft-11': { resource: RESOURCE_TOKEN_11, auth: AUTH_TOKEN_11, agent: AGENT_TOKEN_11, person: PERSON_TOKEN },
};

/** The profile of `kind` in `generation` (default `'keycloak'`); a TypeError for a kind the generation lacks. */
export function tokenProfile(kind: TokenKind, generation: Generation = 'keycloak'): TokenProfile {
  const profile = PROFILE_OF_KIND[generation]?.[kind];
  if (!profile) throw new TypeError(`There is no ${JSON.stringify(kind)} token in the ${JSON.stringify(generation)} generation`);
  return profile;
}

/** Keys returned by a `getKey`, prepared for {@link verifyTokenSignature} once per object. */
const preparedKeys = new WeakMap<object, TokenKey>();

/**
 * Verify a JWT of `kind` with a key the caller supplies: the profile's header and claim checks
 * first (no key is resolved for a token refused on them), then the signature (node:crypto,
 * synchronous). The verifier's `verifyToken` runs the same checks with discovery and a cache.
 * Throws `AAuthError` `token_*`.
 */
export async function verifyToken<C = Record<string, unknown>>(jwt: string, options: VerifyTokenOptions): Promise<DecodedToken<C>> {
  let profile = tokenProfile(options.kind, options.generation);
  if (options.maxLifetime !== undefined) profile = { ...profile, maxLifetime: options.maxLifetime };
  const checked = checkTokenHeader(decodeToken(jwt), profile, options);
  const clock = { now: (options.now ?? (() => Date.now() / 1000))(), leeway: options.leeway ?? TOKEN_LEEWAY };
  const refusal = checkTokenClaims(checked, options, clock);
  if (refusal) throw refusal;

  let key: KeyObject | JsonWebKeyInput;
  try {
    key = await options.getKey(checked.header, checked.claims);
  } catch (error) {
    if (error instanceof AAuthError) throw error;
    throw new AAuthError('key_discovery_failed', `${options.kind} token key: ${(error as Error).message}`, { cause: error });
  }
  // -11 (-09 section 3.3): a resolved JWK names its fully specified alg, agreeing with its key.
  if (profile.generation === 'draft-11' && !(key instanceof KeyObjectClass)) {
    const problem = jwkAlgProblem(key, 'draft-11');
    if (problem) throw new AAuthError(problem.code, `${profile.label} signing key: ${problem.reason}`);
  }
  // A getKey that hands back the same KeyObject or JWK object is prepared once (issue 18).
  let tokenKey = preparedKeys.get(key);
  if (!tokenKey) {
    try {
      tokenKey = importTokenKey(key);
    } catch (error) {
      throw new AAuthError('token_signature_invalid', `${profile.label}: cannot be verified (${(error as Error).message})`, { cause: error });
    }
    // A JWK object can be changed after the call: only KeyObjects (immutable) and frozen JWKs are remembered.
    if (key instanceof KeyObjectClass || Object.isFrozen(key)) preparedKeys.set(key, tokenKey);
  }
  if (!verifyTokenSignature(jwt, checked.alg, tokenKey)) {
    throw new AAuthError('token_signature_invalid', `${profile.label}: the signature does not verify`);
  }
  return { header: checked.header, claims: checked.claims as C };
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
  /** `typ`: `resource+jwt` (the only one: a -11 resource token is {@link mintResourceToken11}'s). */
  typ?: 'resource+jwt' | undefined;
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
    throw new TypeError(`options.typ must be ${TOKEN_TYP.resource.join(' or ')} (a -11 resource token is mintResourceToken11's)`);
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

/**
 * Sign a JWT with a kit key (`kid` from the key). `alg` from the key: `EdDSA` or `ES256` in the
 * Keycloak profile (default), the fully specified `Ed25519` or `ES256` with `generation: 'draft-11'`.
 */
export async function signJwt(
  key: SigningKey,
  header: { typ: string } & Record<string, unknown>,
  claims: JWTPayload,
  options: { generation?: Generation | undefined } = {},
): Promise<string> {
  return signJwtSync(key, header, claims, options);
}

/** {@link signJwt}, synchronously (node:crypto; the same token). */
export function signJwtSync(
  key: SigningKey,
  header: { typ: string } & Record<string, unknown>,
  claims: JWTPayload,
  options: { generation?: Generation | undefined } = {},
): string {
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) throw new TypeError('JWT claims must be an object');
  const alg = options.generation === 'draft-11' ? algOf11(key.jwk) : key.jwsAlgorithm;
  return signCompactJws({ ...header, alg, kid: key.kid }, claims, alg, key.privateKeyObject);
}

/** Options of {@link verifyResourceToken}: those of {@link verifyToken} and the signer to expect. */
export interface VerifyResourceTokenOptions extends Omit<VerifyTokenOptions, 'kind' | 'maxLifetime'> {
  /** Expected `agent` (the signer's identity). */
  agent?: string | undefined;
  /** Expected `agent_jkt` (the signer's thumbprint). */
  agentJkt?: string | undefined;
}

/** Verify a resource token with every claim check of section 6 (the `resource` profile). */
export async function verifyResourceToken(jwt: string, options: VerifyResourceTokenOptions): Promise<DecodedToken<ResourceTokenClaims>> {
  return verifyToken<ResourceTokenClaims>(jwt, { ...options, kind: 'resource' });
}

/**
 * The claim checks of a resource token that need no signature and no clock (the agent runs
 * these too): the `resource` profile's table with types only for `exp`, `nbf` and `iat`.
 */
export function checkResourceTokenClaims(claims: Record<string, unknown> | ResourceTokenClaims, expect: { agent?: string | undefined; agentJkt?: string | undefined } = {}): void {
  const refusal = checkTokenClaims({ profile: RESOURCE_TOKEN, claims }, expect);
  if (refusal) throw refusal;
}

/** Split a space-separated scope string into a de-duplicated list. */
export function parseScope(scope: unknown): string[] {
  if (typeof scope !== 'string') return [];
  // One scope (the common case): no split, no set.
  if (!scope.includes(' ')) return scope.length > 0 ? [scope] : [];
  return [...new Set(scope.split(' ').filter((s) => s.length > 0))];
}

/** True when every scope in `required` is in `granted`. */
export function hasScopes(granted: string | readonly string[] | undefined, required: readonly string[]): boolean {
  const set = new Set(typeof granted === 'string' || granted === undefined ? parseScope(granted) : granted);
  return required.every((s) => set.has(s));
}
