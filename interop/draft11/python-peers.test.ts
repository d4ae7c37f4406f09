import type { RequestListener } from 'node:http';
import { createAgent, createAgentProvider, type Agent } from '@aauth-kit/agent';
import { generateKey, type AAuthError, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { fetch as httpsigFetch } from '@hellocoop/httpsig';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DRAFT_NAMES, startDraftPeers, type DraftPeers } from '../draft-peers/start-draft-peers.js';
import { listenHttps, type ListeningTls } from '../fixtures/local-tls.js';
import { decodeJwt, newKey, startAgentProvider, type TestAgentProvider, type TestKey } from './harness.js';

// Issue 15, acceptance: the kit against the PyPI AAuth -11 peers of interop/draft-peers
// (aauth 0.5.0, regent-httpsig 0.7.3) over real TLS on loopback names. First the harness is
// checked peer to peer (an httpsig-signed request from an agent provider of the test's own), then
// the kit's resource and agent meet the peers.

const RESOURCE = `https://${DRAFT_NAMES.resource}`;
const REGENT = `https://${DRAFT_NAMES.regent}`;
const PS = `https://${DRAFT_NAMES.ps}`;
/** The test's own agent provider (harness.ts). */
const TEST_PROVIDER = 'agents.localhost';
/** The kit's resource and the kit agent's provider. */
const KIT_RESOURCE = 'kit.localhost';
const KIT_AGENT_PROVIDER = 'kit-agent.localhost';
const TEST_AGENT_ID = 'aauth:httpsig@agents.localhost';

interface CallResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: Record<string, unknown> | null;
  sent: Record<string, string>;
}

let draft: DraftPeers;
let provider: TestAgentProvider;
let agentKey: TestKey;
let agentToken: string;
/** The kit resource at https://kit.localhost (@aauth-kit/express, -11 by its identity). */
let kit: ListeningTls;
/** The AAuthError code of every refusal of the kit resource, by path. */
const refusals = new Map<string, string>();
/** Every answer the kit resource gave, in order: path, status, AAuth-Requirement (challenges are not onError's). */
const answers: Array<{ path: string; status: number; requirement: string | undefined }> = [];

beforeAll(async () => {
  draft = await startDraftPeers({
    extraNames: [TEST_PROVIDER, KIT_RESOURCE, KIT_AGENT_PROVIDER],
    // introspection-aauth's person server trusts the kit agent's provider too.
    env: { AAUTH_EXTRA_AGENT_PROVIDERS: JSON.stringify([`https://${KIT_AGENT_PROVIDER}`]) },
  });
  provider = await startAgentProvider({ tls: draft.tls, name: TEST_PROVIDER, port: draft.hosts[TEST_PROVIDER]! });
  agentKey = newKey('Ed25519');
  agentToken = provider.agentToken({ sub: TEST_AGENT_ID, jwk: agentKey.publicJwk, ps: PS });
  kit = await startKitResource();
});

afterAll(async () => {
  await kit?.close();
  await provider?.close();
  await draft?.stop();
});

/** The kit resource: agent-identity and person routes that echo what the kit saw of the caller. */
async function startKitResource(): Promise<ListeningTls> {
  const app = express();
  const resource = createResource({
    identity: `https://${KIT_RESOURCE}`,
    key: generateKey({ kid: 'kit-resource-1' }),
    fetch: draft.fetch, // the only way to https://agent.localhost (see ../draft-peers/README.md)
    onError: (error: AAuthError, req) => void refusals.set(req.path, error.code),
    // Person tokens of introspection-aauth are accepted from any person server (the default).
    // The peers live on *.localhost names (local TLS): the documented loopback relaxation, off by default.
    draft11: { allowLoopback: true },
  });
  app.use((req, res, next) => {
    res.on('finish', () => answers.push({ path: req.path, status: res.statusCode, requirement: res.getHeader('aauth-requirement') as string | undefined }));
    next();
  });
  app.use(resource.wellKnown());
  const text = express.text({ type: () => true });
  const echo = (req: express.Request, res: express.Response): void => {
    const a = req.aauth!;
    res.json({
      scheme: a.scheme,
      generation: a.generation,
      agent: a.agent,
      agentId: a.agentId,
      accessMode: a.accessMode,
      ps: a.ps,
      thumbprint: a.thumbprint,
      tokenIssuer: a.token?.issuer,
      tokenKind: a.token?.kind,
      person: a.person,
      sub: a.sub,
      body: typeof req.body === 'string' ? req.body : '',
    });
  };
  app.all('/agent/:name', resource.require({ level: 'identity' }), text, echo);
  app.all('/person/:name', resource.require({ level: 'person' }), text, echo);
  return listenHttps(app, draft.tls, draft.hosts[KIT_RESOURCE]);
}

