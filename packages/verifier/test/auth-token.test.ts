import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT, exportJWK } from 'jose';
import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, mintResourceToken, signJwt } from '@aauth-kit/core';
import { createVerifier, type VerifierOptions } from '@aauth-kit/verifier';
import { manualClock, tableFetch, tableResolver, unsignedJwt } from './helpers.js';

/**
 * A key pair that shares nothing with its generation job (Node 20 can deadlock when a GC finalises
 * the job while its key is exported; see packages/core/src/keys.ts).
 */
function freshKeyPair(type: 'rsa' | 'ec' | 'ed25519', options: { modulusLength?: number; namedCurve?: string } = {}): { privateKey: KeyObject; publicKey: KeyObject } {
  const der = generateKeyPairSync(type as 'rsa', {
    ...(options as { modulusLength: number }),
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  }).privateKey;
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}


const RESOURCE = 'https://resource.example';
const ISS = 'https://as.example/realms/aauth-test';
const issuerKey = generateKey({ kid: 'as-ed' });
const agentKey = generateKey();
const rsa = freshKeyPair('rsa', { modulusLength: 2048 });
const ec = freshKeyPair('ec', { namedCurve: 'P-256' });

async function issuerTable(): Promise<Record<string, unknown>> {
  return {
    [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: ISS, jwks_uri: `${ISS}/protocol/aauth/certs` },
    [`${ISS}/protocol/aauth/certs`]: {
      keys: [
        issuerKey.toPublishedJwk(),
        { ...(await exportJWK(rsa.publicKey)), kid: 'as-rsa', use: 'sig', alg: 'RS256' },
        { ...(await exportJWK(ec.publicKey)), kid: 'as-ec' },
        { ...(await exportJWK(rsa.publicKey)), kid: 'as-rsa-enc', use: 'enc' },
      ],
    },
  };
}

function claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const iat = Math.floor(Date.now() / 1000);
  return { iss: ISS, aud: RESOURCE, agent: 'https://agent.example', sub: 'mcp-user', scope: 'read', cnf: { jwk: agentKey.jwk }, iat, exp: iat + 300, ...overrides };
}

async function verifier(extra: Partial<VerifierOptions> = {}) {
  const fetch = tableFetch(await issuerTable());
  const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, discovery: { resolveHostname: tableResolver() }, ...extra });
  return { v, fetch };
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  expect((error as AAuthError).status).toBe(401);
  return (error as AAuthError).code;
}

const edToken = (c: Record<string, unknown> = claims(), header: Record<string, unknown> = {}) => signJwt(issuerKey, { typ: 'auth+jwt', ...header }, c);

describe('verifyAuthToken: accepted tokens (wire profile section 7)', () => {
  it('EdDSA from the issuer JWKS', async () => {
    const { v } = await verifier();
    const t = await v.verifyAuthToken(await edToken());
    expect(t).toMatchObject({ issuer: ISS, subject: 'mcp-user', agent: 'https://agent.example', audience: RESOURCE, scope: ['read'] });
    expect(t.cnf.thumbprint).toBe(agentKey.thumbprint);
  });

  it('RS256 as Keycloak signs them, and ES256', async () => {
    const { v } = await verifier();
    const rs = await new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', typ: 'auth+jwt', kid: 'as-rsa' }).sign(rsa.privateKey);
    await expect(v.verifyAuthToken(rs)).resolves.toMatchObject({ issuer: ISS });
    const es = await new SignJWT(claims()).setProtectedHeader({ alg: 'ES256', typ: 'auth+jwt', kid: 'as-ec' }).sign(ec.privateKey);
    await expect(v.verifyAuthToken(es)).resolves.toMatchObject({ issuer: ISS });
  });

  it('alg Ed25519 (section 11), but never the -11 typ aa-auth+jwt (draft-11 profile section 1: generations do not mix)', async () => {
    const { v } = await verifier();
    const t = await new SignJWT(claims()).setProtectedHeader({ alg: 'Ed25519', typ: 'auth+jwt', kid: 'as-ed' }).sign(issuerKey.privateKeyObject);
    await expect(v.verifyAuthToken(t)).resolves.toMatchObject({ scope: ['read'] });
    const aa = await new SignJWT(claims()).setProtectedHeader({ alg: 'Ed25519', typ: 'aa-auth+jwt', kid: 'as-ed' }).sign(issuerKey.privateKeyObject);
    await expect(v.verifyAuthToken(aa)).rejects.toMatchObject({ code: 'token_typ_invalid', status: 401 });
  });

  it('aud as an array containing this resource, and an explicit audience option', async () => {
    const { v } = await verifier();
    await expect(v.verifyAuthToken(await edToken(claims({ aud: ['https://x.example', RESOURCE] })))).resolves.toBeTruthy();
    await expect(v.verifyAuthToken(await edToken(claims({ aud: 'https://sca.example' })), { audience: 'https://sca.example' })).resolves.toBeTruthy();
  });

  it('an exchanged token keeps its act chain', async () => {
    const { v } = await verifier();
    const act = { agent: 'https://sca.example', sub: 'mcp-user', act: { agent: 'https://backend.example', sub: 'mcp-user' } };
    await expect(v.verifyAuthToken(await edToken(claims({ act })))).resolves.toMatchObject({ act });
  });

  it('a verified token is cached (keyed by the token itself) until exp: no second key lookup, and expiry still applies', async () => {
    const clock = manualClock();
    const { v, fetch } = await verifier({ now: clock.now });
    const jwt = await edToken(claims({ iat: clock.now(), exp: clock.now() + 100 }));
    await v.verifyAuthToken(jwt);
    const calls = fetch.calls.length;
    await v.verifyAuthToken(jwt);
    expect(fetch.calls.length).toBe(calls);
    expect(v.stats().tokens).toBe(1);
    clock.advance(106);
    expect(await code(v.verifyAuthToken(jwt))).toBe('token_expired');
  });
});

