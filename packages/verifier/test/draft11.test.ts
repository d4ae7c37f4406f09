import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, mintAgentToken, mintAuthToken11, mintPersonToken, type HttpRequest, type SigningKey } from '@aauth-kit/core';
import { algOf11, serializeSignatureKey } from '@aauth-kit/core/internal';
import { createVerifier, requestGeneration, type VerifierOptions } from '@aauth-kit/verifier';
import { SignJWT } from 'jose';
import { sign, tableFetch, tableResolver } from './helpers.js';

// -11 at the verifier (draft-11 profile sections 1-4 and 6), with real https identities: documents
// come from an injected fetch (no TLS, no network), names resolve through a table.
const RESOURCE = 'https://api.example';
const AP = 'https://ap.example';
const PS = 'https://ps.example';
const apKey = generateKey({ kid: 'ap-1' });
const psKey = generateKey({ kid: 'ps-1' });
const agentKey = generateKey({ kid: 'agent-1' });
const withAlg = (k: SigningKey) => ({ ...k.toPublishedJwk(), alg: algOf11(k.jwk) });

function documents(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    [`${AP}/.well-known/aauth-agent.json`]: { issuer: AP, jwks_uri: `${AP}/jwks.json` },
    [`${AP}/jwks.json`]: { keys: [withAlg(apKey)] },
    [`${PS}/.well-known/aauth-person.json`]: { issuer: PS, jwks_uri: `${PS}/jwks.json`, auth_token_endpoint: `${PS}/token`, person_token_endpoint: `${PS}/person` },
    [`${PS}/jwks.json`]: { keys: [withAlg(psKey)] },
    ...extra,
  };
}

function verifier(options: Partial<VerifierOptions> = {}, extra: Record<string, unknown> = {}) {
  const fetch = tableFetch(documents(extra));
  const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() }, draft11: { personServers: [PS] }, ...options });
  return { v, fetch };
}

const get = (path = '/data'): HttpRequest & { headers: Record<string, string> } => ({ method: 'GET', url: `${RESOURCE}${path}`, headers: {} });
const jwtKey = (jwt: string) => serializeSignatureKey({ scheme: 'jwt', jwt }, { form: 'dictionary' });
const agentToken = (o: { ps?: string } = {}) => mintAgentToken(apKey, { issuer: AP, sub: 'aauth:bot@ap.example', agentKey, ...o });

async function rejects(promise: Promise<unknown>, code: string): Promise<AAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  expect((error as AAuthError).code).toBe(code);
  return error as AAuthError;
}

