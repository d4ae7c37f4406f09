// Issue 15 review: the -11 resource under attack. Tokens of one resource at another, held calls
// polled concurrently (run once), a held call re-dispatched through a second require() that asks
// for more scope, and a -11-only resource that must not fetch from loopback ids without allowLoopback.
import { generateKey, parseSignatureError, signRequest, type SigningKey } from '@aauth-kit/core';
import { serializeSignatureKey } from '@aauth-kit/core/internal';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { authToken11, fetch11, personToken, startIssuer11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { listen, type Listening } from './fixtures/http.js';
import { startServer, type TestServer } from './fixtures/route-server.js';

let ps: Issuer11;
let siteA: Listening;
let siteB: Listening;
let strict: Listening;
let victim: TestServer;
let a: string;
let b: string;
let started = 0;
let runs = 0;
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });

/** Let the first run of the held call wait (at most 0.5 s) for a second one to start, as a race would. */
async function overlap(): Promise<void> {
  started += 1;
  for (let i = 0; i < 50 && started < 2; i++) await new Promise((r) => setTimeout(r, 10));
}

beforeAll(async () => {
  ps = await startIssuer11('aauth-person.json');
  victim = await startServer({ '/.well-known/aauth-agent.json': { body: { issuer: 'x', jwks_uri: 'x' } } });
  const appA = express();
  siteA = await listen(appA);
  a = siteA.origin;
  const appB = express();
  siteB = await listen(appB);
  b = siteB.origin;
  const options = (identity: string) => ({
    identity,
    key: generateKey({ kid: 'r' }),
    generations: ['draft-11' as const],
    scopes: { 'orders.write': 'Place orders', admin: 'Administer' },
    draft11: { allowLoopback: true, personServers: [ps.issuer], authIssuers: [ps.issuer] },
  });
  const resourceA = createResource(options(a));
  const resourceB = createResource(options(b));
  const ok = (req: Request, res: Response) => res.json(req.aauth);
  appA.use(resourceA.pendingEndpoint());
  appA.get('/me', resourceA.require({ level: 'person' }), ok);
  appA.get('/data', resourceA.require({ scope: 'orders.write' }), ok);
  appA.post('/orders', resourceA.require({ scope: 'orders.write', deferred: true }), async (_req: Request, res: Response) => {
    await overlap();
    runs += 1;
    res.status(201).json({ run: runs });
  });
  // A second require() on the held call's path asks for more than the deferred one did.
  appA.post('/admin', resourceA.require({ scope: 'orders.write', deferred: true }), resourceA.require({ scope: 'admin' }), (_req: Request, res: Response) => {
    res.status(201).json({ admin: true });
  });
  appB.get('/me', resourceB.require({ level: 'person' }), ok);
  appB.get('/data', resourceB.require({ scope: 'orders.write' }), ok);

  // A -11-only resource without the loopback relaxation.
  const appS = express();
  strict = await listen(appS);
  const resourceS = createResource({ identity: 'https://strict.example', key: generateKey({ kid: 's' }), generations: ['draft-11'] });
  appS.get('/open', resourceS.require({ level: 'identity' }), ok);
});

afterAll(async () => {
  await Promise.all([ps, siteA, siteB, strict, victim].map((s) => s?.close()));
});

describe('tokens of one resource at another', () => {
  it('a person token for A is invalid_jwt at B (aud), and accepted at A', async () => {
    const forA = await personToken(ps, agentKey, a);
    expect((await fetch11(`${a}/me`, agentKey, forA)).status).toBe(200);
    const atB = await fetch11(`${b}/me`, agentKey, forA);
    expect(atB.status).toBe(401);
    expect(parseSignatureError(atB.headers.get('signature-error'))).toMatchObject({ error: 'invalid_jwt' });
    expect(atB.body).toMatchObject({ error: 'invalid_jwt', detail: expect.stringMatching(/aud/i) });
  });

  it('an auth token for A is invalid_jwt at B, never a resource token for B', async () => {
    const forA = await authToken11(ps, agentKey, a, { scope: 'orders.write' });
    expect((await fetch11(`${a}/data`, agentKey, forA)).status).toBe(200);
    const atB = await fetch11(`${b}/data`, agentKey, forA);
    expect(atB.status).toBe(401);
    expect(parseSignatureError(atB.headers.get('signature-error'))).toMatchObject({ error: 'invalid_jwt' });
    expect(atB.headers.get('aauth-requirement')).toBeNull();
  });
});

describe('held calls (deferred auth-token)', () => {
  it('two concurrent polls with the auth token run the held call once; both get its response', async () => {
    const person = await personToken(ps, agentKey, a);
    const first = await fetch11(`${a}/orders`, agentKey, person, { method: 'POST', body: '{"qty":1}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const auth = await authToken11(ps, agentKey, a, { scope: 'orders.write' });
    const [one, two] = await Promise.all([fetch11(location, agentKey, auth), fetch11(location, agentKey, auth)]);
    expect([one.status, two.status]).toEqual([201, 201]);
    expect([one.body, two.body]).toEqual([{ run: 1 }, { run: 1 }]);
    expect(runs).toBe(1);
    // Another auth token afterwards: 410, the call does not run again.
    expect((await fetch11(location, agentKey, await authToken11(ps, agentKey, a, { scope: 'orders.write' }))).status).toBe(410);
    expect(runs).toBe(1);
  });

  it('a held call does not pass a second require() whose scope the poll\'s auth token lacks: 403 insufficient_scope, no Signature-Error', async () => {
    const person = await personToken(ps, agentKey, a);
    const first = await fetch11(`${a}/admin`, agentKey, person, { method: 'POST', body: '{}' });
    expect(first.status).toBe(202);
    const done = await fetch11(first.headers.get('location')!, agentKey, await authToken11(ps, agentKey, a, { scope: 'orders.write' }));
    expect([done.status, done.body.error]).toEqual([403, 'insufficient_scope']);
    expect(done.headers.get('signature-error')).toBeNull();
    expect(done.headers.get('accept-signature-scheme')).toBeNull();
  });
});

describe('a -11 resource without allowLoopback', () => {
  it('a jwks_uri Signature-Key naming a loopback id is invalid_signature and nothing is fetched from it', async () => {
    const request = { method: 'GET', url: `${strict.origin}/open`, headers: {} };
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: victim.url, dwk: 'aauth-agent.json', kid: 'k' }, { form: 'dictionary' });
    const r = await fetch(request.url, { headers: signRequest(request, { key: agentKey, signatureKey: sk }).headers });
    expect(r.status).toBe(401);
    expect(parseSignatureError(r.headers.get('signature-error'))).toMatchObject({ error: 'invalid_signature' });
    expect(victim.hits.size).toBe(0);
  });
});

