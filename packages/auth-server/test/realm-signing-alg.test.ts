import { createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_TOKEN, generateKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthServer, createTenantAuthServer } from '../src/index.js';
import { loadRealm } from '../src/load-realm.js';
import { loadRealmKey } from '../src/lib/realm-key.js';
import { signCompactJws } from '@aauth-kit/core/internal';
import { signedFetch, startAuthServer, startParty, testRealm } from '../../../test/fixtures/auth-server.js';

const ATTRIBUTE = 'aauth.token.signing.alg';
const KTY = { RS256: 'RSA', EdDSA: 'OKP', ES256: 'EC' } as const;

describe(`realm attribute ${ATTRIBUTE}`, () => {
  it('is read as the realm signing algorithm, undefined when absent, refused when unknown', () => {
    expect(loadRealm(testRealm()).signingAlgorithm).toBeUndefined();
    for (const alg of ['RS256', 'EdDSA', 'ES256'] as const) expect(loadRealm(testRealm({ [ATTRIBUTE]: alg })).signingAlgorithm).toBe(alg);
    for (const bad of ['HS256', 'eddsa', 'none']) {
      expect(() => loadRealm(testRealm({ [ATTRIBUTE]: bad }))).toThrow(`options.realm.attributes["${ATTRIBUTE}"] must be one of RS256, EdDSA, ES256 (got "${bad}")`);
    }
  });

  it('chooses the realm key; the signingAlgorithm option wins over it; the default stays RS256', () => {
    const keyOf = (realm: object, extra: Record<string, unknown> = {}) =>
      createAuthServer({ realm, baseUrl: 'http://localhost:8080', onWarning: () => {}, ...extra }).jwks().keys[0] as Record<string, string>;
    expect(keyOf(testRealm()).kty).toBe('RSA');
    expect(keyOf(testRealm({ [ATTRIBUTE]: 'EdDSA' }))).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig' });
    expect(keyOf(testRealm({ [ATTRIBUTE]: 'ES256' }))).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    expect(keyOf(testRealm({ [ATTRIBUTE]: 'EdDSA' }), { signingAlgorithm: 'RS256' }).kty).toBe('RSA');
  });

  it('a tenant realm gets its key from the attribute', () => {
    const tenants = createTenantAuthServer({ baseUrl: 'http://localhost:8080', onWarning: () => {}, realms: [testRealm({ [ATTRIBUTE]: 'EdDSA' })] });
    expect((tenants.realm('aauth-test')!.jwks().keys[0] as Record<string, string>).kty).toBe('OKP');
  });

  it('a reload that changes a served realm\'s algorithm is refused, and the realm keeps its key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-alg-'));
    try {
      const file = join(dir, 'aauth-test.json');
      writeFileSync(file, JSON.stringify(testRealm({ [ATTRIBUTE]: 'EdDSA' })));
      const tenants = createTenantAuthServer({ baseUrl: 'http://localhost:8080', onWarning: () => {}, realmsDir: dir });
      const before = tenants.realm('aauth-test')!.jwks();
      writeFileSync(file, JSON.stringify(testRealm({ [ATTRIBUTE]: 'RS256' })));
      await expect(tenants.reload()).rejects.toThrow('realm aauth-test now asks for RS256 auth tokens (aauth.token.signing.alg), but its kept key signs EdDSA');
      expect(tenants.realm('aauth-test')!.jwks()).toEqual(before);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.each(['EdDSA', 'ES256', 'RS256'] as const)('%s: the exchange issues tokens that verify with the kit verifier and with jose, from the served JWKS', async (alg) => {
    const [as, backend, sca, maa] = await Promise.all([startAuthServer({ realm: testRealm({ [ATTRIBUTE]: alg }) }), startParty('backend'), startParty('sca'), startParty('maa')]);
    try {
      // The upstream token (backend -> SCA), then an exchange by SCA for MAA: both signed by the realm key.
      const rt1 = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: as.issuer });
      const first = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: { scheme: 'jwks_uri', id: backend.identity, kid: backend.key.kid }, json: { resource_token: rt1 } });
      expect(first.status).toBe(200);
      const upstream = String(first.body.auth_token);
      const rt2 = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'data:read', audience: as.issuer });
      const exchanged = await signedFetch(as.tokenEndpoint, { key: sca.key, signatureKey: { scheme: 'jwks_uri', id: sca.identity, kid: sca.key.kid }, json: { resource_token: rt2, upstream_token: upstream } });
      expect(exchanged.status).toBe(200);
      const token = String(exchanged.body.auth_token);
      expect(decodeProtectedHeader(token)).toMatchObject({ alg, typ: 'auth+jwt' });

      const jwks = (await (await fetch(`${as.issuer}/protocol/openid-connect/certs`)).json()) as { keys: Array<Record<string, string>> };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]!.kty).toBe(KTY[alg]);
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks as never), { issuer: as.issuer, audience: maa.identity, algorithms: [alg], typ: 'auth+jwt' });
      expect(payload).toMatchObject({ agent: sca.identity, act: { agent: backend.identity } });

      const verifier = createVerifier({ identity: maa.identity, trustedIssuers: [as.issuer], localIssuerKeys: { [as.issuer]: jwks } });
      const verified = await verifier.verifyToken(token, AUTH_TOKEN);
      expect(verified).toMatchObject({ issuer: as.issuer, agent: sca.identity, scope: ['data:read'] });
      // And a token that is not the realm's is refused by both.
      const forged = `${token.slice(0, token.lastIndexOf('.'))}.${Buffer.from(generateKey().sign(Buffer.from('x'))).toString('base64url')}`;
      await expect(jwtVerify(forged, createLocalJWKSet(jwks as never))).rejects.toThrow();
      await expect(verifier.verifyToken(forged, AUTH_TOKEN)).rejects.toMatchObject({ code: 'token_signature_invalid' });
    } finally {
      await Promise.all([as.close(), backend.close(), sca.close(), maa.close()]);
    }
  });
});

