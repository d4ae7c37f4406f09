import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { algOf11 } from '@aauth-kit/core/internal';
import { generateKey, mintResourceToken11, signRequest, type SignatureKey, type SigningKey } from '@aauth-kit/core';
import type express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, testRealm, type SignedResponse, type TestAuthServer } from './fixtures/auth-server.js';
import { lateHost, startKitSite } from './fixtures/kit-site-11.js';

// The person server's revocation endpoint as the published AAuth -11 "Token Revocation" has it
// (person-server checklist PS-110..PS-115): the caller signs as a server under sig=jwks_uri, the
// body is {jti, exp}, the revoked token's issuer is the verified caller. An agent provider revokes
// an agent token (PS-111: denied, and everything issued to that agent revoked and pushed); a
// resource withdraws a resource token (PS-112). No "not found"; unsupported_iss for a caller this
// server never dealt with. Real loopback HTTP: the embedded person server, an agent provider, a
// kit resource with draft11.revocation, and a rogue server with documents and a key.

const open: Array<{ close(): Promise<void> }> = [];
let psAuth: TestAuthServer;
let ps: string;
let provider: AgentProvider;
const apKey = generateKey({ kid: 'ap-revoke-1' });
const resourceKey = generateKey({ kid: 'resource-revoke-1' });
const rogueKey = generateKey({ kid: 'rogue-revoke-1' });
let site: string;
/** A second resource, where no scope was granted before (its token requests wait for consent). */
let quiet: string;
let rogue: string;
/** Requests the rogue server received (it must receive none: refused before any fetch). */
let rogueHits = 0;

const PERSON = () => `${ps}/aauth/person/person-token`;
const AUTH = () => `${ps}/aauth/person/auth-token`;
const REVOKE = () => `${ps}/aauth/person/revoke`;

type Signer = { key: SigningKey; signatureKey: { scheme: 'jwt'; jwt: string } };

/** An agent token of the provider for `key` (a new one each call: another `jti`). */
async function agentSigner(local: string, key: SigningKey): Promise<Signer> {
  return { key, signatureKey: { scheme: 'jwt', jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) } };
}

/** The `{jti, exp}` of the agent token a signer presents. */
function agentTokenOf(signer: Signer): { jti: string; exp: number } {
  const { jti, exp } = decodeJwt(signer.signatureKey.jwt).claims;
  return { jti: String(jti), exp: Number(exp) };
}

/** A token request answered at once, or after the person approves on the consent page. */
async function obtain(url: string, signer: Signer, json: Record<string, unknown>): Promise<SignedResponse> {
  const post = await signedFetch(url, { ...signer, json: { ...json, capabilities: ['interaction'] } });
  if (post.status !== 202) return post;
  const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
  expect((await decideOverHttp(psAuth.interactionEndpoint, code, 'approve')).status).toBe(200);
  return signedFetch(post.headers.get('location')!, signer);
}

async function personToken(signer: Signer, resource = site): Promise<string> {
  const res = await obtain(PERSON(), signer, { resource });
  expect(res.status).toBe(200);
  return String(res.body.person_token);
}

/** A resource token of the person token's resource naming `person` (a person token of the person server), for the signer's key. */
function resourceTokenFor(person: string, key: SigningKey, scope = 'data.read'): Promise<string> {
  const claims = decodeJwt(person).claims;
  return mintResourceToken11(resourceKey, { issuer: String(claims.aud), audience: ps, ps, sub: String(claims.sub), presentedJti: String(claims.jti), agentJkt: key.thumbprint, scope, allowLoopback: true });
}

async function authToken(signer: Signer, person: string): Promise<string> {
  const res = await obtain(AUTH(), signer, { resource_token: await resourceTokenFor(person, signer.key), presented_token: person });
  expect(res.status).toBe(200);
  return String(res.body.auth_token);
}

/** A request to the site signed with a token under sig=jwt (the token's cnf key). */
function present(path: string, key: SigningKey, jwt: string): Promise<SignedResponse> {
  return signedFetch(`${site}${path}`, { key, signatureKey: { scheme: 'jwt', jwt } });
}

