import { generateKey, type SigningKey } from '@aauth-kit/core';
import { AAuthReconnectRequiredError } from '../src/aauth-reconnect-required-error.js';
import { describe, expect, it } from 'vitest';
import { type Presented, readPresented } from '../src/lib/checks-11.js';
import {
  type CallEvent11,
  type CallState11,
  type Flight11,
  type FlightState11,
  nextFlight11,
  nextStep11,
  retryAfter11,
  type Self11,
} from '../src/lib/next-step-11.js';
import { jwkWithAlg, looksDraft11, parseAgentIdentifier, serverIdentifierProblem, signJwt11 } from '../src/lib/wire-11.js';

// The -11 state machines, pure: no network, no clock (AAuth -11 sections 6-8; profile sections 4-8).

const NOW = 1_800_000_000;
const agentKey = generateKey({ kid: 'agent' });
const issuerKey = generateKey({ kid: 'iss' });
const RESOURCE = 'https://resource.example';
const PS = 'https://ps.example';
const policy = { handler: true, callback: undefined, timeoutMs: 60_000 };
const self: Self11 = { thumbprint: agentKey.thumbprint, ps: PS, interaction: policy, allowLoopback: false };

function token(key: SigningKey, typ: string, claims: Record<string, unknown>): string {
  return signJwt11(key, { typ }, { iat: NOW - 10, exp: NOW + 3600, cnf: { jwk: jwkWithAlg(agentKey) }, ...claims });
}
const agentToken = readPresented(token(issuerKey, 'aa-agent+jwt', { iss: 'https://ap.example', sub: 'aauth:a@ap.example', jti: 'at-1' }), 'agent', agentKey.thumbprint, NOW);
const personToken = readPresented(token(issuerKey, 'aa-person+jwt', { iss: PS, aud: RESOURCE, sub: 'p-1', jti: 'pt-1' }), 'person', agentKey.thumbprint, NOW);
const authToken = readPresented(token(issuerKey, 'aa-auth+jwt', { iss: PS, ps: PS, aud: RESOURCE, sub: 'p-1', jti: 'au-1', scope: 'a' }), 'auth', agentKey.thumbprint, NOW);

function resourceToken(change: Record<string, unknown> = {}, typ = 'aa-resource+jwt'): string {
  const claims = { iss: RESOURCE, dwk: 'aauth-resource.json', aud: PS, jti: 'rt-1', ps: PS, sub: 'p-1', presented_jti: 'pt-1', agent_jkt: agentKey.thumbprint, iat: NOW, exp: NOW + 300, scope: 'a', ...change };
  return signJwt11(issuerKey, { typ }, claims);
}

const sent = (): CallState11 => ({ phase: 'sent', used: { agent: false, person: false, auth: false, skew: false, renew: false }, pending: undefined });
function response(status: number, headers: Record<string, string>, presented: Presented = agentToken, session = false): CallEvent11 {
  return { type: 'response', url: new URL(`${RESOURCE}/data`), status, headers, presented, session, now: NOW };
}

