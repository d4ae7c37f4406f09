import { describe, expect, it } from 'vitest';
import { AAuthError } from '@aauth-kit/core';
import { createDocumentFetcher, type DocumentFetcherOptions } from '@aauth-kit/discovery';
import { json, manualClock, stubFetch } from './helpers.js';

// Wire profile section 4, driven with an injected clock and an injected fetch: no network, no sleeps.
const URL_A = 'https://issuer.example/.well-known/aauth-issuer.json';
/** Every test name resolves to a public address (the egress policy resolves names before fetching). */
const PUBLIC_DNS = { resolveHostname: async (): Promise<string[]> => ['93.184.215.14'] };

function setup(headers: Record<string, string> = {}, overrides: Partial<DocumentFetcherOptions> = {}) {
  const clock = manualClock(1_000_000);
  const transport = stubFetch(() => json({ n: 1 }, headers));
  const fetcher = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, now: clock.now, ...overrides });
  return { clock, transport, fetcher };
}

async function failure(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

/** Fetch `url` at each offset (seconds from the first fetch) and return the network fetch count after each. */
async function countsAt(s: ReturnType<typeof setup>, offsets: number[], url = URL_A): Promise<number[]> {
  const start = s.clock.now();
  const counts: number[] = [];
  for (const t of offsets) {
    s.clock.set(start + t);
    await s.fetcher.fetchJson(url);
    counts.push(s.transport.calls.length);
  }
  return counts;
}

describe('Age (RFC 9111 section 4.2.3): time spent in caches upstream counts against max-age', () => {
  it('max-age=600 with Age: 300 is fresh for 300 s', async () => {
    expect(await countsAt(setup({ 'cache-control': 'max-age=600', age: '300' }), [0, 299, 300])).toEqual([1, 1, 2]);
  });

  it('without Age the same answer is fresh for 600 s', async () => {
    expect(await countsAt(setup({ 'cache-control': 'max-age=600' }), [0, 599, 600])).toEqual([1, 1, 2]);
  });

  it('an Age beyond max-age still keeps the copy for the one-minute floor', async () => {
    expect(await countsAt(setup({ 'cache-control': 'max-age=100', age: '5000' }), [0, 59, 60])).toEqual([1, 1, 2]);
  });

  it('a malformed or negative Age is ignored', async () => {
    expect(await countsAt(setup({ 'cache-control': 'max-age=600', age: 'soon' }), [0, 599, 600])).toEqual([1, 1, 2]);
    expect(await countsAt(setup({ 'cache-control': 'max-age=600', age: '-100' }), [0, 599, 600])).toEqual([1, 1, 2]);
  });

  it('Age without max-age changes nothing (defaultTtl applies)', async () => {
    expect(await countsAt(setup({ age: '250' }), [0, 299, 300])).toEqual([1, 1, 2]);
  });
});

describe('the one-minute refetch floor', () => {
  it('no-cache, no-store and max-age=0 are all kept for 60 s', async () => {
    for (const cc of ['no-cache', 'no-store', 'max-age=0', 'private, no-store, max-age=900']) {
      expect(await countsAt(setup({ 'cache-control': cc }), [0, 30, 59, 60, 119, 120]), cc).toEqual([1, 1, 1, 2, 2, 3]);
    }
  });

  it('refresh (an unknown kid) refetches at most once a minute, and a fresh refetch restarts the clock', async () => {
    const s = setup({ 'cache-control': 'max-age=3600' });
    await s.fetcher.fetchJson(URL_A);
    const start = s.clock.now();
    for (const [t, expected] of [
      [59, 1],
      [60, 2],
      [61, 2],
      [119, 2],
      [120, 3],
    ] as const) {
      s.clock.set(start + t);
      await s.fetcher.fetchJson(URL_A, { refresh: true });
      expect(s.transport.calls.length, `refresh at +${t} s`).toBe(expected);
    }
  });

  it('a defaultTtl below the floor is raised to it', async () => {
    expect(await countsAt(setup({}, { defaultTtl: 5 }), [0, 59, 60])).toEqual([1, 1, 2]);
  });
});

describe('the 24 h cap', () => {
  it('a year of max-age is kept 86400 s', async () => {
    expect(await countsAt(setup({ 'cache-control': 'public, max-age=31536000, immutable' }), [0, 86_399, 86_400])).toEqual([1, 1, 2]);
  });

  it('a defaultTtl above the cap is lowered to it', async () => {
    expect(await countsAt(setup({}, { defaultTtl: 1_000_000 }), [0, 86_399, 86_400])).toEqual([1, 1, 2]);
  });

  it('a 404 is cached by the same rules as a document', async () => {
    const clock = manualClock(1_000_000);
    const transport = stubFetch(() => new Response('', { status: 404, headers: { 'cache-control': 'max-age=120', age: '20' } }));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, now: clock.now });
    await expect(f.fetchJson(URL_A)).resolves.toEqual({ url: URL_A, status: 404, body: undefined, fetchedAt: 1_000_000 });
    clock.advance(99);
    await f.fetchJson(URL_A);
    expect(transport.calls).toHaveLength(1);
    clock.advance(1);
    await f.fetchJson(URL_A);
    expect(transport.calls).toHaveLength(2);
  });
});

