import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AUTH_TOKEN, generateKey } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { describe, expect, it } from 'vitest';
import { createAuthServer, createTenantAuthServer } from '../src/index.js';
import { loadRealm } from '../src/load-realm.js';
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
