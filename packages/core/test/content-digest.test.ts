import fc from 'fast-check';
import { parseDictionary } from 'structured-headers';
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

describe('verifyContentDigest: the one-member fast path decides as the general parse does', () => {
  // The oracle: the definition of RFC 9530 over structured-headers' general dictionary parser.
  const oracle = (header: string, body: Uint8Array): string => {
    let dict: ReturnType<typeof parseDictionary>;
    try {
      dict = parseDictionary(header);
    } catch {
      return 'digest_malformed';
    }
    let checked = 0;
    for (const [name, member] of dict) {
      if (name !== 'sha-256' && name !== 'sha-512') continue;
      if (!(member[0] instanceof ArrayBuffer)) return 'digest_malformed';
      if (!Buffer.from(member[0]).equals(createHash(name === 'sha-256' ? 'sha256' : 'sha512').update(body).digest())) return 'digest_mismatch';
      checked++;
    }
    return checked === 0 ? 'digest_malformed' : 'ok';
  };
  const outcome = (header: string, body: Uint8Array): string => {
    try {
      verifyContentDigest(header, body);
      return 'ok';
    } catch (error) {
      return (error as { code: string }).code;
    }
  };
  // Headers near the canonical form: the right digest, unpadded, base64url, one character off,
  // another body's, parameters, whitespace, a second member, the other algorithm's name.
  const variants = (body: Uint8Array, other: Uint8Array): string[] => {
    const out: string[] = [];
    for (const [name, alg] of [['sha-256', 'sha256'], ['sha-512', 'sha512']] as const) {
      const good = createHash(alg).update(body).digest('base64');
      const wrong = createHash(alg).update(other).digest('base64');
      const swapped = name === 'sha-256' ? 'sha-512' : 'sha-256';
      out.push(
        `${name}=:${good}:`,
        `${name}=:${good.replace(/=+$/, '')}:`,
        `${name}=:${Buffer.from(good, 'base64').toString('base64url')}:`,
        `${name}=:${good.slice(0, 5)}${good[5] === 'A' ? 'B' : 'A'}${good.slice(6)}:`,
        `${name}=:${wrong}:`,
        `${name}=:${good}:;p=1`,
        ` ${name}=:${good}:`,
        `${name}=:${good}: `,
        `${name}=:${good}:, sha-999=:AAAA:`,
        `${name}=:${good}:, ${swapped}=:${wrong}:`,
        `${swapped}=:${good}:`,
        `${name.toUpperCase()}=:${good}:`,
        `${name}=:${good}=:`,
        `${name}=${good}`,
        `${name}=::`,
      );
    }
    return out;
  };

  it('for every near-canonical header of random bodies, the same pass or the same code', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 40 }), (body, other) => {
        for (const header of variants(body, other)) expect([header, outcome(header, body)]).toEqual([header, oracle(header, body)]);
      }),
      { numRuns: 200 },
    );
  });

  it('a string body is hashed as UTF-8 on the fast path too', () => {
    const text = 'caf\u00e9 \u{1F600}';
    expect(outcome(`sha-256=:${createHash('sha256').update(Buffer.from(text, 'utf8')).digest('base64')}:`, Buffer.from(text, 'utf8'))).toBe('ok');
    expect(() => verifyContentDigest(`sha-256=:${createHash('sha256').update(Buffer.from(text, 'latin1')).digest('base64')}:`, text)).toThrow();
    verifyContentDigest(`sha-256=:${createHash('sha256').update(Buffer.from(text, 'utf8')).digest('base64')}:`, text);
  });
});
