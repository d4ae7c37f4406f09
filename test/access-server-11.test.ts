import { createAuthServer, type AuditEvent, type AuthServer } from '@aauth-kit/auth-server';
import { type Agent, createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { decodeToken, generateKey, mintAuthToken11, type OkpPublicJwk } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { freePort, listen } from './fixtures/http.js';
import { startKitSite } from './fixtures/kit-site-11.js';

// Issue 16: four-party over real loopback HTTP. Two embedded auth servers from the same realm
// file: one is the agent's person server, the other an access server (aauth.access.enabled) that
// trusts it. A kit express resource names the access server (draft11.accessServer), so its
// resource tokens are addressed there; the person consents at the person server, which federates
// (signed as itself) and checks the access server's auth token before handing it over.

const open: Array<{ close(): Promise<void> }> = [];
let psAuth: TestAuthServer;
let asAuth: { server: AuthServer; audit: AuditEvent[]; close(): Promise<void> };
let ps: string;
let as: string;
let dead: string;
let fakes: { scope: string; cnf: string };
let provider: AgentProvider;
let providerHost: string;
const resourceKey = generateKey({ kid: 'resource-4p' });

/** A -11-only kit resource whose resource tokens go to `accessServer`. */
function startSite(accessServer: string): Promise<string> {
  return startKitSite({
    key: resourceKey,
    scopes: { 'data.read': 'Read market data', 'supply-chain:optimize': 'Optimise the supply chain' },
    draft11: { personServers: [ps], accessServer },
    routes: { '/data': 'data.read', '/optimize': 'supply-chain:optimize' },
    track: (l) => open.push(l),
  });
}

interface Seen {
  method: string;
  path: string;
  status: number;
  body: Record<string, unknown> | undefined;
}

/** The kit's agent; its exchanges with the person server are recorded; consent goes through the page. */
function agent11(local: string): { agent: Agent; seen: Seen[]; codes: string[] } {
  const seen: Seen[] = [];
  const codes: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === ps && url.pathname.startsWith('/aauth/person/')) {
      let body: Record<string, unknown> | undefined;
      try {
        body = (await res.clone().json()) as Record<string, unknown>;
      } catch {
        body = undefined;
      }
      seen.push({ method: init?.method ?? 'GET', path: url.pathname.replace(/\/pending\/.*$/, '/pending'), status: res.status, body });
    }
    return res;
  };
  const agent = createAgent({
    key: generateKey({ kid: `${local}-key` }),
    draft11: { provider, local, ps, allowLoopback: true },
    fetch: recording,
    sleep: async () => undefined,
    onInteraction: async ({ url }) => {
      const code = new URL(url).searchParams.get('code')!;
      codes.push(code);
      const answer = await decideOverHttp(psAuth.interactionEndpoint, code, 'approve');
      expect(answer.status).toBe(200);
    },
  });
  return { agent, seen, codes };
}

/** A small fake access server whose auth tokens are wrong in the way `tamper` says. */
async function startFakeAs(tamper: 'scope' | 'cnf'): Promise<string> {
  const key = generateKey({ kid: `fake-as-${tamper}` });
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const origin = listening.origin;
  app.get('/.well-known/aauth-access.json', (_q, r) => r.json({ issuer: origin, jwks_uri: `${origin}/jwks`, auth_token_endpoint: `${origin}/token` }));
  app.get('/jwks', (_q, r) => {
    const { kid: _kid, ...jwk } = key.jwk as unknown as Record<string, string>;
    r.json({ keys: [{ ...jwk, kid: key.kid, alg: 'Ed25519' }] });
  });
  app.post('/token', express.json(), async (req, res) => {
    const rt = decodeToken(String(req.body.resource_token)).claims;
    const agentJwk = (decodeToken(String(req.body.agent_token)).claims.cnf as { jwk: OkpPublicJwk }).jwk;
    const token = await mintAuthToken11(key, {
      issuer: origin,
      dwk: 'aauth-access.json',
      ps: String(rt.ps),
      audience: String(rt.iss),
      sub: String(rt.sub),
      agentKey: tamper === 'cnf' ? (generateKey().jwk as unknown as OkpPublicJwk) : agentJwk,
      scope: tamper === 'scope' ? `${String(rt.scope)} admin` : String(rt.scope),
      lifetime: 600,
      allowLoopback: true,
    });
    res.json({ auth_token: token, expires_in: 600 });
  });
  return origin;
}

