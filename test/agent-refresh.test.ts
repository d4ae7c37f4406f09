import { readFileSync } from 'node:fs';
import { createAgent, type AgentEvent, type Interaction } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { decideOverHttp } from './fixtures/auth-server.js';
import { freePort, listen } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';

/**
 * Refresh of cached auth tokens (wire profile section 8, `{"auth_token"}`) against the embedded
 * auth server and the real resource middleware, every party on one injected clock.
 */
const realmFile = new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url);
const LIFESPAN = 300; // accessTokenLifespan of the shared realm
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface World {
  issuer: string;
  interactionEndpoint: string;
  resourceUrl: string;
  /** Move every party's clock forward. */
  advance(seconds: number): void;
  now: () => number;
  /** Bodies posted to the token endpoint, and the auth_token each 200 answered. */
  posts: Array<{ body: Record<string, unknown>; status: number; issued?: string }>;
  /** Status of every answer from the resource. */
  resourceStatuses: number[];
  /** The raw auth token the resource accepted on each successful call. */
  seenTokens: string[];
  transport: typeof fetch;
}

async function world(scope: string): Promise<World> {
  let offset = 0;
  const now = (): number => Date.now() / 1000 + offset;
  const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as { attributes: Record<string, string> };
  const port = await freePort();
  const server = createAuthServer({ realm, baseUrl: `http://127.0.0.1:${port}`, signingAlgorithm: 'EdDSA', now, onWarning: () => undefined });
  open.push(await server.listen(port, '127.0.0.1'));
  const issuer = server.issuer;

  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({ identity: listening.origin, key: generateKey({ kid: 'r-1' }), authServer: issuer, now });
  const seenTokens: string[] = [];
  app.use(resource.wellKnown());
  app.get('/call', resource.require({ scope }), (req, res) => {
    seenTokens.push(req.aauth!.token!.raw);
    res.json({ ok: true });
  });

  const posts: World['posts'] = [];
  const resourceStatuses: number[] = [];
  const transport: typeof fetch = async (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    const response = await fetch(input, init);
    if (url.endsWith('/protocol/aauth/token') && init?.body) {
      const body = JSON.parse(Buffer.from(init.body as Uint8Array).toString('utf8')) as Record<string, unknown>;
      const entry: World['posts'][number] = { body, status: response.status };
      if (response.status === 200) entry.issued = ((await response.clone().json()) as { auth_token: string }).auth_token;
      posts.push(entry);
    }
    if (url.startsWith(`${listening.origin}/call`)) resourceStatuses.push(response.status);
    return response;
  };
  return {
    issuer,
    interactionEndpoint: `${issuer}/protocol/aauth/interact`,
    resourceUrl: `${listening.origin}/call`,
    advance: (seconds) => {
      offset += seconds;
    },
    now,
    posts,
    resourceStatuses,
    seenTokens,
    transport,
  };
}

async function agentIn(w: World, extra: { onInteraction?: (i: Interaction) => Promise<void>; refresh?: boolean } = {}): Promise<HostedAgent & { events: AgentEvent[] }> {
  const events: AgentEvent[] = [];
  const hosted = await hostedAgent({
    authServer: w.issuer,
    fetch: w.transport,
    now: w.now,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 20))),
    onEvent: (e) => events.push(e),
    ...extra,
  });
  open.push(hosted);
  return { ...hosted, events };
}

/** Log in as the realm's test user and approve, over plain HTTP, as a browser would. */
async function approve(interactionEndpoint: string, code: string): Promise<void> {
  const decided = await decideOverHttp(interactionEndpoint, code, 'approve');
  await decided.body?.cancel();
}

function noTokenIn(events: AgentEvent[], tokens: Array<string | undefined>): void {
  const text = JSON.stringify(events);
  for (const t of tokens) if (t !== undefined) expect(text).not.toContain(t);
}

