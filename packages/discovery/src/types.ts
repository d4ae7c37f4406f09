import type { AAuthErrorCode } from '@aauth-kit/core';
import type { TelemetryOptions } from '@aauth-kit/core/internal';

/** Resolves a host name to its IP addresses (injectable; default: the system resolver). */
export type ResolveHostname = (hostname: string) => Promise<string[]>;

/** Where discovery may go (wire profile sections 1 and 4). */
export interface EgressOptions {
  /** Hosts (`name`, `name:port`, `*.suffix`) reachable over plain http besides local names; default []. */
  allowHttpHosts?: string[] | undefined;
  /** When set, only these hosts (`name`, `name:port`, `*.suffix`) are ever fetched; default: any public host. */
  allowHosts?: string[] | undefined;
  /** Resolver used to refuse names that point at private addresses; default: node:dns lookup. */
  resolveHostname?: ResolveHostname | undefined;
  /** Let non-local names resolve to private, loopback or link-local addresses; default false. */
  allowPrivateAddresses?: boolean | undefined;
}

/** Discovery limits and egress policy (wire profile section 4): the options a verifier or auth server exposes. */
export interface DiscoveryOptions extends EgressOptions {
  /** Whole-fetch time limit in ms (DNS, connect, redirects, body); default 3000. */
  timeoutMs?: number | undefined;
  /** Largest metadata or JWKS body in bytes; default 65536. */
  maxBytes?: number | undefined;
  /** Cached documents (metadata, JWKS, 404s, failures); default 10000 (thousands of agents, each with its metadata and JWKS). */
  maxEntries?: number | undefined;
  /** Seconds a document without `Cache-Control: max-age` is cached; default 300 (clamped to 60..86400). */
  defaultTtl?: number | undefined;
  /** Seconds a failed fetch is remembered before it is retried; default 10. */
  failureTtl?: number | undefined;
  /** Concurrent fetches across all URLs; default 100 (more fail fast). */
  maxInflight?: number | undefined;
  /**
   * Concurrent fetches to one host (`name:port`); default 10. More fail fast with 503
   * `key_discovery_busy`, so one slow or hostile origin cannot take the whole `maxInflight` pool.
   */
  maxInflightPerHost?: number | undefined;
  /**
   * Concurrent fetches started for one caller (the `caller` of {@link FetchJsonOptions}, e.g. the
   * client's address); default 20. More fail fast with 503 `key_discovery_busy`, so one client naming
   * identities on many slow hosts cannot take the whole `maxInflight` pool. Calls without a caller
   * are held to the per-host and global limits only.
   */
  maxInflightPerCaller?: number | undefined;
}

/** The error codes a fetch fails with: the verifier's defaults, or the caller's own (the agent's). */
export interface FailureCodes {
  /** Code of a failed fetch (transport, timeout, size, redirect, status, not JSON); default `key_discovery_failed`. */
  failureCode?: AAuthErrorCode | undefined;
  /** Code of a URL the egress policy refuses; default `egress_denied`. */
  deniedCode?: AAuthErrorCode | undefined;
}

/** Options of {@link createDocumentFetcher}; validated when the fetcher is created. */
export interface DocumentFetcherOptions extends DiscoveryOptions, FailureCodes {
  /**
   * Fetch used unless a call names its own; default: discovery's own transport over node:http and
   * node:https (same rules; it never loads node's fetch, and pins each connection to the addresses
   * the egress policy checked).
   */
  fetch?: typeof fetch | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /**
   * Spans (docs/telemetry.md): each fetch that goes to the network is an `aauth.discovery` client
   * span, a child of the active span, and its request carries that span's `traceparent`; default
   * on when `@opentelemetry/api` and an SDK are installed. A cache hit is no span.
   */
  telemetry?: TelemetryOptions | undefined;
}

/** A fetched JSON object (200) or a remembered 404, so that callers can fall back on a 404 only. */
export interface FetchedDocument {
  url: string;
  status: 200 | 404;
  /** The parsed JSON object; undefined for a 404. */
  body: Record<string, unknown> | undefined;
  /** Epoch seconds of the fetch. */
  fetchedAt: number;
}

/** Options of one {@link DocumentFetcher.fetchJson} call. */
export interface FetchJsonOptions {
  /** What the document is, for error messages (`'agent metadata'`, `'issuer JWKS'`); default `'document'`. */
  kind?: string | undefined;
  /** Refetch (an unknown `kid`), unless the cached copy is younger than the one-minute floor. */
  refresh?: boolean | undefined;
  /** Fetch for this call (the agent's transport); default the fetcher's (its `fetch`, else node:http/https). */
  fetch?: typeof fetch | undefined;
  /**
   * Who the fetch is for (e.g. the client's address): a new fetch is refused with 503
   * `key_discovery_busy` while `maxInflightPerCaller` fetches started for this caller are in flight.
   * Joining a fetch already in flight for the same URL costs nothing. Default: no per-caller limit.
   */
  caller?: string | undefined;
}

/** Fetches JSON documents under the discovery rules, through one bounded cache. */
export interface DocumentFetcher {
  /** The document at `url`, from the cache while fresh; throws an `AAuthError` (also remembered for `failureTtl`). */
  fetchJson(url: string, options?: FetchJsonOptions): Promise<FetchedDocument>;
  /**
   * The cached document at `href` (exactly as {@link FetchedDocument.url} names it) while it is
   * fresh, else undefined; never fetches, marks it recently used like a cache hit of fetchJson.
   */
  peek?(href: string): FetchedDocument | undefined;
  /** Drop the cached copy (or failure) of `url`. */
  forget(url: string): void;
  /** Drop every cached document and failure. */
  clear(): void;
  /** Cached documents and failures. */
  readonly size: number;
  /** Fetches under way. */
  readonly inflightCount: number;
  /** Network fetches started so far (for metrics and tests). */
  readonly fetchCount: number;
}

/** What discovery reads of an answer's headers; a fetch `Headers` is one. */
export interface ResponseHeaders {
  /** The value of the header `name` (any case), repeated fields joined with `, `; null when absent. */
  get(name: string): string | null;
}

/**
 * A response read whole, within limits. `headers` is the `Headers` of the `fetch` that was given;
 * without one (discovery's node:http transport) a {@link ResponseHeaders} over node's headers.
 */
export interface LimitedResponse<H extends ResponseHeaders = Headers> {
  status: number;
  headers: H;
  body: Uint8Array;
  /** The URL that answered (after same-origin redirects). */
  url: URL;
}

/** Limits and policy of one {@link fetchLimited} call. */
export interface FetchLimitedOptions extends EgressOptions, FailureCodes {
  /** Fetch to send with; default: discovery's own transport over node:http and node:https (no keep-alive). */
  fetch?: typeof fetch | undefined;
  /** Whole-fetch time limit in ms (redirects and body included). */
  timeoutMs: number;
  /** Largest accepted body in bytes. */
  maxBytes: number;
  /** Same-origin redirects followed for requests without a body; default 3. */
  maxRedirects?: number | undefined;
  /** The caller gave up: the request is cancelled and the call rejects with the signal's reason (fetch's `AbortError`). */
  signal?: AbortSignal | undefined;
}
