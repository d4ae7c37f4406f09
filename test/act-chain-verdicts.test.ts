import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer } from '@aauth-kit/auth-server';
import { AAuthError, createWellKnownHandler, generateKey, mintResourceToken, signJwt, signRequest, type SigningKey } from '@aauth-kit/core';
import { createVerifier, type Verifier } from '@aauth-kit/verifier';

/**
 * Issue 12: one `act` rule. The same chain, in a token signed by the same realm key, gets the same
 * verdict from a resource's verifier (the jwt scheme's auth-token check) and from the auth server
 * (refresh with `{auth_token}`, and an exchange's `upstream_token`), over real loopback HTTP.
 */

interface Listening {
  server: Server;
  origin: string;
  use(listener: RequestListener): void;
  close(): Promise<void>;
}

async function listen(): Promise<Listening> {
  let current: RequestListener = (_req, res) => res.writeHead(503).end();
  const server = createServer((req, res) => current(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    origin: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    use: (listener) => void (current = listener),
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const level = (n: number): Record<string, unknown> => ({ agent: `https://agent-${n}.example`, sub: 'user-1' });

/** A well-formed chain of `depth` AAuth levels, outermost first. */
function chain(depth: number): Record<string, unknown> {
  let act: Record<string, unknown> = level(depth);
  for (let n = depth - 1; n >= 1; n--) act = { ...level(n), act };
  return act;
}

type Verdict = 'accepted' | 'refused';

/** The table: each chain and the verdict the wire profile's act rule gives it (written out, not computed). */
const CHAINS: Array<{ name: string; act: unknown; verdict: Verdict; exchange: Verdict | 'too deep' }> = [
  { name: 'one AAuth level {agent, sub}', act: { agent: 'https://backend.example', sub: 'user-1' }, verdict: 'accepted', exchange: 'accepted' },
  { name: 'agent only (Keycloak omits sub without a user)', act: { agent: 'https://backend.example' }, verdict: 'accepted', exchange: 'accepted' },
  { name: 'sub only (RFC 8693 section 4.1 form)', act: { sub: 'supply-chain-agent' }, verdict: 'accepted', exchange: 'accepted' },
  { name: 'nested: an AAuth level under an RFC 8693 level', act: { sub: 'svc', act: { agent: 'https://backend.example', sub: 'user-1' } }, verdict: 'accepted', exchange: 'accepted' },
  { name: 'nested three levels', act: chain(3), verdict: 'accepted', exchange: 'accepted' },
  { name: 'depth 9 (one under the limit)', act: chain(9), verdict: 'accepted', exchange: 'accepted' },
  // At the limit a token is valid, but an exchange would add an eleventh level: refused by the delegation limit, not the token check.
  { name: 'depth 10 (at the limit)', act: chain(10), verdict: 'accepted', exchange: 'too deep' },
  { name: 'depth 11 (over the limit)', act: chain(11), verdict: 'refused', exchange: 'refused' },
  { name: 'depth 40', act: chain(40), verdict: 'refused', exchange: 'refused' },
  { name: 'a level naming no actor (neither agent nor sub)', act: { act: { agent: 'https://backend.example' } }, verdict: 'refused', exchange: 'refused' },
  { name: 'an empty agent and no sub', act: { agent: '' }, verdict: 'refused', exchange: 'refused' },
  { name: 'missing agent in a nested level, with other members only', act: { agent: 'https://a.example', act: { iss: 'https://x.example' } }, verdict: 'refused', exchange: 'refused' },
  { name: 'agent not a string', act: { agent: 7 }, verdict: 'refused', exchange: 'refused' },
  { name: 'sub not a string beside a good agent', act: { agent: 'https://a.example', sub: ['user-1'] }, verdict: 'refused', exchange: 'refused' },
  { name: 'act a string', act: 'https://backend.example', verdict: 'refused', exchange: 'refused' },
  { name: 'act an array', act: [{ agent: 'https://backend.example' }], verdict: 'refused', exchange: 'refused' },
  { name: 'a nested act that is null', act: { agent: 'https://a.example', act: null }, verdict: 'refused', exchange: 'refused' },
];

describe('the same act chain gets the same verdict at a resource and at the auth server', () => {
  const open: Listening[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'aauth-act-'));
  // The realm key, known to the test so that it can sign tokens with any act chain.
  const realmKey = generateKey();
  const agentKey = generateKey();
  const agent = `pseudonymous:${agentKey.thumbprint}`;
  const resourceKey = generateKey({ kid: 'res-1' });
  let issuer: string;
  let tokenEndpoint: string;
  let resource: string;
  let verifier: Verifier;

  beforeAll(async () => {
    const keyFile = join(dir, 'realm-key.json');
    writeFileSync(keyFile, JSON.stringify(realmKey.toPrivateJwk()));
    const asHost = await listen();
    open.push(asHost);
    const auth = createAuthServer({
      realm: { realm: 'act', enabled: true, accessTokenLifespan: 300, attributes: { 'aauth.consent.required.scopes': '[]' }, users: [] },
      baseUrl: asHost.origin,
      keyFile,
      signingAlgorithm: 'EdDSA',
      onWarning: () => {},
    });
    asHost.use(express().use(auth.router()));
    issuer = auth.issuer;
    tokenEndpoint = `${issuer}/protocol/aauth/token`;

    // A resource: its metadata and JWKS (for the exchange's resource token), and its verifier.
    const resHost = await listen();
    open.push(resHost);
    resource = resHost.origin;
    resHost.use(createWellKnownHandler({ documents: { '/.well-known/aauth-resource.json': { resource, jwks_uri: `${resource}/jwks.json` } }, keys: [resourceKey.toPublishedJwk()] }));
    verifier = createVerifier({ identity: resource, trustedIssuers: [issuer], replay: { methods: 'none' } });
  });

  afterAll(async () => {
    await Promise.all(open.map((l) => l.close()));
    rmSync(dir, { recursive: true, force: true });
  });

  /** An auth token from the realm key, bound to the agent key, with `act`. */
  function authToken(act: unknown, aud: string): Promise<string> {
    const iat = Math.floor(Date.now() / 1000);
    return signJwt(realmKey, { typ: 'auth+jwt' }, { iss: issuer, aud, agent, sub: 'user-1', scope: 'read', cnf: { jwk: agentKey.jwk }, iat, exp: iat + 300, act } as never);
  }

  async function post(key: SigningKey, body: object): Promise<{ status: number; json: Record<string, unknown> }> {
    const request = { method: 'POST', url: tokenEndpoint, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const { headers } = signRequest(request, { key });
    const res = await fetch(tokenEndpoint, { method: 'POST', headers: { ...request.headers, ...headers }, body: request.body });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function atResource(act: unknown): Promise<Verdict> {
    try {
      await verifier.verifyAuthToken(await authToken(act, resource));
      return 'accepted';
    } catch (error) {
      expect(error).toBeInstanceOf(AAuthError);
      expect((error as AAuthError).code).toBe('token_claim_invalid');
      expect((error as AAuthError).message).toMatch(/^Auth token: act /);
      return 'refused';
    }
  }

  async function atRefresh(act: unknown): Promise<Verdict> {
    const res = await post(agentKey, { auth_token: await authToken(act, resource) });
    if (res.status === 200) return 'accepted';
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_grant');
    expect(res.json.error_description).toMatch(/^auth_token refused: Auth token: act /);
    return 'refused';
  }

  async function atExchange(act: unknown): Promise<Verdict | 'too deep'> {
    // The signer is the agent the upstream token was issued to (aud = signer): it exchanges it for the resource.
    const upstream = await authToken(act, agent);
    const resourceToken = await mintResourceToken(resourceKey, { issuer: resource, audience: issuer, agent, agentJkt: agentKey.thumbprint, scope: 'read' });
    const res = await post(agentKey, { resource_token: resourceToken, upstream_token: upstream });
    if (res.status === 200) return 'accepted';
    expect(res.status).toBe(400);
    expect(res.json.error).toBe('invalid_grant');
    if (/^Delegation chain too deep: 11 act levels, the limit is 10 /.test(String(res.json.error_description))) return 'too deep';
    expect(res.json.error_description).toMatch(/^upstream_token refused: Auth token: act /);
    return 'refused';
  }

  for (const row of CHAINS) {
    it(`${row.name}: ${row.verdict} by both`, async () => {
      expect(await atResource(row.act)).toBe(row.verdict);
      expect(await atRefresh(row.act)).toBe(row.verdict);
      expect(await atExchange(row.act)).toBe(row.exchange);
    });
  }

  it('an accepted chain comes back unchanged: in the verified token and in the refreshed one', async () => {
    const act = chain(10);
    expect((await verifier.verifyAuthToken(await authToken(act, resource))).act).toEqual(act);
    const res = await post(agentKey, { auth_token: await authToken(act, resource) });
    expect(res.status).toBe(200);
    const claims = JSON.parse(Buffer.from(String(res.json.auth_token).split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims.act).toEqual(act);
  });
});
