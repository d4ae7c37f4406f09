import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuthServer, type AuditEvent, type AuthServer } from '@aauth-kit/auth-server';
import { type Agent, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { algOf11 } from '@aauth-kit/core/internal';
import { generateKey, mintResourceToken11, saveKeyFile, signRequest, type SignatureKey, type SigningKey } from '@aauth-kit/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { freePort, listen } from './fixtures/http.js';
import { startKitSite } from './fixtures/kit-site-11.js';

// Issue 16: revocation cascades (AAuth -11 "Revocation Cascade", "Revocation Response"; access
// server checklist AS-40..AS-44). Three-party: revoking a person token at the person server also
// revokes the auth tokens it issued against it, at their resource. Four-party: the person server
// forwards the person token's revocation to the access server it presented it to, which revokes
// the auth tokens it issued against it at their resources and answers with a `downstream` array.
// Two embedded auth servers (person server, access server), kit resources with draft11.revocation,
// the kit's agent; real loopback HTTP, the loopback relaxation on everywhere.

const open: Array<{ close(): Promise<void> }> = [];
const dir = mkdtempSync(join(tmpdir(), 'aauth-cascade-'));
/** The person server's key (from its keyFile), so a test can sign as the person server itself. */
const psKey = generateKey({ kid: 'ps-cascade-1' });
const resourceKey = generateKey({ kid: 'resource-cascade-1' });
const rogueKey = generateKey({ kid: 'rogue-ps-1' });
let psAuth: TestAuthServer;
let asAuth: { server: AuthServer; audit: AuditEvent[]; close(): Promise<void> };
let ps: string;
let as: string;
let provider: AgentProvider;
/** A three-party resource (tokens from the person server) and a four-party one (auth tokens from the access server). */
let site3: string;
let site4: string;
/** A server publishing person-server metadata the access server does not trust. */
let rogue: string;

function startSite(accessServer?: string, revocation = true): Promise<string> {
  return startKitSite({ key: resourceKey, scopes: { 'data.read': 'Read market data' }, draft11: { personServers: [ps], revocation, ...(accessServer ? { accessServer } : {}) }, track: (l) => open.push(l) });
}

interface Seen {
  url: string;
  status: number;
  body: Record<string, unknown> | undefined;
}

/** The kit's agent with a known key; its exchanges with the person server are recorded; consent over HTTP. */
function agent11(local: string): { agent: Agent; key: SigningKey; seen: Seen[] } {
  const seen: Seen[] = [];
  const key = generateKey({ kid: `${local}-key` });
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === ps) {
      let body: Record<string, unknown> | undefined;
      try {
        body = (await res.clone().json()) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      seen.push({ url: url.pathname, status: res.status, body });
    }
    return res;
  };
  const agent = createAgent({
    key,
    draft11: { provider, local, ps, allowLoopback: true },
    fetch: recording,
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      expect((await decideOverHttp(psAuth.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve')).status).toBe(200);
    },
  });
  return { agent, key, seen };
}

/** The last token of `member` the person server handed to this agent. */
function lastToken(seen: Seen[], member: 'person_token' | 'auth_token'): string {
  return String([...seen].reverse().find((s) => typeof s.body?.[member] === 'string')!.body![member]);
}

/** The holder revokes at the person server, signed with an agent token for its own key. */
function revokeAtPs(key: SigningKey, local: string, body: Record<string, unknown>) {
  const jwt = provider.mintAgentToken({ local, agentKey: key, ps });
  return signedFetch(`${ps}/aauth/person/revoke`, { key, signatureKey: { scheme: 'jwt', jwt }, json: body });
}

/** A request to a resource signed with a token under sig=jwt (the token's cnf key). */
function present(url: string, key: SigningKey, jwt: string) {
  return signedFetch(url, { key, signatureKey: { scheme: 'jwt', jwt } });
}

/** A request signed as a server under sig=jwks_uri (default: the person server), to the access server. */
async function asServer(url: string, options: { key?: SigningKey; id?: string; dwk?: string; json?: unknown; body?: string; method?: string; signatureKey?: SignatureKey; components?: string[] } = {}) {
  const key = options.key ?? psKey;
  const method = options.method ?? 'POST';
  const body = method === 'POST' ? (options.body ?? JSON.stringify(options.json ?? {})) : undefined;
  const headers: Record<string, string> = body !== undefined ? { 'content-type': 'application/json' } : {};
  const sk: SignatureKey = options.signatureKey ?? { scheme: 'jwks_uri', id: options.id ?? ps, dwk: options.dwk ?? 'aauth-person.json', kid: key.kid };
  const signed = signRequest({ method, url, headers, body }, { key, signatureKey: sk, nonce: true, ...(options.components ? { components: options.components } : {}) });
  const res = await fetch(url, { method, headers: { ...headers, ...signed.headers }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const soon = () => Math.floor(Date.now() / 1000) + 600;

beforeAll(async () => {
  const app = express();
  let handler: express.RequestHandler = (_q, _s, next) => next();
  app.use((q, s, n) => handler(q, s, n));
  const listening = await listen(app);
  open.push(listening);
  provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-cascade' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;

  const asPort = await freePort();
  as = `http://127.0.0.1:${asPort}`;
  const keyFile = join(dir, 'ps-key.json');
  saveKeyFile(keyFile, psKey);
  psAuth = await startAuthServer({ draft11: { allowLoopback: true, keyFile }, realm: testRealm({ 'aauth.person.trusted.access.servers': JSON.stringify([as]) }) });
  open.push(psAuth);
  ps = psAuth.server.personServer!;
  const audit: AuditEvent[] = [];
  const server = createAuthServer({
    baseUrl: as,
    draft11: { allowLoopback: true },
    realm: testRealm({ 'aauth.access.enabled': 'true', 'aauth.access.trusted.person.servers': JSON.stringify([ps]) }),
    onAudit: (e) => audit.push(e),
    onWarning: () => undefined,
  });
  const running = await server.listen(asPort);
  asAuth = { server, audit, close: running.close };
  open.push(asAuth);

  site3 = await startSite();
  site4 = await startSite(as);
  // A server identity with person-server metadata and a key, which the access server does not trust.
  const rogueApp = express();
  const rogueListening = await listen(rogueApp);
  open.push(rogueListening);
  rogue = rogueListening.origin;
  const { kid: _kid, ...jwk } = rogueKey.toPublishedJwk() as unknown as Record<string, string>;
  rogueApp.get('/.well-known/aauth-person.json', (_q, res) => res.json({ issuer: rogue, jwks_uri: `${rogue}/jwks.json` }));
  rogueApp.get('/jwks.json', (_q, res) => res.json({ keys: [{ ...jwk, kid: rogueKey.kid, alg: algOf11(rogueKey.jwk) }] }));
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('three-party: revoking a person token revokes the auth tokens issued against it', () => {
  let flow: ReturnType<typeof agent11>;
  let personToken: string;
  let authToken: string;

  it('the agent gets a person token and an auth token against it; the resource answers 200 to both', async () => {
    flow = agent11('buyer3');
    expect((await flow.agent.fetch(`${site3}/data`)).status).toBe(200);
    personToken = lastToken(flow.seen, 'person_token');
    authToken = lastToken(flow.seen, 'auth_token');
    expect(decodeJwt(authToken).claims).toMatchObject({ iss: ps, aud: site3, scope: 'data.read' });
    expect((await present(`${site3}/data`, flow.key, authToken)).status).toBe(200);
    expect((await present(`${site3}/me`, flow.key, personToken)).status).toBe(200);
  });

  it('the holder revokes the person token: 200 {}; both tokens are revoked and pushed to the resource', async () => {
    const personJti = String(decodeJwt(personToken).claims.jti);
    const authJti = String(decodeJwt(authToken).claims.jti);
    const before = psAuth.audit.length;
    const revoked = await revokeAtPs(flow.key, 'buyer3', { iss: ps, jti: personJti });
    expect([revoked.status, revoked.body]).toEqual([200, {}]);
    const events = psAuth.audit.slice(before);
    expect(events.filter((e) => e.type === 'token.revoked').map((e) => [e.jti, e.resource])).toEqual([
      [personJti, site3],
      [authJti, site3],
    ]);
    const pushed = events.filter((e) => e.type === 'revocation.pushed').map((e) => [e.jti, e.resource, e.error]);
    expect(pushed).toHaveLength(2);
    expect(pushed).toEqual(expect.arrayContaining([[personJti, site3, undefined], [authJti, site3, undefined]]));
  });

  it('the resource refuses the auth token issued against it: 401 revoked_jwt, requirement=person-token', async () => {
    const res = await present(`${site3}/data`, flow.key, authToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=revoked_jwt');
    expect(res.headers.get('aauth-requirement')).toBe('requirement=person-token');
    const person = await present(`${site3}/me`, flow.key, personToken);
    expect([person.status, person.headers.get('signature-error')]).toEqual([401, 'error=revoked_jwt']);
  });

  it('no further auth token against the revoked person token: 400 revoked_presented_token', async () => {
    const person = decodeJwt(personToken).claims;
    const rt = await mintResourceToken11(resourceKey, { issuer: site3, audience: ps, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: flow.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const jwt = provider.mintAgentToken({ local: 'buyer3', agentKey: flow.key, ps });
    const res = await signedFetch(`${ps}/aauth/person/auth-token`, { key: flow.key, signatureKey: { scheme: 'jwt', jwt }, json: { resource_token: rt, presented_token: personToken } });
    expect([res.status, res.body.error]).toEqual([400, 'revoked_presented_token']);
  });
});

describe('four-party: the person server forwards the revocation to the access server, which cascades', () => {
  let flow: ReturnType<typeof agent11>;
  let personToken: string;
  let authToken: string;

  it('the access server publishes its revocation_endpoint (AS-02)', async () => {
    const doc = (await (await fetch(`${as}/.well-known/aauth-access.json`)).json()) as Record<string, unknown>;
    expect(doc.revocation_endpoint).toBe(`${as}/aauth/access/revoke`);
  });

  it('the agent gets an auth token of the access server (federated) and the resource answers 200', async () => {
    flow = agent11('buyer4');
    expect((await flow.agent.fetch(`${site4}/data`)).status).toBe(200);
    personToken = lastToken(flow.seen, 'person_token');
    authToken = lastToken(flow.seen, 'auth_token');
    expect(decodeJwt(authToken).claims).toMatchObject({ iss: as, dwk: 'aauth-access.json', aud: site4, ps });
  });

  it('revoking the person token at the PS: pushed to the resource and forwarded to the AS; the AS revokes its auth token at the resource', async () => {
    const personJti = String(decodeJwt(personToken).claims.jti);
    const authJti = String(decodeJwt(authToken).claims.jti);
    const psBefore = psAuth.audit.length;
    const asBefore = asAuth.audit.length;
    const revoked = await revokeAtPs(flow.key, 'buyer4', { iss: ps, jti: personJti });
    expect([revoked.status, revoked.body]).toEqual([200, {}]);
    // The PS: the person token only (the auth token is the AS's), pushed to its resource and to the AS.
    const psEvents = psAuth.audit.slice(psBefore);
    expect(psEvents.filter((e) => e.type === 'token.revoked').map((e) => e.jti)).toEqual([personJti]);
    expect(psEvents.filter((e) => e.type === 'revocation.pushed').map((e) => [e.resource, e.jti, e.error])).toEqual(expect.arrayContaining([[site4, personJti, undefined], [as, personJti, undefined]]));
    // The AS: recorded (ps, jti), then pushed its auth token's revocation to the resource, signed as itself.
    const asEvents = asAuth.audit.slice(asBefore);
    expect(asEvents.map((e) => [e.type, e.agent, e.resource, e.jti, e.error])).toEqual([
      ['token.revoked', ps, undefined, personJti, undefined],
      ['revocation.pushed', ps, site4, authJti, undefined],
    ]);
  });

  it("the resource refuses the access server's auth token: 401 revoked_jwt", async () => {
    const res = await present(`${site4}/data`, flow.key, authToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=revoked_jwt');
  });

  it('a repeated revocation at the AS answers 200 with the downstream outcome per resource; an unknown jti has none', async () => {
    const personJti = String(decodeJwt(personToken).claims.jti);
    const again = await asServer(`${as}/aauth/access/revoke`, { json: { jti: personJti, exp: soon() } });
    expect(again.status).toBe(200);
    expect(again.headers.get('content-type')).toMatch(/^application\/json/);
    expect(again.body).toEqual({ downstream: [{ recipient: site4 }] });
    const unknown = await asServer(`${as}/aauth/access/revoke`, { json: { jti: 'never-issued', exp: soon() } });
    expect([unknown.status, unknown.body]).toEqual([200, { downstream: [] }]);
  });

  it('AS-41: the AS issues no auth token against the revoked person token (400 revoked_presented_token)', async () => {
    const person = decodeJwt(personToken).claims;
    const rt = await mintResourceToken11(resourceKey, { issuer: site4, audience: as, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: flow.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const agentToken = provider.mintAgentToken({ local: 'buyer4', agentKey: flow.key, ps });
    const res = await asServer(`${as}/aauth/access/auth-token`, { json: { resource_token: rt, agent_token: agentToken } });
    expect([res.status, res.body.error]).toEqual([400, 'revoked_presented_token']);
  });
});

describe('the downstream outcomes in the access server answer (AAuth -11 "Revocation Response")', () => {
  it('a resource without a revocation_endpoint: {downstream: [{recipient, error: revocation_unsupported}]}', async () => {
    const plain = await startSite(as, false);
    const flow = agent11('unheard');
    expect((await flow.agent.fetch(`${plain}/data`)).status).toBe(200);
    const person = decodeJwt(lastToken(flow.seen, 'person_token')).claims;
    const res = await asServer(`${as}/aauth/access/revoke`, { json: { jti: person.jti, exp: person.exp } });
    expect([res.status, res.body]).toEqual([200, { downstream: [{ recipient: plain, error: 'revocation_unsupported' }] }]);
    // Revoked at the access server all the same: no further auth token against it.
    const rt = await mintResourceToken11(resourceKey, { issuer: plain, audience: as, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: flow.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const again = await asServer(`${as}/aauth/access/auth-token`, { json: { resource_token: rt, agent_token: provider.mintAgentToken({ local: 'unheard', agentKey: flow.key, ps }) } });
    expect([again.status, again.body.error]).toEqual([400, 'revoked_presented_token']);
  });
});

describe('AS-42: a resource withdraws a resource token addressed to the access server', () => {
  it('recorded (200, empty body) though never seen; a token request naming it is refused with revoked_resource_token', async () => {
    const flow = agent11('withdrawn');
    expect((await flow.agent.fetch(`${site4}/me`)).status).toBe(200);
    const person = decodeJwt(lastToken(flow.seen, 'person_token')).claims;
    const rt = await mintResourceToken11(resourceKey, { issuer: site4, audience: as, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: flow.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const { jti, exp } = decodeJwt(rt).claims;
    const withdrawn = await asServer(`${as}/aauth/access/revoke`, { key: resourceKey, id: site4, dwk: 'aauth-resource.json', json: { jti, exp } });
    expect([withdrawn.status, withdrawn.text, withdrawn.headers.get('content-type')]).toEqual([200, '', null]);
    const agentToken = provider.mintAgentToken({ local: 'withdrawn', agentKey: flow.key, ps });
    const res = await asServer(`${as}/aauth/access/auth-token`, { json: { resource_token: rt, agent_token: agentToken } });
    expect([res.status, res.body.error]).toEqual([400, 'revoked_resource_token']);
    // Another resource token of the same resource is not affected.
    const fresh = await mintResourceToken11(resourceKey, { issuer: site4, audience: as, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: flow.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const ok = await asServer(`${as}/aauth/access/auth-token`, { json: { resource_token: fresh, agent_token: agentToken } });
    expect([ok.status, decodeJwt(String(ok.body.auth_token)).claims.iss]).toEqual([200, as]);
  });
});

describe("hostile requests at the access server's revocation endpoint (AS-40)", () => {
  const url = () => `${as}/aauth/access/revoke`;

  it('unsigned: 401 with Signature-Error invalid_signature (-09 5.4.4, -11 11.3.4)', async () => {
    const res = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jti: 'x', exp: soon() }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('a person server the access server does not trust: 403 unsupported_iss, and nothing fetched from it', async () => {
    const res = await asServer(url(), { key: rogueKey, id: rogue, json: { jti: 'x', exp: soon() } });
    expect([res.status, res.body.error]).toEqual([403, 'unsupported_iss']);
  });

  it('another document than a person server or resource (dwk aauth-access.json): 403 unsupported_iss', async () => {
    const res = await asServer(url(), { dwk: 'aauth-access.json', json: { jti: 'x', exp: soon() } });
    expect([res.status, res.body.error]).toEqual([403, 'unsupported_iss']);
  });

  it('an agent signature (sig=jwt, an agent token): 401 unsupported_scheme with Accept-Signature-Scheme: jwks_uri', async () => {
    const key = generateKey({ kid: 'agent-at-as' });
    const res = await signedFetch(url(), { key, signatureKey: { scheme: 'jwt', jwt: provider.mintAgentToken({ local: 'intruder', agentKey: key, ps }) }, json: { jti: 'x', exp: soon() } });
    expect([res.status, res.body.error]).toEqual([401, 'unsupported_scheme']);
    expect(res.headers.get('signature-error')).toBe('error=unsupported_scheme');
    expect(res.headers.get('accept-signature-scheme')).toBe('jwks_uri');
  });

  it('content-digest not covered: 401 invalid_input naming it', async () => {
    const res = await asServer(url(), { json: { jti: 'x', exp: soon() }, components: ['@method', '@authority', '@path', 'signature-key'] });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=invalid_input, required_input=\(.*"content-digest".*\)$/);
  });

  it.each([
    ['not JSON', 'jti=x'],
    ['an array', '[]'],
    ['no jti', JSON.stringify({ exp: 2000000000 })],
    ['a numeric jti', JSON.stringify({ jti: 5, exp: 2000000000 })],
    ['no exp', JSON.stringify({ jti: 'x' })],
    ['a string exp', JSON.stringify({ jti: 'x', exp: '2000000000' })],
    ['an exp far ahead', JSON.stringify({ jti: 'x', exp: 4000000000 })],
    ['an iss naming another server', JSON.stringify({ jti: 'x', exp: 2000000000, iss: 'https://other.example' })],
  ])('a malformed body (%s): 400 invalid_request', async (_what, body) => {
    const res = await asServer(url(), { body });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
  });

  it('another method: 405 with Allow: POST', async () => {
    const res = await fetch(url());
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(((await res.json()) as Record<string, unknown>).error).toBe('method_not_allowed');
  });
});
