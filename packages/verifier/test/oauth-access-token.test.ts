import { generateKeyPairSync, sign as rsaSign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN, AAuthError, AUTH_TOKEN, generateKey, signJwt } from '@aauth-kit/core';
import { createVerifier, OAUTH_ACCESS_TOKEN } from '@aauth-kit/verifier';
import { manualClock, tableFetch, tableResolver } from './helpers.js';

/**
 * OAUTH_ACCESS_TOKEN: plain OAuth access tokens (header typ "JWT", Keycloak's default), verified
 * through the one token pipeline with the issuer's keys from its OpenID Provider metadata.
 * interop/keycloak/verify-keycloak-tokens.test.ts runs the same against a real Keycloak.
 */

const ISS = 'https://sso.example/realms/aauth-test';
const RESOURCE = 'https://crm.example';
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const KID = 'rsa-1';
const JWKS_URI = `${ISS}/protocol/openid-connect/certs`;

/** RS256 as Keycloak signs, with node:crypto (core's keys are EdDSA and ES256 only). */
function rs256(header: Record<string, unknown>, claims: Record<string, unknown>, key: KeyObject = privateKey): string {
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${enc({ alg: 'RS256', typ: 'JWT', kid: KID, ...header })}.${enc(claims)}`;
  return `${input}.${rsaSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

function setup(clock = manualClock()) {
  const fetch = tableFetch({
    [`${ISS}/.well-known/openid-configuration`]: { issuer: ISS, jwks_uri: JWKS_URI, token_endpoint: `${ISS}/protocol/openid-connect/token` },
    [JWKS_URI]: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, use: 'sig', alg: 'RS256' }] },
  });
  const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, now: clock.now, discovery: { resolveHostname: tableResolver() } });
  return { v, fetch, clock };
}

/** The claims of a Keycloak 26 access token (client credentials, with an audience mapper). */
function keycloakClaims(now: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { exp: now + 300, iat: now, jti: 'trrtcc:1', iss: ISS, aud: 'crm', sub: 'b0a3c1d2', typ: 'Bearer', azp: 'supply-chain-agent', scope: 'crm:read', client_id: 'supply-chain-agent', ...extra };
}

