import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createAgent, type Agent, type Interaction } from '@aauth-kit/agent';
import { createRedisAuthServerStores, createTenantAuthServer, TenantReloadError, type AuditEvent, type IssuancePolicy, type PolicyInput, type TenantAuthServer } from '@aauth-kit/auth-server';
import { generateKey, isAAuthError, signRequest } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryRevocationStore } from '@aauth-kit/verifier';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cookieHeader, decideOverHttp, signedFetch } from './fixtures/auth-server.js';
import { freePort, listen, type Listening } from './fixtures/http.js';

/**
 * Issue 17, tenants: one auth server process serves several realm files. Nothing of realm A (users,
 * consent codes, pending URLs, sign-in sessions, tokens) is accepted by realm B, and realms are
 * added and removed without a restart (the admin call; SIGHUP to the command).
 */
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'packages/auth-server/dist/bin.js');
const BASE_REALM = JSON.parse(readFileSync(join(ROOT, 'keycloak-realm/aauth-test-realm.json'), 'utf8')) as Record<string, unknown>;
const redisUrl = inject('redisUrl');
const ADMIN_TOKEN = 'tenants-test-admin-token-0123456789abcdef';

interface Tenant {
  name: string;
  user: string;
  password: string;
  userId: string;
}
const A: Tenant = { name: 'tenant-a', user: 'alice', password: 'alice-pw', userId: 'a0000000-0000-4000-8000-00000000000a' };
const B: Tenant = { name: 'tenant-b', user: 'bob', password: 'bob-pw', userId: 'b0000000-0000-4000-8000-00000000000b' };
const C: Tenant = { name: 'tenant-c', user: 'carol', password: 'carol-pw', userId: 'c0000000-0000-4000-8000-00000000000c' };

/** The shared realm export with another name, its own user and its own client ids. */
function realmFile(t: Tenant): Record<string, unknown> {
  const realm = structuredClone(BASE_REALM) as { clients: Array<{ clientId: string }> } & Record<string, unknown>;
  realm.realm = t.name;
  realm.displayName = `Tenant ${t.name}`;
  realm.users = [{ id: t.userId, username: t.user, enabled: true, firstName: t.user, credentials: [{ type: 'password', value: t.password, temporary: false }] }];
  realm.clients = realm.clients.map((c) => ({ ...c, clientId: `${t.name}-${c.clientId}` }));
  return realm;
}

const write = (dir: string, t: Tenant, body?: string): string => {
  const file = join(dir, `${t.name}.json`);
  writeFileSync(file, body ?? JSON.stringify(realmFile(t), null, 2));
  return file;
};

/** An agent whose consent requests the test answers: `next()` resolves with the next interaction. */
function interactive(identity: string, key: ReturnType<typeof generateKey>, trusted: string[]): { agent: Agent; next(): Promise<Interaction> } {
  const waiting: Array<(i: Interaction) => void> = [];
  const queued: Interaction[] = [];
  const agent = createAgent({
    identity,
    key,
    trustedAuthServers: trusted,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 50))),
    onInteraction: (i) => {
      const w = waiting.shift();
      if (w) w(i);
      else queued.push(i);
    },
  });
  return { agent, next: () => (queued.length > 0 ? Promise.resolve(queued.shift()!) : new Promise((r) => waiting.push(r))) };
}

let dir: string;
let port: number;
let base: string;
let tenants: TenantAuthServer;
/** What B's policy hook was asked; it refuses the agent named `deniedInB`. */
const askedB: PolicyInput[] = [];
let deniedInB = '';
const policyOfB: IssuancePolicy = (input) => {
  askedB.push(input);
  return input.agent === deniedInB ? { allow: false, reason: 'tenant B does not serve this agent' } : { allow: true };
};
/** A's auth token for the resource, issued in the consent test. */
let tokenOfA = '';
let close: () => Promise<void>;
const audit: AuditEvent[] = [];
const open: Listening[] = [];
const issuer = (t: Tenant): string => `${base}/realms/${t.name}`;

