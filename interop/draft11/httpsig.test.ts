import type { RequestListener } from 'node:http';
import { createAgent, createAgentProvider, type Agent, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, signRequest, type AAuthError, type OkpPublicJwk, type SignatureKey as CoreSignatureKey, type SigningKey } from '@aauth-kit/core';
import { createResource, type Resource } from '@aauth-kit/express';
import express from 'express';
import { DEFAULT_COMPONENTS_GET, fetch as httpsigFetch, type SignatureKeyType } from '@hellocoop/httpsig';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type Listening } from '../../test/fixtures/http.js';
import {
  newKey,
  startAgentProvider,
  startHttpsigVerifier,
  type HttpsigVerdict,
  type HttpsigVerifierServer,
  type TestAgentProvider,
  type TestKey,
} from './harness.js';

// Issue 15, acceptance: @hellocoop/httpsig 2.2.0 (the signature library of the TypeScript
// reference packages; draft-hardt-httpbis-signature-key-08) against the kit, both ways, for the
// hwk, jwks_uri and jwt schemes, GET and POST with a covered body, tampering refused.

/** The agent identifier's domain is its provider's (AAuth -11 "Agent Identifiers"): set once the provider listens. */
let AGENT_ID: string;
const agentIdAt = (issuer: string): string => `aauth:httpsig@${new URL(issuer).host}`;
const ORDER = JSON.stringify({ sku: 'A-1', qty: 3 });
const SCHEMES = ['hwk', 'jwks_uri', 'jwt'] as const;
type Scheme = (typeof SCHEMES)[number];

let provider: TestAgentProvider;
let agentKey: TestKey;
let agentToken: string;
let verifier: HttpsigVerifierServer;

beforeAll(async () => {
  provider = await startAgentProvider();
  AGENT_ID = agentIdAt(provider.issuer);
  agentKey = newKey('Ed25519', 'agent-key-1');
  provider.publish(agentKey.publicJwk); // so the jwks_uri scheme finds the agent's own key
  agentToken = provider.agentToken({ sub: AGENT_ID, jwk: agentKey.publicJwk, ps: 'https://ps.example' });
  verifier = await startHttpsigVerifier();
});

afterAll(async () => {
  await Promise.all([provider?.close(), verifier?.close()]);
});

/** httpsig's Signature-Key description of the agent for each scheme. */
function signatureKey(scheme: Scheme): SignatureKeyType {
  if (scheme === 'hwk') return { type: 'hwk' };
  if (scheme === 'jwt') return { type: 'jwt', jwt: agentToken };
  return { type: 'jwks_uri', id: provider.issuer, dwk: 'aauth-agent.json', kid: agentKey.kid };
}

/** Sign with httpsig (dry run) and return the headers it would send. */
async function httpsigSign(scheme: Scheme, method: string, url: string, body?: string): Promise<Record<string, string>> {
  const { headers } = (await httpsigFetch(url, {
    method,
    ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}),
    signingKey: agentKey.privateJwk,
    signatureKey: signatureKey(scheme),
    dryRun: true,
  })) as unknown as { headers: Headers };
  return Object.fromEntries(headers.entries());
}

async function send(url: string, method: string, headers: Record<string, string>, body?: string): Promise<{ status: number; json: HttpsigVerdict }> {
  const res = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  return { status: res.status, json: (await res.json()) as HttpsigVerdict };
}

describe('httpsig signs, httpsig verifies (the harness itself)', () => {
  describe.each(SCHEMES)('scheme %s', (scheme) => {
    it('GET with a query (its default components leave @query uncovered): verified, the key and the scheme seen', async () => {
      const url = `${verifier.origin}/items/7?view=full`;
      const { status, json } = await send(url, 'GET', await httpsigSign(scheme, 'GET', url));
      expect(status).toBe(200);
      expect(json).toMatchObject({ verified: true, keyType: scheme, label: 'sig', thumbprint: agentKey.jkt });
      expect(json.signatureInput).toMatch(/^sig=\("@method" "@authority" "@path" "signature-key"\);created=\d+$/);
      if (scheme === 'hwk') {
        expect(json.signatureKey).toBe(`sig=hwk;alg="Ed25519";kty="OKP";crv="Ed25519";x="${agentKey.publicJwk.x}"`);
      }
      if (scheme === 'jwt') expect(json.jwt?.payload).toMatchObject({ iss: provider.issuer, sub: AGENT_ID, dwk: 'aauth-agent.json' });
      if (scheme === 'jwks_uri') expect(json.jwks_uri).toEqual({ id: provider.issuer, dwk: 'aauth-agent.json', kid: agentKey.kid });
    });

    it('POST with a body: content-digest covered and verified; a changed body is refused', async () => {
      const url = `${verifier.origin}/orders`;
      const headers = await httpsigSign(scheme, 'POST', url, ORDER);
      expect(headers['signature-input']).toMatch(
        /^sig=\("@method" "@authority" "@path" "content-type" "signature-key" "content-digest"\);created=\d+$/,
      );
      const ok = await send(url, 'POST', headers, ORDER);
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ verified: true, keyType: scheme, thumbprint: agentKey.jkt, body: ORDER });

      const tampered = await send(url, 'POST', headers, ORDER.replace('3', '300'));
      expect(tampered.status).toBe(401);
      expect(tampered.json).toMatchObject({ verified: false, error: 'content-digest does not match body' });
    });
  });
});

