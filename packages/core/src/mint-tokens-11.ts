/**
 * Minting the four -11 tokens (draft-11 profile section 6): agent tokens for an agent provider,
 * resource tokens for a resource, and person and auth tokens for person/access servers (and the
 * kit's test servers). Every token is checked against its own profile before it is returned, so a
 * minted token is one the kit's verifier accepts. Header `alg` is `Ed25519` or `ES256`, never `EdDSA`.
 */
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { parseAgentIdentifier, serverIdentifierProblem } from './aauth-identifier.js';
import { checkTokenClaims } from './check-token.js';
import { algOf11 } from './jwk-alg.js';
import { computeThumbprint, type EcPublicJwk, type OkpPublicJwk, type PublicKey, type SigningKey } from './keys.js';
import { b64uEncode } from './lib/base64.js';
import {
  AGENT_TOKEN_11,
  AUTH_TOKEN_11,
  MAX_LIFETIME_11,
  PERSON_TOKEN,
  RESOURCE_TOKEN_11,
  TOKEN_LEEWAY,
  type TokenProfile,
} from './token-profiles.js';
import { signJwt } from './tokens.js';

/** A key a token binds in `cnf.jwk`: a kit key or its public JWK (Ed25519 or P-256). */
export type ConfirmationKeyInput = PublicKey | OkpPublicJwk | EcPublicJwk;

/** What every -11 mint takes. */
export interface Mint11Options {
  /** The issuer's server identifier (`iss`). */
  issuer: string;
  /** Seconds; default and maximum per kind (agent 24 h, default 1 h; person and auth 1 h; resource 5 min). */
  lifetime?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** `jti`; default 16 random bytes, base64url. */
  jti?: string | undefined;
  /** Accept loopback server identifiers (`http://localhost:3000`); default false. */
  allowLoopback?: boolean | undefined;
}

/** Options of {@link mintAgentToken}. */
export interface MintAgentTokenOptions extends Mint11Options {
  /** The agent identifier `aauth:local@domain` (`sub`; lower-case local part). */
  sub: string;
  /** The agent's signing key (`cnf.jwk`, with its `alg`). */
  agentKey: ConfirmationKeyInput;
  /** The agent's person server (`ps`). */
  ps?: string | undefined;
  /** A sub-agent's parent identifier (`parent_agent`). */
  parentAgent?: string | undefined;
}

/** Options of {@link mintPersonToken}. */
export interface MintPersonTokenOptions extends Mint11Options {
  /** The resource (`aud`). */
  audience: string;
  /** The directed (pairwise) user identifier (`sub`). */
  sub: string;
  /** The agent's signing key (`cnf.jwk`). */
  agentKey: ConfirmationKeyInput;
  missionS256?: string | undefined;
  tenant?: string | undefined;
}

/** Options of {@link mintResourceToken11}. */
export interface MintResourceToken11Options extends Mint11Options {
  /** The person server (three-party) or access server (four-party) (`aud`). */
  audience: string;
  /** The `iss` of the person token the resource verified (`ps`). */
  ps: string;
  /** The `sub` of that person token. */
  sub: string;
  /** The `jti` of that person token (`presented_jti`). */
  presentedJti: string;
  /** RFC 7638 thumbprint of the agent's signing key (`agent_jkt`), or the key itself. */
  agentJkt: string | ConfirmationKeyInput;
  /** Space-separated scope, at least one. */
  scope: string;
  account?: string | undefined;
  tenant?: string | undefined;
  /** Copied unchanged from the person token when it carried one. */
  missionS256?: string | undefined;
  /** The resource's own interaction (`{ url, code }`). */
  interaction?: { url: string; code: string } | undefined;
}

