import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  computeThumbprint,
  importPrivateKey,
  importPublicKey,
  signRequest,
  type HttpRequest,
} from '@aauth-kit/core';
import { createContentDigest, createSignatureBase, verifyContentDigest, verifyMessageSignature } from '@aauth-kit/core/internal';

interface Vector {
  title: string;
  key: string;
  request: { method: string; url: string; headers: [string, string][]; body: string | null };
  label: string;
  covered_components: string[];
  params: { created: number; keyid: string };
  signature_base: string;
  signature_input_header: string;
  signature_header: string;
  still_valid_after?: string[];
  invalid_after?: string[];
}
const vectors = JSON.parse(readFileSync(new URL('./vectors/rfc9421.json', import.meta.url), 'utf8')) as {
  keys: Record<string, { private_pkcs8_pem: string; public_spki_pem: string; private_jwk: Record<string, string>; rfc7638_thumbprint_sha256: string }>;
  signatures: Vector[];
  content_digest: { title: string; body: string; header: string }[];
};

const keyDoc = vectors.keys['test-key-ed25519']!;

function toRequest(v: Vector, headers = v.request.headers, url = v.request.url, method = v.request.method): HttpRequest {
  return { method, url, headers, body: v.request.body };
}

/** RFC 8032 section 7.1 (see vectors/PROVENANCE.md). */
const ed25519Vectors = (
  JSON.parse(readFileSync(new URL('./vectors/rfc8032-ed25519.json', import.meta.url), 'utf8')) as {
    vectors: { title: string; secret_key: string; public_key: string; message: string; signature: string }[];
  }
).vectors;

for (const backend of ['node', 'noble', 'sodium'] as const) {
  describe(`RFC 8032 Ed25519 vectors (${backend} backend)`, () => {
    for (const t of ed25519Vectors) {
      it(`${t.title}: public key, signature and verification reproduce`, () => {
        const x = Buffer.from(t.public_key, 'hex').toString('base64url');
        const d = Buffer.from(t.secret_key, 'hex').toString('base64url');
        const message = Buffer.from(t.message, 'hex');
        const signature = Buffer.from(t.signature, 'hex');
        const key = importPrivateKey({ kty: 'OKP', crv: 'Ed25519', x, d }, { backend });
        expect(key.backend).toBe(backend);
        expect(key.jwk.x).toBe(x);
        expect(Buffer.from(key.sign(message)).toString('hex')).toBe(t.signature);
        const pub = importPublicKey({ kty: 'OKP', crv: 'Ed25519', x }, { backend });
        expect(pub.verify(message, signature)).toBe(true);
        const flipped = Buffer.from(signature);
        flipped[10] = flipped[10]! ^ 1;
        expect(pub.verify(message, flipped)).toBe(false);
        expect(pub.verify(Buffer.concat([message, Buffer.from([0])]), signature)).toBe(false);
      });
    }
  });
}

describe('RFC 7638 thumbprint vector', () => {
  it('RFC 9421 B.1.4 test-key-ed25519 thumbprint reproduces', () => {
    expect(computeThumbprint(keyDoc.private_jwk)).toBe(keyDoc.rfc7638_thumbprint_sha256);
    expect(importPrivateKey(keyDoc.private_pkcs8_pem).thumbprint).toBe(keyDoc.rfc7638_thumbprint_sha256);
  });
});

