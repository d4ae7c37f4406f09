import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCliArgs, redactedRedisUrl, runCli, type RunningCli } from '../src/run-cli.js';
import { decideOverHttp, decodeJwt, freePort, sendSignedTo, startParty, testRealm, type Party, type SignedResponse } from '../../../test/fixtures/auth-server.js';
import { startOwnRedis, type OwnRedis } from '../../../test/fixtures/redis-server.js';

// `aauth-auth-server --redis-url URL [--redis-prefix P]`: the command's state in Redis
// (createRedisAuthServerStores), so that several servers of one issuer act as one. Two commands run
// here (runCli, in this process) behind one base URL, on a private redis-server of this test
// (test/fixtures/redis-server.ts, killed and restarted by PID): a consent started at one is polled at
// the other, a resource token redeemed at one is refused at the other, every key carries the
// prefix; Redis killed: a prompt 503 and one warning, then one line when it answers again; Redis
// absent at start: the command stops, naming the URL without its password.

const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';
const PREFIX = 'aauth:cli-test:';

type Answer = SignedResponse;
const sendSigned = sendSignedTo;
const portOf = (running: RunningCli): number => Number(new URL(running.url).port);

describe('--redis-url and --redis-prefix, parsed', () => {
  const base = ['--realm', 'r.json', '--key-file', 'k.json'];

  it('reads them, with the key files they require', () => {
    expect(parseCliArgs([...base, '--redis-url', 'redis://127.0.0.1:6379'])).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', keyFile: 'k.json' });
    expect(parseCliArgs([...base, '--redis-url', 'rediss://:pw@redis.internal:6380/2', '--redis-prefix', 'as:eu:'])).toMatchObject({
      redisUrl: 'rediss://:pw@redis.internal:6380/2',
      redisPrefix: 'as:eu:',
    });
    expect(parseCliArgs(['--realm', 'a.json', '--realm', 'b.json', '--key-dir', 'keys', '--redis-url', 'redis://h:1'])).toMatchObject({ redisUrl: 'redis://h:1', keyDir: 'keys' });
    expect(parseCliArgs(base)).not.toHaveProperty('redisUrl');
  });

  it.each([
    [['--redis-url', 'http://h:1'], '--redis-url must be a redis:// or rediss:// URL (got http://...)'],
    [['--redis-url', 'h:1'], '--redis-url must be a redis:// or rediss:// URL (got h://...)'],
    [['--redis-url', 'not a url'], '--redis-url must be a URL: redis://HOST:PORT (or rediss:// for TLS, redis://:PASSWORD@HOST:PORT/DB)'],
    [['--redis-url', 'redis://h:1/db'], '--redis-url: the path must be a database number (got /db)'],
    [['--redis-url', 'redis://:pa%ZZss@h:1'], '--redis-url: its user name or password has a malformed %-escape (write a % as %25)'],
    [['--redis-prefix', 'p:'], '--redis-prefix names the keys in Redis: give it with --redis-url'],
    [['--redis-url', 'redis://h:1', '--redis-prefix', 'a b'], '--redis-prefix must be 1 to 100 visible ASCII characters, no spaces'],
    [['--redis-url', 'redis://h:1', '--redis-prefix', ''], '--redis-prefix must be 1 to 100 visible ASCII characters, no spaces'],
  ])('refuses %j', (args, message) => {
    expect(() => parseCliArgs([...base, ...args])).toThrow(new TypeError(message));
  });

  it('--redis-cluster: with --redis-url, database 0, and a prefix with a hash tag', () => {
    expect(parseCliArgs([...base, '--redis-url', 'redis://h:1', '--redis-cluster'])).toMatchObject({ redisUrl: 'redis://h:1', redisCluster: true });
    expect(parseCliArgs([...base, '--redis-url', 'redis://h:1/0', '--redis-cluster', '--redis-prefix', '{as:eu}:'])).toMatchObject({ redisCluster: true, redisPrefix: '{as:eu}:' });
    expect(() => parseCliArgs([...base, '--redis-cluster'])).toThrow('--redis-cluster says --redis-url names a node of a Redis Cluster: give it with --redis-url');
    expect(() => parseCliArgs([...base, '--redis-url', 'redis://h:1/2', '--redis-cluster'])).toThrow('--redis-cluster: a Redis Cluster has database 0 only (--redis-url names /2)');
    expect(() => parseCliArgs([...base, '--redis-url', 'redis://h:1', '--redis-cluster', '--redis-prefix', 'as:eu:'])).toThrow(
      '--redis-cluster: --redis-prefix needs a hash tag, e.g. {as:eu}:, so that the keys one operation touches are in one slot of the cluster',
    );
  });

  it('refuses shared state with ephemeral keys, naming the flag to add', () => {
    const shared = 'with --redis-url, every server of the issuer must sign with the same keys (and one restarted must keep them)';
    expect(() => parseCliArgs(['--realm', 'r.json', '--redis-url', 'redis://h:1'])).toThrow(`${shared}: give --key-file FILE, the same file to each`);
    expect(() => parseCliArgs(['--realm', 'a.json', '--realm', 'b.json', '--redis-url', 'redis://h:1'])).toThrow(`${shared}: give --key-dir DIR, the same folder of key files to each`);
    expect(() => parseCliArgs([...base, '--redis-url', 'redis://h:1', '--person-server'])).toThrow(`${shared}: give --person-key-file FILE with --person-server`);
    expect(() => parseCliArgs([...base, '--redis-url', 'redis://h:1', '--access-server'])).toThrow(`${shared}: give --access-key-file FILE with --access-server`);
  });

  it('never repeats a password: not in a refusal, and not in the URL as printed', () => {
    let message = '';
    try {
      parseCliArgs([...base, '--redis-url', 'redis://:hunter2@h:1/x']);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('--redis-url');
    expect(message).not.toContain('hunter2');
    expect(redactedRedisUrl('redis://user:hunter2@h:1/3')).toBe('redis://user:***@h:1/3');
    expect(redactedRedisUrl('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
    // ioredis reads a password from the query too (redis://HOST/0?password=...).
    expect(redactedRedisUrl('redis://h:1/0?password=hunter2&username=ops&password=again')).toBe('redis://h:1/0?password=***&username=***');
  });
});

describe('two aauth-auth-server commands behind one base URL, their state in one redis-server', () => {
  let redis: OwnRedis;
  let inspect: Redis;
  let dir: string;
  let a: RunningCli;
  let b: RunningCli;
  let backend: Party;
  let sca: Party;
  let issuer: string;
  const lines = { aOut: [] as string[], aErr: [] as string[], bOut: [] as string[], bErr: [] as string[] };

  beforeAll(async () => {
    redis = await startOwnRedis();
    inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    inspect.on('error', () => {});
    dir = mkdtempSync(join(tmpdir(), 'aauth-cli-redis-'));
    const realmFile = join(dir, 'realm.json');
    writeFileSync(realmFile, JSON.stringify(testRealm()));
    const portA = await freePort();
    const baseUrl = `http://127.0.0.1:${portA}`;
    issuer = `${baseUrl}/realms/aauth-test`;
    const common = ['--realm', realmFile, '--key-file', join(dir, 'realm.key'), '--alg', 'EdDSA', '--base-url', baseUrl, '--redis-url', redis.url, '--redis-prefix', PREFIX];
    // A first: it creates the key file B then reads, so both sign as the one issuer.
    a = await runCli([...common, '--port', String(portA)], { out: (l) => lines.aOut.push(l), err: (l) => lines.aErr.push(l) });
    b = await runCli([...common, '--port', '0'], { out: (l) => lines.bOut.push(l), err: (l) => lines.bErr.push(l) });
    [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
  }, 30_000);

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close(), backend?.close(), sca?.close()]);
    inspect?.disconnect();
    await redis?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A token request with a fresh (or the given) resource token for the backend, sent to `server`. */
  async function requestToken(server: RunningCli, scope: string, rt?: string): Promise<{ rt: string; answer: Answer }> {
    const token = rt ?? (await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: issuer }));
    return { rt: token, answer: await sendSigned(`${issuer}/protocol/aauth/token`, portOf(server), backend.key, backend.signatureKey, { resource_token: token }) };
  }

  it('say where their state is, and give no warning of state in memory', () => {
    for (const out of [lines.aOut, lines.bOut]) expect(out).toContain(`  state in Redis at ${redis.url} (keys ${PREFIX}*), shared with every server of this issuer`);
    expect([...lines.aErr, ...lines.bErr].join('\n')).not.toMatch(/memory|ephemeral/);
    expect(a.issuer).toBe(issuer);
    expect(b.issuer).toBe(issuer);
  });

  it('a consent started at A is polled at B and delivered there once; a resource token redeemed at A is refused at B', async () => {
    const { answer } = await requestToken(a, 'supply-chain:optimize');
    expect(answer.status).toBe(202);
    const location = answer.body.location as string;
    const early = await sendSigned(location, portOf(b), backend.key, backend.signatureKey);
    expect(early.status).toBe(202);
    expect(early.body).toMatchObject({ status: 'pending', code: answer.body.code });
    const decided = await decideOverHttp(`http://127.0.0.1:${portOf(a)}/realms/aauth-test/protocol/aauth/interact`, answer.body.code as string, 'approve');
    expect(decided.status).toBe(200);
    const delivered = await sendSigned(location, portOf(b), backend.key, backend.signatureKey);
    expect(delivered.status).toBe(200);
    expect(decodeJwt(delivered.body.auth_token as string).claims).toMatchObject({ iss: issuer, sub: USER_ID, agent: backend.identity, scope: 'supply-chain:optimize' });
    expect((await sendSigned(location, portOf(a), backend.key, backend.signatureKey)).status).toBe(404);

    const first = await requestToken(a, 'data:read');
    expect(first.answer.status).toBe(200);
    const again = await requestToken(b, 'data:read', first.rt);
    expect(again.answer.status).toBe(400);
    expect(again.answer.body).toEqual({ error: 'invalid_grant', error_description: 'resource_token refused: it was already redeemed; ask the resource for a new one' });
    // Every key the two wrote carries the prefix given.
    const keys = await inspect.keys('*');
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => !k.startsWith(PREFIX))).toEqual([]);
  });

  it('Redis killed: a prompt 503 and one warning per server; restarted: one line, and tokens again', async () => {
    await redis.kill();
    for (let i = 0; i < 2; i++) {
      const started = Date.now();
      const down = await requestToken(a, 'data:read');
      expect(down.answer.status).toBe(503);
      expect(down.answer.body.error).toBe('server_error');
      expect(Date.now() - started).toBeLessThan(4000);
    }
    const warning = `warning: Redis at ${redis.url} does not answer`;
    expect(lines.aErr.filter((l) => l.startsWith(warning))).toHaveLength(1);
    expect(lines.aErr.find((l) => l.startsWith(warning))).toContain('requests that need the shared state get 503 store_unavailable until it does');
    await redis.start();
    const deadline = Date.now() + 15_000;
    while (!lines.aErr.includes(`Redis at ${redis.url} answers again`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(lines.aErr).toContain(`Redis at ${redis.url} answers again`);
    expect((await requestToken(a, 'data:read')).answer.status).toBe(200);
  }, 30_000);
});

