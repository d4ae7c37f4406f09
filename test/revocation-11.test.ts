import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { algOf11 } from '@aauth-kit/core/internal';
import { generateKey, saveKeyFile, signRequest, type SignatureKey, type SigningKey } from '@aauth-kit/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';
import { startKitSite } from './fixtures/kit-site-11.js';

// Issue 16: revocation reaches resources (AAuth -11 "Token Revocation"; resource checklist RS-03,
// RS-43, RS-60, RS-61). The holder revokes a person or auth token at the embedded person server,
// which pushes {jti, exp} to the revocation_endpoint of the token's resource, signed as itself
// under sig=jwks_uri; a kit resource with draft11.revocation refuses the token from then on with
// `Signature-Error: error=revoked_jwt`. Real loopback HTTP, the loopback relaxation on everywhere.

const open: Array<{ close(): Promise<void> }> = [];
const dir = mkdtempSync(join(tmpdir(), 'aauth-revocation-'));
/** The person server's key, so the hostile cases can sign as the person server itself. */
const psKey = generateKey({ kid: 'ps-revocation-1' });
const resourceKey = generateKey({ kid: 'resource-1' });
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
/** A resource with draft11.revocation, one without (the opt-in), one with a low rate limit. */
let site: string;
let plain: string;
let limited: string;
/** A server identifier this resource does not trust, with its own metadata and key. */
let rogue: string;
const rogueKey = generateKey({ kid: 'rogue-1' });

function startSite(revocation: boolean | { ratePerMinute: number; path: string }): Promise<string> {
  return startKitSite({ key: resourceKey, draft11: { personServers: [ps], authorizationEndpoint: '/authorize', revocation }, track: (l) => open.push(l) });
}

/** A server that publishes -11 person-server metadata and a JWKS for `key` (no endpoints). */
async function startServerIdentity(key: SigningKey): Promise<string> {
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const { kid: _kid, ...jwk } = key.toPublishedJwk() as unknown as Record<string, string>;
  app.get('/.well-known/aauth-person.json', (_q, res) => res.json({ issuer: listening.origin, jwks_uri: `${listening.origin}/jwks.json` }));
  app.get('/jwks.json', (_q, res) => res.json({ keys: [{ ...jwk, kid: key.kid, alg: algOf11(key.jwk) }] }));
  return listening.origin;
}

interface Seen {
  url: string;
  status: number;
  signatureError: string | null;
  requirement: string | null;
  body: Record<string, unknown> | undefined;
}

/** The kit's agent with a known key; every exchange is recorded; consent goes through the page over HTTP. */
function agent11(local: string): { agent: Agent; key: SigningKey; seen: Seen[] } {
  const seen: Seen[] = [];
  const key = generateKey({ kid: `${local}-key` });
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const text = await res.clone().text();
    let body: Record<string, unknown> | undefined;
    try {
      body = JSON.parse(text) as Record<string, unknown>;
    } catch {
      body = undefined;
    }
    const url = new URL(input instanceof Request ? input.url : String(input));
    seen.push({ url: `${url.origin}${url.pathname.replace(/\/pending\/.*$/, '/pending')}`, status: res.status, signatureError: res.headers.get('signature-error'), requirement: res.headers.get('aauth-requirement'), body });
    return res;
  };
  const agent = createAgent({
    key,
    draft11: { provider, local, ps, allowLoopback: true },
    fetch: recording,
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      const answer = await decideOverHttp(as.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve');
      expect(answer.status).toBe(200);
    },
  });
  return { agent, key, seen };
}

/** The last token of `member` the person server handed to this agent. */
function lastToken(seen: Seen[], member: 'person_token' | 'auth_token'): string {
  const found = [...seen].reverse().find((s) => s.url.startsWith(ps) && typeof s.body?.[member] === 'string');
  return String(found!.body![member]);
}

/** The holder revokes at the person server, signed with an agent token for its own key. */
async function revokeAtPs(key: SigningKey, local: string, body: Record<string, unknown>) {
  const jwt = provider.mintAgentToken({ local, agentKey: key, ps });
  return signedFetch(`${ps}/aauth/person/revoke`, { key, signatureKey: { scheme: 'jwt', jwt }, json: body });
}

