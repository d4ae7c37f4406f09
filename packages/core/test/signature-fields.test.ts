import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, signRequest, type SignRequestOptions } from '@aauth-kit/core';
import { b64AnyDecode, b64Decode } from '../src/lib/base64.js';
import { scanSignature, scanSignatureInput } from '../src/lib/signature-fields.js';
import { parseInputGeneral, signatureMember, type ParsedInput } from '../src/verify-request.js';

// Issue 18: the per-request signature fields in their canonical form are scanned in one pass;
// anything else goes to the general RFC 8941 parser. Accepting must give exactly the general
// parser's result, so behaviour is the same on every input.

const RUNS = { numRuns: 3000, seed: 20261201 } as const;

/** The general parser's outcome: its result (without the memo's `shared` mark) or the error code and message. */
function general<T>(fn: () => unknown): T | { code: string; message: string } {
  try {
    const out = fn() as T & { shared?: true; refused?: unknown };
    if (out !== null && typeof out === 'object' && 'refused' in out) {
      const e = out.refused as AAuthError;
      return { code: `refused:${e.code}`, message: e.message };
    }
    if (out !== null && typeof out === 'object' && 'shared' in out) {
      const { shared: _, ...rest } = out;
      return rest as T;
    }
    return out as T;
  } catch (error) {
    const e = error as AAuthError;
    return { code: e.code, message: e.message };
  }
}

const key = generateKey({ kid: 'fields' });
const signed = (options: SignRequestOptions) =>
  signRequest({ method: 'POST', url: 'https://resource.example/a/b?c=d', headers: { 'content-type': 'application/json' }, body: '{}' }, options).headers;

