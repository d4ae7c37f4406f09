import { AAuthError } from '@aauth-kit/core';
import type { EgressPolicy } from './egress.js';
import { LruCache } from './lru.js';
import { raceSignal } from './race-signal.js';

/** A fetched JSON document (200) or a remembered 404. */
export interface FetchedDocument {
  url: string;
  status: 200 | 404;
  body: Record<string, unknown> | undefined;
  /** Epoch seconds of the fetch. */
  fetchedAt: number;
}

interface Entry {
  doc: FetchedDocument | undefined;
  error: AAuthError | undefined;
  fetchedAt: number;
  expiresAt: number;
}

export interface DocumentFetcherOptions {
  fetch: typeof fetch;
  now: () => number;
  egress: EgressPolicy;
  /** Whole-fetch time limit, ms; default 3000. */
  timeoutMs: number;
  /** Largest accepted body, bytes; default 65536. */
  maxBytes: number;
  /** Cached URLs; default 1000. */
  maxEntries: number;
  /** Seconds: a URL is fetched at most once per `minTtl` (default 60), cached at most `maxTtl` (86400). */
  minTtl: number;
  maxTtl: number;
  /** Seconds a response without `Cache-Control: max-age` stays cached; default 300. */
  defaultTtl: number;
  /** Seconds a failure is remembered; default 10. */
  failureTtl: number;
  /** Concurrent fetches; default 100. */
  maxInflight: number;
}

const MAX_REDIRECTS = 3;
const REDIRECT = new Set([301, 302, 303, 307, 308]);

/**
 * Fetches metadata and JWKS documents under the discovery rules of wire profile section 4: egress
 * policy on every hop, time and size limits, same-origin redirects only, a bounded cache honouring
 * Cache-Control (floor `minTtl`, cap `maxTtl`), and one fetch for many concurrent misses.
 */
export class DocumentFetcher {
  private readonly cache: LruCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Number of network fetches started (for tests and metrics). */
  fetchCount = 0;

  constructor(private readonly options: DocumentFetcherOptions) {
    this.cache = new LruCache(options.maxEntries);
  }

  get size(): number {
    return this.cache.size;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /**
   * The document at `url`, from cache when fresh. `refresh` asks for a refetch (unknown `kid`),
   * which happens only when the cached copy is older than the one-minute floor.
   */
  async get(url: string, options: { refresh?: boolean } = {}): Promise<FetchedDocument> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AAuthError('key_discovery_failed', `Not an absolute URL: ${JSON.stringify(url.slice(0, 200))}`);
    }
    // Cheap policy checks first, before any cache slot or socket is spent on the URL.
    this.options.egress.checkStatic(parsed);
    const now = this.options.now();
    const entry = this.cache.get(url);
    if (entry) {
      const fresh = now < entry.expiresAt;
      const refetchAllowed = now - entry.fetchedAt >= this.options.minTtl;
      if (fresh && !(options.refresh && refetchAllowed)) return unwrap(entry);
    }
    let pending = this.inflight.get(url);
    if (!pending) {
      if (this.inflight.size >= this.options.maxInflight) {
        throw new AAuthError('key_discovery_failed', 'Too many key discoveries in progress', { details: { url } });
      }
      pending = this.load(parsed).finally(() => this.inflight.delete(url));
      this.inflight.set(url, pending);
    }
    return unwrap(await pending);
  }

  private async load(url: URL): Promise<Entry> {
    const fetchedAt = this.options.now();
    this.fetchCount++;
    let entry: Entry;
    try {
      const { doc, ttl } = await this.fetchDocument(url, fetchedAt);
      entry = { doc, error: undefined, fetchedAt, expiresAt: fetchedAt + ttl };
    } catch (error) {
      const failure =
        error instanceof AAuthError
          ? error
          : new AAuthError('key_discovery_failed', `Fetching ${url.href} failed`, { cause: error, details: { url: url.href } });
      entry = { doc: undefined, error: failure, fetchedAt, expiresAt: fetchedAt + this.options.failureTtl };
    }
    this.cache.set(url.href, entry);
    return entry;
  }

  private async fetchDocument(url: URL, fetchedAt: number): Promise<{ doc: FetchedDocument; ttl: number }> {
    const { timeoutMs } = this.options;
    const signal = AbortSignal.timeout(timeoutMs);
    const fail = (why: string, cause?: unknown): AAuthError =>
      new AAuthError('key_discovery_failed', `Fetching ${url.href}: ${why}`, { cause, details: { url: url.href } });
    try {
      return await raceSignal(this.fetchFollowing(url, fetchedAt, signal, fail), signal);
    } catch (error) {
      if (signal.aborted) throw fail(`no complete answer within ${timeoutMs} ms`, error);
      if (error instanceof AAuthError) throw error;
      throw fail('the connection failed', error);
    }
  }

  private async fetchFollowing(
    start: URL,
    fetchedAt: number,
    signal: AbortSignal,
    fail: (why: string, cause?: unknown) => AAuthError,
  ): Promise<{ doc: FetchedDocument; ttl: number }> {
    let current = start;
    for (let hop = 0; ; hop++) {
      await this.options.egress.check(current, signal);
      const response = await this.options.fetch(current.href, {
        method: 'GET',
        redirect: 'manual',
        signal,
        headers: { accept: 'application/json' },
      });
      if (REDIRECT.has(response.status)) {
        await discard(response);
        const location = response.headers.get('location');
        if (!location) throw fail(`HTTP ${response.status} without Location`);
        let next: URL;
        try {
          next = new URL(location, current);
        } catch {
          throw fail('redirect to an invalid URL');
        }
        // Section 4: no redirects to another host (nor scheme or port).
        if (next.origin !== start.origin) throw fail(`redirect to another host (${next.origin}) refused`);
        if (hop + 1 > MAX_REDIRECTS) throw fail('too many redirects');
        current = next;
        continue;
      }
      if (response.status === 404) {
        await discard(response);
        return { doc: { url: start.href, status: 404, body: undefined, fetchedAt }, ttl: this.ttl(response.headers) };
      }
      if (response.status !== 200) {
        await discard(response);
        throw fail(`HTTP ${response.status}`);
      }
      const text = await readLimited(response, this.options.maxBytes, fail);
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw fail('the answer is not JSON');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail('the answer is not a JSON object');
      return { doc: { url: start.href, status: 200, body: body as Record<string, unknown>, fetchedAt }, ttl: this.ttl(response.headers) };
    }
  }

  /** Cache lifetime from Cache-Control max-age (minus Age), clamped to [minTtl, maxTtl]. */
  private ttl(headers: Headers): number {
    const { minTtl, maxTtl, defaultTtl } = this.options;
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
    return Math.min(maxTtl, Math.max(minTtl, ttl));
  }
}

function unwrap(entry: Entry): FetchedDocument {
  if (entry.error) throw entry.error;
  return entry.doc!;
}

async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel();
  } catch {
    // The body is not needed; a failure to cancel it changes nothing.
  }
}

async function readLimited(response: Response, maxBytes: number, fail: (why: string) => AAuthError): Promise<string> {
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await discard(response);
    throw fail(`the answer is larger than ${maxBytes} bytes`);
  }
  if (!response.body) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw fail(`the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