describe('verify(): the three -11 tokens under sig=jwt', () => {
  it('an agent token: generation draft-11, the agent identifier, its key from {iss}/.well-known/aauth-agent.json', async () => {
    const { v, fetch } = verifier();
    const jwt = await agentToken({ ps: PS });
    const who = await v.verify(sign(get(), agentKey, jwtKey(jwt)));
    expect(who).toMatchObject({ scheme: 'jwt', generation: 'draft-11', agent: 'aauth:bot@ap.example', thumbprint: agentKey.thumbprint });
    expect(who.presented).toMatchObject({ kind: 'agent', token: { issuer: AP, subject: 'aauth:bot@ap.example', claims: { ps: PS, dwk: 'aauth-agent.json' } } });
    expect(who.token).toBeUndefined();
    expect(fetch.calls).toEqual([`${AP}/.well-known/aauth-agent.json`, `${AP}/jwks.json`]);
  });

  it('a person token and an auth token: pseudonymous agent, the person by (iss, sub)', async () => {
    const { v } = verifier();
    const person = await mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey });
    await expect(v.verify(sign(get(), agentKey, jwtKey(person)))).resolves.toMatchObject({
      agent: `pseudonymous:${agentKey.thumbprint}`,
      presented: { kind: 'person', token: { issuer: PS, subject: 'p-1' } },
    });
    const auth = await mintAuthToken11(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey, scope: 'a b' });
    await expect(v.verify(sign(get(), agentKey, jwtKey(auth)))).resolves.toMatchObject({ presented: { kind: 'auth', token: { scope: ['a', 'b'], subject: 'p-1' } } });
  });

  it('an ES256 agent key (cnf.jwk alg ES256) signs as well as an Ed25519 one', async () => {
    const { v } = verifier();
    const ec = generateKey({ alg: 'ES256', kid: 'ec-agent' });
    const person = await mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-2', agentKey: ec });
    expect(JSON.parse(Buffer.from(person.split('.')[1]!, 'base64url').toString()).cnf.jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256' });
    await expect(v.verify(sign(get(), ec, jwtKey(person)))).resolves.toMatchObject({ thumbprint: ec.thumbprint, presented: { kind: 'person' } });
  });

  it('one token cache for both generations (maxTokenEntries bounds both)', async () => {
    const { v } = verifier({ maxTokenEntries: 2 });
    for (let i = 0; i < 4; i++) {
      const person = await mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: `p-${i}`, agentKey });
      await v.verify(sign(get(), agentKey, jwtKey(person)));
    }
    expect(v.stats().tokens).toBe(2);
  });

  it('a -11 token at a verifier that speaks only the Keycloak profile says so (before: "typ aa-auth+jwt is not auth+jwt")', async () => {
    const { v } = verifier({ generations: ['keycloak'], draft11: {} });
    const auth = await mintAuthToken11(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey, scope: 'a' });
    const e = await rejects(v.verify(sign(get(), agentKey, jwtKey(auth))), 'token_typ_invalid');
    expect(e.message).toBe(
      'Token: typ "aa-auth+jwt" is an AAuth -11 token, and this verifier speaks only the Keycloak profile (options.generations). ' +
        'A resource speaks -11 when its identity is https://host (no path), or a loopback http identity with draft11.allowLoopback',
    );
  });

  it('an auth token from a person server not trusted for auth tokens is token_issuer_untrusted (-09 invalid_jwt)', async () => {
    const { v } = verifier({ draft11: {} });
    const auth = await mintAuthToken11(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey, scope: 'a' });
    const e = await rejects(v.verify(sign(get(), agentKey, jwtKey(auth))), 'token_issuer_untrusted');
    // The message says where the list comes from and what to set (before: only "is not trusted").
    expect(e.message).toBe(
      `Auth token: issuer "${PS}" is not trusted: auth tokens are taken from draft11.authIssuers (now: none; by default the trusted issuers and a draft11.personServers list, ` +
        "'any' adds none): list this person or access server in draft11.personServers or draft11.authIssuers",
    );
    // trustedIssuers (the Keycloak auth server list) is the default for -11 auth tokens too.
    const trusted = verifier({ trustedIssuers: [PS], draft11: {} }).v;
    await expect(trusted.verify(sign(get(), agentKey, jwtKey(auth)))).resolves.toMatchObject({ presented: { kind: 'auth' } });
  });

  it('agentProviders narrows whose agent tokens count', async () => {
    const { v } = verifier({ draft11: { agentProviders: ['https://other.example'] } });
    await rejects(v.verify(sign(get(), agentKey, jwtKey(await agentToken()))), 'token_issuer_untrusted');
  });

  it('the loopback relaxation is off by default: an http://127.0.0.1 issuer is refused, then accepted with allowLoopback', async () => {
    const LOCAL = 'http://127.0.0.1:7001';
    const extra = {
      [`${LOCAL}/.well-known/aauth-agent.json`]: { issuer: LOCAL, jwks_uri: `${LOCAL}/jwks.json` },
      [`${LOCAL}/jwks.json`]: { keys: [withAlg(apKey)] },
    };
    const jwt = await mintAgentToken(apKey, { issuer: LOCAL, sub: 'aauth:bot@127.0.0.1:7001', agentKey, allowLoopback: true });
    const strict = verifier({}, extra);
    const e = await rejects(strict.v.verify(sign(get(), agentKey, jwtKey(jwt))), 'token_claim_invalid');
    expect(e.message).toMatch(/iss must use https/);
    expect(strict.fetch.calls).toEqual([]);
    const relaxed = verifier({ draft11: { allowLoopback: true } }, extra);
    await expect(relaxed.v.verify(sign(get(), agentKey, jwtKey(jwt)))).resolves.toMatchObject({ agent: 'aauth:bot@127.0.0.1:7001' });
  });

  it('a revocation hook is asked with (iss, jti): revoked is token_revoked (-09 revoked_jwt); a failing hook is a 503 revocation_store_failed, not the caller\'s fault', async () => {
    const asked: string[] = [];
    const jwt = await agentToken();
    const jti = JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()).jti as string;
    const { v } = verifier({ revocation: { isRevoked: (iss, id) => (asked.push(`${iss} ${id}`), id === jti) } });
    const e = await rejects(v.verify(sign(get(), agentKey, jwtKey(jwt))), 'token_revoked');
    expect(e.status).toBe(401);
    expect(asked).toEqual([`${AP} ${jti}`]);
    const failing = verifier({ revocation: { isRevoked: () => Promise.reject(new Error('redis down')) } }).v;
    // Issue 17: a failing store is a bounded 503 with Retry-After, as a failing replay store is.
    const f = await rejects(failing.verify(sign(get(), agentKey, jwtKey(await agentToken()))), 'revocation_store_failed');
    expect(f.status).toBe(503);
    expect(f.headers['Retry-After']).toBe('1');
  });
});