describe('scanSignatureInput', () => {
  it('reads what signRequest sends: its member is the @signature-params value, as the general parser serializes it', () => {
    const all: SignRequestOptions[] = [
      { key, signatureKey: { scheme: 'jwks_uri', id: 'https://agent.example', kid: 'fields' }, created: 1700000000, nonce: true },
      { key, signatureKey: { scheme: 'hwk', jwk: key.jwk }, created: 1700000000, extraParams: [['expires', 1700000060]] },
      { key, signatureKey: { scheme: 'hwk', jwk: key.jwk }, label: 'aauth', created: 1700000000, nonce: 'n"o' },
    ];
    for (const options of all) {
      const header = signed(options)['signature-input']!;
      const label = header.slice(0, header.indexOf('='));
      const scanned = scanSignatureInput(header, label);
      const nonceEscaped = options.nonce === 'n"o';
      if (nonceEscaped) {
        // A string with an escape is the general parser's.
        expect(scanned).toBeUndefined();
        continue;
      }
      expect(scanned).toBeDefined();
      expect(scanned!.serialized).toBe(header.slice(label.length + 1));
      expect(scanned).toEqual(general(() => parseInputGeneral(header, label)));
    }
  });

  it('takes only canonical fields and leaves every other to the general parser', () => {
    const ok = 'sig=("@method" "@path");created=1700000000;nonce="abc";alg=ed25519;tag';
    expect(scanSignatureInput(ok, 'sig')).toMatchObject({
      components: ['@method', '@path'],
      params: [['created', 1700000000], ['nonce', 'abc'], ['alg', 'ed25519'], ['tag', true]],
      created: 1700000000,
      nonce: 'abc',
      serialized: '("@method" "@path");created=1700000000;nonce="abc";alg=ed25519;tag',
    });
    expect(scanSignatureInput(`other=("@path");created=1, ${ok}`, 'sig')?.components).toEqual(['@method', '@path']);
    for (const text of [
      ` ${ok}`, // leading space
      `${ok} `, // trailing space
      'sig=( "@method");created=1',
      'sig=("@method"  "@path");created=1',
      'sig=("@method");created=01',
      'sig=("@method");created=-1',
      'sig=("@method");created=1.5',
      'sig=("@method");created=1234567890123456',
      'sig=("@method");created=1;created=2', // the general parser keeps the last, moved to the end
      'sig=("@method");nonce=abc', // a token, not a string: refused by the general path
      'sig=("@method");created="1"',
      'sig=("@method");x=?1',
      'sig=("@method");x=:AAAA:',
      'sig=("@me\\"thod");created=1',
      'sig=("@method";req);created=1',
      'sig=("@method");created=1,other=("@path")',
      'sig=("@method");created=1, sig=("@path")', // a repeated label
      'sig=("@method");created=1, other=:AAAA:',
      'sig="@method"',
      'sig',
      'other=("@method")',
      '',
    ]) {
      expect(scanSignatureInput(text, 'sig'), text).toBeUndefined();
    }
  });

  // A grammar that mixes canonical pieces with every non-canonical and invalid spelling nearby.
  const pick = <T>(...values: T[]) => fc.constantFrom(...values);
  const component = fc.oneof(
    { weight: 8, arbitrary: pick('"@method"', '"@authority"', '"@path"', '"@query"', '"signature-key"', '"content-digest"', '"@target-uri"', '""') },
    { weight: 1, arbitrary: pick('"a\\"b"', '"x\\\\"', '"@query-param";name="a"', 'foo', '12', '"\u00e9"', '"a\tb"', '"unterminated', '"a"b"', '?1', ':AAAA:') },
  );
  const integer = fc.oneof(
    fc.nat({ max: 2_000_000_000 }).map(String),
    pick('0', '00', '0012', '-5', '-0', '1.5', '1.', '999999999999999', '1000000000000000', '12a', '1700000000'),
  );
  const paramValue = fc.oneof(
    { weight: 4, arbitrary: integer.map((v) => `=${v}`) },
    { weight: 3, arbitrary: fc.string({ unit: pick('a', 'Z', '0', '-', '_', ' ', '"', '\\', '\u00e9', '\u0001'), maxLength: 8 }).map((v) => `="${v}"`) },
    { weight: 2, arbitrary: pick('=ed25519', '=a:b/c', '=*t', '=A', '=?1', '=?0', '=?2', '=:AAAA:', '', '=', '= 1', '=(1)') },
  );
  const paramName = pick('created', 'expires', 'nonce', 'alg', 'keyid', 'tag', 'x*', 'a.b', 'A', '', ' created', '1a');
  const params = fc.array(fc.tuple(paramName, paramValue).map(([n, v]) => `;${n}${v}`), { maxLength: 5 }).map((p) => p.join(''));
  const list = fc
    .tuple(pick('(', '(', '(', '( '), fc.array(component, { maxLength: 6 }), pick(' ', ' ', ' ', ' ', '  ', '\t', ''), pick(')', ')', ')', ' )', ''), params)
    .map(([open, items, sep, close, p]) => `${open}${items.join(sep)}${close}${p}`);
  const memberKey = pick('sig', 'sig', 'sig2', 'a', '*x', 'Sig', '1a', '');
  const member = fc.oneof(
    { weight: 8, arbitrary: fc.tuple(memberKey, list).map(([k, l]) => `${k}=${l}`) },
    { weight: 1, arbitrary: fc.tuple(memberKey, pick('=:AAAA:', '="x"', '=1', '', ';a=1', '=?0')).map(([k, v]) => `${k}${v}`) },
  );
  const sep = pick(', ', ', ', ', ', ', ', ',', ' , ', ',\t', ', , ', ',  ');
  const field = fc
    .tuple(pick('', '', '', '', ' ', '\t'), fc.array(member, { minLength: 1, maxLength: 3 }), sep, pick('', '', '', '', ' ', ',', '\t'))
    .map(([lead, members, s, trail]) => `${lead}${members.join(s)}${trail}`);
  // Canonical fields (what signers send), so the fast path is reached often.
  const canonicalList = fc
    .tuple(
      fc.array(pick('"@method"', '"@authority"', '"@path"', '"@query"', '"signature-key"', '"content-digest"', '""', '"x y"'), { maxLength: 6 }),
      fc.array(
        fc.oneof(
          fc.tuple(pick('created', 'expires', 'keyid', 'x'), fc.nat({ max: 2_000_000_000 })).map(([n, v]) => `;${n}=${v}`),
          fc.tuple(pick('nonce', 'alg', 'tag', 'created'), fc.string({ unit: pick('a', 'Z', '0', '-', '_', ' ', '~'), maxLength: 8 })).map(([n, v]) => `;${n}="${v}"`),
          pick(';alg=ed25519', ';tag=a:b/c', ';t', ';*x', ';created'),
        ),
        { maxLength: 4 },
      ),
    )
    .map(([items, p]) => `(${items.join(' ')})${p.join('')}`);
  const canonicalField = fc
    .array(fc.tuple(pick('sig', 'sig', 'sig2', 'a', '*x'), canonicalList), { minLength: 1, maxLength: 3 })
    .map((members) => members.map(([k, l]) => `${k}=${l}`).join(', '));
  const edit = fc.tuple(fc.nat(), pick('', '', '', ' ', '"', ';', ',', '(', ')', '=', '\\', '0', '\u00e9'));
  const edited = (text: fc.Arbitrary<string>) =>
    fc.tuple(text, fc.array(edit, { minLength: 1, maxLength: 2 })).map(([t0, edits]) =>
      edits.reduce((t, [at, ch]) => {
        const i = t.length === 0 ? 0 : at % t.length;
        return t.slice(0, i) + ch + t.slice(i + (ch === '' ? 1 : 0));
      }, t0),
    );
  const header = fc.oneof(
    { weight: 3, arbitrary: canonicalField },
    { weight: 3, arbitrary: edited(canonicalField) },
    { weight: 2, arbitrary: field },
    { weight: 1, arbitrary: edited(field) },
  );
  const label = pick('sig', 'sig', 'sig2', 'a', '*x');

  it('property: when it accepts, the general parser gives the same member, components, parameters and serialisation', () => {
    let accepted = 0;
    fc.assert(
      fc.property(header, label, (text, l) => {
        const scanned = scanSignatureInput(text, l);
        if (scanned === undefined) return;
        accepted++;
        const expected = general<ParsedInput>(() => parseInputGeneral(text, l));
        expect(scanned).toEqual(expected);
      }),
      RUNS,
    );
    // The grammar reaches the fast path often enough for the comparison to mean something.
    expect(accepted).toBeGreaterThan(RUNS.numRuns / 20);
  });
});

