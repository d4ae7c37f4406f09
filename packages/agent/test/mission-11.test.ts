import { createHash, randomUUID } from 'node:crypto';
import { decodeToken, generateKey, isAAuthError } from '@aauth-kit/core';
import express from 'express';
import got, { RequestError } from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { type Agent, createAgent, createAgentProvider } from '../src/index.js';
import { parseIssued11 } from '../src/lib/checks-11.js';
import { listen } from '../../../test/fixtures/http.js';
import { jwk11, mint11, problem, verifySigned11, verifyToken11 } from '../../../test/fixtures/person-server-11.js';
import { createResource11, type Resource11 } from '../../../test/fixtures/resource-11.js';

// The kit agent within a mission (AAuth -11 "Missions", "Person Token Endpoint", issue 16 helper F):
// `mission_s256` in the person token request (per call, or the agent's default), person and auth
// tokens held per (resource, mission), and the issued tokens checked to carry the mission asked
// for (person token) or the resource token's (auth token). Over loopback, against the -11
// resource of test/fixtures and a small mission-aware person server defined here.

const M1 = createHash('sha256').update('{"description":"Plan the trip"}').digest('base64url');
const M2 = createHash('sha256').update('{"description":"Book the hotel"}').digest('base64url');

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface MissionPs {
  issuer: string;
  /** Bodies of the person token requests, in order. */
  personRequests: Array<Record<string, unknown>>;
  /** Bodies of the auth token requests, in order. */
  authRequests: Array<Record<string, unknown>>;
  /** `mission_s256` of each person token issued, by jti (what a -11 person server retains). */
  missions: Map<string, string | undefined>;
  /** Bodies of the mission proposals, in order. */
  proposals: Array<Record<string, unknown>>;
}

interface Hostile {
  /** The mission the person token carries, given the one asked for (default: the one asked for). */
  personMission?: (asked: string | undefined) => string | undefined;
  /** The mission the auth token carries, given the resource token's (default: copied). */
  authMission?: (fromResourceToken: string | undefined) => string | undefined;
  /** The mission the resource copies, given the person token's (default: copied unchanged). */
  resourceMission?: (fromPersonToken: string | undefined) => string | undefined;
  /** The `s256` the mission approval names, given the true one (default: the true one). */
  approvalS256?: (s256: string) => string;
  /** Publish no `mission_endpoint`. */
  noMissions?: true;
}

