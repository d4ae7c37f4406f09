import { describe, expect, it } from 'vitest';
import { generateKey, signJwt } from '@aauth-kit/core';
import { createMemoryReplayStore, createVerifier } from '@aauth-kit/verifier';
import { sign, tableFetch, tableResolver } from './helpers.js';
import { resolveFetcherOptions } from '../../discovery/src/lib/options.js';
import { resolveVerifierOptions } from '../src/lib/options.js';

const RESOURCE = 'https://api.example';

describe('memory stays bounded (issue 3 acceptance)', () => {
  it('20,000 requests signed by distinct hwk keys never grow a cache past its size', async () => {
    const replay = createMemoryReplayStore({ maxEntries: 5000 });
    const v = createVerifier({ identity: RESOURCE, maxKeyEntries: 1000, replay: { store: replay } });
    let maxKeys = 0;
    let maxReplay = 0;
    for (let i = 0; i < 20_000; i++) {
      const req = sign({ method: 'POST', url: `${RESOURCE}/items`, headers: { 'content-type': 'application/json' }, body: `{"i":${i}}` }, generateKey());
      const result = await v.verify(req);
      expect(result.scheme).toBe('hwk');
      const stats = v.stats();
      maxKeys = Math.max(maxKeys, stats.keys);
      maxReplay = Math.max(maxReplay, replay.size);
    }
    expect(maxKeys).toBe(1000);
    expect(maxReplay).toBe(5000);
    expect(v.stats()).toMatchObject({ keys: 1000, documents: 0, tokens: 0, inflight: 0 });
  }, 120_000);

  it('2,000 distinct jwks_uri agents and auth tokens stay within the document and token caches', async () => {
    const table: Record<string, unknown> = {};
    const issuerKey = generateKey({ kid: 'as' });
    const ISS = 'https://as.example';
    table[`${ISS}/.well-known/aauth-issuer.json`] = { issuer: ISS, jwks_uri: `${ISS}/certs` };
    table[`${ISS}/certs`] = { keys: [issuerKey.toPublishedJwk()] };
    const v = createVerifier({
      identity: RESOURCE,
      trustedIssuers: [ISS],
      fetch: tableFetch(table),
      maxTokenEntries: 100,
      discovery: { maxEntries: 100, resolveHostname: tableResolver() },
    });
    let maxDocs = 0;
    let maxTokens = 0;
    for (let i = 0; i < 2000; i++) {
      const key = generateKey({ kid: 'k' });
      const id = `https://agent-${i}.example`;
      table[`${id}/.well-known/aauth-agent.json`] = { agent: id, jwks_uri: `${id}/jwks.json` };
      table[`${id}/jwks.json`] = { keys: [key.toPublishedJwk()] };
      await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, key, { scheme: 'jwks_uri', id, kid: 'k' }));
      const now = Math.floor(Date.now() / 1000);
      const jwt = await signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: ISS, aud: RESOURCE, agent: id, scope: 'r', cnf: { jwk: key.jwk }, iat: now, exp: now + 300 });
      await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, key, { scheme: 'jwt', jwt }));
      maxDocs = Math.max(maxDocs, v.stats().documents);
      maxTokens = Math.max(maxTokens, v.stats().tokens);
      delete table[`${id}/.well-known/aauth-agent.json`];
      delete table[`${id}/jwks.json`];
    }
    expect(maxDocs).toBe(100);
    expect(maxTokens).toBe(100);
  }, 120_000);

  it('jwks_uri, hwk and cnf keys share one key cache of maxKeyEntries, apart from the documents (issue 18)', async () => {
    const table: Record<string, unknown> = {};
    const v = createVerifier({
      identity: RESOURCE,
      fetch: tableFetch(table),
      maxKeyEntries: 5,
      replay: { methods: 'none' },
      discovery: { maxEntries: 7, resolveHostname: tableResolver() },
    });
    const agents: Array<{ key: ReturnType<typeof generateKey>; id: string }> = [];
    /** Agent i publishes its metadata and JWKS and sends one jwks_uri-signed request. */
    const agentCalls = async (i: number): Promise<void> => {
      const key = generateKey({ kid: 'k' });
      const id = `https://agent-${i}.example`;
      table[`${id}/.well-known/aauth-agent.json`] = { agent: id, jwks_uri: `${id}/jwks.json` };
      table[`${id}/jwks.json`] = { keys: [key.toPublishedJwk()] };
      agents.push({ key, id });
      await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, key, { scheme: 'jwks_uri', id, kid: 'k' }));
    };
    for (let i = 0; i < 3; i++) await agentCalls(i);
    // Three agents: three imported keys, six documents (metadata and JWKS each).
    expect(v.stats()).toMatchObject({ keys: 3, documents: 6 });
    // The same key inline (hwk) is the same cache entry: one key, wherever it came from.
    await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, agents[0]!.key));
    expect(v.stats().keys).toBe(3);
    let maxKeys = 0;
    let maxDocs = 0;
    for (let i = 3; i < 12; i++) {
      await agentCalls(i);
      await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, generateKey()));
      maxKeys = Math.max(maxKeys, v.stats().keys);
      maxDocs = Math.max(maxDocs, v.stats().documents);
    }
    expect(maxKeys).toBe(5);
    expect(maxDocs).toBe(7);
    // An agent whose key and documents were evicted is looked up and imported again.
    const first = agents[0]!;
    const again = await v.verify(sign({ method: 'GET', url: `${RESOURCE}/x`, headers: {} }, first.key, { scheme: 'jwks_uri', id: first.id, kid: 'k' }));
    expect(again.thumbprint).toBe(first.key.thumbprint);
    expect(v.stats()).toMatchObject({ keys: 5, documents: 7 });
  });

  it('defaults: 10,000 keys and 10,000 documents, for thousands of agents (issue 18)', () => {
    expect(resolveVerifierOptions({ identity: RESOURCE }).maxKeyEntries).toBe(10_000);
    expect(resolveFetcherOptions(undefined, 'options').maxEntries).toBe(10_000);
    expect(resolveVerifierOptions({ identity: RESOURCE, maxKeyEntries: 20_000 }).maxKeyEntries).toBe(20_000);
  });
});
