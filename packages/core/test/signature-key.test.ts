import { describe, expect, it } from 'vitest';
import { generateKey, parseSignatureKey, type SignatureKey } from '@aauth-kit/core';
import { serializeSignatureKey, SIGNATURE_SCHEMES } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const okp = generateKey().jwk;
const ec = generateKey({ alg: 'ES256' }).jwk;
const JWT = 'eyJhbGciOiJFZERTQSIsInR5cCI6ImF1dGgrand0In0.eyJpc3MiOiJodHRwOi8vbG9jYWxob3N0OjgwODAifQ.c2lnbmF0dXJl';

const keys: Record<string, SignatureKey> = {
  'hwk (OKP)': { scheme: 'hwk', jwk: { kty: 'OKP', crv: 'Ed25519', x: okp.x } },
  'hwk (EC)': { scheme: 'hwk', jwk: { kty: 'EC', crv: 'P-256', x: ec.x, y: (ec as { y: string }).y } },
  'jwks_uri': { scheme: 'jwks_uri', id: 'http://supply-chain-agent.localhost:3000', kid: 'sca-1' },
  'jwks_uri with dwk': { scheme: 'jwks_uri', id: 'https://agent.example', dwk: 'aauth-agent.json', kid: 'k-2' },
  'jwt': { scheme: 'jwt', jwt: JWT },
};

describe('Signature-Key round trips', () => {
  for (const [name, key] of Object.entries(keys)) {
    for (const form of ['parenthesised', 'dictionary'] as const) {
      it(`${name}, ${form} form`, () => {
        const header = serializeSignatureKey(key, { form, label: 'sig' });
        expect(header.startsWith(form === 'parenthesised' ? 'sig=(' : `sig=${key.scheme};`)).toBe(true);
        expect(parseSignatureKey(header)).toEqual({ label: 'sig', key, form });
        expect(parseSignatureKey([header])).toEqual({ label: 'sig', key, form });
      });
    }
  }

  it('emits the parenthesised form by default, with label sig', () => {
    expect(serializeSignatureKey(keys.jwks_uri!)).toBe('sig=(scheme=jwks_uri id="http://supply-chain-agent.localhost:3000" kid="sca-1")');
  });

  it('emits the dictionary form with quoted string values', () => {
    expect(serializeSignatureKey(keys['jwks_uri with dwk']!, { form: 'dictionary' })).toBe(
      'sig=jwks_uri;id="https://agent.example";dwk="aauth-agent.json";kid="k-2"',
    );
    expect(serializeSignatureKey(keys.jwt!, { form: 'dictionary', label: 'a1' })).toBe(`a1=jwt;jwt="${JWT}"`);
  });

  it('keeps another label', () => {
    const header = serializeSignatureKey(keys.jwt!, { label: 'proxy-2' });
    expect(parseSignatureKey(header).label).toBe('proxy-2');
  });

  it('escaped quotes and backslashes in values survive both forms', () => {
    const key: SignatureKey = { scheme: 'jwks_uri', id: 'https://a.example/x"y\\z', kid: 'k "quoted"' };
    for (const form of ['parenthesised', 'dictionary'] as const) {
      const header = serializeSignatureKey(key, { form });
      expect(header).toContain('\\"');
      expect(parseSignatureKey(header).key).toEqual(key);
    }
    expect(parseSignatureKey('sig=(scheme=jwks_uri id="https://a.example" kid="a\\"b")').key).toEqual({
      scheme: 'jwks_uri',
      id: 'https://a.example',
      kid: 'a"b',
    });
  });

  it('refuses to serialize what the header cannot carry (TypeError)', () => {
    expect(() => serializeSignatureKey({ scheme: 'jwks_uri', id: 'https://ä.example', kid: 'k' })).toThrow(TypeError);
    expect(() => serializeSignatureKey({ scheme: 'jwks_uri', id: 'https://a.example', kid: '' })).toThrow(TypeError);
    expect(() => serializeSignatureKey(keys.jwt!, { label: 'Sig' })).toThrow(/options\.label/);
    expect(() => serializeSignatureKey({ scheme: 'x509' } as never)).toThrow(/key\.scheme/);
    expect(() => serializeSignatureKey(keys.jwt!, { form: 'json' as never })).toThrow(/options\.form/);
  });
});

