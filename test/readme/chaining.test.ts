import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import express, { type ErrorRequestHandler } from 'express';
import { createAgent } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { approveAsUser } from './approve.js';
import { extractSnippets } from './snippets.js';

// The root README's call-chaining example, run for real over loopback: the MAA of its first block,
// the SCA (resource and agent) of its second, a backend agent calling the SCA for the realm's user,
// and the embedded auth server reading keycloak-realm/aauth-test-realm.json. The scopes are read
// from the README blocks themselves, so the example cannot drift from what works.

const root = new URL('../../', import.meta.url);
const blocks = extractSnippets('README.md', readFileSync(new URL('README.md', root), 'utf8'));
const realmFile = fileURLToPath(new URL('keycloak-realm/aauth-test-realm.json', root));
const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as {
  users: Array<{ id: string; username: string; credentials: Array<{ type: string; value: string }> }>;
};
const user = realm.users.find((u) => u.username === 'mcp-user')!;
const password = user.credentials.find((c) => c.type === 'password')!.value;

/** The scopes a README block's `app.post(route, resource.require({ scope }))` requires. */
function routeScopes(code: string, route: string): string[] {
  const m = new RegExp(`app\\.post\\('${route}', resource\\.require\\(\\{ scope: (\\[[^\\]]*\\]|'[^']*') \\}\\)`).exec(code);
  if (!m) throw new Error(`no app.post('${route}', resource.require({ scope })) in the README block:\n${code}`);
  return [...m[1]!.matchAll(/'([^']*)'/g)].map((s) => s[1]!);
}

const maaBlock = blocks.find((b) => b.code.includes("app.post('/analyze'"));
const scaBlock = blocks.find((b) => b.code.includes('upstreamToken'));
const MAA_SCOPES = routeScopes(maaBlock?.code ?? '', '/analyze');
const SCA_SCOPES = routeScopes(scaBlock?.code ?? '', '/optimize');

interface Started {
  origin: string;
  close(): Promise<void>;
}
const started: Started[] = [];

/** Listen on 127.0.0.1, port 0; the identity is `http://localhost:<port>` (the kit allows http for local names). */
async function listen(): Promise<{ server: Server; origin: string }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://localhost:${(server.address() as { port: number }).port}`;
  started.push({
    origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
  return { server, origin };
}

let issuer: string;
let maa: string;

beforeAll(async () => {
  const as = await listen();
  const authServer = createAuthServer({
    realm: realmFile,
    baseUrl: as.origin,
    replay: { store: createMemoryReplayStore() },
    onWarning: () => {},
  });
  as.server.on('request', express().use(authServer.router()));
  issuer = authServer.issuer;

  // The README's first block: the market-analysis agent.
  const m = await listen();
  const resource = createResource({ identity: m.origin, key: generateKey(), authServer: issuer, replay: { store: createMemoryReplayStore() } });
  const app = express();
  app.use(resource.wellKnown());
  app.post('/analyze', resource.require({ scope: MAA_SCOPES }), express.json(), (req, res) => {
    res.json({ user: req.aauth!.sub, agent: req.aauth!.agent, act: req.aauth!.act, scope: req.aauth!.scope });
  });
  m.server.on('request', app);
  maa = m.origin;
});

afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

/** The README's second block: the supply-chain agent, a resource and an agent under one identity. */
async function startSca(scope: string[]): Promise<{ origin: string; errors: unknown[] }> {
  const s = await listen();
  const sca = { identity: s.origin, key: generateKey(), authServer: issuer };
  const resource = createResource({ ...sca, replay: { store: createMemoryReplayStore() } });
  const agent = createAgent(sca);
  const app = express();
  app.use(resource.wellKnown({ agent }));
  app.post('/optimize', resource.require({ scope }), async (req, res) => {
    const r = await agent.fetch(`${maa}/analyze`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sku: 'A-1' }),
      upstreamToken: req.aauth?.token?.raw,
    });
    res.status(r.status).json(await r.json());
  });
  const errors: unknown[] = [];
  const recordError: ErrorRequestHandler = (error: unknown, _req, res, _next) => {
    errors.push(error);
    res.status(error instanceof AAuthError ? error.status : 500).json({ error: error instanceof AAuthError ? error.code : 'internal' });
  };
  app.use(recordError);
  s.server.on('request', app);
  return { origin: s.origin, errors };
}

/** A backend agent acting for the realm's user: the user signs in and approves when asked. */
async function startBackend(): Promise<{ origin: string; agent: ReturnType<typeof createAgent> }> {
  const b = await listen();
  const agent = createAgent({
    identity: b.origin,
    key: generateKey(),
    authServer: issuer,
    onInteraction: ({ url }) => approveAsUser(url, user.username, password),
  });
  b.server.on('request', express().use(agent.wellKnown()));
  return { origin: b.origin, agent };
}

describe("the root README's call chaining, over loopback", () => {
  it('the README blocks name the routes and scopes this test runs', () => {
    expect(maaBlock, 'README block with the /analyze resource').toBeDefined();
    expect(scaBlock, 'README block with the chaining call').toBeDefined();
    expect(scaBlock!.code).toContain("agent.fetch('https://maa.example/analyze'");
    expect(MAA_SCOPES).toEqual(['market-analysis:analyze']);
    // The upstream route carries the downstream scope: an exchange can only narrow.
    for (const s of MAA_SCOPES) expect(SCA_SCOPES).toContain(s);
  });

  it('works as printed: the SCA calls the MAA for the user, the MAA sees the user, the SCA and the chain', async () => {
    const sca = await startSca(SCA_SCOPES);
    const backend = await startBackend();
    const res = await backend.agent.fetch(`${sca.origin}/optimize`, { method: 'POST' });
    const body = (await res.json()) as Record<string, unknown>;
    expect(sca.errors).toEqual([]);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body).toEqual({
      user: user.id,
      agent: sca.origin,
      act: { agent: backend.origin, sub: user.id },
      scope: MAA_SCOPES,
    });
  });

  it('without the downstream scope on the upstream route the exchange is refused, and the error says the fix', async () => {
    const narrow = SCA_SCOPES.filter((s) => !MAA_SCOPES.includes(s));
    expect(narrow).toEqual(['supply-chain:optimize']);
    const sca = await startSca(narrow);
    const backend = await startBackend();
    const res = await backend.agent.fetch(`${sca.origin}/optimize`, { method: 'POST' });
    expect(res.status).toBe(502);
    expect(sca.errors).toHaveLength(1);
    const error = sca.errors[0] as AAuthError;
    expect(error).toBeInstanceOf(AAuthError);
    expect(error.code).toBe('auth_server_error');
    expect(error.status).toBe(502);
    expect(error.details).toMatchObject({ status: 400, error: 'invalid_grant' });
    expect(error.message).toContain("Scope expansion refused: market-analysis:analyze is not in the upstream token's scope (supply-chain:optimize)");
    expect(error.message).toContain(`the route of ${sca.origin} that was called with the upstream token must also require market-analysis:analyze`);
  });
});
