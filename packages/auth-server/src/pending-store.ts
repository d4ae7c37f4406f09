import { AAuthError, type ActClaim, type PublicJwk } from '@aauth-kit/core';

/** A token request waiting for a user's decision (wire profile section 8, the 202 flow). */
export interface PendingRequest {
  /** Unguessable id, the last segment of the pending URL. */
  id: string;
  /** Short code the user sees and the interaction URL carries. */
  code: string;
  /** RFC 7638 thumbprint of the key that made the request; only it may poll. */
  thumbprint: string;
  /** The requesting agent (signer identity). */
  agent: string;
  /** The resource the token is for (`aud`). */
  resource: string;
  /** Space-separated scope to grant. */
  scope: string;
  /** The scopes that made consent necessary. */
  consentScopes: string[];
  /** `auth` or `exchange` (an exchange of a token without a user). */
  kind: 'auth' | 'exchange';
  /** The signer's public key, for `cnf.jwk`. */
  cnfJwk: PublicJwk;
  /** The `act` claim of an exchange. */
  act?: ActClaim;
  /** Epoch seconds. */
  createdAt: number;
  /** Epoch seconds; 600 s after creation by default. */
  expiresAt: number;
  status: 'pending' | 'approved' | 'denied';
  /** The consenting user's id (`sub`), once decided. */
  sub?: string;
  /** The consenting user's name, once decided (for audit). */
  username?: string;
}

/** The user's decision on a pending request. */
export interface PendingDecision {
  status: 'approved' | 'denied';
  sub: string;
  username: string;
}

/**
 * Storage for pending requests. Implementations must make `decide` and `take` atomic: a request is
 * decided once, and its outcome is delivered once. The default is {@link createMemoryPendingStore}.
 */
export interface PendingStore {
  /** Store a new request (ids and codes are unique). */
  put(request: PendingRequest): Promise<void>;
  get(id: string): Promise<PendingRequest | undefined>;
  getByCode(code: string): Promise<PendingRequest | undefined>;
  /** Record the decision if the request is still `pending`; returns the updated request, else undefined. */
  decide(id: string, decision: PendingDecision): Promise<PendingRequest | undefined>;
  /** Remove and return the request (single use). */
  take(id: string): Promise<PendingRequest | undefined>;
}

export interface MemoryPendingStoreOptions {
  /** Most requests held at once; the oldest are dropped first. Default 10,000. */
  maxEntries?: number | undefined;
  /** How long an expired request is kept so that polls get 408, in seconds; default 600. */
  retention?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

/** The default in-memory pending store: bounded, for one process (a fleet needs a shared store). */
export function createMemoryPendingStore(options: MemoryPendingStoreOptions = {}): PendingStore {
  const maxEntries = options.maxEntries ?? 10_000;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError('options.maxEntries must be a positive integer');
  const retention = options.retention ?? 600;
  const now = options.now ?? (() => Date.now() / 1000);
  // Insertion order is creation order, so the first entries are the oldest.
  const byId = new Map<string, PendingRequest>();
  const byCode = new Map<string, string>();

  const remove = (id: string): PendingRequest | undefined => {
    const entry = byId.get(id);
    if (entry) {
      byId.delete(id);
      if (byCode.get(entry.code) === id) byCode.delete(entry.code);
    }
    return entry;
  };
  const sweep = (): void => {
    const t = now();
    for (const [id, entry] of byId) {
      if (entry.expiresAt + retention < t) remove(id);
    }
    while (byId.size >= maxEntries) remove(byId.keys().next().value as string);
  };
  const live = (entry: PendingRequest | undefined): PendingRequest | undefined =>
    entry && entry.expiresAt + retention >= now() ? { ...entry } : undefined;

  return {
    async put(request) {
      if (byId.has(request.id) || byCode.has(request.code)) throw new AAuthError('pending_conflict', 'Pending id or code already in use');
      sweep();
      byId.set(request.id, { ...request });
      byCode.set(request.code, request.id);
    },
    async get(id) {
      return live(byId.get(id));
    },
    async getByCode(code) {
      const id = byCode.get(code);
      return id === undefined ? undefined : live(byId.get(id));
    },
    async decide(id, decision) {
      const entry = byId.get(id);
      if (!entry || entry.status !== 'pending' || entry.expiresAt < now()) return undefined;
      Object.assign(entry, decision);
      return { ...entry };
    },
    async take(id) {
      return remove(id);
    },
  };
}
