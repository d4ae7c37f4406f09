import { createHmac, createPublicKey } from 'node:crypto';
import { ACCESS_TOKEN, AAuthError } from '@aauth-kit/core';
import { createVerifier, OAUTH_ACCESS_TOKEN, type Verifier } from '@aauth-kit/verifier';
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from '../../test/fixtures/auth-server.js';
import { USER_ID } from '../../test/fixtures/oauth.js';
import { clientCredentialsToken, credentials, keycloakAdminGet, keycloakIssuer, keycloakUserTokens, postToken, tamper } from './fixtures.js';

/**
 * Issue 14 section 1: the kit's verifier verifies access tokens that a real Keycloak signed (RS256,
 * header typ "JWT"), with the keys of Keycloak's real JWKS, found through discovery
 * (openid-configuration -> jwks_uri), expecting the issuer and an audience; and it refuses
 * tampered, expired, wrong-audience, wrong-issuer and algorithm-confusion tokens, each with its
 * code. The profile is the verifier's OAUTH_ACCESS_TOKEN (plain OAuth access tokens).
 */

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

let issuer = '';
let user = '';
let idToken = '';
let refreshToken = '';
let service = '';
let exchanged = '';
let serviceAccountId = '';
let jwks: { keys: Array<Record<string, unknown>> } = { keys: [] };

/** The URLs a verifier fetched. */
function recordingFetch(): typeof fetch & { calls: string[] } {
  const calls: string[] = [];
  const f = ((input: string | URL | Request, init?: RequestInit) => {
    calls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return fetch(input, init);
  }) as typeof fetch & { calls: string[] };
  f.calls = calls;
  return f;
}

/** A verifier of this realm's tokens: the issuer trusted, discovery over loopback http (local names are allowed by default). */
function keycloakVerifier(options: { now?: () => number; trustedIssuers?: string[] } = {}): { verifier: Verifier; fetch: ReturnType<typeof recordingFetch> } {
  const f = recordingFetch();
  // `identity` is the default audience of AAuth tokens; Keycloak's access tokens name client ids, passed per call.
  const verifier = createVerifier({ identity: 'http://crm.localhost', trustedIssuers: options.trustedIssuers ?? [issuer], fetch: f, ...(options.now ? { now: options.now } : {}) });
  return { verifier, fetch: f };
}

