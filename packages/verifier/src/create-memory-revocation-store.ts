import type { RevocationStore, RevocationStoreResult } from './types.js';

/** An in-memory revocation store; `size` is exposed for monitoring. */
export interface MemoryRevocationStore extends RevocationStore {
  /** Entries currently held (at most `maxEntries`). */
  readonly size: number;
  readonly maxEntries: number;
}

export interface MemoryRevocationStoreOptions {
  /** Most entries held; default 100000. */
  maxEntries?: number | undefined;
  /** Most entries held for one issuer; default 10000 (AAuth -11: bound what one issuer can hold). */
  maxEntriesPerIssuer?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

interface Entry {
  issuer: string;
  until: number;
}

/**
 * A bounded in-memory revocation store for one process (AAuth -11 "Revocation Request"): state
 * keyed by `(issuer, jti)`, dropped once `until` has passed. A full store refuses new entries
 * (`'full'`, answered `rate_limited`) rather than forgetting live ones: forgetting would un-revoke.
 */
export function createMemoryRevocationStore(options: MemoryRevocationStoreOptions = {}): MemoryRevocationStore {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const maxEntries = options.maxEntries ?? 100_000;
  const maxPerIssuer = options.maxEntriesPerIssuer ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('options.maxEntries must be a positive integer');
  if (!Number.isInteger(maxPerIssuer) || maxPerIssuer < 1) throw new TypeError('options.maxEntriesPerIssuer must be a positive integer');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('options.now must be a function');
  const now = options.now ?? (() => Date.now() / 1000);
  // An issuer is a server identifier (no newline), so `issuer\njti` names one pair unambiguously.
  const entries = new Map<string, Entry>();
  const perIssuer = new Map<string, number>();
  let lastSweep = Number.NEGATIVE_INFINITY;

  const drop = (key: string, entry: Entry): void => {
    entries.delete(key);
    const n = (perIssuer.get(entry.issuer) ?? 1) - 1;
    if (n <= 0) perIssuer.delete(entry.issuer);
    else perIssuer.set(entry.issuer, n);
  };

  /** Drop expired entries; a full scan, so at most once a second (only a full store needs it). */
  const sweep = (t: number): void => {
    if (t - lastSweep < 1) return;
    lastSweep = t;
    for (const [key, entry] of entries) if (entry.until <= t) drop(key, entry);
  };

  return {
    maxEntries,
    get size() {
      return entries.size;
    },
    isRevoked(issuer: string, jti: string): boolean {
      const key = `${issuer}\n${jti}`;
      const entry = entries.get(key);
      if (entry === undefined) return false;
      if (entry.until > now()) return true;
      drop(key, entry);
      return false;
    },
    async revoke(issuer: string, jti: string, until: number): Promise<RevocationStoreResult> {
      const t = now();
      // Already past its exp plus skew: the token is refused as expired anyway; nothing to keep.
      if (!(until > t)) return 'recorded';
      const key = `${issuer}\n${jti}`;
      const existing = entries.get(key);
      if (existing !== undefined) {
        existing.until = Math.max(existing.until, until);
        return 'recorded';
      }
      if (entries.size >= maxEntries || (perIssuer.get(issuer) ?? 0) >= maxPerIssuer) sweep(t);
      if (entries.size >= maxEntries || (perIssuer.get(issuer) ?? 0) >= maxPerIssuer) return 'full';
      entries.set(key, { issuer, until });
      perIssuer.set(issuer, (perIssuer.get(issuer) ?? 0) + 1);
      return 'recorded';
    },
  };
}
