import { afterAll, describe, expect, it } from 'vitest';
import { AAuthError } from '@aauth-kit/core';
import { createDocumentFetcher, type DocumentFetcher, type DocumentFetcherOptions } from '@aauth-kit/discovery';
import { closer, json, manualClock, startServer, stubFetch } from './helpers.js';

const servers = closer();
afterAll(() => servers.closeAll());

function fetcher(overrides: Partial<DocumentFetcherOptions> = {}): DocumentFetcher {
  return createDocumentFetcher({
    fetch: globalThis.fetch,
    now: () => Date.now() / 1000,
    timeoutMs: 3000,
    maxBytes: 65536,
    maxEntries: 1000,
    defaultTtl: 300,
    failureTtl: 10,
    maxInflight: 100,
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('createDocumentFetcher: cache lifetime (wire profile section 4)', () => {
  it('honours Cache-Control max-age, minus Age', async () => {
    const srv = servers.track(await startServer({ '/doc': { body: { a: 1 }, headers: { 'cache-control': 'public, max-age=200', age: '50' } } }));
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now });
    await f.fetchJson(`${srv.url}/doc`);
    clock.advance(149);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(1);
    clock.advance(1);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(2);
  });

  it('never refetches a URL within a minute, even with no-store or max-age=0', async () => {
    const srv = servers.track(
      await startServer({ '/a': { body: {}, headers: { 'cache-control': 'no-store' } }, '/b': { body: {}, headers: { 'cache-control': 'max-age=0' } } }),
    );
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now });
    for (const p of ['/a', '/b']) {
      await f.fetchJson(`${srv.url}${p}`);
      clock.advance(59);
      await f.fetchJson(`${srv.url}${p}`);
      expect(srv.hits.get(p)).toBe(1);
      clock.advance(1);
      await f.fetchJson(`${srv.url}${p}`);
      expect(srv.hits.get(p)).toBe(2);
    }
  });

  it('caps the lifetime at 24 h', async () => {
    const srv = servers.track(await startServer({ '/doc': { body: {}, headers: { 'cache-control': 'max-age=31536000' } } }));
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now });
    await f.fetchJson(`${srv.url}/doc`);
    clock.advance(86399);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(1);
    clock.advance(1);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(2);
  });

  it('uses defaultTtl without Cache-Control', async () => {
    const srv = servers.track(await startServer({ '/doc': { body: {} } }));
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now, defaultTtl: 300 });
    await f.fetchJson(`${srv.url}/doc`);
    clock.advance(299);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(1);
    clock.advance(1);
    await f.fetchJson(`${srv.url}/doc`);
    expect(srv.hits.get('/doc')).toBe(2);
  });

  it('refresh refetches only when the copy is older than the one-minute floor', async () => {
    const srv = servers.track(await startServer({ '/doc': { body: {}, headers: { 'cache-control': 'max-age=3600' } } }));
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now });
    await f.fetchJson(`${srv.url}/doc`);
    clock.advance(30);
    await f.fetchJson(`${srv.url}/doc`, { refresh: true });
    expect(srv.hits.get('/doc')).toBe(1);
    clock.advance(30);
    await f.fetchJson(`${srv.url}/doc`, { refresh: true });
    expect(srv.hits.get('/doc')).toBe(2);
  });

  it('remembers a failure for failureTtl seconds', async () => {
    const srv = servers.track(await startServer({ '/doc': { status: 500, body: {} } }));
    const clock = manualClock(1000);
    const f = fetcher({ now: clock.now, failureTtl: 10 });
    expect((await failure(f.fetchJson(`${srv.url}/doc`))).message).toMatch(/HTTP 500/);
    clock.advance(9);
    await failure(f.fetchJson(`${srv.url}/doc`));
    expect(srv.hits.get('/doc')).toBe(1);
    clock.advance(1);
    await failure(f.fetchJson(`${srv.url}/doc`));
    expect(srv.hits.get('/doc')).toBe(2);
  });

  it('remembers a 404 as a document, so the fallback logic can see it', async () => {
    const srv = servers.track(await startServer({}));
    const f = fetcher();
    await expect(f.fetchJson(`${srv.url}/missing`)).resolves.toMatchObject({ status: 404 });
    await expect(f.fetchJson(`${srv.url}/missing`)).resolves.toMatchObject({ status: 404 });
    expect(srv.hits.get('/missing')).toBe(1);
  });

  it('failures have their own quarter of maxEntries: a flood of failing URLs never evicts a warm document (discovery audit)', async () => {
    const calls: string[] = [];
    const answer = stubFetch((url) => (url.includes('/bad-') ? Promise.reject(new Error('getaddrinfo ENOTFOUND')) : json({ url })));
    const counting = (async (input: string | URL | Request, init?: RequestInit) => {
      calls.push(String(input));
      return answer(input, init);
    }) as typeof fetch;
    const f = fetcher({ maxEntries: 8, fetch: counting, resolveHostname: async () => ['93.184.215.14'] });
    const good = Array.from({ length: 6 }, (_, i) => `https://agent-${i}.example/.well-known/aauth-agent.json`);
    for (const url of good) await f.fetchJson(url);
    for (let i = 0; i < 200; i++) await failure(f.fetchJson(`https://bad-${i}.example/.well-known/aauth-agent.json`));
    calls.length = 0;
    for (const url of good) await expect(f.fetchJson(url)).resolves.toMatchObject({ body: { url } });
    expect(calls).toEqual([]);
    // Failures are still remembered (within failureTtl), in their bounded share: 8 documents + 2 failures at most.
    await failure(f.fetchJson('https://bad-199.example/.well-known/aauth-agent.json'));
    expect(calls).toEqual([]);
    expect(f.size).toBe(6 + 2);
  });

  it('holds at most maxEntries documents', async () => {
    const srv = servers.track(await startServer({}));
    const f = fetcher({ maxEntries: 5 });
    for (let i = 0; i < 30; i++) await f.fetchJson(`${srv.url}/doc-${i}`);
    expect(f.size).toBe(5);
  });
});

