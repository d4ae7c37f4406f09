import { createMemoryUsedTokenStore, type AuditEvent } from '@aauth-kit/auth-server';
import { generateKey, mintResourceToken } from '@aauth-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decideOverHttp,
  decodeJwt,
  freePort,
  signInForConsent,
  signedFetch,
  startAuthServer,
  startParty,
  testRealm,
  type Party,
  type TestAuthServer,
} from '../../../test/fixtures/auth-server.js';
import { listen, type Listening } from '../../../test/fixtures/http.js';
import { ACCESS_TOKEN, basic, exchangeRealm, tokenPost, TOKEN_EXCHANGE, USER_ID as REALM_FILE_USER, userToken } from '../../../test/fixtures/oauth.js';

/**
 * Issue 13: what a security review let through at the token endpoints, each reproduced as an
 * attacker would over loopback HTTP against the real auth server, and now refused.
 */
const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const SCA_SCOPE = 'supply-chain:optimize market-analysis:analyze';

let as: TestAuthServer;
let backend: Party;
let sca: Party;
let maa: Party;
const usedTokens = createMemoryUsedTokenStore();

beforeAll(async () => {
  [backend, sca, maa] = await Promise.all([startParty('backend'), startParty('sca'), startParty('maa')]);
  as = await startAuthServer({ usedTokenStore: usedTokens });
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close(), maa?.close()]);
});

async function requestToken(agent: Party, resource: Party, scope: string, extra: Record<string, string> = {}, server: { issuer: string; tokenEndpoint: string } = as) {
  const rt = await resource.resourceToken({ agent: agent.identity, agentJkt: agent.key.thumbprint, scope, audience: server.issuer });
  return signedFetch(server.tokenEndpoint, { key: agent.key, signatureKey: agent.signatureKey, json: { resource_token: rt, ...extra } });
}

function lastRefusal(audit: AuditEvent[]): AuditEvent {
  return audit.filter((e) => e.type === 'request.refused').at(-1)!;
}

describe('finding 11: a resource token is redeemed once, until its exp', () => {
  it('redeeming the same resource token again gets 400 invalid_grant (resource_token_replayed), every time', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const redeem = () => signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    const first = await redeem();
    expect(first.status).toBe(200);
    for (const attempt of [2, 3]) {
      const again = await redeem();
      expect(again.status, `redemption ${attempt}`).toBe(400);
      expect(again.body).toEqual({ error: 'invalid_grant', error_description: 'resource_token refused: it was already redeemed; ask the resource for a new one' });
      expect(lastRefusal(as.audit)).toMatchObject({ code: 'resource_token_replayed', status: 400, agent: backend.identity, resource: sca.identity });
    }
    // The store given in options.usedTokenStore holds it (a Redis-backed store fills the same interface).
    expect(usedTokens.size).toBeGreaterThanOrEqual(1);
  });

  it('a resource token that opened a pending consent cannot open a second one', async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: SCA_SCOPE, audience: as.issuer });
    const redeem = () => signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect((await redeem()).status).toBe(202);
    const again = await redeem();
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
    expect(lastRefusal(as.audit)).toMatchObject({ code: 'resource_token_replayed', status: 400 });
  });

  it('a resource token used in an exchange cannot be exchanged again', async () => {
    const upstream = (await requestToken(backend, sca, 'data:read')).body.auth_token as string;
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'data:read', audience: as.issuer });
    const exchange = () => signedFetch(as.tokenEndpoint, { key: sca.key, signatureKey: sca.signatureKey, json: { resource_token: rt, upstream_token: upstream } });
    expect((await exchange()).status).toBe(200);
    const again = await exchange();
    expect(again.status).toBe(400);
    expect(lastRefusal(as.audit)).toMatchObject({ code: 'resource_token_replayed', status: 400 });
  });
});

