import { AAuthError } from '@aauth-kit/core';
import { TELEMETRY_ATTRIBUTES as A } from '@aauth-kit/core/internal';
import { cacheLifetime, MIN_TTL } from './lib/cache-lifetime.js';
import { EgressPolicy } from './lib/egress-policy.js';
import { resolveFetcherOptions, type ResolvedFetcherOptions } from './lib/options.js';
import { createNodeTransport, type Transport } from './lib/node-transport.js';
import { fetchTransport, sendLimited, where } from './lib/send-limited.js';
import { LruCache } from './lru-cache.js';
import type { DocumentFetcher, DocumentFetcherOptions, FetchedDocument, FetchJsonOptions } from './types.js';

interface Entry {
  doc: FetchedDocument | undefined;
  error: AAuthError | undefined;
  fetchedAt: number;
  expiresAt: number;
}

/**
 * The document cache of wire profile section 4: Cache-Control `max-age` minus `Age`, at most one
 * refetch per URL per minute, 24 h at most, failures remembered for `failureTtl`, a bounded LRU,
 * and one fetch for many concurrent misses of a URL.
 */
class CachingFetcher implements DocumentFetcher {
  private readonly cache: LruCache<string, Entry>;
  /**
   * Failed fetches, in an LRU of their own (a quarter of maxEntries): a client naming identities
   * that do not resolve or answer costs a slot there, never a warm document's.
   */
  private readonly failures: LruCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Entry>>();
  /** Fetches under way per host (`name:port`), each at most `maxInflightPerHost`. */
  private readonly hostInflight = new Map<string, number>();
  /** Fetches under way started for one caller, each at most `maxInflightPerCaller`. */
  private readonly callerInflight = new Map<string, number>();
  private readonly egress: EgressPolicy;
  /** The transport of calls that name no fetch: the fetcher's own, else node:http/https (made on first use). */
  private transport: Transport | undefined;
  fetchCount = 0;

  constructor(private readonly o: ResolvedFetcherOptions) {
    this.cache = new LruCache(o.maxEntries);
    this.failures = new LruCache(Math.max(1, Math.ceil(o.maxEntries / 4)));
    this.egress = new EgressPolicy(o);
    if (o.fetch !== undefined) this.transport = fetchTransport(o.fetch);
  }

