import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey, type SigningKey } from '@aauth-kit/core';
import { serializeSignatureKey } from '@aauth-kit/core/internal';
import { createMemoryReplayStore, createVerifier, type ReplayStore } from '@aauth-kit/verifier';
import { authClaims, closer, sign, startAgent, startIssuer } from './helpers.js';

const RESOURCE = 'http://localhost:4000';
const servers = closer();
let agent: Awaited<ReturnType<typeof startAgent>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;

beforeAll(async () => {
  agent = servers.track(await startAgent());
  issuer = servers.track(await startIssuer());
});
afterAll(() => servers.closeAll());

const get = (path = '/data', headers: Record<string, string> = {}) => ({ method: 'GET', url: `${RESOURCE}${path}`, headers });
const post = (body = '{"n":1}', path = '/data') => ({ method: 'POST', url: `${RESOURCE}${path}`, headers: { 'content-type': 'application/json' }, body });

async function rejects(promise: Promise<unknown>, code: string): Promise<AAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  expect((error as AAuthError).code).toBe(code);
  return error as AAuthError;
}

describe('createVerifier: the three schemes (wire profile section 4)', () => {
  it('hwk yields a pseudonymous agent named by the key thumbprint', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const result = await v.verify(sign(post(), key));
    expect(result.scheme).toBe('hwk');
    expect(result.agent).toBe(`pseudonymous:${key.thumbprint}`);
    expect(result.thumbprint).toBe(key.thumbprint);
    expect(result.token).toBeUndefined();
    expect(result.signed.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);
  });

  it('hwk with a P-256 key verifies (verifiers accept ES256 keys)', async () => {
    const key = generateKey({ alg: 'ES256' });
    const v = createVerifier({ identity: RESOURCE });
    const result = await v.verify(sign(get('/x?q=1'), key));
    expect(result.key.algorithm).toBe('ecdsa-p256-sha256');
    expect(result.signed.components).toContain('@query');
  });

  it('jwks_uri resolves the agent key through its metadata and JWKS', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const result = await v.verify(sign(get(), agent.key, { scheme: 'jwks_uri', id: agent.id, kid: 'agent-1' }));
    expect(result).toMatchObject({ scheme: 'jwks_uri', agent: agent.id, thumbprint: agent.key.thumbprint });
  });

  it('jwt verifies the auth token and the proof of possession with cnf.jwk', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [issuer.issuer] });
    const jwt = await issuer.mint({ ...authClaims({ audience: RESOURCE, agent: agent.id, cnf: agent.key, scope: 'read write' }), act: { agent: 'https://backend.example' , sub: 'user-1' } });
    const result = await v.verify(sign(post(), agent.key, { scheme: 'jwt', jwt }));
    expect(result.scheme).toBe('jwt');
    expect(result.agent).toBe(agent.id);
    expect(result.thumbprint).toBe(agent.key.thumbprint);
    expect(result.token).toMatchObject({
      raw: jwt,
      issuer: issuer.issuer,
      subject: 'user-1',
      agent: agent.id,
      audience: RESOURCE,
      scope: ['read', 'write'],
      act: { agent: 'https://backend.example', sub: 'user-1' },
    });
    expect(result.token!.cnf.thumbprint).toBe(agent.key.thumbprint);
  });

  it('jwt without agent claim (Keycloak omits it when equal to aud) names aud as the agent', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [issuer.issuer] });
    const claims = authClaims({ audience: RESOURCE, agent: 'x', cnf: agent.key });
    delete claims.agent;
    const jwt = await issuer.mint(claims);
    const result = await v.verify(sign(get(), agent.key, { scheme: 'jwt', jwt }));
    expect(result.agent).toBe(RESOURCE);
    expect(result.token!.agent).toBeUndefined();
  });

  it('jwt signed by another key than cnf.jwk is token_cnf_mismatch', async () => {
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [issuer.issuer] });
    const jwt = await issuer.mint(authClaims({ audience: RESOURCE, agent: agent.id, cnf: agent.key }));
    await rejects(v.verify(sign(get(), generateKey(), { scheme: 'jwt', jwt })), 'token_cnf_mismatch');
  });

  it('accepts the dictionary form of Signature-Key and base64url signatures (section 11, Python agents)', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const req = sign(get(), key, undefined, { signatureKeyForm: 'dictionary', signatureEncoding: 'base64url' });
    expect(req.headers['signature-key']).toMatch(/^sig=hwk;/);
    await expect(v.verify(req)).resolves.toMatchObject({ scheme: 'hwk' });
  });

  it('accepts the jwks alias and the dwk parameter', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const alias = `sig=(scheme=jwks id="${agent.id}" kid="agent-1")`;
    await expect(v.verify(sign(get(), agent.key, alias))).resolves.toMatchObject({ agent: agent.id });
    const dwk = serializeSignatureKey({ scheme: 'jwks_uri', id: agent.id, kid: 'agent-1', dwk: 'aauth-agent.json' }, { form: 'dictionary' });
    await expect(v.verify(sign(get(), agent.key, dwk))).resolves.toMatchObject({ agent: agent.id });
    const other = serializeSignatureKey({ scheme: 'jwks_uri', id: agent.id, kid: 'agent-1', dwk: 'openid-configuration' }, { form: 'dictionary' });
    await rejects(v.verify(sign(get(), agent.key, other)), 'signature_key_malformed');
  });
});

