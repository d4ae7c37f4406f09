// -11 deferred delivery of requirement=auth-token (AAuth -11 "Deferred Delivery", RS-36): the
// resource answers 202 and holds the call; the first poll presenting a valid auth token runs it and
// gets its response; the same auth token again gets the stored response, the call runs once.
import { generateKey, parseRequirement, type SigningKey } from '@aauth-kit/core';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResource } from '@aauth-kit/express';
import { startDeferredSite11, type DeferredSite11 } from './fixtures/deferred-site-11.js';
import { listen } from './fixtures/http.js';
import { authToken11, fetch11, personToken, type Issuer11 } from './fixtures/draft11-issuers.js';

let ps: Issuer11;
let world: DeferredSite11 | undefined;
let url: string;
let runs = 0;
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });
const other: SigningKey = generateKey({ kid: 'other' });

beforeAll(async () => {
  world = await startDeferredSite11((app, resource) => {
    app.post('/orders', resource.require({ scope: 'orders.write', deferred: true }), express.raw({ type: () => true }), (req: Request, res: Response) => {
      runs += 1;
      res.status(201).json({ run: runs, body: Buffer.isBuffer(req.body) ? req.body.toString('utf8') : null, accessMode: req.aauth?.accessMode, sub: req.aauth?.sub });
    });
  });
  ({ ps, url } = world);
});

afterAll(async () => {
  await world?.close();
});

describe('deferred auth-token challenge (202, held call)', () => {
  it('202 with Location, Retry-After, no-store, the requirement; polls run the held call once', async () => {
    const person = await personToken(ps, agentKey, url, { sub: 'person-7' });
    const first = await fetch11(`${url}/orders`, agentKey, person, { method: 'POST', body: '{"qty":3}' });
    expect(first.status).toBe(202);
    expect(first.body).toEqual({ status: 'pending' });
    expect(first.headers.get('cache-control')).toBe('no-store');
    expect(first.headers.get('retry-after')).toBe('0');
    const location = first.headers.get('location')!;
    expect(location).toMatch(new RegExp(`^${url}/aauth/pending/[A-Za-z0-9_-]{43}$`));
    expect(parseRequirement(first.headers.get('aauth-requirement')!)).toMatchObject({ requirement: 'auth-token', resourceToken: expect.any(String) });
    expect(runs).toBe(0);

    // Polling with the person token still: pending.
    const still = await fetch11(location, agentKey, person);
    expect([still.status, still.body.status]).toEqual([202, 'pending']);
    // Another key may not poll it (and learns nothing).
    const stranger = await fetch11(location, other, await personToken(ps, other, url));
    expect([stranger.status, stranger.body.error]).toEqual([404, 'not_found']);

    // The auth token: the held call runs, with its original body, and its response is the poll's.
    const auth = await authToken11(ps, agentKey, url, { sub: 'person-7', scope: 'orders.write' });
    const done = await fetch11(location, agentKey, auth);
    expect(done.status).toBe(201);
    expect(done.body).toEqual({ run: 1, body: '{"qty":3}', accessMode: 'auth-token', sub: 'person-7' });
    // The same auth token again: the stored result, not a second run.
    const again = await fetch11(location, agentKey, auth);
    expect([again.status, again.body.run]).toEqual([201, 1]);
    expect(runs).toBe(1);
    // Another auth token after completion: 410.
    const later = await fetch11(location, agentKey, await authToken11(ps, agentKey, url, { sub: 'person-7', scope: 'orders.write' }));
    expect(later.status).toBe(410);
  });

  it("an auth token for another person or mission is refused (403 pending_person_mismatch); the call stays held for the right one", async () => {
    const mission = 'a'.repeat(43);
    const person = await personToken(ps, agentKey, url, { sub: 'person-9', missionS256: mission });
    const first = await fetch11(`${url}/orders`, agentKey, person, { method: 'POST', body: '{"qty":9}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const before = runs;
    const wrong = [
      [{ sub: 'person-8', missionS256: mission }, /sub "person-8" is not the person the held call was made for \("person-9"\)/],
      [{ sub: 'person-9' }, /mission_s256 none is not the held call's/],
      [{ sub: 'person-9', missionS256: 'b'.repeat(43) }, /mission_s256 "b+" is not the held call's/],
    ] as const;
    for (const [claims, message] of wrong) {
      const refused = await fetch11(location, agentKey, await authToken11(ps, agentKey, url, { scope: 'orders.write', ...claims }));
      expect([refused.status, refused.headers.get('content-type'), refused.body.error]).toEqual([403, 'application/problem+json', 'access_denied']);
      expect(refused.body.detail).toMatch(message);
      expect(refused.body.detail).toMatch(/take the resource token of this pending request/);
    }
    expect(runs).toBe(before);
    // Still held: the person's own auth token runs it, as that person.
    const done = await fetch11(location, agentKey, await authToken11(ps, agentKey, url, { sub: 'person-9', scope: 'orders.write', missionS256: mission }));
    expect([done.status, done.body.body, done.body.sub]).toEqual([201, '{"qty":9}', 'person-9']);
    expect(runs).toBe(before + 1);
  });

  it('an unknown pending id is 404; a POST to a pending URL 405', async () => {
    const person = await personToken(ps, agentKey, url);
    const unknown = await fetch11(`${url}/aauth/pending/nope`, agentKey, person);
    expect([unknown.status, unknown.headers.get('content-type')]).toEqual([404, 'application/problem+json']);
    const first = await fetch11(`${url}/orders`, agentKey, person, { method: 'POST', body: '{}' });
    const posted = await fetch11(first.headers.get('location')!, agentKey, person, { method: 'POST', body: '{}' });
    expect(posted.status).toBe(405);
  });
});

describe('two resources with deferred routes on one app (the same pendingPath)', () => {
  it("each one's held calls complete at their pending URLs, whichever pendingEndpoint() is mounted first; an unknown id is still 404 problem+json", async () => {
    const app = express();
    const site = await listen(app);
    try {
      const make = (scope: string) =>
        createResource({ identity: site.origin, key: generateKey({ kid: scope }), generations: ['draft-11'], scopes: { [scope]: scope }, draft11: { allowLoopback: true, personServers: [ps.issuer] } });
      const [first, second] = [make('a.write'), make('b.write')];
      app.use(first.pendingEndpoint());
      app.use(second.pendingEndpoint());
      for (const [path, resource, scope] of [['/a', first, 'a.write'], ['/b', second, 'b.write']] as const) {
        app.post(path, resource.require({ scope, deferred: true }), (_req: Request, res: Response) => void res.status(201).json({ path }));
      }
      for (const [path, scope] of [['/a', 'a.write'], ['/b', 'b.write']] as const) {
        const person = await personToken(ps, agentKey, site.origin, { sub: 'person-3' });
        const held = await fetch11(`${site.origin}${path}`, agentKey, person, { method: 'POST', body: '{}' });
        expect(held.status).toBe(202);
        const done = await fetch11(held.headers.get('location')!, agentKey, await authToken11(ps, agentKey, site.origin, { sub: 'person-3', scope }));
        expect([done.status, done.body.path]).toEqual([201, path]);
      }
      const unknown = await fetch11(`${site.origin}/aauth/pending/${'x'.repeat(43)}`, agentKey, await personToken(ps, agentKey, site.origin));
      expect([unknown.status, unknown.headers.get('content-type')]).toEqual([404, 'application/problem+json']);
    } finally {
      await site.close();
    }
  });
});