/** A request to a resource signed with a token under sig=jwt (the token's cnf key). */
function present(url: string, key: SigningKey, jwt: string, json?: unknown) {
  return signedFetch(url, { key, signatureKey: { scheme: 'jwt', jwt }, ...(json === undefined ? {} : { json }) });
}

/** A revocation sent to `url` as a server: signed under sig=jwks_uri with `key`, as `id` through `dwk`. */
async function pushAs(url: string, options: { key?: SigningKey; id?: string; dwk?: string; body?: string; contentType?: string; components?: string[]; method?: string; signatureKey?: SignatureKey }) {
  const key = options.key ?? psKey;
  const method = options.method ?? 'POST';
  const body = options.body ?? JSON.stringify({ jti: `jti-${Math.random()}`, exp: Math.floor(Date.now() / 1000) + 600 });
  const headers: Record<string, string> = method === 'POST' ? { 'content-type': options.contentType ?? 'application/json' } : {};
  const sk: SignatureKey = options.signatureKey ?? { scheme: 'jwks_uri', id: options.id ?? ps, dwk: options.dwk ?? 'aauth-person.json', kid: key.kid };
  const signed = signRequest(
    { method, url, headers, body: method === 'POST' ? body : undefined },
    { key, signatureKey: sk, signatureKeyForm: 'dictionary', nonce: true, ...(options.components ? { components: options.components } : {}) },
  );
  const res = await fetch(url, { method, headers: { ...headers, ...signed.headers }, body: method === 'POST' ? body : undefined });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  const keyFile = join(dir, 'ps-key.json');
  saveKeyFile(keyFile, psKey);
  as = await startAuthServer({ draft11: { allowLoopback: true, keyFile }, realm: testRealm() });
  open.push(as);
  ps = as.server.personServer!;
  const app = express();
  let handler: express.RequestHandler = (_q, _s, next) => next();
  app.use((q, s, n) => handler(q, s, n));
  const listening = await listen(app);
  open.push(listening);
  provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;
  site = await startSite(true);
  plain = await startSite(false);
  limited = await startSite({ ratePerMinute: 2, path: '/revoke' });
  rogue = await startServerIdentity(rogueKey);
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  rmSync(dir, { recursive: true, force: true });
});