async function refusal(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

beforeAll(async () => {
  issuer = keycloakIssuer();
  const tokens = await keycloakUserTokens(issuer, 'openid supply-chain:optimize crm:read');
  user = tokens.access_token;
  idToken = tokens.id_token ?? '';
  refreshToken = tokens.refresh_token ?? '';
  service = await clientCredentialsToken(issuer, 'supply-chain-agent', 'crm:read');
  const exchange = await postToken(
    issuer,
    { grant_type: TOKEN_EXCHANGE, subject_token: user, subject_token_type: ACCESS_TOKEN_TYPE, audience: 'crm', scope: 'crm:read' },
    { basic: credentials('supply-chain-agent') },
  );
  expect(exchange.status).toBe(200);
  exchanged = String(exchange.body.access_token);
  const [client] = (await keycloakAdminGet('/clients?clientId=supply-chain-agent')) as Array<{ id: string }>;
  serviceAccountId = ((await keycloakAdminGet(`/clients/${client!.id}/service-account-user`)) as { id: string }).id;
  jwks = (await (await fetch(`${issuer}/protocol/openid-connect/certs`)).json()) as typeof jwks;
});

describe("the kit's verifier on tokens a real Keycloak signed", () => {
  it("verifies mcp-user's token (password grant at supply-chain-ui) with the key from openid-configuration -> jwks_uri", async () => {
    const { verifier, fetch } = keycloakVerifier();
    const t = await verifier.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'supply-chain-agent' });
    expect(t.header).toMatchObject({ alg: 'RS256', typ: 'JWT' });
    // The key is the realm's RS256 signing key of its real JWKS.
    expect(jwks.keys.filter((k) => k.kid === t.header.kid).map((k) => [k.kty, k.alg, k.use])).toEqual([['RSA', 'RS256', 'sig']]);
    expect(t.issuer).toBe(issuer);
    expect(t.subject).toBe(USER_ID);
    // The audience mappers of the requested client scopes: supply-chain:optimize -> supply-chain-agent, crm:read -> crm.
    expect([...(t.audience as string[])].sort()).toEqual(['crm', 'supply-chain-agent']);
    expect(t.scope).toEqual(expect.arrayContaining(['openid', 'supply-chain:optimize', 'crm:read']));
    expect(t.scope).not.toContain('crm:write');
    expect(t.claims).toMatchObject({ azp: 'supply-chain-ui', typ: 'Bearer', preferred_username: 'mcp-user' });
    expect(t.cnf).toBeUndefined();
    // Discovery: no AAuth issuer metadata (no extension), so the OpenID Provider metadata's jwks_uri.
    const openIdConfig = (await (await globalThis.fetch(`${issuer}/.well-known/openid-configuration`)).json()) as { issuer: string; jwks_uri: string };
    expect(openIdConfig.issuer).toBe(issuer);
    expect(fetch.calls).toEqual([`${issuer}/.well-known/aauth-issuer.json`, `${issuer}/.well-known/aauth-issuer`, `${issuer}/.well-known/openid-configuration`, openIdConfig.jwks_uri]);
    // The same token for its other audience; no second fetch (the key and the token are cached).
    await expect(verifier.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'crm' })).resolves.toMatchObject({ subject: USER_ID });
    expect(fetch.calls).toHaveLength(4);
  });

  it("verifies the supply-chain agent's own token (client_credentials, crm:read): sub is its service-account user", async () => {
    const { verifier } = keycloakVerifier();
    const t = await verifier.verifyToken(service, OAUTH_ACCESS_TOKEN, { audience: 'crm' });
    expect({ iss: t.issuer, sub: t.subject, aud: t.audience, scope: t.scope }).toEqual({ iss: issuer, sub: serviceAccountId, aud: 'crm', scope: ['crm:read'] });
    expect(t.claims).toMatchObject({ azp: 'supply-chain-agent', client_id: 'supply-chain-agent', typ: 'Bearer' });
  });

  it("verifies the token Keycloak's standard token exchange issued for the CRM: the user's, narrowed to crm:read", async () => {
    const { verifier } = keycloakVerifier();
    const t = await verifier.verifyToken(exchanged, OAUTH_ACCESS_TOKEN, { audience: 'crm' });
    expect({ iss: t.issuer, sub: t.subject, aud: t.audience, scope: t.scope }).toEqual({ iss: issuer, sub: USER_ID, aud: 'crm', scope: ['crm:read'] });
    expect(t.claims.azp).toBe('supply-chain-agent');
  });

  it('refuses a tampered payload: token_signature_invalid', async () => {
    const { verifier } = keycloakVerifier();
    const widened = tamper(exchanged, { claims: { scope: 'crm:read crm:write' } });
    const e = await refusal(verifier.verifyToken(widened, OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
    expect([e.code, e.status, e.error]).toEqual(['token_signature_invalid', 401, 'invalid_auth_token']);
    expect(e.message.startsWith(`OAuth access token: the signature does not verify with the key kid "`)).toBe(true);
    expect(e.message).toContain(`" of ${issuer} (its JWKS is refetched on a failing signature at most once a minute`);
    const otherUser = tamper(exchanged, { claims: { sub: serviceAccountId } });
    expect((await refusal(verifier.verifyToken(otherUser, OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_signature_invalid');
  });

  it('refuses a header kid that is not in the JWKS: token_signature_invalid, caused by key_not_found', async () => {
    const { verifier, fetch } = keycloakVerifier();
    const e = await refusal(verifier.verifyToken(tamper(user, { header: { kid: 'rotated-away' } }), OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
    expect(e.code).toBe('token_signature_invalid');
    expect(e.cause).toBeInstanceOf(AAuthError);
    expect((e.cause as AAuthError).code).toBe('key_not_found');
    expect(e.message).toContain('no key with kid "rotated-away"');
    expect(fetch.calls.at(-1)).toBe(`${issuer}/protocol/openid-connect/certs`);
  });

  it("refuses it once expired, by the verifier's clock: token_expired", async () => {
    const exp = decodeJwt(user).claims.exp as number;
    const { verifier } = keycloakVerifier({ now: () => exp + 60 });
    const e = await refusal(verifier.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
    expect([e.code, e.message]).toEqual(['token_expired', 'OAuth access token: expired 60 s ago']);
    // Within the leeway (5 s) it still passes.
    const { verifier: lenient } = keycloakVerifier({ now: () => exp + 4 });
    await expect(lenient.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'crm' })).resolves.toMatchObject({ subject: USER_ID });
  });

  it('refuses another audience: token_audience_invalid', async () => {
    const { verifier } = keycloakVerifier();
    const e = await refusal(verifier.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'market-analysis-agent' }));
    expect(e.code).toBe('token_audience_invalid');
    // The exchanged token is for the CRM only, not for the agent that asked for it.
    expect((await refusal(verifier.verifyToken(exchanged, OAUTH_ACCESS_TOKEN, { audience: 'supply-chain-agent' }))).code).toBe('token_audience_invalid');
  });

  it('refuses an issuer it does not trust, before fetching anything: token_issuer_untrusted', async () => {
    const { verifier, fetch } = keycloakVerifier({ trustedIssuers: [`${new URL(issuer).origin}/realms/master`] });
    expect((await refusal(verifier.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_issuer_untrusted');
    // Trusted by the verifier, but not what this call expects.
    const { verifier: trusting } = keycloakVerifier();
    expect((await refusal(trusting.verifyToken(user, OAUTH_ACCESS_TOKEN, { audience: 'crm', issuers: ['https://sso.example/realms/aauth-test'] }))).code).toBe('token_issuer_untrusted');
    expect(fetch.calls).toEqual([]);
  });

  it('refuses alg none and HS256 keyed with the public RSA key (algorithm confusion): token_alg_not_allowed, before any fetch', async () => {
    const { verifier, fetch } = keycloakVerifier();
    const { header, claims } = decodeJwt(user);
    const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const unsecured = `${enc({ ...header, alg: 'none' })}.${enc(claims)}.`;
    const none = await refusal(verifier.verifyToken(unsecured, OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
    expect([none.code, none.message]).toEqual(['token_alg_not_allowed', 'OAuth access token: alg "none" is not allowed']);
    // The realm's public key as the HMAC secret, in the two forms a confused verifier might use.
    const jwk = jwks.keys.find((k) => k.kid === header.kid)!;
    const pem = createPublicKey({ key: jwk as never, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();
    for (const secret of [pem, JSON.stringify(jwk)]) {
      const input = `${enc({ ...header, alg: 'HS256' })}.${enc(claims)}`;
      const hs256 = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
      const e = await refusal(verifier.verifyToken(hs256, OAUTH_ACCESS_TOKEN, { audience: 'crm' }));
      expect([e.code, e.message]).toEqual(['token_alg_not_allowed', 'OAuth access token: alg "HS256" is not allowed']);
    }
    expect(fetch.calls).toEqual([]);
  });

  it("refuses Keycloak's ID token (typ claim ID) and refresh token (HS512) in an access token's place", async () => {
    const { verifier } = keycloakVerifier();
    expect(decodeJwt(idToken).header.typ).toBe('JWT');
    const id = await refusal(verifier.verifyToken(idToken, OAUTH_ACCESS_TOKEN, { audience: 'supply-chain-ui' }));
    expect([id.code, id.message]).toEqual(['token_typ_invalid', 'OAuth access token: typ claim "ID" is not "Bearer" (an ID or refresh token is not an access token)']);
    expect(decodeJwt(refreshToken).header.alg).toBe('HS512');
    expect((await refusal(verifier.verifyToken(refreshToken, OAUTH_ACCESS_TOKEN, { audience: null }))).code).toBe('token_alg_not_allowed');
  });

  it("the RFC 9068 profile (ACCESS_TOKEN, typ at+jwt) does not take Keycloak's default typ JWT; the list of both does", async () => {
    const { verifier } = keycloakVerifier();
    expect((await refusal(verifier.verifyToken(user, ACCESS_TOKEN, { audience: 'crm' }))).code).toBe('token_typ_invalid');
    await expect(verifier.verifyToken(user, [ACCESS_TOKEN, OAUTH_ACCESS_TOKEN], { audience: 'crm' })).resolves.toMatchObject({ subject: USER_ID });
  });
});