/** One resource origin (one identity and key) with a route trusting only A and one trusting only B. */
let resource: Listening;
/** The backend agent (consents) and the supply-chain agent (a resource of A that calls onward). */
type Backend = { agent: Agent; next(): Promise<Interaction> } & { identity: string; key: ReturnType<typeof generateKey> };
/**
 * The backend agents (they consent), one per tenant: an agent holds one token per resource and
 * scope, so one agent calling the same resource through two tenants would present the first token.
 */
let backend: Backend;
let backendB: Backend;
let backendC: Backend;
let sca: Listening;
let maaB: Listening;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-tenants-'));
  write(dir, A);
  write(dir, B);
  port = await freePort();
  base = `http://127.0.0.1:${port}`;
  tenants = createTenantAuthServer({
    baseUrl: base,
    realmsDir: dir,
    signingAlgorithm: 'EdDSA',
    admin: { token: ADMIN_TOKEN },
    // Each realm's operator client may revoke that realm's tokens.
    // Each realm's operator client may revoke that realm's tokens; B has its own issuance policy hook.
    realmOptions: (name) => ({
      revocation: { store: createMemoryRevocationStore(), clients: [`${name}-crm`] },
      ...(name === B.name ? { policy: policyOfB } : {}),
    }),
    onAudit: (e) => audit.push(e),
    onWarning: () => undefined,
  });
  ({ close } = await tenants.listen(port));

  // The resource: the same identity, a route per tenant, each trusting one issuer.
  const resourceKey = generateKey({ kid: 'res-1' });
  const app = express();
  resource = await listen(app);
  open.push(resource);
  const ofA = createResource({ identity: resource.origin, key: resourceKey, authServer: issuer(A) });
  const ofB = createResource({ identity: resource.origin, key: resourceKey, authServer: issuer(B) });
  app.use(ofA.wellKnown());
  const ofC = createResource({ identity: resource.origin, key: resourceKey, authServer: issuer(C) });
  for (const [path, r] of [['/tenant-a', ofA], ['/tenant-b', ofB], ['/tenant-c', ofC]] as const) {
    app.post(path, r.require({ scope: 'supply-chain:optimize' }), (req, res) => {
      // Test only: the raw token comes back so the test can present it elsewhere.
      res.json({ sub: req.aauth!.sub, issuer: req.aauth!.token!.issuer, raw: req.aauth!.token!.raw });
    });
  }

  // The backend agents, trusting every tenant (the refusals below are the auth server's and the resources').
  const trusted = [A, B, C].map(issuer);
  const hosted = async (kid: string): Promise<Backend> => {
    const key = generateKey({ kid });
    const app = express();
    const listening = await listen(app);
    open.push(listening);
    const made = { ...interactive(listening.origin, key, trusted), identity: listening.origin, key };
    app.use(made.agent.wellKnown());
    return made;
  };
  backend = await hosted('backend-1');
  backendB = await hosted('backend-2');
  backendC = await hosted('backend-3');

  // MAA trusts only B; SCA is a resource of A that calls MAA with its A token as upstream_token.
  const maaKey = generateKey({ kid: 'maa-1' });
  const maaApp = express();
  maaB = await listen(maaApp);
  open.push(maaB);
  const maaResource = createResource({ identity: maaB.origin, key: maaKey, authServer: issuer(B) });
  maaApp.use(maaResource.wellKnown());
  maaApp.get('/call', maaResource.require({ scope: 'market-analysis:analyze' }), (req, res) => {
    res.json({ agent: req.aauth!.agent });
  });
  const scaKey = generateKey({ kid: 'sca-1' });
  const scaApp = express();
  sca = await listen(scaApp);
  open.push(sca);
  const scaResource = createResource({ identity: sca.origin, key: scaKey, authServer: issuer(A) });
  const scaAgent = createAgent({ identity: sca.origin, key: scaKey, trustedAuthServers: trusted });
  scaApp.use(scaResource.wellKnown());
  scaApp.use(scaAgent.wellKnown());
  scaApp.get('/call', scaResource.require({ scope: 'market-analysis:analyze' }), (req, res) => {
    scaAgent.fetch(`${maaB.origin}/call`, { upstreamToken: req.aauth!.token!.raw }).then(
      async (onward) => res.status(onward.status).json(await onward.json()),
      (error: unknown) => res.status(502).json({ code: (error as { code?: string }).code, details: (error as { details?: unknown }).details }),
    );
  });
});

