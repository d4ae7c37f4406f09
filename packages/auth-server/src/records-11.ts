import { remember } from './lib/server-11.js';

// The -11 person server's and access server's records (issue 17): in memory by default (one
// process, bounded), or shared by a fleet through createRedisAuthServerStores. Every operation is
// async, and a failing shared store fails it with 503 `store_unavailable`.

/** A person or auth token the person server issued, kept until its `exp` (PS-13). */
export interface IssuedRecord11 {
  kind: 'person' | 'auth';
  /** Its (directed) `sub`. */
  sub: string;
  resource: string;
  /** The realm user (id) it acts for. */
  user: string;
  exp: number;
  /** Thumbprint of the key it is bound to: only its holder may revoke it. */
  thumbprint: string;
  /** The `jti`s of this server's tokens it was issued against (AAuth -11 "Revocation Cascade"). */
  from?: string[] | undefined;
  /** A person token: the access servers it was presented to (four-party). */
  accessServers?: string[] | undefined;
  /** The agent it was issued to. */
  agent?: string | undefined;
  revoked?: true | undefined;
}

/** The person server's records: issued tokens, agent bindings, the users' grants. */
export interface PersonRecordStore {
  /** Keep a token's record until its `exp` (indexed by the tokens it was issued against and by its user and agent). */
  putIssued(jti: string, record: IssuedRecord11): Promise<void>;
  getIssued(jti: string): Promise<IssuedRecord11 | undefined>;
  /** A person token was presented to `accessServer` (its revocation is forwarded there). */
  addAccessServer(jti: string, accessServer: string): Promise<void>;
  /** The tokens issued against `jti` (one step of the cascade). */
  childrenOf(jti: string): Promise<string[]>;
  /** Mark tokens revoked: answers those that were live and not revoked before. */
  markRevoked(jtis: readonly string[]): Promise<string[]>;
  /** The realm user an agent acts for (set by its first consent). */
  bindingOf(agent: string): Promise<string | undefined>;
  /** Bind an agent to a user, unless it is bound already. */
  bind(agent: string, user: string): Promise<void>;
  /** The scopes `user` granted at `resource` (`''` marks the resource approved). */
  grantsOf(user: string, resource: string): Promise<Set<string>>;
  /** Record a consent of `user` at `resource`, given through `agent`. */
  grant(user: string, resource: string, scopes: readonly string[], agent: string): Promise<void>;
  /**
   * The user withdrew the agent's grant (issue 17): the agent's binding to the user goes, the user's
   * grants at the resources consented through it go, and the agent is marked withdrawn (its next
   * person-token request learns it once, {@link takeWithdrawn}). Answers the `jti`s issued to the pair.
   */
  withdraw(user: string, agent: string, until: number): Promise<string[]>;
  /** Whether the agent's grant was withdrawn since it last asked: answers the user once, then forgets. */
  takeWithdrawn(agent: string): Promise<string | undefined>;
  /** The `jti`s issued to `agent` (its `sub`): an agent token revocation cascades by it (AAuth -11 "Revocation Cascade"). */
  issuedTo(agent: string): Promise<string[]>;
  /** An agent token this server accepted, by `(iss, jti)`: the agent (`sub`) it named, until `until` (PS-115). */
  putAgentToken(iss: string, jti: string, sub: string, until: number): Promise<void>;
  agentTokenSub(iss: string, jti: string): Promise<string | undefined>;
  /** A token revoked here by its issuer (an agent provider's agent token, a resource's resource token), keyed by `(iss, jti)`, until `until`. */
  revokeToken(iss: string, jti: string, until: number): Promise<void>;
  isTokenRevoked(iss: string, jti: string): Promise<boolean>;
  /** Whether this server dealt with `id` lately: accepted an agent token it issued (`agent`), or issued a token for it (`resource`). */
  knows(kind: 'agent' | 'resource', id: string): Promise<boolean>;
}

/** How long after a token's `exp` its resource is still known (its resource tokens may be revoked until then). */
export const KNOWN_RESOURCE_SECONDS = 3600;

/** An auth token the access server issued (AS-44). */
export interface IssuedAuthRecord11 {
  resource: string;
  exp: number;
  /** The person server it was issued for (the resource token's `ps`). */
  ps: string;
  /** The `presented_jti` of the resource token it was issued against. */
  presentedJti: string;
}

/** The access server's records: issued auth tokens, and the person and resource tokens revoked to it. */
export interface AccessRecordStore {
  /** Keep an issued auth token's record until `until` (its `exp` plus clock skew). */
  putIssued(jti: string, record: IssuedAuthRecord11, until: number): Promise<void>;
  /** The auth tokens issued for `ps` against its token `presentedJti`. */
  issuedAgainst(ps: string, presentedJti: string): Promise<Array<[string, IssuedAuthRecord11]>>;
  /** Record a revocation (`presented`: a person server's token, key `ps\njti`; `resource`: a resource token, key `resource\njti`) until `until`. */
  revokeLink(kind: 'presented' | 'resource', key: string, until: number): Promise<void>;
  isLinkRevoked(kind: 'presented' | 'resource', key: string): Promise<boolean>;
}

/** Both stores, as createAuthServer's `draft11Records` option takes them. */
export interface Draft11Records {
  person: PersonRecordStore;
  access: AccessRecordStore;
}