describe('finding 1: the RFC 8693 actor is the authenticated client', () => {
  let oauth: TestAuthServer;
  let user: string;
  const exchange = (subject: string, actor?: string) => ({
    grant_type: TOKEN_EXCHANGE,
    subject_token: subject,
    subject_token_type: ACCESS_TOKEN,
    ...(actor === undefined ? {} : { actor_token: actor, actor_token_type: ACCESS_TOKEN }),
  });

  beforeAll(async () => {
    oauth = await startAuthServer({
      realm: exchangeRealm({
        scaIdentity: sca.identity,
        maaIdentity: maa.identity,
        extraClients: [{ clientId: 'other-service', secret: 'other-secret', serviceAccountsEnabled: true }],
      }),
    });
    user = await userToken(oauth, backend, sca, 'supply-chain:optimize crm:read');
  });
  afterAll(async () => {
    await oauth?.close();
  });

  it("the user's token as both subject and actor: 400 invalid_grant (actor_token_is_subject), not a token without act", async () => {
    const res = await tokenPost(oauth, exchange(user, user), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(lastRefusal(oauth.audit)).toMatchObject({ code: 'actor_token_is_subject', status: 400, client: 'supply-chain-agent' });
  });

  it('another of the same user\'s tokens as actor: 400 invalid_grant (actor_token_is_subject)', async () => {
    const second = await userToken(oauth, backend, sca, 'supply-chain:optimize crm:read');
    const res = await tokenPost(oauth, exchange(user, second), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(lastRefusal(oauth.audit)).toMatchObject({ code: 'actor_token_is_subject', status: 400 });
  });

  it("another client's token named as actor: 400 invalid_grant (actor_token_not_client)", async () => {
    const seen = await tokenPost(oauth, { grant_type: 'client_credentials' }, { basic: ['other-service', 'other-secret'] });
    expect(seen.status).toBe(200);
    const res = await tokenPost(oauth, exchange(user, String(seen.body.access_token)), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(lastRefusal(oauth.audit)).toMatchObject({ code: 'actor_token_not_client', status: 400, client: 'supply-chain-agent' });
  });

  it("roles inverted (the client's own token as subject, the user's as actor): 400 invalid_grant (actor_token_not_client)", async () => {
    const own = await tokenPost(oauth, { grant_type: 'client_credentials' }, { basic: basic('supply-chain-agent') });
    expect(own.status).toBe(200);
    const res = await tokenPost(oauth, exchange(String(own.body.access_token), user), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_grant');
    expect(lastRefusal(oauth.audit)).toMatchObject({ code: 'actor_token_not_client', status: 400 });
  });

  it("the client's own token as actor is accepted, and act names the client", async () => {
    const own = await tokenPost(oauth, { grant_type: 'client_credentials' }, { basic: basic('supply-chain-agent') });
    const res = await tokenPost(oauth, exchange(user, String(own.body.access_token)), { basic: basic('supply-chain-agent') });
    expect(res.status).toBe(200);
    const claims = decodeJwt(String(res.body.access_token)).claims;
    expect(claims).toMatchObject({ sub: REALM_FILE_USER, act: { sub: 'supply-chain-agent' } });
  });
});

describe('finding 15: consent is bound to the resource, and every agent of the chain is checked', () => {
  async function userTokenForSca(server: { issuer: string; tokenEndpoint: string; interactionEndpoint: string }) {
    const pending = await requestToken(backend, sca, SCA_SCOPE, {}, server);
    expect(pending.status).toBe(202);
    expect((await decideOverHttp(server.interactionEndpoint, String(pending.body.code), 'approve')).status).toBe(200);
    const done = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey });
    expect(done.status).toBe(200);
    return String(done.body.auth_token);
  }

  it('consent given for the SCA does not give supply-chain:optimize at another resource: the exchange asks the user again (202)', async () => {
    const upstream = await userTokenForSca(as);
    const res = await requestToken(sca, maa, 'supply-chain:optimize', { upstream_token: upstream });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'pending', require: 'interaction' });
    expect(as.audit.at(-1)).toMatchObject({ type: 'consent.required', agent: sca.identity, resource: maa.identity, scope: 'supply-chain:optimize' });
    // The same user approves for this resource: the token acts for that user through the chain.
    expect((await decideOverHttp(as.interactionEndpoint, String(res.body.code), 'approve')).status).toBe(200);
    const done = await signedFetch(String(res.body.location), { key: sca.key, signatureKey: sca.signatureKey });
    expect(done.status).toBe(200);
    expect(decodeJwt(String(done.body.auth_token)).claims).toMatchObject({ aud: maa.identity, agent: sca.identity, sub: USER_ID, act: { agent: backend.identity, sub: USER_ID } });
  });

  it('the new consent must come from the user the token acts for: another user cannot sign in to decide it (403 consent_user_mismatch), and it stays pending for that user', async () => {
    const realm = testRealm({}, {
      users: [
        { id: USER_ID, username: 'mcp-user', enabled: true, credentials: [{ type: 'password', value: 'user123' }] },
        { id: 'c0ffee00-0000-4000-8000-000000000002', username: 'mallory', enabled: true, credentials: [{ type: 'password', value: 'mallory123' }] },
      ],
    });
    const server = await startAuthServer({ realm });
    try {
      const upstream = await userTokenForSca(server);
      const res = await requestToken(sca, maa, 'supply-chain:optimize', { upstream_token: upstream }, server);
      expect(res.status).toBe(202);
      // Mallory's password is right, but the request is not hers: refused before any session, nothing decided.
      await expect(signInForConsent(server.interactionEndpoint, String(res.body.code), { username: 'mallory', password: 'mallory123' })).rejects.toThrow(
        /login answered 403[\s\S]*<code>consent_user_mismatch<\/code>/,
      );
      expect((await signedFetch(String(res.body.location), { key: sca.key, signatureKey: sca.signatureKey })).status).toBe(202);
      // The user the token acts for still decides it.
      expect((await decideOverHttp(server.interactionEndpoint, String(res.body.code), 'approve')).status).toBe(200);
      const done = await signedFetch(String(res.body.location), { key: sca.key, signatureKey: sca.signatureKey });
      expect(done.status).toBe(200);
      expect(decodeJwt(String(done.body.auth_token)).claims).toMatchObject({ sub: USER_ID, agent: sca.identity });
    } finally {
      await server.close();
    }
  });

  it('a token issued through an agent that is now blocked can no longer be exchanged or refreshed: 403 access_denied (upstream_agent_blocked)', async () => {
    const server = await startAuthServer();
    try {
      const upstream = String((await requestToken(backend, sca, 'data:read', {}, server)).body.auth_token);
      const ex = await requestToken(sca, maa, 'data:read', { upstream_token: upstream }, server);
      expect(ex.status).toBe(200);
      const exchanged = String(ex.body.auth_token);
      // The operator blocks the backend (the realm policy the running server reads).
      server.server.realm.policy.blockedAgents.push(backend.identity);
      const res = await requestToken(sca, maa, 'data:read', { upstream_token: upstream }, server);
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'access_denied', error_description: `Agent ${backend.identity} in the delegation chain is blocked by realm policy (aauth.blocked.agents)` });
      expect(lastRefusal(server.audit)).toMatchObject({ code: 'upstream_agent_blocked', status: 403, agent: sca.identity });

      const refreshed = await signedFetch(server.tokenEndpoint, { key: sca.key, signatureKey: sca.signatureKey, json: { auth_token: exchanged } });
      expect(refreshed.status).toBe(403);
      expect(lastRefusal(server.audit)).toMatchObject({ code: 'upstream_agent_blocked', status: 403 });
    } finally {
      await server.close();
    }
  });

  it('at the OAuth endpoint too: a subject token issued to a now blocked agent gets 403 access_denied (upstream_agent_blocked)', async () => {
    const server = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity, maaIdentity: maa.identity }) });
    try {
      const user = await userToken(server, backend, sca, 'supply-chain:optimize crm:read');
      server.server.realm.policy.blockedAgents.push(backend.identity);
      const res = await tokenPost(server, { grant_type: TOKEN_EXCHANGE, subject_token: user, subject_token_type: ACCESS_TOKEN }, { basic: basic('supply-chain-agent') });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'access_denied', error_description: `Agent ${backend.identity} in the delegation chain is blocked by realm policy (aauth.blocked.agents)` });
      expect(lastRefusal(server.audit)).toMatchObject({ code: 'upstream_agent_blocked', status: 403, client: 'supply-chain-agent' });
    } finally {
      await server.close();
    }
  });
});

