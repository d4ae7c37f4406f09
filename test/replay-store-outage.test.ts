import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, signRequest, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createRedisReplayStore, type ReplayStoreFailure } from '@aauth-kit/verifier';
import { startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { listen, type Listening } from './fixtures/http.js';
import { startOwnRedis, type OwnRedis } from './fixtures/redis-server.js';

// Issue 13, finding 7: a failing Redis replay store. With Redis killed, hung (DEBUG SLEEP) or
// restarted mid-run, every answer is a success or a 503 `replay_store_failed` (JSON, Retry-After,
// no stack), none later than the store's timeout plus 1 s, nothing is accepted that should not be,
// and service is back once Redis is. One resource in this process, one in a child process, and
// the embedded auth server, all sharing this test's own redis-server (killed by its PID).

const TIMEOUT_MS = 300;
/** The acceptance bound: the configured timeout plus 1 s; a slower answer aborts the test's fetch. */
const BOUND_MS = TIMEOUT_MS + 1000;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown>;
}

interface Signed {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** A fresh signed POST (hwk) for `url`: a new signature every call. */
function signedPost(url: string, n: number, key: SigningKey = generateKey()): Signed {
  const headers = { 'content-type': 'application/json' };
  const body = JSON.stringify({ n });
  const s = signRequest({ method: 'POST', url, headers, body }, { key, signatureKey: { scheme: 'hwk', jwk: key.jwk } });
  return { url, headers: { ...headers, ...s.headers }, body };
}

/** Send `req` to `origin` (default: the URL it was signed for); the fetch aborts past BOUND_MS. */
async function send(req: Signed, origin?: string): Promise<Answer> {
  const target = origin === undefined ? req.url : `${origin}${new URL(req.url).pathname}`;
  const res = await fetch(target, { method: 'POST', headers: req.headers, body: req.body, signal: AbortSignal.timeout(BOUND_MS) });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = {};
  }
  return { status: res.status, headers: res.headers, text, body };
}

/** A 503 as the issue asks for it: JSON `server_error`, a Retry-After, no stack, no Redis detail. */
function expectStoreRefusal(a: Answer): void {
  expect(a.status, a.text).toBe(503);
  expect(a.headers.get('content-type')).toMatch(/^application\/json/);
  expect(a.headers.get('retry-after')).toBe('1');
  expect(Object.keys(a.body).sort()).toEqual(['error', 'error_description']);
  expect(a.body.error).toBe('server_error');
  expect(a.text).not.toMatch(/ at |ECONNREFUSED|127\.0\.0\.1|<html/i);
}

/** Resolves on the client's next 'ready' (events.once would reject on the reconnect errors before it). */
function nextReady(client: Redis): Promise<void> {
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

/** A child resource process (same identity, same Redis, its README client settings). */
interface Member {
  origin: string;
  pid: number;
  codes: string[];
  /** How many times the child's Redis client has been ready so far. */
  readonly readyCount: number;
  /** Resolves when the child's Redis client has been ready `n` times. */
  readyTimes(n: number): Promise<void>;
  close(): Promise<void>;
}

async function startMember(identity: string, redisUrl: string, prefix: string): Promise<Member> {
  const script = fileURLToPath(new URL('./fixtures/replay-outage-member.mjs', import.meta.url));
  const proc: ChildProcess = spawn(process.execPath, [script, identity, redisUrl, String(TIMEOUT_MS), prefix], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let stderr = '';
  const codes: string[] = [];
  let ready = 0;
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  proc.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
    const lines = out.split('\n');
    out = lines.pop()!;
    for (const line of lines) {
      if (line === 'READY') ready++;
      const code = /^CODE (\w+)$/.exec(line);
      if (code) codes.push(code[1]!);
      const port = /^PORT (\d+)$/.exec(line);
      if (port) portFound(Number(port[1]));
    }
    for (const w of waiters.splice(0)) (ready >= w.n ? w.resolve : () => waiters.push(w))();
  });
  let portFound: (port: number) => void = () => {};
  const port = await new Promise<number>((resolve, reject) => {
    portFound = resolve;
    proc.once('exit', (code) => reject(new Error(`replay-outage member exited with ${code}: ${stderr}`)));
  });
  const readyTimes = (n: number): Promise<void> =>
    ready >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }));
  await readyTimes(1);
  return {
    origin: `http://127.0.0.1:${port}`,
    pid: proc.pid!,
    codes,
    readyTimes,
    get readyCount() {
      return ready;
    },
    close: async () => {
      if (proc.exitCode !== null) return;
      const exited = once(proc, 'exit');
      proc.kill('SIGTERM');
      await exited;
    },
  };
}

