import { decodeToken, generateKey } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';
import { createAgent, createAgentProvider } from '../src/index.js';

// createAgent's -11 options (profile sections 2 and 6): validated at start-up, the generation
// chosen from what is configured, agent tokens renewed before they expire.

const key = generateKey({ kid: 'agent-1' });
const provider = createAgentProvider({ issuer: 'https://agents.example', key: generateKey({ kid: 'ap-1' }) });

describe('createAgent with draft11', () => {
  it('refuses misuse at start-up, naming the option', () => {
    expect(() => createAgent({ key, draft11: {} })).toThrow('options.draft11 needs exactly one of agentToken');
    expect(() => createAgent({ key, draft11: { provider, agentToken: 'x' } })).toThrow('exactly one of');
    expect(() => createAgent({ key, draft11: { provider, ps: 'https://ps.example/' } })).toThrow('options.draft11.ps');
    expect(() => createAgent({ key, draft11: { provider, ps: 'http://127.0.0.1:9000' } })).toThrow('options.draft11.ps must use https');
    expect(() => createAgent({ key, draft11: { provider, ps: 'http://127.0.0.1:9000', allowLoopback: true } })).not.toThrow();
    expect(() => createAgent({ key, draft11: { provider, local: 'has space' } })).toThrow('options.draft11.local');
    expect(() => createAgent({ key, draft11: { provider, bogus: 1 } as never })).toThrow('options.draft11.bogus is not an option');
    expect(() => createAgent({ key, generation: 'draft-11' })).toThrow('options.generation "draft-11" needs options.draft11');
    // An external agent token must be an agent token bound to this key.
    const other = createAgent({ key: generateKey(), draft11: { provider } });
    return other.agentToken().then((foreign) => {
      expect(() => createAgent({ key, draft11: { agentToken: foreign } })).toThrow('options.draft11.agentToken is not usable');
      expect(() => createAgent({ key, draft11: { agentToken: 'not.a.jwt' } })).toThrow('not usable');
    });
  });

  it('chooses the generation: -11 alone, Keycloak alone, auto with both (Keycloak until a resource shows -11)', () => {
    expect(createAgent({ key, draft11: { provider } }).generationFor('https://r.example')).toBe('draft-11');
    expect(createAgent({ key }).generationFor('https://r.example')).toBe('keycloak');
    const both = createAgent({ key, identity: 'https://agent.example', draft11: { provider } });
    expect(both.generationFor('https://r.example')).toBe('keycloak');
    const forced = createAgent({ key, identity: 'https://agent.example', draft11: { provider }, generation: 'draft-11' });
    expect(forced.generationFor('https://r.example')).toBe('draft-11');
  });

  it('mints its agent token as its own provider and renews it before it expires', async () => {
    let now = 1_800_000_000;
    const clock = (): number => now;
    const own = createAgentProvider({ issuer: 'https://agents.example', key: generateKey({ kid: 'ap-2' }), now: clock });
    const agent = createAgent({ key, now: clock, draft11: { provider: own, local: 'Planner', ps: 'https://ps.example', agentTokenLifetime: 600 } });
    const first = await agent.agentToken();
    expect(decodeToken(first).claims).toMatchObject({ sub: 'aauth:Planner@agents.example', ps: 'https://ps.example', iat: now, exp: now + 600 });
    now += 400; // more than a quarter of the lifetime left: kept
    expect(await agent.agentToken()).toBe(first);
    now += 100; // 100 s left, inside the renewal margin (a quarter of 600 s)
    const second = await agent.agentToken();
    expect(second).not.toBe(first);
    expect(decodeToken(second).claims.iat).toBe(now);
  });

  it('calls an external agent token source again when its token nears expiry', async () => {
    let now = 1_800_000_000;
    let calls = 0;
    const external = createAgentProvider({ issuer: 'https://ap.example', key: generateKey({ kid: 'ext' }), now: () => now });
    const agent = createAgent({
      key,
      now: () => now,
      draft11: {
        agentToken: async () => {
          calls++;
          return external.mintAgentToken({ local: 'ext', agentKey: key, lifetime: 3600 });
        },
      },
    });
    await agent.agentToken();
    await agent.agentToken();
    expect(calls).toBe(1);
    now += 3400;
    await agent.agentToken();
    expect(calls).toBe(2);
  });

  it('serves the provider documents from agent.wellKnown() when it has no Keycloak identity', () => {
    const agent = createAgent({ key, draft11: { provider } });
    const handler = agent.wellKnown();
    expect(typeof handler).toBe('function');
    expect(provider.document).toEqual({ issuer: 'https://agents.example', jwks_uri: 'https://agents.example/.well-known/jwks.json' });
  });

  it('the provider refuses a lifetime over 24 h and identifiers it cannot issue', () => {
    expect(() => provider.mintAgentToken({ local: 'a', agentKey: key, lifetime: 86_401 })).toThrow('at most 86400');
    expect(() => provider.mintAgentToken({ local: '', agentKey: key })).toThrow('not a valid local part');
    expect(() => provider.mintAgentToken({ local: 'a', agentKey: key, ps: 'https://PS.example' })).toThrow('ps must be lower case');
    expect(() => createAgentProvider({ issuer: 'https://agents.example:8443', key })).toThrow('must not have a port');
    const { header, claims } = decodeToken(provider.mintAgentToken({ local: 'a+sub1', agentKey: key, parentAgent: 'aauth:a@agents.example' }));
    expect(header.alg).toBe('Ed25519');
    expect(claims.parent_agent).toBe('aauth:a@agents.example');
    expect(claims.cnf).toEqual({ jwk: { kty: 'OKP', crv: 'Ed25519', x: key.jwk.x, alg: 'Ed25519' } });
  });

  it('buildSignedRequest signs in the dictionary form where the agent speaks -11, the parenthesised form for the Keycloak profile', async () => {
    const request = { method: 'GET', url: 'https://r.example/x' };
    const identity = 'https://agent.example';
    // A -11-only agent: sig=jwt;jwt="..." (-09), which -11 peers read; the parenthesised form they refuse (unsupported_scheme).
    const only11 = createAgent({ key, draft11: { provider } });
    const token = await only11.agentToken();
    expect(only11.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
    expect(only11.buildSignedRequest(request, { scheme: 'hwk' }).headers['signature-key']).toBe(`sig=hwk;kty="OKP";crv="Ed25519";x="${key.jwk.x}";alg="Ed25519"`);
    // A Keycloak-profile agent keeps the parenthesised default.
    const kc = createAgent({ key, identity });
    expect(kc.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=(scheme=jwt jwt="${token}")`);
    // An agent speaking both: per URL, by the generation it speaks there (the Keycloak profile until a resource shows -11).
    const both = createAgent({ key, identity, draft11: { provider } });
    expect(both.generationFor(request.url)).toBe('keycloak');
    expect(both.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=(scheme=jwt jwt="${token}")`);
    const forced = createAgent({ key, identity, draft11: { provider }, generation: 'draft-11' });
    expect(forced.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
    expect(forced.buildSignedRequest(request).headers['signature-key']).toBe(`sig=jwks_uri;id="${identity}";dwk="aauth-agent.json";kid="agent-1"`);
    // A configured form always wins.
    const configured = createAgent({ key, draft11: { provider }, signatureKeyForm: 'parenthesised' });
    expect(configured.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=(scheme=jwt jwt="${token}")`);
    const dictionaryKc = createAgent({ key, identity, draft11: { provider }, signatureKeyForm: 'dictionary' });
    expect(dictionaryKc.buildSignedRequest(request, { authToken: token }).headers['signature-key']).toBe(`sig=jwt;jwt="${token}"`);
  });

  it('the dictionary Signature-Key form (HTTP Signature Keys -08/-09): hwk with alg, jwks_uri with dwk, metadata with issuer and keys with alg', () => {
    const identity = 'https://agent.example';
    const dict = createAgent({ key, identity, signatureKeyForm: 'dictionary' });
    const request = { method: 'GET', url: 'https://r.example/x' };
    expect(dict.buildSignedRequest(request, { scheme: 'hwk' }).headers['signature-key']).toBe(`sig=hwk;kty="OKP";crv="Ed25519";x="${key.jwk.x}";alg="Ed25519"`);
    expect(dict.buildSignedRequest(request).headers['signature-key']).toBe(`sig=jwks_uri;id="${identity}";dwk="aauth-agent.json";kid="agent-1"`);
    const docs = dict.wellKnown().documents;
    expect(docs['/.well-known/aauth-agent.json']).toEqual({ issuer: identity, agent: identity, jwks_uri: `${identity}/jwks.json` });
    expect(docs['/jwks.json']).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.jwk.x, kid: 'agent-1', alg: 'Ed25519' }] });
    // The Keycloak profile's parenthesised form is unchanged: no alg, no dwk, no issuer.
    const kc = createAgent({ key, identity });
    expect(kc.buildSignedRequest(request, { scheme: 'hwk' }).headers['signature-key']).toBe(`sig=(scheme=hwk kty="OKP" crv="Ed25519" x="${key.jwk.x}")`);
    expect(kc.wellKnown().documents['/.well-known/aauth-agent.json']).toEqual({ agent: identity, jwks_uri: `${identity}/jwks.json` });
    expect(kc.wellKnown().documents['/jwks.json']).toEqual({ keys: [{ kty: 'OKP', crv: 'Ed25519', x: key.jwk.x, kid: 'agent-1' }] });
  });
});
