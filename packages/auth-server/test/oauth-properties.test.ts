import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { startAuthServer, startParty, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';
import { ACCESS_TOKEN, basic, exchangeRealm, TOKEN_EXCHANGE, tokenPost } from '../../../test/fixtures/oauth.js';

const KNOWN_ERRORS = new Set(['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'invalid_target', 'invalid_scope', 'unsupported_grant_type']);

let as: TestAuthServer;
let sca: Party;
beforeAll(async () => {
  sca = await startParty('sca');
  as = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }) });
});
afterAll(async () => {
  await Promise.all([as?.close(), sca?.close()]);
});

describe('properties of the OAuth token endpoint (untrusted input)', () => {
  it('any form body and Authorization header get a token or a 4xx JSON error with an RFC 6749 / 8693 error, never a 5xx', async () => {
    const param = fc.constantFrom('grant_type', 'subject_token', 'subject_token_type', 'actor_token', 'actor_token_type', 'audience', 'resource', 'scope', 'client_id', 'client_secret', 'requested_token_type', 'x');
    const value = fc.oneof(fc.string(), fc.constantFrom(TOKEN_EXCHANGE, 'client_credentials', ACCESS_TOKEN, 'crm', 'supply-chain-agent', 'a.b.c', 'eyJhbGciOiJub25lIn0.e30.'));
    const authorization = fc.oneof(
      fc.constant(undefined),
      fc.string().map((s) => `Basic ${s}`),
      fc.string().map((s) => `Basic ${Buffer.from(s).toString('base64')}`),
      fc.constant(`Basic ${Buffer.from(`${basic('supply-chain-agent')[0]}:${basic('supply-chain-agent')[1]}`).toString('base64')}`),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(param, value), { maxLength: 8 }), authorization, async (pairs, auth) => {
        const params: Record<string, string[]> = {};
        for (const [name, v] of pairs) (params[name] ??= []).push(v);
        const res = await tokenPost(as, params, auth === undefined ? {} : { rawAuthorization: auth });
        // A well-formed request (e.g. client_credentials with the right secret) may succeed; nothing gets a 5xx.
        if (res.status === 200) {
          expect(typeof res.body.access_token).toBe('string');
          return;
        }
        expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(KNOWN_ERRORS.has(String(res.body.error)), String(res.body.error)).toBe(true);
        expect(typeof res.body.error_description).toBe('string');
      }),
      { numRuns: 150 },
    );
  });

  it('loadRealm accepts realm clients or throws a TypeError naming options.realm.clients', () => {
    const value = fc.oneof(fc.string(), fc.boolean(), fc.integer(), fc.constant(null), fc.array(fc.string()), fc.constantFrom('true', 'false', '[]', '["crm"]', '[1]'));
    const client = fc.record(
      {
        clientId: fc.oneof(fc.string(), fc.integer()),
        enabled: value,
        publicClient: value,
        secret: value,
        serviceAccountsEnabled: value,
        optionalClientScopes: value,
        attributes: fc.oneof(fc.dictionary(fc.constantFrom('standard.token.exchange.enabled', 'aauth.exchange.audiences', 'aauth.exchange.subject.audiences', 'other'), value), value),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(fc.array(client, { maxLength: 4 }), value), (clients) => {
        try {
          const realm = loadRealm({ realm: 'r', clients }, { onWarning: () => {} });
          for (const c of realm.clients) expect(typeof c.clientId).toBe('string');
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          expect((error as Error).message).toMatch(/^options\.realm\.clients/);
        }
      }),
      { numRuns: 500 },
    );
  });
});
