import { describe, expect, it } from 'vitest';
import {
  generateKey,
  importPublicKey,
  parseSignatureKey,
  signRequest,
  verifyRequest,
  type HttpRequest,
} from '@aauth-kit/core';
import { createContentDigest, createSignatureBase, defaultComponents } from '@aauth-kit/core/internal';
import { expectThrowsCode } from './support.js';

const NOW = 1774975920;
const now = () => NOW;
const key = generateKey({ kid: 'sca-1' });
const JSON_BODY = '{"product":"widget","qty":3}';

function post(body: string | Uint8Array = JSON_BODY, url = 'https://api.example/orders'): HttpRequest {
  return { method: 'POST', url, headers: { 'content-type': 'application/json' }, body };
}
const get = (url = 'https://api.example/items'): HttpRequest => ({ method: 'GET', url, headers: {} });
const inputOf = (value: string) => value.slice('sig='.length);

describe('default components (wire profile section 3)', () => {
  it('GET: @method @authority @path signature-key, in that order', () => {
    const r = signRequest(get(), { key, now });
    expect(r.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect(r.headers['signature-input']).toBe(`sig=("@method" "@authority" "@path" "signature-key");created=${NOW}`);
  });

  it('one components array changed in place between signs is serialized as it is now, never as it was', () => {
    const components = ['@method', '@authority', '@path', 'signature-key'];
    const first = signRequest(get(), { key, now, components });
    expect(first.headers['signature-input']).toBe(`sig=("@method" "@authority" "@path" "signature-key");created=${NOW}`);
    components.splice(2, 1);
    const second = signRequest(get(), { key, now, components });
    expect(second.headers['signature-input']).toBe(`sig=("@method" "@authority" "signature-key");created=${NOW}`);
    components.push('@path');
    expect(signRequest(get(), { key, now, components }).headers['signature-input']).toBe(`sig=("@method" "@authority" "signature-key" "@path");created=${NOW}`);
  });

  it('GET with a query adds @query after @path', () => {
    expect(signRequest(get('https://api.example/items?page=2&q=a%20b'), { key, now }).components).toEqual([
      '@method',
      '@authority',
      '@path',
      '@query',
      'signature-key',
    ]);
  });

  it('an empty query ("?") is no query', () => {
    expect(signRequest(get('https://api.example/items?'), { key, now }).components).not.toContain('@query');
  });

  it('POST with a JSON body: content-type and content-digest before signature-key', () => {
    const r = signRequest(post(JSON_BODY, 'https://api.example/orders?dry=1'), { key, now });
    expect(r.components).toEqual(['@method', '@authority', '@path', '@query', 'content-type', 'content-digest', 'signature-key']);
  });

  it('a body without a content-type header covers content-digest only', () => {
    const r = signRequest({ method: 'PUT', url: 'https://api.example/x', headers: {}, body: 'raw' }, { key, now });
    expect(r.components).toEqual(['@method', '@authority', '@path', 'content-digest', 'signature-key']);
  });

  it('additional components go before signature-key, lower-cased and de-duplicated', () => {
    const request = { ...post(), headers: { 'content-type': 'application/json', 'X-Tenant': 'acme' } };
    const r = signRequest(request, { key, now, additionalComponents: ['X-Tenant', 'content-type', 'signature-key', 'x-tenant'] });
    expect(r.signatureBase).toContain('"x-tenant": acme\n"signature-key": ');
    expect(r.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'x-tenant', 'signature-key']);
  });

  it('defaultComponents is the same list as the signer uses', () => {
    const request = post();
    expect(defaultComponents(request)).toEqual(signRequest(request, { key, now }).components);
    expect(defaultComponents(get(), [], false)).toEqual(['@method', '@authority', '@path']);
  });

  it('explicit components replace the defaults exactly', () => {
    const r = signRequest(get(), { key, now, components: ['@method', '@path', 'signature-key'] });
    expect(r.headers['signature-input']).toBe(`sig=("@method" "@path" "signature-key");created=${NOW}`);
  });
});