  get size(): number {
    return this.cache.size + this.failures.size;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  async fetchJson(url: string, options: FetchJsonOptions = {}): Promise<FetchedDocument> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new AAuthError(this.o.failureCode, `Not an absolute URL: ${JSON.stringify(String(url).slice(0, 200))}`);
    }
    // Cheap policy checks first, before any cache slot or socket is spent on the URL.
    this.egress.checkStatic(parsed);
    const key = parsed.href;
    const entry = this.cache.get(key) ?? this.failures.get(key);
    if (entry) {
      const now = this.o.now();
      const fresh = now < entry.expiresAt;
      // Section 4: an unknown `kid` refetches, but never twice within a minute.
      const refetchAllowed = now - entry.fetchedAt >= MIN_TTL;
      if (fresh && !(options.refresh && refetchAllowed)) return unwrap(entry);
    }
    let pending = this.inflight.get(key);
    if (!pending) {
      // Per host first (issue 13): identities on one slow origin hold at most its share of the
      // pool, and the refusal says the server is busy with that host, not that the key is bad.
      const host = parsed.host;
      const busy = this.hostInflight.get(host) ?? 0;
      if (busy >= this.o.maxInflightPerHost) {
        throw new AAuthError('key_discovery_busy', `Too many discovery fetches in progress for ${host}`, {
          details: { url: key },
          headers: { 'Retry-After': String(Math.ceil(this.o.timeoutMs / 1000)) },
        });
      }
      // Per caller too (issue 13): one client naming identities on many slow hosts holds at most
      // its share of the pool, whatever the hosts.
      const caller = options.caller;
      const mine = caller === undefined ? 0 : (this.callerInflight.get(caller) ?? 0);
      if (caller !== undefined && mine >= this.o.maxInflightPerCaller) {
        throw new AAuthError(
          'key_discovery_busy',
          `Too many discovery fetches in progress for this caller (maxInflightPerCaller ${this.o.maxInflightPerCaller})`,
          { details: { url: key }, headers: { 'Retry-After': String(Math.ceil(this.o.timeoutMs / 1000)) } },
        );
      }
      if (this.inflight.size >= this.o.maxInflight) {
        throw new AAuthError(this.o.failureCode, 'Too many discovery fetches in progress', { details: { url: key } });
      }
      this.hostInflight.set(host, busy + 1);
      if (caller !== undefined) this.callerInflight.set(caller, mine + 1);
      pending = this.load(parsed, options).finally(() => {
        this.inflight.delete(key);
        release(this.hostInflight, host);
        if (caller !== undefined) release(this.callerInflight, caller);
      });
      this.inflight.set(key, pending);
    }
    return unwrap(await pending);
  }

  peek(href: string): FetchedDocument | undefined {
    const entry = this.cache.get(href);
    return entry !== undefined && entry.doc !== undefined && this.o.now() < entry.expiresAt ? entry.doc : undefined;
  }

  forget(url: string): void {
    try {
      const href = new URL(url).href;
      this.cache.delete(href);
      this.failures.delete(href);
    } catch {
      // Not a URL: nothing of it is cached.
    }
  }

  clear(): void {
    this.cache.clear();
    this.failures.clear();
  }

  private async load(url: URL, options: FetchJsonOptions): Promise<Entry> {
    const fetchedAt = this.o.now();
    this.fetchCount++;
    let entry: Entry;
    try {
      const { doc, ttl } = await this.fetchDocument(url, fetchedAt, options);
      entry = { doc, error: undefined, fetchedAt, expiresAt: fetchedAt + ttl };
    } catch (error) {
      const failure =
        error instanceof AAuthError
          ? error
          : new AAuthError(this.o.failureCode, `Fetching ${where(url)} failed`, { cause: error, details: { url: url.href } });
      entry = { doc: undefined, error: failure, fetchedAt, expiresAt: fetchedAt + this.o.failureTtl };
    }
    // One place per URL: a document replaces the URL's failure, a failure its stale document.
    if (entry.doc !== undefined) {
      this.failures.delete(url.href);
      this.cache.set(url.href, entry);
    } else {
      this.cache.delete(url.href);
      this.failures.set(url.href, entry);
    }
    return entry;
  }

  /**
   * Keep-alive sockets, at most `maxInflightPerHost` to one origin (no request waits for a socket
   * beyond the fetcher's own limits); this fetcher's pool only, so a socket opened under its egress
   * policy serves no other.
   */
  private defaultTransport(): Transport {
    return (this.transport ??= createNodeTransport({ keepAlive: true, maxSockets: this.o.maxInflightPerHost }));
  }

  /**
   * One fetch from the network. With tracing live it is an `aauth.discovery` client span (a child
   * of the active span: the verification or call that needed the document), and the request
   * carries its `traceparent`, so the document's server sees which trace asked for it.
   */
  private fetchDocument(url: URL, fetchedAt: number, options: FetchJsonOptions): Promise<{ doc: FetchedDocument; ttl: number }> {
    const telemetry = this.o.telemetry;
    if (!telemetry.live()) return this.fetchFrom(url, fetchedAt, options, { accept: 'application/json' });
    // No query string (docs/telemetry.md): a jwks_uri may carry one, and it is not the trace's to keep.
    const attributes = { [A.httpMethod]: 'GET', [A.url]: `${url.origin}${url.pathname}`, [A.serverAddress]: url.hostname, 'aauth.discovery.document': options.kind };
    return telemetry.span('aauth.discovery', 'client', attributes, async (span) => {
      const headers: Record<string, string> = { accept: 'application/json' };
      telemetry.inject(headers);
      const fetched = await this.fetchFrom(url, fetchedAt, options, headers, (status) => span.set({ [A.httpStatus]: status }));
      span.set({ 'aauth.discovery.ttl': fetched.ttl });
      return fetched;
    });
  }

  private async fetchFrom(
    url: URL,
    fetchedAt: number,
    options: FetchJsonOptions,
    headers: Record<string, string>,
    answered?: (status: number) => void,
  ): Promise<{ doc: FetchedDocument; ttl: number }> {
    const answer = await sendLimited(this.egress, url, { method: 'GET', headers }, {
      transport: options.fetch === undefined ? this.defaultTransport() : fetchTransport(options.fetch),
      timeoutMs: this.o.timeoutMs,
      maxBytes: this.o.maxBytes,
      maxRedirects: 3,
      failureCode: this.o.failureCode,
    });
    answered?.(answer.status);
    const ttl = cacheLifetime(answer.headers, this.o.defaultTtl);
    // A 404 is remembered like a document: the caller falls back to the name without `.json` on it only.
    if (answer.status === 404) return { doc: { url: url.href, status: 404, body: undefined, fetchedAt }, ttl };
    const what = `The ${options.kind ?? 'document'} at ${where(url)}`;
    const fail = (why: string): AAuthError => new AAuthError(this.o.failureCode, `${what} ${why}`, { details: { url: url.href } });
    if (answer.status !== 200) throw fail(`answered HTTP ${answer.status}`);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.from(answer.body).toString('utf8'));
    } catch {
      // Discovery asks for no encoding and decodes none: a compressed answer is said as such.
      const encoding = answer.headers.get('content-encoding');
      if (encoding !== null && !/^\s*identity\s*$/i.test(encoding)) {
        throw fail(`is not a JSON object (the answer is Content-Encoding: ${JSON.stringify(encoding.slice(0, 40))}, which discovery does not decode: serve the document uncompressed)`);
      }
      throw fail('is not a JSON object (the answer is not JSON)');
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw fail('is not a JSON object');
    return { doc: { url: url.href, status: 200, body: body as Record<string, unknown>, fetchedAt }, ttl };
  }
}

/** One fetch of `name` is over: count it down, and forget names with none left. */
function release(counts: Map<string, number>, name: string): void {
  const left = (counts.get(name) ?? 1) - 1;
  if (left > 0) counts.set(name, left);
  else counts.delete(name);
}

function unwrap(entry: Entry): FetchedDocument {
  if (entry.error) throw entry.error;
  return entry.doc!;
}

/**
 * Create the one fetcher of metadata and JWKS documents (wire profile section 4): egress policy,
 * time and size limits, same-origin redirects, a bounded Cache-Control cache with a failure cache.
 * Options are validated now; misuse throws a TypeError naming `path` and the option.
 */
export function createDocumentFetcher(options?: DocumentFetcherOptions, path = 'options'): DocumentFetcher {
  return new CachingFetcher(resolveFetcherOptions(options, path));
}