/** Sign with httpsig under `jwt` with the test agent's token (dry run): the headers it would send. */
async function httpsigSigned(method: string, url: string, body?: string): Promise<Record<string, string>> {
  const { headers } = (await httpsigFetch(url, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
    signingKey: agentKey.privateJwk,
    signatureKey: { type: 'jwt', jwt: agentToken },
    dryRun: true,
  })) as unknown as { headers: Headers };
  return Object.fromEntries(headers.entries());
}

/** The same signature bytes, written as aauth 0.5.0 reads them: unpadded base64url. */
function asBase64url(signature: string): string {
  return signature.replace(/:([A-Za-z0-9+/=]+):/, (_m, b64: string) => `:${Buffer.from(b64, 'base64').toString('base64url')}:`);
}

async function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await draft.fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

/** Ask the aauth 0.5.0 agent to sign and send a request (interop/draft-peers/aauth_app.py). */
async function aauthAgentCall(order: Record<string, unknown>): Promise<CallResult> {
  const res = await draft.fetch(`https://${DRAFT_NAMES.agent}/_test/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(order),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as CallResult;
}

describe('the harness against the peers: httpsig signs with an agent token of a test provider', () => {
  it('regent-httpsig 0.7.3 verifies it, GET and POST with content-digest, and sees the agent token claims', async () => {
    const get = await send(`${REGENT}/protected?item=7`, 'GET', await httpsigSigned('GET', `${REGENT}/protected?item=7`));
    expect(get.status).toBe(200);
    expect(get.json).toMatchObject({
      scheme: 'aauth',
      agent: provider.issuer,
      sub: TEST_AGENT_ID,
      keyid: agentKey.jkt,
      label: 'sig',
      claims: { iss: provider.issuer, sub: TEST_AGENT_ID, dwk: 'aauth-agent.json', ps: PS },
    });
    expect(provider.fetched).toContain('/.well-known/aauth-agent.json');

    const body = JSON.stringify({ sku: 'A-1', qty: 3 });
    const headers = await httpsigSigned('POST', `${REGENT}/protected`, body);
    expect(headers['signature-input']).toContain('"content-digest"');
    const post = await send(`${REGENT}/protected`, 'POST', headers, body);
    expect(post.status).toBe(200);
    expect(post.json).toMatchObject({ scheme: 'aauth', sub: TEST_AGENT_ID, keyid: agentKey.jkt });

    const tampered = await send(`${REGENT}/protected`, 'POST', headers, body.replace('3', '300'));
    expect(tampered.status).toBe(401);
    expect(tampered.headers.get('signature-error')).toBe('error=invalid_signature');
  });

  it('aauth 0.5.0 refuses its RFC 8941 (padded base64) Signature, and verifies the same bytes as base64url', async () => {
    const url = `${RESOURCE}/protected`;
    const headers = await httpsigSigned('GET', url);
    expect(headers.signature).toMatch(/^sig=:[A-Za-z0-9+/]{86}==:$/);
    const refused = await send(url, 'GET', headers);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(refused.json.detail).toMatch(/Invalid Signature format/);

    const accepted = await send(url, 'GET', { ...headers, signature: asBase64url(headers.signature!) });
    expect(accepted.status).toBe(200);
    expect(accepted.json).toEqual({
      token_type: 'aa-agent+jwt',
      agent_id: TEST_AGENT_ID,
      user_sub: null,
      person_server: PS,
      iss: provider.issuer,
      jkt: agentKey.jkt,
    });
    expect(decodeJwt(agentToken).header).toEqual({ alg: 'Ed25519', kid: provider.key.kid, typ: 'aa-agent+jwt' });
  });
});

// ---------------------------------------------------------------------------------------------
// aauth 0.5.0's agent (its own signer and agent token) -> a kit resource at https://kit.localhost.

describe('the aauth 0.5.0 agent calls a kit resource', () => {
  /** What the kit resource saw of the aauth agent. */
  async function expectAauthAgent(json: Record<string, unknown> | null): Promise<void> {
    const info = (await (await draft.fetch(`https://${DRAFT_NAMES.agent}/_test/agent`)).json()) as { agent_id: string; jkt: string };
    expect(json).toMatchObject({
      scheme: 'jwt',
      generation: 'draft-11',
      agent: info.agent_id,
      agentId: 'aauth:smoke@agent.localhost',
      accessMode: 'agent-token',
      ps: PS,
      thumbprint: info.jkt,
      tokenIssuer: `https://${DRAFT_NAMES.agent}`,
      tokenKind: 'agent',
    });
  }

  it('GET with a query, signed by aauth (unpadded base64url Signature, @query covered): 200', async () => {
    const res = await aauthAgentCall({ method: 'GET', url: `https://${KIT_RESOURCE}/agent/get?item=7` });
    expect(res.sent['Signature']).toMatch(/^sig=:[A-Za-z0-9_-]{86}:$/);
    expect(res.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "@query" "signature-key"\);created=\d+$/);
    expect(refusals.get('/agent/get')).toBeUndefined();
    expect(res.status).toBe(200);
    await expectAauthAgent(res.json);
  });

  it('POST with content-digest covered (aauth role "ps"): 200 and the body', async () => {
    const body = JSON.stringify({ sku: 'A-1', qty: 3 });
    const res = await aauthAgentCall({ method: 'POST', url: `https://${KIT_RESOURCE}/agent/post`, headers: { 'content-type': 'application/json' }, body, role: 'ps' });
    expect(res.sent['Signature-Input']).toMatch(/"content-digest"/);
    expect(refusals.get('/agent/post')).toBeUndefined();
    expect(res.status).toBe(200);
    await expectAauthAgent(res.json);
    expect(res.json?.body).toBe(body);

    // aauth's signed headers, sent again with another body, or to another path: refused.
    const url = `https://${KIT_RESOURCE}/agent/post`;
    const headers = { ...res.sent, 'content-type': 'application/json' };
    const changedBody = await draft.fetch(url, { method: 'POST', headers, body: body.replace('3', '300') });
    expect(changedBody.status).toBe(401);
    expect(changedBody.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(refusals.get('/agent/post')).toBe('digest_mismatch');
    const otherPath = await draft.fetch(`https://${KIT_RESOURCE}/agent/post-elsewhere`, { method: 'POST', headers, body });
    expect(otherPath.status).toBe(401);
    expect(otherPath.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(refusals.get('/agent/post-elsewhere')).toBe('token_cnf_mismatch');
  });

  it('POST signed as aauth signs for a resource (no content-digest): the kit requires it and says so in required_input and metadata', async () => {
    // AAuth -11 "Covered Components": content-digest is required towards person and access
    // servers; a resource that wants it too declares it (additional_signature_components) and
    // names it in invalid_input's required_input, from which the agent learns it.
    const body = JSON.stringify({ sku: 'A-1', qty: 3 });
    const res = await aauthAgentCall({ method: 'POST', url: `https://${KIT_RESOURCE}/agent/post-plain`, headers: { 'content-type': 'application/json' }, body });
    expect(res.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "signature-key"\);created=\d+$/);
    expect(refusals.get('/agent/post-plain')).toBe('digest_missing');
    expect(res.status).toBe(401);
    expect(res.json).toMatchObject({ error: 'invalid_input' });
    expect(res.headers['signature-error']).toMatch(/^error=invalid_input, required_input=\(.*"content-digest".*\)$/);
    const metadata = (await (await draft.fetch(`https://${KIT_RESOURCE}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({ issuer: `https://${KIT_RESOURCE}`, additional_signature_components: expect.arrayContaining(['content-digest']) });
  });

  it('a person token introspection-aauth issued for the kit resource, presented by the aauth agent: the person (iss, directed sub)', async () => {
    const issued = await aauthAgentCall({
      method: 'POST',
      url: `${PS}/aauth/person-token`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: `https://${KIT_RESOURCE}`, login_hint: 'alice' }),
      signer: 'regent', // introspection-aauth reads RFC 8941 signatures only (../draft-peers/README.md)
    });
    expect(issued.status).toBe(200);
    const token = (issued.json as { person_token: string }).person_token;
    const { header, payload } = decodeJwt(token);
    expect(header.typ).toBe('aa-person+jwt');
    expect(payload).toMatchObject({ iss: PS, aud: `https://${KIT_RESOURCE}`, dwk: 'aauth-person.json' });

    // Without it, the person route challenges the agent for one.
    const challenged = await aauthAgentCall({ method: 'GET', url: `https://${KIT_RESOURCE}/person/challenge` });
    expect(challenged.status).toBe(401);
    expect(challenged.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(challenged.headers['signature-error']).toBeUndefined();

    const res = await aauthAgentCall({ method: 'GET', url: `https://${KIT_RESOURCE}/person/alice`, token });
    expect(refusals.get('/person/alice')).toBeUndefined();
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      scheme: 'jwt',
      generation: 'draft-11',
      accessMode: 'person-token',
      ps: PS,
      person: { issuer: PS, sub: payload.sub },
      sub: payload.sub,
      tokenIssuer: PS,
      tokenKind: 'person',
    });
    // A person token is never an agent token: the agent-identity route does not take it as one.
    const asAgent = await aauthAgentCall({ method: 'GET', url: `https://${KIT_RESOURCE}/agent/person-token`, token });
    expect(asAgent.status).toBe(401);
    expect(asAgent.headers['aauth-requirement']).toBe('requirement=agent-token');
  });

  it('the same aauth-issued agent token signed in RFC 8941 form (regent-httpsig signer): 200', async () => {
    const res = await aauthAgentCall({ method: 'GET', url: `https://${KIT_RESOURCE}/agent/regent-signed`, signer: 'regent' });
    expect(res.sent['Signature']).toMatch(/^sig=:[A-Za-z0-9+/]{86}==:$/);
    expect(refusals.get('/agent/regent-signed')).toBeUndefined();
    expect(res.status).toBe(200);
    await expectAauthAgent(res.json);
  });
});