describe('createDocumentFetcher: one fetch for many concurrent misses', () => {
  it('single-flights 50 concurrent gets of one URL', async () => {
    const srv = servers.track(
      await startServer({
        '/slow': (_req, res) => {
          setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 100);
        },
      }),
    );
    const f = fetcher();
    const results = await Promise.all(Array.from({ length: 50 }, () => f.fetchJson(`${srv.url}/slow`)));
    expect(results.every((r) => r.body?.ok === true)).toBe(true);
    expect(srv.hits.get('/slow')).toBe(1);
    expect(f.fetchCount).toBe(1);
  });

  it('fails fast beyond maxInflight concurrent fetches', async () => {
    const srv = servers.track(
      await startServer({
        '/slow': (_req, res) => {
          setTimeout(() => res.writeHead(200).end('{}'), 100);
        },
      }),
    );
    const f = fetcher({ maxInflight: 2 });
    const settled = await Promise.allSettled([1, 2, 3].map((i) => f.fetchJson(`${srv.url}/slow?${i}`)));
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(2);
    const rejected = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    expect(rejected.reason).toMatchObject({ code: 'key_discovery_failed' });
  });

  it('holds one host to maxInflightPerHost fetches (503 key_discovery_busy), while other hosts still fetch (issue 13)', async () => {
    const waiting: Array<() => void> = [];
    const slow = servers.track(
      await startServer({
        '/slow': (_req, res) => void waiting.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')),
      }),
    );
    const other = servers.track(await startServer({ '/doc': { body: { ok: true } } }));
    const f = fetcher({ maxInflightPerHost: 2, maxInflight: 100 });
    const held = [1, 2].map((i) => f.fetchJson(`${slow.url}/slow?${i}`));
    const busy = await failure(f.fetchJson(`${slow.url}/slow?3`));
    expect([busy.code, busy.status, busy.error]).toEqual(['key_discovery_busy', 503, 'server_error']);
    expect(busy.headers['Retry-After']).toBe('3');
    // The same URL again joins its fetch in flight; another host is not affected.
    const joined = f.fetchJson(`${slow.url}/slow?1`);
    expect((await f.fetchJson(`${other.url}/doc`)).body).toEqual({ ok: true });
    expect(f.inflightCount).toBe(2);
    // The refusal is not remembered: once the slots free up, the host is fetched again.
    while (waiting.length < 2) await new Promise((r) => slow.server.once('request', r));
    for (const answer of waiting.splice(0)) answer();
    await Promise.all([...held, joined]);
    const again = f.fetchJson(`${slow.url}/slow?3`);
    while (waiting.length < 1) await new Promise((r) => slow.server.once('request', r));
    waiting.shift()!();
    expect((await again).status).toBe(200);
  });

  it('validates maxInflightPerHost', () => {
    expect(() => fetcher({ maxInflightPerHost: 0 })).toThrow(/options.maxInflightPerHost must be a positive integer/);
  });

  it('holds one caller to maxInflightPerCaller fetches across many hosts (503 key_discovery_busy), while another caller is still served (issue 13)', async () => {
    // An injected fetch that answers only when the test lets it: every host is slow.
    const waiting: Array<() => void> = [];
    let arrived: () => void = () => undefined;
    const slowFetch = ((_url: string | URL | Request) =>
      new Promise<Response>((resolve) => {
        waiting.push(() => resolve(new Response('{"ok":true}', { status: 200, headers: { 'content-type': 'application/json' } })));
        arrived();
      })) as typeof fetch;
    const whenWaiting = async (n: number): Promise<void> => {
      while (waiting.length < n) await new Promise<void>((r) => (arrived = r));
    };
    const f = fetcher({ fetch: slowFetch, maxInflightPerCaller: 3, maxInflightPerHost: 10, maxInflight: 100 });
    // Caller A names one slow host after another (distinct ports): the per-host limit never trips.
    const held = [1, 2, 3].map((i) => f.fetchJson(`http://127.0.0.1:${40000 + i}/doc`, { caller: 'A' }));
    const busy = await failure(f.fetchJson('http://127.0.0.1:40004/doc', { caller: 'A' }));
    expect([busy.code, busy.status, busy.error]).toEqual(['key_discovery_busy', 503, 'server_error']);
    expect(busy.message).toMatch(/maxInflightPerCaller 3/);
    expect(busy.headers['Retry-After']).toBe('3');
    // Joining A's fetch in flight for the same URL costs no slot, and calls naming no caller are not held.
    const joined = f.fetchJson('http://127.0.0.1:40001/doc', { caller: 'A' });
    const anonymous = f.fetchJson('http://127.0.0.1:40005/doc');
    // Caller B is still served, on a host of its own and on one of A's hosts.
    const forB = [f.fetchJson('http://127.0.0.1:40006/doc', { caller: 'B' }), f.fetchJson('http://127.0.0.1:40007/doc', { caller: 'B' })];
    expect(f.inflightCount).toBe(6);
    await whenWaiting(6);
    for (const answer of waiting.splice(0)) answer();
    for (const doc of await Promise.all([...held, joined, anonymous, ...forB])) expect(doc.body).toEqual({ ok: true });
    // The refusal is not remembered: once A's slots free up, A is served again.
    const again = f.fetchJson('http://127.0.0.1:40004/doc', { caller: 'A' });
    await whenWaiting(1);
    waiting.shift()!();
    expect((await again).status).toBe(200);
  });

  it('validates maxInflightPerCaller', () => {
    expect(() => fetcher({ maxInflightPerCaller: 0 })).toThrow(/options.maxInflightPerCaller must be a positive integer/);
    expect(() => fetcher({ maxInflightPerCaller: 1.5 })).toThrow(/options.maxInflightPerCaller must be a positive integer/);
  });
});

