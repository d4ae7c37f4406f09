import { AAuthError, type ActClaim, type PublicJwk } from '@aauth-kit/core';
import type { FederationPending } from './lib/access-server/federate.js';

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
  /**
   * `auth` or `exchange` (an exchange of a token without a user) in the Keycloak profile;
   * `person-11` (a -11 person token) or `auth-11` (a -11 auth token) at the person server.
   */
  kind: 'auth' | 'exchange' | 'person-11' | 'auth-11';
  /** The signer's public key, for `cnf.jwk`. */
  cnfJwk: PublicJwk;
  /** The `act` claim of an exchange. */
  act?: ActClaim;
  /** What a -11 request (`person-11`, `auth-11`) needs to be delivered after consent. */
  draft11?: PendingDraft11;
  /** Epoch seconds. */
  createdAt: number;
  /** Epoch seconds; 600 s after creation by default. */
  expiresAt: number;
  /** `withdrawn`: the agent cancelled it (AAuth -11 "Cancel Request", a DELETE of the pending URL); never delivered. */
  status: 'pending' | 'approved' | 'denied' | 'withdrawn';
  /** The consenting user's id (`sub`), once decided. */
  sub?: string;
  /** The consenting user's name, once decided (for audit). */
  username?: string;
  /**
   * AAuth -11 "Clarification Chat": the person's questions to the agent while deciding, in order,
   * each with the agent's answer once it came; the last one unanswered is open.
   */
  chat?: ClarificationTurn[];
}

/** One question the person asked the agent, and the agent's answer (untrusted text, shown as such). */
export interface ClarificationTurn {
  question: string;
  /** Epoch seconds. */
  asked: number;
  answer?: string;
  /** Epoch seconds. */
  answered?: number;
  /**
   * The agent answered with an updated request (AAuth -11 "Updated Request"): the scope it asks
   * for now; `answer` is then its justification of the change (empty when it gave none).
   */
  updatedScope?: string;
}

/** What an updated request (AAuth -11 "Updated Request") replaces in a pending request. */
export type PendingUpdate = Pick<PendingRequest, 'scope' | 'consentScopes'> & { draft11: PendingDraft11 };

/** A change to a pending request's clarification chat ({@link PendingStore.converse}). */
export type ClarificationChange =
  /** The person asks: only when no question is open and fewer than `max` were asked. */
  | { question: string; max: number }
  /** The agent answers the open question. */
  | { answer: string }
  /** The agent answers the open question with an updated request: `update` replaces those fields, in the same step. */
  | { answer: string; update: PendingUpdate };

/** The -11 part of a pending request at the person server (draft-11 profile section 8). */
export interface PendingDraft11 {
  /** The signing key's public JWK with its `alg`, for `cnf.jwk`. */
  cnfJwk: Record<string, string>;
  /** The agent token's `iss` (its agent provider), whose `aauth-agent.json` names the agent on the consent page. */
  provider?: string;
  /** The latest `exp` the issued token may have (the agent token's, the presented token's). */
  expCap: number;
  /** The realm user the request must be approved by, when this server already knows it. */
  user?: string;
  /** `auth-11`: the directed `sub` of the resource token. */
  sub?: string;
  /** `auth-11`: optional claims copied from the resource token. */
  account?: string;
  tenant?: string;
  missionS256?: string;
  /** The agent declared the `clarification` capability: the person may ask it questions (AAuth -11 "Clarification Chat"). */
  clarify?: boolean;
  /**
   * `auth-11`: the agent's `justification` (Markdown) as sent, at most 4096 characters. Agent-asserted:
   * the consent page shows it sanitised, as plain text, attributed to the agent (AAuth -11, consent presentation).
   */
  justification?: string;
  /** `auth-11`: the resource token's `presented_jti` (the person or auth token it was issued against). */
  presentedJti?: string;
  /** `auth-11`: the `jti` of the `upstream_token`, when chained. Both are the revocation cascade's links. */
  upstreamJti?: string;
  /** The agent token the request was made with, `[iss, jti]`: revoked by its provider, the request ends `revoked`. */
  agentToken?: [string, string];
  /** `auth-11`: the resource token it was started for, `[iss, jti]`: withdrawn by its resource, the request ends `revoked`. */
  resourceToken?: [string, string];
  /**
   * `auth-11`, four-party: what the person server sends the access server once the person
   * consented (the resource token's `aud`, and the token request's tokens).
   */
  federation?: {
    accessServer: string;
    resourceToken: string;
    agentToken: string;
    presentedToken?: string;
    upstreamToken?: string;
    scope: string;
    /** The access server deferred its answer (AAuth -11 "AS Response"): its pending URL, polled as the agent polls. */
    pending?: FederationPending;
  };
}