describe('signature parameters', () => {
  it('GET carries created only: no nonce, keyid, alg, expires or tag', () => {
    const r = signRequest(get(), { key, now });
    expect(r.params).toEqual([['created', NOW]]);
    expect(r.headers['signature-input']).not.toMatch(/keyid|alg=|expires|tag=|nonce/);
  });

  it('POST carries created then a fresh nonce of at least 96 bits, base64url', () => {
    const a = signRequest(post(), { key, now });
    const b = signRequest(post(), { key, now });
    expect(a.params.map(([n]) => n)).toEqual(['created', 'nonce']);
    const nonce = a.params[1]![1] as string;
    expect(nonce).toMatch(/^[A-Za-z0-9_-]{16,}$/);
    expect(Buffer.from(nonce, 'base64url').length * 8).toBeGreaterThanOrEqual(96);
    expect(a.headers['signature-input']).toMatch(new RegExp(`;created=${NOW};nonce="${nonce}"$`));
    expect(a.headers['signature-input']).not.toMatch(/keyid|alg=|expires|tag=/);
    // Ed25519 is deterministic: only the nonce makes two identical requests in one second differ.
    expect(b.params[1]![1]).not.toBe(nonce);
    expect(b.headers.signature).not.toBe(a.headers.signature);
  });

  it('lower-case non-idempotent methods get a nonce too; idempotent ones do not', () => {
    expect(signRequest({ ...post(), method: 'post' }, { key, now }).params.map(([n]) => n)).toContain('nonce');
    expect(signRequest({ ...post(), method: 'PATCH' }, { key, now }).params.map(([n]) => n)).toContain('nonce');
    for (const method of ['PUT', 'DELETE', 'HEAD', 'OPTIONS']) {
      expect(signRequest({ ...get(), method }, { key, now }).params).toEqual([['created', NOW]]);
    }
  });

  it('nonce: true forces one, false suppresses it, a string is used as is', () => {
    expect(signRequest(get(), { key, now, nonce: true }).params.map(([n]) => n)).toEqual(['created', 'nonce']);
    expect(signRequest(post(), { key, now, nonce: false }).params).toEqual([['created', NOW]]);
    expect(signRequest(get(), { key, now, nonce: 'abc_DEF-123' }).headers['signature-input']).toMatch(/;nonce="abc_DEF-123"$/);
  });

  it('created comes from the injected clock (floored) or the created option', () => {
    expect(signRequest(get(), { key, now: () => NOW + 0.9 }).params).toEqual([['created', NOW]]);
    expect(signRequest(get(), { key, now, created: 1 }).params).toEqual([['created', 1]]);
  });

  it('extraParams are appended after created and nonce', () => {
    const r = signRequest(get(), { key, now, extraParams: [['keyid', 'k']] });
    expect(r.headers['signature-input']).toMatch(new RegExp(`;created=${NOW};keyid="k"$`));
  });
});

