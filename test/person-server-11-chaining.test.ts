import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Agent, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, loadKeyFile, mintAuthToken11, mintResourceToken11, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';

// Issue 16, second slice: -11 call chaining at the embedded person server (profile section 8,
// item 7), over real loopback HTTP. A backend agent calls SCA with an auth token; SCA, its own
// agent provider, calls MAA with that token as `upstream_token`; the person server maps the
// upstream token back to the person and issues SCA a person token and an auth token for MAA.

const open: Array<{ close(): Promise<void> }> = [];
const keyDir = mkdtempSync(join(tmpdir(), 'ps-chain-'));
const keyFile = join(keyDir, 'person-server.jwk');
let as: TestAuthServer;
let ps: string;
let psKey: SigningKey;
let backendProvider: AgentProvider;
let sca: string;
let scaProvider: AgentProvider;
let maa: string;
const resourceKey = generateKey({ kid: 'resource-chain' });
/** The auth token each /chain call of SCA was made with. */
const upstreamSeen: string[] = [];
/** SCA's exchanges with the person server: path, status, and whether the body carried upstream_token. */
const scaSeen: Array<[string, number, boolean]> = [];

/** A -11 kit resource trusting the person server; `routes` adds its own routes. */
async function startResource(app: express.Express, origin: string, routes: (resource: ReturnType<typeof createResource>) => void): Promise<void> {
  const resource = createResource({
    identity: origin,
    key: resourceKey,
    generations: ['draft-11'],
    scopes: { 'data.read': 'Read market data' },
    draft11: { allowLoopback: true, personServers: [ps] },
  });
  app.use(resource.wellKnown());
  routes(resource);
}

/** A kit agent whose provider is `provider`; consent goes through the page over HTTP as mcp-user. */
function agentOf(provider: AgentProvider, local: string, fetchImpl: typeof fetch = fetch): Agent {
  return createAgent({
    key: generateKey({ kid: `${local}-key` }),
    draft11: { provider, local, ps, allowLoopback: true },
    fetch: fetchImpl,
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      const answer = await decideOverHttp(as.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve');
      expect(answer.status).toBe(200);
    },
  });
}

beforeAll(async () => {
  as = await startAuthServer({ draft11: { allowLoopback: true, keyFile } });
  open.push(as);
  ps = as.server.personServer!;
  psKey = loadKeyFile(keyFile);

  // The backend agent's provider.
  const apApp = express();
  const ap = await listen(apApp);
  open.push(ap);
  backendProvider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'backend-ap' }), allowLoopback: true });
  apApp.use(backendProvider.wellKnown() as express.RequestHandler);

  // MAA: a plain resource whose route needs an auth token with data.read.
  const maaApp = express();
  const maaListening = await listen(maaApp);
  open.push(maaListening);
  maa = maaListening.origin;
  const whoami = (req: Request, res: Response) => res.json(req.aauth);
  await startResource(maaApp, maa, (resource) => {
    maaApp.get('/me', resource.require({ level: 'person' }), whoami);
    maaApp.get('/data', resource.require({ scope: 'data.read' }), whoami);
  });

  // SCA: a resource that is also its own agent provider, and calls MAA with the token it was called with.
  const scaApp = express();
  const scaListening = await listen(scaApp);
  open.push(scaListening);
  sca = scaListening.origin;
  scaProvider = createAgentProvider({ issuer: sca, key: generateKey({ kid: 'sca-ap' }), allowLoopback: true });
  scaApp.use(scaProvider.wellKnown() as express.RequestHandler);
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === ps && url.pathname.startsWith('/aauth/person/') && init?.method === 'POST') {
      const raw = typeof init.body === 'string' ? init.body : Buffer.from(init.body as Uint8Array).toString('utf8');
      const sent = JSON.parse(raw) as Record<string, unknown>;
      scaSeen.push([url.pathname, res.status, typeof sent.upstream_token === 'string']);
    }
    return res;
  };
  const scaAgent = agentOf(scaProvider, 'sca', recording);
  await startResource(scaApp, sca, (resource) => {
    scaApp.get('/me', resource.require({ level: 'person' }), whoami);
    scaApp.get('/chain', resource.require({ scope: 'data.read' }), async (req, res) => {
      const upstream = req.aauth!.token!.raw;
      upstreamSeen.push(upstream);
      const down = await scaAgent.fetch(`${maa}/data`, { upstreamToken: upstream });
      res.status(down.status).json({ sca: req.aauth, maa: await down.json() });
    });
  });
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  rmSync(keyDir, { recursive: true, force: true });
});

