import type { ServerResponse } from 'node:http';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, mintResourceToken, signRequest, type SignatureKey, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { startAuthServer, startParty, type Party, type TestAuthServer } from './fixtures/auth-server.js';
import { listen, type Listening } from './fixtures/http.js';

// Issue 13, finding 5: key-discovery slots can be starved. An attacker names 150 identities on one
// origin whose metadata drips (headers and one byte, never the rest); before the fix they filled
// the shared in-flight limit (100) and a new, legitimate agent was refused. Now one host holds at
// most `maxInflightPerHost` (10) slots, the rest of its callers get 503 `key_discovery_busy` at
// once, and the legitimate agent is served.

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

function signedPost(url: string, key: SigningKey, signatureKey: SignatureKey): { headers: Record<string, string>; body: string } {
  const headers = { 'content-type': 'application/json' };
  const body = '{"q":1}';
  const s = signRequest({ method: 'POST', url, headers, body }, { key, signatureKey });
  return { headers: { ...headers, ...s.headers }, body };
}

async function send(url: string, req: { headers: Record<string, string>; body: string }): Promise<Answer> {
  const res = await fetch(url, { method: 'POST', headers: req.headers, body: req.body });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: res.status, headers: res.headers, body };
}

describe('key discovery under a slow, hostile origin (issue 13 finding 5)', () => {
  let hostile: Listening;
  let web: Listening;
  let legit: Party;
  let as: TestAuthServer;
  const held: ServerResponse[] = [];
  const arrived = new Map<string, () => void>();
  const codes: string[] = [];

  beforeAll(async () => {
    // The hostile origin: answers 200 and one byte of every metadata document, then nothing.
    hostile = await listen((req, res) => {
      held.push(res);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      arrived.get((req.url ?? '').split('/.well-known/')[0]!)?.();
    });
    legit = await startParty('legit');
    const app = express();
    web = await listen(app);
    // A discovery time limit longer than the test, so that the drip holds its slots throughout.
    const resource = createResource({ identity: web.origin, key: generateKey(), discovery: { timeoutMs: 60_000 }, onError: (e) => codes.push(e.code) });
    app.post('/orders', resource.require({ level: 'identity' }), (req, res) => res.json({ agent: req.aauth!.agent }));
    as = await startAuthServer({ discovery: { timeoutMs: 60_000 } });
  });

  afterAll(async () => {
    await Promise.all([hostile?.close(), web?.close(), legit?.close(), as?.close()]);
  });

  /** 150 requests signed by identities on the hostile origin: which hold a slot, which were answered. */
  async function attack(url: string, tag: string): Promise<{ pending: Array<Promise<Answer>>; refused: Answer[] }> {
    const pending: Array<Promise<Answer>> = [];
    const refused: Answer[] = [];
    for (let i = 0; i < 150; i++) {
      const id = `${hostile.origin}/${tag}${i}`;
      const key = generateKey({ kid: 'k' });
      const reached = new Promise<'reached'>((resolve) => arrived.set(`/${tag}${i}`, () => resolve('reached')));
      const answer = send(url, signedPost(url, key, { scheme: 'jwks_uri', id, kid: 'k' }));
      // Each attacker request either holds a slot (its fetch reached the origin) or was answered.
      const first = await Promise.race([reached, answer]);
      if (first === 'reached') pending.push(answer.catch(() => ({ status: 0, headers: new Headers(), body: {} })));
      else refused.push(first);
    }
    return { pending, refused };
  }

  it('150 slow identities on one origin get 503 key_discovery_busy beyond the per-host limit; a new agent elsewhere is still served', async () => {
    const url = `${web.origin}/orders`;
    const { pending, refused } = await attack(url, 'a');
    // The origin holds at most 10 discoveries; everyone else from it was refused at once.
    expect(pending.length).toBe(10);
    expect(refused).toHaveLength(140);
    for (const r of refused) {
      expect(r.status).toBe(503);
      expect(r.body.error).toBe('server_error');
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    expect(codes.filter((c) => c === 'key_discovery_busy')).toHaveLength(140);

    // A legitimate agent on another origin: its discovery finds a free slot.
    const ok = await send(url, signedPost(url, legit.key, legit.signatureKey));
    expect(ok.status).toBe(200);
    expect(ok.body.agent).toBe(legit.identity);

    // When the hostile origin goes away, its held slots fail and are released.
    for (const res of held) res.destroy();
    for (const a of await Promise.all(pending)) expect(a.status).toBe(401);
  }, 60_000);

  it('the same at the auth server token endpoint: the slow origin is refused with key_discovery_busy, a new agent is verified', async () => {
    held.length = 0;
    const { pending, refused } = await attack(as.tokenEndpoint, 'b');
    expect(pending.length).toBe(10);
    expect(refused).toHaveLength(140);
    for (const r of refused) expect([r.status, r.body.error]).toEqual([503, 'server_error']);
    expect(as.audit.filter((e) => (e as { code?: string }).code === 'key_discovery_busy')).toHaveLength(140);

    // The legitimate agent's signature is verified (its request then fails on its empty body, not on discovery).
    const ok = await send(as.tokenEndpoint, signedPost(as.tokenEndpoint, legit.key, legit.signatureKey));
    expect(ok.status).toBe(400);

    for (const res of held) res.destroy();
    await Promise.all(pending);
  }, 60_000);
});

// Issue 13, finding 5, per caller: one client names identities on MANY slow origins (one identity
// per origin, so no per-host limit trips). Before the fix each of them held a slot of the shared
// pool; now one caller holds at most `maxInflightPerCaller` (20) and is refused beyond it with 503
// `key_discovery_busy`, while another caller is still served.
describe('key discovery: one caller naming identities on many slow origins (issue 13 finding 5)', () => {
  const origins: Listening[] = [];
  const held: ServerResponse[] = [];
  const arrived = new Map<string, () => void>();
  const refusals: Array<{ code: string; message: string }> = [];
  let web: Listening;
  let legit: Party;
  let as: TestAuthServer;

  beforeAll(async () => {
    // 30 dripping origins: 200 and one byte of every metadata document, then nothing.
    for (let i = 0; i < 30; i++) {
      origins.push(
        await listen((req, res) => {
          held.push(res);
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{');
          arrived.get(`${i}${(req.url ?? '').split('/.well-known/')[0]!}`)?.();
        }),
      );
    }
    legit = await startParty('legit-per-caller');
    const app = express();
    web = await listen(app);
    // Every loopback client is 127.0.0.1: the test names its callers with a header, as an operator
    // behind a proxy would pass the client address the proxy forwards.
    const resource = createResource({
      identity: web.origin,
      key: generateKey(),
      discovery: { timeoutMs: 60_000 },
      callerKey: (req) => String(req.headers['x-test-caller'] ?? ''),
      onError: (e) => refusals.push({ code: e.code, message: e.message }),
    });
    app.post('/orders', resource.require({ level: 'identity' }), (req, res) => res.json({ agent: req.aauth!.agent }));
    as = await startAuthServer({ discovery: { timeoutMs: 60_000 } });
  });

  afterAll(async () => {
    for (const res of held) res.destroy();
    await Promise.all([...origins.map((o) => o.close()), web?.close(), legit?.close(), as?.close()]);
  });

  /** One identity on each slow origin, from one caller: which hold a slot, which were answered. */
  async function attack(url: string, tag: string, caller: Record<string, string>): Promise<{ pending: Array<Promise<Answer>>; refused: Answer[] }> {
    const pending: Array<Promise<Answer>> = [];
    const refused: Answer[] = [];
    for (let i = 0; i < origins.length; i++) {
      const key = generateKey({ kid: 'k' });
      const reached = new Promise<'reached'>((resolve) => arrived.set(`${i}/${tag}`, () => resolve('reached')));
      const req = signedPost(url, key, { scheme: 'jwks_uri', id: `${origins[i]!.origin}/${tag}`, kid: 'k' });
      const answer = send(url, { ...req, headers: { ...req.headers, ...caller } });
      const first = await Promise.race([reached, answer]);
      if (first === 'reached') pending.push(answer.catch(() => ({ status: 0, headers: new Headers(), body: {} })));
      else refused.push(first);
    }
    return { pending, refused };
  }

  it('identities on 30 slow origins from one caller: 20 hold a slot, the rest get 503 key_discovery_busy (per caller, not per host); another caller is served', async () => {
    const url = `${web.origin}/orders`;
    const { pending, refused } = await attack(url, 'c', { 'x-test-caller': 'attacker' });
    expect(pending.length).toBe(20);
    expect(refused).toHaveLength(10);
    for (const r of refused) {
      expect([r.status, r.body.error]).toEqual([503, 'server_error']);
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    }
    const busy = refusals.filter((r) => r.code === 'key_discovery_busy');
    expect(busy).toHaveLength(10);
    // The per-caller limit trips, not the per-host one (each origin was named once).
    for (const r of busy) expect(r.message).toMatch(/for this caller \(maxInflightPerCaller 20\)/);

    // The same caller naming a legitimate agent is refused too, before any fetch...
    const again = signedPost(url, legit.key, legit.signatureKey);
    const refusedLegit = await send(url, { ...again, headers: { ...again.headers, 'x-test-caller': 'attacker' } });
    expect([refusedLegit.status, refusedLegit.body.error]).toEqual([503, 'server_error']);
    expect(refusals.at(-1)?.code).toBe('key_discovery_busy');
    // ...while another caller is served.
    const other = signedPost(url, legit.key, legit.signatureKey);
    const ok = await send(url, { ...other, headers: { ...other.headers, 'x-test-caller': 'someone-else' } });
    expect(ok.status).toBe(200);
    expect(ok.body.agent).toBe(legit.identity);

    for (const res of held.splice(0)) res.destroy();
    for (const a of await Promise.all(pending)) expect(a.status).toBe(401);
  }, 60_000);

  it('the same at the auth server token endpoint, keyed by the TCP peer address', async () => {
    const before = as.audit.filter((e) => (e as { code?: string }).code === 'key_discovery_busy').length;
    const { pending, refused } = await attack(as.tokenEndpoint, 'd', {});
    expect(pending.length).toBe(20);
    expect(refused).toHaveLength(10);
    for (const r of refused) expect([r.status, r.body.error]).toEqual([503, 'server_error']);
    const busy = as.audit.filter((e) => (e as { code?: string }).code === 'key_discovery_busy');
    expect(busy.length - before).toBe(10);

    for (const res of held.splice(0)) res.destroy();
    await Promise.all(pending);
  }, 60_000);
  it('at the auth server, resource tokens naming 30 slow resources from one caller: 20 hold a slot, the rest are refused at once', async () => {
    // The signer uses hwk (no discovery of its own); each resource token names another dripping
    // resource, whose keys the auth server must fetch: those fetches are held per caller too.
    const signer = generateKey({ kid: 'h' });
    const agent = `pseudonymous:${signer.thumbprint}`;
    const pending: Array<Promise<Answer>> = [];
    const refused: Answer[] = [];
    for (let i = 0; i < origins.length; i++) {
      const issuer = `${origins[i]!.origin}/rt`;
      const resourceToken = await mintResourceToken(generateKey({ kid: 'r' }), { issuer, audience: as.issuer, agent, agentJkt: signer.thumbprint, scope: 'supply-chain:optimize' });
      const body = JSON.stringify({ resource_token: resourceToken });
      const headers = { 'content-type': 'application/json' };
      const s = signRequest({ method: 'POST', url: as.tokenEndpoint, headers, body }, { key: signer, signatureKey: { scheme: 'hwk', jwk: signer.jwk } });
      const reached = new Promise<'reached'>((resolve) => arrived.set(`${i}/rt`, () => resolve('reached')));
      const answer = send(as.tokenEndpoint, { headers: { ...headers, ...s.headers }, body });
      const first = await Promise.race([reached, answer]);
      if (first === 'reached') pending.push(answer.catch(() => ({ status: 0, headers: new Headers(), body: {} })));
      else refused.push(first);
    }
    expect(pending.length).toBe(20);
    expect(refused).toHaveLength(10);
    // Finding 12: the caller gets the one uniform refusal for a resource key it cannot have; the audit keeps why.
    for (const r of refused) expect([r.status, r.body.error]).toEqual([400, 'invalid_grant']);
    const perCaller = as.audit.filter((e) => String((e as { reason?: string }).reason ?? '').includes('maxInflightPerCaller'));
    expect(perCaller.length).toBeGreaterThanOrEqual(10);

    for (const res of held.splice(0)) res.destroy();
    await Promise.all(pending);
  }, 60_000);
});
