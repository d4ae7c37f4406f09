import { readFileSync } from 'node:fs';
import { AAuthChallengeError, createMemoryTokenCache } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { buildChallenge, decodeToken, generateKey, mintResourceToken, parseChallenge } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import got from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { caught } from './fixtures/caught.js';
import { freePort, listen, type Listening } from './fixtures/http.js';
import { hostedAgent, type HostedAgent } from './fixtures/hosted-agent.js';

/**
 * Issue 13, finding 9: a malicious resource M must never receive the token the agent holds (or can
 * obtain) for another resource R. M answers with a challenge whose resource token names R (forged,
 * or R's own, replayed); the agent refuses before presenting or requesting anything. Over loopback
 * HTTP with the embedded auth server, the real resource middleware and a hosted agent.
 */
const realmFile = new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url);
const SCOPE = 'market-analysis:analyze';
const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface World {
  issuer: string;
  r: Listening;
  m: Listening & { tokens: string[]; requests: string[]; challengeWith: string | undefined; redirectTo: string | undefined };
  hosted: HostedAgent;
  /** Token requests the agent posted to the auth server. */
  posts: number;
}

/** The jwt an `Signature-Key: sig=(scheme=jwt jwt="...")` carries, if any. */
function presentedJwt(signatureKey: string | undefined): string | undefined {
  if (signatureKey === undefined || !/scheme=jwt\b|sig=jwt\b/.test(signatureKey)) return undefined;
  return /jwt="([^"]+)"/.exec(signatureKey)?.[1];
}

async function world(): Promise<World> {
  const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as Record<string, unknown>;
  const port = await freePort();
  const server = createAuthServer({ realm, baseUrl: `http://127.0.0.1:${port}`, signingAlgorithm: 'EdDSA', onWarning: () => undefined });
  open.push(await server.listen(port, '127.0.0.1'));
  const issuer = server.issuer;

  // R: the honest resource.
  const rApp = express();
  const r = await listen(rApp);
  open.push(r);
  const resource = createResource({ identity: r.origin, key: generateKey({ kid: 'r-1' }), authServer: issuer });
  rApp.use(resource.wellKnown());
  rApp.get('/data', resource.require({ scope: SCOPE }), (req, res) => {
    res.json({ agent: req.aauth!.agent });
  });

  // M: answers every request with the challenge it is told to send (or a redirect), and keeps
  // every auth token an agent shows it.
  let state!: World['m'];
  const m = await listen((req, res) => {
    state.requests.push(`${req.method} ${req.url}`);
    const jwt = presentedJwt(req.headers['signature-key'] as string | undefined);
    if (jwt !== undefined) state.tokens.push(jwt);
    if (state.redirectTo !== undefined) {
      res.writeHead(307, { location: state.redirectTo }).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (state.challengeWith !== undefined) headers.AAuth = buildChallenge({ require: 'auth-token', resourceToken: state.challengeWith, authServer: issuer });
    res.writeHead(401, headers).end('{"error":"invalid_auth_token","error_description":"Authorization required"}');
  });
  open.push(m);
  state = Object.assign(m, { tokens: [] as string[], requests: [] as string[], challengeWith: undefined, redirectTo: undefined });

  const w = { issuer, r, m: state, posts: 0 } as World;
  const recording: typeof fetch = async (input, init) => {
    if (String(input instanceof Request ? input.url : input).endsWith('/protocol/aauth/token')) w.posts++;
    return fetch(input, init);
  };
  w.hosted = await hostedAgent({ authServer: issuer, fetch: recording, tokenCache: createMemoryTokenCache() });
  open.push(w.hosted);
  return w;
}

/** A resource token R's middleware issues to this agent, as R's own 401 carries it. */
async function genuineResourceToken(w: World): Promise<string> {
  const url = `${w.r.origin}/data`;
  const signed = w.hosted.agent.buildSignedRequest({ method: 'GET', url });
  const res = await fetch(url, { headers: signed.headers });
  expect(res.status).toBe(401);
  await res.arrayBuffer();
  return parseChallenge(res.headers)!.resourceToken!;
}

describe('a malicious resource cannot obtain the agent\'s token for another resource (issue 13, finding 9)', () => {
  it('a forged resource token naming R: R\'s cached token is not shown to M', async () => {
    const w = await world();
    expect((await w.hosted.agent.fetch(`${w.r.origin}/data`)).status).toBe(200);
    expect(w.posts).toBe(1);
    w.m.challengeWith = await mintResourceToken(generateKey({ kid: 'm-1' }), {
      issuer: w.r.origin,
      audience: w.issuer,
      agent: w.hosted.identity,
      agentJkt: w.hosted.key.thumbprint,
      scope: SCOPE,
    });
    const error = await caught(w.hosted.agent.fetch(`${w.m.origin}/steal`));
    expect(error).toBeInstanceOf(AAuthChallengeError);
    expect(error).toMatchObject({ code: 'challenge_resource_mismatch', status: 502 });
    expect(w.m.tokens).toEqual([]);
    expect(w.m.requests).toEqual(['GET /steal']);
    expect(w.posts).toBe(1);
    // R's token is still cached and still works at R.
    expect((await w.hosted.agent.fetch(`${w.r.origin}/data`)).status).toBe(200);
    expect(w.posts).toBe(1);
  });

  it('a resource token R issued to this agent, replayed by M, is never taken to the auth server', async () => {
    const w = await world();
    w.m.challengeWith = await genuineResourceToken(w);
    expect(decodeToken(w.m.challengeWith).claims.iss).toBe(w.r.origin);
    const error = await caught(w.hosted.agent.fetch(`${w.m.origin}/steal`));
    expect(error).toMatchObject({ code: 'challenge_resource_mismatch', status: 502 });
    expect(w.posts).toBe(0);
    expect(w.m.tokens).toEqual([]);
  });

  it('the same refusal through got 14', async () => {
    const w = await world();
    expect((await w.hosted.agent.fetch(`${w.r.origin}/data`)).status).toBe(200);
    w.m.challengeWith = await genuineResourceToken(w);
    const error = await caught(w.hosted.agent.extendGot(got)(`${w.m.origin}/steal`));
    expect(error).toMatchObject({ code: 'challenge_resource_mismatch', cause: { code: 'challenge_resource_mismatch', status: 502 } });
    expect(w.m.tokens).toEqual([]);
    expect(w.posts).toBe(1);
  });

  it('M redirecting to R does not make R\'s token M\'s route hint', async () => {
    const w = await world();
    w.m.redirectTo = `${w.r.origin}/data`;
    for (let i = 0; i < 2; i++) {
      const res = await w.hosted.agent.fetch(`${w.m.origin}/hop`);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
    }
    expect(w.m.requests).toEqual(['GET /hop', 'GET /hop']);
    expect(w.m.tokens).toEqual([]);
  });
});