describe('createVerifier: cheap refusals come before any fetch (architecture: refuse cheaply)', () => {
  it('an uncovered component, a stale created or a body without digest never fetches', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const sk = { scheme: 'jwks_uri' as const, id: agent.id, kid: 'agent-1' };
    const before = agent.hits.get('/.well-known/aauth-agent.json') ?? 0;
    await rejects(v.verify(sign(get('/x?a=1'), agent.key, sk, { components: ['@method', '@authority', '@path', 'signature-key'] })), 'signature_coverage');
    await rejects(v.verify(sign(get(), agent.key, sk, { created: Math.floor(Date.now() / 1000) - 600 })), 'signature_stale');
    await rejects(v.verify(sign(get(), agent.key, sk, { created: Math.floor(Date.now() / 1000) + 600 })), 'signature_future');
    await rejects(
      v.verify(sign(post(), agent.key, sk, { components: ['@method', '@authority', '@path', 'content-type', 'signature-key'] })),
      'digest_missing',
    );
    expect(agent.hits.get('/.well-known/aauth-agent.json') ?? 0).toBe(before);
    expect(v.stats().fetches).toBe(0);
  });

  it('a route may require more components', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const key = generateKey();
    await rejects(v.verify(sign(get(), key), { requiredComponents: ['content-type'] }), 'signature_coverage');
    const req = sign(get('/data', { 'content-type': 'text/plain' }), key, undefined, { additionalComponents: ['content-type'] });
    await expect(v.verify(req, { requiredComponents: ['Content-Type'] })).resolves.toBeTruthy();
  });

  it('a route\'s list is read on every request: the same array changed between requests, or emptied, is honoured', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const key = generateKey();
    const plain = () => sign(get('/data', { 'content-type': 'text/plain' }), key);
    const covered = () => sign(get('/data', { 'content-type': 'text/plain' }), key, undefined, { additionalComponents: ['content-type'] });
    const list: string[] = ['Content-Type'];
    await rejects(v.verify(plain(), { requiredComponents: list }), 'signature_coverage');
    await expect(v.verify(covered(), { requiredComponents: list })).resolves.toBeTruthy();
    // Emptied: the AAuth minimum only.
    list.length = 0;
    await expect(v.verify(plain(), { requiredComponents: list })).resolves.toBeTruthy();
    // Changed in place to a component neither request covers.
    list.push('x-tenant');
    await rejects(v.verify(covered(), { requiredComponents: list }), 'signature_coverage');
    list[0] = 'content-type';
    await expect(v.verify(covered(), { requiredComponents: list })).resolves.toBeTruthy();
    await rejects(v.verify(plain(), { requiredComponents: list }), 'signature_coverage');
    // And an empty list is the same as none.
    await expect(v.verify(plain(), { requiredComponents: [] })).resolves.toBeTruthy();
  });

  it('requireContentDigest: false accepts the original Python agents that never signed bodies', async () => {
    const key = generateKey();
    const req = sign(post(), key, undefined, { components: ['@method', '@authority', '@path', 'signature-key'] });
    await rejects(createVerifier({ identity: RESOURCE }).verify(req), 'digest_missing');
    await expect(createVerifier({ identity: RESOURCE, requireContentDigest: false }).verify(req)).resolves.toBeTruthy();
  });

  it('maxSkew and the injected clock decide freshness', async () => {
    const key = generateKey();
    const t = 1_800_000_000;
    const req = sign(get(), key, undefined, { created: t - 100 });
    await rejects(createVerifier({ identity: RESOURCE, now: () => t }).verify(req), 'signature_stale');
    await expect(createVerifier({ identity: RESOURCE, now: () => t, maxSkew: 120 }).verify(req)).resolves.toBeTruthy();
  });

  it('the algorithms allow-list also applies to HTTP-signature keys', async () => {
    const v = createVerifier({ identity: RESOURCE, algorithms: ['EdDSA'] });
    await rejects(v.verify(sign(get(), generateKey({ alg: 'ES256' }))), 'unsupported_algorithm');
    await expect(v.verify(sign(get(), generateKey()))).resolves.toBeTruthy();
  });
});

