import { describe, expect, it } from 'vitest';
import { generateKey, verifyRequest } from '@aauth-kit/core';
import { createSignatureBase, serializeSignatureKey } from '@aauth-kit/core/internal';
import { Decimal, parseDictionary, serializeParams } from '../src/lib/sfv.js';

// RFC 8941 section 4.1.5: a decimal keeps its fractional part when serialised (1.0 is "1.0", not
// "1"), and RFC 9421 signs the parameters as serialised: a verifier that wrote 1.0 back as 1
// rebuilt another @signature-params line and refused a valid signature.

describe('RFC 8941 decimals in signature parameters', () => {
  it('serialise with their fractional part, at most three digits, apart from integers', () => {
    const member = (text: string) => parseDictionary(`sig=("@method");${text}`)[0]!.value as { params: Array<[string, unknown]> };
    const cases: Array<[string, string]> = [
      ['x=1.0', ';x=1.0'],
      ['x=1.5', ';x=1.5'],
      ['x=1.50', ';x=1.5'],
      ['x=-0.0', ';x=0.0'],
      ['x=12.125', ';x=12.125'],
      ['x=1', ';x=1'],
      ['x=0123', ';x=123'],
    ];
    for (const [text, out] of cases) expect(serializeParams(member(text).params as never), text).toBe(out);
    expect(member('x=1.0').params[0]![1]).toBeInstanceOf(Decimal);
    expect(member('x=1').params[0]![1]).toBe(1);
  });

  const key = generateKey();
  const url = 'http://localhost:3000/r';
  const components = ['@method', '@authority', '@path', 'signature-key'];
  /** A GET signed by hand with `params` after the component list, as a signer serialises them. */
  const signedWith = (params: string) => {
    const signatureKey = serializeSignatureKey({ scheme: 'hwk', jwk: key.jwk });
    const input = `(${components.map((c) => `"${c}"`).join(' ')})${params}`;
    const base = createSignatureBase({ method: 'GET', url, headers: { 'signature-key': signatureKey } }, components, input);
    const signature = Buffer.from(key.sign(Buffer.from(base, 'latin1'))).toString('base64');
    return { method: 'GET', url, headers: { 'signature-key': signatureKey, 'signature-input': `sig=${input}`, signature: `sig=:${signature}:` } };
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('a signature whose parameters carry the decimal 1.0 verifies', async () => {
    for (const extra of [';x=1.0', ';x=2.5', ';x=0.125']) {
      await expect(verifyRequest(signedWith(`;created=${now()}${extra}`), { key }), extra).resolves.toMatchObject({ created: expect.any(Number) });
    }
  });

  it('created written as a decimal is not the integer RFC 9421 requires', async () => {
    await expect(verifyRequest(signedWith(`;created=${now()}.0`), { key })).rejects.toMatchObject({ code: 'signature_malformed', message: expect.stringMatching(/created must be an integer/) });
  });
});
