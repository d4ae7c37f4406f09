import type { RevocationRegistry, RevocationStoreResult, RevocationSubject } from './types.js';

/** An in-memory revocation store; `size` is exposed for monitoring. */
export interface MemoryRevocationStore extends RevocationRegistry {
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
  /** An agent or grant entry: the last `iat` it covers (the second it was revoked in). */
  at?: number;
}

// Keys: `t` a token, `a` an agent, `g` a grant. Issuers, agents and users are identifiers or ids
// without a newline, so `kind\nissuer\n...` names one entry unambiguously.
const tokenKey = (issuer: string, jti: string): string => `t\n${issuer}\n${jti}`;
const agentKey = (issuer: string, agent: string): string => `a\n${issuer}\n${agent}`;
const grantKey = (issuer: string, sub: string, agent: string): string => `g\n${issuer}\n${sub}\n${agent}`;

/**
 * A bounded in-memory revocation store for one process (AAuth -11 "Revocation Request"): state
 * keyed by `(issuer, jti)`, by agent and by grant (issue 17), dropped once `until` has passed. A full store refuses new entries
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

  /** The live entry under `key`, dropping an expired one. */
  const live = (key: string, t: number): Entry | undefined => {
    const entry = entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.until > t) return entry;
    drop(key, entry);
    return undefined;
  };

  /** Keep `key` until `until` (the later of two), covering `at` (the later of two) when given. */
  const record = (issuer: string, key: string, until: number, at?: number): RevocationStoreResult => {
    const t = now();
    // Already past: whatever it covers is refused as expired anyway; nothing to keep.
    if (!(until > t)) return 'recorded';
    const existing = entries.get(key);
    if (existing !== undefined) {
      existing.until = Math.max(existing.until, until);
      if (at !== undefined) existing.at = Math.max(existing.at ?? at, at);
      return 'recorded';
    }
    if (entries.size >= maxEntries || (perIssuer.get(issuer) ?? 0) >= maxPerIssuer) sweep(t);
    if (entries.size >= maxEntries || (perIssuer.get(issuer) ?? 0) >= maxPerIssuer) return 'full';
    entries.set(key, at === undefined ? { issuer, until } : { issuer, until, at });
    perIssuer.set(issuer, (perIssuer.get(issuer) ?? 0) + 1);
    return 'recorded';
  };

  /** The last `iat` the agent and grant entries for `agents` (and `sub`) cover. */
  const covered = (issuer: string, agents: readonly string[], sub: string | undefined, t: number): number | undefined => {
    let at: number | undefined;
    for (const agent of agents) {
      for (const key of sub === undefined ? [agentKey(issuer, agent)] : [agentKey(issuer, agent), grantKey(issuer, sub, agent)]) {
        const entry = live(key, t);
        if (entry?.at !== undefined) at = Math.max(at ?? entry.at, entry.at);
      }
    }
    return at;
  };

  return {
    maxEntries,
    get size() {
      return entries.size;
    },
    isRevoked(issuer: string, jti: string, subject?: RevocationSubject): boolean {
      const t = now();
      if (live(tokenKey(issuer, jti), t) !== undefined) return true;
      if (subject === undefined || subject.agents.length === 0) return false;
      const at = covered(issuer, subject.agents, subject.sub, t);
      // A token without iat cannot show it came after the revocation: covered.
      return at !== undefined && (subject.iat === undefined || subject.iat <= at);
    },
    async revoke(issuer: string, jti: string, until: number): Promise<RevocationStoreResult> {
      return record(issuer, tokenKey(issuer, jti), until);
    },
    async revokeAgent(issuer: string, agent: string, until: number): Promise<RevocationStoreResult> {
      return record(issuer, agentKey(issuer, agent), until, Math.floor(now()));
    },
    async revokeGrant(issuer: string, sub: string, agent: string, until: number): Promise<RevocationStoreResult> {
      return record(issuer, grantKey(issuer, sub, agent), until, Math.floor(now()));
    },
    async coveredThrough(issuer: string, agents: readonly string[], sub?: string): Promise<number | undefined> {
      return covered(issuer, agents, sub, now());
    },
  };
}