describe('-11 key discovery: issuer check and keys with alg', () => {
  it('issuer missing or not the token iss: issuer_missing / issuer_mismatch, before any JWKS fetch', async () => {
    const jwt = await agentToken();
    const missing = verifier({}, { [`${AP}/.well-known/aauth-agent.json`]: { jwks_uri: `${AP}/jwks.json` } });
    await rejects(missing.v.verify(sign(get(), agentKey, jwtKey(jwt))), 'issuer_missing');
    const other = verifier({}, { [`${AP}/.well-known/aauth-agent.json`]: { issuer: `${AP}/`, jwks_uri: `${AP}/jwks.json` } });
    await rejects(other.v.verify(sign(get(), agentKey, jwtKey(jwt))), 'issuer_mismatch');
    expect(other.fetch.calls).not.toContain(`${AP}/jwks.json`);
  });

  it('the key selected by kid must carry alg (key_alg_missing), agree with kty/crv, and be the token alg; other members may be anything', async () => {
    const jwt = await agentToken();
    const noAlg = verifier({}, { [`${AP}/jwks.json`]: { keys: [apKey.toPublishedJwk()] } });
    await rejects(noAlg.v.verify(sign(get(), agentKey, jwtKey(jwt))), 'key_alg_missing');
    const wrong = verifier({}, { [`${AP}/jwks.json`]: { keys: [{ ...apKey.toPublishedJwk(), alg: 'ES256' }] } });
    await rejects(wrong.v.verify(sign(get(), agentKey, jwtKey(jwt))), 'key_alg_mismatch');
    // A post-quantum key beside it, which this verifier does not implement, does not stop the selection.
    const mixed = verifier({}, { [`${AP}/jwks.json`]: { keys: [{ kty: 'AKP', alg: 'ML-DSA-44', kid: 'pq', pub: 'AAAA' }, withAlg(apKey)] } });
    await expect(mixed.v.verify(sign(get(), agentKey, jwtKey(jwt)))).resolves.toMatchObject({ generation: 'draft-11' });
  });

  it('jwks_uri with dwk="aauth-agent.json": issuer names the id, the key carries alg', async () => {
    const ID = 'https://bot.example';
    const key = generateKey({ kid: 'b1' });
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: ID, dwk: 'aauth-agent.json', kid: 'b1' }, { form: 'dictionary' });
    const good = verifier({}, { [`${ID}/.well-known/aauth-agent.json`]: { issuer: ID, jwks_uri: `${ID}/jwks.json` }, [`${ID}/jwks.json`]: { keys: [withAlg(key)] } });
    await expect(good.v.verify(sign(get(), key, sk))).resolves.toMatchObject({ scheme: 'jwks_uri', generation: 'draft-11', agent: ID });
    const liar = verifier({}, { [`${ID}/.well-known/aauth-agent.json`]: { issuer: 'https://evil.example', jwks_uri: `${ID}/jwks.json` }, [`${ID}/jwks.json`]: { keys: [withAlg(key)] } });
    await rejects(liar.v.verify(sign(get(), key, sk)), 'issuer_mismatch');
    const bare = verifier({}, { [`${ID}/.well-known/aauth-agent.json`]: { issuer: ID, jwks_uri: `${ID}/jwks.json` }, [`${ID}/jwks.json`]: { keys: [key.toPublishedJwk()] } });
    await rejects(bare.v.verify(sign(get(), key, sk)), 'key_alg_missing');
    const none = verifier({}, { [`${ID}/.well-known/aauth-agent.json`]: { jwks_uri: `${ID}/jwks.json` } });
    await rejects(none.v.verify(sign(get(), key, sk)), 'issuer_missing');
  });

  it('hwk with alg is -11: Ed25519 and ES256 verify; EdDSA is unsupported_algorithm, a disagreeing alg key_alg_mismatch', async () => {
    const { v } = verifier();
    const hwk = (alg: string, k: SigningKey = agentKey) => serializeSignatureKey({ scheme: 'hwk', jwk: { ...k.jwk, alg } as never }, { form: 'dictionary' });
    await expect(v.verify(sign(get(), agentKey, hwk('Ed25519')))).resolves.toMatchObject({ scheme: 'hwk', generation: 'draft-11' });
    const ec = generateKey({ alg: 'ES256' });
    await expect(v.verify(sign(get(), ec, hwk('ES256', ec)))).resolves.toMatchObject({ generation: 'draft-11' });
    await rejects(v.verify(sign(get(), agentKey, hwk('EdDSA'))), 'unsupported_algorithm');
    await rejects(v.verify(sign(get(), agentKey, hwk('ES256'))), 'key_alg_mismatch');
    // Without alg (the Keycloak profile's hwk): today's answer.
    await expect(v.verify(sign(get(), agentKey))).resolves.toMatchObject({ generation: 'keycloak' });
  });
});