/** A -11 person server that stamps `mission_s256` as asked (unless told otherwise), on loopback. */
async function missionPs(hostile: Hostile): Promise<MissionPs> {
  const key = generateKey({ kid: 'mission-ps-1' });
  const state: MissionPs = { issuer: '', personRequests: [], authRequests: [], missions: new Map(), proposals: [] };
  const app = express();
  app.use(express.raw({ type: '*/*' }));
  app.get('/.well-known/aauth-person.json', (_req, res) => {
    res.json({
      issuer: state.issuer,
      jwks_uri: `${state.issuer}/jwks.json`,
      person_token_endpoint: `${state.issuer}/person`,
      auth_token_endpoint: `${state.issuer}/token`,
      ...(hostile.noMissions ? {} : { mission_endpoint: `${state.issuer}/mission` }),
    });
  });
  app.get('/jwks.json', (_req, res) => res.json({ keys: [{ ...jwk11(key), kid: key.kid }] }));
  const signedBody = async (req: express.Request, res: express.Response): Promise<{ agent: Record<string, unknown>; body: Record<string, unknown> } | undefined> => {
    try {
      const { claims } = await verifySigned11(req, state.issuer, { 'aa-agent+jwt': 'aauth-agent.json' });
      return { agent: claims, body: JSON.parse(Buffer.from(req.body as Buffer).toString('utf8')) as Record<string, unknown> };
    } catch (error) {
      problem(res, 401, 'invalid_signature', (error as Error).message);
      return undefined;
    }
  };
  const personToken = async (agent: Record<string, unknown>, resource: unknown, mission: string | undefined): Promise<string> => {
    const iat = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    state.missions.set(jti, mission);
    const claims = { iss: state.issuer, dwk: 'aauth-person.json', aud: resource, sub: 'person-1', cnf: agent.cnf, jti, iat, exp: iat + 3600, ...(mission ? { mission_s256: mission } : {}) };
    return mint11(key, 'aa-person+jwt', claims);
  };
  // -11 "Mission Creation" / "Mission Approval": 202, then the poll answers the approved blob, its s256 and person tokens.
  const approvals = new Map<string, () => Promise<Record<string, unknown>>>();
  app.post('/mission', async (req, res) => {
    const signed = await signedBody(req, res);
    if (signed === undefined) return;
    state.proposals.push(signed.body);
    const id = randomUUID();
    approvals.set(id, async () => {
      const blob = Buffer.from(JSON.stringify({ approver: state.issuer, agent: signed.agent.sub, approved_at: new Date().toISOString(), description: signed.body.description }));
      const s256 = createHash('sha256').update(blob).digest('base64url');
      const resources = (signed.body.resources ?? []) as string[];
      const personTokens: Record<string, string> = {};
      for (const r of resources) personTokens[r] = await personToken(signed.agent, r, s256);
      return { s256: hostile.approvalS256 ? hostile.approvalS256(s256) : s256, mission: blob.toString('base64url'), capabilities: ['interaction'], person_tokens: personTokens };
    });
    res.status(202).set('Location', `/mission-pending/${id}`).set('Retry-After', '0').json({ status: 'pending' });
  });
  app.get('/mission-pending/:id', async (req, res) => {
    if ((await verifySigned11(req, state.issuer, { 'aa-agent+jwt': 'aauth-agent.json' }).catch(() => undefined)) === undefined) return problem(res, 401, 'invalid_signature', 'sign the poll');
    const approve = approvals.get(req.params.id);
    if (approve === undefined) return problem(res, 410, 'invalid_code', 'gone');
    approvals.delete(req.params.id);
    res.json(await approve());
  });
  app.post('/person', async (req, res) => {
    const signed = await signedBody(req, res);
    if (signed === undefined) return;
    state.personRequests.push(signed.body);
    const asked = typeof signed.body.mission_s256 === 'string' ? signed.body.mission_s256 : undefined;
    const mission = hostile.personMission ? hostile.personMission(asked) : asked;
    res.json({ person_token: await personToken(signed.agent, signed.body.resource, mission), expires_in: 3600 });
  });
  app.post('/token', async (req, res) => {
    const signed = await signedBody(req, res);
    if (signed === undefined) return;
    state.authRequests.push(signed.body);
    const rt = await verifyToken11(String(signed.body.resource_token), 'aa-resource+jwt', 'aauth-resource.json');
    const fromRt = typeof rt.mission_s256 === 'string' ? rt.mission_s256 : undefined;
    const mission = hostile.authMission ? hostile.authMission(fromRt) : fromRt;
    const iat = Math.floor(Date.now() / 1000);
    const claims = { iss: state.issuer, dwk: 'aauth-person.json', aud: rt.iss, jti: randomUUID(), ps: state.issuer, sub: rt.sub, cnf: signed.agent.cnf, scope: rt.scope, iat, exp: iat + 3600, ...(mission ? { mission_s256: mission } : {}) };
    res.json({ auth_token: await mint11(key, 'aa-auth+jwt', claims), expires_in: 3600 });
  });
  const listening = await listen(app);
  open.push(listening);
  state.issuer = listening.origin;
  return state;
}

interface World {
  ps: MissionPs;
  resource: Resource11;
  /** A -11 agent of this world (its own provider on loopback). */
  agent(draft11?: { missionS256?: string }): Agent;
}

