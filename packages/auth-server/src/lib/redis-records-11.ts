import { createHash } from 'node:crypto';
import type { AAuthError } from '@aauth-kit/core';
import { KNOWN_RESOURCE_SECONDS, type AccessRecordStore, type Draft11Records, type IssuedAuthRecord11, type IssuedRecord11, type PersonRecordStore } from '../records-11.js';
import { readStored, type RunScript } from './redis-runner.js';

// The -11 records in Redis (issue 17), for a fleet of auth servers: every operation is one Lua
// script through the bounded runner (a failing Redis: 503 `store_unavailable`). Issued tokens live
// until their `exp` plus a grace (a late revocation still finds them); bindings and grants, which
// have no `exp`, live `consentTtl` seconds from their last write.

/** Seconds an issued token's record outlives its `exp` (a revocation just after it still finds it). */
const GRACE = 300;

const h = (...parts: string[]): string => createHash('sha256').update(parts.join('\n')).digest('base64url');
const ttlOf = (until: number, now: number): number => Math.max(1, Math.ceil(until - now));

// KEYS: record, pair index, then each parent's children set. ARGV: json, ttl, jti.
const PUT_ISSUED = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  if redis.call('TTL', KEYS[i]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[i], ARGV[2]) end
end
return 1`;
// KEYS: record, access servers set, revoked flag.
const GET_ISSUED = `return { redis.call('GET', KEYS[1]) or false, redis.call('SMEMBERS', KEYS[2]), redis.call('EXISTS', KEYS[3]) }`;
// KEYS: record, access servers set. ARGV: access server.
const ADD_AS = `
local ttl = redis.call('TTL', KEYS[1])
if ttl <= 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ttl)
return 1`;
const SMEMBERS = `return redis.call('SMEMBERS', KEYS[1])`;
const GET = `return redis.call('GET', KEYS[1]) or false`;
const EXISTS = `return redis.call('EXISTS', KEYS[1])`;
// KEYS: pairs of (record, revoked flag). Answers the indexes (1-based pair numbers) newly revoked.
const MARK_REVOKED = `
local fresh = {}
for i = 1, #KEYS, 2 do
  local ttl = redis.call('TTL', KEYS[i])
  if ttl > 0 and redis.call('SET', KEYS[i + 1], '1', 'EX', ttl, 'NX') then table.insert(fresh, (i + 1) / 2) end
end
return fresh`;
// KEYS: binding. ARGV: user, ttl.
const BIND = `
if redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2], 'NX') then return 1 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 0`;
// KEYS: grant set, via set. ARGV: ttl, resource hash, scopes...
const GRANT = `
redis.call('SADD', KEYS[1], '')
for i = 3, #ARGV do redis.call('SADD', KEYS[1], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1`;
// KEYS: binding, via set, pair index, withdrawn flag. ARGV: user, grant key prefix, ttl of the flag.
const WITHDRAW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
for _, r in ipairs(redis.call('SMEMBERS', KEYS[2])) do redis.call('DEL', ARGV[2] .. r) end
redis.call('DEL', KEYS[2])
redis.call('SET', KEYS[4], ARGV[1], 'EX', ARGV[3])
return redis.call('SMEMBERS', KEYS[3])`;
const GETDEL = `
local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v or false`;
// KEYS: record, index. ARGV: json, ttl, jti.
const PUT_ACCESS = PUT_ISSUED;
// KEYS: index. ARGV: record key prefix. Answers jti, json pairs of the live records.
const ISSUED_AGAINST = `
local out = {}
for _, jti in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local v = redis.call('GET', ARGV[1] .. jti)
  if v then table.insert(out, jti); table.insert(out, v) end
