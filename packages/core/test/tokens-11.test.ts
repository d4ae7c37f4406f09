import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  AGENT_TOKEN_11,
  AUTH_TOKEN_11,
  PERSON_TOKEN,
  RESOURCE_TOKEN_11,
  TOKEN_TYP_11,
  checkTokenClaims,
  checkTokenHeader,
  classifyToken,
  computeThumbprint,
  decodeToken,
  generateKey,
  mintAgentToken,
  mintAuthToken11,
  mintPersonToken,
  mintResourceToken11,
  signJwt,
  tokenKind,
  tokenProfile,
  verifyToken,
  type AAuthErrorCode,
  type Generation,
  type TokenKind,
} from '@aauth-kit/core';
import { expectRejectsCode, expectThrowsCode } from './support.js';

const NOW = 1_790_000_000;
const now = () => NOW;
const AP = 'https://agent.example';
const PS = 'https://ps.example';
const RES = 'https://resource.example';
const AGENT_ID = 'aauth:assistant@agent.example';
const issuerKey = generateKey({ kid: 'iss-1' });
const agentKey = generateKey();
const ecAgentKey = generateKey({ alg: 'ES256' });
// -11: every published key carries its alg (draft-11 profile section 2).
const getKey = () => ({ ...issuerKey.toPublishedJwk(), alg: 'Ed25519' });

const mintAll = async () => ({
  agent: await mintAgentToken(issuerKey, { issuer: AP, sub: AGENT_ID, agentKey, ps: PS, now }),
  person: await mintPersonToken(issuerKey, { issuer: PS, audience: RES, sub: 'pairwise-1', agentKey, now }),
  resource: await mintResourceToken11(issuerKey, { issuer: RES, audience: PS, ps: PS, sub: 'pairwise-1', presentedJti: 'pt-1', agentJkt: agentKey, scope: 'data.read', now }),
  auth: await mintAuthToken11(issuerKey, { issuer: PS, audience: RES, sub: 'pairwise-1', agentKey, scope: 'data.read', now }),
});