for (const backend of ['node', 'noble', 'sodium'] as const) {
  describe(`RFC 9421 signature vectors (${backend} backend)`, () => {
    for (const v of vectors.signatures) {
      const key = importPrivateKey(keyDoc.private_jwk, { kid: v.params.keyid, backend });
      it(`${v.title}: signature base reproduces byte for byte`, () => {
        const params = v.signature_input_header.slice(v.label.length + 1);
        expect(createSignatureBase(toRequest(v), v.covered_components, params)).toBe(v.signature_base);
      });
      it(`${v.title}: signing reproduces the Signature-Input and Signature headers`, () => {
        const result = signRequest(toRequest(v), {
          key,
          label: v.label,
          components: v.covered_components,
          created: v.params.created,
          nonce: false,
          extraParams: [['keyid', v.params.keyid]],
          signatureKey: false,
        });
        expect(result.signatureBase).toBe(v.signature_base);
        expect(`${v.label}=${result.headers['signature-input']!.slice(v.label.length + 1)}`).toBe(v.signature_input_header);
        expect(result.headers.signature).toBe(v.signature_header);
      });
      it(`${v.title}: the published signature verifies`, () => {
        const req = toRequest(v, [...v.request.headers, ['Signature-Input', v.signature_input_header], ['Signature', v.signature_header]]);
        const pub = importPublicKey({ kty: 'OKP', crv: 'Ed25519', x: keyDoc.private_jwk.x }, { backend });
        const signed = verifyMessageSignature(req, v.label, pub, { now: () => v.params.created });
        expect(signed.signatureBase).toBe(v.signature_base);
      });
    }
  });
}

describe('RFC 9421 B.4 transformations', () => {
  const v = vectors.signatures.find((s) => s.label === 'transform')!;
  const pub = importPublicKey({ kty: 'OKP', crv: 'Ed25519', x: keyDoc.private_jwk.x });
  const sigHeaders: [string, string][] = [['Signature-Input', v.signature_input_header], ['Signature', v.signature_header]];
  const verify = (req: HttpRequest) => verifyMessageSignature(req, v.label, pub, { now: () => v.params.created });
  const base = v.request.headers;
  const variants: Record<string, HttpRequest> = {
    'adding a query parameter to the URL': toRequest(v, [...base, ...sigHeaders], `${v.request.url}&extra=1`),
    'adding an Accept-Language header': toRequest(v, [...base, ['Accept-Language', 'en-US,en;q=0.5'], ...sigHeaders]),
    'removing the Date header': toRequest(v, [...base.filter(([n]) => n !== 'Date'), ...sigHeaders]),
    "folding the two Accept lines into one 'application/json, */*'": toRequest(v, [
      ...base.filter(([n]) => n !== 'Accept'),
      ['Accept', 'application/json, */*'],
      ...sigHeaders,
    ]),
    'reordering header lines other than the two Accept lines': toRequest(v, [
      ...sigHeaders,
      ['Date', 'Fri, 15 Jul 2022 14:24:55 GMT'],
      ['Accept', 'application/json'],
      ['Host', 'example.org'],
      ['Accept', '*/*'],
    ]),
    'changing the method to POST': toRequest(v, [...base, ...sigHeaders], v.request.url, 'POST'),
    'changing the authority to example.com': toRequest(v, [...base, ...sigHeaders], v.request.url.replace('example.org', 'example.com')),
    'swapping the order of the two Accept lines': toRequest(v, [
      ...base.filter(([n]) => n !== 'Accept'),
      ['Accept', '*/*'],
      ['Accept', 'application/json'],
      ...sigHeaders,
    ]),
  };
  it('lists every variant of the vector file', () => {
    expect(Object.keys(variants).sort()).toEqual([...v.still_valid_after!, ...v.invalid_after!].sort());
  });
  for (const name of v.still_valid_after!) {
    it(`still valid after ${name}`, () => {
      expect(() => verify(variants[name]!)).not.toThrow();
    });
  }
  for (const name of v.invalid_after!) {
    it(`invalid after ${name}`, () => {
      expect(() => verify(variants[name]!)).toThrow(expect.objectContaining({ code: 'signature_invalid', status: 401 }));
    });
  }
});

describe('RFC 9530 content digests', () => {
  for (const d of vectors.content_digest) {
    it(`${d.title} reproduces`, () => {
      const alg = d.header.startsWith('sha-512') ? 'sha-512' : 'sha-256';
      expect(createContentDigest(d.body, alg)).toBe(d.header);
      expect(() => verifyContentDigest(d.header, d.body)).not.toThrow();
      expect(() => verifyContentDigest(d.header, `${d.body} `)).toThrow(expect.objectContaining({ code: 'digest_mismatch' }));
    });
  }
});