describe('the realm key signer', () => {
  const claims = { iss: 'https://as.example/realms/r', aud: 'https://r.example', agent: 'https://a.example', iat: 1_700_000_000, exp: 1_700_000_300, jti: 'j' };

  it.each(['EdDSA', 'RS256'] as const)('%s: the same JWS bytes as core signCompactJws (header {alg, typ, kid}), for each typ', async (alg) => {
    // Made in a key file, so that the test can read the private key the server signs with.
    const dir = mkdtempSync(join(tmpdir(), 'aauth-rk-'));
    const file = join(dir, 'k.json');
    const key = loadRealmKey(alg, file);
    const { kid: _kid, alg: _alg, ...jwk } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    rmSync(dir, { recursive: true, force: true });
    const privateKey = createPrivateKey({ key: jwk, format: 'jwk' });
    for (const typ of ['auth+jwt', 'at+jwt', 'auth+jwt']) {
      expect(await key.sign(typ, claims)).toBe(signCompactJws({ alg, typ, kid: key.kid }, claims, alg, privateKey));
    }
  });

  it('ES256: verifies with jose against the published key', async () => {
    const key = loadRealmKey('ES256', undefined);
    const jwt = await key.sign('auth+jwt', claims);
    const { protectedHeader } = await jwtVerify(jwt, createLocalJWKSet({ keys: [key.publicJwk] } as never), { currentDate: new Date(1_700_000_100_000) });
    expect(protectedHeader).toEqual({ alg: 'ES256', typ: 'auth+jwt', kid: key.kid });
  });

  it('a key core refuses to sign with (RSA under 2048 bits) refuses every token, as before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-weak-'));
    try {
      const file = join(dir, 'weak.json');
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'jwk' });
      writeFileSync(file, JSON.stringify(weak));
      const key = loadRealmKey('RS256', file);
      await expect(key.sign('auth+jwt', claims)).rejects.toThrow('RS256 keys must be 2048 bits or larger');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
