import { describe, expect, it } from 'vitest';
import { ACCESS_MODES, checkMetadataDocument, metadataUrl } from '@aauth-kit/core';
import { expectCode, thrown } from './support.js';

const AGENT = { issuer: 'https://agent.example', jwks_uri: 'https://agent.example/.well-known/jwks.json' };
const PERSON = {
  issuer: 'https://ps.example',
  jwks_uri: 'https://ps.example/jwks.json',
  auth_token_endpoint: 'https://ps.example/token',
  person_token_endpoint: 'https://ps.example/person',
};
const check = (doc: unknown, dwk: string, id = 'https://agent.example', extra = {}) => checkMetadataDocument(doc, { url: metadataUrl(id, dwk), dwk, ...extra });

describe('checkMetadataDocument (draft-11 profile section 2, -09 sections 5.4.9-5.4.10)', () => {
  it('accepts the four documents with their required members, and returns them', () => {
    expect(check(AGENT, 'aauth-agent.json')).toBe(AGENT);
    expect(check(PERSON, 'aauth-person.json', 'https://ps.example')).toBe(PERSON);
    expect(check({ issuer: 'https://as.example', jwks_uri: 'https://as.example/j', auth_token_endpoint: 'https://as.example/t' }, 'aauth-access.json', 'https://as.example')).toBeDefined();
    const resource = {
      issuer: 'https://resource.example',
      access_mode: 'auth-token',
      scope_descriptions: { 'data.read': 'Read' },
      signature_window: 30,
      additional_signature_components: ['content-type'],
    };
    expect(check(resource, 'aauth-resource.json', 'https://resource.example')).toBe(resource);
    expect(ACCESS_MODES).toEqual(['agent-token', 'person-token', 'session-token', 'auth-token']);
  });

  it('no issuer is issuer_missing; another issuer, even by a slash or case, is issuer_mismatch', () => {
    for (const doc of [{ jwks_uri: AGENT.jwks_uri }, { ...AGENT, issuer: '' }, { ...AGENT, issuer: null }]) {
      expectCode(thrown(() => check(doc, 'aauth-agent.json')), 'issuer_missing');
    }
    for (const issuer of ['https://agent.example/', 'https://Agent.example', 'https://evil.example', 42]) {
      expectCode(thrown(() => check({ ...AGENT, issuer }, 'aauth-agent.json')), 'issuer_mismatch');
    }
  });

  it('required members per kind and member types are metadata_invalid', () => {
    expectCode(thrown(() => check({ issuer: AGENT.issuer }, 'aauth-agent.json')), 'metadata_invalid');
    const { person_token_endpoint: _drop, ...noPersonEndpoint } = PERSON;
    expectCode(thrown(() => check(noPersonEndpoint, 'aauth-person.json', 'https://ps.example')), 'metadata_invalid');
    expectCode(thrown(() => check({ issuer: 'https://r.example' }, 'aauth-resource.json', 'https://r.example', { requireJwksUri: true })), 'metadata_invalid');
    const bad: Array<Record<string, unknown>> = [
      { jwks_uri: 'http://agent.example/j' },
      { logo_uri: 'ftp://agent.example/l' },
      { callback_endpoint: 'https://agent.example/cb?x=1' },
      { accept_signature_algs: 'Ed25519' },
      { name: 5 },
      { signature_window: 0 },
      { scope_descriptions: { a: 1 } },
      { access_mode: ['agent-token'] },
    ];
    for (const extra of bad) expectCode(thrown(() => check({ ...AGENT, ...extra }, 'aauth-agent.json')), 'metadata_invalid');
    expectCode(thrown(() => check([], 'aauth-agent.json')), 'metadata_invalid');
  });

  it('loopback identities and http on loopback only with allowLoopback', () => {
    const id = 'http://127.0.0.1:4000';
    const doc = { issuer: id, jwks_uri: `${id}/jwks.json` };
    expectCode(thrown(() => check(doc, 'aauth-agent.json', id)), 'metadata_invalid');
    expect(check(doc, 'aauth-agent.json', id, { allowLoopback: true })).toBe(doc);
  });

  it('misuse is a TypeError', () => {
    expect(() => checkMetadataDocument(AGENT, { url: 'https://agent.example/x', dwk: 'aauth-agent.json' })).toThrow(TypeError);
    expect(() => metadataUrl('https://a.example', '../x')).toThrow(TypeError);
    expect(() => metadataUrl('https://a.example/', 'aauth-agent.json')).toThrow(TypeError);
    expect(metadataUrl('https://a.example', 'aauth-agent.json')).toBe('https://a.example/.well-known/aauth-agent.json');
  });
});

describe('property: any JSON document is accepted or refused with one of the three metadata codes', () => {
  it('never anything else', async () => {
    const fc = (await import('fast-check')).default;
    const { AAuthError } = await import('@aauth-kit/core');
    const doc = fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom('issuer', 'jwks_uri', 'name', 'signature_window', 'scope_descriptions', 'accept_signature_algs', 'auth_token_endpoint'), fc.jsonValue()));
    fc.assert(
      fc.property(doc, fc.constantFrom('aauth-agent.json', 'aauth-person.json', 'aauth-resource.json', 'aauth-access.json'), (d, dwk) => {
        try {
          checkMetadataDocument(d, { url: metadataUrl('https://agent.example', dwk), dwk });
        } catch (error) {
          if (!(error instanceof AAuthError) || !['issuer_missing', 'issuer_mismatch', 'metadata_invalid'].includes(error.code)) throw error;
        }
      }),
      { numRuns: 400, seed: 20261130 },
    );
  });
});
