import { type Agent, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11, type SigningKey } from '@aauth-kit/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';
import { startKitSite } from './fixtures/kit-site-11.js';

// Issue 16, first slice: the embedded auth server's -11 person server, over real loopback HTTP,
// with the kit's agent (draft11 { provider, local, ps }) and a kit express resource speaking -11
// only. The person signs in and decides on the same consent page as the Keycloak profile, driven
// here with plain HTTP form posts. The loopback relaxation is on everywhere (profile section 2).

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let providerHost: string;
let site: string;
let otherSite: string;
const resourceKey = generateKey({ kid: 'resource-1' });

const SCOPES = { 'data.read': 'Read market data', 'supply-chain:optimize': 'Optimise the supply chain' };

/** A -11-only kit resource: a person-token route, an auth-token route without consent, one with. */
function startSite(): Promise<string> {
  return startKitSite({ key: resourceKey, scopes: SCOPES, draft11: { personServers: [ps] }, routes: { '/data': 'data.read', '/optimize': 'supply-chain:optimize' }, track: (l) => open.push(l) });
}

interface Seen {
  method: string;
  path: string;
  status: number;
  body: Record<string, unknown> | undefined;
}

/** The kit's agent; every exchange with the person server is recorded; consent goes through the page over HTTP. */
function agent11(local: string, options: { decision?: 'approve' | 'deny'; username?: string; key?: SigningKey } = {}): { agent: Agent; seen: Seen[]; codes: string[] } {
  const seen: Seen[] = [];
  const codes: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === ps && url.pathname.startsWith('/aauth/person/')) {
      const text = await res.clone().text();
      let body: Record<string, unknown> | undefined;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      seen.push({ method: init?.method ?? (input instanceof Request ? input.method : 'GET'), path: url.pathname.replace(/\/pending\/.*$/, '/pending'), status: res.status, body });
    }
    return res;
  };
  const agent = createAgent({
    key: options.key ?? generateKey({ kid: `${local}-key` }),
    draft11: { provider, local, ps, allowLoopback: true },
    fetch: recording,
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      const code = new URL(url).searchParams.get('code')!;
      codes.push(code);
      const answer = await decideOverHttp(as.interactionEndpoint, code, options.decision ?? 'approve', options.username ? { username: options.username, password: 'pw2' } : {});
      expect(answer.status).toBe(200);
    },
  });
  return { agent, seen, codes };
}

beforeAll(async () => {
  as = await startAuthServer({
    draft11: { allowLoopback: true },
    realm: {
      ...testRealm(),
      users: [
        {
          id: 'c0ffee00-0000-4000-8000-000000000001',
          username: 'mcp-user',
          enabled: true,
          credentials: [{ type: 'password', value: 'user123', temporary: false }],
        },
        { id: 'c0ffee00-0000-4000-8000-000000000002', username: 'other-user', enabled: true, credentials: [{ type: 'password', value: 'pw2' }] },
      ],
    },
  });
  open.push(as);
  ps = as.server.personServer!;
  const app = express();
  let handler: express.RequestHandler = (_q, _s, next) => next();
  app.use((q, s, n) => handler(q, s, n));
  const listening = await listen(app);
  open.push(listening);
  provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
  providerHost = new URL(listening.origin).host;
  handler = provider.wellKnown() as express.RequestHandler;
  site = await startSite();
  otherSite = await startSite();
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('the person server metadata (profile section 2)', () => {
  it('serves aauth-person.json at the base URL origin, and its key with alg Ed25519', async () => {
    expect(ps).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${ps}/.well-known/aauth-person.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: ps,
      jwks_uri: `${ps}/aauth/person/jwks.json`,
      person_token_endpoint: `${ps}/aauth/person/person-token`,
      auth_token_endpoint: `${ps}/aauth/person/auth-token`,
      revocation_endpoint: `${ps}/aauth/person/revoke`,
    });
    // -11's interaction_endpoint is an agent's relay API, not offered (the consent page comes in each 202).
    expect(doc).not.toHaveProperty('interaction_endpoint');
    expect(Array.isArray(doc.scopes_supported)).toBe(true);
    // RECOMMENDED: the claims it can release, from the realm's users (mcp-user has a user name, a name, an email).
    expect(doc.claims_supported).toEqual(expect.arrayContaining(['preferred_username']));
    expect(doc.claims_supported).not.toContain('sub');
    const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
  });

  it('is not served without the loopback relaxation on an http base URL', async () => {
    const plain = await startAuthServer();
    try {
      expect(plain.server.personServer).toBeUndefined();
      expect((await fetch(`${new URL(plain.issuer).origin}/.well-known/aauth-person.json`)).status).toBe(404);
    } finally {
      await plain.close();
    }
  });
});