// ---------------------------------------------------------------------------------------------
// The kit's agent signs, httpsig's verify() checks (startHttpsigVerifier in harness.ts).

describe("the kit's agent signs, httpsig verifies", () => {
  let kitKey: SigningKey;
  let kitProvider: AgentProvider;
  /** The kit agent's provider (-11, `jwt`), and the kit agent's own documents (hwk / jwks_uri). */
  let docs: Listening;
  let agentSite: Listening;
  let handler: RequestListener = (_req, res) => res.end();
  let agentHandler: RequestListener = (_req, res) => res.end();
  let agent11: Agent;
  let agentSchemes: Agent;

  beforeAll(async () => {
    docs = await listen((req, res) => handler(req, res));
    agentSite = await listen((req, res) => agentHandler(req, res));
    kitKey = generateKey({ kid: 'kit-agent-1' });
    kitProvider = createAgentProvider({ issuer: docs.origin, key: generateKey({ kid: 'kit-provider-1' }), allowLoopback: true });
    agent11 = createAgent({
      key: kitKey,
      generation: 'draft-11',
      draft11: { provider: kitProvider, local: 'kit-httpsig', ps: 'https://ps.example', allowLoopback: true },
    });
    // The same key under hwk / jwks_uri in the dictionary form of HTTP Signature Keys -08/-09: an
    // agent with an identity of its own, whose documents httpsig fetches (`issuer` required).
    agentSchemes = createAgent({ key: kitKey, identity: agentSite.origin, signatureKeyForm: 'dictionary' });
    handler = kitProvider.wellKnown() as unknown as RequestListener;
    agentHandler = agentSchemes.wellKnown() as unknown as RequestListener;
  });

  afterAll(async () => {
    await Promise.all([docs?.close(), agentSite?.close()]);
  });

  /** Send through the kit agent: -11 (`jwt`) or the dictionary hwk / jwks_uri form. */
  async function kitSend(scheme: Scheme, path: string, body?: string): Promise<{ status: number; json: HttpsigVerdict }> {
    const url = `${verifier.origin}${path}`;
    const init = { method: body === undefined ? 'GET' : 'POST', ...(body !== undefined ? { body, headers: { 'content-type': 'application/json' } } : {}) };
    const res = scheme === 'jwt' ? await agent11.fetch(url, init) : await agentSchemes.fetch(url, { ...init, signatureScheme: scheme });
    return { status: res.status, json: (await res.json()) as HttpsigVerdict };
  }

  describe.each(SCHEMES)('scheme %s', (scheme) => {
    it('GET: verified by httpsig, with the kit key and what the scheme carried', async () => {
      const { status, json } = await kitSend(scheme, '/items/7');
      expect(json.error).toBeUndefined();
      expect(status).toBe(200);
      expect(json).toMatchObject({ verified: true, keyType: scheme, label: 'sig', thumbprint: kitKey.thumbprint });
      expect(json.signatureInput).toMatch(/^sig=\("@method" "@authority" "@path" "signature-key"\);created=\d+/);
      expect(json.publicKey).toMatchObject({ kty: 'OKP', crv: 'Ed25519', x: kitKey.jwk.x, alg: 'Ed25519' });
      if (scheme === 'jwt') {
        expect(json.jwt?.header).toEqual({ typ: 'aa-agent+jwt', alg: 'Ed25519', kid: 'kit-provider-1' });
        expect(json.jwt?.payload).toMatchObject({
          iss: docs.origin,
          dwk: 'aauth-agent.json',
          sub: `aauth:kit-httpsig@127.0.0.1:${docs.port}`,
          ps: 'https://ps.example',
          cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: kitKey.jwk.x, alg: 'Ed25519' } },
        });
      }
      if (scheme === 'jwks_uri') expect(json.jwks_uri).toEqual({ id: agentSite.origin, dwk: 'aauth-agent.json', kid: kitKey.kid });
    });

    it('GET with a query: the kit covers @query; httpsig 2.2.0 derives it without the "?" and refuses', async () => {
      // RFC 9421 section 2.2.7: @query is the query string with its leading "?". httpsig's verify()
      // uses the query it is given without one (and its signer covers no @query by default).
      const { status, json } = await kitSend(scheme, '/items/7?view=full');
      expect(json.signatureInput).toMatch(/^sig=\("@method" "@authority" "@path" "@query" "signature-key"\);created=\d+/);
      expect(status).toBe(401);
      expect(json).toMatchObject({ verified: false, verifiedWithRfc9421Query: true });
    });

    it('POST with a covered body: verified; a changed body, method or path is refused', async () => {
      const ok = await kitSend(scheme, '/orders', ORDER);
      expect(ok.json.error).toBeUndefined();
      expect(ok.status).toBe(200);
      expect(ok.json).toMatchObject({ verified: true, keyType: scheme, thumbprint: kitKey.thumbprint, body: ORDER });
      expect(ok.json.signatureInput).toMatch(/"content-digest"/);

      const body = await kitSend(scheme, '/mitm/body/orders', ORDER);
      expect(body.status).toBe(401);
      expect(body.json).toMatchObject({ verified: false, error: 'content-digest does not match body' });
      for (const what of ['method', 'path']) {
        const res = await kitSend(scheme, `/mitm/${what}/orders`, ORDER);
        expect(res.status).toBe(401);
        expect(res.json).toMatchObject({ verified: false });
      }
    });
  });
});