async function world(hostile: Hostile = {}): Promise<World> {
  const ps = await missionPs(hostile);
  const echo = ({ kind, claims }: { kind: string; claims: Record<string, unknown> }) => ({ kind, mission: claims.mission_s256 ?? null, scope: claims.scope ?? null });
  const resource = await createResource11({
    routes: { '/me': { mode: 'person-token', handler: echo }, '/data': { mode: 'auth-token', handler: echo } },
    // The resource copies `mission_s256` from the person token it verified (-11 "Resource Token").
    tamperResourceToken: (claims) => {
      const fromPerson = ps.missions.get(String(claims.presented_jti));
      const mission = hostile.resourceMission ? hostile.resourceMission(fromPerson) : fromPerson;
      if (mission !== undefined) claims.mission_s256 = mission;
    },
  });
  open.push(resource);
  const app = express();
  let handler: express.RequestHandler = (_req, _res, next) => next();
  app.use((req, res, next) => handler(req, res, next));
  const listening = await listen(app);
  open.push(listening);
  const provider = createAgentProvider({ issuer: listening.origin, key: generateKey({ kid: 'ap-1' }), allowLoopback: true });
  handler = provider.wellKnown() as express.RequestHandler;
  const key = generateKey({ kid: 'agent-1' });
  return {
    ps,
    resource,
    agent: (extra = {}) => createAgent({ key, sleep: async () => undefined, draft11: { provider, local: 'planner', ps: ps.issuer, allowLoopback: true, ...extra } }),
  };
}

const json = async (res: Response): Promise<Record<string, unknown>> => (await res.json()) as Record<string, unknown>;

