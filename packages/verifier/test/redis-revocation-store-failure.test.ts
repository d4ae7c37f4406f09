import { describe, expect, it } from 'vitest';
import { AAuthError } from '@aauth-kit/core';
import { createRedisRevocationStore, type RedisRevocationClient } from '@aauth-kit/verifier';

// Found by a Redis audit: with Redis frozen (SIGSTOP), every check sent an MGET that stayed queued in
// the client after its caller got 503 at timeoutMs; 200 concurrent callers grew the queue by ~50 a
// second without limit. Now the store holds at most maxPending unanswered commands (as the replay
// store does), and concurrent checks of one token share one MGET.

/** A client whose commands are never answered (a hung Redis), counting what was sent. */
function hungClient(): RedisRevocationClient & { sent: number; answer: (values: Array<string | null>) => void } {
  const waiting: Array<(values: Array<string | null>) => void> = [];
  const client = {
    sent: 0,
    set: () => new Promise<unknown>(() => {}),
    mget: () => {
      client.sent++;
      return new Promise<Array<string | null>>((resolve) => waiting.push(resolve));
    },
    answer: (values: Array<string | null>) => {
      for (const resolve of waiting.splice(0)) resolve(values);
    },
  };
  return client;
}

async function failure(promise: unknown): Promise<AAuthError> {
  const error = await Promise.resolve(promise).then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(AAuthError);
  return error as AAuthError;
}

const subject = (agent: string) => ({ agents: [agent], sub: 'user-1', iat: 1 });

describe('createRedisRevocationStore when Redis hangs', () => {
  it('concurrent checks of one token share one MGET', async () => {
    const client = hungClient();
    const store = createRedisRevocationStore(client, { timeoutMs: 1000, cacheTtlMs: 0 });
    const checks = Array.from({ length: 50 }, () => store.isRevoked('https://as.example', 'jti-1', subject('https://agent.example')));
    expect(client.sent).toBe(1);
    client.answer([null, null, null]);
    expect(new Set(await Promise.all(checks))).toEqual(new Set([false]));
    expect(client.sent).toBe(1);
  });

  it('holds at most maxPending unanswered commands: past it a check fails at once with 503, without a command', async () => {
    const client = hungClient();
    const store = createRedisRevocationStore(client, { timeoutMs: 30, maxPending: 3, cacheTtlMs: 0 });
    const timedOut = await Promise.all([1, 2, 3].map((i) => failure(store.isRevoked('https://as.example', `jti-${i}`, subject(`https://a${i}.example`)))));
    for (const e of timedOut) {
      expect([e.code, e.status, e.message]).toEqual(['revocation_store_failed', 503, 'The revocation store did not answer within 30 ms']);
    }
    // The three are still queued in the client (a frozen Redis): a flood of new tokens sends nothing more.
    const flood = await Promise.all(Array.from({ length: 200 }, (_, i) => failure(store.isRevoked('https://as.example', `f-${i}`, subject(`https://f${i}.example`)))));
    expect(new Set(flood.map((e) => e.message))).toEqual(new Set(['Too many revocation checks are waiting for the revocation store']));
    expect(flood[0]!.headers['Retry-After']).toBe('1');
    expect(client.sent).toBe(3);
    // Redis answers (thawed): the bound frees, checks go through again.
    client.answer([null, null, null]);
    await new Promise((r) => setImmediate(r));
    const check = store.isRevoked('https://as.example', 'after', subject('https://after.example'));
    expect(client.sent).toBe(4);
    client.answer([null, null, null]);
    expect(await check).toBe(false);
  });

  it('validates maxPending', () => {
    expect(() => createRedisRevocationStore(hungClient(), { maxPending: 0 })).toThrow('options.maxPending must be an integer of at least 1 (got 0)');
  });
});
