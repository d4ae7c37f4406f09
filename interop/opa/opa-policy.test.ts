import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createAgent, createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { createOpaPolicy, type PolicyInput } from '@aauth-kit/auth-server';
import { AAuthError, generateKey, isAAuthError } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, startAuthServer, testRealm, type TestAuthServer } from '../../test/fixtures/auth-server.js';
import { hostedAgent, type HostedAgent } from '../../test/fixtures/hosted-agent.js';
import { freePort, listen } from '../../test/fixtures/http.js';
import { cacheDir, pinned, repoRoot } from '../fixtures/paths.js';
import { startPeer, type PeerProcess } from '../fixtures/peer-process.js';

// Issue 17: the auth server's issuance policy asked of a real Open Policy Agent (OPA_VERSION of
// versions.env, built from the Go module proxy by interop/opa/install-opa.sh) over its REST Data
// API, with ./issuance.rego loaded: "no write scopes on closed days" (Friday unless the test puts
// other days in data.aauth_config). The kit's agents of both generations meet it end to end.

const opaBinary = join(cacheDir, `opa-${pinned.OPA_VERSION}`, 'opa');
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const weekday = (epochSeconds: number): string => DAYS[new Date(epochSeconds * 1000).getUTCDay()]!;
const now = () => Math.floor(Date.now() / 1000);
/** Today and tomorrow (UTC): the rule bites whatever day the test runs, even across midnight. */
const closedNow = (): string[] => [weekday(now()), weekday(now() + 86_400)];
const REASON = new RegExp(`writes \\(crm:write\\) are not issued on (${DAYS.join('|')})s`);

const open: Array<{ close(): Promise<void> }> = [];
let opa: PeerProcess | undefined;
let opaUrl: string;
let auth: TestAuthServer;
let site: string;
let provider: AgentProvider;

async function putClosedDays(days: string[]): Promise<void> {
  const res = await fetch(`${opaUrl}/v1/data/aauth_config`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ closed_days: days }) });
  expect(res.status).toBe(204);
}

async function refusal(promise: Promise<unknown>): Promise<AAuthError> {
  try {
    await promise;
  } catch (error) {
    if (isAAuthError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

const input = (time: number, scopes: string[]): PolicyInput => ({
  realm: 'aauth-test',
  generation: 'keycloak',
  endpoint: 'aauth-token',
  operation: 'auth',
  stage: 'request',
  agent: 'http://127.0.0.1:1',
  chain: [],
  scopes,
  time,
});

beforeAll(async () => {
  if (!existsSync(opaBinary)) throw new Error(`${opaBinary} is missing: run bash interop/setup.sh (npm run test:interop does)`);
  const port = await freePort();
  opaUrl = `http://127.0.0.1:${port}`;
  opa = await startPeer({
    name: 'opa',
    command: opaBinary,
    args: ['run', '--server', '--addr', `127.0.0.1:${port}`, '--disable-telemetry', '--log-level', 'error', join(repoRoot, 'interop', 'opa', 'issuance.rego')],
    readyUrl: `${opaUrl}/health`,
    readyStatus: (status) => status === 200,
    timeoutMs: 30_000,
  });

  auth = await startAuthServer({
    realm: testRealm({ 'aauth.allowed.scopes': JSON.stringify(['crm:read', 'crm:write']) }),
    draft11: { allowLoopback: true },
    policy: createOpaPolicy({ url: opaUrl, path: 'aauth/issuance/decision', timeoutMs: 2000 }),
  });
  open.push(auth);
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'opa-shop' }),
    authServer: auth.issuer,
    generations: ['keycloak', 'draft-11'],
    draft11: { allowLoopback: true, personServers: [auth.server.personServer!] },
  });
  const answer = (req: Request, res: Response) => res.json({ scope: req.aauth!.scope, generation: req.aauth!.generation });
  app.use(resource.wellKnown());
  app.get('/contacts', resource.require({ scope: 'crm:read' }), answer);
  app.post('/contacts', resource.require({ scope: 'crm:write' }), answer);
  site = listening.origin;

  const providerApp = express();
  const providerListening = await listen(providerApp);
  open.push(providerListening);
  provider = createAgentProvider({ issuer: providerListening.origin, key: generateKey({ kid: 'ap-opa' }), allowLoopback: true });
  providerApp.use(provider.wellKnown());
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await opa?.stop();
});