describe('missionS256: the agent asks for a mission\'s person token and holds tokens per mission', () => {
  it('refuses a malformed mission at createAgent and per call, naming the option', async () => {
    const provider = createAgentProvider({ issuer: 'https://agents.example', key: generateKey() });
    const key = generateKey();
    expect(() => createAgent({ key, draft11: { provider, missionS256: 'short' } })).toThrow(TypeError);
    expect(() => createAgent({ key, draft11: { provider, missionS256: `${M1.slice(0, 42)}=` } })).toThrow(
      'options.draft11.missionS256 must be a mission\'s s256: the unpadded base64url SHA-256 of the mission blob, 43 characters (got',
    );
    expect(() => createAgent({ key, draft11: { provider, missionS256: M1 } })).not.toThrow();
    const agent = createAgent({ key, draft11: { provider }, fetch: () => Promise.reject(new Error('nothing may be sent')) });
    await expect(agent.fetch('https://r.example/x', { missionS256: M1.replace(/./, '+') })).rejects.toThrow(TypeError);
    await expect(agent.fetch('https://r.example/x', { missionS256: 42 as never })).rejects.toThrow('init.missionS256 must be a mission\'s s256');
  });

  it('sends mission_s256 in the person token request; the resource token and the auth token carry it', async () => {
    const w = await world();
    const agent = w.agent();
    const me = await agent.fetch(`${w.resource.issuer}/me`, { missionS256: M1 });
    expect(me.status).toBe(200);
    expect(await json(me)).toEqual({ kind: 'aa-person+jwt', mission: M1, scope: null });
    expect(w.ps.personRequests).toEqual([{ resource: w.resource.issuer, capabilities: [], mission_s256: M1 }]);

    const data = await agent.fetch(`${w.resource.issuer}/data`, { missionS256: M1 });
    expect(data.status).toBe(200);
    expect(await json(data)).toEqual({ kind: 'aa-auth+jwt', mission: M1, scope: 'data.read' });
    // The mission's person token was reused (one per resource and mission); the resource token copied the mission.
    expect(w.ps.personRequests).toHaveLength(1);
    expect(w.ps.authRequests).toHaveLength(1);
    expect(decodeToken(String(w.ps.authRequests[0]!.resource_token)).claims).toMatchObject({ mission_s256: M1, scope: 'data.read' });
    expect(decodeToken(String(w.ps.authRequests[0]!.presented_token)).claims).toMatchObject({ mission_s256: M1 });
  });

  it('holds one person token per (resource, mission): another mission, or none, is another request', async () => {
    const w = await world();
    const agent = w.agent();
    const url = `${w.resource.issuer}/me`;
    for (const init of [{ missionS256: M1 }, { missionS256: M2 }, {}, { missionS256: M1 }, { missionS256: M2 }, {}]) {
      const res = await agent.fetch(url, init);
      expect(await json(res)).toEqual({ kind: 'aa-person+jwt', mission: init.missionS256 ?? null, scope: null });
    }
    // Three person token requests, not six: each mission's token is held and presented again.
    expect(w.ps.personRequests.map((b) => b.mission_s256 ?? null)).toEqual([M1, M2, null]);
    expect('mission_s256' in w.ps.personRequests[2]!).toBe(false);
    // The auth token of one mission is not presented in another.
    await agent.fetch(`${w.resource.issuer}/data`, { missionS256: M1 });
    expect(await json(await agent.fetch(`${w.resource.issuer}/data`, { missionS256: M2 }))).toEqual({ kind: 'aa-auth+jwt', mission: M2, scope: 'data.read' });
    expect(w.ps.authRequests.map((b) => decodeToken(String(b.resource_token)).claims.mission_s256)).toEqual([M1, M2]);
  });

  it('options.draft11.missionS256 is every call\'s mission; init.missionS256 names another, null none', async () => {
    const w = await world();
    const agent = w.agent({ missionS256: M1 });
    expect(await json(await agent.fetch(`${w.resource.issuer}/me`))).toMatchObject({ mission: M1 });
    expect(await json(await agent.fetch(`${w.resource.issuer}/me`, { missionS256: M2 }))).toMatchObject({ mission: M2 });
    expect(await json(await agent.fetch(`${w.resource.issuer}/me`, { missionS256: null }))).toMatchObject({ mission: null });
    expect(w.ps.personRequests.map((b) => b.mission_s256 ?? null)).toEqual([M1, M2, null]);
  });

  it('the got hooks take the mission from context.aauth.missionS256', async () => {
    const w = await world();
    const client = w.agent().extendGot(got);
    const body = await client.get(`${w.resource.issuer}/data`, { context: { aauth: { missionS256: M2 } }, retry: { limit: 0 } }).json();
    expect(body).toEqual({ kind: 'aa-auth+jwt', mission: M2, scope: 'data.read' });
    expect(w.ps.personRequests).toEqual([{ resource: w.resource.issuer, capabilities: [], mission_s256: M2 }]);
    const bad = await client.get(`${w.resource.issuer}/data`, { context: { aauth: { missionS256: 'x' } }, retry: { limit: 0 } }).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(RequestError);
    expect((bad as RequestError).cause).toBeInstanceOf(TypeError);
  });
});