describe('nextStep11: a -11 call', () => {
  it('starts by presenting the best token, then sends it', () => {
    const first = nextStep11(self, { phase: 'start' }, { type: 'begin' });
    expect(first.action).toEqual({ type: 'present', which: 'best' });
    const second = nextStep11(self, first.state, { type: 'presentation', presented: personToken });
    expect(second.action).toEqual({ type: 'send', presented: personToken });
  });

  it('401 requirement=agent-token: presents the agent token once, then rejects', () => {
    const step = nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=agent-token' }, personToken));
    expect(step.action).toEqual({ type: 'present', which: 'agent' });
    const again = nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=agent-token' }));
    expect(again.action).toMatchObject({ type: 'reject', code: 'challenge_unsatisfiable' });
  });

  it('401 requirement=person-token: obtains a person token; without a person server it rejects; a second one rejects', () => {
    expect(nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=person-token' })).action).toEqual({ type: 'obtain-person' });
    const none = nextStep11({ ...self, ps: undefined }, sent(), response(401, { 'aauth-requirement': 'requirement=person-token' }));
    expect(none.action).toMatchObject({ type: 'reject', code: 'challenge_unsatisfiable', message: expect.stringContaining('no person server') });
    const used: CallState11 = { phase: 'sent', used: { agent: false, person: true, auth: false, skew: false, renew: false }, pending: undefined };
    expect(nextStep11(self, used, response(401, { 'aauth-requirement': 'requirement=person-token' })).action).toMatchObject({ type: 'reject' });
    // An auth token the resource no longer takes (it asks for the person again) is dropped.
    expect(nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=person-token' }, authToken)).action).toEqual({ type: 'obtain-person', evict: authToken });
  });

  it('401 requirement=auth-token: checks the resource token, then obtains an auth token with what was presented', () => {
    const step = nextStep11(self, sent(), response(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken()}"` }, personToken));
    expect(step.action).toMatchObject({ type: 'obtain-auth', presented: personToken, resourceToken: { iss: RESOURCE, aud: PS, sub: 'p-1', presentedJti: 'pt-1', scope: 'a' } });
    // Step-up: the request carried an auth token; presented_jti names the person token the agent presented before.
    const stepUp = nextStep11(self, sent(), response(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken()}"` }, authToken), personToken);
    expect(stepUp.action).toMatchObject({ type: 'obtain-auth', presented: authToken });
  });

  it.each([
    [{ agent_jkt: 'other' }, 'resource_token_not_for_agent'],
    [{ iss: 'https://evil.example' }, 'challenge_resource_mismatch'],
    [{ ps: 'https://other-ps.example' }, 'resource_token_not_for_agent'],
    [{ sub: 'p-2' }, 'resource_token_not_for_agent'],
    [{ presented_jti: 'pt-9' }, 'resource_token_not_for_agent'],
    [{ exp: NOW }, 'token_expired'],
    [{ scope: undefined }, 'token_claim_invalid'],
    [{ dwk: 'aauth-person.json' }, 'token_claim_invalid'],
  ])('refuses a resource token with %j as %s', (change, code) => {
    const step = nextStep11(self, sent(), response(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken(change)}"` }, personToken));
    expect(step.action).toMatchObject({ type: 'reject', code });
  });

  it('refuses the Keycloak-profile resource+jwt in a -11 requirement (typ confusion)', () => {
    const step = nextStep11(self, sent(), response(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken({}, 'resource+jwt')}"` }, personToken));
    expect(step.action).toMatchObject({ type: 'reject', code: 'token_typ_invalid' });
  });

  it('an auth-token requirement without a resource token, or an unknown requirement, is never satisfiable', () => {
    expect(nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=auth-token' })).action).toMatchObject({ type: 'reject', code: 'challenge_missing_resource_token' });
    expect(nextStep11(self, sent(), response(401, { 'aauth-requirement': 'requirement=claims' })).action).toMatchObject({ type: 'reject', code: 'challenge_unsatisfiable' });
  });

  it('clock_skew: sends again once with the offset from Date; a second one is handed back', () => {
    const date = new Date((NOW - 120) * 1000).toUTCString();
    const step = nextStep11(self, sent(), response(401, { 'signature-error': 'error=clock_skew', date }));
    expect(step.action).toEqual({ type: 'send', presented: agentToken, clockOffset: -120 });
    const again = nextStep11(self, step.state, response(401, { 'signature-error': 'error=clock_skew', date }));
    expect(again.action).toEqual({ type: 'return' });
  });

  it('expired_jwt / revoked_jwt: renews a refused agent token, drops a refused person or auth token (once)', () => {
    expect(nextStep11(self, sent(), response(401, { 'signature-error': 'error=expired_jwt' })).action).toEqual({ type: 'renew-agent' });
    const drop = nextStep11(self, sent(), response(401, { 'signature-error': 'error=revoked_jwt' }, authToken));
    expect(drop.action).toEqual({ type: 'present', which: 'best', evict: authToken });
    const next = nextStep11(self, drop.state, { type: 'presentation', presented: personToken });
    // Issue 17: the held person token revoked too (a withdrawn grant): one new person token, the revoked one dropped.
    const renew = nextStep11(self, next.state, response(401, { 'signature-error': 'error=revoked_jwt' }, personToken));
    expect(renew.action).toEqual({ type: 'obtain-person', evict: personToken });
    // The new one refused as well: the caller gets the 401, nothing loops.
    const again = nextStep11(self, renew.state, { type: 'presentation', presented: personToken });
    expect(nextStep11(self, again.state, response(401, { 'signature-error': 'error=revoked_jwt' }, personToken)).action).toEqual({ type: 'return' });
  });

  it('grant_withdrawn (403) from the person server: AAuthReconnectRequiredError naming the person server and the resource, no retry', () => {
    const flight: Flight11 = { kind: 'person', ps: PS, payload: { resource: RESOURCE }, expect: { kind: 'person', thumbprint: agentKey.thumbprint, resource: RESOURCE, issuer: PS }, interaction: policy, allowLoopback: false };
    const posted: FlightState11 = { phase: 'posted', flight, endpoint: new URL(`${PS}/person-token`) };
    const body = new TextEncoder().encode(JSON.stringify({ error: 'grant_withdrawn', detail: 'The user withdrew the grant' }));
    const step = nextFlight11(posted, { type: 'answer', status: 403, headers: new Headers({ 'content-type': 'application/problem+json' }), body, now: NOW });
    expect(step.state).toEqual({ phase: 'done' });
    expect(step.action.type).toBe('fail');
    const error = (step.action as unknown as { error: AAuthReconnectRequiredError }).error;
    expect(error).toBeInstanceOf(AAuthReconnectRequiredError);
    expect([error.code, error.target]).toEqual(['reconnect_required', { authServer: PS, resource: RESOURCE }]);
  });

  it('keeps an AAuth-Access session token, and drops one the resource refused', () => {
    expect(nextStep11(self, sent(), response(200, { 'aauth-access': 'sess-1' })).action).toEqual({ type: 'return', session: 'sess-1' });
    expect(nextStep11(self, sent(), response(200, { 'aauth-access': 'two words' })).action).toEqual({ type: 'return' });
    expect(nextStep11(self, sent(), response(401, {}, agentToken, true)).action).toEqual({ type: 'return', session: null });
  });

  it('202 requirement=auth-token holds the call: the auth token is presented at the same-origin pending URL', () => {
    const step = nextStep11(self, sent(), response(202, { location: '/pending/1', 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken()}"` }, personToken));
    expect(step.action).toMatchObject({ type: 'obtain-auth' });
    const send = nextStep11(self, step.state, { type: 'presentation', presented: authToken });
    expect(send.action).toEqual({ type: 'send', presented: authToken, poll: new URL(`${RESOURCE}/pending/1`) });
    const offOrigin = nextStep11(self, sent(), response(202, { location: 'https://evil.example/p', 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken()}"` }, personToken));
    expect(offOrigin.action).toMatchObject({ type: 'reject', code: 'challenge_malformed' });
  });

  it('202 requirement=interaction: interacts, waits per Retry-After, polls, and slows down by 5 s on 429', () => {
    const step = nextStep11(self, sent(), response(202, { location: '/pending/2', 'retry-after': '3', 'aauth-requirement': 'requirement=interaction; url="https://resource.example/interact"; code="ABCD-2345"' }));
    expect(step.action).toEqual({ type: 'interact', interaction: { url: 'https://resource.example/interact?code=ABCD-2345', code: 'ABCD-2345', location: `${RESOURCE}/pending/2` } });
    const wait = nextStep11(self, step.state, { type: 'interacted', now: NOW });
    expect(wait.action).toEqual({ type: 'wait', ms: 3000 });
    const poll = nextStep11(self, wait.state, { type: 'waited' });
    expect(poll.action).toEqual({ type: 'send', presented: agentToken, poll: new URL(`${RESOURCE}/pending/2`) });
    const slow = nextStep11(self, poll.state, response(429, {}));
    expect(slow.action).toEqual({ type: 'wait', ms: 8000 });
    const unknownStatus = nextStep11(self, nextStep11(self, slow.state, { type: 'waited' }).state, response(202, { 'retry-after': '2' }));
    expect(unknownStatus.action).toEqual({ type: 'wait', ms: 2000 });
  });

  it('an interaction URL with a query, over http, or without a code is refused; no handler is interaction_required', () => {
    for (const header of ['requirement=interaction; url="https://resource.example/i?x=1"; code="ABCD2345"', 'requirement=interaction; url="http://resource.example/i"; code="ABCD2345"', 'requirement=interaction; url="https://resource.example/i"']) {
      expect(nextStep11(self, sent(), response(202, { location: '/p', 'aauth-requirement': header })).action).toMatchObject({ type: 'reject', code: 'challenge_malformed' });
    }
    const noHandler = nextStep11({ ...self, interaction: { ...policy, handler: false } }, sent(), response(202, { location: '/p', 'aauth-requirement': 'requirement=interaction; url="https://resource.example/i"; code="ABCD2345"' }));
    expect(noHandler.action).toMatchObject({ type: 'fail', error: { code: 'interaction_required' } });
  });

  it('a plain 202 of the API, and any other answer, goes back to the caller', () => {
    expect(nextStep11(self, sent(), response(202, { location: '/jobs/1' })).action).toEqual({ type: 'return' });
    expect(nextStep11(self, sent(), response(403, { 'aauth-requirement': 'requirement=agent-token' })).action).toEqual({ type: 'return' });
  });
});

describe('nextFlight11: person server requests', () => {
  const flight: Flight11 = { kind: 'auth', ps: PS, payload: { resource_token: 'rt', presented_token: 'pt' }, expect: { kind: 'auth', thumbprint: agentKey.thumbprint, resource: RESOURCE, issuer: PS, sub: 'p-1' }, interaction: policy, allowLoopback: false };
  const metadata = { issuer: PS, personTokenEndpoint: new URL(`${PS}/person`), authTokenEndpoint: new URL(`${PS}/token`) };
  const answer = (status: number, headers: Record<string, string>, body: unknown = {}) =>
    ({ type: 'answer', status, headers: new Headers(headers), body: new TextEncoder().encode(JSON.stringify(body)), now: NOW }) as const;
  const posted = (): FlightState11 => nextFlight11(nextFlight11({ phase: 'start', flight }, { type: 'begin' }).state, { type: 'discovered', metadata }).state;

  it('discovers, then POSTs the JSON body to auth_token_endpoint with Prefer: wait=45', () => {
    const start = nextFlight11({ phase: 'start', flight }, { type: 'begin' });
    expect(start.action).toEqual({ type: 'discover', ps: PS });
    const post = nextFlight11(start.state, { type: 'discovered', metadata });
    expect(post.action).toMatchObject({ type: 'request', method: 'POST', url: new URL(`${PS}/token`), headers: { 'content-type': 'application/json', prefer: 'wait=45' } });
    expect(new TextDecoder().decode((post.action as { body: Uint8Array }).body)).toBe('{"resource_token":"rt","presented_token":"pt"}');
  });

  it('checks the issued auth token: typ, iss, aud, cnf.jwk with alg, sub', () => {
    const good = token(issuerKey, 'aa-auth+jwt', { iss: PS, ps: PS, aud: RESOURCE, sub: 'p-1', jti: 'x' });
    expect(nextFlight11(posted(), answer(200, {}, { auth_token: good, expires_in: 60 })).action).toMatchObject({ type: 'issued', expiresAt: NOW + 60 });
    const cases: Array<[string, string]> = [
      [token(issuerKey, 'aa-person+jwt', { iss: PS, aud: RESOURCE, sub: 'p-1' }), 'auth_server_error'],
      [token(issuerKey, 'auth+jwt', { iss: PS, aud: RESOURCE, sub: 'p-1' }), 'auth_server_error'],
      [token(issuerKey, 'aa-auth+jwt', { iss: 'https://x.example', aud: RESOURCE, sub: 'p-1' }), 'auth_server_error'],
      [token(issuerKey, 'aa-auth+jwt', { iss: PS, aud: 'https://x.example', sub: 'p-1' }), 'issued_token_audience_invalid'],
      [token(issuerKey, 'aa-auth+jwt', { iss: PS, aud: RESOURCE, sub: 'p-2' }), 'auth_server_error'],
      [token(issuerKey, 'aa-auth+jwt', { iss: PS, aud: RESOURCE, sub: 'p-1', cnf: { jwk: { ...jwkWithAlg(agentKey), alg: 'EdDSA' } } }), 'issued_token_unbound'],
      [token(issuerKey, 'aa-auth+jwt', { iss: PS, aud: RESOURCE, sub: 'p-1', exp: NOW - 1 }), 'issued_token_expiry_invalid'],
    ];
    for (const [issued, code] of cases) {
      expect(nextFlight11(posted(), answer(200, {}, { auth_token: issued })).action, code).toMatchObject({ type: 'fail', error: { code } });
    }
  });

  it('a 202 interaction: interact, then poll with GET; 403 denied, 408 expired, 410 gone end it', () => {
    const step = nextFlight11(posted(), answer(202, { location: '/pending/9', 'retry-after': '0', 'aauth-requirement': 'requirement=interaction; url="https://ps.example/interaction"; code="AB12-CD34"' }, { status: 'pending' }));
    expect(step.action).toEqual({ type: 'interact', interaction: { url: 'https://ps.example/interaction?code=AB12-CD34', code: 'AB12-CD34', location: `${PS}/pending/9` } });
    const wait = nextFlight11(step.state, { type: 'interacted', now: NOW });
    expect(wait.action).toEqual({ type: 'wait', ms: 1000 });
    const poll = nextFlight11(wait.state, { type: 'waited' });
    expect(poll.action).toMatchObject({ type: 'request', method: 'GET', url: new URL(`${PS}/pending/9`) });
    const codes: Array<[number, string]> = [[403, 'interaction_denied'], [408, 'interaction_expired'], [410, 'pending_not_found'], [500, 'auth_server_error']];
    for (const [status, code] of codes) {
      const end = nextFlight11(poll.state, answer(status, {}, { error: 'denied', detail: 'The user declined.' }));
      expect(end.action).toMatchObject({ type: 'fail', error: { code, status: code === 'interaction_expired' ? 504 : 502 } });
    }
    expect(nextFlight11(poll.state, answer(429, {})).action).toEqual({ type: 'wait', ms: 6000 });
  });

  it('a poll invites a long poll (Prefer: wait) only as long as the interaction deadline leaves, at most 45 s', () => {
    const short: Flight11 = { ...flight, interaction: { ...policy, timeoutMs: 10_000 } };
    const postedShort = nextFlight11(nextFlight11({ phase: 'start', flight: short }, { type: 'begin' }).state, { type: 'discovered', metadata }).state;
    const step = nextFlight11(postedShort, answer(202, { location: '/pending/9', 'retry-after': '2', 'aauth-requirement': 'requirement=interaction; url="https://ps.example/interaction"; code="AB12-CD34"' }));
    // Deadline NOW + 10: after the 2 s wait, at most 8 s may be held.
    const poll = nextFlight11(nextFlight11(step.state, { type: 'interacted', now: NOW }).state, { type: 'waited' });
    expect(poll.action).toMatchObject({ type: 'request', method: 'GET', headers: { prefer: 'wait=8' } });
    // 9.5 s in: the last poll is a look, not held.
    const late = nextFlight11(poll.state, { ...answer(202, { 'retry-after': '2' }), now: NOW + 9.5 });
    expect(late.action).toEqual({ type: 'wait', ms: 500 });
    const last = nextFlight11(late.state, { type: 'waited' });
    expect(last.action).toMatchObject({ type: 'request', method: 'GET' });
    expect((last.action as { headers: Record<string, string> }).headers).not.toHaveProperty('prefer');
    // A long deadline: capped at 45 s.
    const long = nextFlight11(nextFlight11(nextFlight11(posted(), answer(202, { location: '/pending/9', 'retry-after': '0' })).state, { type: 'waited' }).state, answer(202, {}));
    expect(long.action).toMatchObject({ type: 'wait' });
    expect(nextFlight11(long.state, { type: 'waited' }).action).toMatchObject({ headers: { prefer: 'wait=45' } });
  });

  it('a poll answered 202 with a new interaction (four-party: the access server asks after the person consented) hands it over once', () => {
    const step = nextFlight11(posted(), answer(202, { location: '/pending/9', 'retry-after': '0', 'aauth-requirement': 'requirement=interaction; url="https://ps.example/interaction"; code="AB12-CD34"' }, { status: 'pending' }));
    const poll = nextFlight11(nextFlight11(step.state, { type: 'interacted', now: NOW }).state, { type: 'waited' });
    // The same code again: no second interaction, poll on.
    const same = nextFlight11(poll.state, answer(202, { 'retry-after': '2', 'aauth-requirement': 'requirement=interaction; url="https://ps.example/interaction"; code="AB12-CD34"' }, { status: 'pending' }));
    expect(same.action).toEqual({ type: 'wait', ms: 2000 });
    // Another code (the access server's): handed to the caller, then polled.
    const poll2 = nextFlight11(same.state, { type: 'waited' });
    const fresh = nextFlight11(poll2.state, answer(202, { 'retry-after': '1', 'aauth-requirement': 'requirement=interaction; url="https://as.example/interact"; code="WXYZ-2345"' }, { status: 'pending' }));
    expect(fresh.action).toEqual({ type: 'interact', interaction: { url: 'https://as.example/interact?code=WXYZ-2345', code: 'WXYZ-2345', location: `${PS}/pending/9` } });
    const after = nextFlight11(nextFlight11(fresh.state, { type: 'interacted', now: NOW }).state, { type: 'waited' });
    expect(nextFlight11(after.state, answer(202, { 'aauth-requirement': 'requirement=interaction; url="https://as.example/interact"; code="WXYZ-2345"' })).action).toMatchObject({ type: 'wait' });
  });

  it('a 401 from the person server: renews a refused agent token, or corrects the clock, and POSTs again once', () => {
    const renew = nextFlight11(posted(), answer(401, { 'signature-error': 'error=expired_jwt' }));
    expect(renew.action).toEqual({ type: 'renew', agentToken: true });
    const again = nextFlight11(renew.state, { type: 'renewed' });
    expect(again.action).toMatchObject({ type: 'request', method: 'POST', url: new URL(`${PS}/token`) });
    expect(nextFlight11(again.state, answer(401, { 'signature-error': 'error=expired_jwt' })).action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error' } });
    // A peer that names the -09 code only in its problem+json body (introspection-aauth 0.1.0).
    const date = new Date((NOW + 90) * 1000).toUTCString();
    expect(nextFlight11(posted(), answer(401, { date }, { error: 'clock_skew', detail: 'created is ahead' })).action).toEqual({ type: 'renew', agentToken: false, clockOffset: 90 });
    expect(nextFlight11(posted(), answer(401, { 'signature-error': 'error=invalid_signature' })).action).toMatchObject({ type: 'fail' });
  });

  it('a 202 without a same-origin Location, or asking for a clarification, fails; a refusal carries error and detail', () => {
    expect(nextFlight11(posted(), answer(202, {})).action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error' } });
    expect(nextFlight11(posted(), answer(202, { location: 'https://evil.example/p' })).action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error' } });
    expect(nextFlight11(posted(), answer(202, { location: '/p', 'aauth-requirement': 'requirement=clarification' })).action).toMatchObject({ type: 'fail', error: { code: 'challenge_unsatisfiable' } });
    const refused = nextFlight11(posted(), answer(400, {}, { error: 'unknown_person_token', detail: 'no such jti' }));
    expect(refused.action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error', message: expect.stringContaining('unknown_person_token: no such jti') } });
  });

  it('a clarification with onClarification: the question to the caller, the answer POSTed to the pending URL, then polls; the withdrawal names the pending URL', () => {
    const clarifying = { ...flight, interaction: { ...policy, clarify: true } };
    const start = nextFlight11(nextFlight11({ phase: 'start', flight: clarifying }, { type: 'begin' }).state, { type: 'discovered', metadata }).state;
    const asked = nextFlight11(start, answer(202, { location: '/p/1', 'aauth-requirement': 'requirement=clarification' }, { status: 'pending', clarification: 'Why?', options: ['a', 7], timeout: 'soon' }));
    // Options that are not all strings, and a timeout that is not a number, are left out.
    expect(asked.action).toEqual({ type: 'clarify', clarification: { question: 'Why?', location: `${PS}/p/1` }, deadline: NOW + 60 });
    expect(asked.state).toMatchObject({ phase: 'clarifying', rounds: 1, deadline: NOW + 60 });
    const post = nextFlight11(asked.state, { type: 'clarified', answer: 'Because.', now: NOW + 1 });
    expect(post.action).toMatchObject({ type: 'request', method: 'POST', url: new URL(`${PS}/p/1`), headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(new TextDecoder().decode((post.action as { body: Uint8Array }).body))).toEqual({ action: 'clarification_response', clarification_response: 'Because.' });
    const next = nextFlight11(post.state, answer(204, {}));
    expect(next.action.type).toBe('wait');
    expect(next.state).toMatchObject({ phase: 'waiting', rounds: 1 });
    // The POST refused 400 (answered too late: the person decided meanwhile): the poll tells how it ended.
    const late = nextFlight11(post.state, answer(400, {}, { error: 'invalid_request', detail: 'no question is open' }));
    expect(late.action.type).toBe('wait');
    expect(late.state).toMatchObject({ phase: 'waiting', rounds: 1 });
    // 503 (the store briefly out: the answer not taken) and 429: back off as polls do; the next poll asks again.
    const unavailable = nextFlight11(post.state, answer(503, { 'retry-after': '7' }, { error: 'store_unavailable' }));
    expect(unavailable.action).toEqual({ type: 'wait', ms: 7000 });
    expect(unavailable.state).toMatchObject({ phase: 'waiting', rounds: 1 });
    expect(nextFlight11(post.state, answer(429, {})).action).toEqual({ type: 'wait', ms: (asked.state as { interval: number }).interval * 1000 + 5000 });
    // Refused otherwise: the call fails and the request (still open there) is withdrawn.
    const refused = nextFlight11(post.state, answer(403, {}, { error: 'access_denied', detail: 'no' }));
    expect(refused.action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error' }, pending: new URL(`${PS}/p/1`) });
    // A poll bringing the next question counts the rounds on.
    const polled = nextFlight11(nextFlight11(next.state, { type: 'waited' }).state, answer(202, { 'aauth-requirement': 'requirement=clarification' }, { clarification: 'And?', options: ['x', 'y'], timeout: 30 }));
    expect(polled.action).toEqual({ type: 'clarify', clarification: { question: 'And?', options: ['x', 'y'], timeout: 30, location: `${PS}/p/1` }, deadline: NOW + 60 });
    expect(polled.state).toMatchObject({ rounds: 2 });
  });

  it('the clarification rounds count on across an interaction: a new interaction does not buy a server five more questions', () => {
    const clarifying = { ...flight, interaction: { ...policy, clarify: true } };
    let state = nextFlight11(nextFlight11({ phase: 'start', flight: clarifying }, { type: 'begin' }).state, { type: 'discovered', metadata }).state;
    let step = nextFlight11(state, answer(202, { location: '/p/2', 'retry-after': '1', 'aauth-requirement': 'requirement=clarification' }, { clarification: 'Q1' }));
    const answerIt = (from: typeof step) => nextFlight11(nextFlight11(from.state, { type: 'clarified', answer: 'A', now: NOW }).state, answer(204, {}));
    // Four questions.
    for (let i = 2; i <= 4; i++) {
      step = nextFlight11(nextFlight11(answerIt(step).state, { type: 'waited' }).state, answer(202, { 'aauth-requirement': 'requirement=clarification' }, { clarification: `Q${i}` }));
      expect(step.state).toMatchObject({ phase: 'clarifying', rounds: i });
    }
    // An interaction (the access server's, four-party), then polls on.
    step = nextFlight11(nextFlight11(answerIt(step).state, { type: 'waited' }).state, answer(202, { 'aauth-requirement': 'requirement=interaction; url="https://as.example/interact"; code="WXYZ-2345"' }));
    expect(step.action).toMatchObject({ type: 'interact' });
    state = nextFlight11(nextFlight11(step.state, { type: 'interacted', now: NOW }).state, { type: 'waited' }).state;
    // The fifth question is still allowed; the sixth withdraws the request.
    step = nextFlight11(state, answer(202, { 'aauth-requirement': 'requirement=clarification' }, { clarification: 'Q5' }));
    expect(step.state).toMatchObject({ phase: 'clarifying', rounds: 5 });
    step = nextFlight11(nextFlight11(answerIt(step).state, { type: 'waited' }).state, answer(202, { 'aauth-requirement': 'requirement=clarification' }, { clarification: 'Q6' }));
    expect(step.action).toMatchObject({ type: 'fail', error: { code: 'auth_server_error', message: expect.stringContaining('after 5 in one request') }, pending: new URL(`${PS}/p/2`) });
  });
});

describe('-11 wire helpers (belong in core)', () => {
  it('server identifiers: https, host only, lower case; loopback only when allowed', () => {
    expect(serverIdentifierProblem('https://ps.example')).toBeUndefined();
    for (const bad of ['http://ps.example', 'https://PS.example', 'https://ps.example:8443', 'https://ps.example/', 'https://ps.example/v1']) {
      expect(serverIdentifierProblem(bad), bad).toBeDefined();
    }
    expect(serverIdentifierProblem('http://127.0.0.1:8080')).toBeDefined();
    expect(serverIdentifierProblem('http://127.0.0.1:8080', true)).toBeUndefined();
  });

  it('agent identifiers: aauth:local@domain, + for sub-agents, upper case allowed', () => {
    expect(parseAgentIdentifier('aauth:planner.7f3c+search1@vendor.example')).toEqual({ local: 'planner.7f3c+search1', domain: 'vendor.example' });
    expect(parseAgentIdentifier('aauth:Assistant@agent.example')).toBeDefined();
    for (const bad of ['aauth:@agent.example', 'My Agent@agent.example', 'aauth:a@http://agent.example']) expect(parseAgentIdentifier(bad), bad).toBeUndefined();
  });

  it('recognises a -11 answer to a Keycloak-profile attempt', () => {
    expect(looksDraft11(401, { 'aauth-requirement': 'requirement=person-token' }, 'jwks_uri')).toBe(true);
    expect(looksDraft11(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken()}"` }, 'jwks_uri')).toBe(true);
    expect(looksDraft11(401, { 'aauth-requirement': `requirement=auth-token; resource-token="${resourceToken({}, 'resource+jwt')}"` }, 'jwks_uri')).toBe(false);
    expect(looksDraft11(401, { 'signature-error': 'error=unsupported_scheme', 'accept-signature-scheme': 'jwt' }, 'jwks_uri')).toBe(true);
    expect(looksDraft11(401, { 'signature-error': 'error=unsupported_scheme', 'accept-signature-scheme': 'jwt, jwks_uri' }, 'jwks_uri')).toBe(false);
    expect(looksDraft11(401, { aauth: 'require=auth-token; resource-token="x"' }, 'jwks_uri')).toBe(false);
    expect(looksDraft11(202, { 'aauth-requirement': 'requirement=person-token' }, 'jwks_uri')).toBe(false);
  });

  it('Retry-After: seconds or a date, at least 1 s, at most 300 s', () => {
    expect(retryAfter11('0', NOW)).toBe(1);
    expect(retryAfter11('7', NOW)).toBe(7);
    expect(retryAfter11(undefined, NOW)).toBe(5);
    expect(retryAfter11('9999', NOW)).toBe(300);
    expect(retryAfter11(new Date((NOW + 30) * 1000).toUTCString(), NOW)).toBe(30);
  });
});

describe('person server metadata (profile section 2)', async () => {
  const { parsePersonServerMetadata } = await import('../src/lib/person-server-metadata.js');
  const doc = { issuer: PS, jwks_uri: `${PS}/jwks.json`, person_token_endpoint: `${PS}/person`, auth_token_endpoint: `${PS}/token` };

  it('reads both token endpoints once issuer equals the URL it came from', () => {
    expect(parsePersonServerMetadata(PS, doc, false)).toEqual({ issuer: PS, personTokenEndpoint: new URL(`${PS}/person`), authTokenEndpoint: new URL(`${PS}/token`) });
  });

  it.each([
    [{ issuer: undefined }, 'issuer_missing'],
    [{ issuer: 'https://evil.example' }, 'issuer_mismatch'],
    [{ issuer: `${PS}/` }, 'issuer_mismatch'],
    [{ auth_token_endpoint: undefined }, 'metadata_invalid'],
    [{ person_token_endpoint: `${PS}/person?x=1` }, 'metadata_invalid'],
  ])('refuses %j (%s) as auth_server_discovery_failed, 502', (change, code) => {
    let error: unknown;
    try {
      parsePersonServerMetadata(PS, { ...doc, ...change }, false);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'auth_server_discovery_failed', status: 502, message: expect.stringContaining(code) });
  });
});
