import { generateKey } from '@aauth-kit/core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { escapeHtml } from '../src/lib/html.js';
import { signedFetch, startAuthServer, startParty, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';

const ATTRIBUTES = [
  'aauth.enabled',
  'aauth.allowed.agents',
  'aauth.blocked.agents',
  'aauth.allowed.scopes',
  'aauth.trusted.issuers',
  'aauth.exchange.enabled',
  'aauth.exchange.max.depth',
  'aauth.consent.required.scopes',
  'aauth.consent.required.scope.prefixes',
  'aauth.refresh.lifespan',
];

describe('properties of untrusted-input parsers', () => {
  it('loadRealm either accepts a realm or throws a TypeError naming options.realm', () => {
    const value = fc.oneof(
      fc.string(),
      fc.json(),
      fc.constantFrom('true', 'false', '[]', '["a"]', '[1]', '10', '-1', '["https://a.example"]'),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string()),
    );
    const realm = fc.record(
      {
        realm: fc.oneof(fc.constant('aauth-test'), fc.string()),
        accessTokenLifespan: fc.oneof(fc.integer(), fc.string()),
        attributes: fc.dictionary(fc.constantFrom(...ATTRIBUTES), value),
        users: fc.oneof(
          fc.array(fc.record({ username: fc.oneof(fc.string(), fc.integer()), credentials: fc.array(fc.record({ type: fc.constantFrom('password', 'otp'), value: value })) }, { requiredKeys: [] })),
          value,
        ),
      },
      { requiredKeys: ['realm'] },
    );
    fc.assert(
      fc.property(realm, (input) => {
        try {
          const parsed = loadRealm(input, { onWarning: () => {} });
          expect(parsed.name).toBe(input.realm);
        } catch (error) {
          expect(error).toBeInstanceOf(TypeError);
          expect((error as Error).message).toMatch(/^options\.realm/);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('escapeHtml leaves no markup characters', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const out = escapeHtml(text);
        expect(out).not.toMatch(/[<>"']/);
        expect(out.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&')).toBe(text);
      }),
    );
  });
});

describe('properties of the token endpoint', () => {
  let as: TestAuthServer;
  let agent: Party;
  beforeAll(async () => {
    [as, agent] = await Promise.all([startAuthServer(), startParty('agent')]);
  });
  afterAll(async () => {
    await Promise.all([as?.close(), agent?.close()]);
  });

  it('any signed body gets a 4xx JSON error with a known wire error, never a 5xx', async () => {
    const key = generateKey();
    const token = fc.oneof(fc.string(), fc.constant('a.b.c'), fc.constant('eyJhbGciOiJub25lIn0.e30.'), fc.integer(), fc.constant(null));
    const body = fc.oneof(
      fc.string().map((s) => ({ body: s, contentType: 'application/json' })),
      fc.json().map((s) => ({ body: s, contentType: 'application/json' })),
      fc.record({ resource_token: token, upstream_token: token, auth_token: token }, { requiredKeys: [] }).map((o) => ({ body: JSON.stringify(o), contentType: 'application/json' })),
      fc.string().map((s) => ({ body: s, contentType: 'application/x-www-form-urlencoded' })),
      fc.string({ minLength: 1 }).map((s) => ({ body: s, contentType: 'text/plain' })),
    );
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (input, identified) => {
        const res = await signedFetch(as.tokenEndpoint, {
          key: identified ? agent.key : key,
          ...(identified ? { signatureKey: agent.signatureKey } : {}),
          ...input,
        });
        if (input.body.length === 0) {
          expect([400, 401]).toContain(res.status);
        } else {
          expect(res.status).toBeGreaterThanOrEqual(400);
          expect(res.status).toBeLessThan(500);
        }
        expect(['invalid_request', 'invalid_grant', 'invalid_scope', 'invalid_signature', 'access_denied']).toContain(res.body.error);
        expect(typeof res.body.error_description).toBe('string');
      }),
      { numRuns: 150 },
    );
  });
});
