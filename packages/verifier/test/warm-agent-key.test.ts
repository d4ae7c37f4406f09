import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey, importPublicKey, type PublicKey } from '@aauth-kit/core';
import type { DocumentFetcher, FetchedDocument } from '@aauth-kit/discovery';
import { KeyDiscovery } from '../src/lib/key-discovery.js';

const AGENT = 'https://agent.example';
const META = `${AGENT}/.well-known/aauth-agent.json`;
const JWKS = `${AGENT}/jwks.json`;

/**
 * A document cache in memory: one FetchedDocument object per URL until `replace`, `stale` makes
 * `peek` answer undefined (expired), `peek` is absent with `peeking: false`.
 */
function fakeFetcher(bodies: Record<string, Record<string, unknown> | 404>, peeking = true) {
  const docs = new Map<string, FetchedDocument>();
  const stale = new Set<string>();
  const calls: string[] = [];
  const doc = (url: string, body: Record<string, unknown> | 404): FetchedDocument =>
    body === 404 ? { url, status: 404, body: undefined, fetchedAt: 0 } : { url, status: 200, body, fetchedAt: 0 };
  for (const [url, body] of Object.entries(bodies)) docs.set(url, doc(url, body));
  const fetcher: DocumentFetcher & { peek?: (href: string) => FetchedDocument | undefined } = {
    async fetchJson(url) {
      calls.push(url);
      const found = docs.get(url);
      if (!found) throw new AAuthError('key_discovery_failed', `no ${url}`);
      stale.delete(url);
      return found;
    },
    forget: (url) => void docs.delete(url),
    clear: () => docs.clear(),
    get size() {
      return docs.size;
    },
    inflightCount: 0,
    fetchCount: 0,
  };
  if (peeking) fetcher.peek = (href) => (stale.has(href) ? undefined : docs.get(href));
  return {
    fetcher,
    calls,
    replace: (url: string, body: Record<string, unknown> | 404) => docs.set(url, doc(url, body)),
    expire: (url: string) => stale.add(url),
  };
}

function discovery(fetcher: DocumentFetcher, checkKeyAlgorithm: (key: PublicKey) => void = () => {}) {
  return new KeyDiscovery({
    fetcher,
    localIssuerKeys: {},
    checkKeyAlgorithm,
    importKey: (jwk) => importPublicKey(jwk),
    allowLoopback: false,
    algorithms11: ['Ed25519', 'ES256'],
  });
}