describe('the kit agent and a -11 kit resource against the person server', () => {
  const buyer = () => agent11('buyer');
  let flow: ReturnType<typeof buyer>;
  let personSub: string;

  it('person token: resource 401 person-token, 202 interaction, consent on the page, the poll gets the token, the resource answers 200', async () => {
    flow = buyer();
    const res = await flow.agent.fetch(`${site}/me`);
    expect(res.status).toBe(200);
    const aauth = (await res.json()) as Record<string, unknown>;
    expect(aauth).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps });
    expect(flow.seen.map((s) => [s.method, s.path, s.status])).toEqual([
      ['POST', '/aauth/person/person-token', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
    expect(flow.seen[0]!.body).toEqual({ status: 'pending' });
    // A Crockford code of 8 symbols, shown as two groups of four.
    expect(flow.codes[0]).toMatch(/^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}-[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}$/);
    const token = String(flow.seen[1]!.body!.person_token);
    const { header, claims } = decodeJwt(token);
    expect(header).toMatchObject({ typ: 'aa-person+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: ps, dwk: 'aauth-person.json', aud: site });
    expect(claims.scope).toBeUndefined();
    expect((claims.cnf as { jwk: Record<string, string> }).jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
    // One hour (aauth.person.token.lifespan), capped by the agent token's exp: when a clock second
    // passes between minting the agent token and this one, the cap makes it 3599.
    const lifetime = Number(claims.exp) - Number(claims.iat);
    expect(lifetime).toBeGreaterThanOrEqual(3590);
    expect(lifetime).toBeLessThanOrEqual(3600);
    expect(flow.seen[1]!.body!.expires_in).toBe(lifetime);
    expect(String(claims.sub)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(aauth.sub).toBe(claims.sub);
    personSub = String(claims.sub);
    const granted = as.audit.filter((e) => e.type === 'consent.granted' && e.agent === `aauth:buyer@${providerHost}`);
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatchObject({ username: 'mcp-user', resource: site });
  });

  it('directed sub: the same person gets the same sub for one resource whatever the agent, another for another resource', async () => {
    // The buyer is bound to mcp-user now: a person token for a new resource asks the person again.
    const other = await flow.agent.fetch(`${otherSite}/me`);
    expect(other.status).toBe(200);
    const otherSub = String(((await other.json()) as Record<string, unknown>).sub);
    expect(otherSub).not.toBe(personSub);
    // A second agent, approved by the same user, gets the same sub at the first resource.
    const second = agent11('seller');
    const res = await second.agent.fetch(`${site}/me`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as Record<string, unknown>).sub).toBe(personSub);
    // Another user: another sub.
    const third = agent11('stranger', { username: 'other-user' });
    const res3 = await third.agent.fetch(`${site}/me`);
    expect(res3.status).toBe(200);
    expect(((await res3.json()) as Record<string, unknown>).sub).not.toBe(personSub);
  });

  it('a bound agent and an approved resource: the next person token is issued at once (200, no interaction)', async () => {
    const again = agent11('buyer', { key: generateKey({ kid: 'buyer-2' }) });
    const res = await again.agent.fetch(`${site}/me`);
    expect(res.status).toBe(200);
    expect(again.seen.map((s) => [s.path, s.status])).toEqual([['/aauth/person/person-token', 200]]);
    expect(again.codes).toEqual([]);
  });

  it('auth token, three-party, no consent needed: resource token -> aa-auth+jwt -> 200', async () => {
    const before = flow.seen.length;
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps, sub: personSub, scope: ['data.read'] });
    const mine = flow.seen.slice(before);
    expect(mine.map((s) => [s.method, s.path, s.status])).toEqual([['POST', '/aauth/person/auth-token', 200]]);
    const { header, claims } = decodeJwt(String(mine[0]!.body!.auth_token));
    expect(header).toMatchObject({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: ps, dwk: 'aauth-person.json', aud: site, ps, sub: personSub, scope: 'data.read' });
    expect(claims.agent).toBeUndefined();
    expect(claims.act).toBeUndefined();
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
  });

  it('auth token with a consent scope: 202, consent on the page, the poll gets the token, 200', async () => {
    const before = flow.seen.length;
    const res = await flow.agent.fetch(`${site}/optimize`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'draft-11', sub: personSub, scope: ['supply-chain:optimize'] });
    expect(flow.seen.slice(before).map((s) => [s.method, s.path, s.status])).toEqual([
      ['POST', '/aauth/person/auth-token', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
  });
});

describe('refusals with their -11 codes (profile section 9)', () => {
  async function agentToken(local: string, key: SigningKey, lifetime?: number): Promise<string> {
    return provider.mintAgentToken({ local, agentKey: key, ps, ...(lifetime ? { lifetime } : {}) });
  }

  it('a denied consent: the poll answers 403 denied, and the pending URL is gone after (410 invalid_code)', async () => {
    const key = generateKey({ kid: 'denied-1' });
    const jwt = await agentToken('denied', key);
    const signatureKey = { scheme: 'jwt' as const, jwt };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    expect(post.headers.get('cache-control')).toBe('no-store');
    expect(post.headers.get('retry-after')).toBe('5');
    const requirement = post.headers.get('aauth-requirement')!;
    const code = /code="([^"]+)"/.exec(requirement)![1]!;
    expect(requirement).toBe(`requirement=interaction; url="${as.interactionEndpoint}"; code="${code}"`);
    const location = post.headers.get('location')!;
    expect(new URL(location).origin).toBe(ps);
    const pending = await signedFetch(location, { key, signatureKey });
    expect(pending.status).toBe(202);
    expect(pending.body).toEqual({ status: 'pending' });
    // Lower case and without the hyphen: the same code (Crockford, case-insensitive).
    expect((await decideOverHttp(as.interactionEndpoint, code.replace('-', '').toLowerCase(), 'deny')).status).toBe(200);
    const denied = await signedFetch(location, { key, signatureKey });
    expect(denied.status).toBe(403);
    expect(denied.headers.get('content-type')).toBe('application/problem+json');
    expect(denied.headers.get('signature-error')).toBeNull();
    expect(denied.body).toMatchObject({ error: 'denied' });
    const gone = await signedFetch(location, { key, signatureKey });
    expect(gone.status).toBe(410);
    expect(gone.body).toMatchObject({ error: 'invalid_code' });
  });

  it('Prefer: wait=N holds the poll until the person decides, then answers 200', async () => {
    const key = generateKey({ kid: 'waiter-1' });
    const jwt = await agentToken('waiter', key);
    const signatureKey = { scheme: 'jwt' as const, jwt };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    const polled = signedFetch(post.headers.get('location')!, { key, signatureKey, extraHeaders: { prefer: 'wait=20' } });
    // The poll is held: the decision is taken while it waits, and the held poll carries the token.
    await decideOverHttp(as.interactionEndpoint, code, 'approve');
    const answer = await polled;
    expect(answer.status).toBe(200);
    expect(decodeJwt(String(answer.body.person_token)).header.typ).toBe('aa-person+jwt');
  });

  it('another key cannot poll a pending URL (410), and the agent is re-verified on every poll (401 Signature-Error)', async () => {
    const key = generateKey({ kid: 'poller-1' });
    const signatureKey = { scheme: 'jwt' as const, jwt: await agentToken('poller', key) };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction'] } });
    const location = post.headers.get('location')!;
    const thief = generateKey({ kid: 'thief-1' });
    const stolen = await signedFetch(location, { key: thief, signatureKey: { scheme: 'jwt', jwt: await agentToken('thief', thief) } });
    expect(stolen.status).toBe(410);
    expect(stolen.body).toMatchObject({ error: 'invalid_code' });
    // Signed with a key the agent token is not bound to: a signature failure, 401 with Signature-Error.
    const forged = await signedFetch(location, { key: thief, signatureKey });
    expect(forged.status).toBe(401);
    expect(forged.headers.get('signature-error')).toMatch(/^error=/);
    // Unsigned: invalid_signature (-11 section 11.3.4, PS-102).
    const unsigned = await fetch(location);
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('signature-error')).toBe('error=invalid_signature');
    // The rightful agent still polls it: 202.
    expect((await signedFetch(location, { key, signatureKey })).status).toBe(202);
  });

  it('person token endpoint: invalid_request (400) for a missing or non-identifier resource; user_unreachable (403) without the interaction capability', async () => {
    const key = generateKey({ kid: 'bad-1' });
    const signatureKey = { scheme: 'jwt' as const, jwt: await agentToken('bad', key) };
    const url = `${ps}/aauth/person/person-token`;
    const missing = await signedFetch(url, { key, signatureKey, json: { capabilities: ['interaction'] } });
    expect([missing.status, missing.body.error]).toEqual([400, 'invalid_request']);
    const path = await signedFetch(url, { key, signatureKey, json: { resource: `${site}/path`, capabilities: ['interaction'] } });
    expect([path.status, path.body.error]).toEqual([400, 'invalid_request']);
    const unreachable = await signedFetch(url, { key, signatureKey, json: { resource: site } });
    expect([unreachable.status, unreachable.body.error]).toEqual([403, 'user_unreachable']);
    expect(unreachable.headers.get('signature-error')).toBeNull();
  });

  it('a request not signed with an agent token: 401 invalid_jwt (published -11: a Signature-Key token fails with Signature-Error); an expired agent token: 401 expired_jwt', async () => {
    const key = generateKey({ kid: 'p-1' });
    // A person token of this server under sig=jwt is not an agent token.
    const flow = agent11('holder', { key });
    expect((await flow.agent.fetch(`${site}/me`)).status).toBe(200);
    const personToken = String(flow.seen.find((s) => s.body?.person_token)!.body!.person_token);
    const wrong = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey: { scheme: 'jwt', jwt: personToken }, json: { resource: site } });
    expect([wrong.status, wrong.body.error]).toEqual([401, 'invalid_jwt']);
    expect(wrong.headers.get('signature-error')).toBe('error=invalid_jwt');
    const past = () => Date.now() / 1000 - 7200;
    const oldProvider = createAgentProvider({ issuer: provider.issuer, key: generateKey({ kid: 'ap-old' }), allowLoopback: true, now: past });
    const expiredJwt = oldProvider.mintAgentToken({ local: 'late', agentKey: key, lifetime: 60 });
    const expired = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey: { scheme: 'jwt', jwt: expiredJwt }, json: { resource: site } });
    expect(expired.status).toBe(401);
    expect(expired.headers.get('signature-error')).toBe('error=expired_jwt');
  });

  it('auth token endpoint: invalid_request, invalid_resource_token (garbage, agent_jkt, aud), invalid_presented_token', async () => {
    const key = generateKey({ kid: 'rt-1' });
    const signatureKey = { scheme: 'jwt' as const, jwt: await agentToken('rt', key) };
    const url = `${ps}/aauth/person/auth-token`;
    // presented_token is REQUIRED (PS-30); here a placeholder, as the resource token fails first.
    const presented_token = 'not.a.token';
    const garbage = await signedFetch(url, { key, signatureKey, json: { resource_token: 'not.a.jwt', presented_token } });
    expect([garbage.status, garbage.body.error]).toEqual([400, 'invalid_resource_token']);
    const none = await signedFetch(url, { key, signatureKey, json: {} });
    expect([none.status, none.body.error]).toEqual([400, 'invalid_request']);
    // A well-formed resource token from the real resource, naming a person token this server never issued.
    const mint = (presentedJti: string, agentJkt = key.thumbprint) =>
      mintResourceToken11(resourceKey, { issuer: site, audience: ps, ps, sub: 'nobody', presentedJti, agentJkt, scope: 'data.read', allowLoopback: true });
    const unknown = await signedFetch(url, { key, signatureKey, json: { resource_token: await mint('never-issued'), presented_token } });
    expect([unknown.status, unknown.body.error]).toEqual([400, 'invalid_presented_token']);
    const without = await signedFetch(url, { key, signatureKey, json: { resource_token: await mint('never-issued') } });
    expect([without.status, without.body.error, without.body.detail]).toEqual([400, 'invalid_request', expect.stringContaining('presented_token is required')]);
    // Bound to another agent key (agent_jkt): invalid_resource_token.
    const other = await signedFetch(url, { key, signatureKey, json: { resource_token: await mint('never-issued', generateKey().thumbprint), presented_token } });
    expect([other.status, other.body.error]).toEqual([400, 'invalid_resource_token']);
    // Addressed to another server (aud): invalid_resource_token.
    const elsewhere = await mintResourceToken11(resourceKey, { issuer: site, audience: 'https://other-ps.example', ps, sub: 'nobody', presentedJti: 'x', agentJkt: key.thumbprint, scope: 'data.read', allowLoopback: true });
    const aud = await signedFetch(url, { key, signatureKey, json: { resource_token: elsewhere, presented_token } });
    expect([aud.status, aud.body.error]).toEqual([400, 'invalid_resource_token']);
  });

  it('a resource token is redeemed once; a revoked person token backs no further auth token', async () => {
    const key = generateKey({ kid: 'once-1' });
    const flow = agent11('once', { key });
    expect((await flow.agent.fetch(`${site}/me`)).status).toBe(200);
    const presented_token = String(flow.seen.find((s) => s.body?.person_token)!.body!.person_token);
    const person = decodeJwt(presented_token).claims;
    const signatureKey = { scheme: 'jwt' as const, jwt: await agentToken('once', key) };
    const url = `${ps}/aauth/person/auth-token`;
    const mint = () =>
      mintResourceToken11(resourceKey, { issuer: site, audience: ps, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: key.thumbprint, scope: 'data.read', allowLoopback: true });
    const rt = await mint();
    const first = await signedFetch(url, { key, signatureKey, json: { resource_token: rt, presented_token } });
    expect(first.status).toBe(200);
    expect(decodeJwt(String(first.body.auth_token)).claims).toMatchObject({ iss: ps, aud: site, sub: person.sub, scope: 'data.read' });
    const replay = await signedFetch(url, { key, signatureKey, json: { resource_token: rt, presented_token } });
    expect([replay.status, replay.body.error]).toEqual([400, 'invalid_resource_token']);
    // Revocation by the holder: {iss, jti}; then 200 for a jti it does not hold (-11 has no "not found").
    const revoked = await signedFetch(`${ps}/aauth/person/revoke`, { key, signatureKey, json: { iss: ps, jti: person.jti } });
    expect(revoked.status).toBe(200);
    const unknown = await signedFetch(`${ps}/aauth/person/revoke`, { key, signatureKey, json: { iss: ps, jti: 'not-issued' } });
    expect([unknown.status, unknown.body]).toEqual([200, {}]);
    const after = await signedFetch(url, { key, signatureKey, json: { resource_token: await mint(), presented_token } });
    // Published -11 "Revocation Cascade": a resource token naming a revoked person token is revoked_presented_token.
    expect([after.status, after.body.error]).toEqual([400, 'revoked_presented_token']);
  });
});