describe('the resource publishes its revocation endpoint (RS-03)', () => {
  it('aauth-resource.json has revocation_endpoint with draft11.revocation, and none without it', async () => {
    const doc = (await (await fetch(`${site}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ issuer: site, revocation_endpoint: `${site}/aauth/revoke` });
    const other = (await (await fetch(`${limited}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(other.revocation_endpoint).toBe(`${limited}/revoke`);
    const none = (await (await fetch(`${plain}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(none.revocation_endpoint).toBeUndefined();
  });
});

describe('a revoked person token (RS-43, RS-61)', () => {
  let flow: ReturnType<typeof agent11>;
  let personToken: string;

  it('the agent gets a person token from the person server (consent) and the resource answers 200', async () => {
    flow = agent11('buyer');
    const res = await flow.agent.fetch(`${site}/me`);
    expect(res.status).toBe(200);
    personToken = lastToken(flow.seen, 'person_token');
    expect(((await res.json()) as Record<string, unknown>).token).toMatchObject({ kind: 'person', jti: decodeJwt(personToken).claims.jti });
  });

  it('the holder revokes it at the person server ({iss, jti}): 200 {}, and the push reached the resource at once', async () => {
    const jti = String(decodeJwt(personToken).claims.jti);
    const before = as.audit.length;
    const revoked = await revokeAtPs(flow.key, 'buyer', { iss: ps, jti });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({});
    const events = as.audit.slice(before).map((e) => [e.type, e.resource, e.jti, e.error]);
    expect(events).toEqual([
      ['token.revoked', site, jti, undefined],
      ['revocation.pushed', site, jti, undefined],
    ]);
  });

  it('the next call presenting it: 401 Signature-Error: error=revoked_jwt, no requirement and no resource token', async () => {
    const res = await present(`${site}/me`, flow.key, personToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=revoked_jwt');
    expect(res.headers.get('aauth-requirement')).toBeNull();
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(res.body).toMatchObject({ error: 'revoked_jwt', type: 'urn:ietf:params:sig-error:revoked_jwt' });
  });

  it('no resource token names it any more: the auth-token route and the authorization endpoint refuse it with revoked_jwt', async () => {
    const challenge = await present(`${site}/data`, flow.key, personToken);
    expect(challenge.status).toBe(401);
    expect(challenge.headers.get('signature-error')).toBe('error=revoked_jwt');
    expect(challenge.headers.get('aauth-requirement')).toBeNull();
    const authorize = await present(`${site}/authorize`, flow.key, personToken, { scope: 'data.read' });
    expect(authorize.status).toBe(401);
    expect(authorize.headers.get('signature-error')).toBe('error=revoked_jwt');
    expect(authorize.body.resource_token).toBeUndefined();
  });

  it('the agent recovers: it drops the token, gets a new person token (no interaction: the resource is approved) and the call answers 200', async () => {
    const before = flow.seen.length;
    const res = await flow.agent.fetch(`${site}/me`);
    expect(res.status).toBe(200);
    const mine = flow.seen.slice(before);
    expect(mine.map((s) => [s.url.replace(site, 'site').replace(ps, 'ps'), s.status, s.signatureError])).toEqual([
      ['site/me', 401, 'error=revoked_jwt'],
      ['site/me', 401, null],
      ['ps/aauth/person/person-token', 200, null],
      ['site/me', 200, null],
    ]);
    expect(mine[1]!.requirement).toBe('requirement=person-token');
    const fresh = lastToken(flow.seen, 'person_token');
    expect(decodeJwt(fresh).claims.jti).not.toBe(decodeJwt(personToken).claims.jti);
  });
});

describe('a revoked auth token (RS-43)', () => {
  let flow: ReturnType<typeof agent11>;
  let authToken: string;

  it('the agent gets an auth token (three-party) and the resource answers 200', async () => {
    flow = agent11('seller');
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    authToken = lastToken(flow.seen, 'auth_token');
    expect(decodeJwt(authToken).claims).toMatchObject({ iss: ps, aud: site, scope: 'data.read' });
  });

  it("the holder revokes it, naming the person server and the token's exp {iss, jti, exp}: 200, pushed", async () => {
    const { jti, exp } = decodeJwt(authToken).claims;
    // The draft's {jti, exp} names a token of the signer: an agent signing it is refused (AAuth -11 "Revocation Request").
    const draftForm = await revokeAtPs(flow.key, 'seller', { jti, exp });
    expect([draftForm.status, draftForm.body.error, draftForm.headers.get('accept-signature-scheme')]).toEqual([401, 'unsupported_scheme', 'jwks_uri']);
    const revoked = await revokeAtPs(flow.key, 'seller', { iss: ps, jti, exp });
    expect(revoked.status).toBe(200);
    expect(as.audit.filter((e) => e.type === 'revocation.pushed' && e.jti === jti).map((e) => [e.resource, e.error])).toEqual([[site, undefined]]);
  });

  it('the next call: 401 revoked_jwt with AAuth-Requirement: requirement=person-token, never a resource token', async () => {
    const res = await present(`${site}/data`, flow.key, authToken);
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=revoked_jwt');
    expect(res.headers.get('aauth-requirement')).toBe('requirement=person-token');
  });

  it('the agent recovers: drops the auth token, presents its person token, and gets a new auth token for a new resource token', async () => {
    const before = flow.seen.length;
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    const mine = flow.seen.slice(before);
    expect(mine.map((s) => [s.url.replace(site, 'site').replace(ps, 'ps'), s.status, s.signatureError])).toEqual([
      ['site/data', 401, 'error=revoked_jwt'],
      ['site/data', 401, null],
      ['ps/aauth/person/auth-token', 200, null],
      ['site/data', 200, null],
    ]);
    expect(mine[1]!.requirement).toMatch(/^requirement=auth-token; resource-token="/);
    expect(decodeJwt(lastToken(flow.seen, 'auth_token')).claims.jti).not.toBe(decodeJwt(authToken).claims.jti);
  });
});

describe('the opt-in, and a failing resource', () => {
  it('a resource without draft11.revocation publishes no endpoint: the push is skipped (audited) and the token is still accepted there', async () => {
    const flow = agent11('plain');
    expect((await flow.agent.fetch(`${plain}/me`)).status).toBe(200);
    const personToken = lastToken(flow.seen, 'person_token');
    const jti = String(decodeJwt(personToken).claims.jti);
    const revoked = await revokeAtPs(flow.key, 'plain', { iss: ps, jti });
    expect(revoked.status).toBe(200);
    const pushed = as.audit.filter((e) => e.type === 'revocation.pushed' && e.jti === jti);
    expect(pushed.map((e) => [e.resource, e.error, e.reason])).toEqual([[plain, 'revocation_unsupported', 'the resource metadata has no revocation_endpoint']]);
    // Revocation reaches only resources that take it (-11: a server without one honours the token until its exp).
    const res = await present(`${plain}/me`, flow.key, personToken);
    expect(res.status).toBe(200);
  });

  it('a resource whose revocation endpoint fails: the person server still answers 200 and audits revocation_unavailable', async () => {
    const app = express();
    const listening = await listen(app);
    open.push(listening);
    const broken = listening.origin;
    app.get('/.well-known/aauth-resource.json', (_q, res) => res.json({ issuer: broken, revocation_endpoint: `${broken}/revoke` }));
    app.post('/revoke', (_q, res) => res.status(503).json({ error: 'server_error' }));
    // A person token for that resource, obtained with plain signed requests (the agent token's key is the holder).
    const key = generateKey({ kid: 'broken-holder' });
    const signatureKey = { scheme: 'jwt' as const, jwt: provider.mintAgentToken({ local: 'broken', agentKey: key, ps }) };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: broken, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    const token = await signedFetch(post.headers.get('location')!, { key, signatureKey });
    expect(token.status).toBe(200);
    const jti = String(decodeJwt(String(token.body.person_token)).claims.jti);
    const revoked = await revokeAtPs(key, 'broken', { iss: ps, jti });
    expect(revoked.status).toBe(200);
    const pushed = as.audit.filter((e) => e.type === 'revocation.pushed' && e.jti === jti);
    expect(pushed.map((e) => [e.resource, e.error, e.reason])).toEqual([[broken, 'revocation_unavailable', 'the resource answered 503 server_error']]);
    // The person server's own state is revoked all the same: a second revocation is 200 again, and pushes again.
    expect((await revokeAtPs(key, 'broken', { iss: ps, jti })).status).toBe(200);
  });
});

describe('hostile requests at the resource revocation endpoint (RS-60)', () => {
  const url = () => `${site}/aauth/revoke`;

  it('a well-signed push from the person server: 200 with an empty body and no Content-Type', async () => {
    const res = await pushAs(url(), {});
    expect(res.status).toBe(200);
    expect(res.text).toBe('');
    expect(res.headers.get('content-type')).toBeNull();
  });

  it('unsigned: 401 with Signature-Error', async () => {
    const res = await fetch(url(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jti: 'a', exp: 1 }) });
    expect(res.status).toBe(401);
    // A missing signature is invalid_signature (-09 5.4.4, -11 RS-50).
    expect(res.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('hwk, or an agent under sig=jwt: 401 unsupported_scheme with Accept-Signature-Scheme: jwks_uri', async () => {
    const key = generateKey({ kid: 'hwk-1' });
    const hwk = await pushAs(url(), { key, signatureKey: { scheme: 'hwk', jwk: key.jwk } });
    expect(hwk.status).toBe(401);
    expect(hwk.headers.get('signature-error')).toBe('error=unsupported_scheme');
    expect(hwk.headers.get('accept-signature-scheme')).toBe('jwks_uri');
    const jwt = provider.mintAgentToken({ local: 'agent', agentKey: key, ps });
    const agent = await pushAs(url(), { key, signatureKey: { scheme: 'jwt', jwt } });
    expect(agent.status).toBe(401);
    expect(agent.headers.get('signature-error')).toBe('error=unsupported_scheme');
  });

  it('an issuer the resource does not trust, or an agent document: 403 unsupported_iss without Signature-Error', async () => {
    const untrusted = await pushAs(url(), { key: rogueKey, id: rogue });
    expect(untrusted.status).toBe(403);
    expect(untrusted.body).toMatchObject({ error: 'unsupported_iss' });
    expect(untrusted.headers.get('signature-error')).toBeNull();
    const asAgent = await pushAs(url(), { dwk: 'aauth-agent.json' });
    expect(asAgent.status).toBe(403);
    expect(asAgent.body).toMatchObject({ error: 'unsupported_iss' });
  });

  it("the person server's identity with another key: 401 (the signature does not verify under its JWKS)", async () => {
    const res = await pushAs(url(), { key: generateKey({ kid: psKey.kid }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_signature');
  });

  it('a signature that does not cover content-digest and content-type: 401 invalid_input naming them', async () => {
    const res = await pushAs(url(), { components: ['@method', '@authority', '@path', 'signature-key'] });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_input, required_input=("@method" "@authority" "@path" "content-type" "content-digest" "signature-key")');
  });

  it('malformed bodies: 400 invalid_request', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[string, string | undefined]> = [
      ['not json', undefined],
      ['[]', undefined],
      [JSON.stringify({ jti: 'x' }), undefined],
      [JSON.stringify({ exp: now + 60 }), undefined],
      [JSON.stringify({ jti: '', exp: now + 60 }), undefined],
      [JSON.stringify({ jti: 'x', exp: 'soon' }), undefined],
      [JSON.stringify({ jti: 'x', exp: now + 60 * 60 * 24 }), undefined],
      [JSON.stringify({ jti: 'x', exp: now + 60, iss: rogue }), undefined],
      [JSON.stringify({ jti: 'x', exp: now + 60 }), 'text/plain'],
    ];
    for (const [body, contentType] of cases) {
      const res = await pushAs(url(), { body, ...(contentType ? { contentType } : {}) });
      expect([res.status, res.body.error], body).toEqual([400, 'invalid_request']);
    }
  });

  it('wrong method: 405 with Allow: POST; an oversized body: 413', async () => {
    const get = await fetch(url());
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(((await get.json()) as Record<string, unknown>).error).toBe('method_not_allowed');
    const big = await pushAs(url(), { body: JSON.stringify({ jti: 'x'.repeat(5000), exp: Math.floor(Date.now() / 1000) + 60 }) });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ error: 'invalid_request' });
  });

  it('a replayed push: 401', async () => {
    const body = JSON.stringify({ jti: 'replayed', exp: Math.floor(Date.now() / 1000) + 60 });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: url(), headers, body }, { key: psKey, signatureKey: { scheme: 'jwks_uri', id: ps, dwk: 'aauth-person.json', kid: psKey.kid }, signatureKeyForm: 'dictionary', nonce: true });
    const send = () => fetch(url(), { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    expect((await send()).status).toBe(200);
    const again = await send();
    expect(again.status).toBe(401);
    expect(again.headers.get('signature-error')).toBe('error=invalid_signature');
  });

  it('more revocations a minute than the resource takes from one issuer: 429 rate_limited with Retry-After', async () => {
    const target = `${limited}/revoke`;
    expect((await pushAs(target, {})).status).toBe(200);
    expect((await pushAs(target, {})).status).toBe(200);
    const third = await pushAs(target, {});
    expect(third.status).toBe(429);
    expect(third.body).toMatchObject({ error: 'rate_limited' });
    const retry = Number(third.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(60);
  });
});
