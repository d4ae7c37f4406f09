import { generateKey, parseSignatureKey, verifyRequest } from '@aauth-kit/core';
import { parseSignedRequest, verifySignedRequest } from '@aauth-kit/core/internal';
import { describe, expect, it } from 'vitest';
import { buildSignedRequest, createAgent } from '../src/index.js';

const key = generateKey({ kid: 'sca-1' });
const identity = 'http://supply-chain-agent.localhost:3000';
const now = () => 1_774_975_920;

describe('buildSignedRequest (pure, wire profile sections 3 and 4)', () => {
  it('signs with jwks_uri by default when the agent has an identity, in the exact parenthesised form', () => {
    const { headers, scheme, components } = buildSignedRequest(
      { method: 'get', url: 'http://localhost:3001/data?x=1', headers: { Accept: 'application/json' } },
      { key, identity, now },
    );
    expect(scheme).toBe('jwks_uri');
    expect(headers['signature-key']).toBe(`sig=(scheme=jwks_uri id="${identity}" kid="sca-1")`);
    expect(components).toEqual(['@method', '@authority', '@path', '@query', 'signature-key']);
    expect(headers['signature-input']).toMatch(/^sig=\("@method" "@authority" "@path" "@query" "signature-key"\);created=1774975920;nonce="[A-Za-z0-9_-]{22}"$/);
    expect(headers['signature']).toMatch(/^sig=:[A-Za-z0-9+/]+=*:$/);
    expect(headers.accept).toBe('application/json');
    const signed = parseSignedRequest({ method: 'GET', url: 'http://localhost:3001/data?x=1', headers }, { now });
    expect(() => verifySignedRequest(signed, key)).not.toThrow();
  });

  it('signs with hwk when the agent is pseudonymous', () => {
    const { headers, scheme } = buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, now });
    expect(scheme).toBe('hwk');
    expect(headers['signature-key']).toBe(`sig=(scheme=hwk kty="OKP" crv="Ed25519" x="${key.jwk.x}")`);
  });

  it('presents an auth token with the jwt scheme', () => {
    const jwt = 'eyJhbGciOiJFZERTQSJ9.eyJpc3MiOiJ4In0.c2ln';
    const { headers, scheme } = buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, identity, now, authToken: jwt });
    expect(scheme).toBe('jwt');
    expect(headers['signature-key']).toBe(`sig=(scheme=jwt jwt="${jwt}")`);
  });

  it('covers content-type and content-digest for a body, and the digest is of the exact bytes', async () => {
    const body = '{"hello": "world"}'; // RFC 9530 section 2 example
    const { headers, components } = buildSignedRequest(
      { method: 'POST', url: 'http://localhost:3001/orders', headers: { 'content-type': 'application/json' }, body },
      { key, identity, now },
    );
    expect(components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);
    expect(headers['content-digest']).toBe('sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:');
    const verified = await verifyRequest({ method: 'POST', url: 'http://localhost:3001/orders', headers, body }, { key, now });
    expect(verified.components).toContain('content-digest');
    // A changed body no longer matches the signed digest.
    await expect(verifyRequest({ method: 'POST', url: 'http://localhost:3001/orders', headers, body: '{"a":2}' }, { key, now })).rejects.toMatchObject({ code: 'digest_mismatch' });
  });

  it('replaces signature headers a previous attempt left behind (any case)', () => {
    const { headers } = buildSignedRequest(
      {
        method: 'POST',
        url: 'http://localhost:3001/x',
        headers: { Signature: 'sig=:AAAA:', 'Signature-Input': 'sig=();created=1', 'Signature-Key': 'sig=(scheme=hwk)', 'Content-Digest': 'sha-256=:stale:', 'content-type': 'text/plain' },
        body: 'hello',
      },
      { key, identity, now },
    );
    expect(headers['content-digest']).toBe('sha-256=:LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=:');
    expect(headers.signature).not.toBe('sig=:AAAA:');
    expect(Object.keys(headers).filter((h) => h.toLowerCase() === 'signature')).toHaveLength(1);
    expect(parseSignatureKey(headers['signature-key']).key.scheme).toBe('jwks_uri');
  });

  it('adds a fresh nonce to every request by default, so identical GETs differ', () => {
    const a = buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, identity, now });
    const b = buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, identity, now });
    expect(a.headers.signature).not.toBe(b.headers.signature);
    const c = buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, identity, now, nonce: 'non-idempotent' });
    expect(c.headers['signature-input']).not.toContain('nonce');
    const d = buildSignedRequest({ method: 'POST', url: 'http://localhost:3001/', body: 'x' }, { key, identity, now, nonce: 'non-idempotent' });
    expect(d.headers['signature-input']).toContain('nonce=');
  });

  it('emits base64url signatures and the dictionary Signature-Key form on request', () => {
    const { headers } = buildSignedRequest(
      { method: 'GET', url: 'http://localhost:3001/' },
      { key, identity, now, signatureEncoding: 'base64url', signatureKeyForm: 'dictionary' },
    );
    expect(headers.signature).toMatch(/^sig=:[A-Za-z0-9_-]+:$/);
    // HTTP Signature Keys -08/-09: the dictionary form names the well-known document (dwk).
    expect(headers['signature-key']).toBe(`sig=jwks_uri;id="${identity}";dwk="aauth-agent.json";kid="sca-1"`);
    const signed = parseSignedRequest({ method: 'GET', url: 'http://localhost:3001/', headers }, { now });
    expect(() => verifySignedRequest(signed, key)).not.toThrow();
  });

  it('refuses jwks_uri without an identity and jwt without a token (TypeError)', () => {
    expect(() => buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, scheme: 'jwks_uri' })).toThrow(TypeError);
    expect(() => buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/' }, { key, identity, scheme: 'jwt' })).toThrow(/authToken/);
  });

  it('is what agent.buildSignedRequest does, with the agent configuration and no network', () => {
    let calls = 0;
    const agent = createAgent({
      identity,
      key,
      now,
      fetch: (async () => {
        calls++;
        return new Response(null);
      }) as typeof fetch,
    });
    const { headers } = agent.buildSignedRequest({ method: 'DELETE', url: 'http://localhost:3001/item/1' });
    expect(headers['signature-key']).toBe(`sig=(scheme=jwks_uri id="${identity}" kid="sca-1")`);
    expect(headers['signature-input']).toContain(';created=1774975920');
    expect(calls).toBe(0);
  });
});
