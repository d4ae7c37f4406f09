import type { AuditEvent } from '@aauth-kit/auth-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch, startAuthServer, startParty, type Party, type TestAuthServer } from './fixtures/auth-server.js';
import { basic, exchangeRealm, TOKEN_EXCHANGE, ACCESS_TOKEN, USER_ID, tokenPost, userToken } from './fixtures/oauth.js';

// Issue 17: each request outcome at an issuing endpoint is exactly one decision event (allow, deny
// or pending) with the audit-trail fields: the Keycloak-profile token endpoint and pending URL,
// and the RFC 8693 token endpoint. (The -11 person server's: test/audit-trail.test.ts.)

let as: TestAuthServer;
let backend: Party;
let sca: Party;
let user: string;

beforeAll(async () => {
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
  as = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }) });
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close()]);
});

/** The events emitted while `run` ran. */
async function during(run: () => Promise<unknown>): Promise<AuditEvent[]> {
  const before = as.audit.length;
  await run();
  return as.audit.slice(before);
}
const decisions = (events: AuditEvent[]) => events.filter((e) => e.decision !== undefined);

describe('one decision event per request outcome', () => {
  it('Keycloak profile with consent: pending at the token endpoint, allow at the poll, for the user who consented', async () => {
    const events = await during(async () => {
      user = await userToken(as, backend, sca, 'supply-chain:optimize crm:read crm:write');
    });
    expect(events.map((e) => [e.type, e.decision ?? null])).toEqual([
      ['consent.required', 'pending'],
      ['consent.granted', null],
      ['token.issued', 'allow'],
    ]);
    expect(events[2]).toMatchObject({
      realm: 'aauth-test',
      user: 'mcp-user',
      sub: USER_ID,
      chain: [backend.identity],
      resource: sca.identity,
      scopesRequested: ['supply-chain:optimize', 'crm:read', 'crm:write'],
      scopesGranted: ['supply-chain:optimize', 'crm:read', 'crm:write'],
    });
    expect(events[2]!.jti).toMatch(/^[\w-]{22}$/);
  });

  it('Keycloak profile refusal: one deny naming the resource and the scopes the (refused) resource token asked for', async () => {
    // A resource token made out for another agent, presented by the backend.
    const rt = await sca.resourceToken({ agent: 'https://someone-else.example', agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize', audience: as.issuer });
    const events = await during(async () => {
      const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
      expect(res.status).toBe(400);
    });
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'request.refused',
      decision: 'deny',
      code: 'invalid_grant',
      realm: 'aauth-test',
      chain: [backend.identity],
      resource: sca.identity,
      scopesRequested: ['supply-chain:optimize'],
    });
    expect(events[0]!.scopesGranted).toBeUndefined();
    expect(events[0]!.jti).toBeUndefined();
  });

  it('RFC 8693 exchange: one allow with the user, the actor, scopes asked and granted; a widening is one deny', async () => {
    const ok = await during(async () => {
      const res = await tokenPost(as, { grant_type: TOKEN_EXCHANGE, subject_token: user, subject_token_type: ACCESS_TOKEN, audience: 'crm', scope: 'crm:read' }, { basic: basic('supply-chain-agent') });
      expect(res.status).toBe(200);
    });
    expect(decisions(ok)).toHaveLength(1);
    expect(ok).toHaveLength(1);
    expect(ok[0]).toMatchObject({
      type: 'token.exchanged',
      decision: 'allow',
      realm: 'aauth-test',
      user: 'mcp-user',
      chain: ['supply-chain-agent'],
      audience: ['crm'],
      scopesRequested: ['crm:read'],
      scopesGranted: ['crm:read'],
    });
    const refused = await during(async () => {
      const res = await tokenPost(as, { grant_type: TOKEN_EXCHANGE, subject_token: user, subject_token_type: ACCESS_TOKEN, audience: 'crm', scope: 'crm:delete' }, { basic: basic('supply-chain-agent') });
      expect(res.status).toBe(400);
    });
    expect(refused).toEqual([expect.objectContaining({ type: 'request.refused', decision: 'deny', code: 'invalid_scope', client: 'supply-chain-agent', chain: ['supply-chain-agent'], realm: 'aauth-test' })]);
  });

  it('no event carries a token', () => {
    const text = JSON.stringify(as.audit);
    expect(text).not.toContain(user.split('.')[2]);
    expect(text).not.toMatch(/eyJ[\w-]+\.eyJ/);
  });
});