/** A request signed as a server under sig=jwks_uri (default: the agent provider), as the published draft has revocations sent. */
async function asServer(url: string, options: { key?: SigningKey; id?: string; dwk?: string; json?: unknown; body?: string; components?: string[]; signatureKey?: SignatureKey } = {}) {
  const key = options.key ?? apKey;
  const body = options.body ?? JSON.stringify(options.json ?? {});
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const sk: SignatureKey = options.signatureKey ?? { scheme: 'jwks_uri', id: options.id ?? provider.issuer, dwk: options.dwk ?? 'aauth-agent.json', kid: key.kid };
  const signed = signRequest({ method: 'POST', url, headers, body }, { key, signatureKey: sk, nonce: true, ...(options.components ? { components: options.components } : {}) });
  const res = await fetch(url, { method: 'POST', headers: { ...headers, ...signed.headers }, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

const soon = () => Math.floor(Date.now() / 1000) + 600;

/** A kit resource with draft11.revocation, tokens from the person server. */
const startSite = () => startKitSite({ key: resourceKey, scopes: { 'data.read': 'Read data' }, draft11: { personServers: [ps], revocation: true }, track: (l) => open.push(l) });

beforeAll(async () => {
  psAuth = await startAuthServer({ draft11: { allowLoopback: true }, realm: testRealm({ 'aauth.person.max.wait': '1' }) });
  open.push(psAuth);
  ps = psAuth.server.personServer!;
  const ap = await lateHost((l) => open.push(l));
  provider = createAgentProvider({ issuer: ap.origin, key: apKey, allowLoopback: true });
  ap.set(provider.wellKnown() as express.RequestHandler);

  site = await startSite();
  quiet = await startSite();

  // A server with agent-provider and resource documents and a key, which the person server never dealt with.
  const r = await lateHost((l) => open.push(l));
  rogue = r.origin;
  const { kid: _kid, ...jwk } = rogueKey.toPublishedJwk() as unknown as Record<string, string>;
  const documents: Record<string, unknown> = {
    '/.well-known/aauth-agent.json': { issuer: rogue, jwks_uri: `${rogue}/jwks.json` },
    '/.well-known/aauth-resource.json': { issuer: rogue, jwks_uri: `${rogue}/jwks.json` },
    '/jwks.json': { keys: [{ ...jwk, kid: rogueKey.kid, alg: algOf11(rogueKey.jwk) }] },
  };
  r.set((req, res) => {
    rogueHits += 1;
    if (documents[req.path] === undefined) res.status(404).end();
    else res.json(documents[req.path]);
  });
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('PS-111: an agent provider revokes an agent token it issued', () => {
  const key = generateKey({ kid: 'victim-key' });
  let first: Signer;
  let second: Signer;
  /** Issued to the agent under its first agent token, then its second. */
  let person1: string;
  let auth1: string;
  let person2: string;
  let bystander: { key: SigningKey; person: string };

  it('the agent holds a person and an auth token got with one agent token, and a person token got with another; the resource serves them', async () => {
    first = await agentSigner('victim', key);
    person1 = await personToken(first);
    auth1 = await authToken(first, person1);
    second = await agentSigner('victim', key);
    expect(agentTokenOf(second).jti).not.toBe(agentTokenOf(first).jti);
    // The binding and grant stand: no consent asked again.
    const again = await signedFetch(PERSON(), { ...second, json: { resource: site } });
    expect(again.status).toBe(200);
    person2 = String(again.body.person_token);
    const other = await agentSigner('bystander', generateKey({ kid: 'bystander-key' }));
    bystander = { key: other.key, person: await personToken(other) };
    for (const [path, jwt] of [['/data', auth1], ['/me', person1], ['/me', person2]] as const) expect((await present(path, key, jwt)).status).toBe(200);
  });

  it('the provider revokes the second agent token, signed as itself: an empty 200; every token issued to that agent is revoked and pushed to the resource', async () => {
    const before = psAuth.audit.length;
    const revoked = await asServer(REVOKE(), { json: agentTokenOf(second) });
    // A person server reports nothing to an agent provider: 200, no body, no Content-Type (-11 "Revocation Response").
    expect([revoked.status, revoked.text, revoked.headers.get('content-type')]).toEqual([200, '', null]);
    const jtis = [person1, auth1, person2].map((t) => String(decodeJwt(t).claims.jti));
    const events = psAuth.audit.slice(before);
    expect(events.filter((e) => e.type === 'revocation.pushed').map((e) => [e.jti, e.resource, e.error])).toEqual(expect.arrayContaining(jtis.map((jti) => [jti, site, undefined])));
    expect(events.filter((e) => e.type === 'token.revoked').map((e) => e.jti)).toEqual(expect.arrayContaining([agentTokenOf(second).jti, ...jtis]));
  });

  it('the resource refuses them all (401 revoked_jwt), whichever agent token they were got with', async () => {
    for (const [path, jwt] of [['/data', auth1], ['/me', person1], ['/me', person2]] as const) {
      const res = await present(path, key, jwt);
      expect([res.status, res.headers.get('signature-error')], path).toEqual([401, 'error=revoked_jwt']);
    }
  });

  it('the person server refuses the revoked agent token (401 revoked_jwt); a later one of the same agent is verified on its own terms, the binding unchanged', async () => {
    const refused = await signedFetch(PERSON(), { ...second, json: { resource: site } });
    expect([refused.status, refused.headers.get('signature-error')]).toEqual([401, 'error=revoked_jwt']);
    const third = await agentSigner('victim', key);
    const fresh = await signedFetch(PERSON(), { ...third, json: { resource: site } });
    expect(fresh.status).toBe(200);
  });

  it("another agent's token is untouched", async () => {
    expect((await present('/me', bystander.key, bystander.person)).status).toBe(200);
  });

  it('idempotent, and no "not found": a repeated revocation and an unknown jti both answer 200', async () => {
    expect((await asServer(REVOKE(), { json: agentTokenOf(second) })).status).toBe(200);
    const unknown = await asServer(REVOKE(), { json: { jti: 'never-issued', exp: soon() } });
    expect([unknown.status, unknown.text]).toEqual([200, '']);
  });
});

describe('PS-112: a resource withdraws a resource token addressed to the person server', () => {
  it('recorded though never seen (an empty 200); a token request naming it: 400 revoked_resource_token; another resource token is served', async () => {
    const reader = await agentSigner('reader', generateKey({ kid: 'reader-key' }));
    const person = await personToken(reader);
    const rt = await resourceTokenFor(person, reader.key);
    const { jti, exp } = decodeJwt(rt).claims;
    const withdrawn = await asServer(REVOKE(), { key: resourceKey, id: site, dwk: 'aauth-resource.json', json: { jti, exp } });
    expect([withdrawn.status, withdrawn.text, withdrawn.headers.get('content-type')]).toEqual([200, '', null]);
    const refused = await signedFetch(AUTH(), { ...reader, json: { resource_token: rt, presented_token: person, capabilities: ['interaction'] } });
    expect([refused.status, refused.body.error]).toEqual([400, 'revoked_resource_token']);
    expect(decodeJwt(await authToken(reader, person)).claims).toMatchObject({ iss: ps, aud: site, scope: 'data.read' });
  });

  it('a pending request started for it ends with revoked (403) once the resource withdraws it', async () => {
    const waiter = await agentSigner('waiter', generateKey({ kid: 'waiter-key' }));
    const person = await personToken(waiter, quiet);
    // A scope the realm asks the person's consent for (aauth.consent.required.scope.prefixes "user."): the request waits.
    const rt = await resourceTokenFor(person, waiter.key, 'user.profile');
    const post = await signedFetch(AUTH(), { ...waiter, json: { resource_token: rt, presented_token: person, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const location = post.headers.get('location')!;
    expect((await signedFetch(location, waiter)).status).toBe(202);
    const { jti, exp } = decodeJwt(rt).claims;
    expect((await asServer(REVOKE(), { key: resourceKey, id: quiet, dwk: 'aauth-resource.json', json: { jti, exp } })).status).toBe(200);
    const ended = await signedFetch(location, waiter);
    expect([ended.status, ended.body.error]).toEqual([403, 'revoked']);
    expect(String(ended.body.detail)).toMatch(/resource token/);
  });
});

describe('refusals at the revocation endpoint (AAuth -11 "Revocation Response" errors)', () => {
  it("the draft's {jti, exp} signed by an agent (sig=jwt): 401 unsupported_scheme, naming jwks_uri", async () => {
    const agent = await agentSigner('self-revoker', generateKey({ kid: 'self-key' }));
    const res = await signedFetch(REVOKE(), { ...agent, json: agentTokenOf(agent) });
    expect([res.status, res.body.error]).toEqual([401, 'unsupported_scheme']);
    expect(res.headers.get('signature-error')).toBe('error=unsupported_scheme');
    expect(res.headers.get('accept-signature-scheme')).toBe('jwks_uri');
    expect(String(res.body.detail)).toMatch(/sig=jwks_uri/);
  });

  it.each([
    ['no exp', { jti: 'x' }],
    ['no jti', { exp: 2000000000 }],
    ['a string exp', { jti: 'x', exp: '2000000000' }],
    ['an empty jti', { jti: '', exp: 2000000000 }],
    ['an exp past any agent token lifetime', { jti: 'x', exp: 4000000000 }],
    ['an iss naming another issuer than the signer', { jti: 'x', exp: 2000000000, iss: 'https://other.example' }],
  ])('a malformed body (%s): 400 invalid_request', async (_what, json) => {
    const res = await asServer(REVOKE(), { json });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });

  it('a server the person server never dealt with, as agent provider or as resource: 403 unsupported_iss, and nothing fetched from it', async () => {
    for (const dwk of ['aauth-agent.json', 'aauth-resource.json']) {
      const res = await asServer(REVOKE(), { key: rogueKey, id: rogue, dwk, json: { jti: 'x', exp: soon() } });
      expect([res.status, res.body.error], dwk).toEqual([403, 'unsupported_iss']);
      expect(res.headers.get('signature-error')).toBeNull();
    }
    expect(rogueHits).toBe(0);
  });

  it('a caller signing through another document (a person or access server): 403 unsupported_iss', async () => {
    for (const dwk of ['aauth-person.json', 'aauth-access.json']) {
      const res = await asServer(REVOKE(), { dwk, json: { jti: 'x', exp: soon() } });
      expect([res.status, res.body.error], dwk).toEqual([403, 'unsupported_iss']);
    }
  });

  it('content-digest not covered: 401 invalid_input naming it, and nothing revoked', async () => {
    const res = await asServer(REVOKE(), { json: { jti: 'x', exp: soon() }, components: ['@method', '@authority', '@path', 'signature-key'] });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=invalid_input, required_input=\(.*"content-digest".*\)$/);
  });

  it('unsigned: 401 with Signature-Error', async () => {
    const res = await fetch(REVOKE(), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jti: 'x', exp: soon() }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=/);
  });
});
