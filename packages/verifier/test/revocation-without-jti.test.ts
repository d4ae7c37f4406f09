import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, signJwt } from '@aauth-kit/core';
import { createMemoryRevocationStore, createVerifier } from '@aauth-kit/verifier';
import { sign, tableFetch, tableResolver } from './helpers.js';

/**
 * Issue 17: a revocation by agent or by grant covers every token the issuer gave that agent. A
 * Keycloak-profile auth token need not carry `jti` (section 7); it must not escape those revocations.
 */
const RESOURCE = 'https://resource.example';
const ISS = 'https://as.example/realms/aauth-test';
const AGENT = 'https://agent.example';
const issuerKey = generateKey({ kid: 'as-ed' });
const agentKey = generateKey();

async function refusal(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('revocation by agent and by grant covers auth tokens without jti', () => {
  const fetch = tableFetch({
    [`${ISS}/.well-known/aauth-issuer.json`]: { issuer: ISS, jwks_uri: `${ISS}/certs` },
    [`${ISS}/certs`]: { keys: [issuerKey.toPublishedJwk()] },
  });

  async function presented(claims: Record<string, unknown>) {
    const iat = Math.floor(Date.now() / 1000) - 10;
    const jwt = await signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: ISS, aud: RESOURCE, agent: AGENT, sub: 'user-1', scope: 'read', cnf: { jwk: agentKey.jwk }, iat, exp: iat + 300, ...claims });
    return sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, agentKey, { scheme: 'jwt', jwt });
  }

  it('an agent revocation refuses a token without jti (token_revoked)', async () => {
    const revocation = createMemoryRevocationStore();
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, discovery: { resolveHostname: tableResolver() }, revocation });
    const request = await presented({});
    await expect(v.verify(request)).resolves.toMatchObject({ agent: AGENT });
    await revocation.revokeAgent(ISS, AGENT, Math.floor(Date.now() / 1000) + 600);
    expect((await refusal(v.verify(await presented({})))).code).toBe('token_revoked');
  });

  it('a grant revocation refuses a token without jti; other users and agents are untouched', async () => {
    const revocation = createMemoryRevocationStore();
    const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], fetch, discovery: { resolveHostname: tableResolver() }, revocation });
    await revocation.revokeGrant(ISS, 'user-1', AGENT, Math.floor(Date.now() / 1000) + 600);
    expect((await refusal(v.verify(await presented({})))).code).toBe('token_revoked');
    await expect(v.verify(await presented({ sub: 'user-2' }))).resolves.toMatchObject({ agent: AGENT });
  });

  it('a store asked about a token without jti is given the empty jti', async () => {
    const asked: string[] = [];
    const v = createVerifier({
      identity: RESOURCE,
      trustedIssuers: [ISS],
      fetch,
      discovery: { resolveHostname: tableResolver() },
      revocation: { isRevoked: (iss, jti, subject) => (asked.push(`${iss} ${JSON.stringify(jti)} ${subject?.agents.join(',')}`), false) },
    });
    await v.verify(await presented({}));
    expect(asked).toEqual([`${ISS} "" ${AGENT}`]);
  });
});
