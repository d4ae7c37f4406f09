import { createHash } from 'node:crypto';
import type { AAuthError } from '@aauth-kit/core';
import { readStored, type RunScript } from './redis-runner.js';

/** A signed-in user on the consent page, for one interaction code. */
export interface InteractionSession {
  code: string;
  sub: string;
  username: string;
  /** The decision form's CSRF field. */
  csrf: string;
  /** Epoch seconds. */
  expiresAt: number;
}

/**
 * Where the consent page keeps its sign-in sessions (cookie `aauth_session` -> session). In memory
 * by default (the sign-in and the decision must reach the same process); shared (Redis) in a fleet.
 */
export interface SessionStore {
  put(id: string, session: InteractionSession): Promise<void>;
  get(id: string): Promise<InteractionSession | undefined>;
  delete(id: string): Promise<void>;
}

const MAX_SESSIONS = 10_000;

/** The default: bounded memory (expired sessions swept first, then the oldest), one process. */
export function createMemorySessionStore(now: () => number): SessionStore {
  const sessions = new Map<string, InteractionSession>();
  return {
    async put(id, session) {
      const t = now();
      for (const [key, s] of sessions) if (s.expiresAt < t) sessions.delete(key);
      while (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
      sessions.set(id, session);
    },
    async get(id) {
      return sessions.get(id);
    },
    async delete(id) {
      sessions.delete(id);
    },
  };
}

const PUT = `redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) return 1`;
const GET = `return redis.call('GET', KEYS[1])`;
const DEL = `return redis.call('DEL', KEYS[1])`;

/**
 * Sessions in Redis, each until it expires. The key is a hash of the session id, so whoever reads
 * Redis cannot present a session cookie.
 */
export function createRedisSessionStore(run: RunScript, prefix: string, now: () => number, onFailure?: (error: AAuthError) => void): SessionStore {
  const key = (id: string): string => `${prefix}session:${createHash('sha256').update(id).digest('base64url')}`;
  return {
    async put(id, session) {
      await run(PUT, [key(id)], [JSON.stringify(session), Math.max(1, Math.ceil(session.expiresAt - now()))]);
    },
    async get(id) {
      const json = await run(GET, [key(id)], []);
      if (typeof json !== 'string') return undefined;
      const s = readStored<Partial<InteractionSession>>(json, "a person's sign-in session", onFailure);
      if (typeof s.code !== 'string' || typeof s.sub !== 'string' || typeof s.username !== 'string' || typeof s.csrf !== 'string' || typeof s.expiresAt !== 'number') {
        return undefined;
      }
      return s as InteractionSession;
    },
    async delete(id) {
      await run(DEL, [key(id)], []);
    },
  };
}
