import { AAuthChallengeError, type AgentEvent, type Clarification, createAgent, createAgentProvider, type Interaction } from '@aauth-kit/agent';
import { decodeToken, generateKey, isAAuthError, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestAuthServer } from './fixtures/fake-auth-server.js';
import { hostProvider as hostProviderOn } from './fixtures/agent-provider.js';
import { listen } from './fixtures/http.js';
import { createPersonServer11, type PersonServer11, type PersonServer11Options } from './fixtures/person-server-11.js';
import { createResource11, type Resource11, type Resource11Options } from './fixtures/resource-11.js';

// The agent speaking AAuth -11 (issue 15, helper C) over real loopback HTTP: its own agent
// provider, a minimal -11 person server and resource (test/fixtures/*-11.ts), with the loopback
// relaxation on. Each case asserts what the other side saw.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** A loopback server hosting an agent provider's documents. */
const hostProvider = (key?: SigningKey) => hostProviderOn(open, { ...(key ? { key } : {}), metadata: { name: 'Test agent' } });

interface World {
  ps: PersonServer11;
  resource: Resource11;
  agent: ReturnType<typeof createAgent>;
  events: AgentEvent[];
  interactions: Interaction[];
}

async function world(
  opts: {
    ps?: PersonServer11Options;
    resource?: Partial<Resource11Options>;
    agentNow?: () => number;
    approve?: boolean;
    ask?: (i: Interaction) => void;
    onClarification?: (c: Clarification) => string | Promise<string>;
    interactionTimeoutMs?: number;
  } = {},
): Promise<World> {
  const ps = await createPersonServer11(opts.ps);
  open.push(ps);
  const resource = await createResource11({
    routes: { '/hello': { mode: 'agent-token' }, '/me': { mode: 'person-token' }, '/data': { mode: 'auth-token' }, '/held': { mode: 'held' }, '/session': { mode: 'session' } },
    ...opts.resource,
  });
  open.push(resource);
  const { provider } = await hostProvider();
  const events: AgentEvent[] = [];
  const interactions: Interaction[] = [];
  const agent = createAgent({
    key: generateKey({ kid: 'agent-key-1' }),
    draft11: { provider, local: 'tester', ps: ps.issuer, allowLoopback: true },
    onEvent: (e) => events.push(e),
    sleep: async () => undefined,
    ...(opts.agentNow ? { now: opts.agentNow } : {}),
    ...(opts.onClarification ? { onClarification: opts.onClarification } : {}),
    ...(opts.interactionTimeoutMs !== undefined ? { interactionTimeoutMs: opts.interactionTimeoutMs } : {}),
    onInteraction: (i) => {
      interactions.push(i);
      if (opts.ask !== undefined) return opts.ask(i);
      // The person approves at the interaction URL: the person server or the resource hears the code.
      if (opts.approve !== false) {
        ps.approve(i.code);
        resource.approve(i.code);
      } else ps.deny(i.code);
    },
  });
  return { ps, resource, agent, events, interactions };
}

