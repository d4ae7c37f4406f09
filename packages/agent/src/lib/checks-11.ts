import { createHash } from 'node:crypto';
import { AAuthError, type AAuthErrorCode, computeThumbprint, decodeToken } from '@aauth-kit/core';
import { jsonObject, redact } from './http.js';

// The agent's checks of -11 tokens (AAuth -11 sections 5-7, 9; profile section 6). Pure: no
// network, no clock (the time is an argument). The agent does not verify the signatures of
// tokens it receives (the resource and the person server do); it checks they are for it.

/** A token the agent presents (`Signature-Key: sig=jwt`), with the claims it checks answers against. */
export interface Presented {
  kind: 'agent' | 'person' | 'auth';
  token: string;
  jti: string | undefined;
  /** The directed `sub` of a person or auth token (the agent id for an agent token). */
  sub: string | undefined;
  iss: string | undefined;
  /** Epoch seconds. */
  exp: number;
  iat: number | undefined;
  /** The person server behind a person or auth token (`iss` of a person token, `ps` of an auth token). */
  ps: string | undefined;
  /** The mission a person or auth token was issued within (`mission_s256`), if any. */
  mission: string | undefined;
}

const TYP = { agent: 'aa-agent+jwt', person: 'aa-person+jwt', auth: 'aa-auth+jwt', resource: 'aa-resource+jwt' } as const;

