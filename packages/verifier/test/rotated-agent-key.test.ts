import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey, signJwt } from '@aauth-kit/core';
import { createVerifier, verifyNow } from '@aauth-kit/verifier';
import { authClaims, closer, manualClock, sign, startAgent, startIssuer } from './helpers.js';

// An agent provider restarted with an ephemeral key publishes a new key under the same kid. Its
// JWKS was cached (max-age 300 here, as the kit's own agents publish it): the verifier refetches
// it on a failing signature, at most once a minute per URL, as it does for an unknown kid.

const RESOURCE = 'http://localhost:4000';
const servers = closer();
let agent: Awaited<ReturnType<typeof startAgent>>;
let issuer: Awaited<ReturnType<typeof startIssuer>>;

beforeAll(async () => {
  issuer = servers.track(await startIssuer());
  agent = servers.track(await startAgent({ kid: 'k1' }));
  agent.routes['/jwks.json'] = { body: { keys: [agent.key.toPublishedJwk()] }, headers: { 'cache-control': 'max-age=300' } };
});
afterAll(() => servers.closeAll());

const get = (path = '/data') => ({ method: 'GET', url: `${RESOURCE}${path}`, headers: {} as Record<string, string> });

async function refusal(promise: unknown): Promise<AAuthError> {
  const error = await Promise.resolve(promise).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('a JWKS key that no longer verifies is refetched, at most once a minute (wire profile section 4)', () => {
  it('an agent restarted with a new key under the same kid is recognised once a minute has passed since the fetch', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000));
    const v = createVerifier({ identity: RESOURCE, now: clock.now });
    const member = { scheme: 'jwks_uri' as const, id: agent.id, kid: 'k1' };
    const first = await v.verify(sign(get(), agent.key, member, { created: clock.now() }));
    expect(first.thumbprint).toBe(agent.key.thumbprint);
    expect(agent.hits.get('/jwks.json')).toBe(1);

    // The provider restarts with a new key, same kid.
    const restarted = generateKey({ kid: 'k1' });
    agent.routes['/jwks.json'] = { body: { keys: [restarted.toPublishedJwk()] }, headers: { 'cache-control': 'max-age=300' } };

    // Within the minute: refused, and the refusal says which JWKS, how old, and when it is refetched.
    clock.advance(20);
    const early = await refusal(v.verify(sign(get(), restarted, member, { created: clock.now() })));
    expect(early.code).toBe('signature_invalid');
    expect(early.message).toContain(`kid "k1" of ${agent.id}/jwks.json as fetched 20 s ago`);
    expect(early.message).toContain('at most once a minute');
    expect(agent.hits.get('/jwks.json')).toBe(1);

    // A minute after the fetch (the cached copy still fresh for four more): refetched, and it verifies.
    clock.advance(41);
    const later = await v.verify(sign(get(), restarted, member, { created: clock.now() }));
    expect(later.thumbprint).toBe(restarted.thumbprint);
    expect(agent.hits.get('/jwks.json')).toBe(2);
    // The new key is the warm one now: the next request verifies without a wait and without a fetch.
    const warm = verifyNow(v, sign(get(), restarted, member, { created: clock.now() }));
    expect(warm).not.toBeInstanceOf(Promise);
    expect(agent.hits.get('/jwks.json')).toBe(2);
    // And the old key is refused.
    const old = await refusal(v.verify(sign(get(), agent.key, member, { created: clock.now() })));
    expect(old.code).toBe('signature_invalid');
    agent.routes['/jwks.json'] = { body: { keys: [agent.key.toPublishedJwk()] }, headers: { 'cache-control': 'max-age=300' } };
  });

  it('a flood of forged signatures refetches the JWKS at most once a minute, and the real key keeps verifying', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000));
    const v = createVerifier({ identity: RESOURCE, now: clock.now });
    const member = { scheme: 'jwks_uri' as const, id: agent.id, kid: 'k1' };
    await v.verify(sign(get(), agent.key, member, { created: clock.now() }));
    const before = agent.hits.get('/jwks.json')!;
    const forger = generateKey({ kid: 'k1' });
    clock.advance(61);
    const forged = await Promise.all(Array.from({ length: 50 }, (_, i) => refusal(v.verify(sign(get(`/f${i}`), forger, member, { created: clock.now() })))));
    expect(new Set(forged.map((e) => e.code))).toEqual(new Set(['signature_invalid']));
    // One refetch for the 50 (joined in flight), none more within the minute.
    expect(agent.hits.get('/jwks.json')).toBe(before + 1);
    clock.advance(30);
    for (let i = 0; i < 10; i++) await refusal(v.verify(sign(get(`/g${i}`), forger, member, { created: clock.now() })));
    expect(agent.hits.get('/jwks.json')).toBe(before + 1);
    const good = await v.verify(sign(get(), agent.key, member, { created: clock.now() }));
    expect(good.thumbprint).toBe(agent.key.thumbprint);
  });

  it('an auth server restarted with a new signing key under the same kid: its tokens verify once a minute has passed, old and forged ones stay refused', async () => {
    const clock = manualClock(Math.floor(Date.now() / 1000));
    const v = createVerifier({ identity: RESOURCE, now: clock.now, trustedIssuers: [issuer.issuer] });
    const certs = (key: typeof issuer.key) => ({ body: { keys: [key.toPublishedJwk()] }, headers: { 'cache-control': 'max-age=300' } });
    issuer.routes['/certs'] = certs(issuer.key);
    const mint = (key: typeof issuer.key) =>
      signJwt(key, { typ: 'auth+jwt' }, { iss: issuer.issuer, ...authClaims({ audience: RESOURCE, agent: agent.id, cnf: agent.key, now: clock.now() }) });
    const call = (jwt: string) => v.verify(sign(get(), agent.key, { scheme: 'jwt', jwt }, { created: clock.now() }));
    expect((await call(await mint(issuer.key))).token!.issuer).toBe(issuer.issuer);
    const fetched = issuer.hits.get('/certs')!;

    const restarted = generateKey({ kid: issuer.key.kid });
    issuer.routes['/certs'] = certs(restarted);
    clock.advance(10);
    const early = await refusal(call(await mint(restarted)));
    expect(early.code).toBe('token_signature_invalid');
    expect(early.message).toBe(
      `Auth token: the signature does not verify with the key kid ${JSON.stringify(issuer.key.kid)} of ${issuer.issuer} ` +
        '(its JWKS is refetched on a failing signature at most once a minute, so a key changed under the same kid is seen within a minute)',
    );
    expect(issuer.hits.get('/certs')).toBe(fetched);

    clock.advance(51);
    expect((await call(await mint(restarted))).token!.issuer).toBe(issuer.issuer);
    expect(issuer.hits.get('/certs')).toBe(fetched + 1);
    // The old key's and a forger's tokens are refused; no more fetches within the minute.
    expect((await refusal(call(await mint(issuer.key)))).code).toBe('token_signature_invalid');
    expect((await refusal(call(await mint(generateKey({ kid: issuer.key.kid }))))).code).toBe('token_signature_invalid');
    expect(issuer.hits.get('/certs')).toBe(fetched + 1);
  });
});