// ---------------------------------------------------------------------------------------------
// httpsig signs, a kit resource (@aauth-kit/express, both generations, loopback relaxation) verifies.

describe('httpsig signs, the kit resource verifies', () => {
  let app: express.Express;
  let site: Listening;
  let resource: Resource;
  /** The AAuthError code of every refusal, by request path. */
  const refusals = new Map<string, string>();

  beforeAll(async () => {
    app = express();
    site = await listen(app);
    resource = createResource({
      identity: site.origin,
      key: generateKey({ kid: 'kit-resource-1' }),
      draft11: { allowLoopback: true },
      onError: (error: AAuthError, req) => void refusals.set(req.path, error.code),
    });
    app.use(resource.wellKnown());
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
        body: typeof req.body === 'string' ? req.body : '',
      });
    };
    const text = express.text({ type: () => true });
    app.all('/sig/:name', resource.require({ level: 'signature' }), text, echo);
    app.all('/agent/:name', resource.require({ level: 'identity' }), text, echo);
  });

  afterAll(async () => {
    await site?.close();
  });

  async function toKit(scheme: Scheme, method: string, path: string, body?: string, sendBody = body): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
    const url = `${site.origin}${path}`;
    const headers = await httpsigSign(scheme, method, url, body);
    const res = await fetch(url, { method, headers, ...(sendBody !== undefined ? { body: sendBody } : {}) });
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
  }

  /** What the kit saw of the caller, per scheme. */
  function expectCaller(scheme: Scheme, json: Record<string, unknown>): void {
    expect(json).toMatchObject({ scheme, generation: 'draft-11', thumbprint: agentKey.jkt });
    if (scheme === 'hwk') expect(json.agent).toBe(`pseudonymous:${agentKey.jkt}`);
    if (scheme === 'jwks_uri') expect(json.agent).toBe(provider.issuer);
    if (scheme === 'jwt') {
      expect(json).toMatchObject({ agent: AGENT_ID, agentId: AGENT_ID, accessMode: 'agent-token', ps: 'https://ps.example', tokenIssuer: provider.issuer, tokenKind: 'agent' });
    }
  }

  describe.each(SCHEMES)('scheme %s', (scheme) => {
    it('GET: 200, the caller the kit saw', async () => {
      const { status, json } = await toKit(scheme, 'GET', `/sig/${scheme}-get`);
      expect(refusals.get(`/sig/${scheme}-get`)).toBeUndefined();
      expect(status).toBe(200);
      expectCaller(scheme, json);
    });

    it('GET with a query: the kit asks for @query (invalid_input); httpsig covering it writes it without "?" (invalid_signature)', async () => {
      // The kit resource requires @query when there is one (draft-11 profile section 5; the -11
      // text lets a server require more through invalid_input + required_input). httpsig's default
      // components leave it out, and when told to cover it, it derives the value without the
      // leading "?" that RFC 9421 section 2.2.7 puts there: no form of this request can pass.
      const path = `/sig/${scheme}-query`;
      const r = await toKit(scheme, 'GET', `${path}?item=7`);
      expect(r.status).toBe(401);
      expect(r.headers.get('signature-error')).toBe('error=invalid_input, required_input=("@method" "@authority" "@path" "@query" "signature-key")');
      expect(r.json).toMatchObject({ error: 'invalid_input' });
      expect(refusals.get(path)).toBe('signature_coverage');

      const url = `${site.origin}${path}-covered?item=7`;
      const { headers } = (await httpsigFetch(url, {
        signingKey: agentKey.privateJwk,
        signatureKey: signatureKey(scheme),
        components: [...DEFAULT_COMPONENTS_GET, '@query'],
        dryRun: true,
      })) as unknown as { headers: Headers };
      const covered = await fetch(url, { headers });
      expect(covered.status).toBe(401);
      expect(covered.headers.get('signature-error')).toBe('error=invalid_signature');
      // Under jwt the kit names a signature that fails against the token's cnf.jwk token_cnf_mismatch.
      expect(refusals.get(`${path}-covered`)).toBe(scheme === 'jwt' ? 'token_cnf_mismatch' : 'signature_invalid');
    });

    it('POST with a covered body (content-digest): 200 and the body; a changed body: 401 invalid_signature', async () => {
      const ok = await toKit(scheme, 'POST', `/sig/${scheme}-post`, ORDER);
      expect(refusals.get(`/sig/${scheme}-post`)).toBeUndefined();
      expect(ok.status).toBe(200);
      expectCaller(scheme, ok.json);
      expect(ok.json.body).toBe(ORDER);

      const tampered = await toKit(scheme, 'POST', `/sig/${scheme}-tampered`, ORDER, ORDER.replace('3', '300'));
      expect(tampered.status).toBe(401);
      expect(tampered.headers.get('signature-error')).toBe('error=invalid_signature');
      expect(tampered.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(tampered.json).toMatchObject({ error: 'invalid_signature' });
      expect(refusals.get(`/sig/${scheme}-tampered`)).toBe('digest_mismatch');
    });
  });

  it('an agent-identity route: the agent token verified (issuer metadata and key found by dwk)', async () => {
    const { status, json } = await toKit('jwt', 'GET', '/agent/jwt');
    expect(refusals.get('/agent/jwt')).toBeUndefined();
    expect(status).toBe(200);
    expectCaller('jwt', json);
    expect(provider.fetched).toEqual(expect.arrayContaining(['/.well-known/aauth-agent.json', '/jwks.json']));
  });

  it('an agent-identity route answers hwk (verified, but no agent) with requirement=agent-token, no Signature-Error', async () => {
    const { status, headers, json } = await toKit('hwk', 'GET', '/agent/hwk');
    expect(status).toBe(401);
    expect(headers.get('aauth-requirement')).toBe('requirement=agent-token');
    expect(headers.get('signature-error')).toBeNull();
    expect(headers.get('accept-signature-scheme')).toBe('jwks_uri, jwt');
    expect(headers.get('accept-signature-alg')).toBe('Ed25519, ES256');
    expect(headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(json).toMatchObject({ error: 'agent_token_required' });
  });

  it('an agent token from a provider whose metadata names another issuer: 401 issuer_mismatch (httpsig agrees under jwks_uri)', async () => {
    const liar = await startAgentProvider(undefined, { metadataIssuer: 'https://someone-else.example' });
    try {
      liar.publish(agentKey.publicJwk);
      const token = liar.agentToken({ sub: agentIdAt(liar.issuer), jwk: agentKey.publicJwk });
      const url = `${site.origin}/agent/liar`;
      const signed = (await httpsigFetch(url, { signingKey: agentKey.privateJwk, signatureKey: { type: 'jwt', jwt: token }, dryRun: true })) as unknown as { headers: Headers };
      const res = await fetch(url, { headers: signed.headers });
      expect(res.status).toBe(401);
      expect(res.headers.get('signature-error')).toBe('error=issuer_mismatch');
      expect(((await res.json()) as { error: string }).error).toBe('issuer_mismatch');
      expect(refusals.get('/agent/liar')).toBe('issuer_mismatch');

      // The same provider under httpsig's jwks_uri scheme, checked by httpsig's own verify().
      const vurl = `${verifier.origin}/liar`;
      const viaJwks = (await httpsigFetch(vurl, {
        signingKey: agentKey.privateJwk,
        signatureKey: { type: 'jwks_uri', id: liar.issuer, dwk: 'aauth-agent.json', kid: agentKey.kid },
        dryRun: true,
      })) as unknown as { headers: Headers };
      const verdict = (await (await fetch(vurl, { headers: viaJwks.headers })).json()) as HttpsigVerdict;
      expect(verdict).toMatchObject({ verified: false, signatureError: { error: 'issuer_mismatch' } });
    } finally {
      await liar.close();
    }
  });

  it('an agent token whose issuer publishes no metadata: 401 invalid_jwt', async () => {
    const forged = provider.agentToken({ sub: agentIdAt(site.origin), jwk: agentKey.publicJwk, claims: { iss: site.origin } });
    const url = `${site.origin}/agent/forged`;
    const { headers } = (await httpsigFetch(url, { signingKey: agentKey.privateJwk, signatureKey: { type: 'jwt', jwt: forged }, dryRun: true })) as unknown as { headers: Headers };
    const res = await fetch(url, { headers });
    expect(res.status).toBe(401);
    expect(res.headers.get('signature-error')).toBe('error=invalid_jwt');
    expect(await res.json()).toMatchObject({ error: 'invalid_jwt', type: 'urn:ietf:params:sig-error:invalid_jwt' });
    expect(refusals.get('/agent/forged')).toBe('token_signature_invalid');
  });
});

