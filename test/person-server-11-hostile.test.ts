import { request as httpRequest } from 'node:http';
import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11, signRequest, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, freePort, signedFetch, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';
import { lateHost } from './fixtures/kit-site-11.js';

// Issue 16: the hostile-input corpus of the Keycloak-profile endpoints, extended to the -11 person
// server (person_token_endpoint, auth_token_endpoint, the pending URL, revocation). Every refusal is a
// specific 4xx with its -11 code (problem+json `error`), never a 500 and never a hang.

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
const providerKey = generateKey({ kid: 'ap-h' });
let site: string;
const resourceKey = generateKey({ kid: 'resource-h' });
const MAX_BODY = 8 * 1024;

const PERSON = () => `${ps}/aauth/person/person-token`;
const AUTH = () => `${ps}/aauth/person/auth-token`;
const REVOKE = () => `${ps}/aauth/person/revoke`;

const host = () => lateHost((l) => open.push(l));

/** A fresh agent key with an agent token of the trusted provider. */
async function newAgent(local: string): Promise<{ key: SigningKey; signatureKey: { scheme: 'jwt'; jwt: string } }> {
  const key = generateKey({ kid: `${local}-key` });
  return { key, signatureKey: { scheme: 'jwt', jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) } };
}

/** Re-sign a JWT's claims under a patched header with `key` (raw JWS, so any alg/typ can be forged). */
function resign(jwt: string, key: SigningKey, header: Record<string, unknown>, claims?: Record<string, unknown>): string {
  const decoded = decodeJwt(jwt);
  const h = Buffer.from(JSON.stringify({ ...decoded.header, ...header })).toString('base64url');
  const c = Buffer.from(JSON.stringify(claims ?? decoded.claims)).toString('base64url');
  return `${h}.${c}.${Buffer.from(key.sign(Buffer.from(`${h}.${c}`))).toString('base64url')}`;
}

/** A person token of this server for `site`, with consent given on the page. */
async function personTokenFor(local: string): Promise<{ key: SigningKey; signatureKey: { scheme: 'jwt'; jwt: string }; token: string; claims: Record<string, unknown> }> {
  const agent = await newAgent(local);
  const post = await signedFetch(PERSON(), { ...agent, json: { resource: site, capabilities: ['interaction'] } });
  expect(post.status).toBe(202);
  const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
  expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
  const done = await signedFetch(post.headers.get('location')!, agent);
  expect(done.status).toBe(200);
  const token = String(done.body.person_token);
  return { ...agent, token, claims: decodeJwt(token).claims };
}

function expectProblem(res: { status: number; headers: Headers; body: Record<string, unknown> }, status: number, error: string): void {
  expect([res.status, res.body.error]).toEqual([status, error]);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
}