describe('finding 6: refresh ends at the realm\'s SSO session maximum from the original grant', () => {
  it('refreshing again and again stops at ssoSessionMaxLifespan after auth_time: 400 invalid_grant (grant_lifetime_exceeded)', async () => {
    let offset = 0;
    const now = () => Date.now() / 1000 + offset;
    const server = await startAuthServer({ realm: testRealm({}, { ssoSessionMaxLifespan: 900 }), now });
    try {
      const first = await requestToken(backend, sca, 'data:read', {}, server);
      expect(first.status).toBe(200);
      const original = decodeJwt(String(first.body.auth_token)).claims;
      expect(original.auth_time).toBe(original.iat);
      let token = String(first.body.auth_token);
      for (const step of [400, 800]) {
        offset = step; // each token expired 100 s ago, inside the 1800 s refresh window
        const refreshed = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { auth_token: token }, now });
        expect(refreshed.status, `refresh at +${step} s`).toBe(200);
        const claims = decodeJwt(String(refreshed.body.auth_token)).claims;
        // The lineage keeps the original grant's time, and no token outlives it.
        expect(claims.auth_time).toBe(original.auth_time);
        expect(claims.exp as number).toBeLessThanOrEqual((original.auth_time as number) + 900);
        expect(refreshed.body.expires_in).toBe((claims.exp as number) - (claims.iat as number));
        token = String(refreshed.body.auth_token);
      }
      offset = 1000;
      const ended = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { auth_token: token }, now });
      expect(ended.status).toBe(400);
      expect(ended.body).toEqual({
        error: 'invalid_grant',
        error_description: 'auth_token refused: the grant it continues began more than 900 s ago (the realm\'s ssoSessionMaxLifespan); ask the resource again',
      });
      expect(lastRefusal(server.audit)).toMatchObject({ code: 'grant_lifetime_exceeded', status: 400, agent: backend.identity });
    } finally {
      await server.close();
    }
  });

  it('an exchanged token continues the upstream grant: it carries the upstream auth_time', async () => {
    const upstream = String((await requestToken(backend, sca, 'data:read')).body.auth_token);
    const res = await requestToken(sca, maa, 'data:read', { upstream_token: upstream });
    expect(res.status).toBe(200);
    expect(decodeJwt(String(res.body.auth_token)).claims.auth_time).toBe(decodeJwt(upstream).claims.auth_time);
  });
});