describe('minting the four -11 tokens (draft-11 profile section 6)', () => {
  it('each has its typ, dwk, Ed25519 alg, kid and required claims; cnf.jwk carries alg', async () => {
    const t = await mintAll();
    const agent = decodeToken(t.agent);
    expect(agent.header).toEqual({ typ: 'aa-agent+jwt', alg: 'Ed25519', kid: 'iss-1' });
    expect(agent.claims).toMatchObject({ iss: AP, dwk: 'aauth-agent.json', sub: AGENT_ID, ps: PS, iat: NOW, exp: NOW + 3600 });
    expect(agent.claims.cnf).toEqual({ jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x, alg: 'Ed25519' } });
    const person = decodeToken(t.person);
    expect(person.header.typ).toBe('aa-person+jwt');
    expect(person.claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RES, sub: 'pairwise-1', exp: NOW + 3600 });
    expect(person.claims.scope).toBeUndefined();
    const resource = decodeToken(t.resource);
    expect(resource.header.typ).toBe('aa-resource+jwt');
    expect(Object.keys(resource.claims).sort()).toEqual(['agent_jkt', 'aud', 'dwk', 'exp', 'iat', 'iss', 'jti', 'presented_jti', 'ps', 'scope', 'sub']);
    expect(resource.claims).toMatchObject({ dwk: 'aauth-resource.json', aud: PS, agent_jkt: agentKey.thumbprint, presented_jti: 'pt-1', exp: NOW + 300 });
    const auth = decodeToken(t.auth);
    expect(auth.header.typ).toBe('aa-auth+jwt');
    expect(auth.claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RES, ps: PS, sub: 'pairwise-1', scope: 'data.read' });
    expect(auth.claims.agent).toBeUndefined();
    expect(auth.claims.act).toBeUndefined();
  });

  it('an ES256 issuer signs ES256; a P-256 agent key is bound with alg ES256', async () => {
    const ecIssuer = generateKey({ alg: 'ES256', kid: 'ec' });
    const jwt = await mintAgentToken(ecIssuer, { issuer: AP, sub: AGENT_ID, agentKey: ecAgentKey, now });
    expect(decodeToken(jwt).header.alg).toBe('ES256');
    expect((decodeToken(jwt).claims.cnf as { jwk: { alg: string } }).jwk.alg).toBe('ES256');
    await expect(verifyToken(jwt, { kind: 'agent', generation: 'draft-11', getKey: () => ({ ...ecIssuer.toPublishedJwk(), alg: 'ES256' }), now })).resolves.toBeDefined();
  });

  it('refuses to mint what its own profile refuses (TypeError)', async () => {
    await expect(mintAgentToken(issuerKey, { issuer: AP, sub: 'aauth:Agent@agent.example', agentKey, now })).rejects.toThrow(/options\.sub/);
    await expect(mintAgentToken(issuerKey, { issuer: 'https://agent.example/', sub: AGENT_ID, agentKey, now })).rejects.toThrow(/options\.issuer/);
    await expect(mintAgentToken(issuerKey, { issuer: AP, sub: AGENT_ID, agentKey, lifetime: 86401, now })).rejects.toThrow(/options\.lifetime/);
    await expect(mintAgentToken(issuerKey, { issuer: AP, sub: AGENT_ID, agentKey, ps: 'http://ps.example', now })).rejects.toThrow(/ps must use https/);
    await expect(mintPersonToken(issuerKey, { issuer: PS, audience: RES, sub: 's', agentKey, lifetime: 3601, now })).rejects.toThrow(/lifetime/);
    await expect(mintResourceToken11(issuerKey, { issuer: RES, audience: PS, ps: PS, sub: 's', presentedJti: 'p', agentJkt: 'k', scope: ' ', now })).rejects.toThrow(/scope/);
    await expect(mintAuthToken11(issuerKey, { issuer: 'https://as.example', dwk: 'aauth-access.json', audience: RES, sub: 's', agentKey, now })).rejects.toThrow(/options\.ps/);
    await expect(mintAuthToken11(issuerKey, { issuer: PS, audience: RES, sub: 's', agentKey: { kty: 'RSA' } as never, now })).rejects.toThrow(TypeError);
  });

  it('loopback issuers only with allowLoopback', async () => {
    const dev = 'http://127.0.0.1:4100';
    await expect(mintAgentToken(issuerKey, { issuer: dev, sub: 'aauth:a@127.0.0.1:4100', agentKey, now })).rejects.toThrow(TypeError);
    const jwt = await mintAgentToken(issuerKey, { issuer: dev, sub: 'aauth:a@127.0.0.1:4100', agentKey, now, allowLoopback: true });
    await expectRejectsCode(verifyToken(jwt, { kind: 'agent', generation: 'draft-11', getKey, now }), 'token_claim_invalid');
    await expect(verifyToken(jwt, { kind: 'agent', generation: 'draft-11', getKey, now, allowLoopback: true })).resolves.toBeDefined();
  });
});

