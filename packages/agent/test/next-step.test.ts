import { describe, expect, it } from 'vitest';
import type { IssuerMetadata } from '../src/lib/issuer-metadata.js';
import { type Action, type CallMode, cacheVerdict, nextStep, type State, type StepEvent, type TokenFlight } from '../src/lib/next-step.js';

// The agent's challenge loop without a network: each row is (state, event) -> (action, next phase),
// the expectations written out. Tokens are unsigned JWT-shaped literals (the machine decodes them,
// it never verifies them: the resource and the auth server do).

const NOW = 1_800_000_100;
/** RFC 8037 A.3: the thumbprint of the Ed25519 key with x = 11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo. */
const JKT = 'kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k';
/** {typ: resource+jwt} {iss: https://res.example, aud: https://as.example, jti: rt-1, agent: https://agent.example, agent_jkt: JKT, iat: 1800000000, exp: 1800000300, scope: data.read} */
const RT =
  'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwczovL3Jlcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwianRpIjoicnQtMSIsImFnZW50IjoiaHR0cHM6Ly9hZ2VudC5leGFtcGxlIiwiYWdlbnRfamt0Ijoia1ByS19xbXhWV2FZVkE5d3dCRjZJdW8zdlZ6ejdUeEhDVHdYQnlnclM0ayIsImlhdCI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAwMzAwLCJzY29wZSI6ImRhdGEucmVhZCJ9.c2ln';
/** RT with agent: https://other.example */
const RT_OTHER_AGENT =
  'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwczovL3Jlcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwianRpIjoicnQtMSIsImFnZW50IjoiaHR0cHM6Ly9vdGhlci5leGFtcGxlIiwiYWdlbnRfamt0Ijoia1ByS19xbXhWV2FZVkE5d3dCRjZJdW8zdlZ6ejdUeEhDVHdYQnlnclM0ayIsImlhdCI6MTgwMDAwMDAwMCwiZXhwIjoxODAwMDAwMzAwLCJzY29wZSI6ImRhdGEucmVhZCJ9.c2ln';
/** RT with aud: https://evil.example */
const RT_UNTRUSTED =
  'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwczovL3Jlcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9ldmlsLmV4YW1wbGUiLCJqdGkiOiJydC0xIiwiYWdlbnQiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJhZ2VudF9qa3QiOiJrUHJLX3FteFZXYVlWQTl3d0JGNkl1bzN2Vnp6N1R4SENUd1hCeWdyUzRrIiwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDAzMDAsInNjb3BlIjoiZGF0YS5yZWFkIn0.c2ln';
/** RT with iat: 1799999000, exp: 1799999300 */
const RT_EXPIRED =
  'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwczovL3Jlcy5leGFtcGxlIiwiYXVkIjoiaHR0cHM6Ly9hcy5leGFtcGxlIiwianRpIjoicnQtMSIsImFnZW50IjoiaHR0cHM6Ly9hZ2VudC5leGFtcGxlIiwiYWdlbnRfamt0Ijoia1ByS19xbXhWV2FZVkE5d3dCRjZJdW8zdlZ6ejdUeEhDVHdYQnlnclM0ayIsImlhdCI6MTc5OTk5OTAwMCwiZXhwIjoxNzk5OTk5MzAwLCJzY29wZSI6ImRhdGEucmVhZCJ9.c2ln';
/** {typ: auth+jwt} {iss: https://as.example, aud: https://res.example, agent: https://agent.example, scope: data.read, exp: 1800000600, cnf: {jwk: the JKT key}} */
const AT =
  'eyJhbGciOiJFZERTQSIsInR5cCI6ImF1dGgrand0In0.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJhdWQiOiJodHRwczovL3Jlcy5leGFtcGxlIiwiYWdlbnQiOiJodHRwczovL2FnZW50LmV4YW1wbGUiLCJzY29wZSI6ImRhdGEucmVhZCIsImV4cCI6MTgwMDAwMDYwMCwiY25mIjp7Imp3ayI6eyJrdHkiOiJPS1AiLCJjcnYiOiJFZDI1NTE5IiwieCI6IjExcVlBWUt4Q3JmVlNfN1R5V1FIT2c3aGN2UGFwaU1scndJYWFQY0hVUm8ifX19.c2ln';