describe('finding 12: discovery failures give callers one uniform refusal', () => {
  let notFound: Listening;
  let hanging: Listening;
  let closedPort: number;
  let server: TestAuthServer;

  beforeAll(async () => {
    notFound = await listen((_req, res) => {
      res.statusCode = 404;
      res.end('not here');
    });
    // Accepts connections and never answers.
    hanging = await listen(() => {});
    closedPort = await freePort();
    server = await startAuthServer({ discovery: { timeoutMs: 300 } });
  });
  afterAll(async () => {
    await Promise.all([notFound?.close(), hanging?.close(), server?.close()]);
  });

  const targets = () => [`http://127.0.0.1:${closedPort}`, notFound.origin, hanging.origin];

  it('a signer naming loopback ports that refuse, answer 404 or hang: the same 401 for all, the detail only in the audit', async () => {
    const answers = [];
    const reasons = [];
    for (const id of targets()) {
      const key = generateKey({ kid: 'k1' });
      const res = await signedFetch(server.tokenEndpoint, { key, signatureKey: { scheme: 'jwks_uri', id, kid: 'k1' }, json: { resource_token: 'a.b.c' } });
      answers.push({ status: res.status, body: res.body });
      const event = lastRefusal(server.audit);
      expect(event).toMatchObject({ code: 'key_discovery_failed', status: 401 });
      reasons.push(event.reason);
    }
    expect(answers[0]).toEqual({ status: 401, body: { error: 'invalid_signature', error_description: "The signing key could not be obtained from the agent's metadata (the auth server's audit event says why)" } });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    // Operators still see what happened.
    expect(new Set(reasons).size).toBe(3);
  });

  it('a resource token whose iss names such ports: the same 400 for all, the detail only in the audit', async () => {
    const answers = [];
    const reasons = [];
    for (const issuer of targets()) {
      const key = generateKey();
      const agent = `pseudonymous:${key.thumbprint}`;
      const rt = await mintResourceToken(key, { issuer, audience: server.issuer, agent, agentJkt: key.thumbprint, scope: 'data:read' });
      const res = await signedFetch(server.tokenEndpoint, { key, json: { resource_token: rt } });
      answers.push({ status: res.status, body: res.body });
      const event = lastRefusal(server.audit);
      expect(event).toMatchObject({ code: 'invalid_grant', status: 400 });
      reasons.push(event.reason);
    }
    expect(answers[0]).toEqual({ status: 400, body: { error: 'invalid_grant', error_description: "resource_token refused: the metadata or keys of its issuer could not be obtained (the auth server's audit event says why)" } });
    expect(answers[1]).toEqual(answers[0]);
    expect(answers[2]).toEqual(answers[0]);
    expect(new Set(reasons).size).toBe(3);
  });
});
