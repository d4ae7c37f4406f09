import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createRedisReplayStore } from '@aauth-kit/verifier';
import { createResource } from '@aauth-kit/express';
import { send, signed, startApp } from './helpers.js';

function redisUrl(): string {
  const url = inject('redisUrl');
  if (!url) throw new Error(`Redis is required for the fleet replay test: ${inject('redisProblem')}`);
  return url;
}

const order = (identity: string, n: number) =>
  signed({ method: 'POST', url: `${identity}/orders`, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ n }) }, generateKey());

describe('replay protection in one process (default in-memory store)', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  beforeAll(async () => {
    web = await startApp();
    const resource = createResource({ identity: web.identity, key: generateKey() });
    web.app.all('/orders', resource.require(), express.json(), (req, res) => res.json({ ok: true, body: req.body }));
  });
  afterAll(() => web.close());

  it('a replayed POST is refused with signature_replayed; a fresh one passes', async () => {
    const req = order(web.identity, 1);
    expect((await send(req)).status).toBe(200);
    const again = await send(req);
    expect(again.status).toBe(401);
    expect(again.json).toEqual({ error: 'invalid_signature', error_description: 'The signature was already used' });
    expect((await send(order(web.identity, 1))).status).toBe(200);
  });

  it('a repeated GET passes (replay checks cover non-idempotent methods by default)', async () => {
    const req = signed({ method: 'GET', url: `${web.identity}/orders` }, generateKey());
    expect((await send(req)).status).toBe(200);
    expect((await send(req)).status).toBe(200);
  });
});

describe('replay protection across two processes sharing one Redis', () => {
  const script = fileURLToPath(new URL('./fixtures/fleet-member.mjs', import.meta.url));
  const dist = fileURLToPath(new URL('../dist/index.js', import.meta.url));
  let web: Awaited<ReturnType<typeof startApp>>;
  let child: ChildProcess | undefined;
  let childUrl: string;
  let redis: Redis;

  beforeAll(async () => {
    const url = redisUrl();
    if (!existsSync(dist)) throw new Error('packages/express/dist is missing: run `npx tsc -b` first (npm test does)');
    const prefix = `fleet:${process.pid}:${Date.now()}:`;
    web = await startApp();
    redis = new Redis(url, { maxRetriesPerRequest: 1 });
    const resource = createResource({ identity: web.identity, key: generateKey(), replay: { store: createRedisReplayStore(redis, { prefix }) } });
    web.app.all('/orders', resource.require(), express.json(), (req, res) => res.json({ ok: true, pid: process.pid, body: req.body }));

    const proc = spawn(process.execPath, [script, web.identity, url, prefix], { stdio: ['pipe', 'pipe', 'pipe'] });
    child = proc;
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`fleet member did not start: ${stderr}`)), 15_000);
      proc.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /PORT (\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`fleet member exited with ${code}: ${stderr}`));
      });
    });
    childUrl = `http://127.0.0.1:${port}`;
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await Promise.all([web?.close(), redis?.quit()]);
  });

  it('the second process is another PID verifying for the same identity', async () => {
    const res = await send(order(web.identity, 0), childUrl);
    expect(res.status).toBe(200);
    expect(res.json.pid).toBe(child!.pid);
    expect(res.json.pid).not.toBe(process.pid);
  });

  it('a request accepted by the other process is refused here as a replay', async () => {
    const req = order(web.identity, 1);
    const first = await send(req, childUrl);
    expect(first.status).toBe(200);
    expect(first.json.body).toEqual({ n: 1 });
    const replay = await send(req);
    expect(replay.status).toBe(401);
    expect(replay.json.error_description).toBe('The signature was already used');
  });

  it('a request accepted here is refused by the other process as a replay', async () => {
    const req = order(web.identity, 2);
    expect((await send(req)).status).toBe(200);
    const replay = await send(req, childUrl);
    expect(replay.status).toBe(401);
    expect(replay.json).toEqual({ error: 'invalid_signature', error_description: 'The signature was already used' });
  });
});