end
return out`;
const SET_EX = `redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) return 1`;
// KEYS: known flag. ARGV: ttl. Extends the flag, never shortens it.
const KNOW = `
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end
return 1`;
// KEYS: agent token record, its provider's known flag. ARGV: sub, ttl.
const PUT_AGENT_TOKEN = `
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
if redis.call('TTL', KEYS[2]) < tonumber(ARGV[2]) then redis.call('SET', KEYS[2], '1', 'EX', ARGV[2]) end
return 1`;

/** Options of {@link createRedisDraft11Records}. */
export interface RedisDraft11RecordsOptions {
  prefix: string;
  now: () => number;
  /** Seconds a binding or grant lives after its last write; default 30 days. */
  consentTtl?: number | undefined;
  /** Hears a record the store cannot read back (503 `store_unavailable`). */
  onFailure?: ((error: AAuthError) => void) | undefined;
}

/** The -11 records of a fleet in one Redis. */
export function createRedisDraft11Records(run: RunScript, options: RedisDraft11RecordsOptions): Draft11Records {
  const { now } = options;
  const p = `${options.prefix}d11:`;
  const consentTtl = options.consentTtl ?? 30 * 24 * 3600;
  const k = {
    rec: (jti: string) => `${p}ps:rec:${jti}`,
    as: (jti: string) => `${p}ps:as:${jti}`,
    rev: (jti: string) => `${p}ps:rev:${jti}`,
    kids: (jti: string) => `${p}ps:kids:${jti}`,
    pair: (user: string, agent: string) => `${p}ps:pair:${h(user, agent)}`,
    binding: (agent: string) => `${p}ps:bind:${h(agent)}`,
    grantPrefix: (user: string) => `${p}ps:grant:${h(user)}:`,
    via: (user: string, agent: string) => `${p}ps:via:${h(user, agent)}`,
    withdrawn: (agent: string) => `${p}ps:withdrawn:${h(agent)}`,
    byAgent: (agent: string) => `${p}ps:agent:${h(agent)}`,
    agentToken: (iss: string, jti: string) => `${p}ps:at:${h(iss, jti)}`,
    revokedToken: (iss: string, jti: string) => `${p}ps:revoked:${h(iss, jti)}`,
    known: (kind: string, id: string) => `${p}ps:known:${h(kind, id)}`,
    asRec: (jti: string) => `${p}as:rec:${jti}`,
    asIdx: (ps: string, jti: string) => `${p}as:idx:${h(ps, jti)}`,
    link: (kind: string, key: string) => `${p}as:${kind}:${h(key)}`,
  };
  const person: PersonRecordStore = {
    async putIssued(jti, record) {
      const { revoked: _r, accessServers: _a, ...stored } = record;
      const keys = [k.rec(jti), k.pair(record.user, record.agent ?? ''), ...(record.agent !== undefined ? [k.byAgent(record.agent)] : []), ...(record.from ?? []).map(k.kids)];
      await run(PUT_ISSUED, keys, [JSON.stringify(stored), ttlOf(record.exp + GRACE, now()), jti]);
      await run(KNOW, [k.known('resource', record.resource)], [ttlOf(record.exp + KNOWN_RESOURCE_SECONDS, now())]);
    },
    async getIssued(jti) {
      const [json, servers, revoked] = (await run(GET_ISSUED, [k.rec(jti), k.as(jti), k.rev(jti)], [])) as [string | null | false, string[], number];
      if (typeof json !== 'string') return undefined;
      const record = readStored<IssuedRecord11>(json, "an issued token's record", options.onFailure);
      if (servers.length > 0) record.accessServers = servers;
      if (revoked === 1) record.revoked = true;
      return record;
    },
    async addAccessServer(jti, accessServer) {
      await run(ADD_AS, [k.rec(jti), k.as(jti)], [accessServer]);
    },
    async childrenOf(jti) {
      return (await run(SMEMBERS, [k.kids(jti)], [])) as string[];
    },
    async markRevoked(jtis) {
      if (jtis.length === 0) return [];
      const fresh = (await run(MARK_REVOKED, jtis.flatMap((j) => [k.rec(j), k.rev(j)]), [])) as number[];
      return fresh.map((i) => jtis[i - 1]!);
    },
    async bindingOf(agent) {
      const user = await run(GET, [k.binding(agent)], []);
      return typeof user === 'string' ? user : undefined;
    },
    async bind(agent, user) {
      await run(BIND, [k.binding(agent)], [user, consentTtl]);
    },
    async grantsOf(user, resource) {
      return new Set((await run(SMEMBERS, [`${k.grantPrefix(user)}${h(resource)}`], [])) as string[]);
    },
    async grant(user, resource, scopes, agent) {
      await run(GRANT, [`${k.grantPrefix(user)}${h(resource)}`, k.via(user, agent)], [consentTtl, h(resource), ...scopes]);
    },
    async withdraw(user, agent, until) {
      return (await run(WITHDRAW, [k.binding(agent), k.via(user, agent), k.pair(user, agent), k.withdrawn(agent)], [user, k.grantPrefix(user), ttlOf(until, now())])) as string[];
    },
    async takeWithdrawn(agent) {
      const user = await run(GETDEL, [k.withdrawn(agent)], []);
      return typeof user === 'string' ? user : undefined;
    },
    async issuedTo(agent) {
      return (await run(SMEMBERS, [k.byAgent(agent)], [])) as string[];
    },
    async putAgentToken(iss, jti, sub, until) {
      await run(PUT_AGENT_TOKEN, [k.agentToken(iss, jti), k.known('agent', iss)], [sub, ttlOf(until, now())]);
    },
    async agentTokenSub(iss, jti) {
      const sub = await run(GET, [k.agentToken(iss, jti)], []);
      return typeof sub === 'string' ? sub : undefined;
    },
    async revokeToken(iss, jti, until) {
      await run(SET_EX, [k.revokedToken(iss, jti)], [ttlOf(until, now())]);
    },
    async isTokenRevoked(iss, jti) {
      return (await run(EXISTS, [k.revokedToken(iss, jti)], [])) === 1;
    },
    async knows(kind, id) {
      return (await run(EXISTS, [k.known(kind, id)], [])) === 1;
    },
  };
  const access: AccessRecordStore = {
    async putIssued(jti, record, until) {
      await run(PUT_ACCESS, [k.asRec(jti), k.asIdx(record.ps, record.presentedJti)], [JSON.stringify(record), ttlOf(until, now()), jti]);
    },
    async issuedAgainst(ps, presentedJti) {
      const flat = (await run(ISSUED_AGAINST, [k.asIdx(ps, presentedJti)], [`${p}as:rec:`])) as string[];
      const found: Array<[string, IssuedAuthRecord11]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) found.push([flat[i]!, readStored<IssuedAuthRecord11>(flat[i + 1]!, "an issued auth token's record", options.onFailure)]);
      return found;
    },
    async revokeLink(kind, key, until) {
      await run(SET_EX, [k.link(kind, key)], [ttlOf(until, now())]);
    },
    async isLinkRevoked(kind, key) {
      return (await run(EXISTS, [k.link(kind, key)], [])) === 1;
    },
  };
  return { person, access };
}