/** The user's decision on a pending request. */
export interface PendingDecision {
  /** `withdrawn` is the agent's own cancellation (sub and username empty), not a person's decision. */
  status: 'approved' | 'denied' | 'withdrawn';
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
  /**
   * Undo a `take` whose delivery failed with a 5xx (the agent is told to retry): `request`, as `take`
   * returned it, is back with its decision, under its id and code, for the agent's next poll; true
   * when it is. With `replacement` (the same id, code, agent, resource and expiry; other fields
   * changed: a four-party request whose access server deferred, with that server's pending state),
   * that is what is back, decided as `request` was. Optional: without it the server puts the request
   * back with `put` and `decide`.
   */
  untake?(request: PendingRequest, replacement?: PendingRequest): Promise<boolean>;
  /**
   * AAuth -11 "Clarification Chat": add the person's question, or the agent's answer to the open
   * one (with `update`: its updated request, replacing those fields in the same step), atomically,
   * while the request is still `pending` and not expired; returns the updated request, else
   * undefined (decided, gone, a question already open, `max` reached, none open).
   * Optional: a store without it makes the person server offer no questions.
   */
  converse?(id: string, change: ClarificationChange): Promise<PendingRequest | undefined>;
}

/** The question of `request` the agent has not answered yet, if any. */
export function openQuestion(request: PendingRequest): ClarificationTurn | undefined {
  const last = request.chat?.at(-1);
  return last !== undefined && last.answer === undefined ? last : undefined;
}

/** The chat after `change`, or undefined when the change does not apply (see {@link PendingStore.converse}). */
export function applyClarification(chat: readonly ClarificationTurn[] | undefined, change: ClarificationChange, at: number): ClarificationTurn[] | undefined {
  const turns = chat ?? [];
  const last = turns.at(-1);
  const open = last !== undefined && last.answer === undefined;
  if ('question' in change) {
    if (open || turns.length >= change.max) return undefined;
    return [...turns, { question: change.question, asked: at }];
  }
  if (last === undefined || !open) return undefined;
  return [...turns.slice(0, -1), { ...last, answer: change.answer, answered: at, ...('update' in change ? { updatedScope: change.update.scope } : {}) }];
}

export interface MemoryPendingStoreOptions {
  /**
   * Most requests held at once; default 10,000. When full, requests that expired are dropped first;
   * a live request is never dropped for a new one, which is refused instead (503 `pending_store_full`).
   */
  maxEntries?: number | undefined;
  /** Most live requests one agent key (thumbprint) may have waiting; default 32 (429 `pending_limit_reached`). */
  maxPerAgent?: number | undefined;
  /** Most live requests for one resource; default 1,000 (429 `pending_limit_reached`). */
  maxPerResource?: number | undefined;
  /** How long an expired request is kept so that polls get 408, in seconds; default 600. */
  retention?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
}

function positive(value: number | undefined, name: string, fallback: number): number {
  const n = value ?? fallback;
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`options.${name} must be a positive integer`);
  return n;
}

/**
 * The default in-memory pending store: bounded, for one process (a fleet needs a shared store).
 * One caller cannot push out another's request (finding 4): each agent key and each resource has
 * its own cap, and a full store refuses new requests rather than dropping live ones.
 */
