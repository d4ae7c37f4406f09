import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createTokenExchanger, type TokenExchangeEvent, type TokenExchangerOptions } from '../src/index.js';
import { listen, type Listening } from '../../../test/fixtures/http.js';

const TOKEN_ENDPOINT = 'https://as.example.com/realms/acme/protocol/openid-connect/token';
const open: Listening[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()));
});

interface StubOptions {
  expiresIn?: number | undefined;
  tokenType?: string;
  /** Answer with this error instead. */
  error?: { status: number; error: string };
  /** Hold answers until `release()`. */
  gated?: boolean;
}

/** A token endpoint (in-process) that issues `tok-1`, `tok-2`, ... and records each form; other URLs go to the network (loopback). */
function stubTokenEndpoint(options: StubOptions = {}) {
  const forms: URLSearchParams[] = [];
  // Resolved when the nth request arrives: tests wait for it instead of sleeping.
  const arrivals: Array<{ n: number; resolve: () => void }> = [];
  let release: () => void = () => undefined;
  let gate = options.gated ? new Promise<void>((r) => (release = r)) : Promise.resolve();
  const transport: typeof fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    if (url !== TOKEN_ENDPOINT) return fetch(input, init);
    forms.push(new URLSearchParams(Buffer.from(init!.body as Uint8Array).toString('utf8')));
    const n = forms.length;
    for (const arrival of arrivals.filter((a) => a.n <= n)) arrival.resolve();
    await gate;
    if (options.error) return Response.json({ error: options.error.error, error_description: 'no' }, { status: options.error.status });
    const body: Record<string, unknown> = {
      access_token: `tok-${n}`,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      token_type: options.tokenType ?? 'Bearer',
    };
    if (!('expiresIn' in options) || options.expiresIn !== undefined) body.expires_in = options.expiresIn ?? 300;
    const scope = forms[n - 1]!.get('scope');
    if (scope) body.scope = scope;
    return Response.json(body);
  };
  return {
    transport,
    forms,
    count: () => forms.length,
    /** Resolves once `n` requests have reached the endpoint. */
    received: (n: number) => (forms.length >= n ? Promise.resolve() : new Promise<void>((resolve) => arrivals.push({ n, resolve }))),
    release: () => release(),
    regate: () => {
      gate = new Promise<void>((r) => (release = r));
    },
  };
}

interface Seen {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A loopback downstream that records what reached it and answers with `answer(seen)`. */
async function downstream(answer: (seen: Seen, res: ServerResponse) => void = (_s, res) => res.end('ok')): Promise<Listening & { seen: Seen[] }> {
  const seen: Seen[] = [];
  const listening = await listen((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s: Seen = {
        method: req.method!,
        url: req.url!,
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(s);
      answer(s, res);
    });
  });
  open.push(listening);
  return { ...listening, seen };
}

function options(stub: ReturnType<typeof stubTokenEndpoint>, extra: Partial<TokenExchangerOptions<{ user: string }>> = {}): TokenExchangerOptions<{ user: string }> {
  return {
    targets: {
      crm: { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'agent', auth: { method: 'client_secret_basic', clientSecret: 'secret' }, audience: 'crm', scope: 'crm:read' },
      billing: { tokenEndpoint: TOKEN_ENDPOINT, clientId: 'agent', auth: { method: 'client_secret_basic', clientSecret: 'secret' }, audience: 'billing' },
    },
    subjectTokenProvider: ({ context }) => context?.user,
    fetch: stub.transport,
    ...extra,
  };
}

