import type { ResponseHeaders } from '../types.js';

/** Section 4: a URL is refetched at most once a minute, whatever its Cache-Control says. */
export const MIN_TTL = 60;
/** Section 4: a document is cached for 24 h at most. */
export const MAX_TTL = 86_400;

/**
 * Seconds an answer may be cached: `Cache-Control: max-age` minus `Age` (RFC 9111 section 4.2.3,
 * the time it already spent in caches upstream), `no-store`/`no-cache` as 0, else `defaultTtl`;
 * clamped to [MIN_TTL, MAX_TTL].
 */
export function cacheLifetime(headers: ResponseHeaders, defaultTtl: number): number {
  const cc = (headers.get('cache-control') ?? '').toLowerCase();
  let ttl = defaultTtl;
  if (/(?:^|[,\s])(?:no-store|no-cache)(?:$|[,\s=])/.test(cc)) ttl = 0;
  else {
    const m = /(?:^|[,\s])max-age\s*=\s*"?(\d+)"?/.exec(cc);
    if (m) {
      const age = Number.parseInt(headers.get('age') ?? '0', 10);
      ttl = Number.parseInt(m[1]!, 10) - (Number.isFinite(age) && age > 0 ? age : 0);
    }
  }
  return Math.min(MAX_TTL, Math.max(MIN_TTL, ttl));
}
