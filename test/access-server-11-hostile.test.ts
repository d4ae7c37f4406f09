import { createAuthServer, type AuthServer } from '@aauth-kit/auth-server';
import { generateKey, mintAgentToken, mintPersonToken, mintResourceToken11, signRequest, type SigningKey } from '@aauth-kit/core';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, freePort, signedFetch, testRealm } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';

// Issue 16: the hostile corpus of the -11 access server's token endpoint. The callers here are
// hand-built: a person server (its metadata and JWKS on loopback, trusted by the access server), an
// agent provider and a resource, each a small document server, so every token and signature can be
// bent. Every refusal is a specific 4xx with its -11 code, never a 500.

const open: Array<{ close(): Promise<void> }> = [];
let as: string;
let endpoint: string;
let server: AuthServer;

/** A -11 party: `/.well-known/{dwk}` naming its origin as `issuer`, and its JWKS (keys with `alg`). */
async function startIssuer(dwk: string, name: string): Promise<{ origin: string; key: SigningKey }> {
  const key = generateKey({ kid: `${name}-1` });
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const origin = listening.origin;
  app.get(`/.well-known/${dwk}`, (_q, r) => r.json({ issuer: origin, jwks_uri: `${origin}/jwks` }));
  app.get('/jwks', (_q, r) => {
    const { kid: _kid, ...jwk } = key.jwk as unknown as Record<string, string>;
    r.json({ keys: [{ ...jwk, kid: key.kid, alg: 'Ed25519' }] });
  });
  return { origin, key };
}

let ps: { origin: string; key: SigningKey };
let rogue: { origin: string; key: SigningKey };
let provider: { origin: string; key: SigningKey };
let resource: { origin: string; key: SigningKey };
const agentKey = generateKey({ kid: 'agent-1' });

/** A consistent token set: agent token, the person token the resource saw, the resource token naming it. */
async function tokens(o: { rtKey?: SigningKey; rtNow?: () => number; rtPs?: string; agentKey?: SigningKey; scope?: string } = {}) {
  const agentToken = mintAgentToken(provider.key, { issuer: provider.origin, sub: `aauth:buyer@${new URL(provider.origin).host}`, agentKey: o.agentKey ?? agentKey, ps: ps.origin, allowLoopback: true });
  const personJti = `pt-${Math.random().toString(36).slice(2)}`;
  const presentedToken = await mintPersonToken(ps.key, { issuer: ps.origin, audience: resource.origin, sub: 'directed-sub-1', agentKey, jti: personJti, allowLoopback: true });
  const resourceToken = await mintResourceToken11(o.rtKey ?? resource.key, {
    issuer: resource.origin,
    audience: as,
    ps: o.rtPs ?? ps.origin,
    sub: 'directed-sub-1',
    presentedJti: personJti,
    agentJkt: agentKey,
    scope: o.scope ?? 'data.read',
    allowLoopback: true,
    ...(o.rtNow ? { now: o.rtNow } : {}),
  });
  return { agent_token: await agentToken, presented_token: presentedToken, resource_token: resourceToken };
}

/** POST to the access server signed as `signer` (default the trusted person server) under jwks_uri. */
function asPerson(json: unknown, signer = ps, extra: { contentType?: string; body?: string } = {}) {
  return signedFetch(endpoint, {
    key: signer.key,
    signatureKey: { scheme: 'jwks_uri', id: signer.origin, dwk: 'aauth-person.json', kid: signer.key.kid },
    ...(extra.body !== undefined ? { body: extra.body, contentType: extra.contentType ?? 'application/json' } : { json }),
    ...(extra.contentType !== undefined && extra.body === undefined ? { contentType: extra.contentType } : {}),
  });
}

