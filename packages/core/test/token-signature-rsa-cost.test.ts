import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { importTokenKey } from '@aauth-kit/core';
import { expectThrowsCode, freshKeyPair } from './support.js';

/**
 * A published RSA key is untrusted input (a resource's JWKS, read by the auth server): one with a
 * huge public exponent or modulus would make every token checked under it cost many times a real one.
 */
describe('importTokenKey: RSA keys whose verification would cost too much are refused', () => {
  const rsa = freshKeyPair('rsa', { modulusLength: 2048 });
  const jwk = rsa.publicKey.export({ format: 'jwk' }) as { kty: string; n: string; e: string };

  it('a public exponent over 2^32 is key_invalid, naming its size and the usual one', () => {
    const n = Buffer.from(jwk.n, 'base64url');
    const e = Buffer.from(n);
    e[0]! >>= 1;
    e[e.length - 1]! |= 1;
    const error = expectThrowsCode(() => importTokenKey({ kty: 'RSA', n: jwk.n, e: e.toString('base64url') }), 'key_invalid');
    expect(error.message).toMatch(/2047-bit public exponent/);
    expect(error.message).toMatch(/AQAB/);
    // 2^32 + 1 is one past the limit.
    const over = Buffer.from('0100000001', 'hex').toString('base64url');
    expectThrowsCode(() => importTokenKey({ kty: 'RSA', n: jwk.n, e: over }), 'key_invalid');
  });

  it('a modulus over 8192 bits is key_invalid', () => {
    const n = randomBytes(16384 / 8);
    n[0]! |= 0x80;
    n[n.length - 1]! |= 1;
    const error = expectThrowsCode(() => importTokenKey({ kty: 'RSA', n: n.toString('base64url'), e: 'AQAB' }), 'key_invalid');
    expect(error.message).toMatch(/16384-bit modulus/);
  });

  it('usual keys still import: 65537, 3 and 2^32 as exponents', () => {
    expect(importTokenKey(jwk).algorithms).toEqual(['RS256']);
    expect(importTokenKey({ kty: 'RSA', n: jwk.n, e: 'Aw' }).algorithms).toEqual(['RS256']);
    expect(importTokenKey({ kty: 'RSA', n: jwk.n, e: Buffer.from('0100000000', 'hex').toString('base64url') }).algorithms).toEqual(['RS256']);
    expect(importTokenKey(rsa.publicKey).algorithms).toEqual(['RS256']);
  });
});
