import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { sign, tableFetch } from './helpers.js';

const RESOURCE = 'https://api.example';
const key = generateKey();
const base = sign({ method: 'POST', url: `${RESOURCE}/x?a=1`, headers: { 'content-type': 'application/json' }, body: '{"a":1}' }, key);
const v = createVerifier({ identity: RESOURCE, fetch: tableFetch({}), discovery: { resolveHostname: async () => ['93.184.215.14'] } });

async function outcome(headers: Record<string, string>, body: string | undefined = base.body as string): Promise<unknown> {
  return v.verify({ method: 'POST', url: `${RESOURCE}/x?a=1`, headers, body }).then(
    () => 'ok',
    (e: unknown) => e,
  );
}

const headerText = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.stringMatching(/^[a-z]{1,4}=[:(]?[A-Za-z0-9+/=_ ";:()-]{0,120}[:)]?$/),
);

describe('verify never fails with anything but an AAuthError 4xx (fast-check)', () => {
  for (const header of ['signature', 'signature-input', 'signature-key', 'content-digest']) {
    it(`random ${header}`, async () => {
      await fc.assert(
        fc.asyncProperty(headerText, async (value) => {
          const result = await outcome({ ...base.headers, [header]: value });
          if (result === 'ok') return;
          expect(result).toBeInstanceOf(AAuthError);
          expect((result as AAuthError).status).toBeGreaterThanOrEqual(400);
          expect((result as AAuthError).status).toBeLessThan(500);
        }),
        { numRuns: 300 },
      );
    });
  }

  it('mutating one character of any signature header never verifies a different signature', async () => {
    const decode = (h: string): Buffer => Buffer.from(/^sig=:(.*):$/.exec(h)?.[1] ?? '', 'base64');
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('signature', 'signature-input', 'signature-key'), fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), async (header, at, ch) => {
        const original = base.headers[header]!;
        const i = at % original.length;
        if (original[i] === ch) return;
        const mutated = original.slice(0, i) + ch + original.slice(i + 1);
        const result = await outcome({ ...base.headers, [header]: mutated });
        if (result === 'ok') {
          // Only a non-canonical spelling of the same signature bytes (base64 padding bits) may pass.
          expect(header).toBe('signature');
          expect(decode(mutated).equals(decode(original))).toBe(true);
          return;
        }
        expect(result).toBeInstanceOf(AAuthError);
      }),
      { numRuns: 300 },
    );
  });

  it('random bodies against a fixed signature fail with digest_mismatch or a 4xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 200 }), async (body) => {
        if (body === base.body) return;
        const result = await outcome(base.headers, body);
        expect(result).toBeInstanceOf(AAuthError);
        expect((result as AAuthError).code).toBe('digest_mismatch');
      }),
      { numRuns: 200 },
    );
  });
});
