import { createMemoryRevocationStore } from '@aauth-kit/verifier';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, startParty, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';
import { ACCESS_TOKEN, basic, exchangeRealm, tokenPost, TOKEN_EXCHANGE, USER_ID, userToken } from '../../../test/fixtures/oauth.js';

// Issue 17 at the RFC 8693 endpoint: a revoked token is not exchanged into a fresh bearer token
// (the new token names neither the agent nor the jti, so the revocation would not cover it).

let as: TestAuthServer;
let backend: Party;
let sca: Party;

beforeAll(async () => {
  [backend, sca] = await Promise.all([startParty('backend'), startParty('sca')]);
  as = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }), revocation: { store: createMemoryRevocationStore(), clients: ['crm'] } });
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close()]);
});

async function revoke(params: Record<string, string>): Promise<number> {
  const [id, secret] = basic('crm');
  const res = await fetch(`${as.issuer}/protocol/aauth/revoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}` },
    body: new URLSearchParams(params).toString(),
  });
  return res.status;
}

const exchange = (subject: string) =>
  tokenPost(as, { grant_type: TOKEN_EXCHANGE, subject_token: subject, subject_token_type: ACCESS_TOKEN, audience: 'crm', scope: 'crm:read' }, { basic: basic('supply-chain-agent') });

describe('the OAuth token exchange refuses a revoked subject token', () => {
  it('an unrevoked token is exchanged (the control)', async () => {
    const user = await userToken(as, backend, sca, 'supply-chain:optimize crm:read');
    expect((await exchange(user)).status).toBe(200);
  });

  for (const how of ['token', 'agent', 'grant'] as const) {
    it(`revoked by ${how}: 400 invalid_request, saying it was revoked, and no token`, async () => {
      // An agent of its own: one case's agent revocation must not date the next case's token.
      const agent = await startParty(`agent-${how}`);
      let res;
      try {
        const user = await userToken(as, agent, sca, 'supply-chain:optimize crm:read');
        const params: Record<string, string> = how === 'token' ? { token: user } : how === 'agent' ? { agent: agent.identity } : { agent: agent.identity, user: USER_ID };
        expect(await revoke(params)).toBe(200);
        res = await exchange(user);
      } finally {
        await agent.close();
      }
      expect(res.status).toBe(400);
      expect(res.body.error).toBe('invalid_request');
      expect(String(res.body.error_description)).toMatch(/^subject_token refused: it was revoked/);
      expect(res.body.access_token).toBeUndefined();
      expect(as.audit.at(-1)).toMatchObject({ type: 'request.refused', endpoint: 'openid-connect', client: 'supply-chain-agent', status: 400 });
    });
  }
});
