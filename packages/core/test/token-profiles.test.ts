import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ACCESS_TOKEN,
  ACT_MAX_DEPTH,
  AUTH_TOKEN,
  DEFAULT_TOKEN_ALGORITHMS,
  REFRESH_TOKEN,
  RESOURCE_TOKEN,
  TOKEN_LEEWAY,
  TOKEN_PROFILES,
  actChainDepth,
  actChainProblem,
  checkTokenClaims,
  checkTokenHeader,
  generateKey,
  importTokenKey,
  isBannedAlgorithm,
  signJwt,
  verifyTokenSignature,
  type AAuthErrorCode,
  type TokenExpectations,
  type TokenProfile,
} from '@aauth-kit/core';
import { expectCode, expectThrowsCode, freshKeyPair, thrown } from './support.js';

const NOW = 1774975920;
const clock = { now: NOW, leeway: 5 };
const ISSUER = 'http://localhost:8080/realms/aauth-test';
const RESOURCE = 'http://localhost:3001';
const AGENT = 'http://localhost:3000';
const JKT = 'NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs';
const cnf = { jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' } };

/** Run a profile's table over `claims`: the code of the first refusal, or 'ok'. */
function verdict(profile: TokenProfile, claims: Record<string, unknown>, expect: TokenExpectations = {}, withClock = true): AAuthErrorCode | 'ok' {
  const refusal = checkTokenClaims({ profile, claims }, expect, withClock ? clock : undefined);
  return refusal ? refusal.code : 'ok';
}

type Row = [name: string, claims: Record<string, unknown>, expected: AAuthErrorCode | 'ok', expect?: TokenExpectations];

function table(profile: TokenProfile, base: Record<string, unknown>, rows: Row[], defaults: TokenExpectations = {}): void {
  for (const [name, overrides, expected, expect_] of rows) {
    it(`${profile.name}: ${name} -> ${expected}`, () => {
      const claims: Record<string, unknown> = { ...base, ...overrides };
      for (const [k, v] of Object.entries(overrides)) if (v === undefined) delete claims[k];
      expect(verdict(profile, claims, { ...defaults, ...expect_ })).toBe(expected);
    });
  }
}

describe('the constants: one leeway, one allow-list, one act depth', () => {
  it('are what the wire profile says', () => {
    expect(TOKEN_LEEWAY).toBe(5);
    expect(ACT_MAX_DEPTH).toBe(10);
    expect(DEFAULT_TOKEN_ALGORITHMS).toEqual(['RS256', 'ES256', 'EdDSA', 'Ed25519']);
    expect(Object.keys(TOKEN_PROFILES)).toEqual(['resource', 'auth', 'refresh', 'access', 'oauth-access', 'agent', 'agent-11', 'person', 'resource-11', 'auth-11']);
  });

  it('none and every HMAC are banned, in any case; the allow-list is not', () => {
    for (const alg of ['none', 'NONE', 'HS256', 'hs384', 'HS512']) expect(isBannedAlgorithm(alg), alg).toBe(true);
    for (const alg of ['RS256', 'ES256', 'EdDSA', 'Ed25519', 'PS256']) expect(isBannedAlgorithm(alg), alg).toBe(false);
  });

  it('each profile names its typ values and its key source (Keycloak-profile typs only: draft-11 profile section 1)', () => {
    expect([RESOURCE_TOKEN, AUTH_TOKEN, REFRESH_TOKEN, ACCESS_TOKEN].map((p) => [p.name, p.typ, p.keys, p.issuers, p.bindsKey])).toEqual([
      ['resource', ['resource+jwt'], 'resource', 'any', false],
      ['auth', ['auth+jwt'], 'issuer', 'trusted', true],
      ['refresh', ['auth+jwt'], 'issuer', 'trusted', true],
      ['access', ['at+jwt', 'application/at+jwt'], 'issuer', 'trusted', false],
    ]);
  });
});

describe('the act rule (act-chain.ts)', () => {
  const deep = (n: number): Record<string, unknown> => {
    let act: Record<string, unknown> = { agent: 'https://a.example' };
    for (let i = 1; i < n; i++) act = { agent: 'https://a.example', act };
    return act;
  };
  const rows: Array<[string, unknown, string | undefined, number]> = [
    ['absent', undefined, undefined, 0],
    ['one AAuth level', { agent: 'https://b.example', sub: 'u' }, undefined, 1],
    ['agent only', { agent: 'https://b.example' }, undefined, 1],
    ['sub only (RFC 8693)', { sub: 'client-1' }, undefined, 1],
    ['mixed nesting', { sub: 'svc', act: { agent: 'https://b.example', sub: 'u' } }, undefined, 2],
    ['other members ignored', { sub: 'svc', iss: 'https://as.example' }, undefined, 1],
    ['depth 10', deep(10), undefined, 10],
    ['depth 11', deep(11), 'act chain is deeper than 10 levels', 11],
    ['no actor', { iss: 'https://as.example' }, 'act level 1 names no actor (agent or sub)', 1],
    ['empty agent', { agent: '' }, 'act level 1 names no actor (agent or sub)', 1],
    ['agent a number', { agent: 7 }, 'act level 1: agent is not a string', 1],
    ['sub an array', { agent: 'https://b.example', sub: ['u'] }, 'act level 1: sub is not a string', 1],
    ['a string', 'https://b.example', 'act is not an object', 0],
    ['an array', [{ agent: 'https://b.example' }], 'act is not an object', 0],
    ['null', null, 'act is not an object', 0],
    ['a nested null', { agent: 'https://b.example', act: null }, 'act level 2 is not an object', 1],
    ['a nested level without actor', { agent: 'https://b.example', act: { sub: '' } }, 'act level 2 names no actor (agent or sub)', 2],
  ];
  for (const [name, act, problem, depth] of rows) {
    it(`${name}: ${problem ?? 'valid'}`, () => {
      expect(actChainProblem(act)).toBe(problem);
      expect(actChainDepth(act)).toBe(depth);
    });
  }
});

describe('resource token table (wire profile section 6)', () => {
  const base = { iss: RESOURCE, aud: ISSUER, jti: 'j1', agent: AGENT, agent_jkt: JKT, iat: NOW, exp: NOW + 300, scope: 'read' };
  table(
    RESOURCE_TOKEN,
    base,
    [
      ['all claims', {}, 'ok'],
      ['exp at the 300 s limit', { exp: NOW + 300 }, 'ok'],
      ['lives 301 s', { exp: NOW + 301 }, 'token_lifetime_invalid'],
      ['expired 4 s ago (leeway 5)', { iat: NOW - 100, exp: NOW - 4 }, 'ok'],
      ['expired 5 s ago', { iat: NOW - 100, exp: NOW - 5 }, 'token_expired'],
      ['iat 6 s ahead', { iat: NOW + 6, exp: NOW + 100 }, 'token_not_yet_valid'],
      ['nbf 30 s ahead', { nbf: NOW + 30 }, 'token_not_yet_valid'],
      ['nbf a string', { nbf: 'soon' }, 'token_claim_invalid'],
      ['no jti', { jti: undefined }, 'token_claim_invalid'],
      ['no agent', { agent: undefined }, 'token_claim_invalid'],
      ['no agent_jkt', { agent_jkt: undefined }, 'token_claim_invalid'],
      ['no scope', { scope: undefined }, 'token_claim_invalid'],
      ['empty scope', { scope: '' }, 'token_claim_invalid'],
      ['no iat', { iat: undefined }, 'token_claim_invalid'],
      ['exp a string', { exp: String(NOW + 60) }, 'token_claim_invalid'],
      ['aud an array', { aud: [ISSUER] }, 'token_claim_invalid'],
      ['aud of another server', { aud: 'http://localhost:8080/realms/other' }, 'token_audience_invalid'],
      ['aud with a trailing slash', { aud: `${ISSUER}/` }, 'token_audience_invalid'],
      ['agent of another signer', { agent: 'http://localhost:3002' }, 'token_agent_mismatch'],
      ['agent_jkt of another key', { agent_jkt: 'other' }, 'token_agent_mismatch'],
    ],
    { audience: ISSUER, agent: AGENT, agentJkt: JKT },
  );

  it('without a clock (the agent side) only types are checked: an expired token passes, a string exp does not', () => {
    expect(verdict(RESOURCE_TOKEN, { ...base, iat: 1, exp: 2 }, {}, false)).toBe('ok');
    expect(verdict(RESOURCE_TOKEN, { ...base, exp: '2' }, {}, false)).toBe('token_claim_invalid');
  });

  it('messages carry the label', () => {
    const e = checkTokenClaims({ profile: RESOURCE_TOKEN, claims: { ...base, agent_jkt: 'x' } }, { agentJkt: JKT }, clock)!;
    expect(e.message).toBe("Resource token: agent_jkt is not the signer's key thumbprint");
  });
});

describe('auth token table (wire profile section 7)', () => {
  const base = { iss: ISSUER, aud: RESOURCE, agent: AGENT, sub: 'user-1', scope: 'read write', cnf, iat: NOW, exp: NOW + 300 };
  table(
    AUTH_TOKEN,
    base,
    [
      ['all claims', {}, 'ok'],
      ['aud an array containing the resource', { aud: ['https://x.example', RESOURCE] }, 'ok'],
      ['no agent, no sub, no scope (all optional)', { agent: undefined, sub: undefined, scope: undefined }, 'ok'],
      ['a long lifetime (no bound in the Keycloak profile)', { exp: NOW + 36000 }, 'ok'],
      ['an act chain', { act: { agent: 'https://backend.example', sub: 'user-1' } }, 'ok'],
      ['no exp', { exp: undefined }, 'token_claim_invalid'],
      ['expired', { exp: NOW - 5 }, 'token_expired'],
      ['iat a string', { iat: 'yesterday' }, 'token_claim_invalid'],
      ['iat in the future', { iat: NOW + 600 }, 'token_not_yet_valid'],
      ['no aud', { aud: undefined }, 'token_audience_invalid'],
      ['aud of another resource', { aud: 'https://other.example' }, 'token_audience_invalid'],
      ['aud an array of another resource', { aud: ['https://other.example'] }, 'token_audience_invalid'],
      ['aud an array with a number', { aud: [RESOURCE, 7] }, 'token_audience_invalid'],
      ['no cnf', { cnf: undefined }, 'token_cnf_missing'],
      ['cnf without jwk', { cnf: { jkt: JKT } }, 'token_cnf_missing'],
      ['cnf.jwk with a private member', { cnf: { jwk: { ...cnf.jwk, d: 'secret' } } }, 'token_claim_invalid'],
      ['scope an array', { scope: ['read'] }, 'token_claim_invalid'],
      ['agent a number', { agent: 7 }, 'token_claim_invalid'],
      ['sub an object', { sub: { id: 1 } }, 'token_claim_invalid'],
      ['act a string', { act: 'backend' }, 'token_claim_invalid'],
      ['act naming no actor', { act: { iss: 'x' } }, 'token_claim_invalid'],
    ],
    { audience: RESOURCE },
  );

  it('without an expected audience, aud is only type-checked', () => {
    expect(verdict(AUTH_TOKEN, { ...base, aud: 'https://anyone.example' })).toBe('ok');
    expect(verdict(AUTH_TOKEN, { ...base, aud: 7 })).toBe('token_claim_invalid');
  });
});

describe('refresh table (section 8, {auth_token})', () => {
  const base = { iss: ISSUER, aud: RESOURCE, agent: AGENT, scope: 'read', cnf, iat: NOW - 600, exp: NOW - 300 };
  table(
    REFRESH_TOKEN,
    base,
    [
      ['expired 300 s ago, window 1800', {}, 'ok'],
      ['expired exactly 1800 s ago', { exp: NOW - 1800 }, 'ok'],
      ['expired 1801 s ago', { exp: NOW - 1801 }, 'token_expired'],
      ['not expired', { exp: NOW + 60 }, 'ok'],
      ['no iat', { iat: undefined }, 'token_claim_invalid'],
      ['iat in the future', { iat: NOW + 60, exp: NOW + 300 }, 'token_not_yet_valid'],
      ['no aud', { aud: undefined }, 'token_claim_invalid'],
      ['aud an array', { aud: [RESOURCE] }, 'token_claim_invalid'],
      ['no cnf', { cnf: undefined }, 'token_cnf_missing'],
      ['act over the limit', { act: JSON.parse('{"agent":"a"' + ',"act":{"agent":"a"'.repeat(10) + '}'.repeat(11)) }, 'token_claim_invalid'],
    ],
    { refreshWindow: 1800 },
  );

  it('without a window an expired token is refused, with the window in the message', () => {
    const e = checkTokenClaims({ profile: REFRESH_TOKEN, claims: base }, {}, clock)!;
    expect(e.code).toBe('token_expired');
    expect(e.message).toBe('Auth token: expired more than 0 s ago');
  });
});

describe('access token table (RFC 9068 at+jwt, RFC 8693 act)', () => {
  const base = { iss: ISSUER, sub: 'user-1', aud: 'crm', client_id: 'sca', scope: 'crm:read', iat: NOW, exp: NOW + 300, jti: 'j' };
  table(ACCESS_TOKEN, base, [
    ['all claims', {}, 'ok'],
    ['aud an array', { aud: ['crm', 'maa'] }, 'ok'],
    ['an RFC 8693 act', { act: { sub: 'maa', act: { sub: 'sca' } } }, 'ok'],
    ['no cnf (bearer)', {}, 'ok'],
    ['expired', { exp: NOW - 10 }, 'token_expired'],
    ['sub a number', { sub: 1 }, 'token_claim_invalid'],
    ['client_id a number', { client_id: 1 }, 'token_claim_invalid'],
    ['act an array', { act: [] }, 'token_claim_invalid'],
  ]);
});

describe('checkTokenHeader: typ picks the profile, then alg, crit, iss and trust', () => {
  const claims = { iss: ISSUER };
  const header = (h: Record<string, unknown>) => ({ header: { alg: 'EdDSA', typ: 'auth+jwt', kid: 'k', ...h }, claims });
  it('picks the profile whose typ the token carries', () => {
    expect(checkTokenHeader(header({ typ: 'at+jwt' }), [AUTH_TOKEN, ACCESS_TOKEN]).profile).toBe(ACCESS_TOKEN);
    expect(checkTokenHeader(header({}), [AUTH_TOKEN, ACCESS_TOKEN])).toMatchObject({ profile: AUTH_TOKEN, alg: 'EdDSA', issuer: ISSUER, kid: 'k' });
  });
  const refusals: Array<[string, Record<string, unknown>, TokenExpectations, AAuthErrorCode, string]> = [
    ['a resource token as an auth token', { typ: 'resource+jwt' }, {}, 'token_typ_invalid', 'Auth token: typ "resource+jwt" is not auth+jwt'],
    ['a -11 auth token as a Keycloak-profile one', { typ: 'aa-auth+jwt' }, {}, 'token_typ_invalid', 'Auth token: typ "aa-auth+jwt" is not auth+jwt'],
    ['no typ', { typ: undefined }, {}, 'token_typ_invalid', 'Auth token: typ undefined is not auth+jwt'],
    ['alg none', { alg: 'none' }, { algorithms: ['none', 'EdDSA'] }, 'token_alg_not_allowed', 'Auth token: alg "none" is not allowed'],
    ['alg HS256, even when listed', { alg: 'HS256' }, { algorithms: ['HS256'] }, 'token_alg_not_allowed', 'Auth token: alg "HS256" is not allowed'],
    ['alg PS256 (not on the one list), even when listed', { alg: 'PS256' }, { algorithms: ['PS256'] }, 'token_alg_not_allowed', 'Auth token: alg "PS256" is not allowed'],
    ['alg outside a narrowed list', {}, { algorithms: ['RS256'] }, 'token_alg_not_allowed', 'Auth token: alg "EdDSA" is not allowed'],
    ['a crit header', { crit: ['b64'] }, {}, 'token_malformed', 'Auth token: crit header parameters are not supported'],
    // Read as no kid before, so the issuer's only key matched (audit finding).
    ['a kid that is an object', { kid: { a: 1 } }, {}, 'token_malformed', 'Auth token: the header kid is not a string'],
    ['a kid that is a number', { kid: 7 }, {}, 'token_malformed', 'Auth token: the header kid is not a string'],
    ['an untrusted issuer', {}, { issuers: ['https://other.example'] }, 'token_issuer_untrusted', `Auth token: issuer "${ISSUER}" is not trusted`],
  ];
  for (const [name, h, expect_, code, message] of refusals) {
    it(`${name} -> ${code}`, () => {
      expect(expectThrowsCode(() => checkTokenHeader(header(h), AUTH_TOKEN, expect_), code).message).toBe(message);
    });
  }
  it('no iss is token_claim_invalid', () => {
    expectThrowsCode(() => checkTokenHeader({ header: { alg: 'EdDSA', typ: 'auth+jwt' }, claims: {} }, AUTH_TOKEN), 'token_claim_invalid');
  });
  it('trusted issuers apply to trusted-issuer profiles only; the resource profile trusts its metadata', () => {
    expectThrowsCode(() => checkTokenHeader(header({}), AUTH_TOKEN, {}, ['https://other.example']), 'token_issuer_untrusted');
    expect(checkTokenHeader({ header: { alg: 'EdDSA', typ: 'resource+jwt' }, claims }, RESOURCE_TOKEN, {}, ['https://other.example']).issuer).toBe(ISSUER);
    const e = expectCode(thrown(() => checkTokenHeader(header({}), AUTH_TOKEN, { issuers: [] })), 'token_issuer_untrusted');
    expect(e.details).toEqual({ issuer: ISSUER });
  });
});

describe('verifyTokenSignature: node:crypto, synchronous', () => {
  const ed = generateKey({ kid: 'ed' });
  const ec = generateKey({ alg: 'ES256', kid: 'ec' });
  const rsa = freshKeyPair('rsa', { modulusLength: 2048 });
  const small = freshKeyPair('rsa', { modulusLength: 1024 });
  const claims = { iss: ISSUER, exp: NOW };

  it('EdDSA (and its -11 spelling Ed25519), ES256 and RS256 verify; a tampered payload does not', async () => {
    const edJwt = await signJwt(ed, { typ: 'auth+jwt' }, claims);
    const ed11 = await new SignJWT(claims).setProtectedHeader({ alg: 'Ed25519', typ: 'aa-auth+jwt' }).sign(ed.privateKeyObject);
    const esJwt = await signJwt(ec, { typ: 'auth+jwt' }, claims);
    const rsJwt = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'auth+jwt' }).sign(rsa.privateKey);
    expect(verifyTokenSignature(edJwt, 'EdDSA', importTokenKey(ed.toPublishedJwk()))).toBe(true);
    expect(verifyTokenSignature(ed11, 'Ed25519', importTokenKey(ed.toPublishedJwk()))).toBe(true);
    expect(verifyTokenSignature(esJwt, 'ES256', importTokenKey(ec.toPublishedJwk()))).toBe(true);
    expect(verifyTokenSignature(rsJwt, 'RS256', importTokenKey(rsa.publicKey))).toBe(true);
    const [h, , s] = edJwt.split('.');
    const other = Buffer.from(JSON.stringify({ ...claims, iss: 'x' })).toString('base64url');
    expect(verifyTokenSignature(`${h}.${other}.${s}`, 'EdDSA', importTokenKey(ed.toPublishedJwk()))).toBe(false);
  });

  it('an alg the key cannot do, a DER ECDSA signature, a bad encoding and a 1024-bit RSA key all fail', async () => {
    const edJwt = await signJwt(ed, { typ: 'auth+jwt' }, claims);
    expect(verifyTokenSignature(edJwt, 'RS256', importTokenKey(ed.toPublishedJwk()))).toBe(false);
    expect(verifyTokenSignature(edJwt, 'EdDSA', importTokenKey(ec.toPublishedJwk()))).toBe(false);
    const input = `${Buffer.from('{"alg":"ES256"}').toString('base64url')}.${Buffer.from('{}').toString('base64url')}`;
    const der = nodeSign('sha256', Buffer.from(input), createPrivateKey(ec.privateKeyObject.export({ format: 'pem', type: 'pkcs8' }))).toString('base64url');
    expect(verifyTokenSignature(`${input}.${der}`, 'ES256', importTokenKey(ec.toPublishedJwk()))).toBe(false);
    expect(verifyTokenSignature(`${edJwt.slice(0, -2)}*=`, 'EdDSA', importTokenKey(ed.toPublishedJwk()))).toBe(false);
    const weak = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'auth+jwt' }).sign(small.privateKey).catch(() => undefined);
    expect(importTokenKey(small.publicKey).algorithms).toEqual([]);
    if (weak) expect(verifyTokenSignature(weak, 'RS256', importTokenKey(small.publicKey))).toBe(false);
  });

  it("a JWK's alg narrows what it verifies; private members are dropped; a non-key is key_invalid", () => {
    expect(importTokenKey({ ...ed.toPublishedJwk(), alg: 'EdDSA' }).algorithms).toEqual(['EdDSA', 'Ed25519']);
    expect(importTokenKey({ ...ec.toPublishedJwk(), alg: 'ES384' }).algorithms).toEqual([]);
    expect(importTokenKey(ed.toPrivateJwk()).keyObject.type).toBe('public');
    expectThrowsCode(() => importTokenKey({ kty: 'OKP', crv: 'Ed25519', x: 'short' }), 'key_invalid');
    expectThrowsCode(() => importTokenKey({ kty: 'oct', k: 'c2VjcmV0' }), 'key_invalid');
  });
});