describe('the failure cache (negative caching for failureTtl)', () => {
  it('a refused connection is remembered for failureTtl seconds, then retried', async () => {
    const clock = manualClock(1_000_000);
    let up = false;
    const transport = stubFetch(() => (up ? json({ ok: true }) : Promise.reject(new TypeError('connect ECONNREFUSED'))));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, now: clock.now, failureTtl: 30 });
    const first = await failure(f.fetchJson(URL_A));
    expect(first.code).toBe('key_discovery_failed');
    expect(first.message).toBe('Cannot reach https://issuer.example/.well-known/aauth-issuer.json: connect ECONNREFUSED');
    up = true;
    clock.advance(29);
    // The same error object comes back from the cache: no second connection attempt.
    expect(await failure(f.fetchJson(URL_A))).toBe(first);
    expect(transport.calls).toHaveLength(1);
    clock.advance(1);
    await expect(f.fetchJson(URL_A)).resolves.toMatchObject({ status: 200, body: { ok: true } });
    expect(transport.calls).toHaveLength(2);
  });

  it('refresh does not bypass a remembered failure', async () => {
    const clock = manualClock(1_000_000);
    const transport = stubFetch(() => json({}, {}, 503));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, now: clock.now, failureTtl: 10 });
    await failure(f.fetchJson(URL_A));
    clock.advance(5);
    await failure(f.fetchJson(URL_A, { refresh: true }));
    expect(transport.calls).toHaveLength(1);
  });

  it('forget() and clear() drop remembered failures and documents', async () => {
    const s = setup({ 'cache-control': 'max-age=3600' });
    await s.fetcher.fetchJson(URL_A);
    s.fetcher.forget(URL_A);
    await s.fetcher.fetchJson(URL_A);
    expect(s.transport.calls).toHaveLength(2);
    s.fetcher.clear();
    expect(s.fetcher.size).toBe(0);
    await s.fetcher.fetchJson(URL_A);
    expect(s.transport.calls).toHaveLength(3);
  });
});

describe('single flight: concurrent misses for one URL make one fetch', () => {
  it('twenty callers share one fetch and get the same document object', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const transport = stubFetch(async () => {
      await gate;
      return json({ keys: [] });
    });
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport });
    const calls = Array.from({ length: 20 }, () => f.fetchJson(URL_A));
    expect(f.inflightCount).toBe(1);
    release();
    const docs = await Promise.all(calls);
    expect(new Set(docs).size).toBe(1);
    expect(transport.calls).toEqual([URL_A]);
    expect(f.fetchCount).toBe(1);
    expect(f.inflightCount).toBe(0);
  });

  it('a failure in flight reaches every waiting caller, from one fetch', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const transport = stubFetch(async () => {
      await gate;
      return json({}, {}, 500);
    });
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport });
    const calls = Array.from({ length: 5 }, () => f.fetchJson(URL_A).then(() => undefined, (e: unknown) => e));
    release();
    const errors = await Promise.all(calls);
    expect(new Set(errors).size).toBe(1);
    expect(errors[0]).toMatchObject({ code: 'key_discovery_failed', message: 'The document at https://issuer.example/.well-known/aauth-issuer.json answered HTTP 500' });
    expect(transport.calls).toHaveLength(1);
  });

  it('spellings of one URL share one cache entry and one fetch', async () => {
    const s = setup({ 'cache-control': 'max-age=3600' });
    await Promise.all([s.fetcher.fetchJson(URL_A), s.fetcher.fetchJson('HTTPS://Issuer.Example:443/.well-known/aauth-issuer.json')]);
    await s.fetcher.fetchJson('https://ISSUER.example/.well-known/aauth-issuer.json');
    expect(s.transport.calls).toEqual([URL_A]);
    expect(s.fetcher.size).toBe(1);
  });
});