describe('verifying -11 tokens: each kind under its own profile only', () => {
  it('each verifies as its own kind in draft-11', async () => {
    const t = await mintAll();
    for (const kind of ['agent', 'person', 'resource', 'auth'] as const) {
      const { claims } = await verifyToken(t[kind], { kind, generation: 'draft-11', getKey, now });
      expect(claims.dwk, kind).toBeDefined();
    }
    await expect(verifyToken(t.resource, { kind: 'resource', generation: 'draft-11', getKey, now, audience: PS })).resolves.toBeDefined();
    await expect(verifyToken(t.auth, { kind: 'auth', generation: 'draft-11', getKey, now, audience: RES, issuers: [PS] })).resolves.toBeDefined();
  });

  it('typ confusion between the four kinds and across generations is token_typ_invalid (hostile-input table)', async () => {
    const t = await mintAll();
    const kinds = ['agent', 'person', 'resource', 'auth'] as const;
    for (const presented of kinds) {
      for (const expected of kinds) {
        if (presented === expected) continue;
        await expectRejectsCode(verifyToken(t[presented], { kind: expected, generation: 'draft-11', getKey, now }), 'token_typ_invalid');
      }
      // A -11 token is never a Keycloak-profile token of any kind.
      for (const expected of ['agent', 'resource', 'auth'] as const) {
        await expectRejectsCode(verifyToken(t[presented], { kind: expected, generation: 'keycloak', getKey, now }), 'token_typ_invalid');
      }
    }
    // A person token presented as an auth token: only typ tells them apart (AAuth -11 "Person Token Verification").
    const e = await expectRejectsCode(verifyToken(t.person, { kind: 'auth', generation: 'draft-11', getKey, now }), 'token_typ_invalid');
    expect(e.message).toBe('Auth token: typ "aa-person+jwt" is not aa-auth+jwt');
    expect(() => tokenProfile('person', 'keycloak')).toThrow(TypeError);
  });

  it('EdDSA, none and HS256 are refused as the JWS alg in -11 (token_alg_not_allowed)', async () => {
    const claims = decodeToken((await mintAll()).agent).claims;
    const eddsa = await signJwt(issuerKey, { typ: 'aa-agent+jwt' }, claims);
    expect(decodeToken(eddsa).header.alg).toBe('EdDSA');
    const e = await expectRejectsCode(verifyToken(eddsa, { kind: 'agent', generation: 'draft-11', getKey, now }), 'token_alg_not_allowed');
    expect(e.toProblemJSON().error).toBe('invalid_jwt');
    for (const alg of ['none', 'HS256']) {
      const header = Buffer.from(JSON.stringify({ alg, typ: 'aa-agent+jwt', kid: 'iss-1' })).toString('base64url');
      const payload = Buffer.from(JSON.stringify(claims)).toString('base64url');
      await expectRejectsCode(verifyToken(`${header}.${payload}.c2ln`, { kind: 'agent', generation: 'draft-11', getKey, now }), 'token_alg_not_allowed');
    }
  });

  it('the issuer key must carry a matching alg in -11 (a KeyObject carries none to check)', async () => {
    const { agent } = await mintAll();
    const opts = { kind: 'agent' as const, generation: 'draft-11' as const, now };
    await expectRejectsCode(verifyToken(agent, { ...opts, getKey: () => issuerKey.toPublishedJwk() }), 'key_alg_missing');
    await expectRejectsCode(verifyToken(agent, { ...opts, getKey: () => ({ ...issuerKey.toPublishedJwk(), alg: 'EdDSA' }) }), 'unsupported_algorithm');
    await expectRejectsCode(verifyToken(agent, { ...opts, getKey: () => ({ ...issuerKey.toPublishedJwk(), alg: 'ES256' }) }), 'key_alg_mismatch');
    await expect(verifyToken(agent, { ...opts, getKey: () => issuerKey.privateKeyObject })).resolves.toBeDefined();
  });

  it("an agent token's sub must be an agent of its issuer (domain = the host of iss): no provider speaks for another's agents", async () => {
    const claims = decodeToken((await mintAll()).agent).claims;
    const forged = await new SignJWT({ ...claims, iss: 'https://evil.example' }).setProtectedHeader({ alg: 'Ed25519', typ: 'aa-agent+jwt', kid: 'iss-1' }).sign(issuerKey.privateKeyObject);
    const e = await expectRejectsCode(verifyToken(forged, { kind: 'agent', generation: 'draft-11', getKey, now }), 'token_claim_invalid');
    expect(e.message).toBe('Agent token: sub "aauth:assistant@agent.example" is not an agent of its issuer: its domain must be "evil.example", the host of iss');
    expect(e.toProblemJSON().error).toBe('invalid_jwt');
    // A provider on a loopback port is its own domain, port included.
    const dev = 'http://127.0.0.1:4100';
    await expect(mintAgentToken(issuerKey, { issuer: dev, sub: 'aauth:a@127.0.0.1:4101', agentKey, now, allowLoopback: true })).rejects.toThrow(/not an agent of its issuer/);
    const jwt = await mintAgentToken(issuerKey, { issuer: dev, sub: 'aauth:a@127.0.0.1:4100', agentKey, now, allowLoopback: true });
    await expect(verifyToken(jwt, { kind: 'agent', generation: 'draft-11', getKey, now, allowLoopback: true })).resolves.toBeDefined();
    await expect(mintAgentToken(issuerKey, { issuer: AP, sub: 'aauth:assistant@other.example', agentKey, now })).rejects.toThrow(TypeError);
  });

  it('a header without kid is token_malformed in -11', async () => {
    const claims = decodeToken((await mintAll()).agent).claims;
    const jwt = await new SignJWT(claims).setProtectedHeader({ alg: 'Ed25519', typ: 'aa-agent+jwt' }).sign(issuerKey.privateKeyObject);
    await expectRejectsCode(verifyToken(jwt, { kind: 'agent', generation: 'draft-11', getKey, now }), 'token_malformed');
  });

  it('the Keycloak profile still accepts its own tokens with EdDSA (unchanged)', async () => {
    const jwt = await signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: PS, aud: RES, exp: NOW + 60, cnf: { jwk: agentKey.toPublishedJwk() } });
    await expect(verifyToken(jwt, { kind: 'auth', getKey: () => issuerKey.toPublishedJwk(), now })).resolves.toBeDefined();
  });
});

