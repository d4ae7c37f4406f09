import { createHash, createHmac, randomBytes } from 'node:crypto';
import {
  AAuthError,
  AUTH_TOKEN_11,
  PERSON_TOKEN,
  RESOURCE_TOKEN_11,
  computeThumbprint,
  decodeToken,
  generateInteractionCode,
  isAAuthError,
  mintAuthToken11,
  mintPersonToken,
  normalizeInteractionCode,
  parseScope,
  type OkpPublicJwk,
  type EcPublicJwk,
  type SigningKey,
} from '@aauth-kit/core';
import { serverIdentifierProblem, showValue } from '@aauth-kit/core/internal';
import type { Verifier } from '@aauth-kit/verifier';
import type { PendingDraft11, PendingRequest, PendingUpdate } from '../../pending-store.js';
import type { ServerContext } from '../context.js';
import { checkAgentAllowed, checkScopesAllowed, consentScopes } from '../policy.js';
import { stringField } from '../server-11.js';
import { createMemoryDraft11Records, type IssuedRecord11, type PersonRecordStore } from '../../records-11.js';
import type { RevocationPusher } from './revocation-push.js';
import { putBack, putDecided } from '../deliver-taken.js';
import type { Federation, FederationOutcome, FederationPending, FederationRequest } from '../access-server/federate.js';

// The -11 person server's decisions (draft-11 profile sections 6 and 8; the person-server
// checklist PS-10..PS-36): person tokens with a directed `sub`, three-party auth tokens, and the
// records both need, and the revocations sent to it (PS-110..PS-115). Requests reach it already
// verified (routes.ts): an agent token under sig=jwt, or a revoking server under sig=jwks_uri.

/** The agent behind a verified request to the person server. */
export interface Agent11 {
  /** The agent identifier `aauth:local@domain` (the agent token's `sub`). */
  id: string;
  /** The agent token's `iss` (its agent provider): a chained request's `upstream_token` is addressed to it (section 8, item 7). */
  provider: string;
  /** RFC 7638 thumbprint of the signing key (the agent token's `cnf.jwk`). */
  thumbprint: string;
  /** The signing key's public JWK with `alg`, for `cnf.jwk`. */
  jwk: Record<string, string>;
  /** The agent token's `exp`: no token issued to it outlives it. */
  exp: number;
  /** The client's address: holds key discovery per caller (issue 13, finding 5). */
  caller: string;
  /** The agent token as presented: a four-party request sends it on to the access server. */
  token?: string;
  /** The agent token's `jti`: its provider may revoke it here (AAuth -11 "Revocation Cascade"). */
  jti?: string;
  /** The agent token's `parent_agent`: the agent is a sub-agent, whose parent requests tokens for it. */
  parentAgent?: string;
}

/**
 * AAuth -11 "Single-Level Depth": a person server rejects a token request signed by a sub-agent (its
 * agent token has `parent_agent`); the parent requests on its behalf (`subagent_token`).
 */
function checkTopLevel(agent: Agent11): void {
  if (agent.parentAgent !== undefined) {
    throw new AAuthError(
      'subagent_request_refused',
      `${agent.id} is a sub-agent of ${agent.parentAgent} (its agent token has parent_agent): a sub-agent does not call the person server; its parent requests tokens on its behalf, signing with its own agent token (AAuth -11 "Parent-Mediated Authorization")`,
    );
  }
}

/**
 * What the person server answers a token request with: a token, or a pending request (`code`: the
 * interaction code of this server's consent page, when the person must come there).
 */
export type Outcome11 = { kind: 'token'; body: Record<string, unknown> } | { kind: 'pending'; request: PendingRequest; code?: string | undefined };

type Issued = IssuedRecord11;

/**
 * Whether the request's `capabilities` (AAuth -11 section 7.1) declare `capability`: `interaction`
 * (the agent can send its user to a URL), `clarification` (it answers the person's questions,
 * "Clarification Chat").
 */
function declares(body: Record<string, unknown>, capability: 'interaction' | 'clarification'): boolean {
  const capabilities = body.capabilities;
  return Array.isArray(capabilities) && capabilities.includes(capability);
}

export interface PersonServiceConfig {
  /** The person server's identifier (`iss`). */
  issuer: string;
  key: SigningKey;
  /** Verifies the tokens handed in the body (resource tokens, presented tokens). */
  verifier: Verifier;
  allowLoopback: boolean;
  /** Pushes a revocation to the token's resource (AAuth -11 "Revocation Cascade"); default none. */
  revocationPush?: RevocationPusher | undefined;
  /** Four-party: federates to the access server a resource token names (access-server/federate.ts). */
  federation?: Federation | undefined;
  /** Where the issued tokens, bindings and grants live; default in memory (one process). */
  records?: PersonRecordStore | undefined;
  /** Clock skew tolerated, seconds: revocations sent here are kept until `exp` plus this; default 60. */
  skew?: number | undefined;
}

