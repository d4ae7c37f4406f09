import { EgressPolicy } from './lib/egress-policy.js';
import { createNodeTransport } from './lib/node-transport.js';
import { fetchTransport, sendLimited } from './lib/send-limited.js';
import type { FetchLimitedOptions, LimitedResponse, ResponseHeaders } from './types.js';

/**
 * Send one request under the discovery rules (egress policy on every hop, time and size limits,
 * same-origin redirects of bodiless requests only) and read the answer whole. Uncached: for token
 * requests and polls; documents go through {@link createDocumentFetcher}. With a `fetch`, the
 * answer's headers are its `Headers`; without one the request goes over node:http/https.
 */
export function fetchLimited(
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined },
  options: FetchLimitedOptions & { fetch: typeof fetch },
): Promise<LimitedResponse<Headers>>;
export function fetchLimited(
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined },
  options: FetchLimitedOptions,
): Promise<LimitedResponse<ResponseHeaders>>;
export function fetchLimited(
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined },
  options: FetchLimitedOptions,
): Promise<LimitedResponse<ResponseHeaders>> {
  return sendLimited(new EgressPolicy(options), url, request, {
    transport: options.fetch === undefined ? createNodeTransport() : fetchTransport(options.fetch),
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    maxRedirects: options.maxRedirects ?? 3,
    failureCode: options.failureCode ?? 'key_discovery_failed',
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
}
