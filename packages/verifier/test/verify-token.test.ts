import { describe, expect, it } from 'vitest';
import { ACCESS_TOKEN, AAuthError, AUTH_TOKEN, REFRESH_TOKEN, RESOURCE_TOKEN, generateKey, mintResourceToken, signJwt } from '@aauth-kit/core';
import { createVerifier } from '@aauth-kit/verifier';
import { manualClock, tableFetch, tableResolver } from './helpers.js';

/** verifier.verifyToken: the one entry point, for every profile (issue 12). */

const AS = 'https://as.example/realms/aauth-test';
const RESOURCE = 'https://resource.example';
const AGENT = 'https://agent.example';
const asKey = generateKey({ kid: 'as-1' });
const resourceKey = generateKey({ kid: 'res-1' });
const agentKey = generateKey();

function setup(now = manualClock()) {
  const fetch = tableFetch({
    [`${AS}/.well-known/aauth-issuer.json`]: { issuer: AS, jwks_uri: `${AS}/certs` },
    [`${AS}/certs`]: { keys: [asKey.toPublishedJwk()] },
    [`${RESOURCE}/.well-known/aauth-resource.json`]: { resource: RESOURCE, jwks_uri: `${RESOURCE}/jwks.json` },
    [`${RESOURCE}/jwks.json`]: { keys: [resourceKey.toPublishedJwk()] },
  });
  // The auth server's own verifier: its identity is the issuer, the audience of resource tokens.
  const v = createVerifier({ identity: AS, trustedIssuers: [AS], fetch, now: now.now, discovery: { resolveHostname: tableResolver() } });
  return { v, fetch, clock: now };
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return (error as AAuthError).code;
}

const auth = (claims: Record<string, unknown>, typ = 'auth+jwt') => signJwt(asKey, { typ }, { iss: AS, ...claims });

describe('verifier.verifyToken(jwt, profile, expectations)', () => {
  it('a resource token: key from the resource metadata, audience defaulting to identity, signer checks', async () => {
    const { v, fetch, clock } = setup();
    const rt = await mintResourceToken(resourceKey, { issuer: RESOURCE, audience: AS, agent: AGENT, agentJkt: agentKey.thumbprint, scope: 'read', now: clock.now });
    const t = await v.verifyToken(rt, RESOURCE_TOKEN, { agent: AGENT, agentJkt: agentKey.thumbprint });
    expect(t).toMatchObject({ issuer: RESOURCE, audience: AS, agent: AGENT, scope: ['read'], header: { typ: 'resource+jwt', kid: 'res-1' } });
    expect(t.cnf).toBeUndefined();
    expect(fetch.calls).toEqual([`${RESOURCE}/.well-known/aauth-resource.json`, `${RESOURCE}/jwks.json`]);
    // A signer check fails before any further fetch, and the cached token is checked again for each caller.
    expect(await code(v.verifyToken(rt, RESOURCE_TOKEN, { agent: 'https://other.example' }))).toBe('token_agent_mismatch');
    expect(await code(v.verifyToken(rt, RESOURCE_TOKEN, { agent: AGENT, agentJkt: 'x' }))).toBe('token_agent_mismatch');
  });

  it('a resource token is never found with an issuer key, nor an auth token with a resource key', async () => {
    const { v } = setup();
    const rt = await mintResourceToken(resourceKey, { issuer: RESOURCE, audience: AS, agent: AGENT, agentJkt: agentKey.thumbprint, scope: 'read' });
    expect(await code(v.verifyToken(rt, AUTH_TOKEN))).toBe('token_typ_invalid');
    // A token signed by the auth server but typed as a resource token: its key is looked up in AS's resource metadata, which is absent.
    const forged = await signJwt(asKey, { typ: 'resource+jwt' }, { iss: AS, aud: AS, jti: 'j', agent: AGENT, agent_jkt: 'x', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60, scope: 'read' });
    expect(await code(v.verifyToken(forged, RESOURCE_TOKEN))).toBe('token_signature_invalid');
  });

  it('several profiles: the typ picks one; audience null leaves aud to the caller', async () => {
    const { v } = setup();
    const iat = Math.floor(Date.now() / 1000);
    const at = await auth({ sub: 'user-1', aud: 'crm', client_id: 'sca', iat, exp: iat + 60, act: { sub: 'sca' } }, 'at+jwt');
    await expect(v.verifyToken(at, [AUTH_TOKEN, ACCESS_TOKEN], { audience: null })).resolves.toMatchObject({ subject: 'user-1', audience: 'crm', act: { sub: 'sca' } });
    expect(await code(v.verifyToken(at, [AUTH_TOKEN, ACCESS_TOKEN]))).toBe('token_audience_invalid');
    expect(await code(v.verifyToken(at, AUTH_TOKEN, { audience: null }))).toBe('token_typ_invalid');
  });

  it('refresh: an expired auth token within the window, never cached', async () => {
    const clock = manualClock();
    const { v } = setup(clock);
    const iat = clock.now() - 600;
    const jwt = await auth({ aud: RESOURCE, agent: AGENT, cnf: { jwk: agentKey.jwk }, iat, exp: iat + 300 });
    const t = await v.verifyToken(jwt, REFRESH_TOKEN, { audience: null, refreshWindow: 1800 });
    expect(t.cnf?.thumbprint).toBe(agentKey.thumbprint);
    expect(v.stats().tokens).toBe(0);
    expect(await code(v.verifyToken(jwt, REFRESH_TOKEN, { audience: null, refreshWindow: 60 }))).toBe('token_expired');
    expect(await code(v.verifyToken(jwt, AUTH_TOKEN, { audience: RESOURCE }))).toBe('token_expired');
  });

  it('algorithms narrow the configured list; issuers narrow the trusted ones', async () => {
    const { v } = setup();
    const iat = Math.floor(Date.now() / 1000);
    const jwt = await auth({ aud: AS, cnf: { jwk: agentKey.jwk }, iat, exp: iat + 60 });
    expect(await code(v.verifyToken(jwt, AUTH_TOKEN, { algorithms: ['RS256'] }))).toBe('token_alg_not_allowed');
    expect(await code(v.verifyToken(jwt, AUTH_TOKEN, { issuers: ['https://other.example'] }))).toBe('token_issuer_untrusted');
    await expect(v.verifyToken(jwt, AUTH_TOKEN, { algorithms: ['EdDSA'], issuers: [AS] })).resolves.toMatchObject({ issuer: AS });
  });

  it('a verified token is cached: the same token again costs no lookup, and every check still runs', async () => {
    const clock = manualClock();
    const { v, fetch } = setup(clock);
    const jwt = await auth({ aud: AS, cnf: { jwk: agentKey.jwk }, iat: clock.now(), exp: clock.now() + 100 });
    await v.verifyToken(jwt, AUTH_TOKEN);
    const calls = fetch.calls.length;
    await v.verifyToken(jwt, AUTH_TOKEN);
    expect(fetch.calls.length).toBe(calls);
    expect(v.stats().tokens).toBe(1);
    expect(await code(v.verifyToken(jwt, AUTH_TOKEN, { audience: 'https://other.example' }))).toBe('token_audience_invalid');
    expect(await code(v.verifyToken(jwt, ACCESS_TOKEN))).toBe('token_typ_invalid');
    clock.advance(106);
    expect(await code(v.verifyToken(jwt, AUTH_TOKEN))).toBe('token_expired');
  });
});
