import type { RequestListener } from 'node:http';
import { join } from 'node:path';
import { createAuthServer, type AuditEvent, type AuthServer } from '@aauth-kit/auth-server';
import { decodeToken, generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, testRealm } from '../../test/fixtures/auth-server.js';
import { freePort } from '../../test/fixtures/http.js';
import { createLocalTls, listenHttps, loopbackFetch, pythonTlsEnv, type ListeningTls, type LocalTls, type LoopbackFetch } from '../fixtures/local-tls.js';
import { repoRoot, venvPython } from '../fixtures/paths.js';
import { startPeer, type PeerProcess } from '../fixtures/peer-process.js';

// Issue 16 acceptance: "the Python `aauth` 0.5.x agent obtains tokens from the kit's person server
// for a kit resource". The agent is aauth 0.5.0 from PyPI, driven by ./aauth_agent.py (its own
// agent provider, its signer, request_person_token and exchange_resource_token); the person server
// is the embedded auth server's -11 person server; the resource is @aauth-kit/express (-11 only).
// aauth insists on `https://host` identifiers without a port, so every server has a *.localhost
// name over the local TLS of ../fixtures/local-tls.ts (each name mapped to a loopback port).

const PS_NAME = 'kit-ps.localhost';
const RESOURCE_NAME = 'kit-res.localhost';
const AGENT_NAME = 'py-agent.localhost';
const HOOK_NAME = 'hook.localhost';
const PS = `https://${PS_NAME}`;
const RESOURCE = `https://${RESOURCE_NAME}`;
const AGENT_ID = 'aauth:py@py-agent.localhost';

interface Answer {
  status: number;
  headers: Record<string, string>;
  json: Record<string, unknown> | null;
}
interface FlowResult {
  steps: {
    challenge?: Answer;
    person_token?: { token: string };
    person_call?: Answer;
    auth_challenge?: Answer & { resource_token: string | null };
    auth_token?: { token: string };
    auth_call?: Answer;
    auth_token_again?: { refused: { type: string; error: string; code?: string | null } | null };
    failed?: { step: string; type: string; error: string; code?: string | null };
  };
  interactions: Array<{ url: string; code: string }>;
}

let tls: LocalTls | undefined;
let tlsFetch: LoopbackFetch;
let authServer: AuthServer;
let agentPeer: PeerProcess | undefined;
const servers: ListeningTls[] = [];
const audit: AuditEvent[] = [];
/** What the kit resource answered, in order: path, status, AAuth-Requirement. */
const answers: Array<{ path: string; status: number; requirement: string | undefined }> = [];
/** What the kit resource saw of each admitted call, by path. */
const seen = new Map<string, Record<string, unknown>>();
const refused = new Map<string, string>();
/** The consents the test gave on the kit's page: the interaction URL and code aauth handed it, and the page's answer. */
const consents: Array<{ url: string; code: string; status: number }> = [];