async function refusal(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('OAUTH_ACCESS_TOKEN (typ JWT access tokens, as Keycloak issues them)', () => {
  it('verifies an RS256 token with the key found through the OpenID Provider metadata, and returns its claims', async () => {
    const { v, fetch, clock } = setup();
    const jwt = rs256({}, keycloakClaims(clock.now()));
    const t = await v.verifyToken(jwt, OAUTH_ACCESS_TOKEN, { audience: 'crm' });
    expect(t).toMatchObject({ issuer: ISS, subject: 'b0a3c1d2', audience: 'crm', scope: ['crm:read'], expiresAt: clock.now() + 300, header: { alg: 'RS256', typ: 'JWT', kid: KID } });
    expect(t.claims).toMatchObject({ azp: 'supply-chain-agent', client_id: 'supply-chain-agent', typ: 'Bearer' });
    expect(t.cnf).toBeUndefined();
    expect(fetch.calls).toEqual([`${ISS}/.well-known/aauth-issuer.json`, `${ISS}/.well-known/aauth-issuer`, `${ISS}/.well-known/openid-configuration`, JWKS_URI]);
  });

  it('an audience array and a token without the typ claim (servers that do not set it) pass', async () => {
    const { v, clock } = setup();
    const claims = keycloakClaims(clock.now(), { aud: ['account', 'crm'] });
    delete claims.typ;
    await expect(v.verifyToken(rs256({}, claims), OAUTH_ACCESS_TOKEN, { audience: 'crm' })).resolves.toMatchObject({ audience: ['account', 'crm'] });
  });

  it("refuses Keycloak's ID and refresh tokens, whose header typ is JWT too (token_typ_invalid), before any key lookup", async () => {
    const { v, fetch, clock } = setup();
    for (const typ of ['ID', 'Refresh', 'Logout', 42]) {
      const e = await refusal(v.verifyToken(rs256({}, keycloakClaims(clock.now(), { typ, aud: 'crm' })), OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
      expect(e.code, String(typ)).toBe('token_typ_invalid');
      expect(e.message).toMatch(/^OAuth access token: typ claim .* is not "Bearer"/);
    }
    expect(fetch.calls).toEqual([]);
  });

  it('the header typ picks the profile: at+jwt is ACCESS_TOKEN, JWT this one, auth+jwt neither', async () => {
    const { v, clock } = setup();
    const plain = rs256({}, keycloakClaims(clock.now()));
    expect((await refusal(v.verifyToken(plain, ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_typ_invalid');
    expect((await refusal(v.verifyToken(plain, AUTH_TOKEN, { audience: 'crm' }))).code).toBe('token_typ_invalid');
    const rfc9068 = rs256({ typ: 'at+jwt' }, keycloakClaims(clock.now()));
    expect((await refusal(v.verifyToken(rfc9068, OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_typ_invalid');
    await expect(v.verifyToken(rfc9068, [ACCESS_TOKEN, OAUTH_ACCESS_TOKEN], { audience: 'crm' })).resolves.toMatchObject({ subject: 'b0a3c1d2' });
    await expect(v.verifyToken(plain, [ACCESS_TOKEN, OAUTH_ACCESS_TOKEN], { audience: 'crm' })).resolves.toMatchObject({ subject: 'b0a3c1d2' });
  });

  it('each refusal has its code: audience, issuer, expiry, signature, unknown kid, claims', async () => {
    const { v, clock } = setup();
    const now = clock.now();
    const good = rs256({}, keycloakClaims(now));
    expect((await refusal(v.verifyToken(good, OAUTH_ACCESS_TOKEN, { audience: 'payroll' }))).code).toBe('token_audience_invalid');
    // No aud at all (Keycloak without an audience mapper): refused when an audience is expected.
    const noAud = keycloakClaims(now);
    delete noAud.aud;
    expect((await refusal(v.verifyToken(rs256({}, noAud), OAUTH_ACCESS_TOKEN))).code).toBe('token_audience_invalid');
    expect((await refusal(v.verifyToken(rs256({}, keycloakClaims(now, { iss: 'https://sso.example/realms/other' })), OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe(
      'token_issuer_untrusted',
    );
    expect((await refusal(v.verifyToken(rs256({}, keycloakClaims(now, { exp: now - 60 })), OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_expired');
    expect((await refusal(v.verifyToken(rs256({}, keycloakClaims(now, { azp: 7 })), OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_claim_invalid');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    expect((await refusal(v.verifyToken(rs256({}, keycloakClaims(now), other), OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_signature_invalid');
    const unknownKid = await refusal(v.verifyToken(rs256({ kid: 'rotated-away' }, keycloakClaims(now)), OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
    expect(unknownKid.code).toBe('token_signature_invalid');
    expect((unknownKid.cause as AAuthError).code).toBe('key_not_found');
  });

  it('is not bound to a key: a cnf in the token is ignored, and an EdDSA issuer key works too', async () => {
    const ed = generateKey({ kid: 'ed-1' });
    const fetch = tableFetch({
      [`${ISS}/.well-known/openid-configuration`]: { issuer: ISS, jwks_uri: JWKS_URI },
      [JWKS_URI]: { keys: [ed.toPublishedJwk()] },
    });
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, discovery: { resolveHostname: tableResolver() } });
    const now = Math.floor(Date.now() / 1000);
    const jwt = await signJwt(ed, { typ: 'JWT' }, keycloakClaims(now, { cnf: { jwk: ed.jwk } }));
    const t = await v.verifyToken(jwt, OAUTH_ACCESS_TOKEN, { audience: 'crm' });
    expect(t.cnf).toBeUndefined();
    expect(t.header.alg).toBe('EdDSA');
  });
});
