import type { RequestListener } from 'node:http';
import { type Agent, createAgent, createAgentProvider } from '@aauth-kit/agent';
import { decodeToken, generateKey, isAAuthError } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startDraftPeers, type DraftPeers } from '../draft-peers/start-draft-peers.js';
import { listenHttps, type ListeningTls } from '../fixtures/local-tls.js';

// The kit's -11 agent (issue 15, helper C) with a real person server: introspection-aauth 0.1.0
// from PyPI (../draft-peers/introspection_app.py, told to trust the kit agent's provider), a kit
// resource (@aauth-kit/express, -11 only) and the agent's own provider, all over the local TLS of
// ../draft-peers at https://<name>.localhost without ports (what the Python peer insists on).

const PS = 'https://ps.localhost';
const PROVIDER = 'kit-agent.localhost';
const RESOURCE = 'kit-res.localhost';

let draft: DraftPeers | undefined;
const servers: ListeningTls[] = [];
let agent: Agent;
/** What the kit resource saw, by path. */
const seen = new Map<string, Record<string, unknown>>();
const refused = new Map<string, string>();
/** Every answer the resource gave, in order: path, status, AAuth-Requirement (challenges are not onError's). */
const answers: Array<{ path: string; status: number; requirement: string | undefined }> = [];

beforeAll(async () => {
  draft = await startDraftPeers({
    only: ['introspection'],
    extraNames: [PROVIDER, RESOURCE],
    env: { AAUTH_EXTRA_AGENT_PROVIDERS: JSON.stringify([`https://${PROVIDER}`]) },
  });
  const { tls, hosts } = draft;
  const fetchTls = draft.fetch;

  // The agent's own provider: aauth-agent.json and its JWKS (keys with alg).
  const provider = createAgentProvider({ issuer: `https://${PROVIDER}`, key: generateKey({ kid: 'kit-ap-1' }), metadata: { name: 'kit interop agent' } });
  servers.push(await listenHttps(provider.wellKnown() as unknown as RequestListener, tls, hosts[PROVIDER]));

  // A kit resource: a person route and an auth-token route, trusting the Python person server.
  const resource = createResource({
    identity: `https://${RESOURCE}`,
    key: generateKey({ kid: 'kit-res-1' }),
    scopes: { 'data.read': 'Read data' },
    fetch: fetchTls as typeof fetch,
    generations: ['draft-11'],
    // The peers live on *.localhost names (local TLS): the documented loopback relaxation, off by default.
    draft11: { personServers: [PS], accessMode: 'person-token', allowLoopback: true },
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
  servers.push(await listenHttps(app as unknown as RequestListener, tls, hosts[RESOURCE]));

  agent = createAgent({
    key: generateKey({ kid: 'kit-agent-1' }),
    fetch: fetchTls as typeof fetch,
    draft11: { provider, local: 'interop', ps: PS, hints: { loginHint: 'alice', tenant: 'smoke' } },
  });
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await draft?.stop();
});

describe('the kit agent with introspection-aauth 0.1.0 as its person server', () => {
  it('serves metadata the kit agent accepts (issuer equals its URL; both token endpoints)', async () => {
    const doc = (await (await draft!.fetch(`${PS}/.well-known/aauth-person.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ issuer: PS, person_token_endpoint: `${PS}/aauth/person-token`, auth_token_endpoint: `${PS}/aauth/token` });
  });

  it('401 requirement=person-token: the agent gets a person token from introspection-aauth and the kit resource accepts it', async () => {
    const res = await agent.fetch(`https://${RESOURCE}/me`);
    // The first attempt (agent token) was challenged for a person token; challenges are not refusals.
    // Recorded at the server's 'finish' of each answer, which may come after the agent has the answer in hand.
    await vi.waitFor(() =>
      expect(answers.filter((a) => a.path === '/me').map((a) => [a.status, a.requirement])).toEqual([[401, 'requirement=person-token'], [200, undefined]]),
    );
    expect(refused.has('/me')).toBe(false);
    expect(res.status).toBe(200);
    const aauth = seen.get('/me')!;
    expect(aauth).toMatchObject({ generation: 'draft-11', scheme: 'jwt', accessMode: 'person-token', ps: PS, token: { kind: 'person', issuer: PS } });
    // introspection-aauth's directed sub: an HMAC of person and resource, 43 base64url characters.
    expect(aauth.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(aauth.person).toEqual({ issuer: PS, sub: aauth.sub });
    const person = decodeToken((aauth.token as { raw: string }).raw);
    expect(person.header).toMatchObject({ typ: 'aa-person+jwt', alg: 'Ed25519' });
    // The hints reached it: the person alice names is in tenant smoke; the token is bound to the agent's key.
    expect(person.claims).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: `https://${RESOURCE}`, tenant: 'smoke', cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: agent.key.jwk.x, alg: 'Ed25519' } } });
  });

  it('an auth token request reaches introspection-aauth with the resource token and presented_token; it refuses outside a mission', async () => {
    const error = await agent.fetch(`https://${RESOURCE}/data`).catch((e: unknown) => e);
    expect(isAAuthError(error)).toBe(true);
    const e = error as { code: string; status: number; message: string; details: Record<string, unknown> };
    // It verified the agent's signature and agent token, parsed {resource_token, presented_token},
    // matched the presented person token's tenant and the resource token's, then applied its policy.
    expect(e.code).toBe('auth_server_error');
    expect(e.status).toBe(502);
    expect(e.details).toEqual({ status: 403, error: 'access_denied', detail: 'an auth token is issued only within a mission' });
    expect(e.message).toBe('The person server refused the auth token request (HTTP 403, access_denied: an auth token is issued only within a mission)');
  });
});