describe('createOpaPolicy against a real OPA with issuance.rego', () => {
  const friday = Date.UTC(2026, 10, 27, 12) / 1000; // Friday 27 November 2026, 12:00 UTC
  const monday = Date.UTC(2026, 10, 30, 12) / 1000;

  it('answers the Rego decision: deny with a reason, narrow, allow', async () => {
    const policy = createOpaPolicy({ url: opaUrl, path: 'aauth/issuance/decision' });
    await putClosedDays(['Friday']);
    expect(await policy(input(friday, ['crm:write']))).toEqual({ allow: false, reason: 'writes (crm:write) are not issued on Fridays' });
    expect(await policy(input(friday, ['crm:read', 'crm:write']))).toEqual({ allow: true, scopes: ['crm:read'] });
    expect(await policy(input(monday, ['crm:write']))).toEqual({ allow: true });
  });

  it('a path with no decision (no such rule) is 503 policy_unavailable, never an allow', async () => {
    const policy = createOpaPolicy({ url: opaUrl, path: 'aauth/issuance/no_such_rule' });
    const error = await refusal(Promise.resolve(policy(input(monday, ['crm:read']))));
    expect(error).toMatchObject({ code: 'policy_unavailable', status: 503, message: 'OPA has no decision at this path (is the policy loaded?)' });
  });
});

describe('the auth server asking OPA before it issues', () => {
  let hosted: HostedAgent;
  beforeAll(async () => {
    hosted = await hostedAgent({ authServer: auth.issuer });
    open.push(hosted);
  });

  it('Keycloak profile: a write on a closed day is refused with the Rego reason, in the agent error and the audit; a read passes', async () => {
    await putClosedDays(closedNow());
    const error = await refusal(hosted.agent.fetch(`${site}/contacts`, { method: 'POST' }));
    expect(error.details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(error.message).toMatch(REASON);
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', endpoint: 'token', agent: hosted.identity, resource: site, code: 'policy_denied' });
    expect(auth.audit.at(-1)!.reason).toMatch(REASON);
    const read = await hosted.agent.fetch(`${site}/contacts`);
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ scope: ['crm:read'], generation: 'keycloak' });
  });

  it('-11: the person server refuses the write with the Rego reason (problem+json detail), and issues it once the days are open', async () => {
    await putClosedDays(closedNow());
    const agent = createAgent({
      key: generateKey({ kid: 'opa-agent' }),
      draft11: { provider, local: 'opa', ps: auth.server.personServer!, allowLoopback: true },
      sleep: async () => undefined,
      onInteraction: async ({ url }) => {
        expect((await decideOverHttp(auth.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve')).status).toBe(200);
      },
    });
    const error = await refusal(agent.fetch(`${site}/contacts`, { method: 'POST' }));
    expect(error.details).toMatchObject({ status: 403, error: 'access_denied' });
    expect(String(error.details?.detail)).toMatch(REASON);
    expect(auth.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'policy_denied' });
    await putClosedDays([]);
    const write = await agent.fetch(`${site}/contacts`, { method: 'POST' });
    expect(write.status).toBe(200);
    expect(await write.json()).toEqual({ scope: ['crm:write'], generation: 'draft-11' });
  });

  it('OPA down: 503 policy_unavailable with Retry-After, nothing issued', async () => {
    await opa!.stop();
    opa = undefined;
    // A new agent: the first one holds a cached read token.
    const fresh = await hostedAgent({ authServer: auth.issuer });
    open.push(fresh);
    const before = auth.audit.length;
    const error = await refusal(fresh.agent.fetch(`${site}/contacts`));
    expect(error.details).toMatchObject({ status: 503, error: 'server_error' });
    const refused = auth.audit.slice(before).find((e) => e.type === 'request.refused')!;
    expect(refused).toMatchObject({ code: 'policy_unavailable', status: 503, reason: `OPA could not be reached at ${opaUrl}` });
    expect(auth.audit.slice(before).some((e) => e.type === 'token.issued')).toBe(false);
  });
});