describe('the wire profile examples parse (sections 3, 4, 11)', () => {
  it('section 3 parenthesised jwks_uri', () => {
    expect(parseSignatureKey('sig=(scheme=jwks_uri id="http://supply-chain-agent.localhost:3000" kid="sca-1")')).toEqual({
      label: 'sig',
      key: { scheme: 'jwks_uri', id: 'http://supply-chain-agent.localhost:3000', kid: 'sca-1' },
      form: 'parenthesised',
    });
  });

  it('section 4 parenthesised hwk with token values', () => {
    expect(parseSignatureKey(`sig=(scheme=hwk kty="OKP" crv="Ed25519" x="${okp.x}")`).key).toEqual(keys['hwk (OKP)']);
    expect(parseSignatureKey(`sig=(scheme=hwk kty=OKP crv=Ed25519 x="${okp.x}")`).key).toEqual(keys['hwk (OKP)']);
  });

  it('section 11 dictionary jwt', () => {
    expect(parseSignatureKey(`sig=jwt;jwt="${JWT}"`)).toEqual({ label: 'sig', key: { scheme: 'jwt', jwt: JWT }, form: 'dictionary' });
  });

  it('section 11 dictionary hwk with alg="Ed25519": the alg is returned with the key (draft-11 profile section 4)', () => {
    expect(parseSignatureKey(`sig=hwk;kty="OKP";crv="Ed25519";x="${okp.x}";alg="Ed25519"`).key).toEqual({
      scheme: 'hwk',
      jwk: { kty: 'OKP', crv: 'Ed25519', x: okp.x, alg: 'Ed25519' },
    });
  });

  it('section 11 dictionary jwks_uri with dwk', () => {
    expect(parseSignatureKey('sig=jwks_uri;id="https://agent.example";dwk="aauth-agent.json";kid="k-2"').key).toEqual(
      keys['jwks_uri with dwk'],
    );
  });

  it('the jwks alias is read as jwks_uri, in both forms', () => {
    expect(parseSignatureKey('sig=(scheme=jwks id="https://agent.example" kid="k")').key).toEqual({
      scheme: 'jwks_uri',
      id: 'https://agent.example',
      kid: 'k',
    });
    expect(parseSignatureKey('sig=jwks;id="https://agent.example";kid="k"').key.scheme).toBe('jwks_uri');
  });

  it('tolerates optional whitespace around the member', () => {
    expect(parseSignatureKey('  sig=(scheme=jwt  jwt="a.b.c" )  ').key).toEqual({ scheme: 'jwt', jwt: 'a.b.c' });
  });

  it('SIGNATURE_SCHEMES lists the three schemes', () => {
    expect([...SIGNATURE_SCHEMES]).toEqual(['hwk', 'jwks_uri', 'jwt']);
  });
});

describe('Signature-Key errors', () => {
  it('an unknown scheme is unsupported_scheme (distinct from malformed), in both forms', () => {
    for (const header of ['sig=(scheme=x509 cert="abc")', 'sig=x509;cert="abc"', 'sig=(scheme="jkt-jwt" jwt="a.b.c")']) {
      const e = expectThrowsCode(() => parseSignatureKey(header), 'unsupported_scheme', 401);
      expect(e.error).toBe('unsupported_scheme');
    }
  });

  it('two members are malformed', () => {
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwt jwt="a.b.c"), sig2=(scheme=jwt jwt="a.b.c")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=jwt;jwt="a.b.c", other=jwt;jwt="d.e.f"'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=jwt;jwt="a.b.c", sig=jwt;jwt="d.e.f"'), 'signature_key_malformed');
  });

  it('a header array with two entries is malformed', () => {
    const one = serializeSignatureKey(keys.jwt!);
    expectThrowsCode(() => parseSignatureKey([one, one]), 'signature_key_malformed', 401);
  });

  it('absent or empty-array headers are signature_missing', () => {
    expectThrowsCode(() => parseSignatureKey(undefined), 'signature_missing');
    expectThrowsCode(() => parseSignatureKey([]), 'signature_missing');
  });

  it('missing scheme or scheme parameters are malformed', () => {
    expectThrowsCode(() => parseSignatureKey('sig=(id="https://a.example" kid="k")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwks_uri id="https://a.example")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwt)'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwt jwt="")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=hwk kty="OKP" crv="Ed25519")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=hwk;kty="EC";crv="P-256";x="AAAA"'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwt jwt=12)'), 'signature_key_malformed');
  });

  it('a repeated parameter in the parenthesised form is malformed', () => {
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwks_uri id="https://a.example" kid="a" kid="b")'), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=jwt scheme=hwk jwt="a.b.c")'), 'signature_key_malformed');
  });

  it('hwk with an unsupported kty or curve is unsupported_algorithm', () => {
    expectThrowsCode(() => parseSignatureKey('sig=(scheme=hwk kty="RSA" n="abc" e="AQAB")'), 'unsupported_algorithm');
    expectThrowsCode(() => parseSignatureKey(`sig=(scheme=hwk kty="OKP" crv="X25519" x="${okp.x}")`), 'unsupported_algorithm');
    // The caller's value is quoted cut short (messages reach logs and span status text).
    expect(() => parseSignatureKey(`sig=(scheme=hwk kty="${'Q'.repeat(5000)}")`)).toThrow(`Signature-Key hwk kty "${'Q'.repeat(40)}..." is not supported`);
    expect(() => parseSignatureKey(`sig=(scheme=hwk kty="OKP" crv="${'C'.repeat(5000)}" x="${okp.x}")`)).toThrow(`Signature-Key hwk curve "${'C'.repeat(40)}..." is not supported`);
    expectThrowsCode(() => parseSignatureKey(`sig=hwk;kty="EC";crv="P-521";x="a";y="b"`), 'unsupported_algorithm');
  });

  it('syntax errors are malformed, never anything else', () => {
    for (const header of [
      '',
      'sig',
      'sig=',
      'sig=(',
      'sig=(scheme=jwt jwt="a.b.c"',
      'sig=(scheme=jwt jwt="a.b.c)',
      'sig=(scheme=jwt jwt="a\\x")',
      'Sig=(scheme=jwt jwt="a")',
      'sig=(scheme=jwt,jwt="a")',
      'sig="jwt"',
      'sig=?1',
      'sig=jwt;jwt="a.b.c",',
      'sig=jwt;jwt="a.b.c" trailing',
      'sig=("a" "b")',
      'sig=:AAAA:',
      'sig=(scheme=jwt jwt="\u00e9")',
    ]) {
      expectThrowsCode(() => parseSignatureKey(header), 'signature_key_malformed');
    }
  });

  it('a dictionary member that is an inner list of items is malformed', () => {
    expectThrowsCode(() => parseSignatureKey('sig=jwt;jwt="x", a=("b")'), 'signature_key_malformed');
  });

  it('an oversized header is header_too_large (431)', () => {
    expectThrowsCode(() => parseSignatureKey(`sig=(scheme=jwt jwt="${'a'.repeat(17 * 1024)}")`), 'header_too_large', 431);
  });
});