describe('warm agent keys (issue 18): the full lookup once, then no fetcher call while its documents are the cached ones', () => {
  const key = generateKey({ kid: 'k1' });
  const documents = () => ({ [META]: { agent: AGENT, jwks_uri: JWKS }, [JWKS]: { keys: [key.toPublishedJwk()] } });

  it('is off without a peeking fetcher: every lookup goes through fetchJson', async () => {
    const f = fakeFetcher(documents(), false);
    const d = discovery(f.fetcher);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
    await d.agentKey(AGENT, 'k1');
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
    expect(f.calls).toEqual([META, JWKS]);
  });

  it('answers the key of the full lookup for the same member, without a fetchJson call', async () => {
    const f = fakeFetcher(documents());
    const d = discovery(f.fetcher);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
    const cold = await d.agentKey(AGENT, 'k1');
    expect(f.calls).toEqual([META, JWKS]);
    const warm = d.warmAgentKey(AGENT, 'k1', undefined);
    expect(warm).toBe(cold);
    expect(warm!.thumbprint).toBe(key.thumbprint);
    expect(f.calls).toEqual([META, JWKS]);
    // Another kid, dwk or generation is another lookup.
    expect(d.warmAgentKey(AGENT, 'k2', undefined)).toBeUndefined();
    expect(d.warmAgentKey(AGENT, 'k1', 'aauth-agent.json')).toBeUndefined();
    expect(d.warmAgentKey(AGENT, 'k1', undefined, false)).toBeUndefined();
    expect(d.warmAgentKey(`${AGENT}/`, 'k1', undefined)).toBeUndefined();
  });

  it('is cold again when a document it read was refetched (a rotated JWKS) or is no longer fresh', async () => {
    const f = fakeFetcher(documents());
    const d = discovery(f.fetcher);
    await d.agentKey(AGENT, 'k1');
    const rotated = generateKey({ kid: 'k1' });
    f.replace(JWKS, { keys: [rotated.toPublishedJwk()] });
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
    // The full lookup reads the new JWKS and warms with its key.
    expect((await d.agentKey(AGENT, 'k1')).thumbprint).toBe(rotated.thumbprint);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)!.thumbprint).toBe(rotated.thumbprint);

    f.expire(META);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
    // A metadata document that now names another agent: the full lookup refuses, nothing warm stays.
    f.replace(META, { agent: 'https://other.example', jwks_uri: JWKS });
    await expect(d.agentKey(AGENT, 'k1')).rejects.toMatchObject({ code: 'key_discovery_failed' });
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
  });

  it('keeps the .json 404 it fell back from: a .json document appearing later ends the warm path', async () => {
    const f = fakeFetcher({ [META]: 404, [`${AGENT}/.well-known/aauth-agent`]: { agent: AGENT, jwks_uri: JWKS }, [JWKS]: { keys: [key.toPublishedJwk()] } });
    const d = discovery(f.fetcher);
    await d.agentKey(AGENT, 'k1');
    expect(f.calls).toEqual([META, `${AGENT}/.well-known/aauth-agent`, JWKS]);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)!.thumbprint).toBe(key.thumbprint);
    f.replace(META, { agent: AGENT, jwks_uri: `${AGENT}/other-jwks.json` });
    expect(d.warmAgentKey(AGENT, 'k1', undefined)).toBeUndefined();
  });

  it('the member read last is read again without touching the cache, and the bound still evicts the least recently used (issue 18)', async () => {
    const keys = ['k1', 'k2', 'k3'].map((kid) => generateKey({ kid }));
    const f = fakeFetcher({ [META]: { agent: AGENT, jwks_uri: JWKS }, [JWKS]: { keys: keys.map((k) => k.toPublishedJwk()) } });
    const d = new KeyDiscovery({
      fetcher: f.fetcher,
      localIssuerKeys: {},
      checkKeyAlgorithm: () => {},
      importKey: (jwk) => importPublicKey(jwk),
      allowLoopback: false,
      algorithms11: ['Ed25519', 'ES256'],
      maxWarmKeys: 2,
    });
    await d.agentKey(AGENT, 'k1');
    await d.agentKey(AGENT, 'k2');
    // k1 read (it becomes the most recently used) and read again; k2 is now the least recently used.
    expect(d.warmAgentKey(AGENT, 'k1', undefined)!.thumbprint).toBe(keys[0]!.thumbprint);
    expect(d.warmAgentKey(AGENT, 'k1', undefined)!.thumbprint).toBe(keys[0]!.thumbprint);
    await d.agentKey(AGENT, 'k3');
    expect(d.warmAgentKey(AGENT, 'k2', undefined)).toBeUndefined();
    expect(d.warmAgentKey(AGENT, 'k1', undefined)!.thumbprint).toBe(keys[0]!.thumbprint);
    expect(d.warmAgentKey(AGENT, 'k3', undefined)!.thumbprint).toBe(keys[2]!.thumbprint);
    // Read last, then its JWKS rotated: cold, as for any other member.
    f.replace(JWKS, { keys: [generateKey({ kid: 'k3' }).toPublishedJwk()] });
    expect(d.warmAgentKey(AGENT, 'k3', undefined)).toBeUndefined();
  });

  it('still applies the algorithm allow-list on the warm path', async () => {
    let allowed = true;
    const f = fakeFetcher(documents());
    const d = discovery(f.fetcher, (k) => {
      if (!allowed) throw new AAuthError('unsupported_algorithm', `Keys using ${k.algorithm} are not accepted here`);
    });
    await d.agentKey(AGENT, 'k1');
    allowed = false;
    expect(() => d.warmAgentKey(AGENT, 'k1', undefined)).toThrow(expect.objectContaining({ code: 'unsupported_algorithm' }));
  });
});