// ---------------------------------------------------------------------------------------------
// The kit's core signer in the dictionary form of Signature Keys -08/-09, as a -11 server signs in
// its own right (jwks_uri with id + dwk; AAuth -11 "Keying Material") and with an inline hwk key
// (alg required), Ed25519 and ES256, checked by httpsig's verify().

describe("the kit's core signer (hwk with alg, jwks_uri with dwk), httpsig verifies", () => {
  const keys = {
    Ed25519: generateKey({ kid: 'kit-server-Ed25519' }),
    ES256: generateKey({ kid: 'kit-server-ES256', alg: 'ES256' }),
  };
  /** A server's own documents (httpsig caches a JWKS an hour: every key is there before the first fetch). */
  let server: TestAgentProvider;
  beforeAll(async () => {
    server = await startAgentProvider();
    for (const [alg, key] of Object.entries(keys)) server.publish({ ...key.jwk, alg, kid: key.kid });
  });
  afterAll(async () => {
    await server?.close();
  });

  describe.each(['Ed25519', 'ES256'] as const)('%s', (alg) => {
    const key = keys[alg];
    const publicJwk = { ...key.jwk, alg } as OkpPublicJwk;

    const forms: Array<[string, () => CoreSignatureKey]> = [
      ['hwk', () => ({ scheme: 'hwk', jwk: publicJwk })],
      ['jwks_uri', () => ({ scheme: 'jwks_uri', id: server.issuer, dwk: 'aauth-agent.json', kid: key.kid })],
    ];
    it.each(forms)('%s: GET and POST verified, the Signature-Key as httpsig parses it; a changed body refused', async (scheme, sigKey) => {
      for (const body of [undefined, ORDER]) {
        const url = `${verifier.origin}/server/${scheme}`;
        const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
        const signed = signRequest({ method: body === undefined ? 'GET' : 'POST', url, headers, body }, { key, signatureKey: sigKey(), signatureKeyForm: 'dictionary' });
        const all = { ...headers, ...signed.headers };
        const res = await fetch(url, { method: body === undefined ? 'GET' : 'POST', headers: all, ...(body !== undefined ? { body } : {}) });
        const json = (await res.json()) as HttpsigVerdict;
        expect(json.error).toBeUndefined();
        expect(res.status).toBe(200);
        expect(json).toMatchObject({ verified: true, keyType: scheme, thumbprint: key.thumbprint, publicKey: { alg } });
        if (scheme === 'hwk') expect(json.signatureKey).toMatch(new RegExp(`^sig=hwk;.*alg="${alg}"`));
        if (scheme === 'jwks_uri') {
          expect(json.signatureKey).toBe(`sig=jwks_uri;id="${server.issuer}";dwk="aauth-agent.json";kid="${key.kid}"`);
          expect(json.jwks_uri).toEqual({ id: server.issuer, dwk: 'aauth-agent.json', kid: key.kid });
        }
        if (body !== undefined) {
          const mitm = await fetch(`${verifier.origin}/mitm/body/server/${scheme}`, { method: 'POST', headers: all, body });
          expect(mitm.status).toBe(401);
        }
      }
    });
  });
});
