import type { RequestListener } from 'node:http';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { type Agent, createAgent, createAgentProvider } from '@aauth-kit/agent';
import { decodeToken, generateKey, isAAuthError } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../test/fixtures/http.js';
import { createLocalTls, listenHttps, loopbackFetch, pythonTlsEnv, type ListeningTls, type LocalTls, type LoopbackFetch } from '../fixtures/local-tls.js';
import { repoRoot, venvPython } from '../fixtures/paths.js';
import { startPeer, type PeerProcess } from '../fixtures/peer-process.js';

// Issue 16 acceptance, second half of "introspection-aauth's person server issues person and auth
// tokens that the kit's agent obtains and a kit resource accepts". introspection-aauth 0.1.0 issues
// an auth token only within a mission (../draft11-agent: "an auth token is issued only within a
// mission"). Here the kit agent (its key, its agent token, its signer: agent.agentToken() and
// agent.buildSignedRequest()) proposes a mission, the person approves it (./introspection_missions.py
// stands in for the host's approval UI), and the mission's person token, which carries
// `mission_s256`, opens the way: the kit resource copies `mission_s256` into its resource token,
// introspection-aauth issues the auth token, the kit resource accepts it, and agent.fetch presents it.
// Then the kit agent does it by itself: agent.fetch(url, { missionS256 }) asks for the mission's
// person token (`mission_s256` in the person token request) and the auth token, nothing signed by hand;
// and agent.proposeMission() proposes a second mission at the mission_endpoint by itself.

const PS = 'https://ps.localhost';
const PROVIDER = 'kit-agent.localhost';
const RESOURCE = 'https://kit-res.localhost';

let tls: LocalTls | undefined;
let tlsFetch: LoopbackFetch;
let peer: PeerProcess | undefined;
const servers: ListeningTls[] = [];
let agent: Agent;
/** What the kit agent sent to and got from the person server (request body, status, answer body). */
const exchanges: Array<{ url: string; sent: Record<string, unknown> | undefined; status: number; answer: Record<string, unknown> | undefined }> = [];
const seen = new Map<string, Record<string, unknown>>();
const refused = new Map<string, string>();

interface Sent {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  components: string[];
}

