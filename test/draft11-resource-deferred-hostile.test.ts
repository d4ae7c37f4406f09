// -11 deferred delivery under hostile or unlucky conditions (AAuth -11 "Deferred Delivery",
// "Pending URL Security"): a completed held call is answered from its stored result even when the
// poll that ran it lost its connection, and the held call reaches its route as the original call would.
import { generateKey, type SigningKey } from '@aauth-kit/core';
import { createResource, type Resource } from '@aauth-kit/express';
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeferredSite11, type DeferredSite11 } from './fixtures/deferred-site-11.js';
import { authToken11, fetch11, personToken, sign11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { listen, type Listening } from './fixtures/http.js';

let ps: Issuer11;
let world: DeferredSite11 | undefined;
let site: Listening;
let url: string;
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });
let lostRuns = 0;
let halfRuns = 0;

/** Set by the test: called when the held call starts, and once it answered. */
let onStarted: (() => void) | undefined;
let onAnswered: (() => void) | undefined;

beforeAll(async () => {
  world = await startDeferredSite11(routes, (app) => {
    // No header set before a route's own writeHead() (helmet and many apps turn this one off).
    app.disable('x-powered-by');
  });
  ({ ps, site, url } = world);
});

afterAll(async () => {
  await world?.close();
});

function routes(app: Express, resource: Resource): void {
  // What a route reads of the request besides req.aauth: the same for a held call as for a direct one.
  app.post('/seen', resource.require({ scope: 'orders.write', deferred: true }), express.text({ type: () => true }), (req: Request, res: Response) => {
    res.json({
      ip: req.ip ?? null,
      protocol: req.protocol,
      httpVersion: req.httpVersion,
      userAgent: req.rawHeaders[req.rawHeaders.findIndex((name) => name.toLowerCase() === 'x-client') + 1] ?? null,
      body: req.body as unknown,
    });
  });
  // A held call answering with writeHead(status, reason, fields) alone.
  app.post('/csv', resource.require({ scope: 'orders.write', deferred: true }), (_req: Request, res: Response) => {
    res.writeHead(201, 'Made', { 'Content-Type': 'text/csv', 'X-Export-Id': '7' });
    res.end('a,b\n1,2\n');
  });
  // A held call that fails after its answer began (headers and part of the body sent).
  app.post('/half', resource.require({ scope: 'orders.write', deferred: true }), async (_req: Request, res: Response) => {
    halfRuns += 1;
    res.status(200).type('text/plain');
    res.write('partial');
    await new Promise((resolve) => setImmediate(resolve));
    throw new Error('the export failed half way');
  });
  // A held call that answers only after the poll running it has gone: its response is lost in transit.
  app.post('/lost', resource.require({ scope: 'orders.write', deferred: true }), (_req: Request, res: Response) => {
    lostRuns += 1;
    const run = lostRuns;
    res.once('close', () => {
      res.status(201).json({ run });
      onAnswered?.();
    });
    onStarted?.();
  });
}