beforeAll(async () => {
  as = await startAuthServer({
    draft11: { allowLoopback: true },
    maxBodyBytes: MAX_BODY,
    realm: { ...testRealm({ 'aauth.person.max.wait': '1' }) },
  });
  open.push(as);
  ps = as.server.personServer!;
  const ap = await host();
  provider = createAgentProvider({ issuer: ap.origin, key: providerKey, allowLoopback: true });
  ap.set(provider.wellKnown() as express.RequestHandler);
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({ identity: listening.origin, key: resourceKey, generations: ['draft-11'], scopes: { 'data.read': 'Read data' }, draft11: { allowLoopback: true, personServers: [ps] } });
  app.use(resource.wellKnown());
  site = listening.origin;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('bodies: malformed JSON, wrong content-type, non-object, oversized, slow', () => {
  for (const [name, url] of [['person token', PERSON], ['auth token', AUTH], ['revocation', REVOKE]] as const) {
    it(`${name} endpoint: 400 invalid_request for malformed JSON, a wrong content-type, a JSON array or null; 413 invalid_request past the body limit`, async () => {
      const agent = await newAgent(`body-${name.replace(' ', '-')}`);
      expectProblem(await signedFetch(url(), { ...agent, body: '{"resource":', contentType: 'application/json' }), 400, 'invalid_request');
      expectProblem(await signedFetch(url(), { ...agent, form: { resource: site } }), 400, 'invalid_request');
      expectProblem(await signedFetch(url(), { ...agent, body: JSON.stringify({ resource: site }), contentType: 'text/plain' }), 400, 'invalid_request');
      expectProblem(await signedFetch(url(), { ...agent, json: [site] }), 400, 'invalid_request');
      expectProblem(await signedFetch(url(), { ...agent, json: null }), 400, 'invalid_request');
      const big = await signedFetch(url(), { ...agent, json: { resource: site, pad: 'x'.repeat(MAX_BODY * 2) } });
      // core's body_too_large: 413, and its -11 code is invalid_request (section 9 has no own code).
      expectProblem(big, 413, 'invalid_request');
    });
  }

  it('a body sent slowly in pieces is read and answered (400 invalid_request for the missing resource), no hang', async () => {
    const agent = await newAgent('slow');
    const body = JSON.stringify({ capabilities: ['interaction'] });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: PERSON(), headers, body }, { key: agent.key, signatureKey: agent.signatureKey, nonce: true });
    const answer = await new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = httpRequest(PERSON(), { method: 'POST', headers: { ...headers, ...signed.headers, 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      const pieces = [body.slice(0, 5), body.slice(5, 12), body.slice(12)];
      let i = 0;
      const next = () => {
        if (i < pieces.length) {
          req.write(pieces[i++]);
          setTimeout(next, 100);
        } else req.end();
      };
      next();
    });
    expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request']);
  });

  it('a body cut off before its Content-Length: the connection is dropped without a crash, and the server answers the next request', async () => {
    await new Promise<void>((resolve) => {
      const req = httpRequest(PERSON(), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': '1000' } });
      req.on('error', () => resolve());
      req.write('{"resource":"');
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 100);
    });
    const agent = await newAgent('after-cut');
    expectProblem(await signedFetch(PERSON(), { ...agent, json: { capabilities: ['interaction'] } }), 400, 'invalid_request');
  });
});

describe('Signature-Key: missing, duplicate, garbage', () => {
  for (const [name, url] of [['person token', PERSON], ['auth token', AUTH], ['revocation', REVOKE]] as const) {
    it(`${name} endpoint: 401 with Signature-Error for each`, async () => {
      const agent = await newAgent(`sk-${name.replace(' ', '-')}`);
      const body = JSON.stringify({ resource: site });
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      const signed = signRequest({ method: 'POST', url: url(), headers, body }, { key: agent.key, signatureKey: agent.signatureKey, nonce: true });
      const send = async (mutate: (h: Headers) => void) => {
        const h = new Headers({ ...headers, ...signed.headers });
        mutate(h);
        const res = await fetch(url(), { method: 'POST', headers: h, body });
        return { status: res.status, headers: res.headers, body: JSON.parse((await res.text()) || '{"empty":true}') as Record<string, unknown> };
      };
      const missing = await send((h) => h.delete('signature-key'));
      expect([missing.status, missing.headers.get('signature-error'), missing.body.error]).toEqual([401, 'error=invalid_signature', 'invalid_signature']);
      const duplicate = await send((h) => h.append('signature-key', signed.headers['signature-key']!));
      expect([duplicate.status, duplicate.headers.get('signature-error'), duplicate.body.error]).toEqual([401, 'error=invalid_signature', 'invalid_signature']);
      const table: Array<[string, number, string | null, string | undefined]> = [
        ['garbage', 401, 'error=invalid_signature', 'invalid_signature'],
        ['sig=jwt;jwt="not.a.jwt"', 401, 'error=invalid_jwt', 'invalid_jwt'],
        [`sig=jwt;jwt="${'A'.repeat(8000)}"`, 401, 'error=invalid_jwt', 'invalid_jwt'],
        ['sig=hwk;kty="OKP"', 401, 'error=invalid_signature', 'invalid_signature'],
      ];
      for (const [garbage, status, header, code] of table) {
        const res = await send((h) => h.set('signature-key', garbage));
        expect([res.status, res.headers.get('signature-error'), res.body.error], garbage.slice(0, 30)).toEqual([status, header, code]);
      }
      // Beyond node's header limit (16 KiB): the HTTP server's 431, before any handler.
      expect((await fetch(url(), { method: 'POST', headers: { ...headers, ...signed.headers, 'signature-key': `sig=jwt;jwt="${'A'.repeat(20000)}"` }, body })).status).toBe(431);
    });
  }
});

describe('the agent token: wrong typ, EdDSA, untrusted or unknown provider', () => {
  it('a token of typ aa-person+jwt or auth+jwt under sig=jwt: 401 invalid_jwt (Signature-Error) on every endpoint', async () => {
    const agent = await newAgent('typ');
    for (const typ of ['aa-person+jwt', 'auth+jwt', 'aa-auth+jwt']) {
      const jwt = resign(agent.signatureKey.jwt, providerKey, { typ });
      for (const url of [PERSON(), AUTH(), REVOKE()]) {
        const res = await signedFetch(url, { key: agent.key, signatureKey: { scheme: 'jwt', jwt }, json: { resource: site } });
        expectProblem(res, 401, 'invalid_jwt');
        expect(res.headers.get('signature-error')).toBe('error=invalid_jwt');
      }
      const poll = await signedFetch(`${ps}/aauth/person/pending/${'A'.repeat(43)}`, { key: agent.key, signatureKey: { scheme: 'jwt', jwt } });
      expectProblem(poll, 401, 'invalid_jwt');
      expect(poll.headers.get('signature-error')).toBe('error=invalid_jwt');
    }
  });

  it('a valid signature under sig=hwk (no agent token): refused with a -11 code, never a 500', async () => {
    const key = generateKey({ kid: 'hwk-only' });
    for (const url of [PERSON(), AUTH()]) {
      // The draft-09 form (no alg in the key): -11 refuses it as an algorithm it cannot tell.
      const bare = await signedFetch(url, { key, json: { resource: site } });
      expectProblem(bare, 401, 'unsupported_algorithm');
      expect(bare.headers.get('signature-error')).toBe('error=unsupported_algorithm');
      const res = await signedFetch(url, { key, signatureKey: { scheme: 'hwk', jwk: { ...key.jwk, alg: 'Ed25519' } as never }, json: { resource: site } });
      // No agent token under sig=jwt: 401 unsupported_scheme, and the scheme that is accepted.
      expectProblem(res, 401, 'unsupported_scheme');
      expect(res.headers.get('signature-error')).toBe('error=unsupported_scheme');
      expect(res.headers.get('accept-signature-scheme')).toBe('jwt');
    }
    const poll = await signedFetch(`${ps}/aauth/person/pending/${'A'.repeat(43)}`, { key, signatureKey: { scheme: 'hwk', jwk: { ...key.jwk, alg: 'Ed25519' } as never } });
    expectProblem(poll, 401, 'unsupported_scheme');
    // The revocation endpoint: the scheme is refused first (AAuth -11 "Verification", step 4 before
    // step 6), naming the scheme a revocation is signed under (AAuth -11 "Revocation Request").
    for (const hwk of [key.jwk, { ...key.jwk, alg: 'Ed25519' }]) {
      const res = await signedFetch(REVOKE(), { key, signatureKey: { scheme: 'hwk', jwk: hwk as never }, json: { jti: 'x', exp: 2000000000 } });
      expectProblem(res, 401, 'unsupported_scheme');
      expect(res.headers.get('accept-signature-scheme')).toBe('jwks_uri');
    }
  });

  it('an agent token signed under alg EdDSA (not Ed25519 as -11 requires): 401 invalid_jwt', async () => {
    const agent = await newAgent('eddsa');
    expect(decodeJwt(agent.signatureKey.jwt).header.alg).toBe('Ed25519');
    const jwt = resign(agent.signatureKey.jwt, providerKey, { alg: 'EdDSA' });
    const res = await signedFetch(PERSON(), { key: agent.key, signatureKey: { scheme: 'jwt', jwt }, json: { resource: site } });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_jwt');
  });

  it('an agent token from a provider with no metadata, or whose metadata names another issuer: 401, never a 500', async () => {
    const key = generateKey({ kid: 'stray-key' });
    const nothing = await host();
    const stray = createAgentProvider({ issuer: nothing.origin, key: providerKey, allowLoopback: true });
    const noMeta = await signedFetch(PERSON(), { key, signatureKey: { scheme: 'jwt', jwt: await stray.mintAgentToken({ local: 'stray', agentKey: key, ps }) }, json: { resource: site } });
    expect([noMeta.status, noMeta.headers.get('signature-error')]).toEqual([401, 'error=invalid_jwt']);
    const liar = await host();
    liar.set(createAgentProvider({ issuer: 'https://elsewhere.example', key: providerKey }).wellKnown() as express.RequestHandler);
    const claimed = createAgentProvider({ issuer: liar.origin, key: providerKey, allowLoopback: true });
    const mismatch = await signedFetch(PERSON(), { key, signatureKey: { scheme: 'jwt', jwt: await claimed.mintAgentToken({ local: 'liar', agentKey: key, ps }) }, json: { resource: site } });
    expect([mismatch.status, mismatch.headers.get('signature-error')]).toEqual([401, 'error=issuer_mismatch']);
    // An agent token signed by a key the provider does not publish.
    const forged = resign(await provider.mintAgentToken({ local: 'forged', agentKey: key, ps }), generateKey({ kid: 'ap-h' }), {});
    const bad = await signedFetch(PERSON(), { key, signatureKey: { scheme: 'jwt', jwt: forged }, json: { resource: site } });
    expect([bad.status, bad.headers.get('signature-error')]).toEqual([401, 'error=invalid_jwt']);
  });

  it("an agent token by one provider naming another provider's agent: 401 invalid_jwt, never that agent's person token", async () => {
    // The victim: an agent of the trusted provider, bound to the person, the resource approved.
    const victim = await personTokenFor('spoofed');
    const again = await signedFetch(PERSON(), { ...victim, json: { resource: site } });
    expect(again.status).toBe(200);
    // Another provider (its own metadata and key) mints a token whose sub is the victim's identifier.
    const evil = await host();
    const evilKey = generateKey({ kid: 'evil-ap' });
    evil.set(createAgentProvider({ issuer: evil.origin, key: evilKey, allowLoopback: true }).wellKnown() as express.RequestHandler);
    const attacker = generateKey({ kid: 'spoofer' });
    const claims = { ...decodeJwt(victim.signatureKey.jwt).claims, iss: evil.origin, cnf: { jwk: { ...attacker.jwk, alg: 'Ed25519' } } };
    const jwt = resign(victim.signatureKey.jwt, evilKey, { kid: 'evil-ap' }, claims);
    for (const url of [PERSON(), AUTH(), REVOKE()]) {
      const res = await signedFetch(url, { key: attacker, signatureKey: { scheme: 'jwt', jwt }, json: { resource: site } });
      expectProblem(res, 401, 'invalid_jwt');
      expect(String(res.body.detail)).toContain('is not an agent of its issuer');
    }
  });

  it('a sub-agent (agent token with parent_agent) signing a token request itself: 403 access_denied, no pending request (AAuth -11 "Single-Level Depth")', async () => {
    const key = generateKey({ kid: 'sub-agent' });
    const jwt = await provider.mintAgentToken({ local: 'planner+search1', agentKey: key, ps, parentAgent: provider.agentId('planner') });
    for (const [url, json] of [
      [PERSON(), { resource: site, capabilities: ['interaction'] }],
      [AUTH(), { resource_token: 'a.b.c', presented_token: 'a.b.c', capabilities: ['interaction'] }],
    ] as const) {
      const res = await signedFetch(url, { key, signatureKey: { scheme: 'jwt', jwt }, json });
      expectProblem(res, 403, 'access_denied');
      expect(res.headers.get('signature-error')).toBeNull();
      expect(String(res.body.detail)).toContain(`is a sub-agent of ${provider.agentId('planner')}`);
    }
  });
});

describe('resource tokens: replay, another person server, non-string and huge fields', () => {
  it('a replayed resource token: 400 invalid_resource_token; one addressed to another person server: 400 invalid_resource_token', async () => {
    const holder = await personTokenFor('replayer');
    const mint = (audience = ps) =>
      mintResourceToken11(resourceKey, { issuer: site, audience, ps, sub: String(holder.claims.sub), presentedJti: String(holder.claims.jti), agentJkt: holder.key.thumbprint, scope: 'data.read', allowLoopback: true });
    const rt = await mint();
    const first = await signedFetch(AUTH(), { ...holder, json: { resource_token: rt, presented_token: holder.token } });
    expect(first.status).toBe(200);
    expectProblem(await signedFetch(AUTH(), { ...holder, json: { resource_token: rt, presented_token: holder.token } }), 400, 'invalid_resource_token');
    // The same resource token replayed by another agent (another key): agent_jkt does not match.
    const thief = await newAgent('rt-thief');
    expectProblem(await signedFetch(AUTH(), { ...thief, json: { resource_token: await mint(), presented_token: holder.token } }), 400, 'invalid_resource_token');
    // aud another person server; ps another person server.
    expectProblem(await signedFetch(AUTH(), { ...holder, json: { resource_token: await mint('https://ps.other.example'), presented_token: holder.token } }), 400, 'invalid_resource_token');
    const otherPs = await mintResourceToken11(resourceKey, { issuer: site, audience: ps, ps: 'https://ps.other.example', sub: String(holder.claims.sub), presentedJti: String(holder.claims.jti), agentJkt: holder.key.thumbprint, scope: 'data.read', allowLoopback: true });
    expectProblem(await signedFetch(AUTH(), { ...holder, json: { resource_token: otherPs, presented_token: holder.token } }), 400, 'invalid_resource_token');
    // A person token is not a resource token.
    expectProblem(await signedFetch(AUTH(), { ...holder, json: { resource_token: holder.token, presented_token: holder.token } }), 400, 'invalid_resource_token');
  });

  it('non-string and huge fields: 400 invalid_request at every endpoint', async () => {
    const agent = await newAgent('fields');
    const huge = 'x'.repeat(MAX_BODY - 200);
    for (const resource of [42, true, ['a'], { a: 1 }, '', null]) {
      expectProblem(await signedFetch(PERSON(), { ...agent, json: { resource, capabilities: ['interaction'] } }), 400, 'invalid_request');
    }
    expectProblem(await signedFetch(PERSON(), { ...agent, json: { resource: `https://${'a'.repeat(3000)}.example`, capabilities: ['interaction'] } }), 400, 'invalid_request');
    expectProblem(await signedFetch(PERSON(), { ...agent, json: { resource: site, upstream_token: 7 } }), 400, 'invalid_request');
    for (const resource_token of [1, ['x'], { jwt: 'x' }, '']) {
      expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token } }), 400, 'invalid_request');
    }
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: 'a.b.c', presented_token: 'a.b.c', justification: { x: 1 } } }), 400, 'invalid_request');
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: 'a.b.c', presented_token: 5 } }), 400, 'invalid_request');
    // Within the body limit, beyond the field's: a huge string.
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: 'a.b.c', presented_token: 'a.b.c', justification: huge } }), 400, 'invalid_request');
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: huge, presented_token: 'a.b.c' } }), 400, 'invalid_resource_token');
    for (const jti of [1, null, ['a'], '', 'j'.repeat(1000)]) {
      expectProblem(await signedFetch(REVOKE(), { ...agent, json: { iss: ps, jti } }), 400, 'invalid_request');
    }
    expectProblem(await signedFetch(REVOKE(), { ...agent, json: { iss: 5, jti: 'x' } }), 400, 'invalid_request');
    // capabilities of the wrong shape is no interaction capability: 403 user_unreachable.
    expectProblem(await signedFetch(PERSON(), { ...agent, json: { resource: site, capabilities: 'interaction' } }), 403, 'user_unreachable');
    expectProblem(await signedFetch(PERSON(), { ...agent, json: { resource: site, capabilities: { interaction: true } } }), 403, 'user_unreachable');
  });
});

