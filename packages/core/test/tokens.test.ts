import { createHmac, createPublicKey } from 'node:crypto';
import { exportJWK, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  AAuthError,
  checkResourceTokenClaims,
  decodeToken,
  DEFAULT_TOKEN_ALGORITHMS,
  generateKey,
  hasScopes,
  MAX_RESOURCE_TOKEN_LIFETIME,
  mintResourceToken,
  parseScope,
  signJwt,
  TOKEN_TYP,
  tokenKind,
  verifyResourceToken,
  verifyToken,
  type ResourceTokenClaims,
  type SigningKey,
  type VerifyResourceTokenOptions,
} from '@aauth-kit/core';
import { expectCode, expectRejectsCode, expectThrowsCode, freshKeyPair, rejected } from './support.js';


const NOW = 1774975920;
const now = () => NOW;
const resourceKey = generateKey({ kid: 'res-1' });
const agentKey = generateKey();
const RESOURCE = 'http://localhost:3001';
const ISSUER = 'http://localhost:8080/realms/aauth-test';
const AGENT = 'http://localhost:3000';

const b64u = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

const mint = (overrides: Partial<Parameters<typeof mintResourceToken>[1]> = {}, key: SigningKey = resourceKey) =>
  mintResourceToken(key, { issuer: RESOURCE, audience: ISSUER, agent: AGENT, agentJkt: agentKey.thumbprint, scope: 'read write', now, ...overrides });

const verifyOptions = (overrides: Partial<VerifyResourceTokenOptions> = {}): VerifyResourceTokenOptions => ({
  getKey: () => resourceKey.toPublishedJwk(),
  audience: ISSUER,
  issuers: [RESOURCE],
  agent: AGENT,
  agentJkt: agentKey.thumbprint,
  now,
  ...overrides,
});

/** A resource token with hand-picked claims, signed by the resource key. */
const forge = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  signJwt(resourceKey, { typ: 'resource+jwt', ...header }, {
    iss: RESOURCE,
    aud: ISSUER,
    jti: 'j1',
    agent: AGENT,
    agent_jkt: agentKey.thumbprint,
    iat: NOW,
    exp: NOW + 300,
    scope: 'read',
    ...claims,
  });