describe('verifyAuthToken: refused tokens, each with its own code', () => {
  const cases: Array<[string, () => Promise<string>, string]> = [
    ['not a JWT', async () => 'abc.def', 'token_malformed'],
    ['payload not JSON', async () => `${Buffer.from('{"alg":"EdDSA"}').toString('base64url')}.bm90IGpzb24.sig`, 'token_malformed'],
    ['larger than 16 KiB', async () => edToken(claims({ pad: 'x'.repeat(17_000) })), 'token_malformed'],
    ['typ resource+jwt (a resource token)', async () => mintResourceToken(issuerKey, { issuer: ISS, audience: RESOURCE, agent: 'a', agentJkt: 'b', scope: 'read' }), 'token_typ_invalid'],
    ['typ JWT (an access or ID token)', async () => edToken(claims(), { typ: 'JWT' }), 'token_typ_invalid'],
    ['no typ', async () => new SignJWT(claims()).setProtectedHeader({ alg: 'EdDSA', kid: 'as-ed' }).sign(issuerKey.privateKeyObject), 'token_typ_invalid'],
    ['alg none', async () => unsignedJwt({ alg: 'none', typ: 'auth+jwt' }, claims()), 'token_alg_not_allowed'],
    ['alg HS256 keyed with the issuer public key', async () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'auth+jwt', kid: 'as-ed' }).sign(Buffer.from(issuerKey.jwk.x)), 'token_alg_not_allowed'],
    ['alg PS256 (not in the allow-list)', async () => unsignedJwt({ alg: 'PS256', typ: 'auth+jwt' }, claims(), 'AAAA'), 'token_alg_not_allowed'],
    ['crit header', async () => unsignedJwt({ alg: 'EdDSA', typ: 'auth+jwt', crit: ['b64'], b64: false }, claims(), 'AAAA'), 'token_malformed'],
    ['no iss', async () => edToken(claims({ iss: undefined })), 'token_claim_invalid'],
    ['untrusted issuer', async () => edToken(claims({ iss: 'https://evil.example' })), 'token_issuer_untrusted'],
    ['forged signature', async () => `${(await edToken()).slice(0, -4)}AAAA`, 'token_signature_invalid'],
    ['signed by another key under the issuer kid', async () => signJwt(generateKey({ kid: 'as-ed' }), { typ: 'auth+jwt' }, claims()), 'token_signature_invalid'],
    ['unknown kid', async () => signJwt(generateKey({ kid: 'nope' }), { typ: 'auth+jwt' }, claims()), 'token_signature_invalid'],
    ['RS256 header with the Ed25519 kid', async () => unsignedJwt({ alg: 'RS256', typ: 'auth+jwt', kid: 'as-ed' }, claims(), 'AAAA'), 'token_signature_invalid'],
    ['the encryption key kid', async () => new SignJWT(claims()).setProtectedHeader({ alg: 'RS256', typ: 'auth+jwt', kid: 'as-rsa-enc' }).sign(rsa.privateKey), 'token_signature_invalid'],
    ['expired', async () => edToken(claims({ iat: 1000, exp: 1300 })), 'token_expired'],
    ['no exp', async () => edToken(claims({ exp: undefined })), 'token_claim_invalid'],
    ['nbf in the future', async () => edToken(claims({ nbf: Math.floor(Date.now() / 1000) + 600 })), 'token_not_yet_valid'],
    ['iat in the future', async () => edToken(claims({ iat: Math.floor(Date.now() / 1000) + 600 })), 'token_not_yet_valid'],
    ['aud of another resource', async () => edToken(claims({ aud: 'https://other.example' })), 'token_audience_invalid'],
    ['aud with a trailing slash', async () => edToken(claims({ aud: `${RESOURCE}/` })), 'token_audience_invalid'],
    ['no aud', async () => edToken(claims({ aud: undefined })), 'token_audience_invalid'],
    ['no cnf', async () => edToken(claims({ cnf: undefined })), 'token_cnf_missing'],
    ['cnf without jwk', async () => edToken(claims({ cnf: { jkt: agentKey.thumbprint } })), 'token_cnf_missing'],
    ['cnf.jwk not a key', async () => edToken(claims({ cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: 'short' } } })), 'token_claim_invalid'],
    ['cnf.jwk an RSA key', async () => edToken(claims({ cnf: { jwk: await exportJWK(rsa.publicKey) } })), 'token_claim_invalid'],
    ['cnf.jwk with a private member', async () => edToken(claims({ cnf: { jwk: agentKey.toPrivateJwk() } })), 'token_claim_invalid'],
    ['scope not a string', async () => edToken(claims({ scope: ['read'] })), 'token_claim_invalid'],
    ['agent not a string', async () => edToken(claims({ agent: 7 })), 'token_claim_invalid'],
    ['act not an object', async () => edToken(claims({ act: 'backend' })), 'token_claim_invalid'],
    ['act nested too deep', async () => {
      let act: Record<string, unknown> = { agent: 'https://a.example' };
      for (let i = 0; i < 40; i++) act = { agent: 'https://a.example', act };
      return edToken(claims({ act }));
    }, 'token_claim_invalid'],
  ];
  for (const [name, make, expected] of cases) {
    it(`${name} -> ${expected}`, async () => {
      const { v } = await verifier();
      expect(await code(v.verifyAuthToken(await make()))).toBe(expected);
      expect(v.stats().tokens).toBe(0);
    });
  }

  it('an untrusted issuer is refused before any fetch', async () => {
    const { v, fetch } = await verifier();
    await code(v.verifyAuthToken(await edToken(claims({ iss: 'https://evil.example' }))));
    expect(fetch.calls).toEqual([]);
  });

  it('the leeway accepts a token that expired a moment ago', async () => {
    const now = Math.floor(Date.now() / 1000);
    const { v } = await verifier({ leeway: 5, now: () => now });
    await expect(v.verifyAuthToken(await edToken(claims({ iat: now - 300, exp: now - 3 })))).resolves.toBeTruthy();
    expect(await code(v.verifyAuthToken(await edToken(claims({ iat: now - 300, exp: now - 6 }))))).toBe('token_expired');
  });

  it('leeway is the name core uses; tokenLeeway is its deprecated alias, and 0 is allowed', async () => {
    const now = Math.floor(Date.now() / 1000);
    const late = claims({ iat: now - 300, exp: now - 20 });
    for (const options of [{ leeway: 30 }, { tokenLeeway: 30 }, { leeway: 30, tokenLeeway: 30 }]) {
      const { v } = await verifier({ ...options, now: () => now });
      await expect(v.verifyAuthToken(await edToken(late)), JSON.stringify(options)).resolves.toBeTruthy();
    }
    const { v: strict } = await verifier({ leeway: 0, now: () => now });
    expect(await code(strict.verifyAuthToken(await edToken(claims({ iat: now - 300, exp: now - 1 }))))).toBe('token_expired');
  });

  it('algorithms narrows what is accepted', async () => {
    const { v } = await verifier({ algorithms: ['RS256'] });
    expect(await code(v.verifyAuthToken(await edToken()))).toBe('token_alg_not_allowed');
  });

  it('an issuer whose keys cannot be fetched gives token_signature_invalid', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch: tableFetch({}), discovery: { resolveHostname: tableResolver() } });
    expect(await code(v.verifyAuthToken(await edToken()))).toBe('token_signature_invalid');
  });

  it('localIssuerKeys verify the embedded server own tokens without a fetch', async () => {
    const fetch = tableFetch({});
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, localIssuerKeys: { [ISS]: { keys: [issuerKey.toPublishedJwk()] } } });
    await expect(v.verifyAuthToken(await edToken())).resolves.toBeTruthy();
    expect(fetch.calls).toEqual([]);
  });
});