describe('missionS256: tokens for another mission are refused, not held', () => {
  /** The error of a call, with what the caller reads. */
  const failure = async (p: Promise<Response>): Promise<{ code: string; status: number; message: string; details: unknown }> => {
    const error = await p.then(() => undefined, (e: unknown) => e);
    expect(isAAuthError(error)).toBe(true);
    const e = error as { code: string; status: number; message: string; details: unknown };
    return { code: e.code, status: e.status, message: e.message, details: e.details };
  };

  it('a person token for another mission, or without the one asked for (502 issued_token_mission_mismatch, details.mismatch mission_s256)', async () => {
    const w = await world({ personMission: (asked) => (asked === M1 ? M2 : undefined) });
    const agent = w.agent();
    expect(await failure(agent.fetch(`${w.resource.issuer}/me`, { missionS256: M1 }))).toEqual({
      code: 'issued_token_mission_mismatch',
      status: 502,
      message: `The person server issued a person_token with mission_s256 ${M2}, but the request named ${M1}`,
      details: { mismatch: 'mission_s256', expected: M1, issued: M2 },
    });
    expect(await failure(agent.fetch(`${w.resource.issuer}/me`, { missionS256: M2 }))).toMatchObject({
      code: 'issued_token_mission_mismatch',
      message: `The person server issued a person_token with no mission_s256, but the request named ${M2}`,
      details: { mismatch: 'mission_s256', expected: M2, issued: null },
    });
    // Refused tokens were never presented, nor held: the next call asks again.
    expect(w.resource.calls.filter((c) => c.kind === 'aa-person+jwt')).toHaveLength(0);
    await failure(agent.fetch(`${w.resource.issuer}/me`, { missionS256: M1 }));
    expect(w.ps.personRequests).toHaveLength(3);
  });

  it('a person token carrying a mission the agent did not ask for', async () => {
    const w = await world({ personMission: () => M1 });
    expect(await failure(w.agent().fetch(`${w.resource.issuer}/me`))).toMatchObject({
      code: 'issued_token_mission_mismatch',
      message: `The person server issued a person_token with mission_s256 ${M1}, but none was asked for`,
      details: { mismatch: 'mission_s256', expected: null, issued: M1 },
    });
  });

  it('an auth token without the resource token\'s mission_s256', async () => {
    const w = await world({ authMission: () => undefined });
    expect(await failure(w.agent().fetch(`${w.resource.issuer}/data`, { missionS256: M1 }))).toEqual({
      code: 'issued_token_mission_mismatch',
      status: 502,
      message: `The person server issued an auth_token with no mission_s256, but the resource token carries ${M1}`,
      details: { mismatch: 'mission_s256', expected: M1, issued: null },
    });
    expect(w.resource.calls.filter((c) => c.kind === 'aa-auth+jwt')).toHaveLength(0);
  });

  it('a resource token that strips or swaps the mission of the person token it names (resource_token_not_for_agent), before the person server is asked', async () => {
    const stripped = await world({ resourceMission: () => undefined });
    expect(await failure(stripped.agent().fetch(`${stripped.resource.issuer}/data`, { missionS256: M1 }))).toMatchObject({
      code: 'resource_token_not_for_agent',
      status: 502,
      message: `The resource token's mission_s256 is missing: the token it names was issued within mission ${M1}; the resource answered 401 auth_token_required`,
    });
    expect(stripped.ps.authRequests).toHaveLength(0);
    const added = await world({ resourceMission: () => M2 });
    expect(await failure(added.agent().fetch(`${added.resource.issuer}/data`))).toMatchObject({
      code: 'resource_token_not_for_agent',
      message: 'The resource token carries a mission_s256, but the token it names was issued outside any mission; the resource answered 401 auth_token_required',
    });
    expect(added.ps.authRequests).toHaveLength(0);
  });
});

describe('parseIssued11: the mission of an issued token', () => {
  const agentKey = generateKey({ kid: 'agent-2' });
  const psKey = generateKey({ kid: 'ps-2' });
  const PS = 'https://ps.example';
  const RES = 'https://res.example';
  const personToken = (mission?: string): Promise<string> => {
    const iat = Math.floor(Date.now() / 1000);
    return mint11(psKey, 'aa-person+jwt', { iss: PS, dwk: 'aauth-person.json', aud: RES, sub: 's', cnf: { jwk: jwk11(agentKey) }, jti: 'j', iat, exp: iat + 600, ...(mission ? { mission_s256: mission } : {}) });
  };
  const body = async (mission?: string): Promise<Uint8Array> => new TextEncoder().encode(JSON.stringify({ person_token: await personToken(mission) }));
  const expect0 = { kind: 'person', thumbprint: agentKey.thumbprint, resource: RES, issuer: PS } as const;
  const now = Date.now() / 1000;

  it('reads mission_s256 into the held token; unchecked when no mission expectation is given', async () => {
    expect(parseIssued11(await body(M1), expect0, now).mission).toBe(M1);
    expect(parseIssued11(await body(), expect0, now).mission).toBeUndefined();
  });

  it('in a chain without a mission of its own, accepts the upstream token\'s mission (-11 "Call Chaining"), or none, and no other', async () => {
    const chained = { ...expect0, missionS256: undefined, upstreamMission: M1 };
    expect(parseIssued11(await body(M1), chained, now).mission).toBe(M1);
    expect(parseIssued11(await body(), chained, now).mission).toBeUndefined();
    expect(() => parseIssued11(new TextEncoder().encode(''), chained, now)).toThrow('without a person_token');
    let error: unknown;
    try {
      parseIssued11(await body(M2), chained, now);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'issued_token_mission_mismatch', status: 502, details: { mismatch: 'mission_s256', expected: null, issued: M2 } });
  });
});

