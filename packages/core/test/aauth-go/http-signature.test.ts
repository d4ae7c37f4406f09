import { describe, expect, it } from 'vitest';
import { importPrivateKey, isAAuthError, jwkAlgProblem, signatureErrorCode, verifyRequest, type HttpRequest } from '@aauth-kit/core';
import { verifyMessageSignature } from '@aauth-kit/core/internal';
import { loadVectors } from './load.js';

// Generation: draft-11 (dictionary Signature-Key with the jwt scheme; keys with a fully specified alg).
// Where the vectors lag -11: Signature-Input carries `keyid`, which -11 says not to send; the verifier
// ignores it (the key comes from Signature-Key / here the vector's JWK). The jwt in Signature-Key is a
// placeholder, not a token: these cases check the RFC 9421 layer, not the token.
interface Case {
  name: string;
  signing_key: Record<string, string>;
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  signed: Record<string, string>;
  tamper?: { method: string; url: string; body?: string; headers?: Record<string, string> };
}
const { cases, spec } = loadVectors<Case>('http-signature.json');

function requestOf(c: Case, tampered: boolean): HttpRequest {
  const t = tampered ? c.tamper : undefined;
  const headers = { ...c.request.headers, ...c.signed, ...(t?.headers ?? {}) };
  return {
    method: t?.method || c.request.method,
    url: t?.url || c.request.url,
    headers,
    body: t?.body ?? c.request.body ?? null,
  };
}

const createdOf = (c: Case): number => Number(/created=(\d+)/.exec(c.signed['Signature-Input']!)![1]);

describe(`aauth-go http-signature.json (${spec}), draft-11`, () => {
  it('has the 6 cases of PROVENANCE.md: 3 verify, 3 tampered', () => {
    expect(cases).toHaveLength(6);
    expect(cases.filter((c) => c.tamper).length).toBe(3);
  });

  for (const c of cases) {
    // The vector gives the private JWK; the verifier uses its public half.
    const key = importPrivateKey(c.signing_key);
    const now = () => createdOf(c);
    it(`${c.name}: the key's alg is -11's (${c.signing_key.alg})`, () => {
      expect(jwkAlgProblem(c.signing_key, 'draft-11')).toBeUndefined();
    });
    if (!c.tamper) {
      it(`${c.name}: verifies as an AAuth -11 request (label sig, jwt scheme only, digest recomputed) and as plain RFC 9421`, async () => {
        const request = requestOf(c, false);
        const verified = await verifyRequest(request, { key, now, label: 'sig', signatureSchemes: ['jwt'] });
        expect(verified.signatureKey).toEqual({ scheme: 'jwt', jwt: 'eyJhbGciOiJFZDI1NTE5In0.e30.c2ln' });
        expect(verified.components).toEqual(c.signed['Content-Digest'] ? ['@method', '@authority', '@path', 'signature-key', 'content-digest'] : ['@method', '@authority', '@path', 'signature-key']);
        expect(verifyMessageSignature(request, 'sig', key, { now }).label).toBe('sig');
      });
    } else {
      it(`${c.name}: refused with -09 invalid_signature`, async () => {
        let caught: unknown;
        try {
          await verifyRequest(requestOf(c, true), { key, now, label: 'sig', signatureSchemes: ['jwt'] });
        } catch (error) {
          caught = error;
        }
        expect(isAAuthError(caught)).toBe(true);
        const e = caught as Parameters<typeof signatureErrorCode>[0];
        expect(e.code).toBe(c.tamper!.body !== undefined ? 'digest_mismatch' : 'signature_invalid');
        expect(signatureErrorCode(e)).toBe('invalid_signature');
        // Untampered, the same signature verifies: the tampering is what fails.
        await expect(verifyRequest(requestOf(c, false), { key, now, label: 'sig' })).resolves.toBeDefined();
      });
    }
  }

  it('outside the 60 s window the created of these vectors is stale, or ahead (clock_skew)', async () => {
    const c = cases[0]!;
    const key = importPrivateKey(c.signing_key);
    for (const [offset, code] of [[61, 'invalid_signature'], [-61, 'clock_skew']] as const) {
      let caught: unknown;
      try {
        await verifyRequest(requestOf(c, false), { key, now: () => createdOf(c) + offset, label: 'sig' });
      } catch (error) {
        caught = error;
      }
      expect(signatureErrorCode(caught as Parameters<typeof signatureErrorCode>[0])).toBe(code);
    }
  });
});
