import { createMemoryTokenCache, type AgentEvent, type CachedToken } from '@aauth-kit/agent';
import { decodeToken, generateKey, isAAuthError, signJwt, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { caught } from './fixtures/caught.js';
import { listen, type Listening } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';

/**
 * Issue 13, finding 10: a trusted token endpoint that answers 200 with a token the agent must not
 * use (unbound, bound to another key, for another resource, without a bounded lifetime) gets a
 * typed refusal, and nothing is cached or presented. Over loopback HTTP: the real resource
 * middleware trusting a hand-written token endpoint, and a hosted agent.
 */
const SCOPE = 'data.read';
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** What the token endpoint puts in its 200: claims from the resource token's `iss` and the agent's key. */
type Answer = (ctx: { resource: string; agentKey: SigningKey; now: number }) => { claims: Record<string, unknown>; expires_in?: number };

interface World {
  issuer: string;
  r: Listening & { calls: string[] };
  hosted: HostedAgent;
  events: AgentEvent[];
  cached: CachedToken[];
  posts: number;
}

async function world(answer: Answer, agentOptions: { maxTokenLifetime?: number } = {}): Promise<World> {
  const asKey = generateKey({ kid: 'as-1' });
  const asApp = express();
  const as = await listen(asApp);
  open.push(as);
  const issuer = `${as.origin}/realms/t`;
  const w = { issuer, events: [] as AgentEvent[], cached: [] as CachedToken[], posts: 0 } as World;
  asApp.get('/realms/t/.well-known/aauth-issuer.json', (_req, res) => {
    res.json({ issuer, token_endpoint: `${issuer}/protocol/aauth/token`, jwks_uri: `${issuer}/protocol/aauth/certs` });
  });
  asApp.get('/realms/t/protocol/aauth/certs', (_req, res) => {
    res.json({ keys: [asKey.toPublishedJwk()] });
  });
  asApp.post('/realms/t/protocol/aauth/token', express.json(), async (req, res) => {
    w.posts++;
    const rt = decodeToken(String((req.body as { resource_token: string }).resource_token)).claims;
    const now = Math.floor(Date.now() / 1000);
    const { claims, expires_in } = answer({ resource: String(rt.iss), agentKey: w.hosted.key, now });
    const token = await signJwt(asKey, { typ: 'auth+jwt' }, { iss: issuer, agent: w.hosted.identity, scope: SCOPE, iat: now, ...claims });
    res.json({ auth_token: token, ...(expires_in === undefined ? {} : { expires_in }) });
  });

  const rApp = express();
  const r = Object.assign(await listen(rApp), { calls: [] as string[] });
  open.push(r);
  const resource = createResource({ identity: r.origin, key: generateKey({ kid: 'r-1' }), authServer: issuer });
  rApp.use(resource.wellKnown());
  rApp.use((req, _res, next) => {
    r.calls.push(String(req.headers['signature-key']).includes('jwt=') ? 'jwt' : 'own key');
    next();
  });
  rApp.get('/data', resource.require({ scope: SCOPE }), (_req, res) => {
    res.json({ ok: true });
  });
  w.r = r;

  const memory = createMemoryTokenCache();
  const tokenCache = { ...memory, set: (key: string, value: CachedToken) => (w.cached.push(value), memory.set(key, value)) };
  w.hosted = await hostedAgent({ authServer: issuer, tokenCache, onEvent: (e) => w.events.push(e), ...agentOptions });
  open.push(w.hosted);
  return w;
}

const YEARS_10 = 10 * 365 * 24 * 3600;
const bound = (key: SigningKey) => ({ cnf: { jwk: key.jwk } });

describe('the agent checks what a trusted token endpoint issues before it caches it (issue 13, finding 10)', () => {
  const cases: Array<[name: string, answer: Answer, code: string]> = [
    ['no cnf', ({ resource, now }) => ({ claims: { aud: resource, exp: now + 300 }, expires_in: 300 }), 'issued_token_unbound'],
    ['cnf for another key', ({ resource, now }) => ({ claims: { aud: resource, exp: now + 300, ...bound(generateKey()) }, expires_in: 300 }), 'issued_token_unbound'],
    ['aud of another resource', ({ agentKey, now }) => ({ claims: { aud: 'http://127.0.0.1:1', exp: now + 300, ...bound(agentKey) }, expires_in: 300 }), 'issued_token_audience_invalid'],
    ['no aud', ({ agentKey, now }) => ({ claims: { exp: now + 300, ...bound(agentKey) }, expires_in: 300 }), 'issued_token_audience_invalid'],
    ['no exp, a ten-year expires_in', ({ resource, agentKey }) => ({ claims: { aud: resource, ...bound(agentKey) }, expires_in: YEARS_10 }), 'issued_token_expiry_invalid'],
    ['an exp already past', ({ resource, agentKey, now }) => ({ claims: { aud: resource, exp: now - 10, ...bound(agentKey) }, expires_in: 300 }), 'issued_token_expiry_invalid'],
  ];
  for (const [name, answer, code] of cases) {
    it(`${name}: ${code}, nothing cached, nothing presented`, async () => {
      const w = await world(answer);
      const error = await caught(w.hosted.agent.fetch(`${w.r.origin}/data`));
      expect(isAAuthError(error)).toBe(true);
      expect(error).toMatchObject({ code, status: 502 });
      expect(w.cached).toEqual([]);
      expect(w.r.calls).toEqual(['own key']);
      expect(w.events.filter((e) => e.type === 'exchanged')).toEqual([]);
      // Nothing was cached: the next call meets the challenge and asks again.
      await caught(w.hosted.agent.fetch(`${w.r.origin}/data`));
      expect(w.posts).toBe(2);
    });
  }

  it('a ten-year exp and expires_in are cached for at most maxTokenLifetime (default 3600 s)', async () => {
    const answer: Answer = ({ resource, agentKey, now }) => ({ claims: { aud: resource, exp: now + YEARS_10, ...bound(agentKey) }, expires_in: YEARS_10 });
    for (const [options, max] of [[{}, 3600], [{ maxTokenLifetime: 600 }, 600]] as const) {
      const w = await world(answer, options);
      const before = Date.now() / 1000;
      expect((await w.hosted.agent.fetch(`${w.r.origin}/data`)).status).toBe(200);
      const after = Date.now() / 1000;
      expect(w.cached).toHaveLength(1);
      expect(w.cached[0]!.expiresAt).toBeGreaterThanOrEqual(before + max);
      expect(w.cached[0]!.expiresAt).toBeLessThanOrEqual(after + max);
      expect(w.r.calls).toEqual(['own key', 'jwt']);
    }
  });
});