describe('tenants with --redis-url', () => {
  it('keep each realm under PREFIX + realm name + ":"', async () => {
    const redis = await startOwnRedis();
    const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-redis-tenants-'));
    const inspect = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    inspect.on('error', () => {});
    const out: string[] = [];
    let running: RunningCli | undefined;
    let backend: Party | undefined;
    let sca: Party | undefined;
    try {
      const files = ['aauth-test', 'other'].map((name) => {
        const file = join(dir, `${name}.json`);
        writeFileSync(file, JSON.stringify({ ...testRealm(), realm: name }));
        return file;
      });
      running = await runCli(['--realm', files[0]!, '--realm', files[1]!, '--key-dir', dir, '--port', '0', '--redis-url', redis.url, '--redis-prefix', PREFIX], {
        out: (l) => out.push(l),
        err: () => {},
      });
      expect(out).toContain(`  state in Redis at ${redis.url} (keys ${PREFIX}REALM:*), shared with every server of these realms`);
      [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
      const issuer = `${running.baseUrl}/realms/other`;
      const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'data:read', audience: issuer });
      const answer = await sendSigned(`${issuer}/protocol/aauth/token`, portOf(running), backend.key, backend.signatureKey, { resource_token: rt });
      expect(answer.status).toBe(200);
      const keys = await inspect.keys('*');
      expect(keys.length).toBeGreaterThan(0);
      expect(keys.filter((k) => !k.startsWith(`${PREFIX}other:`))).toEqual([]);
    } finally {
      await Promise.all([running?.close(), backend?.close(), sca?.close()]);
      inspect.disconnect();
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('tenant servers with --redis-url reload together', () => {
  it('an admin reload at A is heard by B; a SIGHUP reload at B by A; one missed while Redis was down is caught up when it is back', async () => {
    const redis = await startOwnRedis();
    const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-redis-reload-'));
    const realms = join(dir, 'realms');
    const keys = join(dir, 'keys');
    mkdirSync(realms);
    mkdirSync(keys);
    const token = 'fleet-reload-admin-token-0123456789abcdef';
    writeFileSync(join(dir, 'admin-token'), `${token}\n`);
    const addRealm = (name: string): void => writeFileSync(join(realms, `${name}.json`), JSON.stringify({ ...testRealm(), realm: name }));
    addRealm('first');
    const lines = { a: [] as string[], b: [] as string[], aErr: [] as string[] };
    let a: RunningCli | undefined;
    let b: RunningCli | undefined;
    const serves = async (server: RunningCli, name: string): Promise<number> => (await fetch(`${server.url}/realms/${name}/.well-known/aauth-issuer.json`)).status;
    const until = async (what: string, check: () => Promise<boolean>): Promise<void> => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      const args = ['--realms', realms, '--key-dir', keys, '--admin-token-file', join(dir, 'admin-token'), '--port', '0', '--redis-url', redis.url, '--redis-prefix', PREFIX];
      a = await runCli(args, { out: (l) => lines.a.push(l), err: (l) => lines.aErr.push(l) });
      b = await runCli(args, { out: (l) => lines.b.push(l), err: () => {} });
      expect(lines.a).toContain(`  reloads (SIGHUP, the admin call) are announced to every server of these realms (Redis channel ${PREFIX}realms:reload)`);

      // The admin call at A: A answers with the new realm, and B serves it too, without a call of its own.
      addRealm('second');
      const reloaded = await fetch(`${a.url}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(reloaded.status).toBe(200);
      expect(await reloaded.json()).toMatchObject({ realms: ['first', 'second'], added: ['second'] });
      await until('B serves the realm added at A', async () => (await serves(b!, 'second')) === 200);
      expect(lines.b).toContain('realms reloaded (another server of these realms reloaded): serving first, second (added: second; removed: none; changed: none)');

      // SIGHUP at B (its reload()): A drops the removed realm, and is not asked again by its own echo.
      rmSync(join(realms, 'second.json'));
      await b.reload!();
      await until('A stops serving the realm removed at B', async () => (await serves(a!, 'second')) === 404);
      expect(lines.b).toContain('realms reloaded: serving first (added: none; removed: second; changed: none)');
      await new Promise((r) => setTimeout(r, 300));
      expect(lines.b.filter((l) => l.startsWith('realms reloaded')).length).toBe(2);

      // A burst of 50 announcements at once (a broken publisher): B reloads once or twice, not 50 times.
      const publisher = new Redis(redis.url, { maxRetriesPerRequest: 1 });
      publisher.on('error', () => {});
      const before = lines.b.filter((l) => l.startsWith('realms reloaded (another server')).length;
      // Sent at once (pipelined): they arrive while the first reload they asked for runs.
      await Promise.all(Array.from({ length: 50 }, (_, i) => publisher.publish(`${PREFIX}realms:reload`, JSON.stringify({ from: `burst-${i}` }))));
      publisher.disconnect();
      await until('B reloaded after the burst', async () => lines.b.filter((l) => l.startsWith('realms reloaded (another server')).length > before);
      await new Promise((r) => setTimeout(r, 500));
      const burst = lines.b.filter((l) => l.startsWith('realms reloaded (another server')).length - before;
      expect(burst).toBeGreaterThanOrEqual(1);
      expect(burst).toBeLessThanOrEqual(2);

      // Redis down: A's reload cannot be announced (a warning says so); B catches up once Redis is back.
      await redis.kill();
      addRealm('third');
      await a.reload!();
      expect(await serves(a, 'third')).toBe(200);
      expect(await serves(b, 'third')).toBe(404);
      await until('A warns that B was not asked', async () => lines.aErr.some((l) => l.startsWith('warning: the other servers were not asked to reload yet (Redis: ')));
      await redis.start();
      await until('B serves the realm added while Redis was down', async () => (await serves(b!, 'third')) === 200);
      // A asks again once its own connection is back (a cut of A's connection alone, which B's
      // subscription never noticed, would otherwise leave B on the old realms).
      await until('A announced the held-back reload', async () => lines.aErr.includes('the other servers were asked to reload (the announcement held back while Redis did not answer)'));
    } finally {
      await Promise.all([a?.close(), b?.close()]);
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});

/** A private redis-server, an admin connection to it, and a folder with a realm file; `close` stops and removes them. */
async function ownRedisWithRealm(name: string): Promise<{ redis: OwnRedis; admin: Redis; dir: string; realmFile: string; close(): Promise<void> }> {
  const redis = await startOwnRedis();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  admin.on('error', () => {});
  const dir = mkdtempSync(join(tmpdir(), `aauth-cli-redis-${name}-`));
  const realmFile = join(dir, 'realm.json');
  writeFileSync(realmFile, JSON.stringify(testRealm()));
  return {
    redis,
    admin,
    dir,
    realmFile,
    close: async () => {
      admin.disconnect();
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('Redis refusing commands (an ACL, OOM)', () => {
  it("the command's log says what Redis said, once a minute per reason; clients get a generic 503", async () => {
    const own = await ownRedisWithRealm('acl');
    const { redis, admin, dir, realmFile } = own;
    const err: string[] = [];
    let running: RunningCli | undefined;
    try {
      running = await runCli(['--realm', realmFile, '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', redis.url], { out: () => {}, err: (l) => err.push(l) });
      // The consent page reads pending requests with a Lua script: deny EVAL to the user the command connects as.
      await admin.call('ACL', 'SETUSER', 'default', '-eval');
      const page = async () => fetch(`${running!.issuer}/protocol/aauth/interact?code=ABCD2345`);
      const first = await page();
      expect(first.status).toBe(503);
      const html = await first.text();
      expect(html).toContain('<h1>Temporarily unavailable</h1>');
      // Redis's words stay out of the page.
      expect(html).not.toContain('NOPERM');
      expect(await page().then((r) => r.status)).toBe(503);
      const warnings = err.filter((l) => l.includes('NOPERM'));
      // Before: nothing at all on stderr.
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(new RegExp(`^warning: Redis at ${redis.url.replace(/[.]/g, '\\.')}: The shared state store failed: NOPERM .*'eval'.*; requests that need the shared state get 503 until it does$`));
      await admin.call('ACL', 'SETUSER', 'default', '+eval');
      expect((await page()).status).toBe(404);
    } finally {
      await running?.close();
      await own.close();
    }
  }, 30_000);
});

describe('Redis not answering at start', () => {
  it('stops the command, naming the URL without its password', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-redis-none-'));
    try {
      const started = runCli(['--realm', join(dir, 'never-read.json'), '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', `redis://:hunter2@127.0.0.1:${port}/0`], {
        out: () => {},
        err: () => {},
      });
      await expect(started).rejects.toThrow(`--redis-url redis://:***@127.0.0.1:${port}/0: Redis did not answer (connect ECONNREFUSED 127.0.0.1:${port}); start it, or correct the URL`);
      await started.catch((error: Error) => expect(error.message).not.toContain('hunter2'));
      // The password given as ioredis's ?password= query parameter is not printed either.
      const queried = runCli(['--realm', join(dir, 'never-read.json'), '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', `redis://127.0.0.1:${port}/0?password=hunter2`], {
        out: () => {},
        err: () => {},
      });
      await expect(queried).rejects.toThrow(`--redis-url redis://127.0.0.1:${port}/0?password=***: Redis did not answer`);
      await queried.catch((error: Error) => expect(error.message).not.toContain('hunter2'));
      // The same with --redis-cluster: no node of the cluster answers.
      const cluster = runCli(['--realm', join(dir, 'never-read.json'), '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', `redis://:hunter2@127.0.0.1:${port}`, '--redis-cluster'], {
        out: () => {},
        err: () => {},
      });
      await expect(cluster).rejects.toThrow(new RegExp(`^--redis-url redis://:\\*\\*\\*@127\\.0\\.0\\.1:${port}: Redis did not answer \\(.+\\); start it, or correct the URL$`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a Redis that accepts the connection but never answers (stopped: SIGSTOP) stops the command too, instead of hanging it', async () => {
    const redis = await startOwnRedis();
    const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-redis-frozen-'));
    const pid = redis.pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      const started = runCli(['--realm', join(dir, 'never-read.json'), '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', redis.url], { out: () => {}, err: () => {} });
      // Before: connect() waited for the ready check forever, printing nothing.
      await expect(started).rejects.toThrow(`--redis-url ${redis.url}: Redis did not answer (no answer within 5 s: is it stopped or overloaded?); start it, or correct the URL`);
    } finally {
      process.kill(pid, 'SIGCONT');
      await redis.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});

describe('Redis credentials and persistence, said as what to change', () => {
  it('a Redis with a password: refused at start naming the credentials and the URL form; a password changed later is warned about once', async () => {
    const own = await ownRedisWithRealm('auth');
    const { redis, admin, dir, realmFile } = own;
    let running: RunningCli | undefined;
    try {
      await admin.config('SET', 'requirepass', 'first-secret');
      const args = (url: string) => ['--realm', realmFile, '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', url];
      const url = (password: string) => `redis://:${password}@127.0.0.1:${redis.port}`;
      await expect(runCli(args(redis.url), { out: () => {}, err: () => {} })).rejects.toThrow(
        /^--redis-url redis:\/\/127\.0\.0\.1:\d+: Redis refused the credentials \(NOAUTH.*\); give its password in the URL \(redis:\/\/:PASSWORD@HOST:PORT/,
      );
      const wrong = runCli(args(url('wrong')), { out: () => {}, err: () => {} });
      await expect(wrong).rejects.toThrow(/Redis refused the credentials \(WRONGPASS.*\)/);
      await wrong.catch((error: Error) => expect(error.message).not.toContain('wrong@'));
      const err: string[] = [];
      running = await runCli(args(url('first-secret')), { out: () => {}, err: (l) => err.push(l) });
      // The password changed under the running server, its connections cut: it cannot reconnect.
      await admin.auth('first-secret');
      await admin.config('SET', 'requirepass', 'second-secret');
      await admin.client('KILL', 'TYPE', 'normal');
      const deadline = Date.now() + 10_000;
      while (!err.some((l) => l.includes('refuses this server')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const refusals = err.filter((l) => l.includes('refuses this server'));
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatch(/^warning: Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ refuses this server's credentials \((WRONGPASS|NOAUTH).*\): correct the password in --redis-url and restart$/);
      expect(err.join('\n')).not.toContain('first-secret');
    } finally {
      await running?.close();
      await own.close();
    }
  }, 30_000);

  it('a Redis without an append-only file is warned about at start (what a restart would lose); one with it is not', async () => {
    const own = await ownRedisWithRealm('aof');
    const { redis, admin, dir, realmFile } = own;
    const start = async (): Promise<string[]> => {
      const err: string[] = [];
      const running = await runCli(['--realm', realmFile, '--key-file', join(dir, 'k.json'), '--port', '0', '--redis-url', redis.url], { out: () => {}, err: (l) => err.push(l) });
      await running.close();
      return err;
    };
    try {
      expect((await start()).filter((l) => l.includes('append-only'))).toEqual([]);
      await admin.config('SET', 'appendonly', 'no');
      const warned = (await start()).filter((l) => l.includes('append-only'));
      expect(warned).toHaveLength(1);
      expect(warned[0]).toContain('keeps no append-only file (appendonly no): if it restarts, what it recorded since its last snapshot is lost: redeemed resource tokens and used signatures');
    } finally {
      await own.close();
    }
  }, 30_000);
});