afterAll(async () => {
  await Promise.all([close?.(), ...open.map((o) => o.close())]);
  rmSync(dir, { recursive: true, force: true });
});

/** Start a consent in tenant `t` through its resource route; resolves the interaction and the call. */
async function startConsent(t: Tenant): Promise<{ interaction: Interaction; call: Promise<Response> }> {
  const { agent, next } = t === A ? backend : t === B ? backendB : backendC;
  const call = agent.fetch(`${resource.origin}/${t.name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  // A call that ends before asking for consent fails the test with its answer (no hang).
  const ended = call.then(
    async (r) => {
      throw new Error(`the call ended without a consent: ${r.status} ${await r.clone().text()}`);
    },
    (e: unknown) => {
      throw e;
    },
  );
  return { interaction: await Promise.race([next(), ended]), call };
}

const interact = (t: Tenant): string => `${issuer(t)}/protocol/aauth/interact`;

describe('tenants: realm A and realm B in one auth server', () => {
  it('each realm is served at /realms/{name} with its own issuer and key', async () => {
    expect(tenants.realms()).toEqual([A.name, B.name]);
    const [ma, mb] = await Promise.all([A, B].map(async (t) => (await fetch(`${issuer(t)}/.well-known/aauth-issuer.json`)).json() as Promise<Record<string, string>>));
    expect(ma!.issuer).toBe(issuer(A));
    expect(mb!.issuer).toBe(issuer(B));
    expect(mb!.token_endpoint).toBe(`${issuer(B)}/protocol/aauth/token`);
    expect(tenants.realm(A.name)!.jwks().keys).not.toEqual(tenants.realm(B.name)!.jwks().keys);
  });

  it("A's user, consent code, pending URL and sign-in session are unknown in B; in A they work", async () => {
    const a = await startConsent(A);
    expect(a.interaction.url.startsWith(`${interact(A)}?`)).toBe(true);
    expect(a.interaction.location.startsWith(`${issuer(A)}/protocol/aauth/pending/`)).toBe(true);

    // A's consent code at B's consent page: unknown there.
    const atB = await fetch(`${interact(B)}?code=${encodeURIComponent(a.interaction.code)}`);
    expect(atB.status).toBe(404);
    expect(await atB.text()).toContain('<title>Unknown request</title>');

    // A's pending URL at B: unknown (B's pending store has nothing of A).
    const pendingAtB = a.interaction.location.replace(`/realms/${A.name}/`, `/realms/${B.name}/`);
    const poll = await signedFetch(pendingAtB, { key: backend.key, signatureKey: { scheme: 'jwks_uri', id: backend.identity, kid: backend.key.kid } });
    expect(poll.status).toBe(404);
    expect(poll.body).toEqual({ error: 'not_found', error_description: 'No such pending request' });

    // A user of A cannot sign in on B's consent page (for a consent of B).
    const b = await startConsent(B);
    await expect(decideOverHttp(interact(B), b.interaction.code, 'approve', { username: A.user, password: A.password })).rejects.toThrow(/login answered 401/);

    // A's sign-in session (cookie from A's consent page) means nothing at B: B asks to sign in.
    const first = await fetch(`${interact(A)}?code=${encodeURIComponent(a.interaction.code)}`);
    const loginHtml = await first.text();
    let cookies = cookieHeader('', first);
    const csrf = /name="csrf" value="([^"]*)"/.exec(loginHtml)![1]!;
    const login = await fetch(`${interact(A)}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code: a.interaction.code, csrf, username: A.user, password: A.password }).toString(),
    });
    expect(login.status).toBe(303);
    cookies = cookieHeader(cookies, login);
    expect(cookies).toContain('aauth_session=');
    const withACookie = await fetch(`${interact(B)}?code=${encodeURIComponent(b.interaction.code)}`, { headers: { cookie: cookies } });
    const html = await withACookie.text();
    expect(withACookie.status).toBe(200);
    expect(html).toContain('id="username"');
    expect(html).not.toContain(A.user);

    // In A, A's user approves A's consent: the token names A's user and A's issuer.
    const decided = await decideOverHttp(interact(A), a.interaction.code, 'approve', { username: A.user, password: A.password });
    expect(decided.status).toBe(200);
    const answer = await a.call;
    expect(answer.status).toBe(200);
    const body = (await answer.json()) as { sub: string; issuer: string; raw: string };
    expect(body).toMatchObject({ sub: A.userId, issuer: issuer(A) });
    tokenOfA = body.raw;

    // B's consent is approved by B's user; its token names B.
    expect((await decideOverHttp(interact(B), b.interaction.code, 'approve', { username: B.user, password: B.password })).status).toBe(200);
    expect(await (await b.call).json()).toMatchObject({ sub: B.userId, issuer: issuer(B) });

    // Audit events name the realm that decided.
    const allowed = audit.filter((e) => e.decision === 'allow');
    expect(allowed.filter((e) => e.sub === A.userId).map((e) => e.realm)).toEqual([A.name]);
    expect(allowed.filter((e) => e.sub === B.userId).map((e) => e.realm)).toEqual([B.name]);
  });

  it("A's auth token is refused by a resource that trusts only B", async () => {
    // The agent itself presents A's token (from the consent test) to B's route of the same resource (same audience).
    expect(tokenOfA).not.toBe('');
    const raw = tokenOfA;
    const url = `${resource.origin}/${B.name}`;
    const signed = signRequest(
      { method: 'POST', url, headers: { 'content-type': 'application/json' }, body: '{}' },
      { key: backend.key, signatureKey: { scheme: 'jwt', jwt: raw }, nonce: true },
    );
    const refused = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...signed.headers }, body: '{}' });
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ error: 'invalid_auth_token', error_description: `Auth token: issuer "${issuer(A)}" is not trusted` });
    // ... and it asks for a token of B.
    expect(refused.headers.get('aauth')).toBe(`require=auth-token; auth-server="${issuer(B)}"`);
  });

  it("A's token is refused at B's refresh and revocation endpoints; A's client is unknown at B", async () => {
    expect(tokenOfA).not.toBe('');
    const holder = { key: backend.key, signatureKey: { scheme: 'jwks_uri' as const, id: backend.identity, kid: backend.key.kid } };
    const refreshAtB = await signedFetch(`${issuer(B)}/protocol/aauth/token`, { ...holder, json: { auth_token: tokenOfA } });
    expect(refreshAtB.status).toBe(400);
    expect(refreshAtB.body).toEqual({ error: 'invalid_grant', error_description: 'auth_token refused: it was not issued by this server' });
    // At A the same refresh is served.
    const refreshAtA = await signedFetch(`${issuer(A)}/protocol/aauth/token`, { ...holder, json: { auth_token: tokenOfA } });
    expect(refreshAtA.status).toBe(200);
    expect(refreshAtA.body).toEqual({ auth_token: expect.any(String), expires_in: expect.any(Number) });

    const revoke = (t: Tenant, client: string, token: string) =>
      fetch(`${issuer(t)}/protocol/aauth/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${client}:crm-secret`).toString('base64')}` },
        body: new URLSearchParams({ token }).toString(),
      });
    const aClientAtB = await revoke(B, `${A.name}-crm`, tokenOfA);
    expect(aClientAtB.status).toBe(401);
    expect(await aClientAtB.json()).toEqual({ error: 'invalid_client', error_description: 'Client authentication failed: unknown client or wrong secret' });
    const aTokenAtB = await revoke(B, `${B.name}-crm`, tokenOfA);
    expect(aTokenAtB.status).toBe(400);
    expect(await aTokenAtB.json()).toEqual({ error: 'invalid_request', error_description: `iss "${issuer(A)}" is not an issuer of this server` });
    // A's operator revokes it at A: A's refresh of it is refused from then on, with what to redo.
    const atA = await revoke(A, `${A.name}-crm`, tokenOfA);
    expect(atA.status).toBe(200);
    expect(await atA.json()).toMatchObject({ revoked: 'token', iss: issuer(A) });
    const refreshRevoked = await signedFetch(`${issuer(A)}/protocol/aauth/token`, { ...holder, json: { auth_token: tokenOfA } });
    expect(refreshRevoked.status).toBe(400);
    expect(refreshRevoked.body).toMatchObject({ error: 'invalid_grant', reconnect: { issuer: issuer(A), agent: backend.identity } });
  });

  it("A's token as upstream_token at B's token endpoint is refused (exchange)", async () => {
    const res = await backend.agent.fetch(`${sca.origin}/call`);
    expect(res.status).toBe(502);
    const body = (await res.json()) as { code: string; details: { status: number; error: string } };
    expect(body.code).toBe('auth_server_error');
    expect(body.details).toEqual({
      status: 400,
      error: 'invalid_grant',
      error_description: `upstream_token refused: issuer "${issuer(A)}" is not trusted (aauth.trusted.issuers)`,
    });
  });

  it("B's own policy hook decides B's issuance, and only B's", async () => {
    const key = generateKey({ kid: 'denied-1' });
    const app = express();
    const listening = await listen(app);
    open.push(listening);
    const agent = createAgent({ identity: listening.origin, key, trustedAuthServers: [issuer(A), issuer(B)] });
    app.use(agent.wellKnown());
    deniedInB = listening.origin;
    const error = await agent.fetch(`${maaB.origin}/call`).catch((e: unknown) => e);
    expect(isAAuthError(error, 'auth_server_error')).toBe(true);
    expect((error as { details: unknown }).details).toEqual({
      status: 403,
      error: 'access_denied',
      error_description: 'Denied by the issuance policy: tenant B does not serve this agent',
    });
    expect(askedB.length).toBeGreaterThan(0);
    expect(new Set(askedB.map((i) => i.realm))).toEqual(new Set([B.name]));
    expect(audit.filter((e) => e.agent === listening.origin).map((e) => [e.realm, e.decision, e.code, e.error])).toEqual([[B.name, 'deny', 'policy_denied', 'access_denied']]);
  });

  it('the admin call needs the admin token', async () => {
    const none = await fetch(`${base}/admin/realms/reload`, { method: 'POST' });
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: 'admin_unauthorized' });
    const wrong = await fetch(`${base}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const list = await fetch(`${base}/admin/realms`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(await list.json()).toEqual({ realms: [A.name, B.name] });
  });

  it('a third realm added by the admin call serves at once; a broken file keeps the old realms; a removed realm is 404 realm_not_found', async () => {
    const admin = { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } };
    expect((await fetch(`${issuer(C)}/.well-known/aauth-issuer.json`)).status).toBe(404);
    const cFile = write(dir, C);
    const added = await fetch(`${base}/admin/realms/reload`, admin);
    expect(added.status).toBe(200);
    expect(await added.json()).toEqual({ realms: [A.name, B.name, C.name], added: [C.name], removed: [], changed: [] });
    const meta = (await (await fetch(`${issuer(C)}/.well-known/aauth-issuer.json`)).json()) as { issuer: string };
    expect(meta.issuer).toBe(issuer(C));
    // C serves a whole consent at once: C's user approves, the token is C's; A's user cannot sign in at C.
    const c = await startConsent(C);
    expect(c.interaction.url.startsWith(`${interact(C)}?`)).toBe(true);
    await expect(decideOverHttp(interact(C), c.interaction.code, 'approve', { username: A.user, password: A.password })).rejects.toThrow(/login answered 401/);
    expect((await decideOverHttp(interact(C), c.interaction.code, 'approve', { username: C.user, password: C.password })).status).toBe(200);
    expect(await (await c.call).json()).toMatchObject({ sub: C.userId, issuer: issuer(C) });

    // A broken file on reload: nothing changes, the reason names the file and the field.
    const badFile = join(dir, 'tenant-d.json');
    writeFileSync(badFile, JSON.stringify({ ...realmFile({ ...C, name: 'tenant-d' }), attributes: { 'aauth.allowed.scopes': 'not json' } }));
    const refused = await fetch(`${base}/admin/realms/reload`, admin);
    expect(refused.status).toBe(422);
    const why = (await refused.json()) as { error: string; problems: string[]; realms: string[] };
    expect(why.error).toBe('realm_reload_failed');
    expect(why.realms).toEqual([A.name, B.name, C.name]);
    expect(why.problems).toHaveLength(1);
    expect(why.problems[0]).toContain(badFile);
    expect(why.problems[0]).toContain('aauth.allowed.scopes');
    expect((await fetch(`${issuer(A)}/.well-known/aauth-issuer.json`)).status).toBe(200);
    expect((await fetch(`${issuer(C)}/.well-known/aauth-issuer.json`)).status).toBe(200);
    unlinkSync(badFile);

    // Removing C's file and reloading: C answers 404 realm_not_found on every path.
    unlinkSync(cFile);
    const removed = await fetch(`${base}/admin/realms/reload`, admin);
    expect(await removed.json()).toMatchObject({ realms: [A.name, B.name], removed: [C.name] });
    for (const path of ['/.well-known/aauth-issuer.json', '/protocol/aauth/token', '/protocol/aauth/interact?code=x']) {
      const gone = await fetch(`${issuer(C)}${path}`, path.endsWith('token') ? { method: 'POST', body: '{}' } : {});
      expect(gone.status).toBe(404);
      expect(await gone.json()).toEqual({ error: 'realm_not_found', error_description: `no realm "${C.name}" is served here` });
    }
  });
});

