import { AAuthError } from '@aauth-kit/core';
import { egressProblem, jsonObject, limitedFetch, type LimitedResponse } from './http.js';

/** What the agent needs from `{issuer}/.well-known/aauth-issuer.json` (wire profile section 8). */
export interface IssuerMetadata {
  issuer: string;
  tokenEndpoint: URL;
  interactionEndpoint: URL | undefined;
}

/** Resolves an issuer's metadata through a bounded cache. */
export interface IssuerMetadataResolver {
  resolve(issuer: string, transport: typeof fetch): Promise<IssuerMetadata>;
  evict(issuer: string): void;
  clear(): void;
}

const MIN_TTL = 60; // section 4: at most one refetch per URL per minute
const MAX_TTL = 86_400; // section 4: cached for 24 h at most
const DEFAULT_TTL = 300;

function ttlFrom(cacheControl: string | null): number {
  if (cacheControl === null) return DEFAULT_TTL;
  if (/\bno-(store|cache)\b/i.test(cacheControl)) return MIN_TTL;
  const m = /\bmax-age\s*=\s*(\d+)/i.exec(cacheControl);
  if (!m) return DEFAULT_TTL;
  return Math.min(MAX_TTL, Math.max(MIN_TTL, Number(m[1])));
}

function fail(message: string): AAuthError {
  return new AAuthError('auth_server_discovery_failed', message);
}

function endpoint(doc: Record<string, unknown>, names: readonly string[], issuer: string): URL | undefined {
  for (const name of names) {
    const value = doc[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw fail(`${issuer} metadata: ${name} must be a string`);
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw fail(`${issuer} metadata: ${name} is not an absolute URL`);
    }
    const problem = egressProblem(url);
    if (problem) throw fail(`${issuer} metadata: ${name} ${problem}`);
    return url;
  }
  return undefined;
}

/** Validate a metadata document; the token endpoint must be on the issuer's own origin. */
export function parseIssuerMetadata(issuer: string, doc: Record<string, unknown>): IssuerMetadata {
  if (doc.issuer !== undefined && doc.issuer !== issuer) {
    throw fail(`${issuer} metadata names issuer ${JSON.stringify(doc.issuer)}`);
  }
  // Section 8: `token_endpoint`, or `agent_token_endpoint` on older servers.
  const tokenEndpoint = endpoint(doc, ['token_endpoint', 'agent_token_endpoint'], issuer);
  if (tokenEndpoint === undefined) throw fail(`${issuer} metadata has no token_endpoint`);
  if (tokenEndpoint.origin !== new URL(issuer).origin) {
    throw fail(`${issuer} metadata puts its token endpoint on another origin (${tokenEndpoint.origin})`);
  }
  const interactionEndpoint = endpoint(doc, ['interaction_endpoint', 'agent_auth_endpoint'], issuer);
  return { issuer, tokenEndpoint, interactionEndpoint };
}

/** Discovers and caches auth server metadata; concurrent misses for one issuer make one fetch. */
export function createIssuerMetadataResolver(config: {
  timeoutMs: number;
  maxBytes: number;
  now: () => number;
  maxEntries?: number;
}): IssuerMetadataResolver {
  const cache = new Map<string, { metadata: IssuerMetadata; expiresAt: number }>();
  const inflight = new Map<string, Promise<IssuerMetadata>>();
  const maxEntries = config.maxEntries ?? 100;

  async function fetchDoc(issuer: string, transport: typeof fetch): Promise<{ metadata: IssuerMetadata; ttl: number }> {
    const get = (url: URL): Promise<LimitedResponse> =>
      limitedFetch(transport, url, { method: 'GET', headers: { accept: 'application/json' } }, {
        timeoutMs: config.timeoutMs,
        maxBytes: config.maxBytes,
        code: 'auth_server_discovery_failed',
      });
    let response = await get(new URL(`${issuer}/.well-known/aauth-issuer.json`));
    // Section 4: fall back to the name without `.json` only when the `.json` name answers 404.
    if (response.status === 404) response = await get(new URL(`${issuer}/.well-known/aauth-issuer`));
    if (response.status !== 200) throw fail(`${issuer} metadata answered HTTP ${response.status}`);
    const doc = jsonObject(response.body);
    if (doc === undefined) throw fail(`${issuer} metadata is not a JSON object`);
    return { metadata: parseIssuerMetadata(issuer, doc), ttl: ttlFrom(response.headers.get('cache-control')) };
  }

  return {
    resolve(issuer, transport) {
      const hit = cache.get(issuer);
      if (hit && hit.expiresAt > config.now()) return Promise.resolve(hit.metadata);
      let flight = inflight.get(issuer);
      if (!flight) {
        flight = fetchDoc(issuer, transport)
          .then(({ metadata, ttl }) => {
            cache.delete(issuer);
            cache.set(issuer, { metadata, expiresAt: config.now() + ttl });
            while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
            return metadata;
          })
          .finally(() => inflight.delete(issuer));
        inflight.set(issuer, flight);
      }
      return flight;
    },
    evict(issuer) {
      cache.delete(issuer);
    },
    clear() {
      cache.clear();
    },
  };
}