describe('headers emitted', () => {
  it('Signature is an RFC 8941 byte sequence of the 64-byte Ed25519 signature, standard base64', () => {
    const r = signRequest(post(), { key, now });
    const match = /^sig=:([A-Za-z0-9+/=]+):$/.exec(r.headers.signature!);
    expect(match).not.toBeNull();
    expect(match![1]!.length).toBe(88);
    const sig = Buffer.from(match![1]!, 'base64');
    expect(sig.length).toBe(64);
    expect(importPublicKey(key.jwk).verify(Buffer.from(r.signatureBase), sig)).toBe(true);
  });

  it('base64url signature option emits unpadded base64url of the same bytes', () => {
    const a = signRequest(get(), { key, now });
    const b = signRequest(get(), { key, now, signatureEncoding: 'base64url' });
    const raw = /^sig=:(.*):$/.exec(b.headers.signature!)![1]!;
    expect(raw).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(Buffer.from(raw, 'base64url')).toEqual(Buffer.from(/^sig=:(.*):$/.exec(a.headers.signature!)![1]!, 'base64'));
  });

  it('Signature-Key defaults to hwk with the signing key, parenthesised', () => {
    const r = signRequest(get(), { key, now });
    expect(r.headers['signature-key']).toBe(`sig=(scheme=hwk kty="OKP" crv="Ed25519" x="${key.jwk.x}")`);
  });

  it('Signature-Key can name jwks_uri, in the dictionary form on request', () => {
    const sk = { scheme: 'jwks_uri' as const, id: 'http://localhost:3001', kid: 'sca-1' };
    expect(signRequest(get(), { key, now, signatureKey: sk }).headers['signature-key']).toBe(
      'sig=(scheme=jwks_uri id="http://localhost:3001" kid="sca-1")',
    );
    expect(signRequest(get(), { key, now, signatureKey: sk, signatureKeyForm: 'dictionary' }).headers['signature-key']).toBe(
      'sig=jwks_uri;id="http://localhost:3001";kid="sca-1"',
    );
  });

  it('a Signature-Key object changed between requests (same object, new kid, id, dwk, token, label or form) is serialized afresh; a bad one still throws', () => {
    const sk: { scheme: 'jwks_uri'; id: string; kid: string; dwk?: string } = { scheme: 'jwks_uri', id: 'http://localhost:3001', kid: 'k1' };
    const value = (options: Partial<Parameters<typeof signRequest>[1]> = {}) => signRequest(get(), { key, now, signatureKey: sk, ...options }).headers['signature-key'];
    expect(value()).toBe('sig=(scheme=jwks_uri id="http://localhost:3001" kid="k1")');
    expect(value()).toBe('sig=(scheme=jwks_uri id="http://localhost:3001" kid="k1")');
    sk.kid = 'k2';
    expect(value()).toBe('sig=(scheme=jwks_uri id="http://localhost:3001" kid="k2")');
    sk.id = 'http://localhost:3009';
    expect(value()).toBe('sig=(scheme=jwks_uri id="http://localhost:3009" kid="k2")');
    sk.dwk = 'aauth-agent.json';
    expect(value()).toBe('sig=(scheme=jwks_uri id="http://localhost:3009" dwk="aauth-agent.json" kid="k2")');
    expect(value({ signatureKeyForm: 'dictionary' })).toBe('sig=jwks_uri;id="http://localhost:3009";dwk="aauth-agent.json";kid="k2"');
    expect(value({ label: 'aauth' })).toBe('aauth=(scheme=jwks_uri id="http://localhost:3009" dwk="aauth-agent.json" kid="k2")');
    sk.kid = '';
    expect(() => value()).toThrow(/non-empty "kid"/);
    const jwt = { scheme: 'jwt' as const, jwt: 'a.b.c' };
    expect(signRequest(get(), { key, now, signatureKey: jwt }).headers['signature-key']).toBe('sig=(scheme=jwt jwt="a.b.c")');
    jwt.jwt = 'd.e.f';
    expect(signRequest(get(), { key, now, signatureKey: jwt }).headers['signature-key']).toBe('sig=(scheme=jwt jwt="d.e.f")');
    jwt.jwt = 'bad\u0001';
    expect(() => signRequest(get(), { key, now, signatureKey: jwt })).toThrow(TypeError);
  });

  it('a ready Signature-Key value is used verbatim, and must carry the signature label', () => {
    const value = 'sig=jwt;jwt="a.b.c"';
    expect(signRequest(get(), { key, now, signatureKey: value }).headers['signature-key']).toBe(value);
    expect(() => signRequest(get(), { key, now, signatureKey: 'other=jwt;jwt="a.b.c"' })).toThrow(/label "sig"/);
    expect(() => signRequest(get(), { key, now, signatureKey: 'sig=(' })).toThrow(/options\.signatureKey/);
  });

  it('signatureKey: false emits no Signature-Key and does not cover it', () => {
    const r = signRequest(get(), { key, now, signatureKey: false });
    expect(r.headers['signature-key']).toBeUndefined();
    expect(r.components).not.toContain('signature-key');
  });

  it('another label is used in all three headers', () => {
    const r = signRequest(get(), { key, now, label: 'aauth' });
    expect(r.headers['signature-input']!.startsWith('aauth=(')).toBe(true);
    expect(r.headers.signature!.startsWith('aauth=:')).toBe(true);
    expect(parseSignatureKey(r.headers['signature-key']!).label).toBe('aauth');
  });

  it('adds a sha-256 Content-Digest for a body (sha-512 on request)', () => {
    expect(signRequest(post(), { key, now }).headers['content-digest']).toBe(createContentDigest(JSON_BODY));
    expect(signRequest(post(), { key, now, digestAlgorithm: 'sha-512' }).headers['content-digest']).toMatch(/^sha-512=:/);
    expect(signRequest(get(), { key, now }).headers['content-digest']).toBeUndefined();
    expect(signRequest({ ...post(), body: '' }, { key, now }).headers['content-digest']).toBeUndefined();
  });

  it('Uint8Array bodies digest their bytes', () => {
    const bytes = new Uint8Array([0, 1, 2, 255]);
    expect(signRequest(post(bytes), { key, now }).headers['content-digest']).toBe(createContentDigest(bytes));
  });

  it('keeps a correct Content-Digest the caller set, and refuses to sign a false one', () => {
    const digest = createContentDigest(JSON_BODY, 'sha-512');
    const ok = signRequest({ ...post(), headers: { 'content-type': 'application/json', 'Content-Digest': digest } }, { key, now });
    expect(ok.headers['content-digest']).toBeUndefined();
    expect(ok.signatureBase).toContain(`"content-digest": ${digest}`);
    expectThrowsCode(
      () => signRequest({ ...post(), headers: { 'content-type': 'application/json', 'content-digest': createContentDigest('other') } }, { key, now }),
      'digest_mismatch',
    );
  });

  it('returns the exact signature base, equal to createSignatureBase over the signed headers', () => {
    const request = post(JSON_BODY, 'https://API.Example:443/orders?x=1');
    const r = signRequest(request, { key, now, nonce: 'n' });
    expect(r.signatureBase).toBe(
      createSignatureBase({ ...request, headers: { ...(request.headers as Record<string, string>), ...r.headers } }, r.components, inputOf(r.headers['signature-input']!)),
    );
    expect(r.signatureBase.split('\n')).toEqual([
      '"@method": POST',
      '"@authority": api.example',
      '"@path": /orders',
      '"@query": ?x=1',
      '"content-type": application/json',
      `"content-digest": ${createContentDigest(JSON_BODY)}`,
      `"signature-key": ${r.headers['signature-key']}`,
      `"@signature-params": ("@method" "@authority" "@path" "@query" "content-type" "content-digest" "signature-key");created=${NOW};nonce="n"`,
    ]);
  });

  it('@authority keeps a non-default port and lower-cases the host', () => {
    expect(signRequest(get('http://LocalHost:3000/x'), { key, now }).signatureBase).toContain('"@authority": localhost:3000\n');
    expect(signRequest(get('http://localhost:80/x'), { key, now }).signatureBase).toContain('"@authority": localhost\n');
  });

  it('a URL text signs the base its WHATWG parse gives, plain (split by hand) or not', () => {
    // Plain texts take the hand split (issue 18); the rest (case, default port, dot segments,
    // percent-encoding, IDNA, IPv6, user info) go through new URL. Either way the base must be the
    // one a URL object of the same text gives.
    const texts = [
      'https://api.example/orders?x=1',
      'http://localhost:3000/a/b:c@d?q=%20&r=s',
      'https://API.Example:443/orders',
      'http://localhost:80/x/../y/./z',
      'https://api.example/p%41th?a=%zz',
      'https://bücher.example/ä?ö=1',
      'http://[::1]:8080/v6',
      'http://127.0.0.1:9/ip',
      'https://user:pw@api.example/x',
      'https://api.example/x#frag',
    ];
    for (const text of texts) {
      const viaText = signRequest(post(JSON_BODY, text), { key, now, nonce: 'n' });
      const viaUrl = signRequest({ ...post(JSON_BODY, text), url: new URL(text) }, { key, now, nonce: 'n' });
      expect([text, viaText.signatureBase]).toEqual([text, viaUrl.signatureBase]);
      expect(viaText.headers.signature).toBe(viaUrl.headers.signature);
    }
  });

  it('the covered components are serialized afresh whenever they change, also when the caller reuses its array', () => {
    const components = ['@method', '@authority', '@path'];
    const first = signRequest(get(), { key, now, components });
    components.push('@query');
    components[2] = '@target-uri';
    const second = signRequest(get('https://api.example/items?a=1'), { key, now, components });
    expect(inputOf(first.headers['signature-input']!)).toBe(`("@method" "@authority" "@path");created=${NOW}`);
    expect(inputOf(second.headers['signature-input']!)).toBe(`("@method" "@authority" "@target-uri" "@query");created=${NOW}`);
    expect(signRequest(get(), { key, now }).headers['signature-input']).toBe(`sig=("@method" "@authority" "@path" "signature-key");created=${NOW}`);
  });

  it('a SigningKey of another implementation gets bytes of its own, which later signatures do not touch', () => {
    const kept: Uint8Array[] = [];
    const foreign = {
      ...key,
      jwk: key.jwk,
      thumbprint: key.thumbprint,
      algorithm: key.algorithm,
      kid: key.kid,
      jwsAlgorithm: key.jwsAlgorithm,
      backend: key.backend,
      privateKeyObject: key.privateKeyObject,
      verify: (d: Uint8Array, s: Uint8Array) => key.verify(d, s),
      // A plain Uint8Array signature (not a Buffer) is encoded the same.
      sign: (data: Uint8Array) => {
        kept.push(data);
        return new Uint8Array(key.sign(data));
      },
      toPrivateJwk: () => key.toPrivateJwk(),
      toPem: () => key.toPem(),
      toPublishedJwk: () => key.toPublishedJwk(),
    };
    const a = signRequest(post(), { key: foreign, now, nonce: 'first' });
    const b = signRequest(post(), { key: foreign, now, nonce: 'second' });
    expect(kept.map((d) => Buffer.from(d).toString('utf8'))).toEqual([a.signatureBase, b.signatureBase]);
    expect(a.headers.signature).toBe(signRequest(post(), { key, now, nonce: 'first' }).headers.signature);
  });

  it('accepts fetch Headers and header pair lists', () => {
    const viaHeaders = signRequest({ ...post(), headers: new Headers({ 'Content-Type': 'application/json' }) }, { key, now, nonce: 'n' });
    const viaPairs = signRequest({ ...post(), headers: [['Content-Type', 'application/json']] }, { key, now, nonce: 'n' });
    expect(viaHeaders.headers.signature).toBe(viaPairs.headers.signature);
    expect(viaHeaders.components).toContain('content-type');
  });

  it('P-256 keys sign requests that verify', async () => {
    const ecKey = generateKey({ alg: 'ES256' });
    const request = post();
    const r = signRequest(request, { key: ecKey, now });
    expect(r.headers['signature-key']).toContain('kty="EC"');
    const verified = await verifyRequest(
      { ...request, headers: { ...(request.headers as Record<string, string>), ...r.headers } },
      { now, resolveKey: (sk) => importPublicKey(sk.scheme === 'hwk' ? sk.jwk : undefined) },
    );
    expect(verified.key.thumbprint).toBe(ecKey.thumbprint);
  });
});

describe('misuse', () => {
  it('throws TypeErrors naming the option', () => {
    expect(() => signRequest(get(), { key, label: 'Sig' })).toThrow(/options\.label/);
    expect(() => signRequest(get(), { key, label: '' })).toThrow(TypeError);
    expect(() => signRequest(get(), { key: {} as never })).toThrow(/options\.key/);
    expect(() => signRequest(get(), { key, signatureEncoding: 'hex' as never })).toThrow(/options\.signatureEncoding/);
    expect(() => signRequest(get(), { key, signatureKey: { scheme: 'jwks_uri', id: 'https://ä', kid: 'k' } })).toThrow(TypeError);
  });

  it('a relative URL is invalid_request (400)', () => {
    expectThrowsCode(() => signRequest({ ...get(), url: '/relative' }, { key, now }), 'invalid_request', 400);
  });

  it('covering a header the request lacks is signature_component_missing', () => {
    expectThrowsCode(() => signRequest(get(), { key, now, additionalComponents: ['x-missing'] }), 'signature_component_missing');
  });
});