describe('the agent provider (profile sections 2 and 6)', () => {
  it('serves aauth-agent.json with issuer and jwks_uri, keys with alg, and mints aa-agent+jwt tokens bound to the agent key', async () => {
    const { provider, origin } = await hostProvider();
    const meta = (await (await fetch(`${origin}/.well-known/aauth-agent.json`)).json()) as Record<string, string>;
    expect(meta).toEqual({ issuer: origin, jwks_uri: `${origin}/.well-known/jwks.json`, name: 'Test agent' });
    const jwks = (await (await fetch(meta.jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519', kid: 'ap-key-1' });

    const agentKey = generateKey({ kid: 'a-1' });
    const agent = createAgent({ key: agentKey, draft11: { provider, local: 'planner.7f3c', ps: 'https://ps.example', agentTokenLifetime: 86_400 } });
    expect(agent.generationFor('https://r.example/x')).toBe('draft-11');
    const token = await agent.agentToken();
    const { header, claims } = decodeToken(token);
    expect(header).toEqual({ typ: 'aa-agent+jwt', alg: 'Ed25519', kid: 'ap-key-1' });
    expect(claims).toMatchObject({
      iss: origin,
      dwk: 'aauth-agent.json',
      sub: `aauth:planner.7f3c@${new URL(origin).host}`,
      ps: 'https://ps.example',
      cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: agentKey.jwk.x, alg: 'Ed25519' } },
    });
    expect((claims.exp as number) - (claims.iat as number)).toBe(86_400);
    expect(() => createAgent({ key: agentKey, draft11: { provider, agentTokenLifetime: 86_401 } })).toThrow('at most 86400');
    expect(() => createAgentProvider({ issuer: origin, key: agentKey })).toThrow('must use https');
  });
});

describe('an -11 agent against an -11 resource and person server', () => {
  it('presents its agent token under sig=jwt for agent-identity access', async () => {
    const w = await world();
    const res = await w.agent.fetch(`${w.resource.issuer}/hello`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ kind: 'aa-agent+jwt', sub: `aauth:tester@${new URL(body.iss as string).host}` });
    expect(w.resource.calls.map((c) => [c.kind, c.status])).toEqual([['aa-agent+jwt', 200]]);
    expect(w.resource.calls[0]!.components).toEqual(['@method', '@authority', '@path', 'signature-key']);
    expect(w.ps.calls).toHaveLength(0);
    // -11 "AAuth-Capabilities": an agent with onInteraction declares it to the resource.
    expect(w.resource.calls[0]!.capabilities).toBe('interaction');
  });

  it('declares no capability without onInteraction, and keeps an AAuth-Capabilities header the caller set', async () => {
    const w = await world();
    const { provider } = await hostProvider();
    const quiet = createAgent({ key: generateKey({ kid: 'quiet-1' }), draft11: { provider, local: 'quiet', ps: w.ps.issuer, allowLoopback: true } });
    expect((await quiet.fetch(`${w.resource.issuer}/hello`)).status).toBe(200);
    expect((await w.agent.fetch(`${w.resource.issuer}/hello`, { headers: { 'AAuth-Capabilities': 'interaction, payment' } })).status).toBe(200);
    expect(w.resource.calls.map((c) => c.capabilities)).toEqual([undefined, 'interaction, payment']);
  });

  it('answers person-token then auth-token: person token, resource token checks, auth token with presented_token, 202 interaction and polling', async () => {
    const w = await world({ ps: { interactionForAuth: true, extraPolls: 1 } });
    const res = await w.agent.fetch(`${w.resource.issuer}/data`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"q":1}' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.kind).toBe('aa-auth+jwt');
    expect(body.scope).toBe('data.read');
    expect(w.resource.calls.map((c) => [c.kind, c.status])).toEqual([
      ['aa-agent+jwt', 401],
      ['aa-person+jwt', 401],
      ['aa-auth+jwt', 200],
    ]);
    // The person the resource saw is the one the person server issued for this resource.
    expect(w.ps.personOf(body.sub as string)).toMatch(/^person-of:aauth:tester@/);

    const paths = w.ps.calls.map((c) => [c.method, c.path, c.status]);
    expect(paths).toEqual([
      ['POST', '/person-token', 200],
      ['POST', '/token', 202],
      ['GET', '/pending', 202], // approved, still answering {"status":"interacting"}
      ['GET', '/pending', 200],
    ]);
    const personReq = w.ps.calls[0]!;
    expect(personReq.body).toEqual({ resource: w.resource.issuer, capabilities: ['interaction'] });
    expect(personReq.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);
    const tokenReq = w.ps.calls[1]!.body!;
    const rt = decodeToken(tokenReq.resource_token as string);
    const presented = decodeToken(tokenReq.presented_token as string);
    expect(presented.header.typ).toBe('aa-person+jwt');
    expect(rt.claims.presented_jti).toBe(presented.claims.jti);
    expect(rt.claims.sub).toBe(presented.claims.sub);
    expect(w.interactions).toHaveLength(1);
    expect(w.interactions[0]!.url).toBe(`${w.ps.issuer}/interaction?code=${encodeURIComponent(w.interactions[0]!.code)}`);
    expect(w.interactions[0]!.code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);

    // The auth token is kept for the resource: the next call presents it at once.
    const again = await w.agent.fetch(`${w.resource.issuer}/data`);
    expect(again.status).toBe(200);
    expect(w.resource.calls.slice(3).map((c) => [c.kind, c.status])).toEqual([['aa-auth+jwt', 200]]);
    expect(w.ps.calls).toHaveLength(4);
  });

  it('finishes a held call (202 requirement=auth-token) at the pending URL, presenting the auth token', async () => {
    const w = await world();
    const res = await w.agent.fetch(`${w.resource.issuer}/held`, { method: 'POST', body: 'order' });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true, held: true, path: '/held', kind: 'aa-auth+jwt' });
    expect(w.resource.calls.map((c) => [c.method, c.path, c.kind, c.status])).toEqual([
      ['POST', '/held', 'aa-agent+jwt', 401],
      ['POST', '/held', 'aa-person+jwt', 202],
      ['GET', expect.stringMatching(/^\/pending\//), 'aa-auth+jwt', 200],
    ]);
    expect(w.resource.executions).toBe(1);
  });

  it('runs a resource-managed interaction, keeps the AAuth-Access session token and covers authorization with it', async () => {
    const w = await world();
    const first = await w.agent.fetch(`${w.resource.issuer}/session`);
    expect(first.status).toBe(200);
    expect(first.headers.get('aauth-access')).toMatch(/^sess-/);
    expect(w.interactions[0]!.url).toBe(`${w.resource.issuer}/interact?code=${w.interactions[0]!.code}`);
    const second = await w.agent.fetch(`${w.resource.issuer}/session`);
    expect(second.status).toBe(200);
    expect(await second.json()).toMatchObject({ session: true, kind: 'aa-agent+jwt' });
    const last = w.resource.calls.at(-1)!;
    expect(last.session).toBe(true);
    expect(last.components).toEqual(['@method', '@authority', '@path', 'authorization', 'signature-key']);
  });

  it('retries once after clock_skew, with its clock corrected from Date', async () => {
    const w = await world({ agentNow: () => Date.now() / 1000 + 600 });
    const res = await w.agent.fetch(`${w.resource.issuer}/hello`);
    expect(res.status).toBe(200);
    expect(w.resource.calls.map((c) => [c.status, c.signatureError])).toEqual([
      [401, 'clock_skew'],
      [200, undefined],
    ]);
  });

  it('drops a revoked auth token and earns a new one', async () => {
    const w = await world();
    expect((await w.agent.fetch(`${w.resource.issuer}/data`)).status).toBe(200);
    const used = w.resource.calls.at(-1)!;
    expect(used.kind).toBe('aa-auth+jwt');
    w.resource.revoke(used.jti!);
    const res = await w.agent.fetch(`${w.resource.issuer}/data`);
    expect(res.status).toBe(200);
    // AG-60: revoked_jwt on the auth token -> the held person token -> a new resource token and auth token.
    expect(w.resource.calls.slice(3).map((c) => [c.kind, c.status, c.signatureError])).toEqual([
      ['aa-auth+jwt', 401, 'revoked_jwt'],
      ['aa-person+jwt', 401, undefined],
      ['aa-auth+jwt', 200, undefined],
    ]);
    expect(w.resource.calls.at(-1)!.jti).not.toBe(used.jti);
    expect(w.ps.calls.map((c) => c.path)).toEqual(['/person-token', '/token', '/token']);
  });

  it('presents an auth token the caller passes (init.authToken) on the first attempt', async () => {
    const w = await world();
    expect((await w.agent.fetch(`${w.resource.issuer}/data`)).status).toBe(200);
    const authToken = w.resource.calls.at(-1)!.token!;
    w.agent.flush(); // nothing cached: only the caller's token
    const res = await w.agent.fetch(`${w.resource.issuer}/data`, { authToken });
    expect(res.status).toBe(200);
    expect(w.resource.calls.slice(3).map((c) => [c.kind, c.status, c.token === authToken])).toEqual([['aa-auth+jwt', 200, true]]);
    const error = await w.agent.fetch(`${w.resource.issuer}/data`, { authToken: w.resource.calls[1]!.token! }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'token_typ_invalid', status: 502 }); // a person token is not an auth token
  });

  it('an external agent token source: called again when the resource refuses the agent token (revoked_jwt)', async () => {
    const ps = await createPersonServer11();
    open.push(ps);
    const resource = await createResource11({ routes: { '/hello': { mode: 'agent-token' } } });
    open.push(resource);
    const { provider } = await hostProvider();
    const key = generateKey({ kid: 'ext-agent' });
    const minted: string[] = [];
    const agent = createAgent({
      key,
      draft11: { agentToken: () => minted[minted.push(provider.mintAgentToken({ local: 'external', agentKey: key, ps: ps.issuer })) - 1]!, allowLoopback: true },
    });
    expect((await agent.fetch(`${resource.issuer}/hello`)).status).toBe(200);
    resource.revoke(resource.calls[0]!.jti!);
    const res = await agent.fetch(`${resource.issuer}/hello`);
    expect(res.status).toBe(200);
    expect(minted).toHaveLength(2);
    expect(resource.calls.map((c) => [c.status, c.signatureError, c.jti])).toEqual([
      [200, undefined, resource.calls[0]!.jti],
      [401, 'revoked_jwt', resource.calls[0]!.jti],
      [200, undefined, decodeToken(minted[1]!).claims.jti],
    ]);
  });

  it('refuses, before any network, a resource token that names another key, resource, person server or presented token', async () => {
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ agent_jkt: 'AAAA' }, 'resource_token_not_for_agent'],
      [{ iss: 'https://other-resource.example' }, 'challenge_resource_mismatch'],
      [{ ps: 'https://other-ps.example' }, 'resource_token_not_for_agent'],
      [{ presented_jti: 'not-presented' }, 'resource_token_not_for_agent'],
      [{ sub: 'someone-else' }, 'resource_token_not_for_agent'],
      [{ exp: 1 }, 'token_expired'],
      [{ dwk: 'aauth-person.json' }, 'token_claim_invalid'],
    ];
    for (const [change, code] of cases) {
      const w = await world({ resource: { tamperResourceToken: (claims) => Object.assign(claims, change) } });
      const error = await w.agent.fetch(`${w.resource.issuer}/data`).catch((e: unknown) => e);
      expect(error, JSON.stringify(change)).toBeInstanceOf(AAuthChallengeError);
      expect((error as AAuthChallengeError).code, JSON.stringify(change)).toBe(code);
      expect((error as AAuthChallengeError).status).toBe(502);
      // The person token was requested; the auth token request never left.
      expect(w.ps.calls.map((c) => c.path)).toEqual(['/person-token']);
    }
  });

  it('refuses an issued auth token for another resource or another key, and caches nothing', async () => {
    const other = generateKey();
    const cases: Array<[PersonServer11Options['tamperAuthToken'], string]> = [
      [(c) => void (c.aud = 'https://elsewhere.example'), 'issued_token_audience_invalid'],
      [(c) => void (c.cnf = { jwk: { kty: 'OKP', crv: 'Ed25519', x: other.jwk.x, alg: 'Ed25519' } }), 'issued_token_unbound'],
      [(c) => void (c.cnf = { jwk: { kty: 'OKP', crv: 'Ed25519', x: (c.cnf as { jwk: { x: string } }).jwk.x } }), 'issued_token_unbound'],
    ];
    for (const [tamperAuthToken, code] of cases) {
      const w = await world({ ps: { tamperAuthToken } });
      const error = await w.agent.fetch(`${w.resource.issuer}/data`).catch((e: unknown) => e);
      expect(isAAuthError(error) && error.code).toBe(code);
      expect(w.resource.calls.filter((c) => c.kind === 'aa-auth+jwt')).toHaveLength(0);
    }
  });

  it('a caller that gives up during consent: polling stops, and the next call asks the person again (before: it joined the abandoned consent)', async () => {
    let ask: (i: Interaction) => void = () => undefined;
    const w = await world({ ps: { interactionForAuth: true }, ask: (i) => ask(i) });
    const gaveUp = new AbortController();
    ask = () => gaveUp.abort();
    const e = await w.agent.fetch(`${w.resource.issuer}/data`, { signal: gaveUp.signal }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('AbortError');
    const pending = () => w.ps.calls.filter((c) => c.path === '/pending' && c.method === 'GET').length;
    const polled = pending();
    // The agent's sleep is instant here: a poll loop left running would poll hundreds of times meanwhile.
    await new Promise((r) => setTimeout(r, 200));
    expect(pending()).toBe(polled);
    ask = (i) => {
      w.ps.approve(i.code);
      w.resource.approve(i.code);
    };
    expect((await w.agent.fetch(`${w.resource.issuer}/data`)).status).toBe(200);
    expect(w.interactions).toHaveLength(2);
    expect(w.interactions[1]!.code).not.toBe(w.interactions[0]!.code);
  });

  it('surfaces a denied interaction as interaction_denied', async () => {
    const w = await world({ ps: { interactionForAuth: true }, approve: false });
    const error = await w.agent.fetch(`${w.resource.issuer}/data`).catch((e: unknown) => e);
    expect(isAAuthError(error) && error.code).toBe('interaction_denied');
    expect(isAAuthError(error) && error.message).toContain('denied');
  });
});

