import { AsyncLocalStorage } from 'node:async_hooks';
import { connect, type Socket } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { aauth, createResource } from '@aauth-kit/express';
import { signed, startApp } from './helpers.js';

// Issue 18: the GETs that arrive in one turn of the event loop are verified together after node has
// read them all (lib/turn-batch.ts). These tests make requests arrive in one turn for certain: every
// connection is open and accepted first, then all requests are written while this process's event
// loop is held, so the next turn reads them all.

interface Raw {
  status: number;
  body: string;
}

/** Block this thread for `ms` (the event loop does not turn meanwhile). */
const hold = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Send each request on its own connection so that the server reads them all in one turn. */
async function sendTogether(port: number, requests: Array<{ path: string; headers: Record<string, string> }>): Promise<Raw[]> {
  const sockets = await Promise.all(
    requests.map(
      () =>
        new Promise<Socket>((resolve, reject) => {
          const s = connect(port, '127.0.0.1', () => resolve(s));
          s.once('error', reject);
        }),
    ),
  );
  // Let the server accept every connection before anything is sent.
  await new Promise((r) => setTimeout(r, 50));
  const answers = sockets.map(
    (s) =>
      new Promise<Raw>((resolve, reject) => {
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.once('error', reject);
        s.once('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
          resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
        });
      }),
  );
  requests.forEach((r, i) => {
    const lines = [`GET ${r.path} HTTP/1.1`, `host: 127.0.0.1:${port}`, 'connection: close', ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)];
    sockets[i]!.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
  hold(100);
  return Promise.all(answers);
}

describe('aauth(): the GETs of one event-loop turn are verified together (issue 18)', () => {
  const als = new AsyncLocalStorage<{ id: string }>();
  let web: Awaited<ReturnType<typeof startApp>>;
  let log: string[] = [];
  const agentKey = generateKey();

  /** The app: a first middleware enters each request into an AsyncLocalStorage and the log, then the guard, then the route. */
  function mount(path: string, guard: express.RequestHandler): void {
    web.app.get(
      path,
      (req, _res, next) => {
        const id = String(req.headers['x-id']);
        log.push(`read ${id}`);
        // The guard reads the header lines to verify the request: logged the first time.
        const lines = req.rawHeaders;
        let seen = false;
        Object.defineProperty(req, 'rawHeaders', {
          get() {
            if (!seen) log.push(`verify ${id}`);
            seen = true;
            return lines;
          },
        });
        als.run({ id }, next);
      },
      guard,
      (req, res) => {
        const id = String(req.headers['x-id']);
        log.push(`route ${id}`);
        if (id === 'throws') throw new Error('the route failed');
        res.json({ id, store: als.getStore()?.id, agent: req.aauth?.agent });
      },
    );
  }

  beforeAll(async () => {
    web = await startApp();
    mount('/batched', aauth({ identity: web.identity, key: generateKey(), level: 'signature' }));
    mount('/unbatched', aauth({ identity: web.identity, key: generateKey(), level: 'signature', batch: false }));
    // Two guards on one route: the second runs at once inside the batch's run, not in another turn.
    const resource = createResource({ identity: web.identity, key: generateKey() });
    web.app.get(
      '/twice',
      (req, _res, next) => als.run({ id: String(req.headers['x-id']) }, next),
      resource.require({ level: 'signature' }),
      resource.require({ level: 'signature' }),
      (req, res) => res.json({ id: req.headers['x-id'], store: als.getStore()?.id }),
    );
  });
  afterAll(() => web.close());

  const request = (path: string, id: string): { path: string; headers: Record<string, string> } => {
    const headers: Record<string, string> = signed({ method: 'GET', url: `${web.identity}${path}` }, agentKey).headers;
    return { path, headers: { ...headers, 'x-id': id } };
  };

  it('every request of the turn is read before any is verified; each route runs in its own async context, in arrival order', async () => {
    log = [];
    const ids = Array.from({ length: 12 }, (_, i) => `r${i}`);
    const answers = await sendTogether(web.port, ids.map((id) => request('/batched', id)));
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({ id: ids[i], store: ids[i], agent: `pseudonymous:${agentKey.thumbprint}` });
    }
    const reads = log.filter((l) => l.startsWith('read ')).map((l) => l.slice(5));
    const routes = log.filter((l) => l.startsWith('route ')).map((l) => l.slice(6));
    expect(log.slice(0, 12).every((l) => l.startsWith('read '))).toBe(true);
    expect(routes).toEqual(reads);
  });

  it('every request of the turn is verified before any route runs: the verifies one after the other, then the routes, both in arrival order', async () => {
    log = [];
    const ids = Array.from({ length: 8 }, (_, i) => `v${i}`);
    const answers = await sendTogether(web.port, ids.map((id) => request('/batched', id)));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    const reads = log.filter((l) => l.startsWith('read ')).map((l) => l.slice(5));
    expect(reads).toEqual(ids);
    expect(log).toEqual([...ids.map((id) => `read ${id}`), ...ids.map((id) => `verify ${id}`), ...ids.map((id) => `route ${id}`)]);
  });

  it('a turn with more GETs than one group (32) is verified and answered a group at a time, so an answer waits for at most 32 verifies', async () => {
    log = [];
    const ids = Array.from({ length: 40 }, (_, i) => `g${i}`);
    const answers = await sendTogether(web.port, ids.map((id) => request('/batched', id)));
    expect(answers.map((a) => a.status)).toEqual(ids.map(() => 200));
    const group = (list: string[]) => [...list.map((id) => `verify ${id}`), ...list.map((id) => `route ${id}`)];
    expect(log).toEqual([...ids.map((id) => `read ${id}`), ...group(ids.slice(0, 32)), ...group(ids.slice(32))]);
  });

  it('batch: false verifies each request as it is read, its route in that turn', async () => {
    log = [];
    const ids = Array.from({ length: 6 }, (_, i) => `u${i}`);
    const answers = await sendTogether(web.port, ids.map((id) => request('/unbatched', id)));
    for (const [i, a] of answers.entries()) expect(JSON.parse(a.body)).toMatchObject({ id: ids[i], store: ids[i] });
    expect(log).toEqual(ids.flatMap((id) => [`read ${id}`, `verify ${id}`, `route ${id}`]));
  });

  it('a refused request and a route that throws in the batch touch none of the others', async () => {
    log = [];
    const forged = request('/batched', 'forged');
    forged.headers.signature = forged.headers.signature!.replace(/:[^:]+:/, ':AAAA:');
    const answers = await sendTogether(web.port, [request('/batched', 'a'), forged, request('/batched', 'throws'), request('/batched', 'b')]);
    expect(answers.map((a) => a.status)).toEqual([200, 401, 500, 200]);
    expect(JSON.parse(answers[0]!.body)).toMatchObject({ id: 'a', store: 'a' });
    expect(JSON.parse(answers[1]!.body)).toMatchObject({ error: 'invalid_signature' });
    expect(JSON.parse(answers[3]!.body)).toMatchObject({ id: 'b', store: 'b' });
  });

  it("a second guard on the route runs within the same run, in the request's own context", async () => {
    const ids = ['t0', 't1', 't2'];
    const answers = await sendTogether(web.port, ids.map((id) => request('/twice', id)));
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      expect(JSON.parse(a.body)).toEqual({ id: ids[i], store: ids[i] });
    }
  });

  it('options.batch must be a boolean', () => {
    expect(() => createResource({ identity: web.identity, key: generateKey(), batch: 'yes' as unknown as boolean })).toThrow('options.batch must be a boolean');
  });
});