describe('createDocumentFetcher: limits', () => {
  it('refuses a body larger than maxBytes, declared or streamed', async () => {
    const big = JSON.stringify({ pad: 'x'.repeat(70_000) });
    const srv = servers.track(
      await startServer({
        '/declared': { raw: big },
        '/chunked': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          for (let i = 0; i < 10; i++) res.write('x'.repeat(10_000));
          res.end();
        },
      }),
    );
    const f = fetcher();
    for (const p of ['/declared', '/chunked']) {
      const e = await failure(f.fetchJson(`${srv.url}${p}`));
      expect(e.code).toBe('key_discovery_failed');
      expect(e.message).toMatch(/larger than 65536 bytes/);
    }
  });

  it('gives up on a server that never answers after timeoutMs', async () => {
    const srv = servers.track(await startServer({ '/hang': () => undefined }));
    const f = fetcher({ timeoutMs: 150 });
    const e = await failure(f.fetchJson(`${srv.url}/hang`));
    expect(e.code).toBe('key_discovery_failed');
    expect(e.message).toMatch(/within 150 ms/);
  });

  it('gives up on a server that sends headers and then stalls the body', async () => {
    const srv = servers.track(
      await startServer({
        '/stall': (_req, res) => {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"a":');
        },
      }),
    );
    const e = await failure(fetcher({ timeoutMs: 150 }).fetchJson(`${srv.url}/stall`));
    expect(e.message).toMatch(/within 150 ms/);
  });

  it('gives up on an injected fetch that ignores the abort signal', async () => {
    const f = fetcher({ timeoutMs: 100, fetch: (() => new Promise(() => undefined)) as typeof fetch });
    const e = await failure(f.fetchJson('http://127.0.0.1:9/x'));
    expect(e.message).toMatch(/within 100 ms/);
  });

  it('refuses answers that are not a JSON object', async () => {
    const srv = servers.track(await startServer({ '/text': { raw: 'hello' }, '/array': { raw: '[1,2]' } }));
    const f = fetcher();
    expect((await failure(f.fetchJson(`${srv.url}/text`))).message).toMatch(/not JSON/);
    expect((await failure(f.fetchJson(`${srv.url}/array`))).message).toMatch(/not a JSON object/);
  });

  it('reports a refused connection as key_discovery_failed', async () => {
    const srv = await startServer({});
    const url = srv.url;
    await srv.close();
    const e = await failure(fetcher().fetchJson(`${url}/x`));
    expect(e.code).toBe('key_discovery_failed');
  });
});

