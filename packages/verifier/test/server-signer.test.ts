import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, type HttpRequest, type SigningKey } from '@aauth-kit/core';
import { algOf11, serializeSignatureKey } from '@aauth-kit/core/internal';
import { createVerifier, requestGeneration } from '@aauth-kit/verifier';
import { sign, tableFetch, tableResolver } from './helpers.js';

// -11 servers signing as themselves under sig=jwks_uri (AAuth -11 "Keying Material"), accepted only
// where a call names their document in `serverDocuments` (a resource's revocation endpoint).
const RESOURCE = 'https://resource.example';
const PS = 'https://ps.example';
const psKey = generateKey({ kid: 'ps-1' });
const withAlg = (k: SigningKey) => ({ ...k.toPublishedJwk(), alg: algOf11(k.jwk) });

function verifier(documents: Record<string, unknown>) {
  const fetch = tableFetch(documents);
  return createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() } });
}

const person = { [`${PS}/.well-known/aauth-person.json`]: { issuer: PS, jwks_uri: `${PS}/jwks.json` }, [`${PS}/jwks.json`]: { keys: [withAlg(psKey)] } };

function push(id = PS, dwk = 'aauth-person.json', key = psKey): HttpRequest & { headers: Record<string, string> } {
  const request = { method: 'POST', url: `${RESOURCE}/aauth/revoke`, headers: { 'content-type': 'application/json' }, body: '{"jti":"a","exp":1}' };
  return sign(request, key, serializeSignatureKey({ scheme: 'jwks_uri', id, dwk, kid: key.kid }, { form: 'dictionary' }));
}

async function code(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  return (error as AAuthError).code;
}

describe('a server signer under sig=jwks_uri', () => {
  it('is -11 by its dwk (requestGeneration), and verified through {id}/.well-known/{dwk} when the call names that document', async () => {
    expect(requestGeneration(push())).toBe('draft-11');
    const verified = await verifier(person).verify(push(), { serverDocuments: ['aauth-person.json'] });
    expect([verified.generation, verified.scheme, verified.agent, verified.dwk]).toEqual(['draft-11', 'jwks_uri', PS, 'aauth-person.json']);
  });

  it('is refused where the call does not name its document (the default: agents only)', async () => {
    expect(await code(verifier(person).verify(push()))).toBe('signature_key_malformed');
    expect(await code(verifier(person).verify(push(), { serverDocuments: ['aauth-access.json'] }))).toBe('signature_key_malformed');
  });

  it('the document must name the signer (issuer_missing, issuer_mismatch) and its key carry alg', async () => {
    const doc = `${PS}/.well-known/aauth-person.json`;
    expect(await code(verifier({ ...person, [doc]: { jwks_uri: `${PS}/jwks.json` } }).verify(push(), { serverDocuments: ['aauth-person.json'] }))).toBe('issuer_missing');
    expect(await code(verifier({ ...person, [doc]: { issuer: 'https://other.example', jwks_uri: `${PS}/jwks.json` } }).verify(push(), { serverDocuments: ['aauth-person.json'] }))).toBe(
      'issuer_mismatch',
    );
    expect(await code(verifier({ ...person, [`${PS}/jwks.json`]: { keys: [psKey.toPublishedJwk()] } }).verify(push(), { serverDocuments: ['aauth-person.json'] }))).toBe('key_alg_missing');
  });

  it('a server identifier only: a path in the id is refused before any fetch', async () => {
    expect(await code(verifier(person).verify(push(`${PS}/tenant`), { serverDocuments: ['aauth-person.json'] }))).toBe('signature_key_malformed');
  });
});