/** {typ: resource+jwt} {iss: https://as.example, exp: 1800000600} */
const AT_WRONG_TYP = 'eyJhbGciOiJFZERTQSIsInR5cCI6InJlc291cmNlK2p3dCJ9.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJleHAiOjE4MDAwMDA2MDB9.c2ln';
/** {typ: auth+jwt} {iss: https://as.example, exp: 1800000600, cnf: {jwk: another key}} */
const AT_OTHER_KEY =
  'eyJhbGciOiJFZERTQSIsInR5cCI6ImF1dGgrand0In0.eyJpc3MiOiJodHRwczovL2FzLmV4YW1wbGUiLCJleHAiOjE4MDAwMDA2MDAsImNuZiI6eyJqd2siOnsia3R5IjoiT0tQIiwiY3J2IjoiRWQyNTUxOSIsIngiOiIzcDdiZlh0OXdiVFRXMkhDN09RMU56LURROGhiZUdkTnJmeC1GRy1JSzA4In19fQ.c2ln';

/** An unsigned `auth+jwt` with these claims (the machine never verifies signatures). */
const authJwt = (claims: Record<string, unknown>): string =>
  [{ alg: 'EdDSA', typ: 'auth+jwt' }, claims].map((part) => Buffer.from(JSON.stringify(part)).toString('base64url')).join('.') + '.c2ln';
const BOUND = { cnf: { jwk: { kty: 'OKP', crv: 'Ed25519', x: '11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo' } } };
const TEN_YEARS = 315_360_000;
// Issue 13, finding 10: what a sloppy (or hostile) token endpoint may answer.
const AT_UNBOUND = authJwt({ iss: 'https://as.example', aud: 'https://res.example', exp: 1_800_000_600 });
const AT_OTHER_AUD = authJwt({ iss: 'https://as.example', aud: 'https://other.example', exp: 1_800_000_600, ...BOUND });
const AT_NO_EXP = authJwt({ iss: 'https://as.example', aud: 'https://res.example', ...BOUND });
const AT_PAST = authJwt({ iss: 'https://as.example', aud: 'https://res.example', exp: NOW - 10, ...BOUND });
const AT_TEN_YEARS = authJwt({ iss: 'https://as.example', aud: ['https://res.example', 'https://as.example'], exp: NOW + TEN_YEARS, ...BOUND });

const AAUTH: CallMode = {
  kind: 'aauth',
  self: { identity: 'https://agent.example', thumbprint: JKT, trustedAuthServers: ['https://as.example'] },
  ownScheme: 'jwks_uri',
};
const PSEUDONYMOUS: CallMode = { kind: 'aauth', self: { identity: undefined, thumbprint: JKT, trustedAuthServers: ['https://as.example'] }, ownScheme: 'hwk' };
const BEARER: CallMode = { kind: 'bearer' };
const CACHED = { token: 'cached-token', cacheKey: 'key-1' };
const EXPLICIT = { token: 'callers-token' };
const FRESH = { token: 'fresh-token', cacheKey: 'key-2' };

const first = (mode: CallMode, carried?: { token: string; cacheKey?: string }): State => ({ phase: 'sent', mode, attempt: 'first', carried });
const retry = (mode: CallMode, carried: { token: string; cacheKey?: string }): State => ({ phase: 'sent', mode, attempt: 'retry', carried });
const response = (status: number, headers: Record<string, string> = {}, carried?: { token: string; cacheKey?: string }, url = 'https://res.example/data'): StepEvent => ({
  type: 'response',
  url,
  status,
  headers,
  carried,
  now: NOW,
});
const challenge = (token: string, authServer = 'https://as.example'): Record<string, string> => ({
  aauth: `require=auth-token; resource-token="${token}"; auth-server="${authServer}"`,
});

