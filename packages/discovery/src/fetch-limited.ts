import { EgressPolicy } from './lib/egress-policy.js';
import { sendLimited } from './lib/send-limited.js';
import type { FetchLimitedOptions, LimitedResponse } from './types.js';

/**
 * Send one request under the discovery rules (egress policy on every hop, time and size limits,
 * same-origin redirects of bodiless requests only) and read the answer whole. Uncached: for token
 * requests and polls; documents go through {@link createDocumentFetcher}.
 */
export function fetchLimited(
  url: URL,
  request: { method: string; headers: Record<string, string>; body?: Uint8Array | undefined },
  options: FetchLimitedOptions,
): Promise<LimitedResponse> {
  return sendLimited(new EgressPolicy(options), url, request, {
    fetch: options.fetch ?? globalThis.fetch,
    timeoutMs: options.timeoutMs,
    maxBytes: options.maxBytes,
    maxRedirects: options.maxRedirects ?? 3,
    failureCode: options.failureCode ?? 'key_discovery_failed',
  });
}
