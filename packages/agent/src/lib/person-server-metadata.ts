import { AAuthError, checkMetadataDocument, isAAuthError } from '@aauth-kit/core';
import type { TelemetryOptions } from '@aauth-kit/core/internal';
import { createDocumentFetcher } from '@aauth-kit/discovery';
import { egressProblem } from './http.js';
import type { PersonServerMetadata } from './next-step-11.js';

function fail(message: string): AAuthError {
  return new AAuthError('auth_server_discovery_failed', message, { status: 502 });
}

/** An endpoint URL (AAuth -11 section 11.x "Endpoint URLs"): https (loopback relaxation aside), no query or fragment. */
function endpoint(doc: Record<string, unknown>, name: string, ps: string, allowLoopback: boolean): URL {
  const value = doc[name];
  if (typeof value !== 'string') throw fail(`${ps} metadata has no ${name}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw fail(`${ps} metadata: ${name} is not an absolute URL`);
  }
  if (url.search !== '' || url.hash !== '' || value.includes('?') || value.includes('#')) throw fail(`${ps} metadata: ${name} has a query or fragment`);
  const local = allowLoopback && (url.hostname === 'localhost' || url.hostname === '127.0.0.1');
  if (url.protocol !== 'https:' && !(local && url.protocol === 'http:')) throw fail(`${ps} metadata: ${name} must use https`);
  const problem = egressProblem(url);
  if (problem) throw fail(`${ps} metadata: ${name} ${problem}`);
  return url;
}

/**
 * Parse `{ps}/.well-known/aauth-person.json` (profile section 2): `issuer` present and equal to
 * the URL it came from minus the well-known suffix, byte for byte (`issuer_missing` /
 * `issuer_mismatch`), and both token endpoints.
 */
export function parsePersonServerMetadata(ps: string, doc: Record<string, unknown>, allowLoopback: boolean): PersonServerMetadata {
  try {
    checkMetadataDocument(doc, { url: `${ps}/.well-known/aauth-person.json`, dwk: 'aauth-person.json', allowLoopback });
  } catch (error) {
    // The person server's fault, not the agent caller's: keep the code in the message, answer 502.
    if (isAAuthError(error)) throw fail(`${error.code}: ${error.message}`);
    throw error;
  }
  return {
    issuer: ps,
    personTokenEndpoint: endpoint(doc, 'person_token_endpoint', ps, allowLoopback),
    authTokenEndpoint: endpoint(doc, 'auth_token_endpoint', ps, allowLoopback),
    // Optional (-11 "PS Metadata"): present when the person server supports missions.
    ...(doc.mission_endpoint === undefined ? {} : { missionEndpoint: endpoint(doc, 'mission_endpoint', ps, allowLoopback) }),
  };
}

/** Resolves person server metadata through @aauth-kit/discovery's cache (the verifier's rules). */
export function createPersonServerResolver(config: { timeoutMs: number; maxBytes: number; now: () => number; allowLoopback: boolean; telemetry?: TelemetryOptions | undefined }): {
  resolve(ps: string, transport: typeof fetch): Promise<PersonServerMetadata>;
  clear(): void;
} {
  const documents = createDocumentFetcher(
    {
      timeoutMs: config.timeoutMs,
      maxBytes: config.maxBytes,
      now: config.now,
      maxEntries: 100,
      failureCode: 'auth_server_discovery_failed',
      deniedCode: 'auth_server_discovery_failed',
      ...(config.telemetry === undefined ? {} : { telemetry: config.telemetry }),
      // The agent contacts only its own person server (or the one an upstream token it was handed names).
      allowPrivateAddresses: true,
    },
    'options.discovery',
  );
  return {
    async resolve(ps, transport) {
      const doc = await documents.fetchJson(`${ps}/.well-known/aauth-person.json`, { kind: 'person server metadata', fetch: transport });
      if (doc.body === undefined) throw fail(`${ps} person server metadata answered HTTP ${doc.status}`);
      return parsePersonServerMetadata(ps, doc.body, config.allowLoopback);
    },
    clear: () => documents.clear(),
  };
}