/** Send a request signed by the kit agent under sig=jwt with `token` (its agent token unless told). */
async function signed(method: string, url: string, token: string, json?: unknown): Promise<Sent> {
  const body = json === undefined ? undefined : JSON.stringify(json);
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  // -11 "Covered Components": a body to a person server is covered by content-type and content-digest.
  const s = agent.buildSignedRequest({ method, url, headers, body }, { scheme: 'jwt', authToken: token, ...(body ? { additionalComponents: ['content-type'] } : {}) });
  const res = await tlsFetch(url, { method, headers: s.headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, components: s.components };
}

beforeAll(async () => {
  const hosts: Record<string, number> = {};
  for (const name of ['ps.localhost', PROVIDER, 'kit-res.localhost']) hosts[name] = await freePort();
  tls = createLocalTls(Object.keys(hosts));
  tlsFetch = loopbackFetch(hosts, tls.ca);

  const provider = createAgentProvider({ issuer: `https://${PROVIDER}`, key: generateKey({ kid: 'kit-ap-1' }), metadata: { name: 'kit interop agent' } });
  servers.push(await listenHttps(provider.wellKnown() as unknown as RequestListener, tls, hosts[PROVIDER]));

  const resource = createResource({
    identity: RESOURCE,
    key: generateKey({ kid: 'kit-res-1' }),
    scopes: { 'data.read': 'Read data' },
    fetch: tlsFetch as typeof fetch,
    generations: ['draft-11'],
    draft11: { personServers: [PS], allowLoopback: true },
    onError: (error, req) => refused.set(req.path, error.code),
  });
  const app = express();
  app.use(resource.wellKnown());
  const record = (req: Request, res: Response) => {
    seen.set(req.path, req.aauth as unknown as Record<string, unknown>);
    res.json(req.aauth);
  };
  app.get('/me', resource.require({ level: 'person' }), record);
  app.get('/data', resource.require({ scope: 'data.read' }), record);
  servers.push(await listenHttps(app as unknown as RequestListener, tls, hosts['kit-res.localhost']));

  peer = await startPeer({
    name: 'draft11-ps-introspection-missions',
    command: venvPython('draft-peers'),
    args: ['introspection_missions.py'],
    cwd: join(repoRoot, 'interop', 'draft11-ps'),
    env: { ...pythonTlsEnv(tls, hosts), AAUTH_EXTRA_AGENT_PROVIDERS: JSON.stringify([`https://${PROVIDER}`]), PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    readyUrl: `${PS}/.well-known/aauth-person.json`,
    fetch: tlsFetch,
    timeoutMs: 30_000,
  });

  // The agent's transport, recording its exchanges with the person server (token values stay in the test).
  const recording = async (input: Parameters<typeof fetch>[0], init?: RequestInit): Promise<globalThis.Response> => {
    const res = await tlsFetch(input as string, init);
    const url = String(input instanceof globalThis.Request ? input.url : input);
    if (url.startsWith(`${PS}/aauth/`)) {
      const sent = typeof init?.body === 'string' || init?.body instanceof Uint8Array ? (JSON.parse(Buffer.from(init.body).toString('utf8')) as Record<string, unknown>) : undefined;
      const text = await res.clone().text();
      exchanges.push({ url, sent, status: res.status, answer: text ? (JSON.parse(text) as Record<string, unknown>) : undefined });
    }
    return res;
  };
  agent = createAgent({
    key: generateKey({ kid: 'kit-agent-1' }),
    fetch: recording as typeof fetch,
    // No signatureKeyForm: a -11 agent's buildSignedRequest signs in -09's dictionary form
    // (`sig=jwt;jwt="..."`), which -11 peers read (the parenthesised form is the Keycloak profile's).
    draft11: { provider, local: 'interop', ps: PS, hints: { loginHint: 'alice', tenant: 'smoke' } },
  });
});

afterAll(async () => {
  await peer?.stop();
  await Promise.all(servers.map((s) => s.close()));
  tls?.cleanup();
});

describe('introspection-aauth 0.1.0: a mission, then person and auth tokens a kit resource accepts', () => {
  let agentToken: string;
  let mission: { s256: string; mission: string; person_tokens: Record<string, string> };
  let personToken: string;
  let resourceToken: string;
  let authToken: string;

  it('without a mission, the kit agent\'s own flow is refused at the auth token (403 access_denied)', async () => {
    const error = await agent.fetch(`${RESOURCE}/data`).catch((e: unknown) => e);
    expect(isAAuthError(error)).toBe(true);
    expect((error as { details: unknown }).details).toEqual({ status: 403, error: 'access_denied', detail: 'an auth token is issued only within a mission' });
  });

  it('the kit agent proposes a mission (signed POST /aauth/mission): 202, put to the person', async () => {
    agentToken = await agent.agentToken();
    const proposed = await signed('POST', `${PS}/aauth/mission`, agentToken, { description: 'Read the market data', resources: [RESOURCE], login_hint: 'alice', tenant: 'smoke' });
    expect(proposed.components).toEqual(expect.arrayContaining(['content-type', 'content-digest']));
    expect(proposed.status).toBe(202);
    expect(proposed.json).toMatchObject({ status: 'pending' });
    const location = proposed.headers.get('location')!;
    expect(location).toMatch(/^https:\/\/ps\.localhost\/aauth\/pending\/smoke\/[A-Za-z0-9_-]+$/);

    const approvals = (await (await tlsFetch(`${PS}/_test/approvals`)).json()) as Array<Record<string, unknown>>;
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({ tenant: 'smoke', kind: 'mission', agent_id: `aauth:interop@${PROVIDER}`, description: 'Read the market data', grant: { resources: [RESOURCE] } });
    expect(location.endsWith(`/${String(approvals[0]!.id)}`)).toBe(true);
    // Still pending: the agent's poll says so.
    const waiting = await signed('GET', location, agentToken);
    expect(waiting.status).toBe(202);

    const decided = await tlsFetch(`${PS}/_test/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'smoke', id: approvals[0]!.id, status: 'approved' }) });
    expect(decided.status).toBe(200);
    const poll = await signed('GET', location, agentToken);
    expect(poll.status).toBe(200);
    mission = poll.json as typeof mission;
    // The mission's bytes (base64url) hash to its s256; it names the agent and the resource.
    const bytes = Buffer.from(mission.mission, 'base64url');
    expect(mission.s256).toBe(createHash('sha256').update(bytes).digest('base64url'));
    expect(JSON.parse(bytes.toString('utf8'))).toMatchObject({ agent: `aauth:interop@${PROVIDER}`, description: 'Read the market data', approved_resources: [RESOURCE] });
    expect(Object.keys(mission.person_tokens)).toEqual([RESOURCE]);
    // A terminal answer consumes the pending URL.
    expect((await signed('GET', location, agentToken)).status).toBe(410);
  });

  it("the mission's person token: mission_s256 and tenant, bound to the kit agent's key; a person token asked with mission_s256 is the same kind", async () => {
    personToken = mission.person_tokens[RESOURCE]!;
    const { header, claims } = decodeToken(personToken);
    expect(header).toMatchObject({ typ: 'aa-person+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RESOURCE, tenant: 'smoke', mission_s256: mission.s256, cnf: { jwk: { x: agent.key.jwk.x, alg: 'Ed25519' } } });

    // The same through the person token endpoint: what the kit agent's flow would send with a mission option.
    const asked = await signed('POST', `${PS}/aauth/person-token`, agentToken, { resource: RESOURCE, mission_s256: mission.s256, tenant: 'smoke' });
    expect(asked.status).toBe(200);
    expect(decodeToken(String(asked.json.person_token)).claims).toMatchObject({ aud: RESOURCE, sub: claims.sub, mission_s256: mission.s256, tenant: 'smoke' });
    // Another hash is no mission of this agent's.
    const unknown = await signed('POST', `${PS}/aauth/person-token`, agentToken, { resource: RESOURCE, mission_s256: 'A'.repeat(43), tenant: 'smoke' });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: 'mission_not_found' });
  });

  it('the kit resource copies mission_s256 and tenant from the person token into its resource token', async () => {
    const me = await signed('GET', `${RESOURCE}/me`, personToken);
    expect(me.status).toBe(200);
    expect(me.json).toMatchObject({ generation: 'draft-11', accessMode: 'person-token', ps: PS, sub: decodeToken(personToken).claims.sub });

    const challenged = await signed('GET', `${RESOURCE}/data`, personToken);
    expect(challenged.status).toBe(401);
    const requirement = challenged.headers.get('aauth-requirement')!;
    expect(requirement).toMatch(/^requirement=auth-token; resource-token="[^"]+"$/);
    resourceToken = /resource-token="([^"]+)"/.exec(requirement)![1]!;
    const person = decodeToken(personToken).claims;
    expect(decodeToken(resourceToken).claims).toMatchObject({ iss: RESOURCE, aud: PS, ps: PS, sub: person.sub, presented_jti: person.jti, agent_jkt: agent.key.thumbprint, scope: 'data.read', tenant: 'smoke', mission_s256: mission.s256 });
  });

  it('introspection-aauth issues the auth token within the mission (three-party, dwk aauth-person.json)', async () => {
    const issued = await signed('POST', `${PS}/aauth/token`, agentToken, { resource_token: resourceToken, presented_token: personToken, tenant: 'smoke' });
    expect(issued.status).toBe(200);
    authToken = String(issued.json.auth_token);
    const { header, claims } = decodeToken(authToken);
    expect(header).toMatchObject({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    const person = decodeToken(personToken).claims;
    expect(claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RESOURCE, ps: PS, sub: person.sub, scope: 'data.read', tenant: 'smoke', mission_s256: mission.s256, cnf: { jwk: { x: agent.key.jwk.x } } });
    expect(claims.agent).toBeUndefined();
    expect(claims.act).toBeUndefined();
  });

  it('the kit resource accepts it: signed by hand, and presented by agent.fetch (authToken)', async () => {
    const byHand = await signed('GET', `${RESOURCE}/data`, authToken);
    expect(refused.get('/data')).toBeUndefined();
    expect(byHand.status).toBe(200);
    const person = decodeToken(personToken).claims;
    expect(byHand.json).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps: PS, sub: person.sub, token: { kind: 'auth', issuer: PS }, scope: ['data.read'], thumbprint: agent.key.thumbprint });

    const viaAgent = await agent.fetch(`${RESOURCE}/data`, { authToken });
    expect(viaAgent.status).toBe(200);
    expect(await viaAgent.json()).toMatchObject({ sub: person.sub, token: { kind: 'auth', issuer: PS } });
  });

  it("the kit agent by itself: agent.fetch(url, { missionS256 }) gets the mission's person token and introspection-aauth's auth token", async () => {
    const before = exchanges.length;
    const res = await agent.fetch(`${RESOURCE}/data`, { missionS256: mission.s256 });
    expect(refused.get('/data')).toBeUndefined();
    expect(res.status).toBe(200);
    const person = decodeToken(personToken).claims;
    // The same person (directed sub for this resource), through an auth token of the person server.
    expect(await res.json()).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps: PS, sub: person.sub, token: { kind: 'auth', issuer: PS }, scope: ['data.read'], thumbprint: agent.key.thumbprint });

    const [asked, issued, ...rest] = exchanges.slice(before);
    expect(rest).toEqual([]);
    // -11 "Person Token Endpoint": the request names the mission; the person token carries it.
    expect(asked).toMatchObject({ url: `${PS}/aauth/person-token`, status: 200, sent: { resource: RESOURCE, mission_s256: mission.s256, tenant: 'smoke', login_hint: 'alice' } });
    expect(decodeToken(String(asked!.answer!.person_token)).claims).toMatchObject({ aud: RESOURCE, sub: person.sub, mission_s256: mission.s256, tenant: 'smoke' });
    // The kit resource copied the mission into its resource token; the auth token carries it (the agent checked both).
    expect(issued).toMatchObject({ url: `${PS}/aauth/token`, status: 200 });
    expect(decodeToken(String(issued!.sent!.resource_token)).claims).toMatchObject({ iss: RESOURCE, aud: PS, mission_s256: mission.s256, tenant: 'smoke', scope: 'data.read' });
    expect(issued!.sent!.presented_token).toBe(asked!.answer!.person_token);
    expect(decodeToken(String(issued!.answer!.auth_token)).claims).toMatchObject({ iss: PS, aud: RESOURCE, sub: person.sub, mission_s256: mission.s256, tenant: 'smoke', scope: 'data.read' });

    // Held per (resource, mission): the next call in the mission presents the auth token, asking nothing.
    expect((await agent.fetch(`${RESOURCE}/data`, { missionS256: mission.s256 })).status).toBe(200);
    expect(exchanges.length).toBe(before + 2);
  });

  it("agent.proposeMission: the kit agent proposes a mission at introspection-aauth's mission_endpoint, the person approves, the approval's person token opens the resource", async () => {
    const proposing = agent.proposeMission({ description: 'Check the stock levels', resources: [RESOURCE] });
    // The person approves it at the host's approval UI (the test): wait until the approval is raised.
    let raised: Record<string, unknown> | undefined;
    for (let i = 0; i < 200 && raised === undefined; i++) {
      const approvals = (await (await tlsFetch(`${PS}/_test/approvals`)).json()) as Array<Record<string, unknown>>;
      raised = approvals.find((a) => a.description === 'Check the stock levels');
      if (raised === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(raised).toMatchObject({ tenant: 'smoke', kind: 'mission', agent_id: `aauth:interop@${PROVIDER}`, grant: { resources: [RESOURCE] } });
    const decided = await tlsFetch(`${PS}/_test/decide`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tenant: 'smoke', id: raised!.id, status: 'approved' }) });
    expect(decided.status).toBe(200);
    const approved = await proposing;
    // The agent checked s256 against the blob; the blob names this agent and the approved resource.
    expect(approved.s256).toBe(((await decided.json()) as { mission_s256: string }).mission_s256);
    expect(approved.mission).toMatchObject({ agent: `aauth:interop@${PROVIDER}`, description: 'Check the stock levels', approved_resources: [RESOURCE] });
    expect(approved.personTokens).toEqual([RESOURCE]);
    const proposal = exchanges.find((e) => e.url === `${PS}/aauth/mission` && e.sent?.description === 'Check the stock levels');
    expect(proposal).toMatchObject({ status: 202, sent: { description: 'Check the stock levels', resources: [RESOURCE], login_hint: 'alice', tenant: 'smoke' } });

    // In the mission, the approval's person token is presented: no person token request, one auth token request.
    const before = exchanges.length;
    const res = await agent.fetch(`${RESOURCE}/data`, { missionS256: approved.s256 });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ generation: 'draft-11', ps: PS, token: { kind: 'auth', issuer: PS }, scope: ['data.read'] });
    const after = exchanges.slice(before);
    expect(after.map((e) => [e.url, e.status])).toEqual([[`${PS}/aauth/token`, 200]]);
    expect(decodeToken(String(after[0]!.sent!.presented_token)).claims).toMatchObject({ aud: RESOURCE, mission_s256: approved.s256 });
    expect(decodeToken(String(after[0]!.answer!.auth_token)).claims).toMatchObject({ aud: RESOURCE, mission_s256: approved.s256, tenant: 'smoke' });
  });
});