describe('createVerifier: replay protection (wire profile section 3)', () => {
  it('refuses a second use of a POST signature but not of a GET by default', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const p = sign(post(), key);
    await v.verify(p);
    await rejects(v.verify(p), 'signature_replayed');
    const g = sign(get(), key);
    await v.verify(g);
    await expect(v.verify(g)).resolves.toBeTruthy();
  });

  it("methods: 'all' checks GETs too, 'none' checks nothing", async () => {
    const key = generateKey();
    const g = sign(get(), key);
    const all = createVerifier({ identity: RESOURCE, replay: { methods: 'all' } });
    await all.verify(g);
    await rejects(all.verify(g), 'signature_replayed');
    const none = createVerifier({ identity: RESOURCE, replay: { methods: 'none' } });
    const p = sign(post(), key);
    await none.verify(p);
    await expect(none.verify(p)).resolves.toBeTruthy();
  });

  it('two identical POSTs in the same second have distinct nonces and both pass', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const created = Math.floor(Date.now() / 1000);
    await v.verify(sign(post(), key, undefined, { created }));
    await expect(v.verify(sign(post(), key, undefined, { created }))).resolves.toBeTruthy();
  });

  it('a re-encoded signature (base64url instead of base64) is the same signature', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const p = sign(post(), key);
    await v.verify(p);
    const raw = /^sig=:(.*):$/.exec(String(p.headers.signature))![1]!;
    const reencoded = { ...p, headers: { ...p.headers, signature: `sig=:${Buffer.from(raw, 'base64').toString('base64url')}:` } };
    await rejects(v.verify(reencoded), 'signature_replayed');
  });

  it('a replay store that throws is replay_store_failed: 503 server_error, its error the cause (not bad input)', async () => {
    const down = new Error('ECONNREFUSED');
    const store: ReplayStore = { checkAndStore: () => Promise.reject(down) };
    const v = createVerifier({ identity: RESOURCE, replay: { store } });
    const error = await rejects(v.verify(sign(post(), generateKey())), 'replay_store_failed');
    expect([error.status, error.error, error.message, error.cause]).toEqual([503, 'server_error', 'The replay store failed', down]);
  });

  it('forgeries are refused before the replay store is touched', async () => {
    const calls: string[] = [];
    const store: ReplayStore = {
      checkAndStore: async (k) => {
        calls.push(k);
        return true;
      },
    };
    const v = createVerifier({ identity: RESOURCE, replay: { store } });
    const key = generateKey();
    const p = sign(post(), key);
    const forged = { ...p, headers: { ...p.headers, signature: `sig=:${Buffer.alloc(64, 7).toString('base64')}:` } };
    await rejects(v.verify(forged), 'signature_invalid');
    expect(calls).toEqual([]);
    await v.verify(p);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.startsWith(`${key.thumbprint}:`)).toBe(true);
  });

  it('the replay TTL covers the rest of the created window', async () => {
    const ttls: number[] = [];
    const t = 1_800_000_000;
    const store: ReplayStore = {
      checkAndStore: async (_k, ttl) => {
        ttls.push(ttl);
        return true;
      },
    };
    const v = createVerifier({ identity: RESOURCE, now: () => t, replay: { store } });
    await v.verify(sign(post(), generateKey(), undefined, { created: t - 20 }));
    expect(ttls).toEqual([41]);
  });

  it('a shared memory store sees replays across two verifiers', async () => {
    const store = createMemoryReplayStore();
    const a = createVerifier({ identity: RESOURCE, replay: { store } });
    const b = createVerifier({ identity: RESOURCE, replay: { store } });
    const p = sign(post(), generateKey());
    await a.verify(p);
    await rejects(b.verify(p), 'signature_replayed');
  });
});

describe('createVerifier: resolve functions for the auth server', () => {
  let resourceKey: SigningKey;
  let resource: Awaited<ReturnType<typeof startAgent>>;
  beforeAll(async () => {
    resourceKey = generateKey({ kid: 'res-1' });
    resource = servers.track(await startAgent({ key: resourceKey }));
    resource.routes['/.well-known/aauth-resource.json'] = { body: { resource: resource.url, jwks_uri: `${resource.url}/jwks.json` } };
  });

  it('resolveResourceJwk returns the public JWK without private or alg members', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const jwk = await v.resolveResourceJwk(resource.url, 'res-1');
    expect(jwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: resourceKey.jwk.x });
    await rejects(v.resolveResourceJwk(resource.url, 'other'), 'key_not_found');
  });

  it('resolveResourceJwk refuses metadata naming another resource', async () => {
    const v = createVerifier({ identity: RESOURCE });
    await rejects(v.resolveResourceJwk(agent.url, 'agent-1'), 'key_discovery_failed');
  });

  it('resolveAgentKey returns a PublicKey', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const key = await v.resolveAgentKey(agent.id, 'agent-1');
    expect(key.thumbprint).toBe(agent.key.thumbprint);
  });

  it('resolveIssuerJwk uses localIssuerKeys without fetching', async () => {
    const local = generateKey({ kid: 'local-1' });
    const v = createVerifier({ identity: RESOURCE, localIssuerKeys: { 'https://as.example': { keys: [local.toPublishedJwk()] } } });
    await expect(v.resolveIssuerJwk('https://as.example', 'local-1')).resolves.toEqual({ kty: 'OKP', crv: 'Ed25519', x: local.jwk.x });
    expect(v.stats().fetches).toBe(0);
  });
});