describe('agent.proposeMission: a mission proposed at the person server, approved, then used', () => {
  it('refuses a malformed proposal before anything is sent, naming the member', async () => {
    const w = await world();
    const agent = w.agent();
    await expect(agent.proposeMission({ description: '' })).rejects.toThrow('proposal.description must be a non-empty Markdown string');
    await expect(agent.proposeMission({ description: 'x', resources: ['https://r.example/'] })).rejects.toThrow('proposal.resources[0]');
    await expect(agent.proposeMission({ description: 'x', tools: [{ name: 'Search' } as never] })).rejects.toThrow('proposal.tools[0] must be { name, description }');
    await expect(agent.proposeMission({ description: 'x', budget: 5 } as never)).rejects.toThrow('proposal.budget is not a member of a mission proposal');
    await expect(createAgent({ key: generateKey() }).proposeMission({ description: 'x' })).rejects.toThrow('agent.proposeMission() needs options.draft11');
    expect(w.ps.proposals).toHaveLength(0);
  });

  it('proposes (signed POST, 202, polled), checks s256 against the blob, and holds the approval\'s person tokens for the mission', async () => {
    const w = await world();
    const agent = w.agent();
    const approved = await agent.proposeMission({ description: '# Plan the trip', tools: [{ name: 'Search', description: 'Search the web' }], resources: [w.resource.issuer] });
    expect(w.ps.proposals).toEqual([{ description: '# Plan the trip', tools: [{ name: 'Search', description: 'Search the web' }], resources: [w.resource.issuer] }]);
    expect(approved).toMatchObject({ mission: { approver: w.ps.issuer, agent: expect.stringMatching(/^aauth:planner@/), description: '# Plan the trip' }, capabilities: ['interaction'], personTokens: [w.resource.issuer] });
    expect(approved.s256).toMatch(/^[A-Za-z0-9_-]{43}$/);
    // The approval's person token is presented in the mission: no person token request.
    const data = await agent.fetch(`${w.resource.issuer}/data`, { missionS256: approved.s256 });
    expect(await json(data)).toEqual({ kind: 'aa-auth+jwt', mission: approved.s256, scope: 'data.read' });
    expect(w.ps.personRequests).toHaveLength(0);
    expect(decodeToken(String(w.ps.authRequests[0]!.presented_token)).claims).toMatchObject({ mission_s256: approved.s256 });
  });

  it('refuses an approval whose s256 is not the SHA-256 of its blob, and a person server without mission_endpoint', async () => {
    const lying = await world({ approvalS256: () => M1 });
    const error = await lying.agent().proposeMission({ description: 'x' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'auth_server_error', status: 502, message: "The person server's mission s256 is not the SHA-256 of the mission it returned" });
    const none = await world({ noMissions: true });
    const missing = await none.agent().proposeMission({ description: 'x' }).catch((e: unknown) => e);
    expect(missing).toMatchObject({ code: 'auth_server_discovery_failed', status: 502 });
    expect((missing as Error).message).toBe(`${none.ps.issuer} publishes no mission_endpoint: it does not take mission proposals`);
    expect(none.ps.proposals).toHaveLength(0);
  });
});