describe('credential(ref): cache per (target, subject token, scope)', () => {
  it('serves repeat calls from the cache and exchanges again for another user, scope or target', async () => {
    const stub = stubTokenEndpoint();
    const exchanger = createTokenExchanger(options(stub));
    const alice = { context: { user: 'alice-token' } };
    const a1 = await exchanger.credential('crm', alice);
    const a2 = await exchanger.credential('crm', alice);
    expect([a1.accessToken, a2.accessToken, stub.count()]).toEqual(['tok-1', 'tok-1', 1]);
    expect((await exchanger.credential('crm', { context: { user: 'bob-token' } })).accessToken).toBe('tok-2');
    expect((await exchanger.credential('crm', { ...alice, scope: 'crm:write' })).accessToken).toBe('tok-3');
    expect((await exchanger.credential('billing', alice)).accessToken).toBe('tok-4');
    expect((await exchanger.credential('crm', alice)).accessToken).toBe('tok-1');
    expect(stub.count()).toBe(4);
    expect(stub.forms.map((f) => [f.get('subject_token'), f.get('audience'), f.get('scope')])).toEqual([
      ['alice-token', 'crm', 'crm:read'],
      ['bob-token', 'crm', 'crm:read'],
      ['alice-token', 'crm', 'crm:write'],
      ['alice-token', 'billing', null],
    ]);
  });

  it('renews a token 30 s before it expires (injected clock)', async () => {
    let now = 1_000;
    const stub = stubTokenEndpoint({ expiresIn: 300 });
    const exchanger = createTokenExchanger(options(stub, { now: () => now }));
    const ctx = { context: { user: 'alice-token' } };
    expect((await exchanger.credential('crm', ctx)).expiresAt).toBe(1_300);
    now = 1_269;
    expect((await exchanger.credential('crm', ctx)).accessToken).toBe('tok-1');
    now = 1_271;
    expect((await exchanger.credential('crm', ctx)).accessToken).toBe('tok-2');
    expect(stub.count()).toBe(2);
  });

  it('renewBefore is configurable; a token of unknown lifetime is used once and not cached', async () => {
    let now = 1_000;
    const stub = stubTokenEndpoint({ expiresIn: 300 });
    const exchanger = createTokenExchanger(options(stub, { now: () => now, renewBefore: 100 }));
    await exchanger.credential('crm', { context: { user: 'u' } });
    now = 1_201;
    await exchanger.credential('crm', { context: { user: 'u' } });
    expect(stub.count()).toBe(2);

    const opaque = stubTokenEndpoint({ expiresIn: undefined });
    const noExpiry = createTokenExchanger(options(opaque));
    expect((await noExpiry.credential('crm', { context: { user: 'u' } })).expiresAt).toBeUndefined();
    await noExpiry.credential('crm', { context: { user: 'u' } });
    expect(opaque.count()).toBe(2);
  });

  it('concurrent misses share one exchange (single flight), failures included, and a failure is not cached', async () => {
    const stub = stubTokenEndpoint({ gated: true });
    const exchanger = createTokenExchanger(options(stub));
    const calls = Array.from({ length: 5 }, () => exchanger.credential('crm', { context: { user: 'alice-token' } }));
    // The exchange is under way (and the other four calls joined it before it could be sent).
    await stub.received(1);
    stub.release();
    const tokens = await Promise.all(calls);
    expect(new Set(tokens.map((t) => t.accessToken))).toEqual(new Set(['tok-1']));
    expect(stub.count()).toBe(1);

    const failing = stubTokenEndpoint({ gated: true, error: { status: 400, error: 'invalid_grant' } });
    const refused = createTokenExchanger(options(failing));
    const attempts = Array.from({ length: 3 }, () => refused.credential('crm', { context: { user: 'x' } }).catch((e: { code: string }) => e.code));
    await failing.received(1);
    failing.release();
    expect(await Promise.all(attempts)).toEqual(['exchange_invalid_grant', 'exchange_invalid_grant', 'exchange_invalid_grant']);
    expect(failing.count()).toBe(1);
    await expect(refused.credential('crm', { context: { user: 'x' } })).rejects.toMatchObject({ code: 'exchange_invalid_grant' });
    expect(failing.count()).toBe(2);
  });

  it('invalidate(ref) and flush() forget tokens, and an exchange under way when they are called does not refill the cache', async () => {
    const stub = stubTokenEndpoint();
    const exchanger = createTokenExchanger(options(stub));
    const ctx = { context: { user: 'alice-token' } };
    await exchanger.credential('crm', ctx);
    await exchanger.credential('billing', ctx);
    exchanger.invalidate('crm');
    expect((await exchanger.credential('crm', ctx)).accessToken).toBe('tok-3');
    expect((await exchanger.credential('billing', ctx)).accessToken).toBe('tok-2');
    exchanger.flush();
    expect((await exchanger.credential('billing', ctx)).accessToken).toBe('tok-4');

    stub.regate();
    const pending = exchanger.credential('crm', { context: { user: 'carol-token' } });
    await stub.received(5);
    exchanger.invalidate('crm');
    stub.release();
    expect((await pending).accessToken).toBe('tok-5');
    stub.regate();
    stub.release();
    expect((await exchanger.credential('crm', { context: { user: 'carol-token' } })).accessToken).toBe('tok-6');
    expect(() => exchanger.invalidate('nope')).toThrow(/"nope" is not a target/);
  });

  it('holds at most maxEntries tokens, the least recently used going first', async () => {
    const stub = stubTokenEndpoint();
    const exchanger = createTokenExchanger(options(stub, { maxEntries: 2 }));
    const as = (user: string) => ({ context: { user } });
    await exchanger.credential('crm', as('a'));
    await exchanger.credential('crm', as('b'));
    await exchanger.credential('crm', as('a'));
    await exchanger.credential('crm', as('c'));
    expect(stub.count()).toBe(3);
    await exchanger.credential('crm', as('a'));
    expect(stub.count()).toBe(3);
    await exchanger.credential('crm', as('b'));
    expect(stub.count()).toBe(4);
  });

  it('an actor token provider adds actor_token, and the cache key includes it', async () => {
    const stub = stubTokenEndpoint();
    let actor = 'actor-1';
    const exchanger = createTokenExchanger(options(stub, { actorTokenProvider: () => actor }));
    await exchanger.credential('crm', { context: { user: 'u' } });
    await exchanger.credential('crm', { context: { user: 'u' } });
    actor = 'actor-2';
    await exchanger.credential('crm', { context: { user: 'u' } });
    expect(stub.forms.map((f) => [f.get('actor_token'), f.get('actor_token_type')])).toEqual([
      ['actor-1', 'urn:ietf:params:oauth:token-type:access_token'],
      ['actor-2', 'urn:ietf:params:oauth:token-type:access_token'],
    ]);
  });

  it('a missing subject token fails before any network call', async () => {
    const stub = stubTokenEndpoint();
    const api = await downstream();
    const exchanger = createTokenExchanger(options(stub));
    await expect(exchanger.credential('crm')).rejects.toMatchObject({ code: 'exchange_subject_token_missing', status: 502 });
    await expect(exchanger.fetch('crm', `${api.origin}/contacts`, { context: { user: '' } })).rejects.toMatchObject({ code: 'exchange_subject_token_missing' });
    expect(stub.count()).toBe(0);
    expect(api.seen).toEqual([]);
  });
});

