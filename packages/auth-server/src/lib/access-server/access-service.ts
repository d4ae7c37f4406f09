import { createHash, randomBytes } from 'node:crypto';
import {
  AAuthError,
  AGENT_TOKEN_11,
  AUTH_TOKEN_11,
  PERSON_TOKEN,
  RESOURCE_TOKEN_11,
  computeThumbprint,
  isAAuthError,
  mintAuthToken11,
  parseScope,
  type AAuthErrorCode,
  type EcPublicJwk,
  type OkpPublicJwk,
  type SigningKey,
} from '@aauth-kit/core';
import type { Verifier } from '@aauth-kit/verifier';
import type { ServerContext } from '../context.js';
import { checkAgentAllowed, checkScopesAllowed } from '../policy.js';
import { stringField } from '../server-11.js';
import { createMemoryDraft11Records, type AccessRecordStore } from '../../records-11.js';
import type { PushOutcome, RevocationPusher } from '../person-server/revocation-push.js';

// The -11 access server's decision (AAuth -11 "AS Token Endpoint"; access-server checklist AS-10..
// AS-21): a person server asks, signed as itself; the resource token names this server as `aud`;
// the realm's policy decides; the auth token carries `dwk: aauth-access.json` and the PS as `ps`.

/** The person server behind a verified request (routes.ts). */
export interface PersonServerCaller {
  /** The person server's identifier (the `id` of its `Signature-Key`, verified under `aauth-person.json`). */
  id: string;
  /** The client's address: holds key discovery per caller. */
  caller: string;
}

export interface AccessServiceConfig {
  /** The access server's identifier (`iss`). */
  issuer: string;
  key: SigningKey;
  /** Verifies the tokens of the body (agent, resource, presented and upstream tokens). */
  verifier: Verifier;
  allowLoopback: boolean;
  /** Pushes revocations of its auth tokens to their resources, signed as this access server (AS-43); default none. */
  revocationPush?: RevocationPusher | undefined;
  /** Clock skew tolerated, seconds: records live until `exp` plus this (AS-44); default 60. */
  skew?: number | undefined;
  /** Where its issuance records and the revocations sent to it live; default in memory (one process). */
  records?: AccessRecordStore | undefined;
}

/** One downstream revocation's outcome in the answer to a person server (AAuth -11 "Revocation Response"). */
export interface DownstreamOutcome {
  recipient: string;
  error?: Exclude<PushOutcome, 'recorded'>;
}

/** A token parameter's verification, its refusal named by the parameter (`<invalid|expired>_<parameter>_token`). */
async function checked<T>(what: string, invalid: AAuthErrorCode, expired: AAuthErrorCode, verify: () => Promise<T>): Promise<T> {
  try {
    return await verify();
  } catch (error) {
    if (isAAuthError(error, 'token_expired')) throw new AAuthError(expired, `${what}: ${error.message}`);
    if (isAAuthError(error) && error.status >= 500) throw error; // discovery busy, a failing store: not the caller's fault
    throw new AAuthError(invalid, `${what}: ${(error as Error).message}`, { cause: error });
  }
}