describe('tenants through the API: addRealm and removeRealm', () => {
  it('adds a realm object, refuses a second realm of the same name, removes it (404 realm_not_found)', async () => {
    const d: Tenant = { name: 'tenant-d', user: 'dave', password: 'dave-pw', userId: 'd0000000-0000-4000-8000-00000000000d' };
    const port2 = await freePort();
    const base2 = `http://127.0.0.1:${port2}`;
    const server = createTenantAuthServer({ baseUrl: base2, realms: [realmFile(A)], signingAlgorithm: 'EdDSA', onWarning: () => undefined });
    const running = await server.listen(port2);
    try {
      expect(await server.addRealm(realmFile(d))).toEqual({ realms: [A.name, d.name], added: [d.name], removed: [], changed: [] });
      expect((await fetch(`${base2}/realms/${d.name}/.well-known/aauth-issuer.json`)).status).toBe(200);
      const twice = await server.addRealm(realmFile(d)).catch((e: unknown) => e);
      expect(twice).toBeInstanceOf(TenantReloadError);
      expect((twice as TenantReloadError).problems).toEqual([`options.realms[2]: realm ${d.name} is given twice`]);
      expect(server.realms()).toEqual([A.name, d.name]);
      expect(await server.removeRealm(d.name)).toEqual({ realms: [A.name], added: [], removed: [d.name], changed: [] });
      const gone = await fetch(`${base2}/realms/${d.name}/.well-known/aauth-issuer.json`);
      expect(gone.status).toBe(404);
      expect(await gone.json()).toMatchObject({ error: 'realm_not_found' });
      // No admin option: no admin endpoints.
      expect((await fetch(`${base2}/admin/realms/reload`, { method: 'POST' })).status).toBe(404);
    } finally {
      await running.close();
    }
  });
});