describe('refresh of cached auth tokens', () => {
  it('refreshes a token near expiry with {auth_token}: no second challenge, no second resource_token request', async () => {
    const w = await world('market-analysis:analyze');
    const hosted = await agentIn(w);
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    expect(w.resourceStatuses).toEqual([401, 200]);
    const old = w.posts[0]!.issued!;

    w.advance(LIFESPAN - 10); // within the 30 s renewal margin
    const res = await hosted.agent.fetch(w.resourceUrl);
    expect(res.status).toBe(200);
    expect(w.posts.map((p) => p.body)).toEqual([{ resource_token: expect.any(String) }, { auth_token: old }]);
    expect(Object.keys(w.posts[1]!.body)).toEqual(['auth_token']);
    const renewed = w.posts[1]!.issued!;
    expect(renewed).not.toBe(old);
    expect(w.seenTokens).toEqual([old, renewed]);
    expect(w.resourceStatuses).toEqual([401, 200, 200]);
    const refreshed = hosted.events.filter((e) => e.type === 'refreshed');
    expect(refreshed).toEqual([
      { type: 'refreshed', resource: new URL(w.resourceUrl).origin, authServer: w.issuer, scope: 'market-analysis:analyze', expiresAt: expect.any(Number) },
    ]);
    expect(hosted.events.filter((e) => e.type === 'challenged')).toHaveLength(1);
    noTokenIn(hosted.events, [old, renewed]);

    // The renewed token is cached: the next call sends it straight away.
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    expect(w.posts).toHaveLength(2);
    expect(w.seenTokens.at(-1)).toBe(renewed);
  });

  it('refreshes a consented token without asking the user again', async () => {
    const w = await world('supply-chain:optimize');
    const interactions: Interaction[] = [];
    const hosted = await agentIn(w, {
      onInteraction: async (interaction) => {
        interactions.push(interaction);
        await approve(w.interactionEndpoint, interaction.code);
      },
    });
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    expect(interactions).toHaveLength(1);
    expect(w.posts.map((p) => p.status)).toEqual([202]);

    w.advance(LIFESPAN + 5); // expired, within aauth.refresh.lifespan
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    expect(interactions).toHaveLength(1);
    expect(w.posts.map((p) => [Object.keys(p.body), p.status])).toEqual([
      [['resource_token'], 202],
      [['auth_token'], 200],
    ]);
    expect(w.resourceStatuses).toEqual([401, 200, 200]);
    expect(hosted.events.filter((e) => e.type === 'interaction')).toHaveLength(1);
  });

  it('a refused refresh falls back to a fresh challenge and token request, and the call succeeds', async () => {
    const w = await world('market-analysis:analyze');
    const hosted = await agentIn(w);
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    const old = w.posts[0]!.issued!;

    w.advance(LIFESPAN + 1800 + 60); // past aauth.refresh.lifespan: the server refuses (400 invalid_grant)
    const res = await hosted.agent.fetch(w.resourceUrl);
    expect(res.status).toBe(200);
    expect(w.posts.map((p) => [Object.keys(p.body), p.status])).toEqual([
      [['resource_token'], 200],
      [['auth_token'], 400],
      [['resource_token'], 200],
    ]);
    expect(w.resourceStatuses).toEqual([401, 200, 401, 200]);
    const failed = hosted.events.filter((e) => e.type === 'refresh_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ resource: new URL(w.resourceUrl).origin, authServer: w.issuer, scope: 'market-analysis:analyze', code: 'auth_server_error' });
    expect((failed[0] as { message: string }).message).toContain('invalid_grant');
    expect(hosted.events.filter((e) => e.type === 'refreshed')).toHaveLength(0);
    noTokenIn(hosted.events, [old, w.posts[2]!.issued]);
  });

  it('concurrent calls share one refresh', async () => {
    const w = await world('market-analysis:analyze');
    const hosted = await agentIn(w);
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);

    w.advance(LIFESPAN - 5);
    const answers = await Promise.all(Array.from({ length: 5 }, () => hosted.agent.fetch(w.resourceUrl)));
    expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(w.posts.map((p) => Object.keys(p.body))).toEqual([['resource_token'], ['auth_token']]);
    expect(new Set(w.seenTokens.slice(1))).toEqual(new Set([w.posts[1]!.issued]));
    expect(w.resourceStatuses.filter((s) => s === 401)).toHaveLength(1);
    expect(hosted.events.filter((e) => e.type === 'refreshed')).toHaveLength(1);
  });

  it('refresh: false keeps the old behaviour (evict, then challenge)', async () => {
    const w = await world('market-analysis:analyze');
    const hosted = await agentIn(w, { refresh: false });
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    w.advance(LIFESPAN - 10);
    expect((await hosted.agent.fetch(w.resourceUrl)).status).toBe(200);
    expect(w.posts.map((p) => Object.keys(p.body))).toEqual([['resource_token'], ['resource_token']]);
    expect(w.resourceStatuses).toEqual([401, 200, 401, 200]);
  });

  it('options.refresh must be a boolean', () => {
    expect(() => createAgent({ key: generateKey(), refresh: 'yes' as unknown as boolean })).toThrow('options.refresh must be a boolean');
  });
});
