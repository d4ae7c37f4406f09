import { describe, expect, it } from 'vitest';
import { IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { fieldLinesOf, requestUrl, toHeaderMap, toHttpRequest } from '@aauth-kit/core/internal';

// Moved from packages/express/test/request-url.test.ts with the code (one HTTP edge, issue 12).
describe('requestUrl: the verified URL comes from the configured origin', () => {
  const origin = 'https://api.example';
  it('joins origin and path with query', () => {
    expect(requestUrl(origin, '/a/b?x=1&y=2').href).toBe('https://api.example/a/b?x=1&y=2');
  });
  it('keeps a // path on this origin instead of resolving it to another host', () => {
    const url = requestUrl(origin, '//evil.example/x');
    expect(url.host).toBe('api.example');
    expect(url.pathname).toBe('//evil.example/x');
  });
  it('takes only path and query from an absolute-form target', () => {
    expect(requestUrl(origin, 'http://evil.example:8080/p?q=1').href).toBe('https://api.example/p?q=1');
  });
  it('refuses a path with dot segments or a backslash (the signature would cover another path than the one routed)', () => {
    for (const target of ['/admin/../public', '/admin/%2e%2e/public', '/admin/%2E%2E/public', '/admin/./../public', '/a/.%2e/b', '/a/%2e/b', '/.', '/..', '/a/..?q=1', '/a\\..\\b', '/a\\b', 'http://evil.example/x/../y']) {
      expect(() => requestUrl(origin, target), target).toThrow(expect.objectContaining({ code: 'invalid_request', status: 400, message: expect.stringMatching(/normalised path|backslash/) }));
    }
    // Dots that are not whole segments, and dot segments in the query, are fine.
    for (const target of ['/a/.b/c', '/a/..b', '/a/b.', '/v1.2/x', '/a/...', '/a?x=/../y', '/%2e%2ex/y']) {
      expect(requestUrl(origin, target).href, target).toBe(`https://api.example${target}`);
    }
  });
  it('refuses a target that is not a path with invalid_request', () => {
    expect(() => requestUrl(origin, '*')).toThrow(expect.objectContaining({ code: 'invalid_request', status: 400 }));
  });
});

describe('toHttpRequest: a node:http or express request as the verifier takes it', () => {
  const headersDistinct = { 'content-type': ['application/json'], 'x-a': ['1', '2'] };
  it('takes express originalUrl (before mounting) over url, keeps field lines apart, and an empty body is none', () => {
    const req = { method: 'POST', url: '/b?q=1', originalUrl: '/mount/b?q=1', headersDistinct };
    expect(toHttpRequest(req, 'https://api.example', new Uint8Array(0))).toEqual({
      method: 'POST',
      url: new URL('https://api.example/mount/b?q=1'),
      headers: { 'content-type': ['application/json'], 'x-a': ['1', '2'] },
      body: undefined,
    });
  });
  it('a plain node:http request: url, and the body as read', () => {
    const body = Buffer.from('{"q":1}');
    const request = toHttpRequest({ method: 'PUT', url: '/x', headersDistinct }, 'http://127.0.0.1:3000', body);
    expect(request.url).toEqual(new URL('http://127.0.0.1:3000/x'));
    expect(request.body).toBe(body);
  });
});

describe('fieldLinesOf: the field lines of node:http rawHeaders, read once (issue 18)', () => {
  const raw = ['Host', 'api.example', 'X-A', '1', 'signature', 'sig=:AA==:', 'x-a', '2', 'Content-Type', 'application/json'];
  it('holds what headersDistinct holds: lower-cased names, every line apart, in order', () => {
    const req = new IncomingMessage(new Socket());
    (req as unknown as { _addHeaderLines(h: string[], n: number): void })._addHeaderLines(raw, raw.length);
    const lines = toHeaderMap(fieldLinesOf(req.rawHeaders));
    expect(Object.fromEntries(lines)).toEqual({ ...req.headersDistinct });
    expect(lines.get('x-a')).toEqual(['1', '2']);
  });
  it('is read as is by toHeaderMap (no copy), while any other input is copied', () => {
    const lines = fieldLinesOf(raw);
    expect(toHeaderMap(lines)).toBe(lines);
    const other = new Map([['x-a', '1']]);
    expect(toHeaderMap(other)).not.toBe(other);
  });
  it('toHttpRequest reads rawHeaders when the request has them', () => {
    const request = toHttpRequest({ method: 'GET', url: '/x', rawHeaders: raw, headersDistinct: { wrong: ['x'] } }, 'https://api.example');
    expect(toHeaderMap(request.headers).get('x-a')).toEqual(['1', '2']);
    expect(toHeaderMap(request.headers).has('wrong')).toBe(false);
  });
});
