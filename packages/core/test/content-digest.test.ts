import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createContentDigest, verifyContentDigest } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const BODY = '{"hello": "world"}';
const sha = (alg: string, body: string | Uint8Array) => createHash(alg).update(body).digest('base64');

describe('createContentDigest (RFC 9530 section 2)', () => {
  it('sha-256 by default, standard padded base64 in a byte sequence', () => {
    expect(createContentDigest(BODY)).toBe(`sha-256=:${sha('sha256', BODY)}:`);
    expect(createContentDigest(BODY)).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
  });

  it('sha-512 on request', () => {
    expect(createContentDigest(BODY, 'sha-512')).toBe(`sha-512=:${sha('sha512', BODY)}:`);
  });

  it('strings are UTF-8; Uint8Array bodies are hashed as bytes', () => {
    expect(createContentDigest('é')).toBe(createContentDigest(new Uint8Array([0xc3, 0xa9])));
    expect(createContentDigest(new Uint8Array(0))).toBe(`sha-256=:${sha('sha256', '')}:`);
  });

  it('an unknown algorithm is a TypeError', () => {
    expect(() => createContentDigest(BODY, 'md5' as never)).toThrow(TypeError);
  });
});

describe('verifyContentDigest', () => {
  it('accepts sha-256 and sha-512 digests of the body, string or bytes', () => {
    for (const alg of ['sha-256', 'sha-512'] as const) {
      expect(() => verifyContentDigest(createContentDigest(BODY, alg), BODY)).not.toThrow();
      expect(() => verifyContentDigest(createContentDigest(BODY, alg), Buffer.from(BODY))).not.toThrow();
    }
  });

  it('accepts both algorithms together when both match, ignoring unknown ones', () => {
    const both = `${createContentDigest(BODY)}, ${createContentDigest(BODY, 'sha-512')}`;
    expect(() => verifyContentDigest(both, BODY)).not.toThrow();
    expect(() => verifyContentDigest(`md5=:AAAA:, ${createContentDigest(BODY)}`, BODY)).not.toThrow();
  });

  it('a mismatch of any supported member is digest_mismatch', () => {
    expectThrowsCode(() => verifyContentDigest(createContentDigest(BODY), `${BODY} `), 'digest_mismatch', 401);
    const mixed = `${createContentDigest(BODY)}, ${createContentDigest('other', 'sha-512')}`;
    expectThrowsCode(() => verifyContentDigest(mixed, BODY), 'digest_mismatch');
  });

  it('a digest of the wrong length is digest_mismatch', () => {
    expectThrowsCode(() => verifyContentDigest('sha-256=:YWJj:', BODY), 'digest_mismatch');
  });

  it('no supported algorithm is digest_malformed', () => {
    expectThrowsCode(() => verifyContentDigest('md5=:AAAA:', BODY), 'digest_malformed', 401);
    expectThrowsCode(() => verifyContentDigest('', BODY), 'digest_malformed');
  });

  it('non-byte-sequence values and syntax errors are digest_malformed', () => {
    for (const header of [
      `sha-256="${sha('sha256', BODY)}"`,
      `sha-256=${sha('sha256', BODY)}`,
      'sha-256=:!!!:',
      'sha-256=:YWJj',
      'SHA-256=:YWJj:',
      'sha-256=(:YWJj:)',
      'sha-256=:YW_j:',
      ',',
    ]) {
      expectThrowsCode(() => verifyContentDigest(header, BODY), 'digest_malformed');
    }
  });

  it('a non-string header is digest_malformed', () => {
    expectThrowsCode(() => verifyContentDigest(undefined as never, BODY), 'digest_malformed');
  });

  it('an oversized header is header_too_large (431)', () => {
    expectThrowsCode(() => verifyContentDigest(`${createContentDigest(BODY)}, x="${'a'.repeat(9000)}"`, BODY), 'header_too_large', 431);
  });
});