describe('the pending URL: guessed, another agent, after completion, Prefer: wait', () => {
  it('a guessed, malformed or huge id: 410 invalid_code', async () => {
    const agent = await newAgent('guesser');
    for (const id of ['A'.repeat(43), 'short', '..%2F..%2Fetc', 'x'.repeat(5000), '%00', encodeURIComponent('"; drop')]) {
      expectProblem(await signedFetch(`${ps}/aauth/person/pending/${id}`, agent), 410, 'invalid_code');
    }
  });

  it("another agent's pending URL: 410 invalid_code, and the owner still polls it (202)", async () => {
    const owner = await newAgent('owner');
    const post = await signedFetch(PERSON(), { ...owner, json: { resource: site, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const location = post.headers.get('location')!;
    const other = await newAgent('other');
    expectProblem(await signedFetch(location, other), 410, 'invalid_code');
    // Same agent identifier, another key: still not its to see.
    const sameName = generateKey({ kid: 'owner-2' });
    expectProblem(await signedFetch(location, { key: sameName, signatureKey: { scheme: 'jwt', jwt: await provider.mintAgentToken({ local: 'owner', agentKey: sameName, ps }) } }), 410, 'invalid_code');
    expect((await signedFetch(location, owner)).status).toBe(202);
  });

  it('after completion: 410 invalid_code; a replayed poll signature: 401', async () => {
    const owner = await newAgent('completer');
    const post = await signedFetch(PERSON(), { ...owner, json: { resource: site, capabilities: ['interaction'] } });
    const location = post.headers.get('location')!;
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    expect((await signedFetch(location, owner)).status).toBe(200);
    expectProblem(await signedFetch(location, owner), 410, 'invalid_code');
    // A poll whose signature was already used.
    const fresh = await signedFetch(PERSON(), { ...owner, json: { resource: `${site.replace('127.0.0.1', 'localhost')}`, capabilities: ['interaction'] } });
    expect(fresh.status).toBe(202);
    const url = fresh.headers.get('location')!;
    const signed = signRequest({ method: 'GET', url, headers: {} }, { key: owner.key, signatureKey: owner.signatureKey, nonce: true });
    expect((await fetch(url, { headers: signed.headers })).status).toBe(202);
    const again = await fetch(url, { headers: signed.headers });
    expect(again.status).toBe(401);
    expect(again.headers.get('signature-error')).toMatch(/^error=/);
  });

  it('Prefer: wait=99999 or wait=9999 is capped by the realm (1 s here): the poll answers 202, no hang', async () => {
    const owner = await newAgent('impatient');
    const post = await signedFetch(PERSON(), { ...owner, json: { resource: site, capabilities: ['interaction'] } });
    const location = post.headers.get('location')!;
    for (const prefer of ['wait=99999', 'wait=9999', 'wait=-1', 'wait=1e9', 'wait=abc', `wait=${'9'.repeat(500)}`]) {
      const res = await signedFetch(location, { ...owner, extraHeaders: { prefer } });
      expect([res.status, res.body], prefer).toEqual([202, { status: 'pending' }]);
    }
  });
});

describe('revocation of someone else\'s token', () => {
  it("another agent cannot revoke a token it does not hold: 200 all the same (no 'not found'); the holder's token still backs an auth token", async () => {
    const holder = await personTokenFor('victim');
    const attacker = await newAgent('revoker');
    // Published AAuth -11 "Revocation Response": no "not found" answer; the answer reveals nothing.
    const res = await signedFetch(REVOKE(), { ...attacker, json: { iss: ps, jti: holder.claims.jti } });
    expect([res.status, res.body]).toEqual([200, {}]);
    // Another issuer's token is revoked by that issuer signing as itself, never by a holder: 400.
    expectProblem(await signedFetch(REVOKE(), { ...holder, json: { iss: 'https://ps.other.example', jti: holder.claims.jti } }), 400, 'invalid_request');
    const rt = await mintResourceToken11(resourceKey, { issuer: site, audience: ps, ps, sub: String(holder.claims.sub), presentedJti: String(holder.claims.jti), agentJkt: holder.key.thumbprint, scope: 'data.read', allowLoopback: true });
    expect((await signedFetch(AUTH(), { ...holder, json: { resource_token: rt, presented_token: holder.token } })).status).toBe(200);
  });
});

describe('the rest of the corpus: odd JSON, tampering, replay, races, methods', () => {
  it('deeply nested, __proto__ and BOM-prefixed JSON: 400 invalid_request (or 413 past the limit)', async () => {
    const agent = await newAgent('odd-json');
    expectProblem(await signedFetch(PERSON(), { ...agent, body: '['.repeat(3000) + ']'.repeat(3000), contentType: 'application/json' }), 400, 'invalid_request');
    expectProblem(await signedFetch(PERSON(), { ...agent, body: '{"a":'.repeat(1000) + '1' + '}'.repeat(1000), contentType: 'application/json' }), 400, 'invalid_request');
    expectProblem(await signedFetch(PERSON(), { ...agent, body: '{"a":'.repeat(1500) + '1' + '}'.repeat(1500), contentType: 'application/json' }), 413, 'invalid_request');
    // A __proto__ key is an own property of the parsed body, not a prototype: resource is still missing.
    const proto = await signedFetch(PERSON(), { ...agent, body: `{"__proto__":{"resource":"${site}"},"capabilities":["interaction"]}`, contentType: 'application/json' });
    expectProblem(proto, 400, 'invalid_request');
    expect(proto.body.detail).toBe('resource is required');
    expectProblem(await signedFetch(PERSON(), { ...agent, body: `\ufeff{"resource":"${site}"}`, contentType: 'application/json' }), 400, 'invalid_request');
  });

  it('a body without Content-Type: 401 invalid_input naming the required components; a body changed after signing: 401 invalid_signature', async () => {
    const agent = await newAgent('tamper');
    const bare = await signedFetch(PERSON(), { ...agent, body: `{"resource":"${site}"}` });
    expect([bare.status, bare.body.error]).toEqual([401, 'invalid_input']);
    expect(bare.headers.get('signature-error')).toBe('error=invalid_input, required_input=("content-type" "content-digest")');
    const body = JSON.stringify({ resource: site });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: PERSON(), headers, body }, { key: agent.key, signatureKey: agent.signatureKey, nonce: true });
    const tampered = await fetch(PERSON(), { method: 'POST', headers: { ...headers, ...signed.headers }, body: body.replace('127.0.0.1', '127.0.0.2') });
    expect([tampered.status, tampered.headers.get('signature-error')]).toEqual([401, 'error=invalid_signature']);
  });

  it('a replayed signed POST: the first is answered, the replay is 401 invalid_signature', async () => {
    const agent = await newAgent('post-replay');
    const body = JSON.stringify({ resource: site });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: PERSON(), headers, body }, { key: agent.key, signatureKey: agent.signatureKey, nonce: true });
    const send = () => fetch(PERSON(), { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    const first = await send();
    expect([first.status, ((await first.json()) as Record<string, unknown>).error]).toEqual([403, 'user_unreachable']);
    const replay = await send();
    expect([replay.status, replay.headers.get('signature-error'), ((await replay.json()) as Record<string, unknown>).error]).toEqual([401, 'error=invalid_signature', 'invalid_signature']);
  });

  it('a resource token of a resource with no metadata, or signed by a key the resource does not publish: 400 invalid_resource_token', async () => {
    const agent = await newAgent('rt-stray');
    const nothing = await host();
    const claims = { audience: ps, ps, sub: 's', presentedJti: 'j', agentJkt: agent.key.thumbprint, scope: 'data.read', allowLoopback: true };
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: await mintResourceToken11(resourceKey, { issuer: nothing.origin, ...claims }), presented_token: 'a.b.c' } }), 400, 'invalid_resource_token');
    expectProblem(await signedFetch(AUTH(), { ...agent, json: { resource_token: await mintResourceToken11(generateKey({ kid: 'resource-h' }), { issuer: site, ...claims }), presented_token: 'a.b.c' } }), 400, 'invalid_resource_token');
  });

  it("why an agent-chosen issuer's metadata could not be read is not told (no port scanner): one detail for a closed port, a 404, a 500; the audit keeps why", async () => {
    const agent = await newAgent('oracle');
    const closed = `http://127.0.0.1:${await freePort()}`;
    const missing = await host();
    const failing = await host();
    failing.set((_q, res) => void res.status(500).end());
    const claims = { audience: ps, ps, sub: 's', presentedJti: 'j', agentJkt: agent.key.thumbprint, scope: 'data.read', allowLoopback: true };
    const details = new Set<string>();
    for (const issuer of [closed, missing.origin, failing.origin]) {
      const res = await signedFetch(AUTH(), { ...agent, json: { resource_token: await mintResourceToken11(resourceKey, { issuer, ...claims }), presented_token: 'a.b.c' } });
      expectProblem(res, 400, 'invalid_resource_token');
      details.add(String(res.body.detail));
    }
    expect([...details]).toEqual(["resource_token refused: the metadata or keys of its issuer could not be read (the person server's audit event says why)"]);
    const reasons = as.audit.filter((e) => e.type === 'request.refused' && e.code === 'resource_token_invalid').slice(-3).map((e) => String(e.reason));
    expect(reasons.some((r) => r.includes('ECONNREFUSED') || r.includes('Cannot reach'))).toBe(true);
    // The signer's side: an agent token whose provider does not answer.
    const stray = createAgentProvider({ issuer: closed, key: providerKey, allowLoopback: true });
    const signer = await signedFetch(PERSON(), { key: agent.key, signatureKey: { scheme: 'jwt', jwt: await stray.mintAgentToken({ local: 'stray', agentKey: agent.key, ps }) }, json: { resource: site } });
    expect([signer.status, signer.headers.get('signature-error')]).toEqual([401, 'error=invalid_jwt']);
    expect(signer.body.detail).toBe("The signing key could not be obtained: the metadata or keys of its issuer could not be read (the person server's audit event says why)");
  });

  it('racing polls of an approved pending URL: exactly one gets the token, the others 410 invalid_code', async () => {
    const owner = await newAgent('racer');
    const post = await signedFetch(PERSON(), { ...owner, json: { resource: site, capabilities: ['interaction'] } });
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    const answers = await Promise.all(Array.from({ length: 6 }, () => signedFetch(post.headers.get('location')!, owner)));
    expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 410 && a.body.error === 'invalid_code')).toHaveLength(5);
  });

  it('a method an endpoint does not serve: 405 method_not_allowed problem+json with Allow, not an HTML page', async () => {
    for (const [url, method, allow] of [
      [PERSON(), 'GET', 'POST'],
      [AUTH(), 'PUT', 'POST'],
      [REVOKE(), 'DELETE', 'POST'],
      [`${ps}/aauth/person/pending/${'A'.repeat(43)}`, 'PUT', 'GET, POST, DELETE'],
    ] as const) {
      const res = await fetch(url, { method });
      expect([res.status, res.headers.get('content-type'), res.headers.get('allow')], `${method} ${url}`).toEqual([405, 'application/problem+json', allow]);
      expect(((await res.json()) as Record<string, unknown>).error).toBe('method_not_allowed');
    }
  });
});