describe('generations (draft-11 profile section 1)', () => {
  it('a verifier configured to one generation refuses the other generation\'s tokens by typ', async () => {
    const eleven = await agentToken();
    const keycloakOnly = verifier({ generations: ['keycloak'] }).v;
    await rejects(keycloakOnly.verify(sign(get(), agentKey, jwtKey(eleven))), 'token_typ_invalid');
    const onlyEleven = verifier({ generations: ['draft-11'] }).v;
    const kc = await new SignJWT({ iss: PS, aud: RESOURCE, exp: Math.floor(Date.now() / 1000) + 60, cnf: { jwk: agentKey.jwk } }).setProtectedHeader({ alg: 'EdDSA', typ: 'auth+jwt', kid: 'ps-1' }).sign(psKey.privateKeyObject);
    await rejects(onlyEleven.verify(sign(get(), agentKey, jwtKey(kc))), 'token_typ_invalid');
    // An hwk without alg, read as -11, lacks its algorithm.
    await rejects(onlyEleven.verify(sign(get(), agentKey)), 'key_alg_missing');
  });

  it('requestGeneration reads the Signature-Key only (pure, no key, no fetch)', async () => {
    const h = (sk: string) => ({ headers: { 'signature-key': sk } });
    expect(requestGeneration(h(jwtKey(await agentToken())))).toBe('draft-11');
    expect(requestGeneration(h(serializeSignatureKey({ scheme: 'jwt', jwt: 'eyJ0eXAiOiJhdXRoK2p3dCJ9.e30.x' })))).toBe('keycloak');
    expect(requestGeneration(h(serializeSignatureKey({ scheme: 'hwk', jwk: { ...agentKey.jwk, alg: 'Ed25519' } as never }, { form: 'dictionary' })))).toBe('draft-11');
    expect(requestGeneration(h(serializeSignatureKey({ scheme: 'hwk', jwk: agentKey.jwk })))).toBe('keycloak');
    expect(requestGeneration(h(serializeSignatureKey({ scheme: 'jwks_uri', id: AP, kid: 'k', dwk: 'aauth-agent.json' }, { form: 'dictionary' })))).toBe('draft-11');
    expect(requestGeneration({ headers: {} })).toBe('keycloak');
    expect(requestGeneration({ headers: {} }, ['draft-11'])).toBe('draft-11');
    expect(requestGeneration(h('sig=(garbage'), ['draft-11', 'keycloak'])).toBe('keycloak');
  });

  it('options are validated at creation', () => {
    expect(() => createVerifier({ identity: RESOURCE, generations: [] })).toThrow(/options.generations must be a non-empty array/);
    expect(() => createVerifier({ identity: RESOURCE, generations: ['draft-12' as never] })).toThrow(TypeError);
    expect(() => createVerifier({ identity: RESOURCE, draft11: { personServers: ['ps.example'] } })).toThrow(/options.draft11.personServers\[0\]/);
    expect(() => createVerifier({ identity: RESOURCE, draft11: { allowLoopback: 'yes' as never } })).toThrow(/allowLoopback must be a boolean/);
    expect(() => createVerifier({ identity: RESOURCE, revocation: {} as never })).toThrow(/isRevoked/);
  });
});