/** The claim tables, as data: base claims of each kind, a change, and the code it must give. */
type Row = [name: string, change: Record<string, unknown>, code: AAuthErrorCode | 'ok'];
const cnf = { jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x, alg: 'Ed25519' } };
const BASE = {
  agent: { iss: AP, dwk: 'aauth-agent.json', sub: AGENT_ID, jti: 'a1', cnf, iat: NOW, exp: NOW + 3600 },
  person: { iss: PS, dwk: 'aauth-person.json', aud: RES, sub: 'p1', cnf, jti: 'pt1', iat: NOW, exp: NOW + 3600 },
  resource: { iss: RES, dwk: 'aauth-resource.json', aud: PS, jti: 'r1', ps: PS, sub: 'p1', presented_jti: 'pt1', agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 300, scope: 'data.read' },
  auth: { iss: PS, dwk: 'aauth-person.json', aud: RES, jti: 'at1', ps: PS, sub: 'p1', cnf, iat: NOW, exp: NOW + 3600 },
};
const PROFILE = { agent: AGENT_TOKEN_11, person: PERSON_TOKEN, resource: RESOURCE_TOKEN_11, auth: AUTH_TOKEN_11 };
const verdict = (kind: keyof typeof BASE, change: Record<string, unknown>, expect_ = {}) => {
  const claims: Record<string, unknown> = { ...BASE[kind], ...change };
  for (const [k, v] of Object.entries(change)) if (v === undefined) delete claims[k];
  return checkTokenClaims({ profile: PROFILE[kind], claims }, expect_, { now: NOW, leeway: 5 })?.code ?? 'ok';
};