// ---------------------------------------------------------------------------------------------
// The kit's agent (its own agent provider at https://kit-agent.localhost) -> aauth 0.5.0's
// verifier (resource.localhost) and regent-httpsig (regent.localhost).

describe("the kit's agent calls aauth 0.5.0's and regent-httpsig's resources", () => {
  let docs: ListeningTls;
  let agentKeyKit: SigningKey;
  let kitAgent: Agent;
  let kitAgentB64url: Agent;
  const KIT_AGENT_ID = `aauth:interop@${KIT_AGENT_PROVIDER}`;
  const KIT_ISSUER = `https://${KIT_AGENT_PROVIDER}`;

  beforeAll(async () => {
    agentKeyKit = generateKey({ kid: 'kit-agent-key' });
    const provider11 = createAgentProvider({ issuer: KIT_ISSUER, key: generateKey({ kid: 'kit-provider-key' }), metadata: { name: 'aauth-kit interop agent provider' } });
    docs = await listenHttps(provider11.wellKnown() as unknown as RequestListener, draft.tls, draft.hosts[KIT_AGENT_PROVIDER]);
    const base = {
      key: agentKeyKit,
      generation: 'draft-11' as const,
      // loginHint: introspection-aauth binds an agent key to the person the first request names.
      draft11: { provider: provider11, local: 'interop', ps: PS, hints: { loginHint: 'alice' } },
      fetch: draft.fetch as typeof fetch,
    };
    kitAgent = createAgent(base);
    kitAgentB64url = createAgent({ ...base, signatureEncoding: 'base64url' });
  });

  afterAll(async () => {
    await docs?.close();
  });

  it("aauth 0.5.0's verifier: refuses the kit's RFC 8941 Signature, accepts it as base64url, and sees the agent token", async () => {
    const refused = await kitAgent.fetch(`${RESOURCE}/protected`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('signature-error')).toBe('error=invalid_signature');
    expect(((await refused.json()) as { detail: string }).detail).toMatch(/Invalid Signature format/);

    const res = await kitAgentB64url.fetch(`${RESOURCE}/protected?item=7`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      token_type: 'aa-agent+jwt',
      agent_id: KIT_AGENT_ID,
      user_sub: null,
      person_server: PS,
      iss: KIT_ISSUER,
      jkt: agentKeyKit.thumbprint,
    });
  });

  it("aauth 0.5.0's verifier: POST with a covered body", async () => {
    const body = JSON.stringify({ sku: 'A-1', qty: 3 });
    const res = await kitAgentB64url.fetch(`${RESOURCE}/protected`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ token_type: 'aa-agent+jwt', agent_id: KIT_AGENT_ID, iss: KIT_ISSUER, jkt: agentKeyKit.thumbprint });
  });

  it("a kit resource's person-token challenge: the kit agent gets a person token from introspection-aauth and presents it", async () => {
    const res = await kitAgent.fetch(`https://${KIT_RESOURCE}/person/kit-agent`);
    // The first answer was a challenge for a person token (challenges are not refusals: onError never sees them).
    // Recorded at the server's 'finish' of each answer, which may come after the agent has the answer in hand.
    await vi.waitFor(() =>
      expect(answers.filter((a) => a.path === '/person/kit-agent').map((a) => [a.status, a.requirement])).toEqual([[401, 'requirement=person-token'], [200, undefined]]),
    );
    expect(refusals.has('/person/kit-agent')).toBe(false);
    expect(res.status).toBe(200);
    const seen = (await res.json()) as { person: { issuer: string; sub: string } } & Record<string, unknown>;
    expect(seen).toMatchObject({
      scheme: 'jwt',
      generation: 'draft-11',
      accessMode: 'person-token',
      ps: PS,
      thumbprint: agentKeyKit.thumbprint,
      tokenIssuer: PS,
      tokenKind: 'person',
    });
    // The directed sub of alice at this resource: the same whichever agent acts for her.
    const viaAauth = await aauthAgentCall({
      method: 'POST',
      url: `${PS}/aauth/person-token`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: `https://${KIT_RESOURCE}`, login_hint: 'alice' }),
      signer: 'regent',
    });
    const aliceHere = decodeJwt((viaAauth.json as { person_token: string }).person_token).payload.sub;
    expect(seen.person).toEqual({ issuer: PS, sub: aliceHere });
  });

  it('regent-httpsig 0.7.3 accepts the kit agent (GET with a query, POST with a body) and sees its agent token claims', async () => {
    const get = await kitAgent.fetch(`${REGENT}/protected?item=7`);
    expect(get.status).toBe(200);
    const seen = (await get.json()) as Record<string, unknown>;
    expect(seen).toMatchObject({
      scheme: 'aauth',
      agent: KIT_ISSUER,
      sub: KIT_AGENT_ID,
      keyid: agentKeyKit.thumbprint,
      label: 'sig',
      trusted: false,
      // regent reports these claims (not cnf); keyid is the thumbprint of the key it verified with.
      claims: { iss: KIT_ISSUER, sub: KIT_AGENT_ID, dwk: 'aauth-agent.json', ps: PS },
    });
    const claims = seen.claims as { iat: number; exp: number; jti: string };
    expect(claims.exp - claims.iat).toBe(3600);
    expect(claims.jti).toMatch(/^[0-9a-f-]{36}$/);

    const post = await kitAgent.fetch(`${REGENT}/protected`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sku":"A-1"}' });
    expect(post.status).toBe(200);
    expect(await post.json()).toMatchObject({ scheme: 'aauth', sub: KIT_AGENT_ID, keyid: agentKeyKit.thumbprint });
  });
});
