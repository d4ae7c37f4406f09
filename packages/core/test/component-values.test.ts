import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSignatureBase, toHeaderMap } from '@aauth-kit/core/internal';
import { buildSignatureBase } from '../src/lib/component-values.js';

// The hot path derives component values itself; http-message-signatures (behind the public
// createSignatureBase) is the reference. They must agree byte for byte on every request.
const token = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/);
const fieldValue = fc.stringMatching(/^[\x20-\x7e]{0,30}$/);
const pathSeg = fc.stringMatching(/^[A-Za-z0-9._~%-]{0,8}$/);

const requestArb = fc.record({
  method: fc.constantFrom('GET', 'POST', 'put', 'DELETE', 'PATCH'),
  scheme: fc.constantFrom('http', 'https'),
  host: fc.constantFrom('localhost', 'Example.COM', '127.0.0.1', '[::1]', 'agent.localhost'),
  port: fc.option(fc.constantFrom(80, 443, 3000, 8080), { nil: undefined }),
  path: fc.array(pathSeg, { maxLength: 4 }),
  query: fc.option(fc.stringMatching(/^[A-Za-z0-9=&%._-]{0,20}$/), { nil: undefined }),
  headers: fc.array(fc.tuple(token, fieldValue), { maxLength: 6 }),
});

describe('hot-path signature base matches http-message-signatures', () => {
  it('for random requests and every derivable component subset', () => {
    fc.assert(
      fc.property(requestArb, fc.array(fc.constantFrom('@method', '@authority', '@path', '@query', '@target-uri', '@scheme', '@request-target'), { maxLength: 7 }), (r, derived) => {
        const url = new URL(`${r.scheme}://${r.host}${r.port ? `:${r.port}` : ''}/${r.path.join('/')}${r.query === undefined ? '' : `?${r.query}`}`);
        const headerNames = [...new Set(r.headers.map(([n]) => n))];
        const components = [...new Set([...derived, ...headerNames])];
        const params = `(${components.map((c) => `"${c}"`).join(' ')});created=1`;
        const reference = createSignatureBase({ method: r.method, url, headers: r.headers }, components, params);
        const fast = buildSignatureBase(components, r.method.toUpperCase(), url, toHeaderMap(r.headers), params);
        expect(fast).toBe(reference);
      }),
      { numRuns: 500, seed: 9421 },
    );
  });

  it('refuses what the reference refuses: duplicates, absent headers, @signature-params', () => {
    const url = new URL('http://localhost:3000/x');
    const headers = toHeaderMap({ a: '1' });
    expect(() => buildSignatureBase(['a', 'a'], 'GET', url, headers, '()')).toThrow(expect.objectContaining({ code: 'signature_malformed' }));
    expect(() => buildSignatureBase(['b'], 'GET', url, headers, '()')).toThrow(expect.objectContaining({ code: 'signature_component_missing' }));
    expect(() => buildSignatureBase(['@signature-params'], 'GET', url, headers, '()')).toThrow(expect.objectContaining({ code: 'signature_malformed' }));
    expect(() => buildSignatureBase(['@status'], 'GET', url, headers, '()')).toThrow(expect.objectContaining({ code: 'signature_malformed', status: 401 }));
    expect(() => buildSignatureBase(['A'], 'GET', url, headers, '()')).toThrow(expect.objectContaining({ code: 'signature_malformed' }));
  });
});

describe('component names (issue 18: checked by a table loop, not a regular expression)', () => {
  const NAME = /^@?[a-z0-9!#$%&'*+.^_`|~-]+$/;
  it('property: a name is refused as malformed exactly when it is not a lower-case field or derived component name', () => {
    const url = new URL('http://localhost:3000/x');
    const name = fc.oneof(
      fc.string({ unit: fc.constantFrom(...'@aZ09-_.!~ "(),;:\\/\t\u00e9'.split('')), maxLength: 6 }),
      fc.string({ maxLength: 6 }),
      fc.constantFrom('@', '', '@@method', 'a@b', 'content-type'),
    );
    fc.assert(
      fc.property(name, (c) => {
        let message = '';
        try {
          buildSignatureBase([c], 'GET', url, toHeaderMap({ [c]: 'v' }), '()');
        } catch (error) {
          message = (error as Error).message;
        }
        expect(message.includes('is not a lower-case field or derived component name')).toBe(!NAME.test(c));
      }),
      { numRuns: 2000, seed: 18 },
    );
  });
});