describe('fetch(ref, input, init): bearer downstreams', () => {
  it('sends Authorization: Bearer with the exchanged token, replacing one the caller set, and keeps method, headers and body', async () => {
    const stub = stubTokenEndpoint();
    const api = await downstream();
    const exchanger = createTokenExchanger(options(stub));
    const res = await exchanger.fetch('crm', `${api.origin}/contacts?page=2`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer users-own-token' },
      body: JSON.stringify({ name: 'Ada' }),
      context: { user: 'alice-token' },
    });
    expect(await res.text()).toBe('ok');
    expect(api.seen).toEqual([{ method: 'POST', url: '/contacts?page=2', authorization: 'Bearer tok-1', contentType: 'application/json', body: '{"name":"Ada"}' }]);
    const bound = exchanger.fetchFor('crm');
    expect((await bound(`${api.origin}/again`, { context: { user: 'alice-token' } })).status).toBe(200);
    expect(api.seen[1]!.authorization).toBe('Bearer tok-1');
    expect(stub.count()).toBe(1);
  });

  it('a 401 from the downstream evicts the token and retries once with a new one and the same body; a second 401 is handed back', async () => {
    const stub = stubTokenEndpoint();
    const accepted = new Set(['tok-2']);
    const api = await downstream((seen, res) => {
      res.statusCode = accepted.has(seen.authorization?.slice(7) ?? '') ? 200 : 401;
      res.end(String(res.statusCode));
    });
    const events: TokenExchangeEvent[] = [];
    const exchanger = createTokenExchanger(options(stub, { onEvent: (e) => events.push(e) }));
    const init = { method: 'PUT', body: 'same bytes', context: { user: 'alice-token' } };
    const res = await exchanger.fetch('crm', `${api.origin}/deal/1`, init);
    expect(res.status).toBe(200);
    expect(api.seen.map((s) => [s.authorization, s.body])).toEqual([
      ['Bearer tok-1', 'same bytes'],
      ['Bearer tok-2', 'same bytes'],
    ]);
    // tok-2 is now cached: the next call uses it without an exchange.
    expect((await exchanger.fetch('crm', `${api.origin}/deal/2`, { context: { user: 'alice-token' } })).status).toBe(200);
    expect(stub.count()).toBe(2);

    accepted.clear();
    const refused = await exchanger.fetch('crm', `${api.origin}/deal/3`, { context: { user: 'alice-token' } });
    expect(refused.status).toBe(401);
    expect(api.seen.slice(3).map((s) => s.authorization)).toEqual(['Bearer tok-2', 'Bearer tok-3']);
    expect(stub.count()).toBe(3);
    // Both refused tokens were evicted: the next call exchanges again (tok-4) instead of offering tok-3.
    accepted.add('tok-4');
    expect((await exchanger.fetch('crm', `${api.origin}/deal/4`, { context: { user: 'alice-token' } })).status).toBe(200);
    expect(api.seen.at(-1)!.authorization).toBe('Bearer tok-4');
    expect(stub.count()).toBe(4);

    expect(events.filter((e) => e.type !== 'exchanged')).toEqual([
      { type: 'evicted', ref: 'crm', reason: 'unauthorized' },
      { type: 'retried', ref: 'crm', method: 'PUT', url: `${api.origin}/deal/1` },
      { type: 'evicted', ref: 'crm', reason: 'unauthorized' },
      { type: 'retried', ref: 'crm', method: 'GET', url: `${api.origin}/deal/3` },
      { type: 'evicted', ref: 'crm', reason: 'unauthorized' },
    ]);
    expect(events.filter((e) => e.type === 'exchanged').map((e) => (e as { cached: boolean }).cached)).toContain(true);
    expect(JSON.stringify(events)).not.toMatch(/tok-\d|alice-token|secret/);
  });

  it('a token goes only to allowed origins, never over plain http to a public host, and not along a cross-origin redirect', async () => {
    const stub = stubTokenEndpoint();
    const other = await downstream();
    const api = await downstream((seen, res) => {
      if (seen.url === '/away') {
        res.statusCode = 302;
        res.setHeader('location', `${other.origin}/landing`);
      } else if (seen.url === '/here') {
        res.statusCode = 307;
        res.setHeader('location', '/there');
      }
      res.end();
    });
    const base = options(stub);
    const exchanger = createTokenExchanger({ ...base, targets: { crm: { ...base.targets.crm!, origins: [api.origin] } } });
    const ctx = { context: { user: 'alice-token' } };
    await expect(exchanger.fetch('crm', `${other.origin}/x`, ctx)).rejects.toThrow(/not in options.targets.crm.origins/);
    await expect(exchanger.fetch('crm', 'http://crm.example.com/x', ctx)).rejects.toThrow(/not https/);
    expect(stub.count()).toBe(0);

    await exchanger.fetch('crm', `${api.origin}/here`, { method: 'POST', body: 'b', ...ctx });
    expect(api.seen.map((s) => [s.url, s.authorization, s.body])).toEqual([
      ['/here', 'Bearer tok-1', 'b'],
      ['/there', 'Bearer tok-1', 'b'],
    ]);
    await exchanger.fetch('crm', `${api.origin}/away`, ctx);
    expect(other.seen).toEqual([{ method: 'GET', url: '/landing', authorization: undefined, contentType: undefined, body: '' }]);
    const manual = await exchanger.fetch('crm', `${api.origin}/away`, { ...ctx, redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(other.seen).toHaveLength(1);
  });

  it('after a redirect the retry goes where the 401 came from; a 401 from an origin the token never reached is handed back', async () => {
    const stub = stubTokenEndpoint();
    const other = await downstream((_seen, res) => {
      res.statusCode = 401;
      res.end('who are you');
    });
    const accepted = new Set(['tok-2']);
    const api = await downstream((seen, res) => {
      if (seen.url === '/old') {
        res.statusCode = 307;
        res.setHeader('location', '/new');
      } else if (seen.url === '/away') {
        res.statusCode = 302;
        res.setHeader('location', `${other.origin}/landing`);
      } else res.statusCode = accepted.has(seen.authorization?.slice(7) ?? '') ? 200 : 401;
      res.end();
    });
    const exchanger = createTokenExchanger(options(stub));
    const ctx = { context: { user: 'alice-token' } };
    const res = await exchanger.fetch('crm', `${api.origin}/old`, { method: 'PUT', body: 'b', ...ctx });
    expect(res.status).toBe(200);
    expect(api.seen.map((s) => [s.url, s.authorization, s.body])).toEqual([
      ['/old', 'Bearer tok-1', 'b'],
      ['/new', 'Bearer tok-1', 'b'],
      ['/new', 'Bearer tok-2', 'b'],
    ]);
    expect(stub.count()).toBe(2);

    const away = await exchanger.fetch('crm', `${api.origin}/away`, ctx);
    expect(away.status).toBe(401);
    expect(other.seen.map((s) => s.authorization)).toEqual([undefined]);
    // tok-2 was not refused by its own origin: it stays cached, and nothing was exchanged.
    expect(stub.count()).toBe(2);
  });

  it('a token whose token_type is not Bearer is not sent (exchange_failed); credential() still returns it', async () => {
    const stub = stubTokenEndpoint({ tokenType: 'N_A' });
    const api = await downstream();
    const events: TokenExchangeEvent[] = [];
    const exchanger = createTokenExchanger(options(stub, { onEvent: (e) => events.push(e) }));
    await expect(exchanger.fetch('crm', `${api.origin}/x`, { context: { user: 'u' } })).rejects.toMatchObject({ code: 'exchange_failed', name: 'TokenExchangeError' });
    expect(api.seen).toEqual([]);
    expect((await exchanger.credential('crm', { context: { user: 'u' } })).tokenType).toBe('N_A');
    expect(events.find((e) => e.type === 'failed')).toMatchObject({ type: 'failed', ref: 'crm', code: 'exchange_failed' });
  });

  it('an async onEvent hook that rejects leaves no unhandled rejection (which would end the process)', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      const stub = stubTokenEndpoint();
      const types: string[] = [];
      const exchanger = createTokenExchanger(
        options(stub, {
          onEvent: async (e) => {
            types.push(e.type);
            throw new Error('event store down');
          },
        }),
      );
      expect((await exchanger.credential('crm', { context: { user: 'u' } })).accessToken).toBe('tok-1');
      expect(types.length).toBeGreaterThan(0);
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('a refusal by the authorization server reaches the caller typed, and the downstream is not called', async () => {
    const stub = stubTokenEndpoint({ error: { status: 400, error: 'invalid_target' } });
    const api = await downstream();
    const exchanger = createTokenExchanger(options(stub));
    await expect(exchanger.fetch('crm', `${api.origin}/x`, { context: { user: 'u' } })).rejects.toMatchObject({
      code: 'exchange_invalid_target',
      oauthError: 'invalid_target',
      responseStatus: 400,
    });
    expect(api.seen).toEqual([]);
  });
});

describe('createTokenExchanger validates its options at creation', () => {
  const stub = stubTokenEndpoint();
  const good = options(stub);
  it.each([
    ['no targets', { targets: {} }, /options.targets must name at least one target/],
    ['targets as an array', { targets: [] }, /options.targets must be an object/],
    ['a bad endpoint', { targets: { crm: { ...good.targets.crm!, tokenEndpoint: 'ftp://x' } } }, /options.targets.crm.tokenEndpoint/],
    ['a bad origin', { targets: { crm: { ...good.targets.crm!, origins: ['https://crm.example.com/api'] } } }, /options.targets.crm.origins\[0\] must be an origin/],
    ['no subject token provider', { subjectTokenProvider: undefined }, /options.subjectTokenProvider must be a function/],
    ['a negative renewBefore', { renewBefore: -1 }, /options.renewBefore must be a number of seconds, at least 0/],
    ['a fractional maxEntries', { maxEntries: 1.5 }, /options.maxEntries must be a positive integer/],
    ['an unknown option', { cache: new Map() }, /options.cache is not an option of createTokenExchanger/],
  ])('%s', (_name, patch, message) => {
    expect(() => createTokenExchanger({ ...good, ...patch } as never)).toThrow(TypeError);
    expect(() => createTokenExchanger({ ...good, ...patch } as never)).toThrow(message);
  });

  it('an unknown target name is a TypeError, before anything is sent', async () => {
    const exchanger = createTokenExchanger(good);
    await expect(exchanger.credential('payroll', { context: { user: 'u' } })).rejects.toThrow(/"payroll" is not a target/);
    await expect(exchanger.fetch('payroll', 'https://x.example.com')).rejects.toThrow(TypeError);
    expect(() => exchanger.fetchFor('payroll')).toThrow(TypeError);
    expect(stub.count()).toBe(0);
  });
});
