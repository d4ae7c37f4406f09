import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { PendingTable, dispatchHeld, heldPersonMismatch, type Dispatcher, type HeldCall } from '../src/lib/deferred.js';
import type { AAuthInfo } from '../src/types.js';

const call = (thumbprint: string, n: number, bytes = 0): HeldCall => ({
  method: 'POST',
  url: `/orders/${n}`,
  headers: {},
  rawHeaders: [],
  httpVersion: '1.1',
  peer: { remoteAddress: '127.0.0.1', remotePort: 40000, remoteFamily: 'IPv4', encrypted: false },
  body: Buffer.alloc(bytes),
  thumbprint,
  person: { ps: 'https://ps.example', sub: 'person-1' },
  scope: ['orders.write'],
  resourceToken: 'rt',
  exp: 1_000_000 + 300,
});

describe('PendingTable: the held calls of -11 deferred delivery', () => {
  const now = () => 1_000_000;

  it('one key over its share (a tenth) loses its own oldest call, never another agent\'s', () => {
    const table = new PendingTable(20, now);
    expect(table.perKey).toBe(2);
    const victim = table.hold(call('victim', 0))!;
    const flood = Array.from({ length: 50 }, (_, i) => table.hold(call('attacker', i)));
    expect(table.get(victim)?.url).toBe('/orders/0');
    expect(table.size).toBe(3);
    // The attacker keeps only its two newest.
    expect(flood.slice(0, 48).every((id) => table.get(id!) === undefined)).toBe(true);
    expect(flood.slice(48).map((id) => table.get(id!)?.url)).toEqual(['/orders/48', '/orders/49']);
  });

  it('a full table of many keys evicts the oldest call overall; ids are unguessable', () => {
    const table = new PendingTable(10, now);
    const ids = Array.from({ length: 11 }, (_, i) => table.hold(call(`key-${i}`, i))!);
    expect(table.size).toBe(10);
    expect(table.get(ids[0]!)).toBeUndefined();
    expect(table.get(ids[10]!)?.url).toBe('/orders/10');
    expect(new Set(ids).size).toBe(11);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('bytes: held bodies count against maxBytes, a tenth per key; one key over its share loses its own oldest, never another agent\'s', () => {
    const table = new PendingTable(1000, now, 10_000);
    expect(table.perKeyBytes).toBe(1000);
    const victim = table.hold(call('victim', 0, 600))!;
    // Many calls of one key, each 400 bytes: it keeps only what fits in its 1000 bytes.
    const flood = Array.from({ length: 30 }, (_, i) => table.hold(call('attacker', i, 400))!);
    expect(table.get(victim)?.url).toBe('/orders/0');
    expect(flood.filter((id) => table.get(id) !== undefined)).toHaveLength(2);
    expect(table.heldBytes).toBe(600 + 800);
    // A body over a key's share cannot be held at all.
    expect(table.hold(call('big', 0, 1001))).toBeUndefined();
  });

  it('bytes: many keys together are held to maxBytes, the oldest dropped first', () => {
    const table = new PendingTable(1000, now, 10_000);
    const ids = Array.from({ length: 30 }, (_, i) => table.hold(call(`key-${i}`, i, 900))!);
    expect(table.heldBytes).toBeLessThanOrEqual(10_000);
    expect(table.size).toBe(11);
    expect(table.get(ids[0]!)).toBeUndefined();
    expect(table.get(ids[29]!)?.url).toBe('/orders/29');
  });

  it('header lines count against maxBytes while a call waits (kept twice: headers and rawHeaders), and are let go once it ran', () => {
    const table = new PendingTable(100, now, 100_000);
    const lines = ['Signature-Key', `sig=jwt;jwt="${'t'.repeat(1500)}"`, 'Host', 'api.example'];
    const withHeaders = (n: number): HeldCall => ({ ...call('k', n, 100), rawHeaders: lines, headers: { host: 'api.example', 'signature-key': lines[1] } });
    const size = 100 + 2 * lines.reduce((n, line) => n + line.length, 0);
    const id = table.hold(withHeaders(0))!;
    // Before: 100 (the body only), whatever the headers held.
    expect(table.heldBytes).toBe(size);
    // A key's share of 20000 bytes is 2000: a call whose headers alone are over it cannot be held.
    const tight = new PendingTable(100, now, 20_000);
    expect([tight.perKeyBytes < size, tight.hold(withHeaders(1)), tight.heldBytes]).toEqual([true, undefined, 0]);
    table.keepResult(id, { response: { status: 200, headers: {}, body: Buffer.alloc(10) }, jti: 'j', until: 1_000_100 });
    expect(table.heldBytes).toBe(10);
    expect([table.get(id)?.rawHeaders, table.get(id)?.headers]).toEqual([[], {}]);
  });

  it('a kept result replaces the held body; one over a key\'s share is not kept (marked dropped)', () => {
    const table = new PendingTable(100, now, 10_000);
    const id = table.hold(call('k', 0, 500))!;
    const response = (bytes: number) => ({ status: 200, headers: {}, body: Buffer.alloc(bytes) });
    table.keepResult(id, { response: response(300), jti: 'j1', until: 1_000_100 });
    expect(table.heldBytes).toBe(300);
    expect(table.get(id)?.result?.response.body.length).toBe(300);
    const big = table.hold(call('k', 1, 100))!;
    table.keepResult(big, { response: response(5000), jti: 'j2', until: 1_000_100 });
    expect(table.get(big)?.result).toMatchObject({ jti: 'j2', dropped: true });
    expect(table.get(big)?.result?.response.body.length).toBe(0);
    expect(table.heldBytes).toBe(300);
    table.delete(id);
    table.delete(big);
    expect(table.heldBytes).toBe(0);
  });
});

describe('dispatchHeld: the held call as its route sees it', () => {
  it('the connection of the original call: a TLS call stays https, its peer address is kept', async () => {
    const app = express();
    app.set('trust proxy', false);
    app.post('/orders', (req, res) => {
      res.json({ protocol: req.protocol, secure: req.secure, ip: req.ip ?? null, version: req.httpVersion });
    });
    const held: HeldCall = { ...call('k', 0), url: '/orders', httpVersion: '1.1', peer: { remoteAddress: '203.0.113.9', remotePort: 51000, remoteFamily: 'IPv4', encrypted: true } };
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const result = await dispatchHeld(app as unknown as Dispatcher, held, res, { scheme: 'jwt', generation: 'draft-11', agent: 'aauth:bot@agent.example', thumbprint: 'k', jwk: { kty: 'OKP' }, scope: ['orders.write'] } as AAuthInfo);
    expect(result.status).toBe(200);
    expect(JSON.parse(result.body.toString('utf8'))).toEqual({ protocol: 'https', secure: true, ip: '203.0.113.9', version: '1.1' });
  });

  it('a response larger than maxKeep is sent but not buffered: the result is marked tooLarge, its body empty', async () => {
    const app = express();
    app.post('/export', (_req, res) => {
      res.status(200).type('text/plain');
      for (let i = 0; i < 10; i++) res.write('x'.repeat(500));
      res.end('end');
    });
    const held: HeldCall = { ...call('k', 0), url: '/export' };
    const res = new ServerResponse(new IncomingMessage(new Socket()));
    const info = { scheme: 'jwt', generation: 'draft-11', agent: 'aauth:bot@agent.example', thumbprint: 'k', jwk: { kty: 'OKP' }, scope: [] } as unknown as AAuthInfo;
    const result = await dispatchHeld(app as unknown as Dispatcher, held, res, info, 1000);
    // Before: every chunk of the response was buffered (5003 bytes here; a streamed export in full).
    expect([result.status, result.tooLarge, result.body.length]).toEqual([200, true, 0]);
    const table = new PendingTable(10, () => 1_000_000, 10_000);
    const id = table.hold(held)!;
    table.keepResult(id, { response: result, jti: 'j', until: 1_000_100 });
    expect(table.get(id)?.result).toMatchObject({ dropped: true });

    // Within maxKeep: kept whole.
    const small = await dispatchHeld(app as unknown as Dispatcher, held, new ServerResponse(new IncomingMessage(new Socket())), info, 10_000);
    expect([small.tooLarge, small.body.toString('utf8')]).toEqual([undefined, `${'x'.repeat(5000)}end`]);
  });

  it('a route that throws with no error handler: 500 server_error naming the failure, not a missing route', async () => {
    const app = express();
    app.post('/orders', () => {
      throw new Error('boom');
    });
    const info = { scheme: 'jwt', generation: 'draft-11', agent: 'aauth:bot@agent.example', thumbprint: 'k', jwk: { kty: 'OKP' }, scope: [] } as unknown as AAuthInfo;
    const failed = await dispatchHeld(app as unknown as Dispatcher, { ...call('k', 0), url: '/orders' }, new ServerResponse(new IncomingMessage(new Socket())), info);
    expect([failed.status, JSON.parse(failed.body.toString('utf8'))]).toEqual([500, { error: 'server_error', detail: 'The held call failed in the app, and no error handler answered it', status: 500 }]);
    const missing = await dispatchHeld(app as unknown as Dispatcher, { ...call('k', 0), url: '/elsewhere' }, new ServerResponse(new IncomingMessage(new Socket())), info);
    expect([missing.status, JSON.parse(missing.body.toString('utf8')).detail]).toEqual([404, 'The held call found no route']);
  });
});

describe('heldPersonMismatch: only an auth token for the held call\'s person and mission completes it', () => {
  const person = { ps: 'https://ps.example', sub: 'person-1', missionS256: 'm1' };
  const token = (claims: Record<string, unknown>, subject?: string) => ({ subject, claims });

  it('accepts the same ps, sub and mission_s256', () => {
    expect(heldPersonMismatch(person, token({ ps: 'https://ps.example', mission_s256: 'm1' }, 'person-1'))).toBeUndefined();
    expect(heldPersonMismatch({ ps: 'https://ps.example', sub: 'person-1' }, token({ ps: 'https://ps.example' }, 'person-1'))).toBeUndefined();
  });

  it('names the claim that differs: ps, sub, a missing, other or added mission_s256', () => {
    expect(heldPersonMismatch(person, token({ ps: 'https://other-ps.example', mission_s256: 'm1' }, 'person-1'))).toMatch(/ps "https:\/\/other-ps.example" is not the person server of the held call \("https:\/\/ps.example"\)/);
    expect(heldPersonMismatch(person, token({ mission_s256: 'm1' }, 'person-1'))).toMatch(/ps none is not/);
    expect(heldPersonMismatch(person, token({ ps: 'https://ps.example', mission_s256: 'm1' }, 'person-2'))).toMatch(/sub "person-2" is not the person the held call was made for \("person-1"\)/);
    expect(heldPersonMismatch(person, token({ ps: 'https://ps.example' }, 'person-1'))).toMatch(/mission_s256 none is not the held call's \("m1"\)/);
    expect(heldPersonMismatch(person, token({ ps: 'https://ps.example', mission_s256: 'm2' }, 'person-1'))).toMatch(/mission_s256 "m2"/);
    expect(heldPersonMismatch({ ps: 'https://ps.example', sub: 'person-1' }, token({ ps: 'https://ps.example', mission_s256: 'm1' }, 'person-1'))).toMatch(/mission_s256 "m1" is not the held call's \(none\)/);
  });

  it('quotes at most 80 characters of a claim', () => {
    const message = heldPersonMismatch(person, token({ ps: 'https://ps.example', mission_s256: 'm1' }, 'x'.repeat(5000)))!;
    expect(message.length).toBeLessThan(250);
  });
});