/** Options of {@link mintAuthToken11}. */
export interface MintAuthToken11Options extends Mint11Options {
  /** `aauth-person.json` (a person server, default) or `aauth-access.json` (an access server). */
  dwk?: 'aauth-person.json' | 'aauth-access.json' | undefined;
  /** The resource (`aud`). */
  audience: string;
  /** The person server (`ps`); default `issuer` (required for an access server). */
  ps?: string | undefined;
  /** The directed user identifier (`sub`). */
  sub: string;
  /** The agent's signing key (`cnf.jwk`). */
  agentKey: ConfirmationKeyInput;
  scope?: string | undefined;
  account?: string | undefined;
  tenant?: string | undefined;
  missionS256?: string | undefined;
}

/** `cnf.jwk` as -11 wants it: the public members and the fully specified `alg`, no `kid`. */
export function confirmationJwk(key: ConfirmationKeyInput): OkpPublicJwk | EcPublicJwk {
  if (typeof key !== 'object' || key === null) throw new TypeError('the agent key must be a PublicKey or a public JWK');
  const jwk = ('thumbprint' in key && 'jwk' in key ? key.jwk : key) as OkpPublicJwk | EcPublicJwk;
  const alg = algOf11(jwk);
  return jwk.kty === 'OKP' ? { kty: 'OKP', crv: 'Ed25519', x: jwk.x, alg } : { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y, alg };
}

function checkCommon(options: Mint11Options, max: number, fallback: number): { iat: number; exp: number; jti: string } {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const problem = serverIdentifierProblem(options.issuer, { allowLoopback: options.allowLoopback });
  if (problem) throw new TypeError(`options.issuer ${problem} (got ${JSON.stringify(options.issuer)})`);
  const lifetime = options.lifetime ?? fallback;
  if (!(Number.isInteger(lifetime) && lifetime > 0 && lifetime <= max)) throw new TypeError(`options.lifetime must be an integer between 1 and ${max} seconds`);
  if (options.jti !== undefined && (typeof options.jti !== 'string' || options.jti.length === 0)) throw new TypeError('options.jti must be a non-empty string');
  const iat = Math.floor((options.now ?? (() => Date.now() / 1000))());
  return { iat, exp: iat + lifetime, jti: options.jti ?? b64uEncode(randomBytes(16)) };
}

function nonEmpty(options: object, names: readonly string[]): void {
  for (const name of names) {
    const v = (options as Record<string, unknown>)[name];
    if (typeof v !== 'string' || v.length === 0) throw new TypeError(`options.${name} must be a non-empty string`);
  }
}