describe('the admin endpoints under a flood of wrong tokens', () => {
  it('after 10 failures from one address: 429 admin_throttled with Retry-After, even with the right token, until the wait is over', async () => {
    const port2 = await freePort();
    const base2 = `http://127.0.0.1:${port2}`;
    let clock = 1_800_000_000;
    const server = createTenantAuthServer({ baseUrl: base2, realms: [realmFile(A)], signingAlgorithm: 'EdDSA', admin: { token: ADMIN_TOKEN }, now: () => clock, onWarning: () => undefined });
    const running = await server.listen(port2);
    const list = (token: string): Promise<Response> => fetch(`${base2}/admin/realms`, { headers: { authorization: `Bearer ${token}` } });
    try {
      // A success forgets the address's failures: 9 failures, a success, then 10 more before the lock.
      for (let i = 0; i < 9; i++) expect((await list(`wrong-${i}`)).status).toBe(401);
      expect((await list(ADMIN_TOKEN)).status).toBe(200);
      for (let i = 0; i < 10; i++) expect((await list(`wrong-${i}`)).status).toBe(401);
      for (const token of ['wrong-again', ADMIN_TOKEN]) {
        const throttled = await list(token);
        expect(throttled.status).toBe(429);
        expect(throttled.headers.get('retry-after')).toBe('60');
        expect(await throttled.json()).toEqual({ error: 'admin_throttled', error_description: 'too many failed admin authentications from this address: try again in 60 s' });
      }
      // The reload is refused the same way: nothing is reloaded for a throttled address.
      expect((await fetch(`${base2}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status).toBe(429);
      // The realms themselves are served as before.
      expect((await fetch(`${base2}/realms/${A.name}/.well-known/aauth-issuer.json`)).status).toBe(200);
      clock += 61;
      const after = await list(ADMIN_TOKEN);
      expect(after.status).toBe(200);
      expect(await after.json()).toEqual({ realms: [A.name] });
    } finally {
      await running.close();
    }
  });
});

describe('tenants with their state in Redis: one key prefix per realm', () => {
  it("A's pending request, sign-in session and used resource token live under A's prefix; B's prefix holds none of them", async () => {
    expect(redisUrl, inject('redisProblem')).not.toBe('');
    const redis = new Redis(redisUrl, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    redis.on('error', () => undefined);
    // Without an offline queue a command sent before the connection is ready fails at once (the stores
    // answer 503 replay_store_failed): a loaded machine can reach the first store call that early.
    await new Promise<void>((ready) => (redis.status === 'ready' ? ready() : redis.once('ready', () => ready())));
    const run = `aauth:tenants-test:${randomBytes(4).toString('hex')}`;
    const port4 = await freePort();
    const base4 = `http://127.0.0.1:${port4}`;
    const server = createTenantAuthServer({
      baseUrl: base4,
      realms: [realmFile(A), realmFile(B)],
      realmOptions: (name) => createRedisAuthServerStores(redis, { prefix: `${run}:${name}:` }),
      signingAlgorithm: 'EdDSA',
      onWarning: () => undefined,
    });
    const running = await server.listen(port4);
    const app = express();
    const res = await listen(app);
    const agentApp = express();
    const agentListening = await listen(agentApp);
    try {
      const issuerA = `${base4}/realms/${A.name}`;
      const r = createResource({ identity: res.origin, key: generateKey({ kid: 'r-redis' }), authServer: issuerA });
      app.use(r.wellKnown());
      app.post('/x', r.require({ scope: 'supply-chain:optimize' }), (req, out) => {
        out.json({ sub: req.aauth!.sub });
      });
      const made = interactive(agentListening.origin, generateKey({ kid: 'agent-redis' }), [issuerA]);
      agentApp.use(made.agent.wellKnown());
      const call = made.agent.fetch(`${res.origin}/x`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      const interaction = await made.next();
      const keysOf = async (name: string): Promise<string[]> => (await redis.keys(`${run}:${name}:*`)).map((k) => k.slice(`${run}:${name}:`.length));
      expect((await keysOf(A.name)).length).toBeGreaterThan(0);
      expect(await keysOf(B.name)).toEqual([]);
      // Unknown under B's path, served under A's.
      const atB = await fetch(`${base4}/realms/${B.name}/protocol/aauth/interact?code=${encodeURIComponent(interaction.code)}`);
      expect(atB.status).toBe(404);
      expect((await decideOverHttp(`${issuerA}/protocol/aauth/interact`, interaction.code, 'approve', { username: A.user, password: A.password })).status).toBe(200);
      expect(await (await call).json()).toEqual({ sub: A.userId });
      // The redeemed resource token is remembered under A's prefix only.
      expect((await keysOf(A.name)).some((k) => k.startsWith('used:'))).toBe(true);
      // B holds only its own count of the unknown code it was shown (its rate limit), nothing of A's.
      expect(await keysOf(B.name)).toEqual(['rate:interaction-code-miss:127.0.0.1']);
    } finally {
      await Promise.all([running.close(), res.close(), agentListening.close()]);
      const left = await redis.keys(`${run}:*`);
      if (left.length > 0) await redis.del(...left);
      redis.disconnect();
    }
  });
});

describe('tenants and the -11 person server (one per origin)', () => {
  it('only draft11Realm serves the -11 roles at the origin; the other realms serve the Keycloak profile', async () => {
    const port3 = await freePort();
    const base3 = `http://127.0.0.1:${port3}`;
    const server = createTenantAuthServer({
      baseUrl: base3,
      realms: [realmFile(A), realmFile(B)],
      draft11Realm: A.name,
      draft11: { allowLoopback: true },
      signingAlgorithm: 'EdDSA',
      onWarning: () => undefined,
    });
    const running = await server.listen(port3);
    try {
      expect(server.realm(A.name)!.personServer).toBe(base3);
      expect(server.realm(B.name)!.personServer).toBe(undefined);
      const person = await fetch(`${base3}/.well-known/aauth-person.json`);
      expect(person.status).toBe(200);
      expect(((await person.json()) as { issuer: string }).issuer).toBe(base3);
      expect((await fetch(`${base3}/realms/${B.name}/.well-known/aauth-issuer.json`)).status).toBe(200);
    } finally {
      await running.close();
    }
  });
});

describe('tenants in the command: aauth-auth-server --realms DIR, reloaded on SIGHUP', () => {
  let child: ChildProcessByStdio<null, Readable, Readable> | undefined;
  let cliDir: string;
  let out = '';
  let err = '';
  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGTERM');
    rmSync(cliDir, { recursive: true, force: true });
  });
  const waitFor = async (stream: () => string, text: string): Promise<void> => {
    for (let i = 0; i < 400 && !stream().includes(text); i++) await new Promise((r) => setTimeout(r, 25));
    if (!stream().includes(text)) throw new Error(`no "${text}" in output: ${stream()} / ${err}`);
  };

  it('a realm added to the folder serves after SIGHUP, a broken file is reported and the old realms serve on', async () => {
    cliDir = mkdtempSync(join(tmpdir(), 'aauth-tenants-cli-'));
    write(cliDir, A);
    write(cliDir, B);
    const cliPort = await freePort();
    const cliBase = `http://127.0.0.1:${cliPort}`;
    child = spawn(process.execPath, [BIN, '--realms', cliDir, '--port', String(cliPort), '--base-url', cliBase, '--alg', 'EdDSA'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    await waitFor(() => out, `  issuer ${cliBase}/realms/${B.name}`);
    expect(out).toContain(`realms ${A.name}, ${B.name}\n`);
    expect((await fetch(`${cliBase}/realms/${C.name}/.well-known/aauth-issuer.json`)).status).toBe(404);

    write(cliDir, C);
    process.kill(child.pid!, 'SIGHUP');
    await waitFor(() => out, 'realms reloaded:');
    expect(out).toContain(`realms reloaded: serving ${A.name}, ${B.name}, ${C.name} (added: ${C.name}; removed: none; changed: none)`);
    const meta = (await (await fetch(`${cliBase}/realms/${C.name}/.well-known/aauth-issuer.json`)).json()) as { issuer: string };
    expect(meta.issuer).toBe(`${cliBase}/realms/${C.name}`);

    // A file with an error: the reload is refused, named on stderr, and the three realms serve on.
    write(cliDir, B, '{ "realm": "tenant-b", ');
    process.kill(child.pid!, 'SIGHUP');
    await waitFor(() => err, 'realms not reloaded');
    expect(err).toContain(`realms not reloaded, still serving ${A.name}, ${B.name}, ${C.name}: ${join(cliDir, `${B.name}.json`)}:`);
    for (const t of [A, B, C]) expect((await fetch(`${cliBase}/realms/${t.name}/.well-known/aauth-issuer.json`)).status).toBe(200);
    expect(child.exitCode).toBe(null);
  });
});
