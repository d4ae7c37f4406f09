import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisAuditSink, type AuditEvent, type RedisStreamClient } from '@aauth-kit/auth-server';
import { startOwnRedis, type OwnRedis } from '../../../test/fixtures/redis-server.js';

// Issue 17: the Redis Streams sink. XADD with MAXLEN ~; a failing Redis never fails issuance:
// write() never throws or waits, events wait in a bounded buffer, overflow is dropped and counted
// with one warning, and what was buffered lands once Redis is back.

const event = (i: number): AuditEvent => ({ type: 'request.refused', time: 1_700_000_000 + i, endpoint: 'token', agent: 'https://agent.example', code: 'invalid_grant', jti: `jti-${i}` });

/** The events of a stream, oldest first, as the sink wrote them (`id`, `event` fields). */
async function entries(redis: Redis, stream: string): Promise<{ id: string; event: AuditEvent }[]> {
  const rows = await redis.xrange(stream, '-', '+');
  return rows.map(([, fields]) => {
    const map = new Map<string, string>();
    for (let i = 0; i < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
    return { id: map.get('id')!, event: JSON.parse(map.get('event')!) as AuditEvent };
  });
}

async function until(check: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('createRedisAuditSink against a real redis-server', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await startOwnRedis();
  });
  afterAll(async () => {
    await own?.close();
  });

  it('appends each event with XADD: one entry per event, in order, with an id and the event as JSON', async () => {
    const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
    try {
      const sink = createRedisAuditSink(redis, { stream: 'audit:order', onWarning: () => {} });
      for (let i = 0; i < 250; i++) sink.write(event(i));
      await sink.close();
      const got = await entries(redis, 'audit:order');
      expect(got.map((e) => e.event.jti)).toEqual(Array.from({ length: 250 }, (_, i) => `jti-${i}`));
      expect(got[0]!.event).toEqual(event(0));
      expect(new Set(got.map((e) => e.id)).size).toBe(250);
      expect(got[0]!.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(sink.stats()).toEqual({ written: 250, dropped: 0, buffered: 0 });
    } finally {
      redis.disconnect();
    }
  });

  it('trims the stream approximately to maxLen (MAXLEN ~)', async () => {
    const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
    try {
      const sink = createRedisAuditSink(redis, { stream: 'audit:trim', maxLen: 10, onWarning: () => {} });
      for (let i = 0; i < 1000; i++) sink.write(event(i));
      await sink.close();
      const len = await redis.xlen('audit:trim');
      // Approximate trimming removes whole macro nodes (100 entries by default): far fewer than 1000 remain.
      expect(len).toBeLessThan(1000);
      expect(len).toBeGreaterThanOrEqual(10);
      const got = await entries(redis, 'audit:trim');
      expect(got.at(-1)!.event.jti).toBe('jti-999');
    } finally {
      redis.disconnect();
    }
  });

  it('Redis down and back: writes never throw, the buffer is bounded, drops are counted and warned once, the rest lands', async () => {
    const redis = new Redis(own.url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    // ioredis reports each failed reconnect as an 'error' event; the sink's warnings are what this test reads.
    redis.on('error', () => {});
    const warnings: string[] = [];
    try {
      await redis.del('audit:outage');
      const sink = createRedisAuditSink(redis, { stream: 'audit:outage', maxBuffered: 5, timeoutMs: 300, retryMs: 50, onWarning: (m) => warnings.push(m) });
      sink.write(event(0));
      await sink.flush();
      expect(sink.stats()).toEqual({ written: 1, dropped: 0, buffered: 0 });

      await own.kill();
      await until(() => redis.status === 'reconnecting' || redis.status === 'connecting');
      // write() returns nothing to wait for, and never throws.
      for (let i = 1; i <= 8; i++) expect(sink.write(event(i))).toBeUndefined();
      await until(() => warnings.length >= 2).catch((e) => {
        throw new Error(`${(e as Error).message}: ${JSON.stringify({ warnings, stats: sink.stats(), status: redis.status })}`);
      });
      expect(sink.stats()).toEqual({ written: 1, dropped: 3, buffered: 5 });
      // Order: the writes of one tick fill the buffer before the first send finds Redis down.
      expect(warnings).toHaveLength(2);
      expect(warnings).toContainEqual(expect.stringMatching(/^the audit stream audit:outage cannot be written \(.+\); buffering up to 5 events$/));
      expect(warnings).toContainEqual(expect.stringMatching(/buffer of audit:outage is full \(5 events\); new events are dropped and counted/));

      await own.start();
      await until(() => sink.stats().buffered === 0);
      expect(sink.stats()).toEqual({ written: 6, dropped: 3, buffered: 0 });
      expect(warnings.at(-1)).toBe('the audit stream audit:outage is written again; 3 event(s) were dropped meanwhile');
      // Redis kept (appendfsync always) the event written before the crash; the buffered five followed.
      // Delivery is at least once (an XADD that timed out may still land): readers dedupe on `id`.
      const got = await entries(redis, 'audit:outage');
      const seen = new Set<string>();
      const jtis = got.filter((e) => !seen.has(e.id) && seen.add(e.id)).map((e) => e.event.jti);
      expect(jtis).toEqual(['jti-0', 'jti-1', 'jti-2', 'jti-3', 'jti-4', 'jti-5']);
      await sink.close();
    } finally {
      redis.disconnect();
    }
  });
});

describe('createRedisAuditSink with a failing client', () => {
  it('a hung Redis: each XADD is bounded by timeoutMs, the event stays buffered, and close drops and counts it', async () => {
    let sent = 0;
    const hung: RedisStreamClient = {
      xadd: () => {
        sent++;
        return new Promise(() => {});
      },
    };
    const warnings: string[] = [];
    const sink = createRedisAuditSink(hung, { timeoutMs: 30, retryMs: 10_000, onWarning: (m) => warnings.push(m) });
    sink.write(event(0));
    await sink.flush();
    expect(sink.stats()).toEqual({ written: 0, dropped: 0, buffered: 1 });
    expect(warnings[0]).toMatch(/cannot be written \(no answer within 30 ms\)/);
    await sink.close();
    expect(sink.stats()).toEqual({ written: 0, dropped: 1, buffered: 0 });
    // close's flush sends nothing more: the first XADD is still unanswered (before: sent again).
    expect(sent).toBe(1);
  });

  it('a Redis that holds commands unanswered (frozen, connection still ready) is not sent more; late answers count once, nothing lands twice', async () => {
    const answers: Array<() => void> = [];
    const landed: string[] = [];
    let frozen = true;
    const client: RedisStreamClient = {
      status: 'ready',
      xadd: (...args) => {
        const id = String(args[args.indexOf('id') + 1]);
        if (!frozen) {
          landed.push(id);
          return Promise.resolve('1-0');
        }
        return new Promise((resolve) => answers.push(() => (landed.push(id), resolve('1-0'))));
      },
    };
    const warnings: string[] = [];
    const sink = createRedisAuditSink(client, { timeoutMs: 20, retryMs: 5, onWarning: (m) => warnings.push(m) });
    for (let i = 0; i < 150; i++) sink.write(event(i));
    // Many retry periods while frozen: before, each one sent the same batch again (the client's queue grew, events landed many times).
    await new Promise((r) => setTimeout(r, 200));
    expect(answers).toHaveLength(100);
    expect(sink.stats()).toEqual({ written: 0, dropped: 0, buffered: 150 });
    expect(warnings[0]).toMatch(/cannot be written \(no answer within 20 ms\)/);
    // Thawed: Redis answers what it held, then takes the rest.
    frozen = false;
    for (const answer of answers.splice(0)) answer();
    await new Promise((r) => setTimeout(r, 50));
    await sink.flush();
    expect(sink.stats()).toEqual({ written: 150, dropped: 0, buffered: 0 });
    expect(landed).toHaveLength(150);
    expect(new Set(landed).size).toBe(150);
    expect(warnings.at(-1)).toMatch(/is written again$/);
    await sink.close();
  });

  it('sends nothing while the client is reconnecting (ioredis would queue it offline)', async () => {
    let sent = 0;
    const client: RedisStreamClient = { status: 'reconnecting', xadd: async () => void sent++ };
    const sink = createRedisAuditSink(client, { onWarning: () => {} });
    sink.write(event(0));
    await sink.close();
    expect(sent).toBe(0);
    expect(sink.stats().dropped).toBe(1);
  });

  it('a client whose xadd throws (instead of rejecting) is a failed send: warned, buffered, sent again; no unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', record);
    try {
      let down = true;
      const added: string[] = [];
      const client: RedisStreamClient = {
        xadd: (_key, ...args) => {
          if (down) throw new Error('client not connected');
          added.push(String(args.at(-1)));
          return Promise.resolve('1-0');
        },
      };
      const warnings: string[] = [];
      const sink = createRedisAuditSink(client, { onWarning: (m) => warnings.push(m), retryMs: 1 });
      sink.write(event(0));
      await sink.flush();
      expect(sink.stats()).toMatchObject({ written: 0, buffered: 1 });
      expect(warnings).toEqual(['the audit stream aauth:audit cannot be written (client not connected); buffering up to 10000 events']);
      down = false;
      await until(() => sink.stats().written === 1);
      expect(added.map((json) => (JSON.parse(json) as AuditEvent).jti)).toEqual(['jti-0']);
      await sink.close();
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', record);
    }
  });

  it('validates its arguments at creation', () => {
    expect(() => createRedisAuditSink({} as never)).toThrow('client must be an ioredis-compatible client with xadd(key, ...args)');
    const client: RedisStreamClient = { xadd: async () => '1-0' };
    expect(() => createRedisAuditSink(client, { maxLen: -1 })).toThrow('options.maxLen must be a positive integer');
    expect(() => createRedisAuditSink(client, { stream: '' })).toThrow('options.stream must be a non-empty string');
  });
});
