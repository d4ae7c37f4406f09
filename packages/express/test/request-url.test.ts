import { describe, expect, it } from 'vitest';
import { requestUrl } from '../src/lib/request-url.js';

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
  it('refuses a target that is not a path with invalid_request', () => {
    expect(() => requestUrl(origin, '*')).toThrow(expect.objectContaining({ code: 'invalid_request', status: 400 }));
  });
});