export function createMemoryPendingStore(options: MemoryPendingStoreOptions = {}): PendingStore {
  const maxEntries = positive(options.maxEntries, 'maxEntries', 10_000);
  const maxPerAgent = positive(options.maxPerAgent, 'maxPerAgent', 32);
  const maxPerResource = positive(options.maxPerResource, 'maxPerResource', 1000);
  const retention = options.retention ?? 600;
  const now = options.now ?? (() => Date.now() / 1000);
  // Insertion order is creation order, so the first entries are the oldest.
  const byId = new Map<string, PendingRequest>();
  const byCode = new Map<string, string>();
  // Ids per agent key and per resource, to count each caller's share without a scan.
  const byAgent = new Map<string, Set<string>>();
  const byResource = new Map<string, Set<string>>();

  const index = (map: Map<string, Set<string>>, key: string, id: string, add: boolean): void => {
    let ids = map.get(key);
    if (add) {
      if (!ids) map.set(key, (ids = new Set()));
      ids.add(id);
    } else if (ids) {
      ids.delete(id);
      if (ids.size === 0) map.delete(key);
    }
  };
  const remove = (id: string): PendingRequest | undefined => {
    const entry = byId.get(id);
    if (entry) {
      byId.delete(id);
      if (byCode.get(entry.code) === id) byCode.delete(entry.code);
      index(byAgent, entry.thumbprint, id, false);
      index(byResource, entry.resource, id, false);
    }
    return entry;
  };
  const sweep = (t: number): void => {
    for (const [id, entry] of byId) {
      if (entry.expiresAt + retention < t) remove(id);
    }
  };
  /** Requests of `ids` that have not expired, with the earliest expiry among them. */
  const liveOf = (ids: Set<string> | undefined, t: number): { count: number; firstExpiry: number } => {
    let count = 0;
    let firstExpiry = Number.POSITIVE_INFINITY;
    for (const id of ids ?? []) {
      const entry = byId.get(id);
      if (entry && entry.expiresAt >= t) {
        count += 1;
        firstExpiry = Math.min(firstExpiry, entry.expiresAt);
      }
    }
    return { count, firstExpiry };
  };
  const retryAfter = (until: number, t: number): Record<string, string> => ({ 'Retry-After': String(Math.max(1, Math.ceil(until - t))) });
  const live = (entry: PendingRequest | undefined): PendingRequest | undefined =>
    entry && entry.expiresAt + retention >= now() ? { ...entry } : undefined;

  return {
    async put(request) {
      if (byId.has(request.id) || byCode.has(request.code)) throw new AAuthError('pending_conflict', 'Pending id or code already in use');
      const t = now();
      sweep(t);
      const agent = liveOf(byAgent.get(request.thumbprint), t);
      if (agent.count >= maxPerAgent) {
        throw new AAuthError('pending_limit_reached', `This agent key already has ${agent.count} requests waiting for a user's decision`, {
          headers: retryAfter(agent.firstExpiry, t),
        });
      }
      const resource = liveOf(byResource.get(request.resource), t);
      if (resource.count >= maxPerResource) {
        throw new AAuthError('pending_limit_reached', `${resource.count} requests for this resource are already waiting for a user's decision`, {
          headers: retryAfter(resource.firstExpiry, t),
        });
      }
      if (byId.size >= maxEntries) {
        // Only requests that expired (kept to answer 408) make room, oldest first; never a live one.
        for (const [id, entry] of byId) {
          if (byId.size < maxEntries) break;
          if (entry.expiresAt < t) remove(id);
        }
        if (byId.size >= maxEntries) {
          const oldest = byId.values().next().value as PendingRequest;
          throw new AAuthError('pending_store_full', undefined, { headers: retryAfter(oldest.expiresAt, t) });
        }
      }
      byId.set(request.id, { ...request });
      byCode.set(request.code, request.id);
      index(byAgent, request.thumbprint, request.id, true);
      index(byResource, request.resource, request.id, true);
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
    async converse(id, change) {
      const t = now();
      const entry = byId.get(id);
      if (!entry || entry.status !== 'pending' || entry.expiresAt < t) return undefined;
      const chat = applyClarification(entry.chat, change, t);
      if (chat === undefined) return undefined;
      entry.chat = chat;
      if ('update' in change) Object.assign(entry, { scope: change.update.scope, consentScopes: change.update.consentScopes, draft11: change.update.draft11 });
      return { ...entry };
    },
  };
}