const COMMON: Row[] = [
  ['dwk of another kind', { dwk: 'aauth-other.json' }, 'token_claim_invalid'],
  ['iss with a trailing slash', { iss: 'https://x.example/' }, 'token_claim_invalid'],
  ['iss over http', { iss: 'http://x.example' }, 'token_claim_invalid'],
  ['expired one second ago (no leeway on exp)', { exp: NOW - 1 }, 'token_expired'],
  ['exp now', { exp: NOW }, 'token_expired'],
  // -11 section 11.5.2: a future iat is refused (clock_skew) past the signature window, 60 s.
  ['iat 20 s ahead (an issuer clock within the window)', { iat: NOW + 20, exp: NOW + 120 }, 'ok'],
  ['iat 60 s ahead', { iat: NOW + 60, exp: NOW + 120 }, 'ok'],
  ['iat 61 s ahead', { iat: NOW + 61, exp: NOW + 120 }, 'token_not_yet_valid'],
  ['no jti', { jti: undefined }, 'token_claim_invalid'],
];
const BINDING: Row[] = [
  ['cnf.jwk without alg', { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x } } }, 'key_alg_missing'],
  ['cnf.jwk with a mismatched alg', { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x, alg: 'ES256' } } }, 'key_alg_mismatch'],
  ['cnf.jwk with alg EdDSA', { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x, alg: 'EdDSA' } } }, 'unsupported_algorithm'],
  ['cnf.jwk without x', { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' } } }, 'token_claim_invalid'],
  ['cnf.jwk private', { cnf: { jwk: { ...cnf.jwk, d: 'secret' } } }, 'token_claim_invalid'],
  ['no cnf', { cnf: undefined }, 'token_claim_invalid'],
];
const TABLES: Record<keyof typeof BASE, Row[]> = {
  agent: [
    ...COMMON,
    ...BINDING,
    ['sub not an agent identifier', { sub: 'assistant@agent.example' }, 'token_claim_invalid'],
    ['ps over http', { ps: 'http://ps.example' }, 'token_claim_invalid'],
    ['parent_agent not an identifier', { parent_agent: 'parent' }, 'token_claim_invalid'],
    ['lives 24 h + 1 s', { exp: NOW + 86401 }, 'token_lifetime_invalid'],
  ],
  person: [
    ...COMMON,
    ...BINDING,
    ['carries scope', { scope: 'data.read' }, 'token_claim_invalid'],
    ['carries account', { account: 'a' }, 'token_claim_invalid'],
    ['no aud', { aud: undefined }, 'token_claim_invalid'],
    ['lives 1 h + 1 s', { exp: NOW + 3601 }, 'token_lifetime_invalid'],
  ],
  resource: [
    ...COMMON,
    ['names an agent (no agent identifier in -11)', { agent: AGENT_ID }, 'token_claim_invalid'],
    ['no presented_jti', { presented_jti: undefined }, 'token_claim_invalid'],
    ['no ps', { ps: undefined }, 'token_claim_invalid'],
    ['no scope', { scope: undefined }, 'token_claim_invalid'],
    ['lives 5 min + 1 s', { exp: NOW + 301 }, 'token_lifetime_invalid'],
  ],
  auth: [
    ...COMMON,
    ...BINDING,
    ['carries agent', { agent: AGENT_ID }, 'token_claim_invalid'],
    ['carries act', { act: { sub: 'x' } }, 'token_claim_invalid'],
    ['ps is not iss from a person server', { ps: 'https://other-ps.example' }, 'token_claim_invalid'],
    ['no sub', { sub: undefined }, 'token_claim_invalid'],
    ['lives 1 h + 1 s', { exp: NOW + 3601 }, 'token_lifetime_invalid'],
  ],
};

describe('the -11 claim tables', () => {
  for (const kind of Object.keys(TABLES) as Array<keyof typeof BASE>) {
    it(`${kind} token: the base claims pass`, () => expect(verdict(kind, {})).toBe('ok'));
    for (const [name, change, code] of TABLES[kind]) {
      it(`${kind} token: ${name} -> ${code}`, () => expect(verdict(kind, change)).toBe(code));
    }
  }

  it('auth token from an access server: ps may differ from iss', () => {
    expect(verdict('auth', { iss: 'https://as.example', dwk: 'aauth-access.json' })).toBe('ok');
  });

  it('resource token expectations: agent_jkt, ps and aud', () => {
    expect(verdict('resource', {}, { agentJkt: 'another' })).toBe('token_agent_mismatch');
    expect(verdict('resource', {}, { agentJkt: agentKey.thumbprint, ps: PS, audience: PS })).toBe('ok');
    expect(verdict('resource', {}, { ps: 'https://my-ps.example' })).toBe('token_claim_invalid');
    expect(verdict('resource', {}, { audience: 'https://as.example' })).toBe('token_audience_invalid');
    expect(verdict('resource', { aud: [PS] }, { audience: PS })).toBe('ok');
  });

  it('checkTokenHeader picks the -11 profile from a list by typ', () => {
    const header = { alg: 'Ed25519', typ: 'aa-person+jwt', kid: 'k' };
    expect(checkTokenHeader({ header, claims: BASE.person }, [AUTH_TOKEN_11, PERSON_TOKEN]).profile).toBe(PERSON_TOKEN);
    expectThrowsCode(() => checkTokenHeader({ header: { ...header, alg: 'EdDSA' }, claims: BASE.person }, PERSON_TOKEN), 'token_alg_not_allowed');
  });
});

describe('classifyToken / tokenKind / TOKEN_TYP_11', () => {
  it('names kind and generation for every typ of both generations', () => {
    expect(TOKEN_TYP_11).toEqual({ resource: ['aa-resource+jwt'], auth: ['aa-auth+jwt'], agent: ['aa-agent+jwt'], person: ['aa-person+jwt'] });
    const cases: Array<[string, TokenKind, Generation]> = [
      ['resource+jwt', 'resource', 'keycloak'],
      ['auth+jwt', 'auth', 'keycloak'],
      ['agent+jwt', 'agent', 'keycloak'],
      ['aa-resource+jwt', 'resource', 'draft-11'],
      ['aa-auth+jwt', 'auth', 'draft-11'],
      ['aa-agent+jwt', 'agent', 'draft-11'],
      ['aa-person+jwt', 'person', 'draft-11'],
    ];
    for (const [typ, kind, generation] of cases) {
      expect(classifyToken(typ)).toEqual({ kind, generation });
      expect(tokenKind(typ)).toBe(kind);
    }
    expect(classifyToken('JWT')).toBeUndefined();
  });

  it('the agent_jkt of a minted resource token is the RFC 7638 thumbprint of the key given', async () => {
    const jwt = await mintResourceToken11(issuerKey, { issuer: RES, audience: PS, ps: PS, sub: 's', presentedJti: 'p', agentJkt: ecAgentKey.jwk, scope: 'a', now });
    expect(decodeToken(jwt).claims.agent_jkt).toBe(computeThumbprint(ecAgentKey.jwk));
  });
});

describe('property: the -11 claim tables never throw, whatever the claims', () => {
  it('checkTokenClaims returns an AAuthError or undefined for any JSON claims of every -11 kind', async () => {
    const fc = (await import('fast-check')).default;
    const names = ['iss', 'dwk', 'sub', 'aud', 'jti', 'cnf', 'ps', 'iat', 'exp', 'nbf', 'scope', 'agent', 'act', 'presented_jti', 'agent_jkt', 'parent_agent'];
    const claims = fc.dictionary(fc.constantFrom(...names), fc.oneof(fc.jsonValue(), fc.record({ jwk: fc.dictionary(fc.constantFrom('kty', 'crv', 'x', 'y', 'alg', 'd'), fc.jsonValue()) })));
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(PROFILE)), claims, (profile, c) => {
        const refusal = checkTokenClaims({ profile, claims: { ...BASE.agent, ...c } }, { allowLoopback: true, audience: RES }, { now: NOW, leeway: 5 });
        expect(refusal === undefined || refusal.status === 401).toBe(true);
      }),
      { numRuns: 500, seed: 20261130 },
    );
  });
});
