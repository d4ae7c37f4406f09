import { describe, expect, it } from 'vitest';
import {
  AAuthError,
  generateKey,
  importPublicKey,
  signRequest,
  verifyRequest,
  type HttpRequest,
  type PublicKey,
  type SignatureKey,
  type SignRequestOptions,
  type VerifyRequestOptions,
} from '@aauth-kit/core';
import {
  createContentDigest,
  DEFAULT_MAX_SKEW,
  parseSignature,
  parseSignedRequest,
  serializeSignatureKey,
  verifyMessageSignature,
  verifySignedRequest,
} from '@aauth-kit/core/internal';
import { expectCode, expectRejectsCode, expectThrowsCode } from './support.js';

const NOW = 1774975920;
const now = () => NOW;
const key = generateKey();
const pub = importPublicKey(key.jwk);
const JSON_BODY = '{"product":"widget","qty":3}';

/** Resolve an hwk key from the header itself (what a pseudonymous route does). */
const resolveKey = (sk: SignatureKey): PublicKey => {
  if (sk.scheme !== 'hwk') throw new AAuthError('unsupported_scheme');
  return importPublicKey(sk.jwk);
};

type Req = HttpRequest & { headers: Record<string, string | string[]> };

function sign(request: HttpRequest, options: Partial<SignRequestOptions> = {}): Req {
  const { headers } = signRequest(request, { key, now, ...options });
  return { ...request, headers: { ...(request.headers as Record<string, string>), ...headers } };
}
const get = (url = 'https://api.example/items'): HttpRequest => ({ method: 'GET', url, headers: {} });
const post = (body: string | Uint8Array = JSON_BODY, url = 'https://api.example/orders'): HttpRequest => ({
  method: 'POST',
  url,
  headers: { 'content-type': 'application/json' },
  body,
});
const verify = (request: HttpRequest, options: Partial<VerifyRequestOptions> = {}) => verifyRequest(request, { now, resolveKey, ...options });
const withHeader = (request: Req, name: string, value: string | string[] | undefined): Req => {
  const headers = { ...request.headers };
  if (value === undefined) delete headers[name];
  else headers[name] = value;
  return { ...request, headers };
};