describe('call chaining at the person server (profile section 8, item 7)', () => {
  let backend: Agent;
  let upstream: string;
  let scaSub: string;
  let maaSub: string;

  it('backend -> SCA (auth token) -> SCA as intermediary -> MAA: 200, the same person under MAA\'s own directed sub', async () => {
    backend = agentOf(backendProvider, 'backend');
    const res = await backend.fetch(`${sca}/chain`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sca: Record<string, unknown>; maa: Record<string, unknown> };
    scaSub = String(body.sca.sub);
    expect(body.sca).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps, scope: ['data.read'] });
    expect(body.maa).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps, scope: ['data.read'] });
    // SCA's own person token then auth token, both chained, both issued at once (no interaction).
    expect(scaSeen).toEqual([
      ['/aauth/person/person-token', 200, true],
      ['/aauth/person/auth-token', 200, true],
    ]);
    expect(upstreamSeen).toHaveLength(1);
    upstream = upstreamSeen[0]!;
    const up = decodeJwt(upstream).claims;
    expect(up).toMatchObject({ iss: ps, aud: sca, sub: scaSub, scope: 'data.read' });
    // MAA saw a directed sub of its own, not SCA's.
    maaSub = String(body.maa.sub);
    expect(maaSub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(maaSub).not.toBe(scaSub);
    // The chain needed no consent at MAA.
    const grantedAtMaa = () => as.audit.filter((e) => e.type === 'consent.granted' && e.resource === maa);
    expect(grantedAtMaa()).toHaveLength(0);
    // ... and it is the person's: the backend agent, approved by mcp-user at MAA directly, gets the same sub there.
    const direct = await backend.fetch(`${maa}/me`);
    expect(direct.status).toBe(200);
    expect(((await direct.json()) as Record<string, unknown>).sub).toBe(maaSub);
    // That direct call needed the person's approval at MAA, once.
    expect(grantedAtMaa()).toHaveLength(1);
  });

  describe('refusals of the upstream token: 400 invalid_upstream_token (expired_upstream_token once expired; PS-61)', () => {
    const interKey = generateKey({ kid: 'inter-1' });
    const url = () => `${ps}/aauth/person/person-token`;
    const asSca = async () => ({ key: interKey, signatureKey: { scheme: 'jwt' as const, jwt: await scaProvider.mintAgentToken({ local: 'sca', agentKey: interKey, ps }) } });

    it('a good upstream token signed by SCA\'s own agent token is accepted (the control)', async () => {
      const ok = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: upstream } });
      expect(ok.status).toBe(200);
      expect(decodeJwt(String(ok.body.person_token)).claims).toMatchObject({ iss: ps, aud: maa, sub: maaSub });
    });

    it('its aud is not the intermediary (the agent token of another provider signed the request)', async () => {
      const key = generateKey({ kid: 'other-inter' });
      const jwt = await backendProvider.mintAgentToken({ local: 'elsewhere', agentKey: key, ps });
      const res = await signedFetch(url(), { key, signatureKey: { scheme: 'jwt', jwt }, json: { resource: maa, upstream_token: upstream } });
      expect([res.status, res.body.error]).toEqual([400, 'invalid_upstream_token']);
      expect(String(res.body.detail)).toContain(`upstream_token refused: Auth token: aud "${sca}" is not "${backendProvider.issuer}"`);
      // The same refusal at the auth token endpoint.
      const at = await signedFetch(`${ps}/aauth/person/auth-token`, { key, signatureKey: { scheme: 'jwt', jwt }, json: { resource_token: 'x.y.z', upstream_token: upstream } });
      expect([at.status, at.body.error]).toEqual([400, 'invalid_upstream_token']);
      expect(String(at.body.detail)).toContain('upstream_token refused');
    });

    it('expired (the person server\'s key, the real jti and sub, exp in the past)', async () => {
      const up = decodeJwt(upstream).claims;
      const past = Math.floor(Date.now() / 1000) - 7200;
      const expired = await mintAuthToken11(psKey, {
        issuer: ps,
        audience: sca,
        sub: String(up.sub),
        agentKey: (up.cnf as { jwk: never }).jwk,
        scope: 'data.read',
        jti: String(up.jti),
        lifetime: 600,
        now: () => past,
        allowLoopback: true,
      });
      const res = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: expired } });
      expect([res.status, res.body.error]).toEqual([400, 'expired_upstream_token']);
      expect(String(res.body.detail)).toMatch(/^upstream_token refused: it has expired/);
    });

    it('forged (the same claims signed by another key under the person server\'s kid)', async () => {
      const up = decodeJwt(upstream).claims;
      const forger = generateKey({ kid: psKey.kid });
      const forged = await mintAuthToken11(forger, {
        issuer: ps,
        audience: sca,
        sub: String(up.sub),
        agentKey: (up.cnf as { jwk: never }).jwk,
        scope: 'data.read',
        jti: String(up.jti),
        lifetime: 600,
        allowLoopback: true,
      });
      const res = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: forged } });
      expect([res.status, res.body.error]).toEqual([400, 'invalid_upstream_token']);
      expect(String(res.body.detail)).toContain('the signature does not verify');
    });

    it('issued by another issuer (not this person server)', async () => {
      const up = decodeJwt(upstream).claims;
      const other = await mintAuthToken11(psKey, {
        issuer: maa,
        audience: sca,
        sub: String(up.sub),
        agentKey: (up.cnf as { jwk: never }).jwk,
        scope: 'data.read',
        jti: String(up.jti),
        lifetime: 600,
        allowLoopback: true,
      });
      const res = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: other } });
      expect([res.status, res.body.error]).toEqual([400, 'invalid_upstream_token']);
      expect(String(res.body.detail)).toBe(`upstream_token refused: it was issued by "${maa}", not by this person server ${ps}`);
      // An access server's token for this person server's person (four-party): named as such.
      const fromAs = await mintAuthToken11(psKey, {
        issuer: maa,
        dwk: 'aauth-access.json',
        ps,
        audience: sca,
        sub: String(up.sub),
        agentKey: (up.cnf as { jwk: never }).jwk,
        scope: 'data.read',
        lifetime: 600,
        allowLoopback: true,
      });
      const four = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: fromAs } });
      expect([four.status, four.body.error]).toEqual([400, 'invalid_upstream_token']);
      expect(String(four.body.detail)).toMatch(/^upstream_token refused: it was issued by the access server "[^"]+" \(four-party, for this person server's person\); .* not supported$/);
    });

    it('revoked by its holder: accepted before, refused at both endpoints after', async () => {
      // Only the holder revokes a token: a fresh upstream token for SCA, issued to a key the test holds.
      const holderKey = generateKey({ kid: 'holder-1' });
      const jwt = await backendProvider.mintAgentToken({ local: 'holder', agentKey: holderKey, ps });
      const signatureKey = { scheme: 'jwt' as const, jwt };
      const chained = await freshUpstreamFor(holderKey, signatureKey);
      const before = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: chained.token } });
      expect(before.status).toBe(200);
      const auditFrom = as.audit.length;
      const revoked = await signedFetch(`${ps}/aauth/person/revoke`, { key: holderKey, signatureKey, json: { iss: ps, jti: chained.jti } });
      expect(revoked.status).toBe(200);
      // AAuth -11 "Revocation Cascade": the person token issued from it as upstream_token is revoked with it.
      const chainedPersonJti = decodeJwt(String(before.body.person_token)).claims.jti;
      expect(as.audit.slice(auditFrom).filter((e) => e.type === 'token.revoked').map((e) => [e.jti, e.resource])).toEqual([
        [chained.jti, expect.any(String)],
        [chainedPersonJti, maa],
      ]);
      const after = await signedFetch(url(), { ...(await asSca()), json: { resource: maa, upstream_token: chained.token } });
      // Published -11 "Token Endpoint Error Codes": a revoked upstream token is revoked_upstream_token.
      expect([after.status, after.body.error]).toEqual([400, 'revoked_upstream_token']);
      expect(after.body.detail).toBe('upstream_token refused: it was revoked');
      // And at the auth token endpoint.
      const at = await signedFetch(`${ps}/aauth/person/auth-token`, { ...(await asSca()), json: { resource_token: 'x.y.z', upstream_token: chained.token } });
      expect([at.status, at.body.error, at.body.detail]).toEqual([400, 'revoked_upstream_token', 'upstream_token refused: it was revoked']);
    });
  });
});

/**
 * An auth token for SCA issued to `key` over the wire: a person token at SCA (consent on the page),
 * then the auth token for SCA's resource token.
 */
async function freshUpstreamFor(key: SigningKey, signatureKey: { scheme: 'jwt'; jwt: string }): Promise<{ token: string; jti: string }> {
  const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: sca, capabilities: ['interaction'] } });
  expect(post.status).toBe(202);
  const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
  expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
  const polled = await signedFetch(post.headers.get('location')!, { key, signatureKey });
  expect(polled.status).toBe(200);
  const person = decodeJwt(String(polled.body.person_token)).claims;
  const rt = await mintResourceToken11(resourceKey, { issuer: sca, audience: ps, ps, sub: String(person.sub), presentedJti: String(person.jti), agentJkt: key.thumbprint, scope: 'data.read', allowLoopback: true });
  const auth = await signedFetch(`${ps}/aauth/person/auth-token`, { key, signatureKey, json: { resource_token: rt, presented_token: String(polled.body.person_token) } });
  expect(auth.status).toBe(200);
  const token = String(auth.body.auth_token);
  return { token, jti: String(decodeJwt(token).claims.jti) };
}
