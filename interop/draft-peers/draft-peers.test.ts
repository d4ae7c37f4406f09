import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenHttps } from '../fixtures/local-tls.js';
import { startDraftPeers, DRAFT_NAMES, type DraftPeers } from './start-draft-peers.js';

// Smoke tests of the current-draft (AAuth -11) peers from PyPI: aauth 0.5.0, regent-httpsig
// 0.7.3, introspection-aauth 0.1.0, each run by interop/draft-peers/*_app.py over real TLS on
// 127.0.0.1 under a loopback name (see README.md beside this file).

const AGENT = `https://${DRAFT_NAMES.agent}`;
const RESOURCE = `https://${DRAFT_NAMES.resource}`;
const REGENT = `https://${DRAFT_NAMES.regent}`;
const PS = `https://${DRAFT_NAMES.ps}`;
const AS = `https://${DRAFT_NAMES.as}`;
const AGENT_ID = 'aauth:smoke@agent.localhost';

interface CallResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  json: Record<string, unknown> | null;
  sent: Record<string, string>;
}

interface AgentInfo {
  agent_id: string;
  agent_token: string;
  jwk: Record<string, string>;
  jkt: string;
}

// An hwk Signature-Key: a scheme AAuth -11 agents may not use towards a resource.
const HWK_REQUEST = {
  'signature-key': 'sig=hwk;kty="OKP";crv="Ed25519";x="11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";alg="Ed25519"',
  'signature-input': 'sig=("@method" "@authority" "@path" "signature-key");created=1700000000',
  signature: 'sig=:AAAA:',
};

function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}

let draft: DraftPeers;
let agent: AgentInfo;

async function getJson(url: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await draft.fetch(url);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** Ask the aauth 0.5.0 agent to sign and send a request (see aauth_app.py's /_test/call). */
async function agentCall(order: Record<string, unknown>): Promise<CallResult> {
  const res = await draft.fetch(`${AGENT}/_test/call`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(order),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as CallResult;
}

beforeAll(async () => {
  // kit.localhost: a name for a Node server of the test's own, as the next issues' kit servers.
  draft = await startDraftPeers({ extraNames: ['kit.localhost'] });
  agent = (await getJson(`${AGENT}/_test/agent`)).json as unknown as AgentInfo;
});

afterAll(async () => {
  await draft?.stop();
});

describe('the local TLS of the draft peers', () => {
  it('certifies every loopback name under a CA of its own, and its fetch reaches nothing else', async () => {
    const cert = new X509Certificate(draft.tls.cert);
    const ca = new X509Certificate(draft.tls.ca);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(ca.ca).toBe(true);
    for (const name of Object.values(DRAFT_NAMES)) expect(cert.checkHost(name)).toBe(name);
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    // Every process serves its names on one port and answers by Host header.
    expect(draft.hosts[DRAFT_NAMES.agent]).toBe(draft.hosts[DRAFT_NAMES.resource]);
    expect(draft.hosts[DRAFT_NAMES.ps]).toBe(draft.hosts[DRAFT_NAMES.as]);
    await expect(draft.fetch('https://example.com/')).rejects.toThrow(/not a mapped https loopback name/);
    await expect(draft.fetch(`http://${DRAFT_NAMES.ps}/`)).rejects.toThrow(/not a mapped https loopback name/);
    await expect(draft.fetch(`https://${DRAFT_NAMES.ps}:8443/`)).rejects.toThrow(/not a mapped https loopback name/);
  });

  it('lets a Python peer reach a Node https server of the test by its loopback name', async () => {
    const seen: Record<string, string | undefined>[] = [];
    const kit = await listenHttps(
      (req, res) => {
        seen.push({ host: req.headers.host, path: req.url, signatureKey: req.headers['signature-key'] as string | undefined });
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      },
      draft.tls,
      draft.hosts['kit.localhost'],
    );
    try {
      const res = await agentCall({ method: 'GET', url: 'https://kit.localhost/hello?x=1' });
      expect(res.status).toBe(200);
      expect(res.json).toEqual({ ok: true });
      expect(seen).toEqual([{ host: 'kit.localhost', path: '/hello?x=1', signatureKey: `sig=jwt;jwt="${agent.agent_token}"` }]);
      expect(res.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "@query" "signature-key"\);created=\d+$/);
    } finally {
      await kit.close();
    }
  });
});

describe('aauth 0.5.0 (agent provider, agent, resource)', () => {
  it('publishes the agent provider, whose agent token is -11 shaped', async () => {
    const meta = await getJson(`${AGENT}/.well-known/aauth-agent.json`);
    expect(meta).toEqual({
      status: 200,
      json: { issuer: AGENT, jwks_uri: `${AGENT}/jwks.json`, name: 'aauth 0.5.0 smoke agent provider' },
    });
    const jwks = (await getJson(`${AGENT}/jwks.json`)).json as { keys: Record<string, string>[] };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });

    const { header, payload } = decodeJwt(agent.agent_token);
    expect(header).toEqual({ alg: 'Ed25519', kid: jwks.keys[0]!.kid, typ: 'aa-agent+jwt' });
    expect(payload).toMatchObject({ iss: AGENT, sub: AGENT_ID, dwk: 'aauth-agent.json', ps: PS, cnf: { jwk: agent.jwk } });
    expect(agent.jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
    expect((payload.exp as number) - (payload.iat as number)).toBe(3600);
  });

  it('its resource: metadata, the -11 challenge, Signature-Error, and its own agent accepted', async () => {
    expect(await getJson(`${RESOURCE}/.well-known/aauth-resource.json`)).toEqual({
      status: 200,
      json: { issuer: RESOURCE, jwks_uri: `${RESOURCE}/jwks.json`, name: 'aauth 0.5.0 smoke resource', access_mode: 'agent-token' },
    });

    const unsigned = await draft.fetch(`${RESOURCE}/protected`);
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('aauth-requirement')).toBe('requirement=agent-token');
    expect(unsigned.headers.get('signature-error')).toBeNull();
    expect(unsigned.headers.get('content-type')).toBe('application/problem+json');

    const hwk = await draft.fetch(`${RESOURCE}/protected`, { headers: HWK_REQUEST });
    expect(hwk.status).toBe(401);
    expect(hwk.headers.get('signature-error')).toBe('error=unsupported_scheme');
    expect(((await hwk.json()) as { error: string }).error).toBe('unsupported_scheme');

    const signed = await agentCall({ method: 'GET', url: `${RESOURCE}/protected` });
    expect(signed.status).toBe(200);
    expect(signed.json).toEqual({
      token_type: 'aa-agent+jwt',
      agent_id: AGENT_ID,
      user_sub: null,
      person_server: PS,
      iss: AGENT,
      jkt: agent.jkt,
    });
    // What aauth 0.5.0 puts on the wire: jwt scheme, the four -11 components, created only, and
    // the Signature as unpadded base64url (RFC 8941 byte sequences are padded standard base64).
    expect(signed.sent['Signature-Key']).toBe(`sig=jwt;jwt="${agent.agent_token}"`);
    expect(signed.sent['Signature-Input']).toMatch(/^sig=\("@method" "@authority" "@path" "signature-key"\);created=\d+$/);
    expect(signed.sent['Signature']).toMatch(/^sig=:[A-Za-z0-9_-]{86}:$/);
  });

  it('its resource refuses a standard-base64 Signature (padded, as RFC 8941 writes it)', async () => {
    const res = await agentCall({ method: 'GET', url: `${RESOURCE}/protected`, signer: 'regent' });
    expect(res.sent['Signature']).toMatch(/^sig=:[A-Za-z0-9+/]{86}==:$/);
    expect(res.status).toBe(401);
    expect(res.headers['signature-error']).toBe('error=invalid_signature');
    expect(res.json?.detail).toMatch(/^Signature verification failed: Invalid Signature format/);
  });
});

