import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { generateKey, signRequest, verifyRequest } from '@aauth-kit/core';
import { parseSignedRequest, plainUrlParts, requestTarget, requestUrl, toHttpRequest, verifySignedRequest } from '@aauth-kit/core/internal';

// Issue 18: a plain request URL is split by hand, without a WHATWG parse, and must hold exactly
// what the parsed URL holds; anything else is left to `new URL`.

const parts = (url: URL) => ({ href: url.href, protocol: url.protocol, host: url.host, pathname: url.pathname, search: url.search });

describe('plainUrlParts: a plain URL split as the WHATWG parser would hold it', () => {
  it('splits plain URLs', () => {
    for (const url of [
      'http://localhost:3000/plan',
      'https://api.example/a/b?x=1&y=2',
      'http://127.0.0.1:8080/p?',
      'https://a-b.example.com/x/.y/y.z/..x/...?q=%20&r=a/b?c./..',
      "http://h.example//evil.example/x'y",
      'http://0.0.0.0:1/',
      'http://a.b.c:65535/~u/!$&()*+,;=:@',
    ]) {
      expect(plainUrlParts(url)).toEqual(parts(new URL(url)));
    }
  });

  it('splits a text once: the same frozen parts again', () => {
    const url = `http://localhost:3000/memo/${Math.random().toString(36).slice(2)}`;
    const first = plainUrlParts(url);
    expect(Object.isFrozen(first)).toBe(true);
    expect(plainUrlParts(`${url}`)).toBe(first);
  });

  it('leaves to the parser what it would change or refuse', () => {
    for (const url of [
      'HTTP://localhost/x',
      'http://Localhost/x',
      'http://localhost:80/x',
      'https://localhost:443/x',
      'http://localhost:0080/x',
      'http://localhost:/x',
      'http://localhost:65536/x',
      'http://localhost',
      'http://a/./x',
      'http://a/x/..',
      'http://a/x/../y',
      'http://a/x/.?q',
      'http://a/%2e/x',
      'http://a/x\\y',
      'http://a/x#f',
      'http://a/x y',
      "http://a/x?q='",
      'http://a/é',
      'http://user@a/x',
      'http://1.2.3/x',
      'http://01.2.3.4/x',
      'http://256.0.0.1/x',
      'http://a.0x1/x',
      'http://a.1/x',
      'http://xn--a.example/x',
      'http://a..b/x',
      'http://a./x',
      'ftp://a/x',
      '/x',
    ]) {
      expect(plainUrlParts(url), url).toBeUndefined();
    }
  });

  it('whatever the text: undefined, or exactly what new URL holds', () => {
    const chars = fc.constantFrom(...'aAzZ09-._~!$&\'()*+,;=:@/?%#\\ .xn'.split(''), '..', '/.', '%2e', ':80', ':443', 'é');
    const host = fc.oneof(fc.constantFrom('localhost', 'a.example', '127.0.0.1', '1.2.3.4', 'A.example', 'x', '0x7f.1'), fc.string({ unit: fc.constantFrom(...'ab09.-:xX'.split('')), maxLength: 12 }));
    fc.assert(
      fc.property(fc.constantFrom('http://', 'https://'), host, fc.string({ unit: chars, maxLength: 30 }), (scheme, h, rest) => {
        const url = `${scheme}${h}/${rest}`;
        const split = plainUrlParts(url);
        if (split === undefined) return;
        expect(split).toEqual(parts(new URL(url)));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('requestTarget: the verified URL as text when it is plain', () => {
  const origin = 'https://api.example';
  it('a plain path: the concatenation, a string; anything else as requestUrl answers', () => {
    expect(requestTarget(origin, '/a/b?x=1&y=2')).toBe('https://api.example/a/b?x=1&y=2');
    expect(requestTarget(origin, '//evil.example/x')).toBe('https://api.example//evil.example/x');
    for (const target of ['/a%20b', 'http://evil.example:8080/p?q=1', '/x?q=\'']) {
      const url = requestTarget(origin, target);
      expect(url).toBeInstanceOf(URL);
      expect(url).toEqual(requestUrl(origin, target));
    }
    expect(() => requestTarget(origin, '*')).toThrow(expect.objectContaining({ code: 'invalid_request', status: 400 }));
    expect(() => requestTarget(origin, '/a/../b')).toThrow(expect.objectContaining({ code: 'invalid_request', status: 400 }));
  });

  it('the same target again: the same text, split once', () => {
    const target = `/again/${Math.random().toString(36).slice(2)}?q=1`;
    const first = requestTarget(origin, target);
    expect(requestTarget(origin, target)).toBe(first);
    expect(plainUrlParts(first as string)).toBe(plainUrlParts(`${origin}${target}`));
    // Another origin is another URL.
    expect(requestTarget('http://localhost:8080', target)).toBe(`http://localhost:8080${target}`);
    expect(requestTarget(origin, target)).toBe(`${origin}${target}`);
  });

  it('toHttpRequest gives it with urlText, a URL without', () => {
    const req = { method: 'GET', url: '/b?q=1', originalUrl: '/mount/b?q=1', headersDistinct: {} };
    expect(toHttpRequest(req, origin, undefined, true).url).toBe('https://api.example/mount/b?q=1');
    expect(() => toHttpRequest({ ...req, originalUrl: '/mount/./b' }, origin, undefined, true)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
    expect(toHttpRequest({ ...req, originalUrl: '/mount/b%20c' }, origin, undefined, true).url).toEqual(new URL('https://api.example/mount/b%20c'));
    expect(toHttpRequest(req, origin).url).toEqual(new URL('https://api.example/mount/b?q=1'));
  });
});

describe('a signed request whose URL came as plain text', () => {
  it('verifyRequest answers it with its URL', async () => {
    const key = generateKey();
    const target = 'http://localhost:3000/plan';
    const verified = await verifyRequest({ method: 'GET', url: target, headers: signRequest({ method: 'GET', url: target, headers: {} }, { key }).headers }, { key });
    expect(verified.url).toBeInstanceOf(URL);
    expect(verified.url.href).toBe(target);
  });

  const key = generateKey();
  const url = 'http://localhost:3000/plan?x=1';
  const signed = (target: string | URL) => parseSignedRequest({ method: 'GET', url: target, headers: signRequest({ method: 'GET', url, headers: {} }, { key }).headers });

  it('verifies as the one whose URL came parsed, with the same signature base', () => {
    const text = signed(url);
    const parsed = signed(new URL(url));
    expect(text.signatureBase).toBe(parsed.signatureBase.replace(/nonce="[^"]*"|created=\d+/g, (m) => (m.startsWith('created') ? `created=${text.created}` : `nonce="${text.nonce}"`)));
    expect(() => verifySignedRequest(text, key)).not.toThrow();
  });

  it('has its URL parsed on first read: the same object each time, assignable, in a JSON copy', () => {
    const text = signed(url);
    expect(text.url).toBeInstanceOf(URL);
    expect(text.url.href).toBe(url);
    expect(text.url).toBe(text.url);
    expect(JSON.parse(JSON.stringify(text)).url).toBe(url);
    expect(JSON.parse(JSON.stringify(text)).signatureBase).toBe(text.signatureBase);
    expect({ ...text, url: text.url }).toMatchObject({ label: text.label, url: text.url });
    const other = new URL('http://localhost:3000/other');
    text.url = other;
    expect(text.url).toBe(other);
  });
});