/** The exchange decision for RT, as the assessment writes it. */
const DECISION = {
  action: 'exchange',
  challenge: {
    require: 'auth-token',
    satisfiable: true,
    spelling: 'AAuth',
    params: { require: 'auth-token', 'resource-token': RT, 'auth-server': 'https://as.example' },
    resourceToken: RT,
    authServer: 'https://as.example',
  },
  resourceToken: RT,
  claims: {
    iss: 'https://res.example',
    aud: 'https://as.example',
    jti: 'rt-1',
    agent: 'https://agent.example',
    agent_jkt: JKT,
    iat: 1_800_000_000,
    exp: 1_800_000_300,
    scope: 'data.read',
  },
  authServer: 'https://as.example',
  resource: 'https://res.example',
  scope: 'data.read',
  signAs: 'jwks_uri',
};

/** Plain data for comparison: URLs as strings, bodies as text, errors as their code, status, message and details. */
function plain(action: Action): unknown {
  const out: Record<string, unknown> = { ...action };
  for (const [k, v] of Object.entries(out)) {
    if (v instanceof URL) out[k] = v.href;
    else if (v instanceof Uint8Array) out[k] = new TextDecoder().decode(v);
    else if (v instanceof Error) {
      const e = v as Error & { code: string; status: number; details?: unknown };
      out[k] = { code: e.code, status: e.status, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) };
    }
  }
  return out;
}

type Row = [name: string, state: State, event: StepEvent, action: unknown, phase: State['phase']];

/** One test per row: the action (as plain data) and the next phase. */
function stepRows(rows: Row[]): void {
  it.each(rows)('%s', (_name, state, event, action, phase) => {
    const step = nextStep(state, event);
    expect(plain(step.action)).toEqual(action);
    expect(step.state.phase).toBe(phase);
  });
}