describe('regent-httpsig 0.7.3 (a verifying resource)', () => {
  it('answers unsigned with AAuth-Requirement and an unknown scheme with Signature-Error', async () => {
    const unsigned = await draft.fetch(`${REGENT}/protected`);
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('aauth-requirement')).toBe('requirement=agent-token');
    expect(unsigned.headers.get('signature-error')).toBeNull();
    expect(((await unsigned.json()) as { detail: { code: string } }).detail.code).toBe('SIGNATURE_REQUIRED');

    const hwk = await draft.fetch(`${REGENT}/protected`, { headers: HWK_REQUEST });
    expect(hwk.status).toBe(401);
    expect(hwk.headers.get('signature-error')).toBe('error=unsupported_scheme');
    expect(hwk.headers.get('accept-signature-scheme')).toBe('jwt, jwks_uri');
    expect(hwk.headers.get('aauth-requirement')).toBeNull();
  });

  it("accepts the aauth 0.5.0 agent's token signed in RFC 8941 form, refuses aauth's own Signature", async () => {
    const ok = await agentCall({ method: 'GET', url: `${REGENT}/protected`, signer: 'regent' });
    expect(ok.status).toBe(200);
    expect(ok.json).toMatchObject({
      scheme: 'aauth',
      agent: AGENT,
      sub: AGENT_ID,
      keyid: agent.jkt,
      label: 'sig',
      trusted: false,
      claims: { iss: AGENT, sub: AGENT_ID, dwk: 'aauth-agent.json', ps: PS },
    });

    const refused = await agentCall({ method: 'GET', url: `${REGENT}/protected` });
    expect(refused.status).toBe(401);
    expect(refused.headers['signature-error']).toBe('error=invalid_signature');
    expect(refused.json).toMatchObject({
      detail: { error: 'invalid_signature', detail: 'proof of possession failed: Malformed structured header field "Signature"' },
    });
  });
});

