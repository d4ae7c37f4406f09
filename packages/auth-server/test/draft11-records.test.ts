import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createMemoryDraft11Records, createRedisAuthServerStores, type Draft11Records, type IssuedRecord11 } from '../src/index.js';
import { startOwnRedis, type OwnRedis } from '../../../test/fixtures/redis-server.js';

// Issue 17: the -11 person and access servers' records keep one contract in memory and in Redis
// (the same tests on both; Redis with two clients under one prefix, as two servers of a fleet);
// a failing Redis is 503 store_unavailable.

const url = inject('redisUrl');
let clients: Redis[] = [];
const client = (at = url): Redis => {
  const c = new Redis(at, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  c.on('error', () => {});
  clients.push(c);
  return c;
};
const ready = (c: Redis): Promise<void> => (c.status === 'ready' ? Promise.resolve() : new Promise((r) => c.once('ready', () => r())));
const fresh = (): string => `aauth:test:${randomBytes(6).toString('hex')}:`;

afterAll(() => {
  for (const c of clients) c.disconnect();
  clients = [];
});

const NOW = Math.floor(Date.now() / 1000);
const record = (over: Partial<IssuedRecord11> = {}): IssuedRecord11 => ({ kind: 'person', sub: 'dir-1', resource: 'https://r.example', user: 'u1', exp: NOW + 600, thumbprint: 'tp', agent: 'aauth:a@ap.example', ...over });

const kinds: Array<[string, () => Promise<[Draft11Records, Draft11Records]>]> = [
  [
    'memory',
    async () => {
      const one = createMemoryDraft11Records();
      return [one, one];
    },
  ],
  [
    'redis (two clients, one prefix)',
    async () => {
      const prefix = fresh();
      const [c1, c2] = [client(), client()];
      await Promise.all([ready(c1), ready(c2)]);
      return [createRedisAuthServerStores(c1, { prefix }).draft11Records, createRedisAuthServerStores(c2, { prefix }).draft11Records];
    },
  ],
];

describe.each(kinds)('-11 records contract: %s', (_name, make) => {
  it('an issued token is found at every member as recorded; the access servers it went to are added; unknown is undefined', async () => {
    const [one, two] = await make();
    await one.person.putIssued('pt-1', record());
    expect(await two.person.getIssued('pt-1')).toEqual(record());
    await two.person.addAccessServer('pt-1', 'https://as.example');
    await one.person.addAccessServer('pt-1', 'https://as.example');
    expect((await one.person.getIssued('pt-1'))?.accessServers).toEqual(['https://as.example']);
    expect(await two.person.getIssued('nope')).toBeUndefined();
  });

  it('the cascade index: the tokens issued against a token; a revocation marks each once', async () => {
    const [one, two] = await make();
    await one.person.putIssued('pt-1', record());
    await one.person.putIssued('au-1', record({ kind: 'auth', from: ['pt-1'] }));
    await two.person.putIssued('au-2', record({ kind: 'auth', from: ['pt-1', 'up-1'] }));
    expect((await two.person.childrenOf('pt-1')).sort()).toEqual(['au-1', 'au-2']);
    expect(await one.person.childrenOf('up-1')).toEqual(['au-2']);
    expect((await one.person.markRevoked(['pt-1', 'au-1', 'missing'])).sort()).toEqual(['au-1', 'pt-1']);
    expect(await two.person.markRevoked(['pt-1', 'au-2'])).toEqual(['au-2']);
    expect((await two.person.getIssued('pt-1'))?.revoked).toBe(true);
  });

  it('bindings: the first consent binds; grants accumulate per user and resource', async () => {
    const [one, two] = await make();
    await one.person.bind('agent-1', 'u1');
    await two.person.bind('agent-1', 'u2');
    expect(await two.person.bindingOf('agent-1')).toBe('u1');
    expect(await one.person.bindingOf('agent-2')).toBeUndefined();
    await one.person.grant('u1', 'https://r.example', [], 'agent-1');
    await two.person.grant('u1', 'https://r.example', ['a', 'b'], 'agent-1');
    expect([...(await one.person.grantsOf('u1', 'https://r.example'))].sort()).toEqual(['', 'a', 'b']);
    expect((await one.person.grantsOf('u2', 'https://r.example')).size).toBe(0);
  });

  it('withdraw: the binding to that user goes, the grants given through the agent go, the pair\'s tokens are answered; the withdrawal is told once', async () => {
    const [one, two] = await make();
    await one.person.bind('agent-1', 'u1');
    await one.person.grant('u1', 'https://r.example', ['a'], 'agent-1');
    await one.person.grant('u1', 'https://other.example', ['b'], 'agent-2');
    await one.person.putIssued('pt-1', record({ agent: 'agent-1' }));
    await one.person.putIssued('pt-2', record({ agent: 'agent-2' }));
    // Another user's withdrawal leaves this binding alone.
    await two.person.withdraw('u9', 'agent-1', NOW + 600);
    expect(await one.person.bindingOf('agent-1')).toBe('u1');
    expect(await two.person.takeWithdrawn('agent-1')).toBe('u9');
    expect(await two.person.withdraw('u1', 'agent-1', NOW + 600)).toEqual(['pt-1']);
    expect(await one.person.bindingOf('agent-1')).toBeUndefined();
    expect((await one.person.grantsOf('u1', 'https://r.example')).size).toBe(0);
    expect([...(await one.person.grantsOf('u1', 'https://other.example'))].sort()).toEqual(['', 'b']);
    expect(await one.person.takeWithdrawn('agent-1')).toBe('u1');
    expect(await two.person.takeWithdrawn('agent-1')).toBeUndefined();
  });

  it('the access server: auth tokens by the person token they were issued against; revoked person and resource tokens', async () => {
    const [one, two] = await make();
    await one.access.putIssued('as-1', { resource: 'https://r.example', exp: NOW + 600, ps: 'https://ps.example', presentedJti: 'pt-1' }, NOW + 660);
    await two.access.putIssued('as-2', { resource: 'https://r2.example', exp: NOW + 600, ps: 'https://ps.example', presentedJti: 'pt-1' }, NOW + 660);
    await two.access.putIssued('as-3', { resource: 'https://r.example', exp: NOW + 600, ps: 'https://other-ps.example', presentedJti: 'pt-1' }, NOW + 660);
    const found = (await two.access.issuedAgainst('https://ps.example', 'pt-1')).sort(([x], [y]) => x.localeCompare(y));
    expect(found.map(([jti, r]) => [jti, r.resource])).toEqual([
      ['as-1', 'https://r.example'],
      ['as-2', 'https://r2.example'],
    ]);
    expect(await one.access.isLinkRevoked('presented', 'https://ps.example\npt-1')).toBe(false);
    await one.access.revokeLink('presented', 'https://ps.example\npt-1', NOW + 600);
    await one.access.revokeLink('resource', 'https://r.example\nrt-1', NOW + 600);
    expect(await two.access.isLinkRevoked('presented', 'https://ps.example\npt-1')).toBe(true);
    expect(await two.access.isLinkRevoked('resource', 'https://r.example\nrt-1')).toBe(true);
    expect(await two.access.isLinkRevoked('resource', 'https://r.example\npt-1')).toBe(false);
  });

  it('PS-111, PS-112: tokens by the agent they were issued to; agent tokens by (iss, jti); revocations sent here; the parties dealt with', async () => {
    const [one, two] = await make();
    await one.person.putIssued('pt-a', record({ agent: 'aauth:x@ap.example' }));
    await two.person.putIssued('at-a', record({ kind: 'auth', agent: 'aauth:x@ap.example', from: ['pt-a'] }));
    await one.person.putIssued('pt-b', record({ agent: 'aauth:y@ap.example', resource: 'https://r2.example' }));
    expect((await two.person.issuedTo('aauth:x@ap.example')).sort()).toEqual(['at-a', 'pt-a']);
    expect(await one.person.issuedTo('aauth:nobody@ap.example')).toEqual([]);
    expect(await two.person.knows('resource', 'https://r2.example')).toBe(true);
    expect(await two.person.knows('resource', 'https://never.example')).toBe(false);
    await one.person.putAgentToken('https://ap.example', 'agt-1', 'aauth:x@ap.example', NOW + 600);
    expect(await two.person.agentTokenSub('https://ap.example', 'agt-1')).toBe('aauth:x@ap.example');
    expect(await two.person.agentTokenSub('https://other-ap.example', 'agt-1')).toBeUndefined();
    expect([await two.person.knows('agent', 'https://ap.example'), await two.person.knows('agent', 'https://r2.example')]).toEqual([true, false]);
    expect(await two.person.isTokenRevoked('https://ap.example', 'agt-1')).toBe(false);
    await one.person.revokeToken('https://ap.example', 'agt-1', NOW + 600);
    await one.person.revokeToken('https://r.example', 'rt-1', NOW + 600);
    expect(await two.person.isTokenRevoked('https://ap.example', 'agt-1')).toBe(true);
    expect(await two.person.isTokenRevoked('https://r.example', 'rt-1')).toBe(true);
    // Keyed by (iss, jti): the same jti of another issuer is not revoked.
    expect(await two.person.isTokenRevoked('https://r2.example', 'rt-1')).toBe(false);
  });
});

describe('-11 records in a failing Redis', () => {
  let own: OwnRedis;
  beforeAll(async () => {
    own = await startOwnRedis();
  });
  afterAll(async () => {
    await own?.close();
  });

  it('down: every operation is 503 store_unavailable with Retry-After; back: what was acknowledged is there', async () => {
    const c = client(own.url);
    await ready(c);
    const { person, access } = createRedisAuthServerStores(c, { prefix: fresh(), timeoutMs: 300 }).draft11Records;
    await person.putIssued('pt-1', record());
    await person.bind('agent-1', 'u1');
    await own.kill();
    await new Promise((r) => setTimeout(r, 50));
    const ops: Promise<unknown>[] = [
      person.getIssued('pt-1'),
      person.putIssued('pt-2', record()),
      person.markRevoked(['pt-1']),
      person.bindingOf('agent-1'),
      person.grant('u1', 'https://r.example', [], 'agent-1'),
      person.withdraw('u1', 'agent-1', NOW + 600),
      person.takeWithdrawn('agent-1'),
      access.issuedAgainst('ps', 'pt-1'),
      access.isLinkRevoked('presented', 'x'),
    ];
    for (const outcome of await Promise.allSettled(ops)) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'store_unavailable', status: 503, headers: { 'Retry-After': '1' } });
    }
    await own.start();
    await ready(c);
    expect(await person.getIssued('pt-1')).toEqual(record());
    expect(await person.bindingOf('agent-1')).toBe('u1');
  });
});