describe('scanSignature', () => {
  it('takes one canonical byte-sequence member among others and leaves other fields to the general parser', () => {
    expect(scanSignature('sig=:AAAA:', 'sig')).toBe('AAAA');
    expect(scanSignature('a=:AA-_:, sig=:AAAA:, b=::', 'sig')).toBe('AAAA');
    for (const text of ['sig=:AAAA:;p=1', ' sig=:AAAA:', 'sig=:AAAA: ', 'sig=:AAAA:,a=:AA:', 'sig=:AAAA:, sig=:AAAA:', 'a=:A.A:, sig=:AAAA:', 'sig="AAAA"', 'sig=:AAAA', 'a=:AA:']) {
      expect(scanSignature(text, 'sig'), text).toBeUndefined();
    }
  });

  const b64 = fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b).toString('base64'));
  const b64url = fc.uint8Array({ maxLength: 70 }).map((b) => Buffer.from(b).toString('base64url'));
  const odd = fc.string({ unit: fc.constantFrom(...'AZaz09+/=-_.: ,;"\u00e9'.split('')), maxLength: 12 });
  const bytes = fc.oneof({ weight: 4, arbitrary: b64 }, { weight: 2, arbitrary: b64url }, { weight: 1, arbitrary: odd });
  const member = fc
    .tuple(fc.constantFrom('sig', 'sig', 'sig2', 'a', 'Sig', ''), bytes, fc.constantFrom('', '', '', ';a=1', ';b', ' '))
    .map(([k, v, p]) => `${k}=:${v}:${p}`);
  const noisy = fc
    .tuple(fc.constantFrom('', '', ' '), fc.array(member, { minLength: 1, maxLength: 3 }), fc.constantFrom(', ', ', ', ',', ' ,'), fc.constantFrom('', '', ' ', ','))
    .map(([lead, ms, s, trail]) => `${lead}${ms.join(s)}${trail}`);
  const canonical = fc
    .array(fc.tuple(fc.constantFrom('sig', 'sig', 'sig2', 'a'), fc.oneof(b64, b64, odd)), { minLength: 1, maxLength: 3 })
    .map((ms) => ms.map(([k, v]) => `${k}=:${v}:`).join(', '));
  const field = fc.oneof(canonical, noisy);

  it('property: when it accepts a standard base64 signature, the general parser selects the same text, decoded the same', () => {
    let accepted = 0;
    fc.assert(
      fc.property(field, fc.constantFrom('sig', 'sig2', 'a'), (text, l) => {
        const scanned = scanSignature(text, l);
        const decoded = scanned === undefined ? undefined : b64Decode(scanned);
        if (decoded === undefined) return;
        accepted++;
        expect(general(() => signatureMember(text, l))).toBe(scanned);
        expect(decoded).toEqual(b64AnyDecode(scanned!));
      }),
      RUNS,
    );
    expect(accepted).toBeGreaterThan(RUNS.numRuns / 20);
  });
});

describe('b64Decode', () => {
  const CANONICAL = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  it('property: decodes exactly the canonical padded base64 texts, to the bytes node decodes', () => {
    const text = fc.oneof(
      fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64')),
      fc.tuple(fc.uint8Array({ maxLength: 80 }), fc.nat(), fc.constantFrom(...'A=-_.+/ \u00e9'.split(''), '')).map(([b, at, ch]) => {
        const t = Buffer.from(b).toString('base64');
        const i = t.length === 0 ? 0 : at % t.length;
        return t.slice(0, i) + ch + t.slice(i + 1);
      }),
      fc.string({ unit: fc.constantFrom(...'AQg+/=-_\u00e9'.split('')), maxLength: 12 }),
    );
    fc.assert(
      fc.property(text, (t) => {
        expect(b64Decode(t)).toEqual(CANONICAL.test(t) ? Buffer.from(t, 'base64') : undefined);
      }),
      RUNS,
    );
  });
});