describe('introspection-aauth 0.1.0 (person server and access server)', () => {
  it('serves both metadata documents and their keys', async () => {
    expect(await getJson(`${PS}/.well-known/aauth-person.json`)).toEqual({
      status: 200,
      json: {
        issuer: PS,
        name: 'introspection-aauth smoke person server',
        jwks_uri: `${PS}/.well-known/aauth-person-jwks.json`,
        person_token_endpoint: `${PS}/aauth/person-token`,
        auth_token_endpoint: `${PS}/aauth/token`,
        mission_endpoint: `${PS}/aauth/mission`,
        claims_supported: ['sub', 'tenant'],
      },
    });
    expect(await getJson(`${AS}/.well-known/aauth-access.json`)).toEqual({
      status: 200,
      json: {
        issuer: AS,
        name: 'introspection-aauth smoke access server',
        jwks_uri: `${AS}/.well-known/aauth-access-jwks.json`,
        auth_token_endpoint: `${AS}/aauth/token`,
      },
    });
    for (const url of [`${PS}/.well-known/aauth-person-jwks.json`, `${AS}/.well-known/aauth-access-jwks.json`]) {
      const { keys } = (await getJson(url)).json as { keys: Record<string, string>[] };
      expect(keys).toHaveLength(1);
      expect(keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', use: 'sig' });
    }
    // One process, two servers: each name answers only its own routes.
    const other = await draft.fetch(`${AS}/.well-known/aauth-person.json`);
    expect(other.status).toBe(404);
  });

  it('refuses an unsigned call with problem+json and Accept-Signature-Scheme, no Signature-Error', async () => {
    const res = await draft.fetch(`${PS}/aauth/person-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: REGENT, login_hint: 'alice' }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    // The scheme is checked first: no Signature-Key reads as "not jwt".
    expect(await res.json()).toEqual({ error: 'unsupported_scheme', detail: 'sign with sig=jwt' });
    expect(res.headers.get('accept-signature-scheme')).toBe('jwt');
    expect(res.headers.get('signature-error')).toBeNull();
    expect(res.headers.get('aauth-requirement')).toBeNull();
  });

  it('issues the aauth 0.5.0 agent a person token that regent-httpsig accepts', async () => {
    const body = JSON.stringify({ resource: REGENT, login_hint: 'alice' });
    const order = { method: 'POST', url: `${PS}/aauth/person-token`, headers: { 'content-type': 'application/json' }, body };

    const malformed = await agentCall({ ...order, role: 'ps' });
    expect(malformed.status).toBe(401);
    expect(malformed.json).toEqual({ error: 'invalid_signature', detail: 'signature is malformed' });

    const issued = await agentCall({ ...order, signer: 'regent' });
    expect(issued.sent['Signature-Input']).toMatch(
      /^sig=\("@method" "@authority" "@path" "signature-key" "content-digest" "content-type"\);created=\d+$/,
    );
    expect(issued.status).toBe(200);
    const answer = issued.json as { person_token: string; expires_in: number };
    const psKeys = (await getJson(`${PS}/.well-known/aauth-person-jwks.json`)).json as { keys: { kid: string }[] };
    const { header, payload } = decodeJwt(answer.person_token);
    expect(header).toEqual({ alg: 'Ed25519', typ: 'aa-person+jwt', kid: psKeys.keys[0]!.kid });
    expect(payload).toMatchObject({ iss: PS, dwk: 'aauth-person.json', aud: REGENT, tenant: 'smoke', cnf: { jwk: { x: agent.jwk.x } } });
    expect(answer.expires_in).toBe((payload.exp as number) - (payload.iat as number));
    expect(answer.expires_in).toBeLessThanOrEqual(3600);

    const presented = await agentCall({ method: 'GET', url: `${REGENT}/protected`, signer: 'regent', token: answer.person_token });
    expect(presented.status).toBe(200);
    expect(presented.json).toMatchObject({
      scheme: 'aauth-person',
      agent: PS,
      sub: payload.sub,
      keyid: agent.jkt,
      claims: { iss: PS, aud: REGENT, dwk: 'aauth-person.json', jti: payload.jti },
    });
  });

  it("issues a person token for aauth 0.5.0's resource, which verifies it against the person server's keys", async () => {
    const issued = await agentCall({
      method: 'POST',
      url: `${PS}/aauth/person-token`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ resource: RESOURCE, login_hint: 'alice' }),
      signer: 'regent',
    });
    expect(issued.status).toBe(200);
    const token = (issued.json as { person_token: string }).person_token;
    const { payload } = decodeJwt(token);
    expect(payload).toMatchObject({ iss: PS, aud: RESOURCE });
    // A directed `sub`: HMAC-SHA256 of (person, resource), base64url.
    expect(payload.sub).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const presented = await agentCall({ method: 'GET', url: `${RESOURCE}/protected`, token });
    expect(presented.status).toBe(200);
    expect(presented.json).toEqual({
      token_type: 'aa-person+jwt',
      agent_id: null,
      user_sub: payload.sub,
      person_server: PS,
      iss: PS,
      jkt: agent.jkt,
    });
  });
});