function decode(token: string, what: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  try {
    return decodeToken(token);
  } catch {
    throw new AAuthError('token_malformed', `The ${what} is not a well-formed JWT`);
  }
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

function thumbprintOf(cnf: unknown): string | undefined {
  const jwk = typeof cnf === 'object' && cnf !== null ? (cnf as { jwk?: unknown }).jwk : undefined;
  if (typeof jwk !== 'object' || jwk === null) return undefined;
  // Profile section 3: every conveyed key carries a fully specified alg agreeing with kty/crv.
  const { kty, crv, alg } = jwk as Record<string, unknown>;
  const agrees = (kty === 'OKP' && crv === 'Ed25519' && alg === 'Ed25519') || (kty === 'EC' && crv === 'P-256' && alg === 'ES256');
  if (!agrees) return undefined;
  try {
    return computeThumbprint(jwk);
  } catch {
    return undefined;
  }
}

/** Read a token the agent holds or receives, as a {@link Presented}; checks `typ`, `exp` and key binding. */
export function readPresented(token: string, kind: Presented['kind'], thumbprint: string, now: number): Presented {
  const what = `${kind} token`;
  const { header, claims } = decode(token, what);
  if (header.typ !== TYP[kind]) throw new AAuthError('token_typ_invalid', `The ${what} has typ ${JSON.stringify(header.typ)}, not ${TYP[kind]}`);
  if (header.alg === 'EdDSA' || header.alg === 'none' || typeof header.alg !== 'string' || header.alg.startsWith('HS')) {
    throw new AAuthError('token_alg_not_allowed', `The ${what} is signed with ${JSON.stringify(header.alg)}, which -11 refuses`);
  }
  const exp = num(claims.exp);
  if (exp === undefined) throw new AAuthError('issued_token_expiry_invalid', `The ${what} has no exp`);
  if (exp <= now) throw new AAuthError('issued_token_expiry_invalid', `The ${what} expired ${Math.round(now - exp)} s ago`);
  if (thumbprintOf(claims.cnf) !== thumbprint) {
    throw new AAuthError('issued_token_unbound', `The ${what} is not bound (cnf.jwk with alg) to this agent's key`);
  }
  const iss = str(claims.iss);
  return {
    kind,
    token,
    jti: str(claims.jti),
    sub: str(claims.sub),
    iss,
    exp,
    iat: num(claims.iat),
    ps: kind === 'person' ? iss : kind === 'auth' ? str(claims.ps) : str(claims.ps),
    mission: kind === 'agent' ? undefined : str(claims.mission_s256),
  };
}

/** The claims of a resource token the agent reads and checks (section 6.7.3). */
export interface ResourceToken11 {
  token: string;
  iss: string;
  aud: string;
  ps: string;
  sub: string;
  scope: string;
  presentedJti: string;
  exp: number;
  loginHint: string | undefined;
  /** `mission_s256`, copied by the resource from the person token it verified. */
  missionS256: string | undefined;
}

/** What a resource token is checked against: the resource that answered and what the agent presented there. */
export interface ResourceTokenContext {
  /** The origin of the URL that answered the challenge (after redirects). */
  answered: string;
  thumbprint: string;
  /** The person server the agent routes to (its own, or the upstream token's `ps` in a chain); undefined: none. */
  ps: string | undefined;
  /** The token the challenged request presented. */
  presented: Presented;
  /** The person token the agent last presented to this resource, if any (a step-up names its jti). */
  personToken: Presented | undefined;
  now: number;
}

/**
 * Check the resource token of an `auth-token` requirement before any network call (AAuth -11
 * section 6.7.3, profile section 6): `iss` is the resource called, `agent_jkt` this key, `ps` the
 * agent's person server, `sub` and `presented_jti` the token it presented, `exp` ahead.
 */
export function checkResourceToken11(token: string, ctx: ResourceTokenContext): ResourceToken11 {
  const { header, claims } = decode(token, 'resource token');
  if (header.typ !== TYP.resource) {
    throw new AAuthError('token_typ_invalid', `The requirement's token has typ ${JSON.stringify(header.typ)}, not aa-resource+jwt`);
  }
  for (const name of ['iss', 'aud', 'jti', 'ps', 'sub', 'presented_jti', 'agent_jkt', 'scope'] as const) {
    if (typeof claims[name] !== 'string') throw new AAuthError('token_claim_invalid', `The resource token has no ${name}`);
  }
  if (claims.dwk !== 'aauth-resource.json') throw new AAuthError('token_claim_invalid', 'The resource token\'s dwk is not "aauth-resource.json"');
  const exp = num(claims.exp);
  if (exp === undefined || num(claims.iat) === undefined) throw new AAuthError('token_claim_invalid', 'The resource token has no numeric iat and exp');
  const iss = claims.iss as string;
  if (iss !== ctx.answered) {
    throw new AAuthError('challenge_resource_mismatch', `The resource token names the resource ${JSON.stringify(redact(iss))}, but ${ctx.answered} answered`);
  }
  if (claims.agent_jkt !== ctx.thumbprint) throw new AAuthError('resource_token_not_for_agent', "The resource token's agent_jkt is not this agent's key thumbprint");
  if (ctx.ps === undefined) throw new AAuthError('challenge_unsatisfiable', 'The resource requires an auth token and this agent has no person server');
  if (claims.ps !== ctx.ps) {
    throw new AAuthError('resource_token_not_for_agent', `The resource token names the person server ${JSON.stringify(redact(claims.ps))}, not ${ctx.ps}`);
  }
  // The person the resource verified: the token this request presented, or (step-up, per-call) the
  // person token the agent presented here before.
  const known = [ctx.presented, ctx.personToken].filter((p): p is Presented => p !== undefined && p.kind !== 'agent');
  if (known.length > 0) {
    if (!known.some((p) => p.sub === claims.sub)) throw new AAuthError('resource_token_not_for_agent', "The resource token's sub is not the person this agent presented");
    const named = known.find((p) => p.jti === claims.presented_jti);
    if (named === undefined) {
      throw new AAuthError('resource_token_not_for_agent', "The resource token's presented_jti names no token this agent presented");
    }
    // -11 "Resource Token": `mission_s256` is copied unchanged from the person token; a resource
    // MUST NOT omit it (nor add one). The agent refuses a mission stripped or swapped here, before
    // its person server would.
    if (str(claims.mission_s256) !== named.mission) {
      throw new AAuthError(
        'resource_token_not_for_agent',
        named.mission === undefined
          ? 'The resource token carries a mission_s256, but the token it names was issued outside any mission'
          : `The resource token's mission_s256 is ${claims.mission_s256 === undefined ? 'missing' : 'another mission'}: the token it names was issued within mission ${named.mission}`,
      );
    }
  }
  if (exp <= ctx.now) throw new AAuthError('token_expired', `The resource token expired ${Math.round(ctx.now - exp)} s ago`);
  return {
    token,
    iss,
    aud: claims.aud as string,
    ps: claims.ps as string,
    sub: claims.sub as string,
    scope: claims.scope as string,
    presentedJti: claims.presented_jti as string,
    exp,
    loginHint: str(claims.login_hint),
    missionS256: str(claims.mission_s256),
  };
}

/** What the person server's 200 must carry: a person token or an auth token, checked for this call. */
export interface IssuedExpectation {
  kind: 'person' | 'auth';
  thumbprint: string;
  /** The resource the token is for (`aud`). */
  resource: string;
  /** The issuer: the person server asked (person token), or the resource token's `aud` (auth token). */
  issuer: string;
  /** The `sub` of the person the resource token named (auth token). */
  sub?: string | undefined;
  /**
   * The mission the token must carry as `mission_s256` (undefined: none): the one the person
   * token request named, or the resource token's (an auth token copies it). Checked when the member is present.
   */
  missionS256?: string | undefined;
  /**
   * In a chain without a mission of the agent's own: the upstream token's `mission_s256`, which
   * the person server may carry into the downstream person token (-11 "Call Chaining": it
   * evaluates the downstream request in that mission's context). Accepted besides `missionS256`.
   */
  upstreamMission?: string | undefined;
}

/** The code of an issued token whose `mission_s256` is not the mission asked for (details.mismatch `mission_s256`). */
export const MISSION_MISMATCH = 'issued_token_mission_mismatch' satisfies AAuthErrorCode;

/**
 * The token of a person server's 200 (AAuth -11 sections 7.1 and 9.4.4), checked before the agent
 * caches or presents it: its `typ`, `iss`, `aud`, `cnf.jwk` (with `alg`), `sub` and `exp`.
 */
export function parseIssued11(body: Uint8Array, expect: IssuedExpectation, now: number): Presented & { expiresIn: number | undefined } {
  const doc = jsonObject(body);
  const member = expect.kind === 'person' ? 'person_token' : 'auth_token';
  const token = doc?.[member];
  if (typeof token !== 'string' || token.length === 0) throw new AAuthError('auth_server_error', `The person server answered 200 without a ${member}`);
  const expiresIn = num(doc?.expires_in);
  return { ...checkIssued11(token, expect, now), expiresIn: expiresIn !== undefined && expiresIn > 0 ? expiresIn : undefined };
}

/** Check one token a person server issued (see {@link parseIssued11}). */
function checkIssued11(token: string, expect: IssuedExpectation, now: number): Presented {
  const member = expect.kind === 'person' ? 'person_token' : 'auth_token';
  let issued: Presented;
  try {
    issued = readPresented(token, expect.kind, expect.thumbprint, now);
  } catch (error) {
    const e = error as AAuthError;
    // An unusable token from the person server is the person server's failure, never the resource's.
    throw new AAuthError(e.code === 'issued_token_unbound' || e.code === 'issued_token_expiry_invalid' ? e.code : 'auth_server_error', `The person server issued an unusable token: ${e.message}`);
  }
  const { claims } = decodeToken(token);
  if (issued.iss !== expect.issuer) {
    throw new AAuthError('auth_server_error', `The person server issued a ${member} from ${JSON.stringify(redact(issued.iss ?? ''))}, not ${expect.issuer}`);
  }
  const aud = claims.aud;
  if (aud !== expect.resource && !(Array.isArray(aud) && aud.includes(expect.resource))) {
    throw new AAuthError('issued_token_audience_invalid', `The person server issued a ${member} for ${redact(JSON.stringify(aud) ?? 'no audience')}, not ${expect.resource}`);
  }
  if (expect.sub !== undefined && issued.sub !== expect.sub) {
    throw new AAuthError('auth_server_error', `The person server issued a ${member} for another person than the resource token names`);
  }
  if ('missionS256' in expect && issued.mission !== expect.missionS256 && !(issued.mission !== undefined && issued.mission === expect.upstreamMission)) {
    const got = issued.mission === undefined ? 'no mission_s256' : `mission_s256 ${issued.mission}`;
    const asked = expect.missionS256 === undefined ? 'none was asked for' : `the ${expect.kind === 'person' ? 'request named' : 'resource token carries'} ${expect.missionS256}`;
    throw new AAuthError(MISSION_MISMATCH, `The person server issued ${expect.kind === 'auth' ? 'an' : 'a'} ${member} with ${got}, but ${asked}`, {
      details: { mismatch: 'mission_s256', expected: expect.missionS256 ?? null, issued: issued.mission ?? null },
    });
  }
  return issued;
}

/** A mission the person server approved (AAuth -11 "Mission Approval"), checked. */
export interface ApprovedMission11 {
  s256: string;
  /** The mission blob, decoded. */
  mission: Record<string, unknown>;
  capabilities: string[];
  /** The person tokens issued with the approval, by resource, each checked to carry `mission_s256` = `s256`. */
  personTokens: Map<string, Presented>;
}

/**
 * The 200 of a mission proposal: `s256` is the unpadded base64url SHA-256 of the bytes `mission`
 * decodes to (checked), the blob a JSON object, each person token one for this agent's key and
 * its resource, from `issuer`, within this mission.
 */
export function parseMission11(body: Uint8Array, expect: { thumbprint: string; issuer: string }, now: number): ApprovedMission11 {
  const doc = jsonObject(body);
  const s256 = doc?.s256;
  const encoded = doc?.mission;
  if (typeof s256 !== 'string' || typeof encoded !== 'string' || !/^[A-Za-z0-9_-]+$/.test(encoded)) {
    throw new AAuthError('auth_server_error', 'The person server approved the mission without s256 and a base64url mission');
  }
  const bytes = Buffer.from(encoded, 'base64url');
  if (createHash('sha256').update(bytes).digest('base64url') !== s256) {
    throw new AAuthError('auth_server_error', 'The person server\'s mission s256 is not the SHA-256 of the mission it returned');
  }
  let mission: unknown;
  try {
    mission = JSON.parse(bytes.toString('utf8'));
  } catch {
    mission = undefined;
  }
  if (typeof mission !== 'object' || mission === null || Array.isArray(mission)) throw new AAuthError('auth_server_error', 'The person server\'s mission is not a JSON object');
  const capabilities = Array.isArray(doc?.capabilities) ? doc.capabilities.filter((c): c is string => typeof c === 'string') : [];
  const personTokens = new Map<string, Presented>();
  const tokens = doc?.person_tokens;
  if (tokens !== undefined) {
    if (typeof tokens !== 'object' || tokens === null || Array.isArray(tokens)) throw new AAuthError('auth_server_error', 'The person server\'s person_tokens is not an object');
    for (const [resource, token] of Object.entries(tokens as Record<string, unknown>)) {
      if (typeof token !== 'string') throw new AAuthError('auth_server_error', `The person server's person token for ${redact(resource)} is not a string`);
      personTokens.set(resource, checkIssued11(token, { kind: 'person', thumbprint: expect.thumbprint, resource, issuer: expect.issuer, missionS256: s256 }, now));
    }
  }
  return { s256, mission: mission as Record<string, unknown>, capabilities, personTokens };
}

/** Seconds before expiry a token is renewed: five minutes (-11 section 7.9.1), or a quarter of a shorter lifetime. */
export function renewMargin(token: Pick<Presented, 'iat' | 'exp'>): number {
  const lifetime = token.iat === undefined ? 3600 : token.exp - token.iat;
  return Math.min(300, Math.max(1, lifetime / 4));
}

/** Whether a held token may still be presented at `now`. */
export function presentable(token: Pick<Presented, 'iat' | 'exp'>, now: number): boolean {
  return token.exp - renewMargin(token) > now;
}