describe('createDocumentFetcher: redirects (no redirects to another host)', () => {
  it('follows a same-origin redirect', async () => {
    const srv = servers.track(
      await startServer({ '/old': { status: 301, headers: { location: '/new' } }, '/new': { body: { moved: true } } }),
    );
    await expect(fetcher().fetchJson(`${srv.url}/old`)).resolves.toMatchObject({ body: { moved: true } });
  });

  it('refuses a redirect to another host, port or scheme', async () => {
    const other = servers.track(await startServer({ '/x': { body: {} } }));
    const srv = servers.track(
      await startServer({
        '/port': { status: 302, headers: { location: `${other.url}/x` } },
        // Same port, another host name.
        '/host': (req, res) => void res.writeHead(307, { location: `http://localhost:${req.socket.localPort}/x` }).end(),
        '/scheme': (req, res) => void res.writeHead(308, { location: `https://127.0.0.1:${req.socket.localPort}/x` }).end(),
      }),
    );
    const f = fetcher();
    for (const p of ['/port', '/host', '/scheme']) {
      const e = await failure(f.fetchJson(`${srv.url}${p}`));
      expect(e.code).toBe('key_discovery_failed');
      expect(e.message).toMatch(/redirect to another origin/);
    }
    expect(other.hits.get('/x') ?? 0).toBe(0);
  });

  it('stops after three redirects', async () => {
    const srv = servers.track(await startServer({ '/loop': { status: 302, headers: { location: '/loop' } } }));
    expect((await failure(fetcher().fetchJson(`${srv.url}/loop`))).message).toMatch(/too many redirects/);
  });
});