describe('a failing Redis replay store (issue 13 finding 7): real redis-server killed, hung and restarted', () => {
  let redis: OwnRedis;
  let web: Listening;
  let identity: string;
  let client: Redis;
  let openClient: Redis;
  let asClient: Redis;
  let member: Member;
  let as: TestAuthServer;
  const codes: string[] = [];
  const openFailures: ReplayStoreFailure[] = [];
  let n = 0;

  beforeAll(async () => {
    const dist = fileURLToPath(new URL('../packages/express/dist/index.js', import.meta.url));
    if (!existsSync(dist)) throw new Error('packages/express/dist is missing: run `npx tsc -b` first');
    redis = await startOwnRedis();
    // This process's client keeps ioredis's defaults (offline queue, 20 retries per command): the
    // store's own timeout and bound must hold even then.
    client = new Redis(redis.url);
    openClient = new Redis(redis.url);
    asClient = new Redis(redis.url);
    for (const c of [client, openClient, asClient]) c.on('error', () => {});
    const app = express();
    web = await listen(app);
    identity = web.origin;
    const prefix = `outage:${Date.now()}:`;
    const resource = createResource({
      identity,
      key: generateKey(),
      replay: { store: createRedisReplayStore(client, { prefix, timeoutMs: TIMEOUT_MS, onFailure: () => {} }) },
      onError: (error) => codes.push(error.code),
    });
    // The documented, off-by-default fail-open: accepted, and the failure reported as an event.
    const open = createResource({
      identity,
      key: generateKey(),
      replay: { store: createRedisReplayStore(openClient, { prefix, timeoutMs: TIMEOUT_MS, failOpen: true, onFailure: (f) => openFailures.push(f) }) },
    });
    app.post('/orders', resource.require(), (_req, res) => res.json({ ok: true, pid: process.pid }));
    app.post('/open', open.require(), (_req, res) => res.json({ ok: true }));
    member = await startMember(identity, redis.url, prefix);
    as = await startAuthServer({ replay: { store: createRedisReplayStore(asClient, { prefix: `${prefix}as:`, timeoutMs: TIMEOUT_MS, onFailure: () => {} }) } });
    await Promise.all([client, openClient, asClient].map((c) => (c.status === 'ready' ? undefined : nextReady(c))));
  }, 30_000);

  afterAll(async () => {
    await Promise.all([member?.close(), web?.close(), as?.close()]);
    for (const c of [client, openClient, asClient]) c?.disconnect();
    await redis?.close();
  });

  const order = () => signedPost(`${identity}/orders`, ++n);

  /** Bring Redis back and wait until every client of this test says it is ready again. */
  async function restart(): Promise<void> {
    const readyBefore = member.readyCount;
    const back = [client, openClient, asClient].map(nextReady);
    await redis.start();
    await Promise.all(back);
    await member.readyTimes(readyBefore + 1);
  }

  it('Redis stopped: both processes and the auth server answer 503 replay_store_failed in time; nothing is accepted; all back after', async () => {
    const accepted = order();
    expect((await send(accepted)).status).toBe(200);
    const acceptedThere = order();
    expect((await send(acceptedThere, member.origin)).status).toBe(200);

    await redis.kill();

    // A fresh request and a replay of an accepted one, at each process: refused, never accepted.
    for (const origin of [identity, member.origin]) {
      expectStoreRefusal(await send(order(), origin));
      expectStoreRefusal(await send(accepted, origin));
      expectStoreRefusal(await send(acceptedThere, origin));
    }
    expect(codes).toContain('replay_store_failed');
    expect(member.codes).toContain('replay_store_failed');

    // The auth server's token endpoint (signed POSTs are replay-checked): the same refusal.
    const tokenRequest = signedPost(as.tokenEndpoint, ++n);
    expectStoreRefusal(await send(tokenRequest));
    expect(as.audit.some((e) => (e as { code?: string }).code === 'replay_store_failed')).toBe(true);

    // failOpen (off by default): accepted, and reported.
    const before = openFailures.length;
    expect((await send(signedPost(`${identity}/open`, ++n))).status).toBe(200);
    expect(openFailures.length).toBeGreaterThan(before);
    expect(openFailures.at(-1)).toMatchObject({ failedOpen: true, error: { code: 'replay_store_failed', status: 503 } });

    await restart();

    // Back: fresh requests pass everywhere; what was accepted before the outage stays refused.
    expect((await send(order())).status).toBe(200);
    expect((await send(order(), member.origin)).status).toBe(200);
    for (const origin of [identity, member.origin]) {
      for (const req of [accepted, acceptedThere]) {
        const replay = await send(req, origin);
        expect(replay.status).toBe(401);
        expect(replay.body.error_description).toBe('The signature was already used');
      }
    }
    // The auth server is back too: its refusal of this malformed token request is no longer a 503.
    expect((await send(signedPost(as.tokenEndpoint, ++n))).status).not.toBe(503);
  }, 30_000);

  it('Redis hung (DEBUG SLEEP): 503 within the timeout plus 1 s at both processes, then 200 once it answers', async () => {
    const admin = new Redis(redis.url);
    admin.on('error', () => {});
    await nextReady(admin);
    try {
      const sleeping = admin.call('DEBUG', 'SLEEP', '3');
      expectStoreRefusal(await send(order()));
      expectStoreRefusal(await send(order(), member.origin));
      expectStoreRefusal(await send(signedPost(as.tokenEndpoint, ++n)));
      await sleeping;
      expect((await send(order())).status).toBe(200);
      expect((await send(order(), member.origin)).status).toBe(200);
    } finally {
      admin.disconnect();
    }
  }, 30_000);

  it('Redis killed and restarted mid-run: only 200 or 503 with the code, and every accepted signature stays single-use', async () => {
    const wave = (size: number) => Array.from({ length: size }, (_, i) => {
      const req = order();
      return send(req, i % 2 === 0 ? identity : member.origin).then((a) => ({ req, a }));
    });
    const during: Array<{ req: Signed; a: Answer }> = [];
    const [killed] = await Promise.all([Promise.all(wave(20)), redis.kill()]);
    during.push(...killed);
    const readyBefore = member.readyCount;
    const back = [client, openClient, asClient].map(nextReady);
    const [restarted] = await Promise.all([Promise.all(wave(20)), redis.start()]);
    during.push(...restarted);
    await Promise.all(back);
    await member.readyTimes(readyBefore + 1);

    for (const { a } of during) {
      if (a.status !== 200) expectStoreRefusal(a);
    }
    // Nothing accepted twice: each signature accepted during the run is refused now, at both processes.
    for (const { req, a } of during.filter((d) => d.a.status === 200)) {
      for (const origin of [identity, member.origin]) expect((await send(req, origin)).status).toBe(401);
    }
    // And service is back.
    expect((await send(order())).status).toBe(200);
    expect((await send(order(), member.origin)).status).toBe(200);
  }, 30_000);
});