beforeAll(async () => {
  ps = await startIssuer('aauth-person.json', 'ps');
  rogue = await startIssuer('aauth-person.json', 'rogue');
  provider = await startIssuer('aauth-agent.json', 'ap');
  resource = await startIssuer('aauth-resource.json', 'res');
  const port = await freePort();
  as = `http://127.0.0.1:${port}`;
  server = createAuthServer({
    baseUrl: as,
    draft11: { allowLoopback: true },
    realm: testRealm({ 'aauth.access.enabled': 'true', 'aauth.access.trusted.person.servers': JSON.stringify([ps.origin]), 'aauth.allowed.scopes': '["data.read","supply-chain:optimize"]' }),
    maxBodyBytes: 16 * 1024,
    onWarning: () => undefined,
  });
  open.push(await server.listen(port));
  endpoint = `${as}/aauth/access/auth-token`;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('the access server token endpoint: a trusted person server is served', () => {
  it('200: aa-auth+jwt, iss the AS, dwk aauth-access.json, ps the signer, sub from the resource token, cnf the agent key, exp capped', async () => {
    const res = await asPerson(await tokens());
    expect(res.status).toBe(200);
    const { header, claims } = decodeJwt(String(res.body.auth_token));
    expect(header).toMatchObject({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: as, dwk: 'aauth-access.json', aud: resource.origin, ps: ps.origin, sub: 'directed-sub-1', scope: 'data.read' });
    expect((claims.cnf as { jwk: Record<string, string> }).jwk).toMatchObject({ x: (agentKey.jwk as unknown as Record<string, string>).x, alg: 'Ed25519' });
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
    expect(res.body.expires_in).toBe(Number(claims.exp) - Number(claims.iat));
  });
});

describe('the hostile corpus: each a specific 4xx, never a 500', () => {
  it('unsigned: 401 with Signature-Error invalid_signature (-09 5.4.4, -11 11.3.4: a missing signature)', async () => {
    const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=invalid_signature/);
    expect(((await res.json()) as Record<string, unknown>).error).toBe('invalid_signature');
  });

  it('another scheme (hwk, an agent): 401 unsupported_scheme with Accept-Signature-Scheme: jwks_uri', async () => {
    const res = await signedFetch(endpoint, { key: agentKey, json: await tokens() });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=unsupported_scheme/);
    expect(res.headers.get('accept-signature-scheme')).toBe('jwks_uri');
  });

  it('an untrusted person server: 403 access_denied, no Signature-Error, and nothing fetched from it', async () => {
    const res = await asPerson(await tokens(), rogue);
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: 'access_denied' });
    expect(String(res.body.detail)).toMatch(/not trusted by this access server/);
    expect(res.headers.get('signature-error')).toBeNull();
  });

  it('a signature by another key than the person server publishes: 401 invalid_signature', async () => {
    const res = await asPerson(await tokens(), { origin: ps.origin, key: generateKey({ kid: ps.key.kid }) });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=invalid_signature/);
  });

  it('a body whose signature does not cover content-digest: 401 with required_input', async () => {
    const body = JSON.stringify(await tokens());
    const headers = { 'content-type': 'application/json' };
    const signed = signRequest({ method: 'POST', url: endpoint, headers, body }, { key: ps.key, signatureKey: { scheme: 'jwks_uri', id: ps.origin, dwk: 'aauth-person.json', kid: ps.key.kid }, components: ['@method', '@authority', '@path', 'signature-key'], nonce: true });
    const res = await fetch(endpoint, { method: 'POST', headers: { ...headers, ...signed.headers }, body });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toMatch(/^error=invalid_(signature|input)/);
  });

  it('a forged resource token (another key under the resource kid): 400 invalid_resource_token', async () => {
    const res = await asPerson(await tokens({ rtKey: generateKey({ kid: resource.key.kid }) }));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_resource_token']);
  });

  it('an expired resource token: 400 expired_resource_token', async () => {
    const res = await asPerson(await tokens({ rtNow: () => Date.now() / 1000 - 600 }));
    expect([res.status, res.body.error]).toEqual([400, 'expired_resource_token']);
  });

  it('a replayed resource token: the second redemption is 400 invalid_resource_token', async () => {
    const body = await tokens();
    expect((await asPerson(body)).status).toBe(200);
    const again = await asPerson(body);
    expect([again.status, again.body.error]).toEqual([400, 'invalid_resource_token']);
    expect(String(again.body.detail)).toMatch(/already redeemed/);
  });

  it('a resource token naming another person server in ps: 400 invalid_resource_token', async () => {
    const res = await asPerson(await tokens({ rtPs: rogue.origin }));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_resource_token']);
  });

  it("an agent_token of another key than the resource token's agent_jkt: 400 invalid_resource_token", async () => {
    const res = await asPerson(await tokens({ agentKey: generateKey({ kid: 'other-agent' }) }));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_resource_token']);
  });

  it('a presented_token that is not the one the resource token names: 400 invalid_resource_token; garbage: 400 invalid_presented_token', async () => {
    const one = await tokens();
    const other = await tokens();
    const mismatch = await asPerson({ ...one, presented_token: other.presented_token });
    expect([mismatch.status, mismatch.body.error]).toEqual([400, 'invalid_resource_token']);
    const garbage = await asPerson({ ...(await tokens()), presented_token: 'not.a.jwt' });
    expect([garbage.status, garbage.body.error]).toEqual([400, 'invalid_presented_token']);
  });

  it('an upstream_token that is not a person or auth token addressed to the intermediary: 400 invalid_upstream_token', async () => {
    const t = await tokens();
    const res = await asPerson({ ...t, upstream_token: t.presented_token });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_upstream_token']);
  });

  it('a scope outside the realm policy: 400 invalid_scope', async () => {
    const res = await asPerson(await tokens({ scope: 'admin.everything' }));
    expect([res.status, res.body.error]).toEqual([400, 'invalid_scope']);
  });

  it('missing resource_token or agent_token, a non-string, subagent_token: 400 invalid_request', async () => {
    const t = await tokens();
    for (const body of [{ agent_token: t.agent_token }, { resource_token: t.resource_token }, { ...t, agent_token: 42 }, { ...t, subagent_token: t.agent_token }]) {
      const res = await asPerson(body);
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    }
  });

  it('malformed JSON, a JSON array, a wrong content-type: 400 invalid_request', async () => {
    for (const [body, contentType] of [['{"resource_token":', 'application/json'], ['[]', 'application/json'], ['resource_token=x', 'text/plain']] as const) {
      const res = await asPerson(undefined, ps, { body, contentType });
      expect([res.status, res.body.error]).toEqual([400, 'invalid_request']);
    }
  });

  it('an oversized body: 413 invalid_request', async () => {
    const res = await asPerson(undefined, ps, { body: JSON.stringify({ resource_token: 'x'.repeat(32 * 1024) }) });
    expect([res.status, res.body.error]).toEqual([413, 'invalid_request']);
  });

  it('another method: 405 with Allow: POST', async () => {
    const res = await fetch(endpoint);
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});
