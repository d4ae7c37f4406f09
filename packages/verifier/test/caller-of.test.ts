import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, signJwt } from '@aauth-kit/core';
import { callerOf, createVerifier } from '@aauth-kit/verifier';
import { sign } from './helpers.js';

const RESOURCE = 'https://api.example';
const ISS = 'https://as.example';
const issuerKey = generateKey({ kid: 'as' });

async function failure(jwtClaims: Record<string, unknown>, signer = generateKey(), cnf = signer): Promise<AAuthError> {
  const v = createVerifier({ identity: RESOURCE, trustedIssuers: [ISS], localIssuerKeys: { [ISS]: { keys: [issuerKey.toPublishedJwk()] } } });
  const jwt = await signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: ISS, aud: RESOURCE, agent: 'https://agent.example', scope: 'r', cnf: { jwk: cnf.jwk }, ...jwtClaims });
  const error = await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, signer, { scheme: 'jwt', jwt })).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('callerOf', () => {
  it('names the caller of an authentic but expired token signed with its cnf.jwk', async () => {
    const signer = generateKey();
    const error = await failure({ iat: 1000, exp: 1300 }, signer);
    expect(error.code).toBe('token_expired');
    expect(callerOf(error)).toEqual({ scheme: 'jwt', agent: 'https://agent.example', thumbprint: signer.thumbprint });
  });

  it('names nobody when the request is not signed with cnf.jwk', async () => {
    const error = await failure({ iat: 1000, exp: 1300 }, generateKey(), generateKey());
    expect(error.code).toBe('token_expired');
    expect(callerOf(error)).toBeUndefined();
  });

  it('names nobody for a token that is not authentic', async () => {
    const error = await failure({ iss: 'https://evil.example' });
    expect(error.code).toBe('token_issuer_untrusted');
    expect(callerOf(error)).toBeUndefined();
    expect(callerOf(new Error('x'))).toBeUndefined();
  });
});