/** The access server's token logic. */
export function createAccessService(ctx: ServerContext, config: AccessServiceConfig) {
  const { issuer, key, verifier, allowLoopback } = config;
  const { policy } = ctx.realm;
  const settings = ctx.realm.access;
  const skew = config.skew ?? 60;
  // AS-44: the auth tokens issued; AS-41: person tokens revoked by their person server (`ps\njti`);
  // AS-42: resource tokens withdrawn by their resource (`resource\njti`); each until exp plus skew.
  const records = config.records ?? createMemoryDraft11Records(ctx.now).access;

  /** `POST {auth_token_endpoint}` from a trusted person server (AS-11..AS-14, AS-20, AS-21). */
  async function authToken(ps: PersonServerCaller, body: Record<string, unknown>): Promise<Record<string, unknown>> {
    const resourceToken = stringField(body, 'resource_token');
    if (resourceToken === undefined) throw new AAuthError('invalid_request', 'resource_token is required');
    const agentToken = stringField(body, 'agent_token');
    if (agentToken === undefined) throw new AAuthError('invalid_request', 'agent_token is required (the agent token the person server verified)');
    if (body.subagent_token !== undefined) throw new AAuthError('invalid_request', 'subagent_token is not supported by this access server yet');
    const presentedToken = stringField(body, 'presented_token');
    const upstreamToken = stringField(body, 'upstream_token');
    const { caller } = ps;

    // AS-11: the agent token carries the agent's posture for this decision. -11 lists no code for a
    // failing one here (issue #199 proposes restoring invalid_/expired_agent_token): the kit keeps them.
    const agent = await checked('agent_token', 'agent_token_invalid', 'agent_token_expired', () =>
      verifier.verifyToken(agentToken, AGENT_TOKEN_11, { audience: null, allowLoopback, caller }),
    );
    const agentJwk = (agent.claims.cnf as { jwk: Record<string, string> }).jwk;
    const agentJkt = computeThumbprint(agentJwk as never);

    // AS-12: aud is this server, agent_jkt the agent's key, ps the person server that signed.
    const rt = (
      await checked('resource_token', 'resource_token_invalid', 'resource_token_expired', () =>
        verifier.verifyToken(resourceToken, RESOURCE_TOKEN_11, { audience: issuer, agentJkt, ps: ps.id, allowLoopback, caller }),
      )
    ).claims;
    if (rt.ps !== ps.id) throw new AAuthError('resource_token_invalid', `resource_token: ps does not name ${ps.id}, the person server that signed this request`);
    // The token it is issued against: the cascade's link from the person token (AS-41, AS-44).
    if (typeof rt.presented_jti !== 'string') throw new AAuthError('resource_token_invalid', 'resource_token has no presented_jti');
    // AS-42: a resource token its resource withdrew; AS-41: no auth token against a revoked person token.
    if (await records.isLinkRevoked('resource', `${String(rt.iss)}\n${String(rt.jti)}`)) throw new AAuthError('resource_token_revoked', 'resource_token was revoked by its resource: ask the resource again');
    if (await records.isLinkRevoked('presented', `${ps.id}\n${String(rt.presented_jti)}`)) {
      throw new AAuthError('presented_token_revoked', 'The token the resource token names (presented_jti) was revoked by its person server: get a new person token, then a new resource token');
    }

    let expCap = agent.expiresAt;
    if (presentedToken !== undefined) {
      // Accepted, not required (profile section 11; -11's checklist AS-11 makes it REQUIRED): verified when sent.
      const pt = await checked('presented_token', 'presented_token_invalid', 'presented_token_expired', () =>
        verifier.verifyToken(presentedToken, [PERSON_TOKEN, AUTH_TOKEN_11], { audience: String(rt.iss), issuers: [ps.id, issuer], allowLoopback, caller }),
      );
      const c = pt.claims;
      const psOf = c.dwk === 'aauth-person.json' ? c.iss : c.ps;
      const cnf = (c.cnf as { jwk?: unknown } | undefined)?.jwk;
      const same = (claim: string) => c[claim] === rt[claim];
      if (c.jti !== rt.presented_jti || psOf !== ps.id || !same('sub') || !same('mission_s256') || !same('tenant') || cnf === undefined || computeThumbprint(cnf as never) !== agentJkt) {
        throw new AAuthError('resource_token_invalid', 'presented_token does not match the resource token (presented_jti, ps, sub, mission_s256, tenant or key)');
      }
      expCap = Math.min(expCap, pt.expiresAt);
    }
    if (upstreamToken !== undefined) {
      // AS-14: addressed to the intermediary (the agent token's issuer), from this person server; cnf not compared.
      const ut = await checked('upstream_token', 'upstream_token_invalid', 'upstream_token_expired', () =>
        verifier.verifyToken(upstreamToken, [PERSON_TOKEN, AUTH_TOKEN_11], { audience: String(agent.claims.iss), allowLoopback, caller }),
      );
      const psOf = ut.claims.dwk === 'aauth-person.json' ? ut.claims.iss : ut.claims.ps;
      if (psOf !== ps.id) throw new AAuthError('upstream_token_invalid', `upstream_token: its person server is not ${ps.id}, the one that signed this request`);
      expCap = Math.min(expCap, ut.expiresAt);
    }

    // The realm's policy (the same rules as the person server and the Keycloak profile).
    checkAgentAllowed(policy, String(agent.claims.sub));
    checkScopesAllowed(policy, parseScope(String(rt.scope)));
    // The issuance policy after the realm's rules (issue 17), before redeeming. The person is the
    // resource token's directed `sub`; the chain stays empty (the person server that asks is no agent).
    const scopes = await ctx.policy({
      generation: 'draft-11',
      endpoint: 'access-server',
      operation: 'auth-token',
      stage: 'request',
      user: String(rt.sub),
      agent: String(agent.claims.sub),
      chain: [],
      resource: String(rt.iss),
      scopes: parseScope(String(rt.scope)),
    });

    // Single use (as at the person server), once every check passed.
    const usedKey = `aauth:resource-token-11-as:${createHash('sha256').update(`${String(rt.iss)}\n${String(rt.jti)}`).digest('base64url')}`;
    const ttl = Math.max(1, Math.ceil(Number(rt.exp) - ctx.now()));
    if (!(await ctx.usedTokens.checkAndStore(usedKey, ttl))) throw new AAuthError('resource_token_invalid', 'resource_token was already redeemed; ask the resource for a new one');

    // AS-20, AS-21: sub from the resource token, cnf the agent's key, exp capped.
    const now = Math.floor(ctx.now());
    const lifetime = Math.min(settings.tokenLifespan, Math.floor(expCap) - now);
    if (lifetime < 1) throw new AAuthError('agent_token_expired', 'The agent token or a presented token expires now');
    const jti = randomBytes(16).toString('base64url');
    const optional = (claim: string) => (typeof rt[claim] === 'string' ? (rt[claim] as string) : undefined);
    const scope = scopes.join(' ');
    const token = await mintAuthToken11(key, {
      issuer,
      dwk: 'aauth-access.json',
      ps: ps.id,
      audience: String(rt.iss),
      sub: String(rt.sub),
      agentKey: agentJwk as unknown as OkpPublicJwk | EcPublicJwk,
      scope,
      ...(optional('account') !== undefined ? { account: optional('account')! } : {}),
      ...(optional('tenant') !== undefined ? { tenant: optional('tenant')! } : {}),
      ...(optional('mission_s256') !== undefined ? { missionS256: optional('mission_s256')! } : {}),
      jti,
      lifetime,
      now: () => now,
      allowLoopback,
    });
    await records.putIssued(jti, { resource: String(rt.iss), exp: now + lifetime, ps: ps.id, presentedJti: rt.presented_jti }, now + lifetime + skew);
    ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: String(agent.claims.sub), sub: String(rt.sub), resource: String(rt.iss), scope, jti });
    return { auth_token: token, expires_in: lifetime };
  }

  /**
   * AS-41: a person server revokes a person token it presented here. Recorded first, keyed by
   * `(ps, jti)`; then each auth token issued against it is revoked at its resource (AS-43), all at
   * once and each bounded in time. The answer lists one outcome per resource (`downstream`). A
   * repeated revocation records nothing new and pushes again (the last push may have failed).
   */
  async function revokePersonToken(ps: string, jti: string, exp: number): Promise<{ downstream: DownstreamOutcome[] }> {
    await records.revokeLink('presented', `${ps}\n${jti}`, exp + skew);
    ctx.audit({ type: 'token.revoked', time: ctx.now(), endpoint: 'token', agent: ps, jti });
    const now = ctx.now();
    const targets = (await records.issuedAgainst(ps, jti)).filter(([, r]) => r.exp > now);
    const outcomes = await Promise.all(
      targets.map(async ([id, r]): Promise<[string, PushOutcome]> => [r.resource, config.revocationPush ? await config.revocationPush.push({ jti: id, exp: r.exp, resource: r.resource, agent: ps }) : 'revocation_unsupported']),
    );
    // One entry per resource: its worst outcome when several tokens went there.
    const byResource = new Map<string, PushOutcome>();
    const rank = { recorded: 0, revocation_unsupported: 1, revocation_unavailable: 2 } as const;
    for (const [resource, outcome] of outcomes) {
      const before = byResource.get(resource);
      if (before === undefined || rank[outcome] > rank[before]) byResource.set(resource, outcome);
    }
    return { downstream: [...byResource].map(([recipient, outcome]) => (outcome === 'recorded' ? { recipient } : { recipient, error: outcome })) };
  }

  /** AS-42: a resource withdraws a resource token addressed here; recorded whether or not it was seen. */
  async function revokeResourceToken(resource: string, jti: string, exp: number): Promise<void> {
    await records.revokeLink('resource', `${resource}\n${jti}`, exp + skew);
    ctx.audit({ type: 'token.revoked', time: ctx.now(), endpoint: 'token', resource, jti });
  }

  return { authToken, revokePersonToken, revokeResourceToken };
}

export type AccessService = ReturnType<typeof createAccessService>;
