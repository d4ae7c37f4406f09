import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgent, createAgentProvider, type Agent } from '@aauth-kit/agent';
import { createFileAuditSink, type AuditEvent, type AuditSink } from '@aauth-kit/auth-server';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, service, startAuthServer, type Service, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';

// Issue 17, the audit trail end to end over loopback HTTP: one embedded auth server (the realm file
// Keycloak imports, both generations) writes every decision to a rotating JSON-lines file; tokens
// are issued in both generations and some requests refused; then the real `aauth audit` command
// answers "what did agent X do for user Y" with exactly those decisions, and the file holds no token.

const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
const realm = JSON.parse(readFileSync(new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const USER = 'mcp-user';
const USER_ID = '6f1c2b7e-3d4a-4e5f-9a8b-0c1d2e3f4a5b';

let dir: string;
let file: string;
let sink: AuditSink;
let as: TestAuthServer;
let backend: Service;
let sca: Service;
let maa: Service;
const open: Array<{ close(): Promise<void> }> = [];
/** Every token a resource accepted, raw. */
const accepted: string[] = [];
/** Every token the -11 agents received from the person server, raw. */
const minted11: string[] = [];
const jtiOf = (jwt: string) => String(decodeJwt(jwt).claims.jti);
const quick = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 50)));

/** Run the real `aauth audit` command on the log. */
function audit(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(process.execPath, [bin, 'audit', '--file', file, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: out.status, stdout: out.stdout, stderr: out.stderr };
}
function auditJson(...args: string[]): AuditEvent[] {
  const out = audit(...args, '--json');
  expect(out.stderr).toBe('');
  expect(out.status).toBe(0);
  return JSON.parse(out.stdout) as AuditEvent[];
}

function keycloakAgent(decision: 'approve' | 'deny'): Agent {
  return createAgent({
    identity: backend.url,
    key: backend.key,
    authServer: as.issuer,
    sleep: quick,
    onInteraction: async (interaction) => {
      await decideOverHttp(as.interactionEndpoint, interaction.code, decision);
    },
  });
}

async function agent11(local: string, decision: 'approve' | 'deny'): Promise<{ agent: Agent; id: string }> {
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: `ap-${local}` }), allowLoopback: true });
  app.use(provider.wellKnown());
  const ps = as.server.personServer!;
  const agent = createAgent({
    key: generateKey({ kid: `agent-${local}` }),
    draft11: { provider, local, ps, allowLoopback: true },
    sleep: async () => undefined,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (String(input instanceof Request ? input.url : input).startsWith(`${ps}/aauth/person/`) && res.status === 200) {
        const body = (await res.clone().json()) as Record<string, string>;
        minted11.push(body.person_token ?? body.auth_token!);
      }
      return res;
    },
    onInteraction: async ({ url }) => {
      await decideOverHttp(as.interactionEndpoint, new URL(url).searchParams.get('code')!, decision);
    },
  });
  return { agent, id: `aauth:${local}@${new URL(listening.origin).host}` };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-audit-trail-'));
  file = join(dir, 'audit.jsonl');
  // Small files: the trail crosses several rotations, and the command reads them all.
  sink = createFileAuditSink({ path: file, maxBytes: 2048, keep: 50, onWarning: (m) => console.warn(m) });
  as = await startAuthServer({ realm, draft11: { allowLoopback: true }, onAudit: (e) => sink.write(e) });
  open.push(as);
  [backend, sca, maa] = await Promise.all([service('backend-1'), service('sca-1'), service('maa-1')]);
  open.push(backend, sca, maa);
  const ps = as.server.personServer!;

  // MAA: both generations; SCA: a Keycloak-profile resource and an agent towards MAA (exchange).
  const maaResource = createResource({
    identity: maa.url,
    key: maa.key,
    authServer: as.issuer,
    generations: ['keycloak', 'draft-11'],
    draft11: { allowLoopback: true, personServers: [ps] },
  });
  maa.app.use(maaResource.wellKnown());
  maa.app.all('/analyze', maaResource.require({ scope: 'market-analysis:analyze' }), (req: Request, res: Response) => {
    accepted.push(req.aauth!.token!.raw);
    res.json({ ok: true });
  });
  const scaResource = createResource({ identity: sca.url, key: sca.key, authServer: as.issuer });
  const scaAgent = createAgent({ identity: sca.url, key: sca.key, authServer: as.issuer });
  sca.app.use(scaResource.wellKnown());
  sca.app.use(scaAgent.wellKnown());
  sca.app.post('/optimize', scaResource.require({ scope: ['supply-chain:optimize', 'market-analysis:analyze'] }), async (req, res) => {
    accepted.push(req.aauth!.token!.raw);
    const downstream = await scaAgent.fetch(`${maa.url}/analyze`, { method: 'POST', upstreamToken: req.aauth!.token!.raw });
    res.status(downstream.status).json(await downstream.json());
  });
  backend.app.use(keycloakAgent('approve').wellKnown());
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  await sink?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the audit trail: both generations, refusals, and aauth audit', () => {
  let keycloakIssued: string;
  let keycloakExchanged: string;
  let agent11Id: string;
  let denied11Id: string;

  it('issues in both generations and refuses some (the requests the trail must answer for)', async () => {
    // Keycloak profile: the backend acts for the user (consent), SCA exchanges towards MAA.
    const ok = await keycloakAgent('approve').fetch(`${sca.url}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(ok.status).toBe(200);
    // SCA accepted the backend's token, then MAA the one SCA exchanged it for.
    expect(accepted).toHaveLength(2);
    keycloakIssued = jtiOf(accepted[0]!);
    keycloakExchanged = jtiOf(accepted[1]!);
    // The same agent again, and the user denies: a refusal.
    const denied = await keycloakAgent('deny')
      .fetch(`${sca.url}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      .then((r) => r.status, (e: { code?: string }) => e.code);
    expect(denied).toBe('interaction_denied');

    // -11: a person token and an auth token from the person server, after the user's consent.
    const a = await agent11('audit', 'approve');
    agent11Id = a.id;
    const r11 = await a.agent.fetch(`${maa.url}/analyze`);
    expect(r11.status).toBe(200);
    expect(minted11.map((t) => decodeJwt(t).header.typ)).toEqual(['aa-person+jwt', 'aa-auth+jwt']);
    // Another -11 agent whose consent the user denies.
    const d = await agent11('denied', 'deny');
    denied11Id = d.id;
    const refused11 = await d.agent.fetch(`${maa.url}/analyze`).then((r) => r.status, (e: { code?: string }) => e.code);
    expect(refused11).not.toBe(200);
    await sink.flush();
    // The trail crossed rotations, and no event was lost or dropped.
    expect(sink.stats()).toMatchObject({ dropped: 0, buffered: 0 });
    expect(readFileSync(`${file}.1`, 'utf8').length).toBeGreaterThan(0);
  });

  it('aauth audit --agent BACKEND --user mcp-user: exactly its issuance, the exchange it started, and the refusal', () => {
    const events = auditJson('--agent', backend.url, '--user', USER);
    expect(events.map((e) => [e.type, e.decision, e.code ?? null, e.jti ?? null])).toEqual([
      ['token.issued', 'allow', null, keycloakIssued],
      ['token.exchanged', 'allow', null, keycloakExchanged],
      ['request.refused', 'deny', 'access_denied', null],
    ]);
    const [issued, exchanged, refused] = events as [AuditEvent, AuditEvent, AuditEvent];
    expect(issued).toMatchObject({
      realm: 'aauth-test',
      user: USER,
      sub: USER_ID,
      chain: [backend.url],
      resource: sca.url,
      scopesRequested: ['supply-chain:optimize', 'market-analysis:analyze'],
      scopesGranted: ['supply-chain:optimize', 'market-analysis:analyze'],
      endpoint: 'pending',
    });
    // The exchange: SCA signed it, for the backend's request, for the same user.
    expect(exchanged).toMatchObject({ user: USER, chain: [sca.url, backend.url], resource: maa.url, scopesGranted: ['market-analysis:analyze'] });
    expect(refused).toMatchObject({ user: USER, chain: [backend.url], resource: sca.url, status: 403, error: 'access_denied', reason: 'The user denied the request' });
  });

  it('aauth audit --agent AGENT-11 --user mcp-user: the person token and the auth token it got', () => {
    const events = auditJson('--agent', agent11Id, '--user', USER);
    expect(events.map((e) => [e.type, e.decision, e.jti, e.resource])).toEqual([
      ['token.issued', 'allow', jtiOf(minted11[0]!), maa.url],
      ['token.issued', 'allow', jtiOf(minted11[1]!), maa.url],
    ]);
    expect(events[1]).toMatchObject({ realm: 'aauth-test', chain: [agent11Id], scopesRequested: ['market-analysis:analyze'], scopesGranted: ['market-analysis:analyze'] });
    expect(events[0]).toMatchObject({ scopesGranted: [] });
  });

  it('--decision deny --user mcp-user: the two refusals, one per generation', () => {
    const events = auditJson('--decision', 'deny', '--user', USER);
    expect(events.map((e) => [e.chain, e.code])).toEqual([
      [[backend.url], 'access_denied'],
      [[denied11Id], 'pending_denied'],
    ]);
  });

  it('--resource, --since/--until and the pending decisions narrow as asked', () => {
    expect(auditJson('--resource', sca.url, '--decision', 'allow').map((e) => e.jti)).toEqual([keycloakIssued]);
    // Waiting for consent is a decision of its own: four requests waited (two per generation).
    expect(auditJson('--decision', 'pending').map((e) => e.chain![0])).toEqual([backend.url, backend.url, agent11Id, denied11Id]);
    expect(auditJson('--agent', backend.url, '--until', '2000-01-01T00:00:00Z')).toEqual([]);
    expect(auditJson('--agent', backend.url, '--user', USER, '--since', '1h')).toHaveLength(3);
  });

  it('the table answers the same, and bad filters are usage errors (exit 2)', () => {
    const table = audit('--agent', backend.url, '--user', USER);
    expect(table.status).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME +DECISION +TYPE +CODE +AGENT CHAIN +USER +RESOURCE +SCOPES ASKED +GRANTED +JTI$/);
    expect(lines).toHaveLength(5);
    expect(lines[3]).toContain('request.refused');
    expect(lines[3]).toContain('access_denied');
    expect(lines[2]).toContain(`${sca.url} > ${backend.url}`);
    expect(lines[4]).toBe('3 event(s)');
    expect(audit('--decision', 'maybe')).toMatchObject({ status: 2, stderr: 'aauth audit: --decision must be one of allow, deny, pending (got "maybe")\n' });
    expect(audit('--since', 'yesterday')).toMatchObject({ status: 2 });
  });

  it('the log never holds a token', () => {
    const text = readdirSync(dir)
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
    expect(text.split('\n').filter(Boolean).length).toBe(sink.stats().written);
    for (const token of [...accepted, ...minted11]) expect(text).not.toContain(token.split('.')[2]);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ[\w-]+\./);
  });
});