describe('nextStep: a call (first attempt, challenge, one retry)', () => {
  const rows: Row[] = [
    ['a call with nothing to present looks in the cache first', { phase: 'start', mode: AAUTH, first: 'cached' }, { type: 'begin' }, { type: 'find-token' }, 'awaiting-token'],
    ['a caller\'s own token is presented at once', { phase: 'start', mode: AAUTH, first: EXPLICIT }, { type: 'begin' }, { type: 'send', attempt: 'first', carried: EXPLICIT }, 'sent'],
    ['a forced scheme signs with the agent\'s key', { phase: 'start', mode: AAUTH, first: 'none' }, { type: 'begin' }, { type: 'send', attempt: 'first', carried: undefined }, 'sent'],
    ['a cache miss sends with the agent\'s key', { phase: 'awaiting-token', mode: AAUTH, attempt: 'first' }, { type: 'token', carried: undefined }, { type: 'send', attempt: 'first', carried: undefined }, 'sent'],
    ['a cache hit is presented', { phase: 'awaiting-token', mode: AAUTH, attempt: 'first' }, { type: 'token', carried: CACHED }, { type: 'send', attempt: 'first', carried: CACHED }, 'sent'],
    ['a 200 is handed back', first(AAUTH), response(200), { type: 'return' }, 'done'],
    ['a 401 without a challenge is handed back', first(AAUTH), response(401), { type: 'return' }, 'done'],
    ['... and evicts the cached token it refused', first(AAUTH, CACHED), response(401, {}, CACHED), { type: 'return', evict: CACHED }, 'done'],
    ['... but not a caller\'s own token', first(AAUTH, EXPLICIT), response(401, {}, EXPLICIT), { type: 'return' }, 'done'],
    ['a 403 with a cached token evicts nothing', first(AAUTH, CACHED), response(403, {}, CACHED), { type: 'return' }, 'done'],
    [
      'a challenge for this agent and a trusted auth server: obtain a token for the retry',
      first(AAUTH),
      response(401, challenge(RT)),
      { type: 'obtain', attempt: 'retry', decision: DECISION },
      'awaiting-token',
    ],
    [
      '... avoiding and evicting the cached token just refused',
      first(AAUTH, CACHED),
      response(401, challenge(RT), CACHED),
      { type: 'obtain', attempt: 'retry', decision: DECISION, avoid: 'cached-token', evict: CACHED },
      'awaiting-token',
    ],
    [
      'a resource token issued to another agent is refused before any network',
      first(AAUTH),
      response(401, challenge(RT_OTHER_AGENT)),
      {
        type: 'reject',
        code: 'resource_token_not_for_agent',
        message: 'The resource token was issued to "https://other.example", not to this agent',
        challenge: {
          require: 'auth-token',
          satisfiable: true,
          spelling: 'AAuth',
          params: { require: 'auth-token', 'resource-token': RT_OTHER_AGENT, 'auth-server': 'https://as.example' },
          resourceToken: RT_OTHER_AGENT,
          authServer: 'https://as.example',
        },
      },
      'done',
    ],
    [
      'a resource token naming another resource than the one that answered is refused before any cache look-up (issue 13, finding 9)',
      first(AAUTH, CACHED),
      response(401, challenge(RT), CACHED, 'https://evil.example/steal'),
      {
        type: 'reject',
        code: 'challenge_resource_mismatch',
        message: 'The resource token names the resource "https://res.example", but https://evil.example answered the challenge',
        challenge: {
          require: 'auth-token',
          satisfiable: true,
          spelling: 'AAuth',
          params: { require: 'auth-token', 'resource-token': RT, 'auth-server': 'https://as.example' },
          resourceToken: RT,
          authServer: 'https://as.example',
        },
      },
      'done',
    ],
    [
      '... the resource\'s own origin answering after a redirect is its own challenge',
      first(AAUTH),
      response(401, challenge(RT), undefined, 'https://res.example/moved?page=2'),
      { type: 'obtain', attempt: 'retry', decision: DECISION },
      'awaiting-token',
    ],
    [
      'an auth server outside the allow-list is never contacted',
      first(AAUTH),
      response(401, challenge(RT_UNTRUSTED, 'https://evil.example')),
      {
        type: 'reject',
        code: 'auth_server_untrusted',
        message: 'The challenge names auth server "https://evil.example", which this agent does not trust: if it is yours, add it to the agent\'s trustedAuthServers (or make it the agent\'s authServer)',
        challenge: {
          require: 'auth-token',
          satisfiable: true,
          spelling: 'AAuth',
          params: { require: 'auth-token', 'resource-token': RT_UNTRUSTED, 'auth-server': 'https://evil.example' },
          resourceToken: RT_UNTRUSTED,
          authServer: 'https://evil.example',
        },
      },
      'done',
    ],
    [
      'an expired resource token is refused',
      first(AAUTH),
      response(401, challenge(RT_EXPIRED)),
      {
        type: 'reject',
        code: 'token_expired',
        message: 'The resource token expired 800 s ago',
        challenge: {
          require: 'auth-token',
          satisfiable: true,
          spelling: 'AAuth',
          params: { require: 'auth-token', 'resource-token': RT_EXPIRED, 'auth-server': 'https://as.example' },
          resourceToken: RT_EXPIRED,
          authServer: 'https://as.example',
        },
      },
      'done',
    ],
    [
      'a challenge without a resource token has its own code',
      first(AAUTH),
      response(401, { aauth: 'require=auth-token' }),
      {
        type: 'reject',
        code: 'challenge_missing_resource_token',
        message: 'The auth-token challenge carries no resource token',
        challenge: { require: 'auth-token', satisfiable: true, spelling: 'AAuth', params: { require: 'auth-token' } },
      },
      'done',
    ],
    [
      'require=identity: a pseudonymous agent cannot satisfy it',
      first(PSEUDONYMOUS),
      response(401, { aauth: 'require=identity' }),
      {
        type: 'reject',
        code: 'challenge_unsatisfiable',
        message: 'The resource requires an agent identity and this agent is pseudonymous',
        challenge: { require: 'identity', satisfiable: true, spelling: 'AAuth', params: { require: 'identity' } },
      },
      'done',
    ],
    ['require=identity: an agent with an identity hands the 401 back', first(AAUTH, CACHED), response(401, { aauth: 'require=identity' }, CACHED), { type: 'return', evict: CACHED }, 'done'],
    ['the token arrives: the retry presents it', { phase: 'awaiting-token', mode: AAUTH, attempt: 'retry' }, { type: 'token', carried: FRESH }, { type: 'send', attempt: 'retry', carried: FRESH }, 'sent'],
    ['the retry succeeds: the route remembers the token', retry(AAUTH, FRESH), response(200, {}, FRESH), { type: 'return', remember: FRESH }, 'done'],
    [
      'the retry is refused: never loop, evict the token, forget the route',
      retry(AAUTH, FRESH),
      response(401, challenge(RT), FRESH),
      { type: 'return', evict: FRESH, forget: true, failed: { code: 'challenge_unsatisfiable', message: 'The resource refused the new auth token; not retrying again' } },
      'done',
    ],
    [
      'a refused retry that never carried the token (redirected away) evicts nothing',
      retry(AAUTH, FRESH),
      response(401, {}, undefined),
      { type: 'return', forget: true, failed: { code: 'challenge_unsatisfiable', message: 'The resource refused the new auth token; not retrying again' } },
      'done',
    ],
  ];
  stepRows(rows);

  it('an event the phase does not expect is a programming error, not a step', () => {
    expect(() => nextStep(first(AAUTH), { type: 'begin' })).toThrow('nextStep: event begin in phase sent');
    expect(() => nextStep({ phase: 'done' }, response(200))).toThrow('nextStep: event response in phase done');
  });
});