describe('clarification chat (AAuth -11 "Clarification Chat"): the person server asks the agent a question', () => {
  /** The withdrawal is sent on its own: wait for the person server to have it. */
  async function withdrawnAt(ps: PersonServer11): Promise<string[]> {
    for (let i = 0; i < 100 && ps.withdrawn.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    return ps.withdrawn;
  }

  it('onClarification gets each question (options, timeout, the server, the pending URL); each answer is a signed POST of clarification_response; polls go on and the token is issued', async () => {
    const asked: Clarification[] = [];
    const w = await world({
      ps: { clarifyAuth: { questions: ['Why do you need **data**?', 'For how long?'], options: ['a day', 'a week'], timeout: 120 } },
      onClarification: async (c) => {
        asked.push(c);
        return asked.length === 1 ? 'To reorder stock.' : 'a day';
      },
    });
    const res = await w.agent.fetch(`${w.resource.issuer}/data`);
    expect(res.status).toBe(200);
    expect(asked.map((c) => c.question)).toEqual(['Why do you need **data**?', 'For how long?']);
    expect(asked[0]).toMatchObject({ options: ['a day', 'a week'], timeout: 120, authServer: w.ps.issuer });
    expect(asked[0]!.location).toMatch(new RegExp(`^${w.ps.issuer}/pending/[0-9a-f-]{36}$`));
    expect(w.ps.answers).toEqual(['To reorder stock.', 'a day']);
    expect(w.ps.calls.filter((c) => c.path !== '/person-token').map((c) => [c.method, c.path, c.status])).toEqual([
      ['POST', '/token', 202],
      ['POST', '/pending', 204],
      ['GET', '/pending', 202],
      ['POST', '/pending', 204],
      ['GET', '/pending', 200],
    ]);
    const posted = w.ps.calls.find((c) => c.method === 'POST' && c.path === '/pending')!;
    expect(posted.body).toEqual({ action: 'clarification_response', clarification_response: 'To reorder stock.' });
    expect(posted.components).toEqual(['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key']);
    // The capability is declared to the person server (and to resources).
    expect(w.ps.calls.find((c) => c.path === '/token')!.body!.capabilities).toEqual(['interaction', 'clarification']);
    expect(w.events.filter((e) => e.type === 'clarification').map((e) => (e as { question: string }).question)).toEqual(['Why do you need **data**?', 'For how long?']);
    expect(w.ps.withdrawn).toEqual([]);
  });

  it('without onClarification: the request is withdrawn (DELETE) and the call fails challenge_unsatisfiable quoting the question; no clarification capability', async () => {
    const w = await world({ ps: { clarifyAuth: { questions: ['Why?'] } } });
    const error = await w.agent.fetch(`${w.resource.issuer}/data`).then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(error) && [error.code, error.message]).toEqual([
      'challenge_unsatisfiable',
      'The person server asks a clarification ("Why?") and this agent answers none (no onClarification); the request was withdrawn',
    ]);
    expect(await withdrawnAt(w.ps)).toHaveLength(1);
    expect(w.ps.calls.find((c) => c.path === '/token')!.body!.capabilities).toEqual(['interaction']);
    expect(w.ps.answers).toEqual([]);
  });

  it('a handler that throws, or answers with no text: the call fails with that error, the request is withdrawn, nothing is posted', async () => {
    for (const [answer, expected] of [
      [() => Promise.reject(new Error('the operator is away')), 'the operator is away'],
      [() => '  ', 'onClarification must return (or resolve to) a non-empty string of at most 16384 characters, the answer to the person\'s question'],
      [() => 'x'.repeat(16_385), 'onClarification must return (or resolve to) a non-empty string of at most 16384 characters, the answer to the person\'s question'],
    ] as const) {
      const w = await world({ ps: { clarifyAuth: { questions: ['Why?'] } }, onClarification: answer as () => string });
      const error = await w.agent.fetch(`${w.resource.issuer}/data`).then(() => undefined, (e: unknown) => e);
      expect((error as Error).message).toBe(expected);
      expect(await withdrawnAt(w.ps)).toHaveLength(1);
      expect(w.ps.calls.filter((c) => c.method === 'POST' && c.path === '/pending')).toEqual([]);
    }
  });

  it('a handler that never answers: the call ends at interactionTimeoutMs (interaction_timeout) and the request is withdrawn', async () => {
    const w = await world({ ps: { clarifyAuth: { questions: ['Why?'] } }, onClarification: () => new Promise<string>(() => undefined), interactionTimeoutMs: 300 });
    const error = await w.agent.fetch(`${w.resource.issuer}/data`).then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(error) && [error.code, error.message]).toEqual(['interaction_timeout', 'onClarification did not answer the person server\'s question before the interaction deadline (interactionTimeoutMs); the request was withdrawn']);
    expect(await withdrawnAt(w.ps)).toHaveLength(1);
    expect(w.ps.answers).toEqual([]);
  });

  it('a caller that gives up while onClarification runs: the call ends with its abort and the request is withdrawn at once', async () => {
    const gaveUp = new AbortController();
    const w = await world({
      ps: { clarifyAuth: { questions: ['Why?'] } },
      onClarification: () => {
        gaveUp.abort();
        return new Promise<string>(() => undefined);
      },
    });
    const error = await w.agent.fetch(`${w.resource.issuer}/data`, { signal: gaveUp.signal }).then(() => undefined, (e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    expect(await withdrawnAt(w.ps)).toHaveLength(1);
    expect(w.ps.answers).toEqual([]);
  });

  it('a sixth clarification, or one without a question: withdrawn, auth_server_error (502) saying which', async () => {
    const six = await world({ ps: { clarifyAuth: { questions: ['1', '2', '3', '4', '5', '6'] } }, onClarification: () => 'yes' });
    const tooMany = await six.agent.fetch(`${six.resource.issuer}/data`).then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(tooMany) && [tooMany.code, tooMany.status, tooMany.message]).toEqual(['auth_server_error', 502, 'The person server asked another clarification after 5 in one request; the request was withdrawn']);
    expect(six.ps.answers).toEqual(['yes', 'yes', 'yes', 'yes', 'yes']);
    expect(await withdrawnAt(six.ps)).toHaveLength(1);

    const blank = await world({ ps: { clarifyAuth: { questions: ['unused'], body: { clarification: 42 } } }, onClarification: () => 'yes' });
    const noQuestion = await blank.agent.fetch(`${blank.resource.issuer}/data`).then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(noQuestion) && noQuestion.message).toBe(
      'The person server asks a clarification without a question (its body needs "clarification": a non-empty string of at most 16384 characters); the request was withdrawn',
    );
    expect(await withdrawnAt(blank.ps)).toHaveLength(1);
  });
});