describe('mintResourceToken (wire profile section 6)', () => {
  it('has the exact header and claims', async () => {
    const jwt = await mint();
    const { header, claims } = decodeToken<ResourceTokenClaims>(jwt);
    expect(header).toEqual({ alg: 'EdDSA', typ: 'resource+jwt', kid: 'res-1' });
    expect(Object.keys(claims).sort()).toEqual(['agent', 'agent_jkt', 'aud', 'exp', 'iat', 'iss', 'jti', 'scope']);
    expect(claims).toMatchObject({ iss: RESOURCE, aud: ISSUER, agent: AGENT, agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 300, scope: 'read write' });
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('each token has a fresh jti', async () => {
    expect(decodeToken(await mint()).claims.jti).not.toBe(decodeToken(await mint()).claims.jti);
  });

  it('a shorter lifetime on request; the -11 aa- typ is mintResourceToken11\'s only (generation-exclusive typs)', async () => {
    const { header, claims } = decodeToken(await mint({ lifetime: 60, typ: 'resource+jwt' }));
    expect(header.typ).toBe('resource+jwt');
    expect(claims.exp).toBe(NOW + 60);
    await expect(mint({ typ: 'aa-resource+jwt' as never })).rejects.toThrow(/options\.typ/);
  });

  it('P-256 resource keys sign ES256 tokens that verify', async () => {
    const ecKey = generateKey({ alg: 'ES256', kid: 'ec' });
    const jwt = await mint({}, ecKey);
    expect(decodeToken(jwt).header.alg).toBe('ES256');
    await expect(verifyResourceToken(jwt, verifyOptions({ getKey: () => ecKey.toPublishedJwk() }))).resolves.toBeDefined();
  });

  it('refuses misuse with TypeErrors naming the option', async () => {
    await expect(mint({ lifetime: 301 })).rejects.toThrow(/options\.lifetime/);
    await expect(mint({ lifetime: 0 })).rejects.toThrow(/options\.lifetime/);
    await expect(mint({ lifetime: 1.5 })).rejects.toThrow(/options\.lifetime/);
    await expect(mint({ issuer: '' })).rejects.toThrow(/options\.issuer/);
    await expect(mint({ scope: '  ' })).rejects.toThrow(/options\.scope/);
    await expect(mint({ typ: 'auth+jwt' as never })).rejects.toThrow(/options\.typ/);
    await expect(mintResourceToken({} as never, {} as never)).rejects.toThrow(TypeError);
  });
});

describe('verifyResourceToken: every claim check of section 6', () => {
  it('accepts a freshly minted token and returns header and claims', async () => {
    const { header, claims } = await verifyResourceToken(await mint(), verifyOptions());
    expect(header.kid).toBe('res-1');
    expect(claims.scope).toBe('read write');
  });

  it('accepts a KeyObject from getKey', async () => {
    const jwt = await mint();
    await expect(verifyResourceToken(jwt, verifyOptions({ getKey: () => createPublicKey(resourceKey.privateKeyObject) }))).resolves.toBeDefined();
  });

  it('accepts alg Ed25519 as well as EdDSA (section 11)', async () => {
    const jwt = await new SignJWT({ iss: RESOURCE, aud: ISSUER, jti: 'j', agent: AGENT, agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 60, scope: 'read' })
      .setProtectedHeader({ alg: 'Ed25519', typ: 'resource+jwt', kid: 'res-1' })
      .sign(resourceKey.privateKeyObject);
    await expect(verifyResourceToken(jwt, verifyOptions())).resolves.toBeDefined();
  });

  it('typ: another kind, another generation, a missing or an unknown typ is token_typ_invalid', async () => {
    // draft-11 profile section 1: a -11 aa-resource+jwt is never a Keycloak-profile resource token.
    for (const typ of ['auth+jwt', 'aa-agent+jwt', 'aa-resource+jwt', 'JWT', 'at+jwt']) {
      await expectRejectsCode(verifyResourceToken(await forge({}, { typ }), verifyOptions()), 'token_typ_invalid', 401);
    }
    const noTyp = await new SignJWT({ iss: RESOURCE }).setProtectedHeader({ alg: 'EdDSA' }).sign(resourceKey.privateKeyObject);
    await expectRejectsCode(verifyResourceToken(noTyp, verifyOptions()), 'token_typ_invalid');
  });

  it('alg none is refused, even when listed', async () => {
    const jwt = `${b64u({ alg: 'none', typ: 'resource+jwt' })}.${b64u({ iss: RESOURCE, exp: NOW + 60 })}.`;
    await expectRejectsCode(verifyResourceToken(jwt, verifyOptions()), 'token_malformed');
    const withSig = `${b64u({ alg: 'none', typ: 'resource+jwt' })}.${b64u({ iss: RESOURCE, exp: NOW + 60 })}.AAAA`;
    await expectRejectsCode(verifyResourceToken(withSig, verifyOptions({ algorithms: ['none', 'EdDSA'] })), 'token_alg_not_allowed', 401);
  });

  it('an HS256 token forged with the public key as secret is refused, even when HS256 is listed', async () => {
    const header = b64u({ alg: 'HS256', typ: 'resource+jwt', kid: 'res-1' });
    const payload = b64u({ iss: RESOURCE, aud: ISSUER, jti: 'j', agent: AGENT, agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 60, scope: 'read' });
    const secret = Buffer.from(resourceKey.jwk.x, 'base64url');
    const sig = createHmac('sha256', secret).update(`${header}.${payload}`).digest('base64url');
    let resolved = false;
    const getKey = () => {
      resolved = true;
      return resourceKey.toPublishedJwk();
    };
    await expectRejectsCode(verifyResourceToken(`${header}.${payload}.${sig}`, verifyOptions({ getKey })), 'token_alg_not_allowed');
    await expectRejectsCode(verifyResourceToken(`${header}.${payload}.${sig}`, verifyOptions({ getKey, algorithms: ['HS256', 'EdDSA'] })), 'token_alg_not_allowed');
    expect(resolved).toBe(false);
  });

  it('an alg outside the allow-list is refused', async () => {
    await expectRejectsCode(verifyResourceToken(await mint(), verifyOptions({ algorithms: ['RS256'] })), 'token_alg_not_allowed');
  });

  it('a header alg that does not match the key is token_signature_invalid', async () => {
    const rsa = freshKeyPair('rsa', { modulusLength: 2048 });
    const jwt = await new SignJWT({ iss: RESOURCE, aud: ISSUER, jti: 'j', agent: AGENT, agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 60, scope: 'r' })
      .setProtectedHeader({ alg: 'RS256', typ: 'resource+jwt' })
      .sign(rsa.privateKey);
    await expectRejectsCode(verifyResourceToken(jwt, verifyOptions()), 'token_signature_invalid');
  });

  it('exp in the past is token_expired (5 s leeway by default)', async () => {
    const jwt = await mint({ lifetime: 60 });
    await expect(verifyResourceToken(jwt, verifyOptions({ now: () => NOW + 64 }))).resolves.toBeDefined();
    await expectRejectsCode(verifyResourceToken(jwt, verifyOptions({ now: () => NOW + 65 })), 'token_expired', 401);
    await expectRejectsCode(verifyResourceToken(jwt, verifyOptions({ now: () => NOW + 61, leeway: 0 })), 'token_expired');
  });

  it('missing exp or iat is token_claim_invalid', async () => {
    await expectRejectsCode(verifyResourceToken(await forge({ exp: undefined }), verifyOptions()), 'token_claim_invalid');
    await expectRejectsCode(verifyResourceToken(await forge({ iat: undefined }), verifyOptions()), 'token_claim_invalid');
  });

  it('a lifetime over 300 s is token_lifetime_invalid', async () => {
    expect(MAX_RESOURCE_TOKEN_LIFETIME).toBe(300);
    await expect(verifyResourceToken(await forge({ exp: NOW + 300 }), verifyOptions())).resolves.toBeDefined();
    await expectRejectsCode(verifyResourceToken(await forge({ exp: NOW + 301 }), verifyOptions()), 'token_lifetime_invalid', 401);
  });

  it('iat or nbf in the future is token_not_yet_valid', async () => {
    await expectRejectsCode(verifyResourceToken(await forge({ iat: NOW + 30, exp: NOW + 100 }), verifyOptions()), 'token_not_yet_valid');
    await expectRejectsCode(verifyResourceToken(await forge({ nbf: NOW + 30 }), verifyOptions()), 'token_not_yet_valid');
  });

  it('aud must be the auth server issuer exactly', async () => {
    await expectRejectsCode(verifyResourceToken(await mint({ audience: `${ISSUER}/` }), verifyOptions()), 'token_audience_invalid', 401);
    await expectRejectsCode(verifyResourceToken(await mint({ audience: 'http://localhost:8080/realms/other' }), verifyOptions()), 'token_audience_invalid');
  });

  it('aud as an array is token_claim_invalid for a resource token', async () => {
    await expectRejectsCode(verifyResourceToken(await forge({ aud: [ISSUER] }), verifyOptions()), 'token_claim_invalid');
  });

  it('iss must be a trusted resource', async () => {
    await expectRejectsCode(verifyResourceToken(await mint({ issuer: 'http://localhost:9999' }), verifyOptions()), 'token_issuer_untrusted', 401);
    await expectRejectsCode(verifyResourceToken(await forge({ iss: undefined }), verifyOptions()), 'token_claim_invalid');
  });

  it('agent and agent_jkt must match the signer', async () => {
    await expectRejectsCode(verifyResourceToken(await mint({ agent: 'http://localhost:3002' }), verifyOptions()), 'token_agent_mismatch', 401);
    await expectRejectsCode(verifyResourceToken(await mint({ agentJkt: generateKey().thumbprint }), verifyOptions()), 'token_agent_mismatch');
  });

  it('a pseudonymous agent is accepted when it matches', async () => {
    const agent = `pseudonymous:${agentKey.thumbprint}`;
    await expect(verifyResourceToken(await mint({ agent }), verifyOptions({ agent }))).resolves.toBeDefined();
  });

  it('missing jti, scope, agent or agent_jkt is token_claim_invalid', async () => {
    for (const claim of ['jti', 'scope', 'agent', 'agent_jkt']) {
      await expectRejectsCode(verifyResourceToken(await forge({ [claim]: undefined }), verifyOptions()), 'token_claim_invalid');
    }
    await expectRejectsCode(verifyResourceToken(await forge({ scope: '' }), verifyOptions()), 'token_claim_invalid');
  });

  it('a tampered payload is token_signature_invalid', async () => {
    const [h, p, s] = (await mint()).split('.');
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${h}.${b64u({ ...claims, scope: 'read write admin' })}.${s}`;
    await expectRejectsCode(verifyResourceToken(tampered, verifyOptions()), 'token_signature_invalid', 401);
  });

  it('a token signed by another key is token_signature_invalid', async () => {
    await expectRejectsCode(verifyResourceToken(await mint({}, generateKey({ kid: 'res-1' })), verifyOptions()), 'token_signature_invalid');
  });

  it('a getKey failure is key_discovery_failed; its AAuthError passes through', async () => {
    const e = await expectRejectsCode(
      verifyResourceToken(await mint(), verifyOptions({ getKey: () => Promise.reject(new Error('timeout')) })),
      'key_discovery_failed',
    );
    expect(e.cause).toBeInstanceOf(Error);
    await expectRejectsCode(
      verifyResourceToken(await mint(), verifyOptions({ getKey: () => { throw new AAuthError('key_not_found'); } })),
      'key_not_found',
    );
  });

  it('cheap checks run before the key is resolved', async () => {
    let resolved = false;
    const getKey = () => {
      resolved = true;
      return resourceKey.toPublishedJwk();
    };
    await expectRejectsCode(verifyResourceToken(await mint({ audience: 'x' }), verifyOptions({ getKey })), 'token_audience_invalid');
    await expectRejectsCode(verifyResourceToken(await mint(), verifyOptions({ getKey, now: () => NOW + 1000 })), 'token_expired');
    expect(resolved).toBe(false);
  });
});

describe('verifyToken for auth tokens (RS256 from Keycloak)', () => {
  const rsa = freshKeyPair('rsa', { modulusLength: 2048 });
  const authClaims = { iss: ISSUER, aud: RESOURCE, agent: AGENT, scope: 'read', cnf: { jwk: agentKey.toPublishedJwk() }, iat: NOW, exp: NOW + 3600 };
  const signAuth = (claims: Record<string, unknown> = authClaims, typ = 'auth+jwt') =>
    new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ, kid: 'kc' }).sign(rsa.privateKey);
  const getKey = async () => exportJWK(rsa.publicKey);

  it('verifies, with aud as a string or an array containing the resource', async () => {
    const token = await verifyToken(await signAuth(), { kind: 'auth', getKey, audience: RESOURCE, issuers: [ISSUER], now });
    expect(token.claims.agent).toBe(AGENT);
    await expect(verifyToken(await signAuth({ ...authClaims, aud: ['x', RESOURCE] }), { kind: 'auth', getKey, audience: RESOURCE, now })).resolves.toBeDefined();
    // draft-11 profile section 1: the -11 spelling is not a Keycloak-profile auth token.
    await expectRejectsCode(verifyToken(await signAuth(authClaims, 'aa-auth+jwt'), { kind: 'auth', getKey, now }), 'token_typ_invalid');
  });

  it('a non-numeric iat is token_claim_invalid, not a signature failure', async () => {
    await expectRejectsCode(verifyToken(await signAuth({ ...authClaims, iat: 'yesterday' }), { kind: 'auth', getKey, now }), 'token_claim_invalid');
  });

  it('a resource token is not an auth token', async () => {
    await expectRejectsCode(verifyToken(await mint(), { kind: 'auth', getKey, now }), 'token_typ_invalid');
  });

  it('the wire error is invalid_auth_token with a message naming the kind', async () => {
    const e = expectCode(await rejected(verifyToken(await signAuth(), { kind: 'auth', getKey, audience: 'other', now })), 'token_audience_invalid');
    expect(e.toJSON()).toEqual({ error: 'invalid_auth_token', error_description: expect.stringMatching(/^Auth token: aud/) });
  });
});

describe('decodeToken', () => {
  it('decodes header and claims without verifying', async () => {
    const { header, claims } = decodeToken(await mint());
    expect(header.typ).toBe('resource+jwt');
    expect(claims.iss).toBe(RESOURCE);
  });

  it('malformed compact JWTs are token_malformed (401)', () => {
    const ok = b64u({ alg: 'EdDSA' });
    for (const bad of [
      '',
      'a.b',
      'a.b.c.d',
      `${ok}.${ok}.`,
      `!!.${ok}.sig`,
      `${ok}.${Buffer.from('not json').toString('base64url')}.sig`,
      `${ok}.${b64u([1, 2])}.sig`,
      `${ok}.${b64u('str')}.sig`,
      `${b64u(null)}.${ok}.sig`,
      `${ok}A.${ok}.sig`,
      `${'a'.repeat(17 * 1024)}.b.c`,
    ]) {
      expectThrowsCode(() => decodeToken(bad), 'token_malformed', 401);
    }
    expectThrowsCode(() => decodeToken(undefined as never), 'token_malformed');
  });
});

describe('typ, scope and claim helpers', () => {
  it('TOKEN_TYP is the Keycloak profile only; tokenKind maps both generations back', () => {
    expect(TOKEN_TYP).toEqual({
      resource: ['resource+jwt'],
      auth: ['auth+jwt'],
      agent: ['agent+jwt'],
    });
    expect(tokenKind('aa-agent+jwt')).toBe('agent');
    expect(tokenKind('aa-person+jwt')).toBe('person');
    expect(tokenKind('auth+jwt')).toBe('auth');
    expect(tokenKind('JWT')).toBeUndefined();
    expect(tokenKind(undefined)).toBeUndefined();
  });

  it('DEFAULT_TOKEN_ALGORITHMS never includes none or HMAC', () => {
    expect(DEFAULT_TOKEN_ALGORITHMS).toEqual(['RS256', 'ES256', 'EdDSA', 'Ed25519']);
  });

  it('parseScope splits on spaces and de-duplicates; hasScopes checks all', () => {
    expect(parseScope(' read  write read ')).toEqual(['read', 'write']);
    expect(parseScope(undefined)).toEqual([]);
    expect(parseScope(42)).toEqual([]);
    // One scope and the empty string take the short path; the result is the same.
    expect(parseScope('read')).toEqual(['read']);
    expect(parseScope('')).toEqual([]);
    expect(hasScopes('read write', ['read'])).toBe(true);
    expect(hasScopes(['read'], ['read', 'write'])).toBe(false);
    expect(hasScopes(undefined, [])).toBe(true);
    expect(hasScopes(undefined, ['read'])).toBe(false);
  });

  it('checkResourceTokenClaims runs without a signature (the agent side)', async () => {
    const { claims } = decodeToken(await mint());
    expect(() => checkResourceTokenClaims(claims, { agent: AGENT, agentJkt: agentKey.thumbprint })).not.toThrow();
    expectThrowsCode(() => checkResourceTokenClaims(claims, { agent: 'http://localhost:1' }), 'token_agent_mismatch');
    expectThrowsCode(() => checkResourceTokenClaims({ ...claims, exp: '1' }), 'token_claim_invalid');
  });

  it('signJwt sets alg and kid from the key, and keeps the typ', async () => {
    const jwt = await signJwt(agentKey, { typ: 'agent+jwt', extra: 1 }, { iss: AGENT });
    expect(decodeToken(jwt).header).toEqual({ typ: 'agent+jwt', extra: 1, alg: 'EdDSA', kid: agentKey.kid });
  });
});