beforeAll(async () => {
  const app = express();
  let handler: express.RequestHandler = (_q, _s, next) => next();
  app.use((q, s, n) => handler(q, s, n));
  const listening = await listen(app);
  open.push(listening);
  provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-4p' }), allowLoopback: true });
  providerHost = new URL(listening.origin).host;
  handler = provider.wellKnown() as express.RequestHandler;

  // The person server federates to the access servers it lists: the real one (its port chosen
  // first), a dead one and two fakes.
  const asPort = await freePort();
  as = `http://127.0.0.1:${asPort}`;
  dead = `http://127.0.0.1:${await freePort()}`;
  fakes = { scope: await startFakeAs('scope'), cnf: await startFakeAs('cnf') };
  psAuth = await startAuthServer({
    draft11: { allowLoopback: true },
    realm: testRealm({ 'aauth.person.trusted.access.servers': JSON.stringify([as, dead, fakes.scope, fakes.cnf]) }),
  });
  open.push(psAuth);
  ps = psAuth.server.personServer!;
  const audit: AuditEvent[] = [];
  const server = createAuthServer({
    baseUrl: as,
    draft11: { allowLoopback: true },
    realm: testRealm({
      'aauth.access.enabled': 'true',
      'aauth.access.trusted.person.servers': JSON.stringify([ps]),
      'aauth.blocked.agents': JSON.stringify([`aauth:blocked@${providerHost}`]),
    }),
    onAudit: (e) => audit.push(e),
    onWarning: () => undefined,
  });
  const running = await server.listen(asPort);
  asAuth = { server, audit, close: running.close };
  open.push(asAuth);
  expect(server.accessServer).toBe(as);
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('the access server metadata (AS-01..AS-03)', () => {
  it('serves aauth-access.json at the base URL origin, and its own key with alg Ed25519', async () => {
    expect(as).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(psAuth.server.accessServer).toBeUndefined();
    const doc = (await (await fetch(`${as}/.well-known/aauth-access.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: as,
      jwks_uri: `${as}/aauth/access/jwks.json`,
      auth_token_endpoint: `${as}/aauth/access/auth-token`,
      accept_signature_algs: ['Ed25519', 'ES256'],
    });
    expect(doc.revocation_endpoint).toBe(`${as}/aauth/access/revoke`);
    const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
    // Two roles, two keys: the person server's JWKS holds another key.
    const psJwks = (await (await fetch(`${as}/aauth/person/jwks.json`)).json()) as { keys: Array<Record<string, string>> };
    expect(psJwks.keys[0]!.x).not.toBe(jwks.keys[0]!.x);
  });
});

describe('four-party: kit agent, person server, access server, kit resource', () => {
  it('401 person-token -> person token -> 401 auth-token (aud = AS) -> consent at the PS -> PS federates -> auth token of the AS -> 200', async () => {
    const site = await startSite(as);
    const flow = agent11('buyer');
    const res = await flow.agent.fetch(`${site}/optimize`);
    expect(res.status).toBe(200);
    const aauth = (await res.json()) as Record<string, unknown>;
    expect(aauth).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps, scope: ['supply-chain:optimize'] });
    // Person token (consent), then the auth token (consent for supply-chain:optimize), each a 202 then a poll.
    expect(flow.seen.map((s) => [s.method, s.path, s.status])).toEqual([
      ['POST', '/aauth/person/person-token', 202],
      ['GET', '/aauth/person/pending', 200],
      ['POST', '/aauth/person/auth-token', 202],
      ['GET', '/aauth/person/pending', 200],
    ]);
    expect(flow.codes).toHaveLength(2);
    const personSub = decodeJwt(String(flow.seen[1]!.body!.person_token)).claims.sub;
    const { header, claims } = decodeJwt(String(flow.seen[3]!.body!.auth_token));
    expect(header).toMatchObject({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: as, dwk: 'aauth-access.json', aud: site, ps, sub: personSub, scope: 'supply-chain:optimize' });
    expect(claims.agent).toBeUndefined();
    expect(claims.act).toBeUndefined();
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
    expect(aauth.sub).toBe(personSub);
    // The access server issued it and said so in its audit; the person server consented.
    expect(asAuth.audit.filter((e) => e.type === 'token.issued' && e.resource === site)).toHaveLength(1);
    // Issue 17: the audit-trail fields of the access server's decision.
    expect(asAuth.audit.find((e) => e.type === 'token.issued' && e.resource === site)).toMatchObject({
      decision: 'allow',
      realm: 'aauth-test',
      chain: [`aauth:buyer@${providerHost}`],
      user: personSub,
      scopesRequested: ['supply-chain:optimize'],
      scopesGranted: ['supply-chain:optimize'],
      jti: claims.jti,
    });
    expect(psAuth.audit.filter((e) => e.type === 'consent.granted' && e.agent === `aauth:buyer@${providerHost}`)).toHaveLength(2);
  });

  it('no consent needed at the PS: federated at once (200), the AS applies the resource policy', async () => {
    const site = await startSite(as);
    const flow = agent11('reader');
    const res = await flow.agent.fetch(`${site}/data`);
    expect(res.status).toBe(200);
    expect(flow.seen.map((s) => [s.method, s.path, s.status])).toEqual([
      ['POST', '/aauth/person/person-token', 202],
      ['GET', '/aauth/person/pending', 200],
      ['POST', '/aauth/person/auth-token', 200],
    ]);
    expect(decodeJwt(String(flow.seen[2]!.body!.auth_token)).claims).toMatchObject({ iss: as, dwk: 'aauth-access.json', scope: 'data.read' });
  });

  it("a policy refusal at the access server is relayed with its code and status (403 access_denied)", async () => {
    const site = await startSite(as);
    const flow = agent11('blocked');
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.method, last.path, last.status]).toEqual(['POST', '/aauth/person/auth-token', 403]);
    expect(last.body).toMatchObject({ error: 'access_denied' });
    expect(String(last.body!.detail)).toMatch(/access server .* refused: Agent aauth:blocked@.* is blocked by realm policy/);
    expect(asAuth.audit.some((e) => e.type === 'request.refused' && e.code === 'access_denied')).toBe(true);
    // Issue 17: the refusal names the resource and the scopes its resource token asked for.
    expect(asAuth.audit.find((e) => e.type === 'request.refused' && e.code === 'access_denied')).toMatchObject({ decision: 'deny', resource: site, scopesRequested: ['data.read'] });
  });

  it('an access server that does not answer: 502 as_unreachable', async () => {
    const site = await startSite(dead);
    const flow = agent11('patient');
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.path, last.status, last.body?.error]).toEqual(['/aauth/person/auth-token', 502, 'as_unreachable']);
  });

  it.each([
    ['scope', /beyond the resource token's scope/],
    ['cnf', /not bound \(cnf\.jwk\) to the agent's key/],
  ] as const)('an access server answering a token with a wrong %s: refused by the PS, 502 as_unreachable', async (tamper, why) => {
    const site = await startSite(fakes[tamper]);
    const flow = agent11(`fooled-${tamper}`);
    await flow.agent.fetch(`${site}/data`).catch(() => undefined);
    const last = flow.seen.at(-1)!;
    expect([last.path, last.status, last.body?.error]).toEqual(['/aauth/person/auth-token', 502, 'as_unreachable']);
    expect(String(last.body!.detail)).toMatch(why);
    expect(last.body!.auth_token).toBeUndefined();
  });
});

describe('call chaining through four-party (AS-14)', () => {
  it('backend -> SCA (three-party auth token) -> SCA as intermediary -> MAA behind the access server: the AS verifies upstream_token and issues', async () => {
    const maa = await startSite(as);
    // SCA: a three-party resource that is its own agent provider and calls MAA with the token it was called with.
    const scaApp = express();
    const scaListening = await listen(scaApp);
    open.push(scaListening);
    const sca = scaListening.origin;
    const scaProvider = createAgentProvider({ issuer: sca, key: generateKey({ kid: 'sca-ap' }), allowLoopback: true });
    scaApp.use(scaProvider.wellKnown() as express.RequestHandler);
    const scaResource = createResource({ identity: sca, key: resourceKey, generations: ['draft-11'], scopes: { 'data.read': 'Read market data' }, draft11: { allowLoopback: true, personServers: [ps] } });
    scaApp.use(scaResource.wellKnown());
    const scaSeen: Array<[string, number]> = [];
    const scaAgent = createAgent({
      key: generateKey({ kid: 'sca-key' }),
      draft11: { provider: scaProvider, local: 'sca', ps, allowLoopback: true },
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        const url = new URL(input instanceof Request ? input.url : String(input));
        if (url.origin === ps && url.pathname.startsWith('/aauth/person/')) scaSeen.push([url.pathname, res.status]);
        return res;
      },
      sleep: async () => undefined,
    });
    scaApp.get('/chain', scaResource.require({ scope: 'data.read' }), async (req, res) => {
      const down = await scaAgent.fetch(`${maa}/data`, { upstreamToken: req.aauth!.token!.raw });
      res.status(down.status).json({ sca: req.aauth, maa: await down.json() });
    });

    const backend = agent11('backend');
    const issuedBefore = asAuth.audit.filter((e) => e.type === 'token.issued').length;
    const res = await backend.agent.fetch(`${sca}/chain`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { sca: Record<string, unknown>; maa: Record<string, unknown> };
    expect(body.sca).toMatchObject({ generation: 'draft-11', ps, scope: ['data.read'] });
    expect(body.maa).toMatchObject({ generation: 'draft-11', ps, scope: ['data.read'] });
    expect(body.maa.sub).not.toBe(body.sca.sub);
    // SCA's chained person token and auth token, at once; the auth token came from the access server.
    expect(scaSeen).toEqual([
      ['/aauth/person/person-token', 200],
      ['/aauth/person/auth-token', 200],
    ]);
    const issued = asAuth.audit.filter((e) => e.type === 'token.issued').slice(issuedBefore);
    expect(issued).toHaveLength(1);
    expect(issued[0]).toMatchObject({ agent: `aauth:sca@${new URL(sca).host}`, resource: maa, scope: 'data.read' });
  });
});
