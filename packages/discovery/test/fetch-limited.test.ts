import { describe, expect, it } from 'vitest';
import { fetchLimited, readLimited } from '@aauth-kit/discovery';
import { stubFetch } from './helpers.js';
import { closingServer } from '../../../test/fixtures/http.js';

const TOKEN = new URL('https://as.example/realms/x/token');
const LIMITS = { timeoutMs: 1000, maxBytes: 100, resolveHostname: async (): Promise<string[]> => ['93.184.215.14'] };

async function rejection(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: { code: string; message: string }) => e,
  );
}

describe('fetchLimited: one request under the discovery limits', () => {
  it('sends the request as given and reads the answer whole', async () => {
    let seen: RequestInit | undefined;
    const transport = stubFetch((_url, init) => {
      seen = init;
      return new Response('{"ok":true}', { status: 201, headers: { 'x-a': '1' } });
    });
    const body = new TextEncoder().encode('{"q":1}');
    const r = await fetchLimited(TOKEN, { method: 'POST', headers: { 'content-type': 'application/json' }, body }, { ...LIMITS, fetch: transport });
    expect([r.status, r.headers.get('x-a'), Buffer.from(r.body).toString(), r.url.href]).toEqual([201, '1', '{"ok":true}', TOKEN.href]);
    expect(seen).toMatchObject({ method: 'POST', body, redirect: 'manual', headers: { 'content-type': 'application/json' } });
  });

  it('never follows a redirect of a request with a body, nor any redirect with maxRedirects 0', async () => {
    const transport = stubFetch(() => new Response(null, { status: 307, headers: { location: '/realms/x/token2' } }));
    const post = await rejection(fetchLimited(TOKEN, { method: 'POST', headers: {}, body: new Uint8Array(1) }, { ...LIMITS, fetch: transport, failureCode: 'exchange_failed' }));
    expect(post).toMatchObject({ code: 'exchange_failed', message: 'https://as.example/realms/x/token redirected (307); this request follows no redirects' });
    const get = await rejection(fetchLimited(TOKEN, { method: 'GET', headers: {} }, { ...LIMITS, fetch: transport, maxRedirects: 0 }));
    expect(get.message).toBe('https://as.example/realms/x/token redirected (307); this request follows no redirects');
    expect(transport.calls).toEqual([TOKEN.href, TOKEN.href]);
  });

  it('follows same-origin redirects of a GET and refuses another origin', async () => {
    const transport = stubFetch((url) =>
      url.endsWith('/a')
        ? new Response(null, { status: 302, headers: { location: '/b' } })
        : url.endsWith('/b')
          ? new Response(null, { status: 302, headers: { location: 'https://evil.example/c' } })
          : new Response('{}'),
    );
    const e = await rejection(fetchLimited(new URL('https://as.example/a'), { method: 'GET', headers: {} }, { ...LIMITS, fetch: transport }));
    expect(e).toMatchObject({
      code: 'key_discovery_failed',
      message: 'https://as.example/b redirected (302): a redirect to another origin (https://evil.example) is refused; only same-origin redirects are followed',
    });
    expect(transport.calls).toEqual(['https://as.example/a', 'https://as.example/b']);
  });

  it('a redirect to a URL without an origin (file:) is named by its scheme, not as "null"', async () => {
    const transport = stubFetch(() => new Response(null, { status: 302, headers: { location: 'file:///etc/passwd' } }));
    const e = await rejection(fetchLimited(new URL('https://as.example/a'), { method: 'GET', headers: {} }, { ...LIMITS, fetch: transport }));
    expect(e).toMatchObject({ message: 'https://as.example/a redirected (302): a redirect to another origin (a file: URL) is refused; only same-origin redirects are followed' });
    expect(transport.calls).toEqual(['https://as.example/a']);
  });

  it('applies the egress policy before sending', async () => {
    const transport = stubFetch(() => new Response('{}'));
    const e = await rejection(fetchLimited(new URL('http://as.example/token'), { method: 'GET', headers: {} }, { ...LIMITS, fetch: transport, deniedCode: 'auth_server_error' }));
    expect(e).toMatchObject({ code: 'auth_server_error', message: 'Refusing to fetch: http://as.example is not https (plain http is allowed for local names only)' });
    expect(transport.calls).toEqual([]);
  });

  it('refuses a declared or streamed body over maxBytes', async () => {
    const declared = stubFetch(() => new Response('x'.repeat(10), { headers: { 'content-length': '5000' } }));
    expect((await rejection(fetchLimited(TOKEN, { method: 'GET', headers: {} }, { ...LIMITS, fetch: declared }))).message).toBe(
      'https://as.example/realms/x/token answered 5000 bytes, more than the 100 allowed; an answer larger than 100 bytes is refused unread',
    );
    const streamed = stubFetch(() => new Response('x'.repeat(101)));
    expect((await rejection(fetchLimited(TOKEN, { method: 'GET', headers: {} }, { ...LIMITS, fetch: streamed }))).message).toBe(
      'https://as.example/realms/x/token answered more than the 100 bytes allowed; an answer larger than 100 bytes is refused',
    );
  });

  it('a transport that never settles and ignores its signal still fails at timeoutMs', async () => {
    const hung = stubFetch(() => new Promise<Response>(() => undefined));
    const e = await rejection(fetchLimited(TOKEN, { method: 'GET', headers: {} }, { ...LIMITS, timeoutMs: 50, fetch: hung }));
    expect(e).toMatchObject({ code: 'key_discovery_failed', message: 'https://as.example/realms/x/token did not answer within 50 ms' });
  });
});

describe('readLimited', () => {
  it('concatenates chunks up to the limit and cancels beyond it', async () => {
    const stream = (parts: string[]) => new Response(new ReadableStream({ start: (c) => { for (const p of parts) c.enqueue(new TextEncoder().encode(p)); c.close(); } })).body;
    expect(Buffer.from(await readLimited(stream(['ab', 'cd']), 4, () => new Error('too large'))).toString()).toBe('abcd');
    await expect(readLimited(stream(['ab', 'cde']), 4, () => new Error('too large'))).rejects.toThrow('too large');
    expect(await readLimited(null, 4, () => new Error('too large'))).toEqual(new Uint8Array(0));
  });
});

describe('fetchLimited with a given fetch, against a server that closes the connection unanswered', () => {
  it('fails at once as unreachable, not at its time limit (node 20 fetch given body: null did not see the close)', async () => {
    const closing = await closingServer();
    const port = closing.port;
    try {
      const error = await fetchLimited(new URL(`http://127.0.0.1:${port}/doc`), { method: 'GET', headers: {} }, { fetch, timeoutMs: 20_000, maxBytes: 1000, allowPrivateAddresses: true }).catch(
        (e: unknown) => e as Error,
      );
      expect((error as Error).message).toMatch(/^Cannot reach http:\/\/127\.0\.0\.1:\d+\/doc: .*other side closed/);
    } finally {
      await closing.close();
    }
  });
});
