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
}

/** A body field that must be a string when present. */
function stringField(body: Record<string, unknown>, name: string, max = 16 * 1024): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > max) {
    throw new AAuthError('invalid_request', `${name} must be a non-empty string of at most ${max} characters`);
  }
  return value;
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
    ctx.audit({ type: 'token.issued', time: ctx.now(), endpoint: 'token', agent: String(agent.claims.sub), sub: String(rt.sub), resource: String(rt.iss), scope, jti });
    return { auth_token: token, expires_in: lifetime };
  }

  return { authToken };
}

export type AccessService = ReturnType<typeof createAccessService>;