function optional(claims: Record<string, unknown>, entries: Record<string, string | undefined>): void {
  for (const [name, value] of Object.entries(entries)) {
    if (value === undefined) continue;
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${name} must be a non-empty string`);
    claims[name] = value;
  }
}

/** Check the claims against the kind's own profile (types and values; the clock is the mint's). */
async function sign(key: SigningKey, profile: TokenProfile, claims: Record<string, unknown>, allowLoopback: boolean | undefined): Promise<string> {
  if (typeof key !== 'object' || key === null || key.privateKeyObject === undefined) throw new TypeError('key must be a SigningKey');
  const refusal = checkTokenClaims({ profile, claims }, { allowLoopback }, { now: claims.iat as number, leeway: TOKEN_LEEWAY });
  if (refusal) throw new TypeError(`Cannot mint this ${profile.label.toLowerCase()}: ${refusal.message}`);
  return signJwt(key, { typ: profile.typ[0]! }, claims as JWTPayload, { generation: 'draft-11' });
}

/** Mint a -11 agent token `aa-agent+jwt` with the agent provider's key (draft-11 profile section 6). */
export async function mintAgentToken(key: SigningKey, options: MintAgentTokenOptions): Promise<string> {
  const { iat, exp, jti } = checkCommon(options, MAX_LIFETIME_11.agent, 3600);
  if (!parseAgentIdentifier(options.sub, { strict: true, allowLoopback: options.allowLoopback })) {
    throw new TypeError(`options.sub must be an agent identifier aauth:local@domain with a lower-case local part (got ${JSON.stringify(options.sub)})`);
  }
  const claims: Record<string, unknown> = { iss: options.issuer, dwk: 'aauth-agent.json', sub: options.sub, jti, cnf: { jwk: confirmationJwk(options.agentKey) }, iat, exp };
  optional(claims, { ps: options.ps, parent_agent: options.parentAgent });
  return sign(key, AGENT_TOKEN_11, claims, options.allowLoopback);
}

/** Mint a -11 person token `aa-person+jwt` (a person server's; the kit's test servers use it). */
export async function mintPersonToken(key: SigningKey, options: MintPersonTokenOptions): Promise<string> {
  const { iat, exp, jti } = checkCommon(options, MAX_LIFETIME_11.person, MAX_LIFETIME_11.person);
  nonEmpty(options, ['audience', 'sub']);
  const claims: Record<string, unknown> = { iss: options.issuer, dwk: 'aauth-person.json', aud: options.audience, sub: options.sub, cnf: { jwk: confirmationJwk(options.agentKey) }, jti, iat, exp };
  optional(claims, { mission_s256: options.missionS256, tenant: options.tenant });
  return sign(key, PERSON_TOKEN, claims, options.allowLoopback);
}

/**
 * Mint a -11 resource token `aa-resource+jwt` with the resource's key: `iss dwk aud jti ps sub
 * presented_jti agent_jkt iat exp scope`, no agent identifier, at most 5 min.
 */
export async function mintResourceToken11(key: SigningKey, options: MintResourceToken11Options): Promise<string> {
  const { iat, exp, jti } = checkCommon(options, MAX_LIFETIME_11.resource, MAX_LIFETIME_11.resource);
  nonEmpty(options, ['audience', 'ps', 'sub', 'presentedJti', 'scope']);
  if (options.scope.split(' ').every((s) => s.length === 0)) throw new TypeError('options.scope must name at least one scope');
  const agentJkt = typeof options.agentJkt === 'string' ? options.agentJkt : computeThumbprint(confirmationJwk(options.agentJkt));
  if (agentJkt.length === 0) throw new TypeError('options.agentJkt must be a non-empty string');
  const claims: Record<string, unknown> = {
    iss: options.issuer,
    dwk: 'aauth-resource.json',
    aud: options.audience,
    jti,
    ps: options.ps,
    sub: options.sub,
    presented_jti: options.presentedJti,
    agent_jkt: agentJkt,
    iat,
    exp,
    scope: options.scope,
  };
  optional(claims, { account: options.account, tenant: options.tenant, mission_s256: options.missionS256 });
  if (options.interaction !== undefined) {
    nonEmpty(options.interaction, ['url', 'code']);
    claims.interaction = { url: options.interaction.url, code: options.interaction.code };
  }
  return sign(key, RESOURCE_TOKEN_11, claims, options.allowLoopback);
}

/** Mint a -11 auth token `aa-auth+jwt` (a person or access server's): no `agent`, no `act`, at most 1 h. */
export async function mintAuthToken11(key: SigningKey, options: MintAuthToken11Options): Promise<string> {
  const { iat, exp, jti } = checkCommon(options, MAX_LIFETIME_11.auth, MAX_LIFETIME_11.auth);
  nonEmpty(options, ['audience', 'sub']);
  const dwk = options.dwk ?? 'aauth-person.json';
  if (dwk !== 'aauth-person.json' && dwk !== 'aauth-access.json') throw new TypeError("options.dwk must be 'aauth-person.json' or 'aauth-access.json'");
  const ps = options.ps ?? (dwk === 'aauth-person.json' ? options.issuer : undefined);
  if (ps === undefined) throw new TypeError('options.ps is required for an access server (dwk aauth-access.json)');
  const claims: Record<string, unknown> = { iss: options.issuer, dwk, aud: options.audience, jti, ps, sub: options.sub, cnf: { jwk: confirmationJwk(options.agentKey) }, iat, exp };
  optional(claims, { scope: options.scope, account: options.account, tenant: options.tenant, mission_s256: options.missionS256 });
  return sign(key, AUTH_TOKEN_11, claims, options.allowLoopback);
}
