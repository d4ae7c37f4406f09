import { AAuthError } from '@aauth-kit/core';
import type { TelemetryOptions } from '@aauth-kit/core/internal';
import { createDocumentFetcher, type FetchedDocument } from '@aauth-kit/discovery';
import { egressProblem } from './http.js';

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

/**
 * Discovers auth server metadata through @aauth-kit/discovery's document cache (the verifier's
 * rules: Cache-Control max-age minus Age, one-minute floor, 24 h cap, failures remembered 10 s,
 * bounded LRU); concurrent misses for one issuer make one fetch.
 */
export function createIssuerMetadataResolver(config: {
  timeoutMs: number;
  maxBytes: number;
  now: () => number;
  maxEntries?: number;
  /** The agent's `options.telemetry`: each fetch an `aauth.discovery` span (docs/telemetry.md). */
  telemetry?: TelemetryOptions | undefined;
}): IssuerMetadataResolver {
  const documents = createDocumentFetcher(
    {
      timeoutMs: config.timeoutMs,
      maxBytes: config.maxBytes,
      now: config.now,
      maxEntries: config.maxEntries ?? 100,
      failureCode: 'auth_server_discovery_failed',
      deniedCode: 'auth_server_discovery_failed',
      ...(config.telemetry === undefined ? {} : { telemetry: config.telemetry }),
      // The agent contacts only auth servers its configuration trusts, often on a private network.
      allowPrivateAddresses: true,
    },
    'options.discovery',
  );
  // One parsed view per cached document: callers of one fetch share one IssuerMetadata object.
  const parsed = new WeakMap<Record<string, unknown>, IssuerMetadata>();
  const urls = (issuer: string): [string, string] => [`${issuer}/.well-known/aauth-issuer.json`, `${issuer}/.well-known/aauth-issuer`];

  return {
    async resolve(issuer, transport) {
      const [json, plain] = urls(issuer);
      const kind = 'issuer metadata';
      let doc: FetchedDocument = await documents.fetchJson(json, { kind, fetch: transport });
      // Section 4: fall back to the name without `.json` only when the `.json` name answers 404.
      if (doc.status === 404) doc = await documents.fetchJson(plain, { kind, fetch: transport });
      if (doc.body === undefined) throw fail(`${issuer} metadata answered HTTP ${doc.status}`);
      let metadata = parsed.get(doc.body);
      if (metadata?.issuer !== issuer) {
        metadata = parseIssuerMetadata(issuer, doc.body);
        parsed.set(doc.body, metadata);
      }
      return metadata;
    },
    evict(issuer) {
      for (const url of urls(issuer)) documents.forget(url);
    },
    clear() {
      documents.clear();
    },
  };
}