describe('the -09 dictionary: selecting the member of the label being verified (HTTP Signature Keys -09 section 3.1)', () => {
  const JWT11 = 'eyJhbGciOiJFZDI1NTE5In0.e30.c2ln';
  it('with a label, picks that member and never interprets the others', () => {
    const header = `sig1=hwk;kty="OKP", sig=jwt;jwt="${JWT11}";cache, other=x-unregistered`;
    expect(parseSignatureKey(header, { label: 'sig' })).toEqual({ label: 'sig', key: { scheme: 'jwt', jwt: JWT11 }, form: 'dictionary' });
    expectThrowsCode(() => parseSignatureKey(header), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey(header, { label: 'sig1' }), 'signature_key_malformed');
    expectThrowsCode(() => parseSignatureKey(header, { label: 'other' }), 'unsupported_scheme');
  });

  it('a missing label is signature_label_mismatch, a repeated one signature_duplicate', () => {
    expectThrowsCode(() => parseSignatureKey(`sig1=jwt;jwt="${JWT11}"`, { label: 'sig' }), 'signature_label_mismatch');
    expectThrowsCode(() => parseSignatureKey(`sig=jwt;jwt="${JWT11}", sig=jwt;jwt="${JWT11}"`, { label: 'sig' }), 'signature_duplicate');
  });

  it('hwk carries alg and never kid in the dictionary form (-09 section 3.4); alg round-trips', () => {
    expectThrowsCode(() => parseSignatureKey(`sig=hwk;kty="OKP";crv="Ed25519";x="${okp.x}";alg="Ed25519";kid="k"`), 'signature_key_malformed');
    const key: SignatureKey = { scheme: 'hwk', jwk: { kty: 'EC', crv: 'P-256', x: ec.x, y: (ec as { y: string }).y, alg: 'ES256' } };
    const header = serializeSignatureKey(key, { form: 'dictionary' });
    expect(header).toBe(`sig=hwk;kty="EC";crv="P-256";x="${ec.x}";y="${(ec as { y: string }).y}";alg="ES256"`);
    expect(parseSignatureKey(header).key).toEqual(key);
  });
});

describe('property: the -09 selection never escapes as anything but a 4xx AAuthError', () => {
  it('random and mutated dictionaries, with a label and a scheme list', async () => {
    const fc = (await import('fast-check')).default;
    const { AAuthError } = await import('@aauth-kit/core');
    const member = fc.tuple(fc.constantFrom('sig', 'sig1', 'a'), fc.constantFrom('jwt', 'hwk', 'jwks_uri', 'x', '"jwt"'), fc.string()).map(([l, s, p]) => `${l}=${s};${p}`);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(member, { minLength: 1, maxLength: 3 }).map((m) => m.join(', '))), (header) => {
        try {
          parseSignatureKey(header, { label: 'sig', schemes: ['jwt'] });
        } catch (error) {
          if (!(error instanceof AAuthError) || error.status < 400 || error.status > 499) throw error;
        }
      }),
      { numRuns: 400, seed: 20261130 },
    );
  });
});
