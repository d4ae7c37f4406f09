import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { generateKey, importTokenKey, verifyTokenSignature, type PublicKey } from '@aauth-kit/core';
import { signCompactJws, verifyText } from '@aauth-kit/core/internal';

// verifyText: the kit's own keys verify the UTF-8 bytes of a text written into one reused buffer
// (issue 18); every result must be the one verify(Buffer.from(text)) gives.
const backends = ['node', 'noble', 'sodium'] as const;

const texts = [
  '"@method": GET\n"@signature-params": ("@method");created=1',
  'caf\u00e9 \u2603 \u{1F600} "x-name": \u00ff\u0100',
  'a'.repeat(1400), // longer than the first buffer holds in the worst case (1,366 code units)
  '\u20ac'.repeat(3000), // 9,000 bytes: the buffer grows
  'b'.repeat(70_000), // past the reused buffer's limit: bytes of its own
  '',
];

describe('verifyText', () => {
  for (const backend of backends) {
    it(`agrees with verify(Buffer.from(text)) for every text, in any order (${backend})`, () => {
      const key = generateKey({ backend });
      const signed = texts.map((t) => ({ t, sig: key.sign(Buffer.from(t, 'utf8')) }));
      // Long, short, long again: nothing of a longer text is read for a shorter one.
      for (const order of [signed, [...signed].reverse(), [signed[3]!, signed[0]!, signed[4]!, signed[1]!]]) {
        for (const { t, sig } of order) {
          expect(verifyText(key, t, sig)).toBe(true);
          expect(verifyText(key, `${t}x`, sig)).toBe(false);
          expect(verifyText(key, t.slice(0, -1), sig)).toBe(t.length === 0 ? true : false);
        }
      }
    });
  }

  it('a text signed as other bytes does not verify (UTF-8, not latin1 or UTF-16)', () => {
    const key = generateKey();
    const t = 'caf\u00e9';
    expect(verifyText(key, t, key.sign(Buffer.from(t, 'latin1')))).toBe(false);
    expect(verifyText(key, t, key.sign(Buffer.from(t, 'utf16le')))).toBe(false);
    expect(verifyText(key, t, key.sign(Buffer.from(t, 'utf8')))).toBe(true);
  });

  it('a PublicKey of another implementation gets bytes of its own, which later verifies do not touch', () => {
    const key = generateKey();
    const seen: Uint8Array[] = [];
    const custom: PublicKey = {
      jwk: key.jwk,
      thumbprint: key.thumbprint,
      algorithm: key.algorithm,
      verify(data, signature) {
        seen.push(data);
        return key.verify(data, signature);
      },
    };
    const a = 'first text';
    expect(verifyText(custom, a, key.sign(Buffer.from(a)))).toBe(true);
    // A kit key's verify in between reuses the shared buffer; the custom key's bytes stay its own.
    expect(verifyText(key, 'z'.repeat(40), key.sign(Buffer.from('z'.repeat(40))))).toBe(true);
    expect(Buffer.from(seen[0]!).toString('utf8')).toBe(a);
  });
});

describe('verifyTokenSignature through the shared buffer', () => {
  const ed = generateKeyPairSync('ed25519');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jws = (alg: string, privateKey: KeyObject, filler: string) => signCompactJws({ typ: 'JWT' }, { sub: filler }, alg, privateKey);

  it('tokens of different lengths and algorithms, interleaved with request verifies, each verify as alone', () => {
    const edKey = importTokenKey(ed.publicKey);
    const rsaKey = importTokenKey(rsa.publicKey);
    const reqKey = generateKey();
    const tokens = [jws('EdDSA', ed.privateKey, 'x'.repeat(3000)), jws('EdDSA', ed.privateKey, 'y'), jws('RS256', rsa.privateKey, 'z'.repeat(500))];
    const base = '"@method": POST\n'.repeat(50);
    const sig = reqKey.sign(Buffer.from(base));
    for (let round = 0; round < 3; round++) {
      for (const t of tokens) {
        const [alg, key] = t.length > 0 && JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).alg === 'RS256' ? ['RS256', rsaKey] : ['EdDSA', edKey];
        expect(verifyTokenSignature(t, alg as string, key as never)).toBe(true);
        // One character of the payload changed: the shared bytes are this token's, not a leftover.
        const forged = `${t.slice(0, 40)}${t[40] === 'A' ? 'B' : 'A'}${t.slice(41)}`;
        expect(verifyTokenSignature(forged, alg as string, key as never)).toBe(false);
        expect(verifyText(reqKey, base, sig)).toBe(true);
      }
    }
  });

  it('an ed25519 token key of another implementation gets bytes of its own', () => {
    const kit = importTokenKey(ed.publicKey);
    const seen: Uint8Array[] = [];
    const inner = generateKey();
    const custom: PublicKey = { jwk: inner.jwk, thumbprint: inner.thumbprint, algorithm: 'ed25519', verify: (data, s) => (seen.push(data), kit.ed25519 ? kit.ed25519.verify(data, s) : false) };
    const t = jws('EdDSA', ed.privateKey, 'held');
    expect(verifyTokenSignature(t, 'EdDSA', { ...kit, ed25519: custom })).toBe(true);
    expect(verifyText(inner, 'q'.repeat(200), inner.sign(Buffer.from('q'.repeat(200))))).toBe(true);
    expect(Buffer.from(seen[0]!).toString('latin1')).toBe(t.slice(0, t.lastIndexOf('.')));
  });
});