describe('nextStep: the RFC 8693 bearer path (any 401 renews the token once)', () => {
  const BEARER_TOKEN = { token: 'bearer-1', cacheKey: 'ref-key' };
  const rows: Row[] = [
    ['the first attempt obtains its token', { phase: 'start', mode: BEARER, first: 'obtain' }, { type: 'begin' }, { type: 'obtain', attempt: 'first' }, 'awaiting-token'],
    ['a 200 is handed back', first(BEARER, BEARER_TOKEN), response(200, {}, BEARER_TOKEN), { type: 'return' }, 'done'],
    [
      'a 401 evicts the token and obtains another',
      first(BEARER, BEARER_TOKEN),
      response(401, {}, BEARER_TOKEN),
      { type: 'obtain', attempt: 'retry', avoid: 'bearer-1', evict: BEARER_TOKEN },
      'awaiting-token',
    ],
    ['a 401 from where the token was not sent is handed back', first(BEARER, BEARER_TOKEN), response(401, {}, undefined), { type: 'return' }, 'done'],
    ['the retry\'s 401 evicts its token and is handed back', retry(BEARER, FRESH), response(401, {}, FRESH), { type: 'return', evict: FRESH }, 'done'],
    ['the retry\'s 200 is handed back', retry(BEARER, FRESH), response(200, {}, FRESH), { type: 'return' }, 'done'],
  ];
  stepRows(rows);
});