/** The person server's token logic. */
export function createPersonService(ctx: ServerContext, config: PersonServiceConfig) {
  const { issuer, key, verifier, allowLoopback, federation } = config;
  const { policy } = ctx.realm;
  const settings = ctx.realm.person;
  // Directed identifiers (PS-20): HMAC of the realm user and the resource under a secret derived
  // from the person server's private key, so they are stable as long as the key is (its keyFile).
  const subjectKey = createHmac('sha256', Buffer.from(String(key.toPrivateJwk().d), 'base64url')).update('aauth-person directed sub').digest();
  // Issued tokens by `jti`, agent bindings (agent -> the realm user it acts for, set by the first
  // consent) and grants (the scopes a user granted at a resource; `''` marks it approved).
  const records = config.records ?? createMemoryDraft11Records(ctx.now).person;
  const skew = config.skew ?? 60;

  const directedSub = (user: string, resource: string): string => createHmac('sha256', subjectKey).update(`${user}\0${resource}`).digest('base64url');

  async function issuePerson(agent: { id: string; jwk: Record<string, string>; thumbprint: string }, user: string, resource: string, expCap: number, from?: string): Promise<Record<string, unknown>> {
    const now = Math.floor(ctx.now());
    const lifetime = Math.min(settings.tokenLifespan, Math.floor(expCap) - now);
    // The agent token (under sig=jwt) expires now: a 401 expired_jwt, as the verifier answers a moment later.
    if (lifetime < 1) throw new AAuthError('token_expired', 'The agent token expires now: renew it at the agent provider');
    const jti = randomBytes(16).toString('base64url');
    const sub = directedSub(user, resource);
    const token = await mintPersonToken(key, {
      issuer,
      audience: resource,
      sub,
      agentKey: agent.jwk as unknown as OkpPublicJwk | EcPublicJwk,
      jti,
      lifetime,
      now: () => now,
      allowLoopback,
    });
    await records.putIssued(jti, { kind: 'person', sub, resource, user, exp: now + lifetime, thumbprint: agent.thumbprint, agent: agent.id, ...(from !== undefined ? { from: [from] } : {}) });
    ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: agent.id, thumbprint: agent.thumbprint, sub, user, resource, scope: '', jti });
    return { person_token: token, expires_in: lifetime };
  }

  /** What the access server is asked, and its answer checked against, for a four-party request. */
  function federationRequest(agent: { thumbprint: string; caller?: string }, resource: string, d11: PendingDraft11, user: string, deadline: number): FederationRequest {
    const { pending: _pending, ...tokens } = d11.federation!;
    return { ...tokens, resource, sub: d11.sub!, agentJkt: agent.thumbprint, expCap: d11.expCap, deadline, caller: agent.caller, claims: (names: string[]) => claimsOf(user, names, d11), clarify: d11.clarify === true };
  }

  /**
   * An auth token: minted here (three-party), or asked of the access server (four-party), which may
   * defer (its pending state is then kept with the agent's pending request, polled until `deadline`).
   */
  async function issueAuth(agent: { id: string; jwk: Record<string, string>; thumbprint: string; caller?: string }, resource: string, scope: string, d11: PendingDraft11, user: string, deadline: number, wait = 0): Promise<FederationOutcome> {
    // Revoked while the person was deciding: nothing is issued or federated against it.
    for (const link of [d11.presentedJti, d11.upstreamJti]) {
      if (link !== undefined && (await records.getIssued(link))?.revoked) throw new AAuthError('presented_token_revoked', 'The token this request was made against was revoked while it waited: get a new person token, then a new resource token');
    }
    if (d11.federation !== undefined) {
      // Four-party: the person consented here; the access server applies the resource's policy and issues.
      const f = d11.federation;
      // Recorded before the request: a person token presented to an access server is revoked there too,
      // even when its answer never arrived (AAuth -11 "Who Revokes What").
      if (d11.presentedJti !== undefined && f.pending === undefined) {
        const presented = await records.getIssued(d11.presentedJti);
        if (presented?.kind === 'person') await records.addAccessServer(d11.presentedJti, f.accessServer);
      }
      const { pending } = f;
      const request = federationRequest(agent, resource, d11, user, deadline);
      // AAuth -11 "AS Response": a deferred answer is polled (its pending URL), else the token is asked for.
      const outcome = pending === undefined ? await federation!.federate(request) : await federation!.resume(request, pending, wait);
      if (outcome.kind === 'token') {
        const jti = String(decodeToken(String(outcome.body.auth_token)).claims.jti);
        ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: agent.id, thumbprint: agent.thumbprint, sub: d11.sub!, user, resource, scope, jti });
      }
      return outcome;
    }
    const now = Math.floor(ctx.now());
    const lifetime = Math.min(settings.tokenLifespan, Math.floor(d11.expCap) - now);
    if (lifetime < 1) throw new AAuthError('token_expired', 'The agent token or the presented token expires now');
    const jti = randomBytes(16).toString('base64url');
    const token = await mintAuthToken11(key, {
      issuer,
      audience: resource,
      sub: d11.sub!,
      agentKey: agent.jwk as unknown as OkpPublicJwk | EcPublicJwk,
      scope,
      ...(d11.account !== undefined ? { account: d11.account } : {}),
      ...(d11.tenant !== undefined ? { tenant: d11.tenant } : {}),
      ...(d11.missionS256 !== undefined ? { missionS256: d11.missionS256 } : {}),
      jti,
      lifetime,
      now: () => now,
      allowLoopback,
    });
    const from = [d11.presentedJti, d11.upstreamJti].filter((j): j is string => j !== undefined);
    await records.putIssued(jti, { kind: 'auth', sub: d11.sub!, resource, user, exp: now + lifetime, thumbprint: agent.thumbprint, agent: agent.id, ...(from.length > 0 ? { from } : {}) });
    ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: agent.id, thumbprint: agent.thumbprint, sub: d11.sub!, user, resource, scope, jti });
    return { kind: 'token', body: { auth_token: token, expires_in: lifetime } };
  }

  /**
   * `requirement=claims` (AAuth -11 "Claims Required"): of the claims asked for, those of the realm
   * user, and the resource token's `tenant`. Never `sub`: the presented token identifies the person (PS-55).
   */
  function claimsOf(user: string, names: string[], d11: PendingDraft11): Record<string, unknown> {
    const held: Record<string, unknown> = { ...ctx.realm.users.find((u) => u.id === user)?.claims };
    if (d11.tenant !== undefined) held.tenant = d11.tenant;
    return Object.fromEntries(names.filter((n) => n !== 'sub' && Object.hasOwn(held, n)).map((n) => [n, held[n]]));
  }

  /** When a pending request created now ends: the realm's pending lifetime, never past the tokens it rests on. */
  const pendingDeadline = (expCap: number) => Math.min(Math.floor(ctx.now()) + ctx.pendingLifetime, Math.floor(expCap));

  /**
   * A pending request the consent page shows and the agent polls (section 8, item 6). `decidedBy`:
   * the person already consented (or needed not), and the request waits for the access server.
   */
  async function createPending(agent: Agent11, kind: 'person-11' | 'auth-11', resource: string, scope: string, needConsent: string[], d11: PendingDraft11, decidedBy?: string): Promise<Outcome11> {
    const createdAt = Math.floor(ctx.now());
    for (let attempt = 0; ; attempt++) {
      const code = generateInteractionCode();
      const request: PendingRequest = {
        id: randomBytes(32).toString('base64url'),
        // Stored in its comparable form; the page normalises what the user brings the same way.
        code: normalizeInteractionCode(code)!,
        thumbprint: agent.thumbprint,
        agent: agent.id,
        resource,
        scope,
        consentScopes: needConsent,
        kind,
        cnfJwk: agent.jwk as unknown as OkpPublicJwk,
        draft11: agent.jti === undefined ? d11 : { ...d11, agentToken: [agent.provider, agent.jti] },
        createdAt,
        expiresAt: pendingDeadline(d11.expCap),
        ...(decidedBy === undefined ? { status: 'pending' as const } : { status: 'approved' as const, sub: decidedBy }),
      };
      try {
        if (decidedBy !== undefined) {
          await storeOrFail(() => putDecided(ctx.store, request));
          return { kind: 'pending', request };
        }
        await ctx.store.put(request);
        ctx.audit({ type: 'consent.required', time: ctx.now(), endpoint: 'token', agent: agent.id, thumbprint: agent.thumbprint, resource, scope });
        return { kind: 'pending', request, code };
      } catch (error) {
        if (!isAAuthError(error, 'pending_conflict') || attempt >= 3) throw error;
      }
    }
  }

  /**
   * `upstream_token` (section 8, item 7; section 11 also allows a person token): an auth or person
   * token this server issued, addressed to the intermediary (its `aud` is the `iss` of the agent
   * token that signed the request), live and not revoked. Answers the record it was issued under:
   * the realm user behind its directed `sub`. Refusals are -11's upstream codes (PS-61, section
   * 11.9.3): `invalid_upstream_token`, `expired_upstream_token`, `revoked_upstream_token` (the
   * profile's section 9 said `invalid_request`; the published draft wins).
   */
  async function verifyUpstream(jwt: string, agent: Agent11): Promise<{ user: string; exp: number; jti: string; agent?: string | undefined }> {
    // Another issuer's token is named as such before anything is fetched for it (its claims are not trusted here).
    let claimed: Record<string, unknown> | undefined;
    try {
      claimed = decodeToken(jwt).claims;
    } catch {
      claimed = undefined; // malformed: the verification below says how
    }
    if (claimed !== undefined && typeof claimed.iss === 'string' && claimed.iss !== issuer) {
      const iss = showValue(claimed.iss, 200);
      const why =
        claimed.dwk === 'aauth-access.json' && claimed.ps === issuer
          ? `it was issued by the access server ${iss} (four-party, for this person server's person); this person server takes as upstream_token only the person and auth tokens it issued itself, so a chain whose calling hop was four-party is not supported`
          : `it was issued by ${iss}, not by this person server ${issuer}`;
      throw new AAuthError('upstream_token_invalid', `upstream_token refused: ${why}`);
    }
    let claims: Record<string, unknown>;
    try {
      claims = (await verifier.verifyToken(jwt, [AUTH_TOKEN_11, PERSON_TOKEN], { audience: agent.provider, issuers: [issuer], allowLoopback, caller: agent.caller })).claims;
    } catch (error) {
      const expired = isAAuthError(error, 'token_expired');
      const why = expired ? 'it has expired' : (error as Error).message;
      throw new AAuthError(expired ? 'upstream_token_expired' : 'upstream_token_invalid', `upstream_token refused: ${why} (it must be a live token of this person server ${issuer} addressed to ${agent.provider}, the issuer of the signing agent token)`, { cause: error });
    }
    // The verifier checked iss and aud already; kept explicit, as these two are the chain's rule.
    if (claims.iss !== issuer) throw new AAuthError('upstream_token_invalid', 'upstream_token refused: it was not issued by this person server');
    if (claims.aud !== agent.provider) throw new AAuthError('upstream_token_invalid', `upstream_token refused: its aud is not ${agent.provider}, the issuer of the signing agent token`);
    const record = await records.getIssued(String(claims.jti));
    if (record === undefined || record.sub !== claims.sub || record.resource !== claims.aud) {
      throw new AAuthError('upstream_token_invalid', 'upstream_token refused: this person server holds no record of it');
    }
    if (record.revoked) throw new AAuthError('upstream_token_revoked', 'upstream_token refused: it was revoked');
    const exp = Math.min(record.exp, Number(claims.exp));
    if (exp <= ctx.now()) throw new AAuthError('upstream_token_expired', 'upstream_token refused: it has expired');
    return { user: record.user, exp, jti: String(claims.jti), agent: record.agent };
  }

  /** The issuance policy (issue 17), after the realm's rules: the scopes to issue, or a refusal. */
  function askPolicy(operation: 'person-token' | 'auth-token', stage: 'request' | 'consented', agent: string, fields: { user?: string | undefined; upstream?: string | undefined; resource: string; scopes: string[]; purpose?: string | undefined }) {
    return ctx.policy({
      generation: 'draft-11',
      endpoint: 'person-server',
      operation,
      stage,
      ...(fields.user !== undefined ? { user: fields.user } : {}),
      agent,
      chain: fields.upstream !== undefined ? [fields.upstream] : [],
      resource: fields.resource,
      scopes: fields.scopes,
      ...(fields.purpose !== undefined ? { purpose: fields.purpose } : {}),
    });
  }

  /** `POST {person_token_endpoint}` (PS-10..PS-12): `{resource}` plus hints. */
  async function personToken(agent: Agent11, body: Record<string, unknown>): Promise<Outcome11> {
    checkAgentAllowed(policy, agent.id);
    checkTopLevel(agent);
    const resource = stringField(body, 'resource', 2048);
    if (resource === undefined) throw new AAuthError('invalid_request', 'resource is required');
    const problem = serverIdentifierProblem(resource, { allowLoopback });
    if (problem) throw new AAuthError('invalid_request', `resource ${problem}`);
    for (const name of ['subagent_token', 'mission_s256'] as const) {
      if (body[name] !== undefined) throw new AAuthError('invalid_request', `${name} is not supported by this person server yet`);
    }
    // PS-10: the agent's reason, shown on the consent page as its own words (at most 4096 characters).
    const justification = stringField(body, 'justification', 4096);
    const upstreamToken = stringField(body, 'upstream_token');
    if (upstreamToken !== undefined) {
      // Call chaining (section 8, item 7): the person is the upstream token's; the intermediary
      // is not bound to a user (it serves many), and the person already approved the call it continues.
      const upstream = await verifyUpstream(upstreamToken, agent);
      await askPolicy('person-token', 'request', agent.id, { user: upstream.user, upstream: upstream.agent, resource, scopes: [] });
      return { kind: 'token', body: await issuePerson(agent, upstream.user, resource, Math.min(agent.exp, upstream.exp), upstream.jti) };
    }
    // Issue 17: the user withdrew this agent's grant. Said once (the agent raises "reconnect
    // required", never loops); its next request starts a consent as a first one does. -11 lists no
    // code for it (section 9): the kit's 403 grant_withdrawn.
    if ((await records.takeWithdrawn(agent.id)) !== undefined) {
      throw new AAuthError('grant_withdrawn', `The user withdrew the grant of ${agent.id}: the person must connect (consent) again; the next request asks them`);
    }
    const user = await records.bindingOf(agent.id);
    if (user !== undefined && (await records.grantsOf(user, resource)).has('')) {
      await askPolicy('person-token', 'request', agent.id, { user, resource, scopes: [] });
      return { kind: 'token', body: await issuePerson(agent, user, resource, agent.exp) };
    }
    // The first person token for this agent or this resource needs the person (PS-12).
    if (!declares(body, 'interaction')) throw new AAuthError('user_unreachable', 'The person must approve this agent for this resource, and the request has no interaction capability');
    const d11: PendingDraft11 = { cnfJwk: agent.jwk, expCap: agent.exp, provider: agent.provider };
    if (user !== undefined) d11.user = user;
    if (justification !== undefined) d11.justification = justification;
    if (declares(body, 'clarification')) d11.clarify = true;
    return createPending(agent, 'person-11', resource, '', [], d11);
  }

  /** The resource token (PS-31): `aud` this server, `agent_jkt` the signer, `ps` this server, a person token of ours behind it. */
  async function verifyResourceToken(jwt: string, agent: Agent11, audience = issuer): Promise<Record<string, unknown>> {
    let claims: Record<string, unknown>;
    try {
      claims = (await verifier.verifyToken(jwt, RESOURCE_TOKEN_11, { audience, agentJkt: agent.thumbprint, allowLoopback, ps: issuer, caller: agent.caller })).claims;
    } catch (error) {
      if (isAAuthError(error, 'token_expired')) throw new AAuthError('resource_token_expired', `resource_token: ${error.message}`);
      if (isAAuthError(error) && error.status >= 500) throw error; // discovery busy, a failing store: not the caller's token
      throw new AAuthError('resource_token_invalid', `resource_token: ${(error as Error).message}`, { cause: error });
    }
    if (claims.ps !== issuer) throw new AAuthError('resource_token_invalid', 'resource_token: ps does not name this person server');
    return claims;
  }

  /**
   * The access server a resource token is addressed to, or undefined when it is this person server
   * (three-party) or unreadable (the verification names what is wrong). Four-party needs a federation.
   */
  function fourPartyAudience(jwt: string): string | undefined {
    let aud: unknown;
    try {
      aud = decodeToken(jwt).claims.aud;
    } catch {
      return undefined;
    }
    if (typeof aud !== 'string' || aud === issuer) return undefined;
    const problem = serverIdentifierProblem(aud, { allowLoopback });
    if (problem) throw new AAuthError('resource_token_invalid', `resource_token: aud ${problem}`);
    if (federation === undefined) throw new AAuthError('resource_token_invalid', `resource_token: aud ${aud} is not this person server, and it does not federate to access servers`);
    return aud;
  }

  /**
   * `presented_token` (PS-30, PS-31: REQUIRED; the profile's section 11 had it optional, the
   * published -11 section 7.2.1 wins): verified as a person or auth token of this server for the
   * resource (`aud` = the resource token's `iss`), then matched to the resource token. A token that
   * does not verify is `invalid_presented_token` (`expired_presented_token` once expired); one that
   * verifies but is not the token the resource token names is `invalid_resource_token`.
   */
  async function checkPresented(jwt: string, rt: Record<string, unknown>, agent: Agent11): Promise<number> {
    let claims: Record<string, unknown>;
    try {
      // Three-party: a token this server issued (an access server's, four-party, is not served yet).
      claims = (await verifier.verifyToken(jwt, [PERSON_TOKEN, AUTH_TOKEN_11], { audience: String(rt.iss), issuers: [issuer], allowLoopback, caller: agent.caller })).claims;
    } catch (error) {
      const expired = isAAuthError(error, 'token_expired');
      throw new AAuthError(expired ? 'presented_token_expired' : 'presented_token_invalid', `presented_token: ${(error as Error).message}`, { cause: error });
    }
    const cnf = (claims.cnf as { jwk?: unknown } | undefined)?.jwk;
    const psOf = claims.dwk === 'aauth-person.json' && claims.ps === undefined ? claims.iss : claims.ps;
    if (claims.jti !== rt.presented_jti || claims.sub !== rt.sub || psOf !== rt.ps || cnf === undefined || computeThumbprint(cnf as never) !== rt.agent_jkt) {
      throw new AAuthError('resource_token_invalid', 'presented_token does not match the resource token (jti, sub, ps or key)');
    }
    return Number(claims.exp);
  }

  /** AAuth -11 "Revocation Cascade": a resource token its resource withdrew backs nothing (PS-112). */
  async function checkNotWithdrawn(rt: Record<string, unknown>): Promise<void> {
    if (await records.isTokenRevoked(String(rt.iss), String(rt.jti))) throw new AAuthError('resource_token_revoked', 'resource_token was withdrawn by its resource: ask the resource again');
  }

  /** A resource token is redeemed once (issue 13, finding 11), after every other check passed. */
  async function redeem(rt: Record<string, unknown>): Promise<void> {
    const usedKey = `aauth:resource-token-11:${createHash('sha256').update(`${String(rt.iss)}\n${String(rt.jti)}`).digest('base64url')}`;
    const ttl = Math.max(1, Math.ceil(Number(rt.exp) - ctx.now()));
    if (!(await ctx.usedTokens.checkAndStore(usedKey, ttl))) throw new AAuthError('resource_token_invalid', 'resource_token was already redeemed; ask the resource for a new one');
  }

  /** The resource token's optional claims the auth token carries on (`account`, `tenant`, `mission_s256`): each set, or cleared when the token has none. */
  function carryClaims(d11: PendingDraft11, rt: Record<string, unknown>): void {
    for (const [claim, field] of [['account', 'account'], ['tenant', 'tenant'], ['mission_s256', 'missionS256']] as const) {
      if (typeof rt[claim] === 'string') d11[field] = rt[claim] as string;
      else delete d11[field];
    }
  }

  /** The consent scopes among `scopes` the person has not granted `resource` yet. */
  async function consentStillNeeded(user: string, resource: string, scopes: string[]): Promise<string[]> {
    const have = await records.grantsOf(user, resource);
    return consentScopes(policy, scopes).filter((s) => !have.has(s));
  }

  /** `POST {auth_token_endpoint}`, three-party (PS-30..PS-35). */
  async function authToken(agent: Agent11, body: Record<string, unknown>): Promise<Outcome11> {
    checkAgentAllowed(policy, agent.id);
    checkTopLevel(agent);
    const resourceToken = stringField(body, 'resource_token');
    if (resourceToken === undefined) throw new AAuthError('invalid_request', 'resource_token is required');
    if (body.subagent_token !== undefined) throw new AAuthError('invalid_request', 'subagent_token is not supported by this person server yet');
    const upstreamToken = stringField(body, 'upstream_token');
    const upstream = upstreamToken === undefined ? undefined : await verifyUpstream(upstreamToken, agent);
    const presentedToken = stringField(body, 'presented_token');
    if (presentedToken === undefined) {
      throw new AAuthError('invalid_request', 'presented_token is required: the person token (or auth token) the challenged request carried (AAuth -11 section 7.2.1)');
    }
    stringField(body, 'justification', 4096);
    // Four-party (section 8, item 5): a resource token addressed to an access server.
    const accessServer = fourPartyAudience(resourceToken);
    if (accessServer !== undefined) federation!.checkTrusted(accessServer);
    const rt = await verifyResourceToken(resourceToken, agent, accessServer);
    await checkNotWithdrawn(rt);
    const record = await records.getIssued(String(rt.presented_jti));
    // Held by this agent's key too: a resource (which sees every token presented to it) must not be
    // able to move a person's consent to another agent by naming its token in a resource token.
    if (record === undefined || record.sub !== rt.sub || record.resource !== rt.iss || record.exp <= ctx.now() || record.thumbprint !== agent.thumbprint) {
      throw new AAuthError('presented_token_invalid', 'presented_jti names no live person or auth token of this server held by this agent for this resource and person');
    }
    // AAuth -11 "Revocation Cascade": a revoked person token is never presented to an access server,
    // and backs no auth token here; the agent gets a fresh person token, then a fresh resource token.
    if (record.revoked) throw new AAuthError('presented_token_revoked', `presented_jti names a ${record.kind} token that was revoked: get a new person token, then a new resource token`);
    if (upstream !== undefined && upstream.user !== record.user) {
      throw new AAuthError('upstream_token_invalid', 'upstream_token acts for another person than the token the resource token names');
    }
    let expCap = Math.min(agent.exp, record.exp, upstream?.exp ?? Infinity);
    expCap = Math.min(expCap, await checkPresented(presentedToken, rt, agent));
    checkScopesAllowed(policy, parseScope(String(rt.scope)));
    const justification = typeof body.justification === 'string' ? body.justification : undefined;
    // Before redeeming: a denial does not burn the resource token.
    const scopes = await askPolicy('auth-token', 'request', agent.id, { user: record.user, upstream: upstream?.agent, resource: String(rt.iss), scopes: parseScope(String(rt.scope)), purpose: justification });
    await redeem(rt);
    const d11: PendingDraft11 = { cnfJwk: agent.jwk, expCap, provider: agent.provider, user: record.user, sub: String(rt.sub), presentedJti: String(rt.presented_jti), resourceToken: [String(rt.iss), String(rt.jti)] };
    if (upstream !== undefined) d11.upstreamJti = upstream.jti;
    carryClaims(d11, rt);
    // Agent-asserted text for the consent page (checked above: a string of at most 4096 characters).
    if (typeof body.justification === 'string') d11.justification = body.justification;
    const scope = scopes.join(' ');
    if (accessServer !== undefined) {
      if (agent.token === undefined) throw new AAuthError('internal_error', 'The agent token is needed to federate');
      d11.federation = { accessServer, resourceToken, agentToken: agent.token, scope };
      if (presentedToken !== undefined) d11.federation.presentedToken = presentedToken;
      if (upstreamToken !== undefined) d11.federation.upstreamToken = upstreamToken;
    }
    // The agent can answer questions: the person's at the consent page, the access server's (four-party).
    if (declares(body, 'clarification')) d11.clarify = true;
    const needConsent = await consentStillNeeded(record.user, String(rt.iss), scopes);
    if (needConsent.length === 0) {
      const issued = await issueAuth(agent, String(rt.iss), scope, d11, record.user, pendingDeadline(expCap));
      if (issued.kind === 'token') return issued;
      // The access server deferred: the agent's request waits, as for consent, polled at this server.
      return createPending(agent, 'auth-11', String(rt.iss), scope, [], withPending(d11, issued.pending), record.user);
    }
    if (!declares(body, 'interaction')) throw new AAuthError('user_unreachable', `The person must consent to ${needConsent.join(' ')}, and the request has no interaction capability`);
    return createPending(agent, 'auth-11', String(rt.iss), scope, needConsent, d11);
  }

  /**
   * AAuth -11 "Updated Request": the agent answers the person's open question with a new resource
   * token (for less, typically) for its pending auth-token request. The token passes every check
   * the first one passed (signature, `agent` and `agent_jkt` the signer's, not withdrawn, the
   * scopes allowed and the policy asked again) and must come from the same resource (`iss`), for the
   * same person (`sub`, `presented_jti`) and, four-party, the same access server; it is redeemed
   * once. Answers what replaces the request's fields (the person decides on the updated request).
   */
  async function updatedRequest(agent: Agent11, request: PendingRequest, body: Record<string, unknown>): Promise<PendingUpdate> {
    const d11 = request.draft11;
    if (request.kind !== 'auth-11' || d11 === undefined || d11.user === undefined) {
      throw new AAuthError('invalid_request', 'Only an auth token request can be updated (it has a resource token to replace): answer with "action": "clarification_response", or DELETE the pending URL');
    }
    const resourceToken = stringField(body, 'resource_token');
    if (resourceToken === undefined) throw new AAuthError('invalid_request', 'An updated_request needs resource_token: a new resource token from the same resource (AAuth -11 "Updated Request")');
    const justification = stringField(body, 'justification', 4096);
    const accessServer = fourPartyAudience(resourceToken);
    if (accessServer !== d11.federation?.accessServer) {
      throw new AAuthError('resource_token_invalid', `resource_token: its aud must be ${d11.federation?.accessServer ?? 'this person server'}, as the request's first resource token's was`);
    }
    const rt = await verifyResourceToken(resourceToken, agent, accessServer);
    if (String(rt.iss) !== request.resource) throw new AAuthError('resource_token_invalid', `resource_token: its iss must be ${request.resource}, the resource of the request it updates`);
    if (rt.sub !== d11.sub || rt.presented_jti !== d11.presentedJti) {
      throw new AAuthError('resource_token_invalid', 'resource_token: it must be issued against the same person token (sub and presented_jti) as the request it updates');
    }
    await checkNotWithdrawn(rt);
    checkScopesAllowed(policy, parseScope(String(rt.scope)));
    const scopes = await askPolicy('auth-token', 'request', agent.id, { user: d11.user, resource: request.resource, scopes: parseScope(String(rt.scope)), purpose: justification ?? d11.justification });
    await redeem(rt);
    const scope = scopes.join(' ');
    const draft11: PendingDraft11 = { ...d11, resourceToken: [String(rt.iss), String(rt.jti)] };
    carryClaims(draft11, rt);
    if (justification !== undefined) draft11.justification = justification;
    if (d11.federation !== undefined) draft11.federation = { ...d11.federation, resourceToken, scope };
    return { scope, consentScopes: await consentStillNeeded(d11.user, request.resource, scopes), draft11 };
  }

  /**
   * A store step for a request that waits on the access server: an AAuthError as it is (a store
   * down is 503 store_unavailable), anything else 503 store_unavailable naming it; never a 500.
   */
  async function storeOrFail(step: () => Promise<void>): Promise<void> {
    try {
      await step();
    } catch (error) {
      if (isAAuthError(error)) throw error;
      throw new AAuthError('store_unavailable', `The request waiting for the access server could not be stored for the agent's next poll: ${(error as Error).message}`, { cause: error });
    }
  }

  /** The -11 part of a request whose access server deferred, with its pending state. */
  const withPending = (d11: PendingDraft11, pending: FederationPending): PendingDraft11 => ({ ...d11, federation: { ...d11.federation!, pending } });

  /**
   * Deliver an approved -11 pending request (taken from the store): the consenting user must be the
   * person it is for. Four-party, the access server may defer: the request is then stored again,
   * under the same pending URL, and the agent polls on.
   */
  async function deliver(request: PendingRequest, wait = 0): Promise<Outcome11> {
    const d11 = request.draft11!;
    const user = request.sub!;
    if (d11.user !== undefined && d11.user !== user) {
      throw new AAuthError('consent_user_mismatch', 'The request was approved by another user than the person it is for');
    }
    const agent = { id: request.agent, jwk: d11.cnfJwk, thumbprint: request.thumbprint };
    const issueOrWait = async (scope: string): Promise<Outcome11> => {
      const issued = await issueAuth(agent, request.resource, scope, d11, user, request.expiresAt, wait);
      if (issued.kind === 'token') return issued;
      // Stored again as taken, decided as it was (same id and code), with the access server's state.
      const again: PendingRequest = { ...request, scope, draft11: withPending(d11, issued.pending) };
      await storeOrFail(() => putBack(ctx.store, request, again));
      return { kind: 'pending', request: again };
    };
    // Waiting for the access server: consent and policy were settled when it was first asked.
    if (d11.federation?.pending !== undefined) return issueOrWait(request.scope);
    // Asked again now the person is known (issue 17).
    const scopes = await askPolicy(request.kind === 'person-11' ? 'person-token' : 'auth-token', 'consented', request.agent, {
      user,
      resource: request.resource,
      scopes: parseScope(request.scope),
      purpose: d11.justification,
    });
    if (request.kind === 'person-11') {
      await records.bind(request.agent, user);
      // AAuth -11 "Agent-Person Binding": once bound, no other person claims the agent. A request
      // made before the binding (two consents racing, or one left open) is refused, not issued;
      // bind only sets an absent binding, so reading it back settles a race too.
      const bound = await records.bindingOf(request.agent);
      if (bound !== undefined && bound !== user) {
        throw new AAuthError(
          'consent_user_mismatch',
          `${request.agent} already acts for another person, who approved it first: one agent acts for one person (AAuth -11 "Agent-Person Binding"); that person withdraws its grant before another can connect it`,
        );
      }
      await records.grant(user, request.resource, [], request.agent);
      return { kind: 'token', body: await issuePerson(agent, user, request.resource, d11.expCap) };
    }
    await records.grant(user, request.resource, request.consentScopes, request.agent);
    return issueOrWait(scopes.join(' '));
  }

  /**
   * The agent's answer to the access server's question (four-party, AAuth -11 "AS Response":
   * `requirement=clarification` passed down): sent to the access server, and the request, taken by
   * the caller, stored again (same pending URL) with what the access server answered.
   */
  async function answerAccessServer(request: PendingRequest, text: string): Promise<void> {
    const d11 = request.draft11!;
    const pending = d11.federation?.pending;
    if (federation === undefined || pending?.clarification === undefined) throw new AAuthError('invalid_request', 'The access server asks no question of this request');
    const agent = { thumbprint: request.thumbprint };
    const outcome = await federation.answer(federationRequest(agent, request.resource, d11, request.sub!, request.expiresAt), pending, text);
    // The token itself (the access server issued at once) waits for the agent's next poll, as any token here.
    const { clarification: _answered, ...rest } = pending;
    const next: FederationPending = outcome.kind === 'token' ? { ...rest, issued: outcome.body } : outcome.pending;
    await storeOrFail(() => putBack(ctx.store, request, { ...request, draft11: withPending(d11, next) }));
  }

  /**
   * The agent withdrew a request (AAuth -11 "Cancel Request"). Four-party, the request the access
   * server still holds for it is withdrawn there too, with a signed DELETE of the access server's
   * pending URL. Best effort, not awaited by the agent's answer: the request is withdrawn here
   * whatever the access server says, and a failure there is warned about.
   */
  function withdrawAtAccessServer(request: PendingRequest): void {
    const f = request.draft11?.federation;
    if (f?.pending === undefined || federation === undefined) return;
    const { accessServer, pending } = f;
    federation.withdraw(accessServer, pending).then(
      (status) => {
        // 2xx withdrawn; 404/410 gone already. Anything else: the access server may still ask the person.
        if (status >= 300 && status !== 404 && status !== 410) ctx.warn(`The access server ${accessServer} answered ${status} to the DELETE of its pending URL ${pending.location}: the request the agent withdrew may still be open there`);
      },
      (error: unknown) => ctx.warn(`Could not withdraw the request at the access server ${accessServer} (DELETE ${pending.location}): ${(error as Error).message}`),
    );
  }

  /**
   * The tokens a revocation of `jti` takes with it (AAuth -11 "Revocation Cascade"): the auth
   * tokens issued against it (`presented_jti`), and the tokens issued from it as `upstream_token`,
   * transitively, through the records' index of what each token was issued against.
   */
  async function cascadeOf(jti: string): Promise<Array<[string, Issued]>> {
    const found = new Map<string, Issued>();
    const queue = [jti];
    while (queue.length > 0 && found.size < 10_000) {
      const parent = queue.shift()!;
      for (const child of await records.childrenOf(parent)) {
        if (found.has(child) || child === jti) continue;
        const record = await records.getIssued(child);
        if (record === undefined) continue;
        found.set(child, record);
        queue.push(child);
      }
    }
    return [...found];
  }

  /**
   * The kit's holder revocation (profile section 8, item 8): an agent, signing with its agent token,
   * names a person or auth token of this server it holds, `{"iss": <this server>, "jti"}`. Always
   * 200: revocation is idempotent, and an unknown `jti` or another holder's token is answered as a
   * revoked one, revealing nothing (the published -11 "Revocation Response" has no "not found"; it
   * wins over the profile's 404). A held token is revoked with its cascade, as {@link revokeAll} does.
   */
  async function revoke(agent: Agent11, body: Record<string, unknown>): Promise<Outcome11> {
    const jti = stringField(body, 'jti', 256);
    if (jti === undefined) throw new AAuthError('invalid_request', 'jti is required');
    const iss = stringField(body, 'iss', 2048);
    if (iss !== issuer) {
      throw new AAuthError('invalid_request', `iss must be this person server (${issuer}): a token of another issuer is revoked by that issuer, signing as itself under sig=jwks_uri (AAuth -11 "Revocation Request")`);
    }
    if (body.exp !== undefined && (typeof body.exp !== 'number' || !Number.isInteger(body.exp) || body.exp <= 0)) {
      throw new AAuthError('invalid_request', 'exp must be the token\'s exp (a positive integer, epoch seconds)');
    }
    const record = await records.getIssued(jti);
    if (record !== undefined && record.thumbprint === agent.thumbprint) await revokeAll([[jti, record], ...(await cascadeOf(jti))], agent.id);
    return { kind: 'token', body: {} };
  }

  /** The live tokens of `jtis` with their cascades ({@link cascadeOf}), each once. */
  async function withCascades(jtis: readonly string[]): Promise<Array<[string, Issued]>> {
    const all = new Map<string, Issued>();
    for (const jti of jtis) {
      const record = await records.getIssued(jti);
      if (record === undefined || all.has(jti)) continue;
      all.set(jti, record);
      for (const [id, r] of await cascadeOf(jti)) all.set(id, r);
    }
    return [...all].filter(([, r]) => r.exp > ctx.now());
  }

  /**
   * PS-111 (AAuth -11 "Revocation Cascade", agent provider revokes an agent token): `ap`, signing
   * as itself, revoked its agent token `jti`. Recorded first by `(iss, jti)` until `exp` plus skew,
   * so the token is refused from now on (401 `revoked_jwt`); then, by the agent (`sub`) it named
   * when this server accepted it, every person and auth token issued to that agent, whichever
   * agent token it presented, is revoked with its cascade and pushed. The agent-person binding
   * stays. The pushes are bounded in time, so the cascade is terminal when this answers.
   */
  async function revokeAgentToken(ap: string, jti: string, exp: number): Promise<void> {
    await records.revokeToken(ap, jti, exp + skew);
    const agent = await records.agentTokenSub(ap, jti);
    ctx.audit({ type: 'token.revoked', time: ctx.now(), endpoint: 'token', ...(agent === undefined ? {} : { agent }), reason: `agent token revoked by ${ap}`, jti });
    if (agent === undefined) return;
    // A repeated revocation pushes again: the last push may have failed (-11 "Idempotence").
    await revokeRegistered(await withCascades(await records.issuedTo(agent)), ap);
  }

  /** PS-112: `resource` withdrew its resource token `jti`; recorded by `(iss, jti)` whether or not it was seen here. */
  async function revokeResourceToken(resource: string, jti: string, exp: number): Promise<void> {
    await records.revokeToken(resource, jti, exp + skew);
    ctx.audit({ type: 'token.revoked', time: ctx.now(), endpoint: 'token', resource, jti });
  }

  /**
   * Why a pending request can no longer be answered (AAuth -11 "Polling Error Codes", `revoked`):
   * the agent token it was made with, or the resource token it was started for, was revoked.
   */
  async function revokedDependency(request: PendingRequest): Promise<string | undefined> {
    const { agentToken, resourceToken } = request.draft11 ?? {};
    if (agentToken !== undefined && (await records.isTokenRevoked(...agentToken))) return 'The agent token this request was made with was revoked by its agent provider';
    if (resourceToken !== undefined && (await records.isTokenRevoked(...resourceToken))) return 'The resource token this request was started for was withdrawn by its resource';
    return undefined;
  }

  /** The agent token of a verified request, remembered by `(iss, jti)` with its agent until `exp` plus skew (PS-115). */
  async function noteAgentToken(agent: Agent11): Promise<void> {
    if (agent.jti !== undefined) await records.putAgentToken(agent.provider, agent.jti, agent.id, agent.exp + skew);
  }

  /**
   * Revoke tokens and push the live ones' revocations: each to its resource, a person token's to
   * every access server it was presented to. This server's records first; the pushes concurrent,
   * each bounded in time; a failing recipient fails nothing.
   */
  async function revokeAll(all: Array<[string, Issued]>, by: string): Promise<void> {
    const fresh = new Set(await records.markRevoked(all.map(([id]) => id)));
    for (const [id, r] of all) {
      if (!fresh.has(id)) continue;
      ctx.audit({ type: 'token.revoked', time: ctx.now(), endpoint: 'token', agent: by, thumbprint: r.thumbprint, sub: r.sub, resource: r.resource, jti: id });
    }
    // Live tokens' recipients are told (a repeated revocation pushes again: the last push may have failed).
    const push = config.revocationPush;
    if (push !== undefined) {
      const pushes: Array<Promise<unknown>> = [];
      for (const [id, r] of all) {
        if (r.exp <= ctx.now()) continue;
        pushes.push(push.push({ jti: id, exp: r.exp, resource: r.resource, agent: by }));
        for (const as of r.accessServers ?? []) pushes.push(push.push({ jti: id, exp: r.exp, resource: as, agent: by, to: 'aauth-access.json' }));
      }
      await Promise.all(pushes);
    }
  }

  /**
   * A grant revocation (user + agent, issue 17) at the -11 person server: the agent's binding and the
   * user's grants given through it go, and the pair's person and auth tokens are revoked with their
   * cascades, pushed as a holder's revocation is. Answers how many tokens were revoked now.
   */
  async function withdrawGrant(user: string, agent: string, until: number): Promise<number> {
    const entries = (await withCascades(await records.withdraw(user, agent, until))).filter(([, r]) => !r.revoked);
    await revokeRegistered(entries, agent);
    return entries.length;
  }

  /** {@link revokeAll}, and resources given the shared registry refuse the tokens too, as revoked by token. */
  async function revokeRegistered(entries: Array<[string, Issued]>, by: string): Promise<void> {
    await revokeAll(entries, by);
    const registry = ctx.revocation;
    if (registry !== undefined) for (const [id, r] of entries) await registry.revoke(issuer, id, r.exp + 60);
  }

  return { personToken, authToken, updatedRequest, deliver, answerAccessServer, withdrawAtAccessServer, revoke, revokeAgentToken, revokeResourceToken, revokedDependency, noteAgentToken, knows: (kind: 'agent' | 'resource', id: string) => records.knows(kind, id), withdrawGrant, directedSub };
}

export type PersonService = ReturnType<typeof createPersonService>;