beforeAll(async () => {
  const hosts: Record<string, number> = {};
  for (const name of [PS_NAME, RESOURCE_NAME, AGENT_NAME, HOOK_NAME]) hosts[name] = await freePort();
  tls = createLocalTls(Object.keys(hosts));
  tlsFetch = loopbackFetch(hosts, tls.ca);

  // The embedded auth server: its -11 person server at https://kit-ps.localhost (a -11 server
  // identifier as it is: https, no port). The loopback relaxation lets its discovery reach the
  // *.localhost names; the test realm: data.read needs no consent, person tokens do.
  authServer = createAuthServer({
    realm: testRealm(),
    baseUrl: PS,
    fetch: tlsFetch as typeof fetch,
    draft11: { allowLoopback: true },
    onAudit: (e) => audit.push(e),
    onWarning: () => undefined,
  });
  expect(authServer.personServer).toBe(PS);
  const psApp = express();
  psApp.use(authServer.router());
  servers.push(await listenHttps(psApp as unknown as RequestListener, tls, hosts[PS_NAME]));

  // A kit resource (-11 only) trusting the kit's person server: a person route and an auth-token route.
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
  app.use((req, res, next) => {
    res.on('finish', () => answers.push({ path: req.path, status: res.statusCode, requirement: res.getHeader('aauth-requirement') as string | undefined }));
    next();
  });
  app.use(resource.wellKnown());
  const record = (req: Request, res: Response) => {
    seen.set(req.path, req.aauth as unknown as Record<string, unknown>);
    res.json(req.aauth);
  };
  app.get('/me', resource.require({ level: 'person' }), record);
  app.get('/data', resource.require({ scope: 'data.read' }), record);
  servers.push(await listenHttps(app as unknown as RequestListener, tls, hosts[RESOURCE_NAME]));

  // The person, for the Python agent's 202: sign in as mcp-user on the kit's consent page and approve.
  const hook = express();
  hook.post('/interaction', express.json(), async (req, res) => {
    const { url, code } = req.body as { url: string; code: string };
    // decideOverHttp fetches with the global fetch: point it at the loopback names for the while.
    const global = globalThis.fetch;
    globalThis.fetch = tlsFetch as typeof fetch;
    try {
      const page = await decideOverHttp(url.split('?')[0]!, code, 'approve');
      consents.push({ url, code, status: page.status });
      res.status(page.status === 200 ? 204 : 502).end();
    } catch (error) {
      consents.push({ url, code, status: 0 });
      res.status(502).json({ error: String(error) });
    } finally {
      globalThis.fetch = global;
    }
  });
  servers.push(await listenHttps(hook as unknown as RequestListener, tls, hosts[HOOK_NAME]));

  agentPeer = await startPeer({
    name: 'draft11-ps-aauth-agent',
    command: venvPython('draft-peers'),
    args: ['aauth_agent.py'],
    cwd: join(repoRoot, 'interop', 'draft11-ps'),
    env: { ...pythonTlsEnv(tls, hosts), AAUTH_KIT_PS: PS, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    readyUrl: `https://${AGENT_NAME}/.well-known/aauth-agent.json`,
    fetch: tlsFetch,
    timeoutMs: 30_000,
  });
});

afterAll(async () => {
  await agentPeer?.stop();
  await Promise.all(servers.map((s) => s.close()));
  tls?.cleanup();
});

describe("the aauth 0.5.0 agent with the kit's person server and a kit resource", () => {
  let result: FlowResult;
  let agentJkt: string;

  beforeAll(async () => {
    agentJkt = ((await (await tlsFetch(`https://${AGENT_NAME}/_test/agent`)).json()) as { jkt: string }).jkt;
    const res = await tlsFetch(`https://${AGENT_NAME}/_test/flow`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: RESOURCE, person_path: '/me', auth_path: '/data' }),
    });
    expect(res.status).toBe(200);
    result = (await res.json()) as FlowResult;
  });

  it('runs every step without a refusal on either side', () => {
    expect(result.steps.failed).toBeUndefined();
    expect([...refused]).toEqual([]);
  });

  it('the kit resource challenges the agent token: 401 requirement=person-token', () => {
    expect(result.steps.challenge!.status).toBe(401);
    expect(result.steps.challenge!.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(result.steps.challenge!.headers['signature-error']).toBeUndefined();
  });

  it('request_person_token: the kit person server asks the person (202 interaction), aauth polls and gets the person token', () => {
    // aauth handed the interaction to its callback as {interaction_endpoint}?code=...; the test consented on the page.
    expect(result.interactions).toHaveLength(1);
    const { url, code } = result.interactions[0]!;
    expect(code).toMatch(/^[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}-?[0-9ABCDEFGHJKMNPQRSTVWXYZ]{4}$/);
    expect(url).toBe(`${authServer.issuer}/protocol/aauth/interact?code=${encodeURIComponent(code)}`);
    expect(consents).toEqual([{ url, code, status: 200 }]);
    const granted = audit.filter((e) => e.type === 'consent.granted');
    expect(granted).toHaveLength(1);
    expect(granted[0]).toMatchObject({ agent: AGENT_ID, username: 'mcp-user', resource: RESOURCE });

    const { header, claims } = decodeToken(result.steps.person_token!.token);
    expect(header).toMatchObject({ typ: 'aa-person+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RESOURCE, cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' } } });
    expect(claims.scope).toBeUndefined();
    expect(String(claims.sub)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Number(claims.exp) - Number(claims.iat)).toBeLessThanOrEqual(3600);
  });

  it('the person token presented by the aauth agent: the kit resource answers 200 with the person (iss, directed sub) and the agent', () => {
    const call = result.steps.person_call!;
    expect(call.status).toBe(200);
    const { claims } = decodeToken(result.steps.person_token!.token);
    expect(call.json).toMatchObject({
      generation: 'draft-11',
      scheme: 'jwt',
      accessMode: 'person-token',
      ps: PS,
      sub: claims.sub,
      person: { issuer: PS, sub: claims.sub },
      thumbprint: agentJkt,
      token: { kind: 'person', issuer: PS },
    });
    expect(answers.filter((a) => a.path === '/me').map((a) => [a.status, a.requirement])).toEqual([[401, 'requirement=person-token'], [200, undefined]]);
  });

  it('the auth-token route challenges the person token with a resource token for the kit person server', () => {
    const call = result.steps.auth_challenge!;
    expect(call.status).toBe(401);
    expect(call.headers['aauth-requirement']).toMatch(/^requirement=auth-token; resource-token="[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"$/);
    const person = decodeToken(result.steps.person_token!.token).claims;
    const { header, claims } = decodeToken(call.resource_token!);
    expect(header).toMatchObject({ typ: 'aa-resource+jwt' });
    expect(claims).toMatchObject({ iss: RESOURCE, dwk: 'aauth-resource.json', aud: PS, ps: PS, sub: person.sub, presented_jti: person.jti, agent_jkt: agentJkt, scope: 'data.read' });
  });

  it('exchange_resource_token: the kit person server issues an auth token that aauth accepts, and the kit resource answers 200', () => {
    const person = decodeToken(result.steps.person_token!.token).claims;
    const { header, claims } = decodeToken(result.steps.auth_token!.token);
    expect(header).toMatchObject({ typ: 'aa-auth+jwt', alg: 'Ed25519' });
    expect(claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: RESOURCE, ps: PS, sub: person.sub, scope: 'data.read', cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' } } });
    expect(claims.agent).toBeUndefined();
    expect(claims.act).toBeUndefined();
    // Never outlives the person token it was issued on (nor the agent token).
    expect(Number(claims.exp)).toBeLessThanOrEqual(Number(person.exp));

    const call = result.steps.auth_call!;
    expect(call.status).toBe(200);
    expect(call.json).toMatchObject({ generation: 'draft-11', scheme: 'jwt', ps: PS, sub: person.sub, thumbprint: agentJkt, token: { kind: 'auth', issuer: PS }, scope: ['data.read'] });
    expect(answers.filter((a) => a.path === '/data').map((a) => [a.status, a.requirement?.split(';')[0]])).toEqual([[401, 'requirement=auth-token'], [200, undefined]]);
    expect(audit.filter((e) => e.type === 'token.issued').map((e) => (e as { resource?: string }).resource)).toEqual([RESOURCE, RESOURCE]);
  });

  it('the same resource token exchanged again: the kit person server refuses it (single use), aauth raises its code', () => {
    expect(result.steps.auth_token_again!.refused).toEqual({ type: 'TokenError', error: 'resource_token was already redeemed; ask the resource for a new one', code: 'invalid_resource_token' });
    const refusals = audit.filter((e) => e.type === 'request.refused');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({ agent: AGENT_ID });
  });
});