describe('deferred delivery: a poll whose response is lost', () => {
  it('the repeat with the same auth token gets the stored result; the call ran once', async () => {
    const person = await personToken(ps, agentKey, url);
    const first = await fetch11(`${url}/lost`, agentKey, person, { method: 'POST', body: '{"qty":1}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const auth = await authToken11(ps, agentKey, url, { scope: 'orders.write' });

    // The poll that runs the held call: its connection is cut while the call runs.
    const answered = new Promise<void>((resolve) => (onAnswered = resolve));
    const cut = new Promise<void>((resolve) => {
      const poll = httpRequest(location, { method: 'GET', headers: sign11({ method: 'GET', url: location, headers: {} }, agentKey, auth) });
      poll.on('error', () => undefined);
      poll.on('close', () => resolve());
      onStarted = () => poll.destroy();
      poll.end();
    });
    await cut;
    await answered;

    // AAuth -11 "Deferred Delivery": a repeated presentation of the same auth token is answered
    // from the result, never by running the call again (it hung before: the run never "finished").
    const again = await fetch11(location, agentKey, auth);
    expect([again.status, again.body]).toEqual([201, { run: 1 }]);
    expect(lostRuns).toBe(1);
  });
});

describe('deferred delivery: the stored result a repeat gets', () => {
  it('carries the status, reason, header fields and body the held call answered with, writeHead() fields included', async () => {
    const first = await fetch11(`${url}/csv`, agentKey, await personToken(ps, agentKey, url), { method: 'POST', body: '{}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const auth = await authToken11(ps, agentKey, url, { scope: 'orders.write' });
    const seen = async (): Promise<unknown[]> => {
      const res = await fetch(location, { headers: sign11({ method: 'GET', url: location, headers: {} }, agentKey, auth) });
      return [res.status, res.statusText, res.headers.get('content-type'), res.headers.get('x-export-id'), await res.text()];
    };
    const ran = await seen();
    expect(ran).toEqual([201, 'Made', 'text/csv', '7', 'a,b\n1,2\n']);
    // Before: the repeat had no Content-Type or X-Export-Id (fields given to writeHead() alone are
    // not listed by getHeaders()) and the default reason phrase.
    expect(await seen()).toEqual(ran);
  });
});

describe('deferred delivery: a held call that fails after its answer began', () => {
  it('closes the poll\'s connection, as express does without deferral; a repeat is told the call is complete (410)', async () => {
    const first = await fetch11(`${url}/half`, agentKey, await personToken(ps, agentKey, url), { method: 'POST', body: '{}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const auth = await authToken11(ps, agentKey, url, { scope: 'orders.write' });
    // Before: the poll was never ended (the run's promise never settled) and every later poll waited on it.
    const poll = await fetch(location, { headers: sign11({ method: 'GET', url: location, headers: {} }, agentKey, auth) });
    expect(poll.status).toBe(200);
    await expect(poll.text()).rejects.toThrow();
    const again = await fetch11(location, agentKey, auth);
    expect([again.status, again.body.detail]).toEqual([410, 'The pending request is complete']);
    expect(halfRuns).toBe(1);
  });
});

describe('deferred delivery: the held call reaches its route as the original call would', () => {
  it('req.ip, req.protocol, req.httpVersion and req.rawHeaders are those of the original call', async () => {
    const init = { method: 'POST', body: 'qty=2', headers: { 'x-client': 'orders-cli/1' } };
    const direct = await fetch11(`${url}/seen`, agentKey, await authToken11(ps, agentKey, url, { scope: 'orders.write' }), init);
    expect(direct.status).toBe(200);
    expect(direct.body).toEqual({ ip: '127.0.0.1', protocol: 'http', httpVersion: '1.1', userAgent: 'orders-cli/1', body: 'qty=2' });

    const first = await fetch11(`${url}/seen`, agentKey, await personToken(ps, agentKey, url), init);
    expect(first.status).toBe(202);
    const held = await fetch11(first.headers.get('location')!, agentKey, await authToken11(ps, agentKey, url, { scope: 'orders.write' }));
    // Before: ip null (a blank socket), httpVersion null, no raw header lines.
    expect([held.status, held.body]).toEqual([200, direct.body]);
  });
});

describe('deferred delivery: a body too large to hold, a response too large to keep', () => {
  /** Two resources holding at most 100000 bytes (10000 a key, headers included): one answers refusals, one passes them to the app. */
  let small: Listening;
  beforeAll(async () => {
    const app = express();
    small = await listen(app);
    for (const errors of ['respond', 'next'] as const) {
      const resource = createResource({
        identity: small.origin,
        key: generateKey({ kid: 'r' }),
        generations: ['draft-11'],
        errors,
        scopes: { 'orders.write': 'Place orders' },
        draft11: { allowLoopback: true, personServers: [ps.issuer], maxPendingBytes: 100_000 },
      });
      if (errors === 'respond') app.use(resource.pendingEndpoint());
      app.post(`/${errors}`, resource.require({ scope: 'orders.write', deferred: true }), (_req: Request, res: Response) => {
        res.status(201).json({ ran: true });
      });
      // A large streamed answer: more than one key's share (10000 bytes) of what is kept.
      app.post(`/${errors}/export`, resource.require({ scope: 'orders.write', deferred: true }), (_req: Request, res: Response) => {
        res.status(200).type('text/plain');
        for (let i = 0; i < 20; i++) res.write('0123456789'.repeat(100));
        res.end();
      });
    }
    app.use((error: { status?: number; code?: string }, _req: Request, res: Response, _next: NextFunction) => {
      res.status(error.status ?? 500).json({ handledByApp: error.code ?? null });
    });
  });
  afterAll(async () => {
    await small?.close();
  });

  it("is refused with 413 (body_too_large), answered by the resource or, under errors: 'next', by the app", async () => {
    const person = await personToken(ps, agentKey, small.origin);
    const body = JSON.stringify({ note: 'x'.repeat(20_000) });
    const answered = await fetch11(`${small.origin}/respond`, agentKey, person, { method: 'POST', body });
    expect([answered.status, answered.headers.get('content-type'), answered.body.error]).toEqual([413, 'application/problem+json', 'invalid_request']);
    expect(answered.body.detail).toMatch(/too large to hold while an auth token is obtained: send at most 10000 bytes/);
    // Before: errors: 'next' handed the refusal to a no-op, and the call was never answered.
    const passed = await fetch11(`${small.origin}/next`, agentKey, person, { method: 'POST', body });
    expect([passed.status, passed.body]).toEqual([413, { handledByApp: 'body_too_large' }]);
  });

  it('goes out in full to the poll that ran the call; a repeat is told it is complete (410)', async () => {
    const first = await fetch11(`${small.origin}/respond/export`, agentKey, await personToken(ps, agentKey, small.origin), { method: 'POST', body: '{}' });
    expect(first.status).toBe(202);
    const location = first.headers.get('location')!;
    const auth = await authToken11(ps, agentKey, small.origin, { scope: 'orders.write' });
    const done = await fetch11(location, agentKey, auth);
    expect([done.status, String(done.body.text).length]).toEqual([200, 20_000]);
    const again = await fetch11(location, agentKey, auth);
    expect([again.status, again.body.detail]).toEqual([410, 'The pending request is complete; its response was too large to keep for a repeat']);
  });
});
