// Review of the -11 discovery paths (issue 15 review): a -11 signer's documents must not point the
// verifier at its own loopback services unless draft11.allowLoopback is set (draft-11 profile
// section 10: no private, loopback or link-local addresses unless configured), and a verifier
// configured to -11 alone takes only the -11 agent document under jwks_uri.
import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, mintAgentToken, mintPersonToken, type HttpRequest, type SigningKey } from '@aauth-kit/core';
import { algOf11, serializeSignatureKey } from '@aauth-kit/core/internal';
import { createVerifier, type VerifierOptions } from '@aauth-kit/verifier';
import { sign, tableFetch, tableResolver } from './helpers.js';

const RESOURCE = 'https://api.example';
const AP = 'https://ap.example';
const PS = 'https://ps.example';
const apKey = generateKey({ kid: 'ap-1' });
const psKey = generateKey({ kid: 'ps-1' });
const agentKey = generateKey({ kid: 'agent-1' });
const withAlg = (k: SigningKey) => ({ ...k.toPublishedJwk(), alg: algOf11(k.jwk) });
const get = (): HttpRequest & { headers: Record<string, string> } => ({ method: 'GET', url: `${RESOURCE}/data`, headers: {} });
const jwtKey = (jwt: string) => serializeSignatureKey({ scheme: 'jwt', jwt }, { form: 'dictionary' });

function verifier(table: Record<string, unknown>, options: Partial<VerifierOptions> = {}) {
  const fetch = tableFetch(table);
  const v = createVerifier({ identity: RESOURCE, fetch, discovery: { resolveHostname: tableResolver() }, draft11: { personServers: [PS] }, ...options });
  return { v, fetch };
}

async function rejects(promise: Promise<unknown>): Promise<AAuthError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

describe('-11 jwks_uri on loopback (SSRF) without allowLoopback', () => {
  for (const jwks of ['http://127.0.0.1:6379/keys', 'http://localhost:8080/admin/keys', 'https://localhost/keys', 'http://[::1]:9/keys']) {
    it(`a person server whose metadata names jwks_uri ${jwks} is refused before that URL is fetched`, async () => {
      const { v, fetch } = verifier({ [`${PS}/.well-known/aauth-person.json`]: { issuer: PS, jwks_uri: jwks }, [jwks]: { keys: [withAlg(psKey)] } });
      const person = await mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey });
      const e = await rejects(v.verify(sign(get(), agentKey, jwtKey(person))));
      expect([e.status, e.code]).toEqual([401, 'token_signature_invalid']);
      expect(e.message).toMatch(/jwks_uri must be https on a non-loopback host/);
      expect(fetch.calls).toEqual([`${PS}/.well-known/aauth-person.json`]);
    });
  }

  it('an agent document (jwks_uri scheme, dwk aauth-agent.json) naming a loopback jwks_uri: egress_denied, not fetched', async () => {
    const ID = 'https://bot.example';
    const key = generateKey({ kid: 'b1' });
    const jwks = 'http://localhost:2375/containers/json';
    const { v, fetch } = verifier({ [`${ID}/.well-known/aauth-agent.json`]: { issuer: ID, jwks_uri: jwks }, [jwks]: { keys: [withAlg(key)] } });
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: ID, dwk: 'aauth-agent.json', kid: 'b1' }, { form: 'dictionary' });
    const e = await rejects(v.verify(sign(get(), key, sk)));
    expect([e.status, e.code]).toEqual([401, 'egress_denied']);
    expect(fetch.calls).toEqual([`${ID}/.well-known/aauth-agent.json`]);
  });

  it('an http jwks_uri on a public host is refused in -11 even with allowLoopback', async () => {
    const jwks = 'http://keys.example/jwks.json';
    const { v, fetch } = verifier({ [`${PS}/.well-known/aauth-person.json`]: { issuer: PS, jwks_uri: jwks }, [jwks]: { keys: [withAlg(psKey)] } }, { draft11: { personServers: [PS], allowLoopback: true } });
    const person = await mintPersonToken(psKey, { issuer: PS, audience: RESOURCE, sub: 'p-1', agentKey });
    const e = await rejects(v.verify(sign(get(), agentKey, jwtKey(person))));
    expect(e.message).toMatch(/jwks_uri must be https \(http only on loopback hosts\)/);
    expect(fetch.calls).not.toContain(jwks);
  });

  it('with allowLoopback, a loopback issuer and jwks_uri still verify (development)', async () => {
    const LOCAL = 'http://127.0.0.1:7001';
    const { v } = verifier(
      { [`${LOCAL}/.well-known/aauth-agent.json`]: { issuer: LOCAL, jwks_uri: `${LOCAL}/jwks.json` }, [`${LOCAL}/jwks.json`]: { keys: [withAlg(apKey)] } },
      { draft11: { allowLoopback: true } },
    );
    const jwt = await mintAgentToken(apKey, { issuer: LOCAL, sub: 'aauth:bot@127.0.0.1:7001', agentKey, allowLoopback: true });
    await expect(v.verify(sign(get(), agentKey, jwtKey(jwt)))).resolves.toMatchObject({ agent: 'aauth:bot@127.0.0.1:7001' });
  });
});

describe('-11 alone: the jwks_uri scheme', () => {
  it('a loopback Signature-Key id is refused before anything is fetched from it', async () => {
    const ID = 'http://127.0.0.1:6379';
    const { v, fetch } = verifier({}, { generations: ['draft-11'] });
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: ID, dwk: 'aauth-agent.json', kid: 'b1' }, { form: 'dictionary' });
    const e = await rejects(v.verify(sign(get(), agentKey, sk)));
    expect([e.status, e.code]).toEqual([401, 'signature_key_malformed']);
    expect(fetch.calls).toEqual([]);
  });

  it('dwk="aauth-agent" with a Keycloak-profile agent document (no issuer, keys without alg) is refused', async () => {
    const ID = 'https://bot.example';
    const key = generateKey({ kid: 'b1' });
    const { v, fetch } = verifier(
      { [`${ID}/.well-known/aauth-agent.json`]: { agent: ID, jwks_uri: `${ID}/jwks.json` }, [`${ID}/jwks.json`]: { keys: [key.toPublishedJwk()] } },
      { generations: ['draft-11'] },
    );
    const sk = serializeSignatureKey({ scheme: 'jwks_uri', id: ID, dwk: 'aauth-agent', kid: 'b1' }, { form: 'dictionary' });
    const e = await rejects(v.verify(sign(get(), key, sk)));
    expect([e.status, e.code]).toEqual([401, 'signature_key_malformed']);
    expect(fetch.calls).toEqual([]);
  });
});