describe('calls and options', () => {
  it('a call may bring its own fetch (the agent transport) and names its kind in errors', async () => {
    const own = stubFetch(() => new Response('[1]', { status: 200 }));
    const unused = stubFetch(() => json({}));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: unused });
    const e = await failure(f.fetchJson(URL_A, { fetch: own, kind: 'issuer metadata' }));
    expect(e.message).toBe('The issuer metadata at https://issuer.example/.well-known/aauth-issuer.json is not a JSON object');
    expect(own.calls).toEqual([URL_A]);
    expect(unused.calls).toEqual([]);
  });

  it('sends a GET accepting JSON, without following redirects itself', async () => {
    let seen: RequestInit | undefined;
    const spy = stubFetch((_url, i) => {
      seen = i;
      return json({});
    });
    await createDocumentFetcher({ ...PUBLIC_DNS, fetch: spy }).fetchJson(URL_A);
    expect(seen).toMatchObject({ method: 'GET', redirect: 'manual', headers: { accept: 'application/json' } });
  });

  it('failureCode and deniedCode replace the verifier codes (the agent uses its own)', async () => {
    const transport = stubFetch(() => json({}, {}, 502));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, failureCode: 'auth_server_discovery_failed', deniedCode: 'auth_server_discovery_failed' });
    expect((await failure(f.fetchJson(URL_A))).code).toBe('auth_server_discovery_failed');
    expect((await failure(f.fetchJson('http://issuer.example/x'))).code).toBe('auth_server_discovery_failed');
    expect((await failure(f.fetchJson('not a url'))).code).toBe('auth_server_discovery_failed');
    const plain = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport });
    expect((await failure(plain.fetchJson('http://issuer.example/x'))).code).toBe('egress_denied');
    expect((await failure(plain.fetchJson('not a url'))).code).toBe('key_discovery_failed');
  });

  it('an egress refusal is decided before the cache and the network', async () => {
    const transport = stubFetch(() => json({}));
    const f = createDocumentFetcher({ ...PUBLIC_DNS, fetch: transport, allowHosts: ['issuer.example'] });
    expect((await failure(f.fetchJson('https://other.example/x'))).code).toBe('egress_denied');
    expect(transport.calls).toEqual([]);
    expect(f.size).toBe(0);
  });

  it('validates its options at creation, naming the path', () => {
    const bad: Array<[DocumentFetcherOptions, string]> = [
      [{ timeoutMs: 0 }, 'options.discovery.timeoutMs must be a positive integer (got 0)'],
      [{ maxBytes: 1.5 }, 'options.discovery.maxBytes must be a positive integer (got 1.5)'],
      [{ failureTtl: -1 }, 'options.discovery.failureTtl must be a positive integer (got -1)'],
      [{ allowHosts: [''] }, 'options.discovery.allowHosts must be an array of non-empty strings (got [""])'],
      [{ allowPrivateAddresses: 'yes' as unknown as boolean }, 'options.discovery.allowPrivateAddresses must be a boolean (got "yes")'],
      [{ now: 5 as unknown as () => number }, 'options.discovery.now must be a function (got 5)'],
    ];
    for (const [options, message] of bad) {
      expect(() => createDocumentFetcher(options, 'options.discovery')).toThrow(new TypeError(message));
    }
  });
});

describe('peek: the cached copy without a fetch (issue 18, the verifier warm key path)', () => {
  it('answers the fresh cached document, never fetches, and is empty before the first fetch, after expiry and after forget', async () => {
    const s = setup({ 'cache-control': 'max-age=60' });
    expect(s.fetcher.peek!(URL_A)).toBeUndefined();
    expect(s.transport.calls).toHaveLength(0);
    const fetched = await s.fetcher.fetchJson(URL_A);
    expect(s.fetcher.peek!(fetched.url)).toBe(fetched);
    expect(s.transport.calls).toHaveLength(1);
    s.clock.set(s.clock.now() + 61);
    expect(s.fetcher.peek!(fetched.url)).toBeUndefined();
    expect(s.transport.calls).toHaveLength(1);
    await s.fetcher.fetchJson(URL_A);
    s.fetcher.forget(URL_A);
    expect(s.fetcher.peek!(URL_A)).toBeUndefined();
  });
});