/** In-memory -11 records for one process (the default): bounded, the oldest go first. */
export function createMemoryDraft11Records(now: () => number = () => Date.now() / 1000): Draft11Records {
  const issued = new Map<string, IssuedRecord11>();
  const children = new Map<string, Set<string>>();
  const pairs = new Map<string, Set<string>>();
  const bindings = new Map<string, string>();
  const grants = new Map<string, Set<string>>();
  /** `user\nagent` -> the resources consented through that agent. */
  const via = new Map<string, Set<string>>();
  const withdrawn = new Map<string, { user: string; until: number }>();
  const byAgent = new Map<string, Set<string>>();
  const agentTokens = new Map<string, { sub: string; until: number }>();
  const revokedTokens = new Map<string, number>();
  const known = new Map<string, number>();
  /** A value of `map` until its time, then gone. */
  const unexpired = <V extends number | { until: number }>(map: Map<string, V>, key: string): V | undefined => {
    const v = map.get(key);
    if (v === undefined) return undefined;
    if ((typeof v === 'number' ? v : v.until) < now()) {
      map.delete(key);
      return undefined;
    }
    return v;
  };
  const knowUntil = (key: string, until: number): void => remember(known, key, Math.max(until, known.get(key) ?? 0));
  const add = (map: Map<string, Set<string>>, key: string, value: string): void => {
    const set = map.get(key) ?? new Set();
    set.add(value);
    remember(map, key, set);
  };
  // Kept past `exp` while there is room (as before the store): the service compares `exp` itself.
  const live = (jti: string): IssuedRecord11 | undefined => issued.get(jti);
  const person: PersonRecordStore = {
    async putIssued(jti, record) {
      remember(issued, jti, { ...record });
      for (const parent of record.from ?? []) add(children, parent, jti);
      if (record.agent !== undefined) add(pairs, `${record.user}\n${record.agent}`, jti);
      if (record.agent !== undefined) add(byAgent, record.agent, jti);
      knowUntil(`resource\n${record.resource}`, record.exp + KNOWN_RESOURCE_SECONDS);
    },
    async getIssued(jti) {
      const r = live(jti);
      return r === undefined ? undefined : { ...r, ...(r.accessServers ? { accessServers: [...r.accessServers] } : {}) };
    },
    async addAccessServer(jti, accessServer) {
      const r = live(jti);
      if (r !== undefined && !(r.accessServers ??= []).includes(accessServer)) r.accessServers.push(accessServer);
    },
    async childrenOf(jti) {
      return [...(children.get(jti) ?? [])];
    },
    async markRevoked(jtis) {
      const fresh: string[] = [];
      for (const jti of jtis) {
        const r = live(jti);
        if (r === undefined || r.revoked) continue;
        r.revoked = true;
        fresh.push(jti);
      }
      return fresh;
    },
    async bindingOf(agent) {
      return bindings.get(agent);
    },
    async bind(agent, user) {
      if (!bindings.has(agent)) remember(bindings, agent, user);
    },
    async grantsOf(user, resource) {
      return new Set(grants.get(`${user}\n${resource}`) ?? []);
    },
    async grant(user, resource, scopes, agent) {
      remember(grants, `${user}\n${resource}`, new Set([...(grants.get(`${user}\n${resource}`) ?? []), '', ...scopes]));
      add(via, `${user}\n${agent}`, resource);
    },
    async withdraw(user, agent, until) {
      if (bindings.get(agent) === user) bindings.delete(agent);
      for (const resource of via.get(`${user}\n${agent}`) ?? []) grants.delete(`${user}\n${resource}`);
      via.delete(`${user}\n${agent}`);
      remember(withdrawn, agent, { user, until });
      return [...(pairs.get(`${user}\n${agent}`) ?? [])];
    },
    async takeWithdrawn(agent) {
      const w = withdrawn.get(agent);
      withdrawn.delete(agent);
      return w !== undefined && w.until > now() ? w.user : undefined;
    },
    async issuedTo(agent) {
      return [...(byAgent.get(agent) ?? [])];
    },
    async putAgentToken(iss, jti, sub, until) {
      remember(agentTokens, `${iss}\n${jti}`, { sub, until });
      knowUntil(`agent\n${iss}`, until);
    },
    async agentTokenSub(iss, jti) {
      return unexpired(agentTokens, `${iss}\n${jti}`)?.sub;
    },
    async revokeToken(iss, jti, until) {
      remember(revokedTokens, `${iss}\n${jti}`, until);
    },
    async isTokenRevoked(iss, jti) {
      return unexpired(revokedTokens, `${iss}\n${jti}`) !== undefined;
    },
    async knows(kind, id) {
      return unexpired(known, `${kind}\n${id}`) !== undefined;
    },
  };

  const accessIssued = new Map<string, IssuedAuthRecord11 & { until: number }>();
  const revoked = { presented: new Map<string, number>(), resource: new Map<string, number>() };
  const access: AccessRecordStore = {
    async putIssued(jti, record, until) {
      remember(accessIssued, jti, { ...record, until });
    },
    async issuedAgainst(ps, presentedJti) {
      const t = now();
      const found: Array<[string, IssuedAuthRecord11]> = [];
      for (const [jti, { until, ...r }] of accessIssued) if (until > t && r.ps === ps && r.presentedJti === presentedJti) found.push([jti, r]);
      return found;
    },
    async revokeLink(kind, key, until) {
      remember(revoked[kind], key, until);
    },
    async isLinkRevoked(kind, key) {
      return unexpired(revoked[kind], key) !== undefined;
    },
  };
  return { person, access };
}