describe('call chaining in -11 (profile section 8, item 7)', () => {
  it('the intermediary gets a person token with upstream_token, then an auth token from the upstream token\'s ps', async () => {
    const ps = await createPersonServer11();
    open.push(ps);
    const downstream = await createResource11({ routes: { '/market': { mode: 'auth-token', scope: 'market.read' } } });
    open.push(downstream);
    let intermediaryAgent: ReturnType<typeof createAgent> | undefined;
    const intermediary = await createResource11({
      routes: {
        '/report': {
          mode: 'auth-token',
          handler: async ({ token, claims }) => {
            // The route's caller presented an auth token: pass it on as upstream_token (a body parameter only).
            const r = await intermediaryAgent!.fetch(`${downstream.issuer}/market`, { upstreamToken: token });
            return { upstreamSub: claims.sub, downstream: await r.json() };
          },
        },
      },
    });
    open.push(intermediary);
    // The intermediary is its own agent provider, at its own identifier (the upstream token's aud).
    const provider = createAgentProvider({ issuer: intermediary.issuer, key: generateKey({ kid: 'r1-ap' }), allowLoopback: true });
    intermediary.mount(provider.wellKnown() as express.RequestHandler);
    intermediaryAgent = createAgent({ key: generateKey({ kid: 'r1-agent' }), draft11: { provider, local: 'report', allowLoopback: true } });

    const { provider: userProvider } = await hostProvider();
    const user = createAgent({ key: generateKey({ kid: 'user-agent' }), draft11: { provider: userProvider, local: 'assistant', ps: ps.issuer, allowLoopback: true } });
    const res = await user.fetch(`${intermediary.issuer}/report`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { upstreamSub: string; downstream: { kind: string; sub: string; scope: string } };
    expect(body.downstream).toMatchObject({ kind: 'aa-auth+jwt', scope: 'market.read' });
    // Directed identifiers: another sub at each resource, the same person behind both.
    expect(body.downstream.sub).not.toBe(body.upstreamSub);
    expect(ps.personOf(body.downstream.sub)).toBe(ps.personOf(body.upstreamSub));

    const chained = ps.calls.filter((c) => c.agentSub === `aauth:report@${new URL(intermediary.issuer).host}`);
    expect(chained.map((c) => c.path)).toEqual(['/person-token', '/token']);
    const upstreamToken = decodeToken(chained[0]!.body!.upstream_token as string);
    expect(upstreamToken.header.typ).toBe('aa-auth+jwt');
    expect(upstreamToken.claims.aud).toBe(intermediary.issuer);
    expect(chained[0]!.body!.resource).toBe(downstream.issuer);
    expect(chained[1]!.body!.upstream_token).toBe(chained[0]!.body!.upstream_token);
    expect(downstream.calls.map((c) => [c.kind, c.status])).toEqual([
      ['aa-agent+jwt', 401],
      ['aa-person+jwt', 401],
      ['aa-auth+jwt', 200],
    ]);
  });
});

describe('one agent, both generations', () => {
  it('calls a Keycloak-profile resource and an -11 resource in one process, each in its own generation', async () => {
    const as = await createTestAuthServer();
    open.push(as);
    const app = express();
    const kc = await listen(app);
    open.push(kc);
    const kcResource = createResource({ identity: kc.origin, key: generateKey({ kid: 'kc-r-1' }), authServer: as.issuer, scopes: { 'data.read': 'Read' } });
    app.use(kcResource.wellKnown());
    app.get('/data', kcResource.require({ scope: 'data.read' }), (req: Request, res: Response) => {
      res.json({ scheme: req.aauth!.scheme, typ: req.aauth!.token ? decodeToken(req.aauth!.token.raw).header.typ : undefined });
    });

    const ps = await createPersonServer11();
    open.push(ps);
    const r11 = await createResource11({ routes: { '/data': { mode: 'auth-token' } } });
    open.push(r11);
    const { provider } = await hostProvider();

    // The agent's Keycloak-profile identity is a loopback server serving its aauth-agent.json.
    let serve: express.RequestHandler = (_q, _s, next) => next();
    const idApp = express();
    idApp.use((q, s, n) => serve(q, s, n));
    const id = await listen(idApp);
    open.push(id);
    const agent = createAgent({
      identity: id.origin,
      key: generateKey({ kid: 'both-1' }),
      authServer: as.issuer,
      draft11: { provider, ps: ps.issuer, allowLoopback: true },
    });
    serve = agent.wellKnown() as express.RequestHandler;

    const kcRes = await agent.fetch(`${kc.origin}/data`);
    expect(kcRes.status).toBe(200);
    expect(await kcRes.json()).toEqual({ scheme: 'jwt', typ: 'auth+jwt' });
    expect(agent.generationFor(kc.origin)).toBe('keycloak');

    const r11Res = await agent.fetch(`${r11.issuer}/data`);
    expect(r11Res.status).toBe(200);
    expect(await r11Res.json()).toMatchObject({ kind: 'aa-auth+jwt', scope: 'data.read' });
    // The Keycloak-profile first attempt met an -11 answer; the call went on in -11.
    expect(r11.calls.map((c) => [c.kind, c.status, c.signatureError])).toEqual([
      [undefined, 401, undefined],
      ['aa-agent+jwt', 401, undefined],
      ['aa-person+jwt', 401, undefined],
      ['aa-auth+jwt', 200, undefined],
    ]);
    expect(agent.generationFor(r11.issuer)).toBe('draft-11');

    // Next calls go straight to each generation.
    expect((await agent.fetch(`${r11.issuer}/data`)).status).toBe(200);
    expect(r11.calls).toHaveLength(5);
    expect((await agent.fetch(`${kc.origin}/data`)).status).toBe(200);
    expect(as.tokenRequests).toHaveLength(1);
  });
});
