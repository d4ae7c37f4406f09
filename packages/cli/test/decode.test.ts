import { describe, expect, it } from 'vitest';
import { aauth } from './support.js';

// decode on hostile tokens (found by a CLI audit): claims named like Object.prototype members, and
// claims nested thousands deep.

const b64 = (text: string) => Buffer.from(text).toString('base64url');
const token = (claimsJson: string) => `${b64('{"alg":"EdDSA","typ":"JWT"}')}.${b64(claimsJson)}.c2ln`;

describe('aauth decode', () => {
  it('claims named __proto__, constructor and toString are shown as they are (before: [object Object], a function)', async () => {
    const r = await aauth('decode', token('{"__proto__":"p","constructor":"c","toString":2,"hasOwnProperty":3,"iat":0}'));
    expect(r.code).toBe(0);
    const claims = r.out.split('claims:\n')[1]!;
    expect(claims).toBe('  __proto__: "p"\n  constructor: "c"\n  toString: 2\n  hasOwnProperty: 3\n  iat: 0  (1970-01-01T00:00:00.000Z)\n');
    const json = await aauth('decode', '--json', token('{"toString":2,"iat":0}'));
    expect(JSON.parse(json.out).times).toEqual({ iat: '1970-01-01T00:00:00.000Z' });
  });
  it('a claim nesting 5000 arrays is shown by its kind, not "Maximum call stack size exceeded"', async () => {
    const deep = token(`{"deep":${'['.repeat(5000)}${']'.repeat(5000)},"sub":"s"}`);
    const r = await aauth('decode', deep);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('  deep: an array of 1 item, nested too deep to show\n  sub: "s"\n');
    const json = await aauth('decode', '--json', deep);
    expect(json).toEqual({ code: 2, out: '', err: 'aauth decode: the token nests its claims too deep to print as JSON (decode without --json shows them)\n' });
  });
});