describe('nextStep: a token flight (token request, 202 interaction and polling, refresh)', () => {
  const metadata: IssuerMetadata = {
    issuer: 'https://as.example',
    tokenEndpoint: new URL('https://as.example/token'),
    interactionEndpoint: new URL('https://as.example/interact'),
  };
  const flight: TokenFlight = {
    issuer: 'https://as.example',
    payload: { resource_token: 'rt', upstream_token: 'ut' },
    signAs: 'jwks_uri',
    thumbprint: JKT,
    resource: 'https://res.example',
    maxLifetime: 3600,
    interaction: { handler: true, callback: 'https://app.example/done', timeoutMs: 9000 },
  };
  const refresh: TokenFlight = { ...flight, payload: { auth_token: 'old' }, interaction: undefined };
  const noHandler: TokenFlight = { ...flight, interaction: { handler: false, callback: undefined, timeoutMs: 9000 } };
  const location = new URL('https://as.example/pending/p1');
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}): StepEvent => ({
    type: 'answer',
    status,
    headers: new Headers(headers),
    body: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
    now: NOW,
  });
  const posted = (f: TokenFlight): State => ({ phase: 'posted', flight: f, metadata });
  const polled: State = { phase: 'polled', flight, metadata, location, deadline: NOW + 2 };
  const pending202 = { location: '/pending/p1', aauth: 'require=interaction; code="ABCD-1234"' };

  const rows: Row[] = [
    ['a token request starts with discovery', { phase: 'token', flight }, { type: 'begin' }, { type: 'discover', issuer: 'https://as.example' }, 'discovering'],
    [
      'then POSTs the resource and upstream tokens, with Prefer: wait=45',
      { phase: 'discovering', flight },
      { type: 'discovered', metadata },
      {
        type: 'request',
        method: 'POST',
        url: 'https://as.example/token',
        headers: { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' },
        body: '{"resource_token":"rt","upstream_token":"ut"}',
        signAs: 'jwks_uri',
      },
      'posted',
    ],
    [
      'a refresh POSTs {auth_token}',
      { phase: 'discovering', flight: refresh },
      { type: 'discovered', metadata },
      {
        type: 'request',
        method: 'POST',
        url: 'https://as.example/token',
        headers: { 'content-type': 'application/json', accept: 'application/json', prefer: 'wait=45' },
        body: '{"auth_token":"old"}',
        signAs: 'jwks_uri',
      },
      'posted',
    ],
    ['a 200 issues the token, expiring at the earlier of exp and expires_in', posted(flight), answer(200, { auth_token: AT, expires_in: 300 }), { type: 'issued', token: AT, expiresAt: 1_800_000_400 }, 'done'],
    ['... or at its exp', posted(flight), answer(200, { auth_token: AT }), { type: 'issued', token: AT, expiresAt: 1_800_000_600 }, 'done'],
    [
      'a 200 without auth_token fails',
      posted(flight),
      answer(200, { access_token: 'x' }),
      { type: 'fail', error: { code: 'auth_server_error', status: 502, message: 'The auth server answered 200 without an auth_token' } },
      'done',
    ],
    [
      'a 200 with a token of another typ fails',
      posted(flight),
      answer(200, { auth_token: AT_WRONG_TYP }),
      { type: 'fail', error: { code: 'auth_server_error', status: 502, message: 'The auth server issued a token of typ "resource+jwt", not auth+jwt' } },
      'done',
    ],
    [
      'a 200 with a token bound to another key fails',
      posted(flight),
      answer(200, { auth_token: AT_OTHER_KEY }),
      { type: 'fail', error: { code: 'issued_token_unbound', status: 502, message: "The auth server issued a token bound (cnf.jwk) to another key than this agent's" } },
      'done',
    ],
    [
      'a 200 with an unbound token (no cnf) fails',
      posted(flight),
      answer(200, { auth_token: AT_UNBOUND, expires_in: 300 }),
      { type: 'fail', error: { code: 'issued_token_unbound', status: 502, message: "The auth server issued a token without cnf.jwk, not bound to this agent's key" } },
      'done',
    ],
    [
      'a 200 with a token for another resource fails',
      posted(flight),
      answer(200, { auth_token: AT_OTHER_AUD, expires_in: 300 }),
      { type: 'fail', error: { code: 'issued_token_audience_invalid', status: 502, message: 'The auth server issued a token for "https://other.example", not for "https://res.example"' } },
      'done',
    ],
    [
      '... so does a refresh answered with one',
      posted(refresh),
      answer(200, { auth_token: AT_OTHER_AUD }),
      { type: 'fail', error: { code: 'issued_token_audience_invalid', status: 502, message: 'The auth server issued a token for "https://other.example", not for "https://res.example"' } },
      'done',
    ],
    [
      'a 200 with a token without exp fails, whatever expires_in says',
      posted(flight),
      answer(200, { auth_token: AT_NO_EXP, expires_in: TEN_YEARS }),
      { type: 'fail', error: { code: 'issued_token_expiry_invalid', status: 502, message: 'The auth server issued a token without exp' } },
      'done',
    ],
    [
      'a 200 with an expired token fails',
      posted(flight),
      answer(200, { auth_token: AT_PAST, expires_in: 300 }),
      { type: 'fail', error: { code: 'issued_token_expiry_invalid', status: 502, message: 'The auth server issued a token that expired 10 s ago' } },
      'done',
    ],
    [
      'a ten-year token (aud an array naming the resource) is kept for maxLifetime at most',
      posted(flight),
      answer(200, { auth_token: AT_TEN_YEARS, expires_in: TEN_YEARS }),
      { type: 'issued', token: AT_TEN_YEARS, expiresAt: NOW + 3600 },
      'done',
    ],
    [
      'a refusal names the server\'s error',
      posted(flight),
      answer(403, { error: 'access_denied', error_description: 'blocked' }),
      {
        type: 'fail',
        error: {
          code: 'auth_server_error',
          status: 502,
          message: 'The auth server refused the token request (HTTP 403, access_denied: blocked)',
          details: { status: 403, error: 'access_denied', error_description: 'blocked' },
        },
      },
      'done',
    ],
    [
      'a 202 sends the user to the interaction endpoint',
      posted(flight),
      answer(202, { status: 'pending' }, pending202),
      {
        type: 'interact',
        authServer: 'https://as.example',
        interaction: {
          url: 'https://as.example/interact?code=ABCD-1234&callback=https%3A%2F%2Fapp.example%2Fdone',
          code: 'ABCD-1234',
          location: 'https://as.example/pending/p1',
        },
      },
      'interacting',
    ],
    [
      'a 202 without onInteraction is interaction_required, with the URL and code',
      posted(noHandler),
      answer(202, {}, pending202),
      {
        type: 'fail',
        error: {
          code: 'interaction_required',
          status: 502,
          message: 'A user must approve this request at https://as.example/interact?code=ABCD-1234',
          details: { url: 'https://as.example/interact?code=ABCD-1234', code: 'ABCD-1234' },
        },
      },
      'done',
    ],
    [
      'a pending Location on another origin is refused (polls are signed)',
      posted(flight),
      answer(202, {}, { ...pending202, location: 'https://elsewhere.example/p1' }),
      { type: 'fail', error: { code: 'auth_server_error', status: 502, message: "The auth server's pending Location is on another origin (https://elsewhere.example)" } },
      'done',
    ],
    [
      'a refresh answered 202 is a refusal: the call falls back to the challenge',
      posted(refresh),
      answer(202, {}, pending202),
      {
        type: 'fail',
        error: { code: 'auth_server_error', status: 502, message: 'The auth server refused the refresh (HTTP 202)', details: { status: 202 } },
      },
      'done',
    ],
    [
      'after the interaction: wait Retry-After, at least 1 s',
      { phase: 'interacting', flight, metadata, location, retryAfter: '0' },
      { type: 'interacted', now: NOW },
      { type: 'wait', ms: 1000 },
      'waiting',
    ],
    ['... a longer Retry-After is honoured', { phase: 'interacting', flight, metadata, location, retryAfter: '3' }, { type: 'interacted', now: NOW }, { type: 'wait', ms: 3000 }, 'waiting'],
    ['... without one, 5 s', { phase: 'interacting', flight, metadata, location, retryAfter: null }, { type: 'interacted', now: NOW }, { type: 'wait', ms: 5000 }, 'waiting'],
    [
      'then poll the pending URL with a signed GET',
      { phase: 'waiting', flight, metadata, location, deadline: NOW + 9 },
      { type: 'waited' },
      { type: 'request', method: 'GET', url: 'https://as.example/pending/p1', headers: { accept: 'application/json' }, signAs: 'jwks_uri' },
      'polled',
    ],
    ['a poll answered 200 issues the token', polled, answer(200, { auth_token: AT }), { type: 'issued', token: AT, expiresAt: 1_800_000_600 }, 'done'],
    ['a poll answered 202 waits again, no longer than the deadline', polled, answer(202, {}, { 'retry-after': '5' }), { type: 'wait', ms: 2000 }, 'waiting'],
    [
      'a poll answered 202 at the deadline times out',
      { ...polled, deadline: NOW },
      answer(202, {}),
      { type: 'fail', error: { code: 'interaction_timeout', status: 504, message: 'The user did not approve within 9 s' } },
      'done',
    ],
    [
      'a poll answered 403: the user denied',
      polled,
      answer(403, { error: 'access_denied' }),
      {
        type: 'fail',
        error: {
          code: 'interaction_denied',
          status: 502,
          message: 'The auth server refused the pending request (HTTP 403, access_denied)',
          details: { status: 403, error: 'access_denied' },
        },
      },
      'done',
    ],
    [
      'a poll answered 408: the pending request expired',
      polled,
      answer(408, {}),
      { type: 'fail', error: { code: 'interaction_expired', status: 504, message: 'The auth server refused the pending request (HTTP 408)', details: { status: 408 } } },
      'done',
    ],
    [
      'a poll answered 404: the pending request is gone',
      polled,
      answer(404, {}),
      { type: 'fail', error: { code: 'pending_not_found', status: 502, message: 'The auth server refused the pending request (HTTP 404)', details: { status: 404 } } },
      'done',
    ],
    // The store behind the auth server did not answer (a bounded 503): the decision is kept, so poll again.
    ['a poll answered 503 waits its Retry-After, no longer than the deadline', polled, answer(503, { error: 'server_error' }, { 'retry-after': '1' }), { type: 'wait', ms: 1000 }, 'waiting'],
    ['a poll answered 429 waits 5 s more, no longer than the deadline', { ...polled, deadline: NOW + 30 }, answer(429, {}, { 'retry-after': '1' }), { type: 'wait', ms: 6000 }, 'waiting'],
    [
      'a poll answered 503 at the deadline times out',
      { ...polled, deadline: NOW },
      answer(503, {}),
      { type: 'fail', error: { code: 'interaction_timeout', status: 504, message: 'The user did not approve within 9 s' } },
      'done',
    ],
    [
      'a poll answered 500 fails',
      polled,
      answer(500, 'oops'),
      { type: 'fail', error: { code: 'auth_server_error', status: 502, message: 'The auth server refused the pending request (HTTP 500)', details: { status: 500 } } },
      'done',
    ],
  ];
  stepRows(rows);
});

describe('cacheVerdict: a cached token is presented, refreshed or dropped', () => {
  const entry = { token: 't', expiresAt: NOW + 31, resource: 'https://res.example', scope: 'data.read', authServer: 'https://as.example' };
  it.each([
    ['valid for more than 30 s', entry, true, 'use'],
    ['within 30 s of expiry, from an auth server', { ...entry, expiresAt: NOW + 30 }, true, 'refresh'],
    ['expired, from an auth server', { ...entry, expiresAt: NOW - 60 }, true, 'refresh'],
    ['expiring, refresh turned off', { ...entry, expiresAt: NOW + 10 }, false, 'drop'],
    ['expiring, no issuer to refresh at', { token: 't', expiresAt: NOW + 10, resource: 'https://res.example', scope: 'data.read' }, true, 'drop'],
  ] as const)('%s: %s', (_name, cached, refreshOn, verdict) => {
    expect(cacheVerdict(cached, NOW, refreshOn)).toBe(verdict);
  });
});