describe('sign with the profile defaults, then verify', () => {
  it('GET', async () => {
    const result = await verify(sign(get()));
    expect(result.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect(result.created).toBe(NOW);
    expect(result.nonce).toBeUndefined();
    expect(result.label).toBe('sig');
    expect(result.signatureKey).toEqual({ scheme: 'hwk', jwk: key.jwk });
    expect(result.signatureKeyForm).toBe('parenthesised');
    expect(result.key.thumbprint).toBe(key.thumbprint);
  });

  it('GET with a query', async () => {
    const result = await verify(sign(get('https://api.example/items?page=2&sort=desc')));
    expect(result.components).toContain('@query');
  });

  it('POST with a JSON body and nonce', async () => {
    const result = await verify(sign(post()));
    expect(result.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);
    expect(result.nonce).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('POST with a Uint8Array body', async () => {
    const bytes = new Uint8Array([0x7b, 0x7d, 0, 255, 10]);
    const signed = sign(post(bytes));
    await expect(verify(signed)).resolves.toMatchObject({ components: expect.arrayContaining(['content-digest']) });
    await expect(verify({ ...signed, body: Buffer.from(bytes) })).resolves.toBeDefined();
  });

  it('a base64url signature (the Python agents) verifies too', async () => {
    // Pick a signature whose base64url text differs from base64 (has - or _), so the test proves something.
    let signed = sign(post(), { signatureEncoding: 'base64url' });
    for (let i = 0; !/[-_]/.test(signed.headers.signature as string); i++) signed = sign(post(), { signatureEncoding: 'base64url', nonce: `n${i}` });
    expect((signed.headers.signature as string).slice(5, -1)).toMatch(/^[A-Za-z0-9_-]{86}$/);
    await expect(verify(signed)).resolves.toBeDefined();
  });

  it('the dictionary Signature-Key form verifies', async () => {
    const result = await verify(sign(get(), { signatureKeyForm: 'dictionary' }));
    expect(result.signatureKeyForm).toBe('dictionary');
  });

  it('a fixed key verifies jwks_uri-signed requests', async () => {
    const signed = sign(get(), { signatureKey: { scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' } });
    const result = await verifyRequest(signed, { now, key: pub });
    expect(result.signatureKey).toEqual({ scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' });
  });

  it('fetch Headers work as input', async () => {
    const signed = sign(post());
    await expect(verify({ ...signed, headers: new Headers(signed.headers as Record<string, string>) })).resolves.toBeDefined();
  });

  it('the parsed signature base equals the signed one', () => {
    const request = post(JSON_BODY, 'https://api.example/orders?x=1');
    const { headers, signatureBase } = signRequest(request, { key, now });
    const parsed = parseSignedRequest({ ...request, headers: { ...(request.headers as Record<string, string>), ...headers } }, { now });
    expect(parsed.signatureBase).toBe(signatureBase);
    expect(parsed.signatureText).toBe(headers.signature!.slice(5, -1));
    expect(() => verifySignedRequest(parsed, pub)).not.toThrow();
  });

  it('a request from a proxy that adds its own signature still verifies (other labels ignored)', async () => {
    const signed = sign(get());
    const proxy = signRequest(signed, { key: generateKey(), now, label: 'proxy', signatureKey: false });
    await expect(
      verify({
        ...signed,
        headers: {
          ...signed.headers,
          'signature-input': `${proxy.headers['signature-input']}, ${signed.headers['signature-input']}`,
          signature: [proxy.headers.signature!, signed.headers.signature as string],
        },
      }),
    ).resolves.toBeDefined();
  });

  it('an alg parameter is ignored: the algorithm comes from the key', async () => {
    await expect(verify(sign(get(), { extraParams: [['alg', 'rsa-pss-sha512']] }))).resolves.toBeDefined();
  });

  it('expires in the future is accepted', async () => {
    await expect(verify(sign(get(), { extraParams: [['expires', NOW + 10]] }))).resolves.toMatchObject({ expires: NOW + 10 });
  });
});

describe('tampering fails with a specific code', () => {
  it('method', async () => {
    await expectRejectsCode(verify({ ...sign(get()), method: 'DELETE' }), 'signature_invalid', 401);
  });

  it('authority: another host', async () => {
    await expectRejectsCode(verify({ ...sign(get()), url: 'https://other.example/items' }), 'signature_invalid', 401);
  });

  it('the message names the @authority and @path this side verified, a long path cut at 120 characters', async () => {
    await expect(verify({ ...sign(get()), url: 'https://other.example/items' })).rejects.toThrow(
      'The signature does not verify with the signing key; this side verified it for @authority "other.example" and @path "/items": if the key is right',
    );
    const long = `/${'p'.repeat(300)}`;
    const error = await verify({ ...sign(get()), url: `https://api.example${long}` }).catch((e: Error) => e);
    expect((error as Error).message).toContain(`@path "/${'p'.repeat(119)}..."`);
    expect((error as Error).message).not.toContain('p'.repeat(121));
  });

  it('authority: another port', async () => {
    await expectRejectsCode(verify({ ...sign(get('http://localhost:3000/items')), url: 'http://localhost:3001/items' }), 'signature_invalid');
  });

  it('authority: default port vs explicit other port', async () => {
    await expectRejectsCode(verify({ ...sign(get('https://api.example/items')), url: 'https://api.example:8443/items' }), 'signature_invalid');
  });

  it('path', async () => {
    await expectRejectsCode(verify({ ...sign(get()), url: 'https://api.example/items/1' }), 'signature_invalid');
  });

  it('query changed', async () => {
    await expectRejectsCode(verify({ ...sign(get('https://api.example/items?page=2')), url: 'https://api.example/items?page=3' }), 'signature_invalid');
  });

  it('query removed', async () => {
    await expectRejectsCode(verify({ ...sign(get('https://api.example/items?page=2')), url: 'https://api.example/items' }), 'signature_invalid');
  });

  it('query added to a request signed without one: @query not covered', async () => {
    const e = await expectRejectsCode(verify({ ...sign(get()), url: 'https://api.example/items?admin=1' }), 'signature_coverage', 401);
    expect(e.details).toEqual({ component: '@query' });
  });

  it('body changed (digest kept)', async () => {
    await expectRejectsCode(verify({ ...sign(post()), body: '{"product":"widget","qty":300}' }), 'digest_mismatch', 401);
  });

  it('body and digest changed together', async () => {
    const body = '{"product":"widget","qty":300}';
    await expectRejectsCode(verify({ ...withHeader(sign(post()), 'content-digest', createContentDigest(body)), body }), 'signature_invalid');
  });

  it('body removed', async () => {
    await expectRejectsCode(verify({ ...sign(post()), body: undefined }), 'digest_mismatch');
  });

  it('content-type changed', async () => {
    await expectRejectsCode(verify(withHeader(sign(post()), 'content-type', 'text/plain')), 'signature_invalid');
  });

  it('signature-key swapped for the attacker key', async () => {
    const attacker = generateKey();
    const signed = sign(get());
    await expectRejectsCode(verify(withHeader(signed, 'signature-key', serializeSignatureKey({ scheme: 'hwk', jwk: attacker.jwk }))), 'signature_invalid');
  });

  it('signature-key kid changed (key fixed)', async () => {
    const signed = sign(get(), { signatureKey: { scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' } });
    const tampered = withHeader(signed, 'signature-key', 'sig=(scheme=jwks_uri id="http://localhost:3001" kid="k2")');
    await expectRejectsCode(verifyRequest(tampered, { now, key: pub }), 'signature_invalid');
  });

  it('created changed within the window', async () => {
    const signed = sign(get());
    const input = (signed.headers['signature-input'] as string).replace(`created=${NOW}`, `created=${NOW - 5}`);
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', input)), 'signature_invalid');
  });

  it('created moved out of the window: stale or future', async () => {
    const signed = sign(get());
    const stale = (signed.headers['signature-input'] as string).replace(`created=${NOW}`, `created=${NOW - 600}`);
    const future = (signed.headers['signature-input'] as string).replace(`created=${NOW}`, `created=${NOW + 600}`);
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', stale)), 'signature_stale', 401);
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', future)), 'signature_future', 401);
  });

  it('nonce changed', async () => {
    const signed = sign(post(), { nonce: 'AAAAAAAAAAAAAAAAAAAAAA' });
    const input = (signed.headers['signature-input'] as string).replace('AAAAAAAAAAAAAAAAAAAAAA', 'BBBBBBBBBBBBBBBBBBBBBB');
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', input)), 'signature_invalid');
  });

  it('signature bytes flipped', async () => {
    const signed = sign(get());
    const raw = Buffer.from((signed.headers.signature as string).slice(5, -1), 'base64');
    raw[0]! ^= 1;
    await expectRejectsCode(verify(withHeader(signed, 'signature', `sig=:${raw.toString('base64')}:`)), 'signature_invalid');
  });

  it('a truncated signature', async () => {
    const signed = sign(get());
    const raw = Buffer.from((signed.headers.signature as string).slice(5, -1), 'base64').subarray(0, 32);
    await expectRejectsCode(verify(withHeader(signed, 'signature', `sig=:${raw.toString('base64')}:`)), 'signature_invalid');
  });

  it('a different fixed key', async () => {
    await expectRejectsCode(verifyRequest(sign(get()), { now, key: importPublicKey(generateKey().jwk) }), 'signature_invalid');
  });
});

describe('label selection (wire profile section 3)', () => {
  it('Signature-Input without the selected label: signature_label_mismatch', async () => {
    const signed = sign(get());
    const other = (signed.headers['signature-input'] as string).replace(/^sig=/, 'proxy=');
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', other)), 'signature_label_mismatch', 401);
  });

  it('Signature without the selected label: signature_label_mismatch', async () => {
    const signed = sign(get());
    const other = (signed.headers.signature as string).replace(/^sig=/, 'proxy=');
    await expectRejectsCode(verify(withHeader(signed, 'signature', other)), 'signature_label_mismatch');
  });

  it('Signature-Key naming a label the signature does not use: signature_label_mismatch', async () => {
    const signed = sign(get(), { label: 'aauth' });
    const sk = serializeSignatureKey({ scheme: 'hwk', jwk: key.jwk }, { label: 'sig' });
    await expectRejectsCode(verify(withHeader(signed, 'signature-key', sk)), 'signature_label_mismatch');
  });

  it('Signature-Input duplicated across field lines: signature_duplicate', async () => {
    const signed = sign(get());
    const input = signed.headers['signature-input'] as string;
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', [input, input])), 'signature_duplicate', 401);
  });

  it('Signature duplicated inside one line: signature_duplicate', async () => {
    const signed = sign(get());
    const sig = signed.headers.signature as string;
    await expectRejectsCode(verify(withHeader(signed, 'signature', `${sig}, ${sig}`)), 'signature_duplicate');
  });

  it('a second Signature-Key line: signature_key_malformed', async () => {
    const signed = sign(get());
    const sk = signed.headers['signature-key'] as string;
    await expectRejectsCode(verify(withHeader(signed, 'signature-key', [sk, sk])), 'signature_key_malformed');
  });

  it('an unknown Signature-Key scheme: unsupported_scheme, before any key lookup', async () => {
    const signed = withHeader(sign(get()), 'signature-key', 'sig=(scheme=x509 cert="abc")');
    let resolved = false;
    await expectRejectsCode(
      verifyRequest(signed, {
        now,
        resolveKey: () => {
          resolved = true;
          return pub;
        },
      }),
      'unsupported_scheme',
      401,
    );
    expect(resolved).toBe(false);
  });
});

describe('coverage', () => {
  it('signature-key not covered: signature_coverage', async () => {
    const signed = sign(get(), { components: ['@method', '@authority', '@path'] });
    const e = await expectRejectsCode(verify(signed), 'signature_coverage', 401);
    expect(e.details).toEqual({ component: 'signature-key' });
  });

  it('@authority not covered: signature_coverage', async () => {
    await expectRejectsCode(verify(sign(get(), { components: ['@method', '@path', 'signature-key'] })), 'signature_coverage');
  });

  it('a body whose signature does not cover content-digest: digest_missing', async () => {
    const signed = sign(post(), { components: ['@method', '@authority', '@path', 'content-type', 'signature-key'] });
    const e = await expectRejectsCode(verify(signed), 'digest_missing', 401);
    expect(e.error).toBe('invalid_signature');
  });

  it('requireContentDigest: false relaxes it for legacy peers', async () => {
    const signed = sign(post(), { components: ['@method', '@authority', '@path', 'content-type', 'signature-key'] });
    await expect(verify(signed, { requireContentDigest: false })).resolves.toBeDefined();
  });

  it('requireContentDigest: false still checks a covered digest', async () => {
    await expectRejectsCode(verify({ ...sign(post()), body: 'other' }, { requireContentDigest: false }), 'digest_mismatch');
  });

  it('a covered content-digest whose header is gone: signature_component_missing', async () => {
    await expectRejectsCode(verify(withHeader(sign(post()), 'content-digest', undefined)), 'signature_component_missing', 401);
  });

  it('a malformed Content-Digest: digest_malformed', async () => {
    await expectRejectsCode(verify(withHeader(sign(post()), 'content-digest', 'md5=:AAAA:')), 'digest_malformed');
  });

  it('a covered header that is gone: signature_component_missing', async () => {
    await expectRejectsCode(verify(withHeader(sign(post()), 'content-type', undefined)), 'signature_component_missing');
  });

  it('route-required components (requiredComponents)', async () => {
    const request = { ...get(), headers: { 'x-tenant': 'acme' } };
    await expectRejectsCode(verify(sign(request), { requiredComponents: ['x-tenant'] }), 'signature_coverage');
    await expect(verify(sign(request, { additionalComponents: ['x-tenant'] }), { requiredComponents: ['x-tenant'] })).resolves.toBeDefined();
  });

  it('route-required components: one array reused and changed between requests is read afresh, with and without a query', async () => {
    const request = { ...get(), headers: { 'x-tenant': 'acme', 'x-region': 'eu' } };
    const withQuery = { ...request, url: `${request.url}?q=1` };
    const required: string[] = ['x-tenant'];
    await expect(verify(sign(request, { additionalComponents: ['x-tenant'] }), { requiredComponents: required })).resolves.toBeDefined();
    await expect(verify(sign(withQuery, { additionalComponents: ['x-tenant'] }), { requiredComponents: required })).resolves.toBeDefined();
    required.push('x-region');
    await expectRejectsCode(verify(sign(request, { additionalComponents: ['x-tenant'] }), { requiredComponents: required }), 'signature_coverage');
    await expectRejectsCode(verify(sign(withQuery, { additionalComponents: ['x-tenant'] }), { requiredComponents: required }), 'signature_coverage');
    required[1] = 'x-tenant';
    await expect(verify(sign(request, { additionalComponents: ['x-tenant'] }), { requiredComponents: required })).resolves.toBeDefined();
    // A query still has to be covered when the list came from the memo.
    await expectRejectsCode(verify(sign(withQuery, { additionalComponents: ['x-tenant'], components: ['@method', '@authority', '@path', 'x-tenant', 'signature-key'] }), { requiredComponents: required }), 'signature_coverage');
  });

  it('coverage is refused before any key is resolved', async () => {
    let resolved = false;
    await expectRejectsCode(
      verifyRequest(sign(post(), { components: ['@method', '@authority', '@path', 'signature-key'] }), {
        now,
        resolveKey: () => {
          resolved = true;
          return pub;
        },
      }),
      'digest_missing',
    );
    expect(resolved).toBe(false);
  });
});

describe('created, expires and the clock', () => {
  const stripCreated = (request: Req): Req =>
    withHeader(request, 'signature-input', (request.headers['signature-input'] as string).replace(`;created=${NOW}`, ''));

  it('created missing: signature_created_missing', async () => {
    await expectRejectsCode(verify(stripCreated(sign(get()))), 'signature_created_missing', 401);
  });

  it('requireCreated: false lets the signature reach verification', async () => {
    const request = sign(get(), { nonce: false });
    // The signer signed created, so the stripped base no longer verifies: proof the check was passed.
    await expectRejectsCode(verify(stripCreated(request), { requireCreated: false }), 'signature_invalid');
  });

  it('expires in the past: signature_expired', async () => {
    await expectRejectsCode(verify(sign(get(), { extraParams: [['expires', NOW - 1]] })), 'signature_expired', 401);
  });

  it('created or expires that is not an integer: signature_malformed', async () => {
    const signed = sign(get());
    const input = (signed.headers['signature-input'] as string).replace(`created=${NOW}`, `created="${NOW}"`);
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', input)), 'signature_malformed');
    await expectRejectsCode(verify(sign(get(), { extraParams: [['expires', 'soon']] })), 'signature_malformed');
  });

  it('the default window is +/-60 s around the injected clock, inclusive', async () => {
    expect(DEFAULT_MAX_SKEW).toBe(60);
    const signed = sign(get());
    await expect(verify(signed, { now: () => NOW + 60 })).resolves.toBeDefined();
    await expect(verify(signed, { now: () => NOW - 60 })).resolves.toBeDefined();
    await expectRejectsCode(verify(signed, { now: () => NOW + 61 }), 'signature_stale');
    await expectRejectsCode(verify(signed, { now: () => NOW - 61 }), 'signature_future');
  });

  it('maxSkew is configurable', async () => {
    const signed = sign(get());
    await expectRejectsCode(verify(signed, { now: () => NOW + 11, maxSkew: 10 }), 'signature_stale');
    await expect(verify(signed, { now: () => NOW + 300, maxSkew: 300 })).resolves.toBeDefined();
  });
});

describe('malformed and oversized signature headers', () => {
  it('unsigned requests: signature_missing', async () => {
    await expectRejectsCode(verify(get()), 'signature_missing', 401);
  });

  it('Signature-Key alone, or Signature-Input/Signature without Signature-Key: signature_missing', async () => {
    const signed = sign(get());
    await expectRejectsCode(verify(withHeader(withHeader(signed, 'signature', undefined), 'signature-input', undefined)), 'signature_missing');
    await expectRejectsCode(verify(withHeader(signed, 'signature-key', undefined)), 'signature_missing');
    await expectRejectsCode(verify(withHeader(signed, 'signature', undefined)), 'signature_missing');
  });

  it('a signature that is neither base64 nor base64url: signature_malformed', async () => {
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature', 'sig=:ab+_cd:')), 'signature_malformed');
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature', 'sig=::')), 'signature_malformed');
  });

  it('Signature members that are not byte sequences, Signature-Input members that are not inner lists', async () => {
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature', 'sig="abc"')), 'signature_malformed');
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature-input', `sig="@method";created=${NOW}`)), 'signature_malformed');
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature-input', `sig=(@method);created=${NOW}`)), 'signature_malformed');
  });

  it('component parameters and unknown derived components: signature_malformed', async () => {
    const signed = sign(get());
    const input = (signed.headers['signature-input'] as string).replace('"signature-key"', '"signature-key";sf');
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', input)), 'signature_malformed');
    const unknown = (signed.headers['signature-input'] as string).replace('"@path"', '"@path" "@status"');
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', unknown)), 'signature_malformed');
    const twice = (signed.headers['signature-input'] as string).replace('"@path"', '"@path" "@path"');
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', twice)), 'signature_malformed');
  });

  it('syntax errors in Signature-Input or Signature: signature_malformed', async () => {
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature-input', 'sig=("@method"')), 'signature_malformed');
    await expectRejectsCode(verify(withHeader(sign(get()), 'signature', 'sig=:abc')), 'signature_malformed');
  });

  it('oversized headers: header_too_large (431)', async () => {
    const signed = sign(get());
    const big = `${signed.headers['signature-input'] as string};pad="${'a'.repeat(17 * 1024)}"`;
    await expectRejectsCode(verify(withHeader(signed, 'signature-input', big)), 'header_too_large', 431);
    await expectRejectsCode(verify(withHeader(signed, 'signature', `${signed.headers.signature as string}, x=:${'A'.repeat(17 * 1024)}:`)), 'header_too_large', 431);
    await expectRejectsCode(verify(withHeader(signed, 'signature-key', `sig=(scheme=jwt jwt="${'a'.repeat(17 * 1024)}")`)), 'header_too_large', 431);
  });

  it('maxHeaderBytes lowers the limit', async () => {
    await expectRejectsCode(verify(sign(get()), { maxHeaderBytes: 64 }), 'header_too_large', 431);
  });

  it('an oversized Content-Digest: header_too_large', async () => {
    const signed = sign(post());
    await expectRejectsCode(verify(withHeader(signed, 'content-digest', `${signed.headers['content-digest'] as string}, x=:${'A'.repeat(9000)}:`)), 'header_too_large');
  });

  it('a relative URL: invalid_request (400)', async () => {
    await expectRejectsCode(verify({ ...sign(get()), url: '/items' }), 'invalid_request', 400);
  });
});

describe('verifyRequest key resolution', () => {
  it('passes the parsed Signature-Key and signature to the resolver', async () => {
    const signed = sign(get(), { signatureKey: { scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' } });
    const seen: unknown[] = [];
    await verifyRequest(signed, {
      now,
      resolveKey: async (sk, parsed) => {
        seen.push(sk, parsed.label);
        return pub;
      },
    });
    expect(seen).toEqual([{ scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' }, 'sig']);
  });

  it('a resolver that returns nothing: key_not_found', async () => {
    await expectRejectsCode(verifyRequest(sign(get()), { now, resolveKey: () => undefined as never }), 'key_not_found', 401);
  });

  it('a resolver that fails with a plain error: key_discovery_failed, cause kept', async () => {
    const cause = new Error('ECONNREFUSED');
    const e = await expectRejectsCode(
      verifyRequest(sign(get()), {
        now,
        resolveKey: () => {
          throw cause;
        },
      }),
      'key_discovery_failed',
    );
    expect(e.cause).toBe(cause);
  });

  it('a resolver AAuthError passes through', async () => {
    await expectRejectsCode(
      verifyRequest(sign(get()), { now, resolveKey: () => Promise.reject(new AAuthError('egress_denied')) }),
      'egress_denied',
    );
  });

  it('neither key nor resolveKey is a TypeError', async () => {
    await expect(verifyRequest(sign(get()), { now } as VerifyRequestOptions)).rejects.toThrow(/options\.key or options\.resolveKey/);
  });
});

describe('generic RFC 9421 helpers', () => {
  it('parseSignature / verifyMessageSignature verify a labelled signature without Signature-Key', () => {
    const request = get();
    const { headers } = signRequest(request, { key, now, signatureKey: false, label: 'plain' });
    const signed = { ...request, headers };
    expect(parseSignature(signed, 'plain', { now }).signatureKey).toBeUndefined();
    expect(verifyMessageSignature(signed, 'plain', pub, { now }).components).toEqual(['@method', '@authority', '@path']);
    expectCode(
      (() => {
        try {
          verifyMessageSignature(signed, 'other', pub, { now });
        } catch (error) {
          return error;
        }
        return undefined;
      })(),
      'signature_label_mismatch',
    );
  });

  it('parseSignature does not impose the AAuth minimum coverage', () => {
    const { headers } = signRequest(get(), { key, now, signatureKey: false, components: ['@method'] });
    expect(parseSignature({ ...get(), headers }, 'sig', { now }).components).toEqual(['@method']);
    expectThrowsCode(() => parseSignature({ ...get(), headers }, 'sig', { now, requiredComponents: ['@path'] }), 'signature_coverage');
  });
});
