import { createAuthServer } from '@aauth-kit/auth-server';
import { createMemoryRevocationStore } from '@aauth-kit/verifier';
import { describe, expect, it } from 'vitest';
import { testRealm } from '../../../test/fixtures/auth-server.js';

// The revocation endpoint authenticates its clients by client secret: a public client, which
// authenticates by naming itself, would let anyone revoke any token, agent or grant.

const realm = testRealm({}, {
  clients: [
    { clientId: 'revoker', secret: 'revoker-secret', serviceAccountsEnabled: true },
    { clientId: 'web-app', publicClient: true },
  ],
});
const make = (clients: string[]) =>
  createAuthServer({ realm, baseUrl: 'http://127.0.0.1:8080', onWarning: () => {}, revocation: { store: createMemoryRevocationStore(), clients } });

describe('options.revocation.clients', () => {
  it('a confidential client is accepted', () => {
    expect(() => make(['revoker'])).not.toThrow();
  });

  it('a public client is refused at start-up with a TypeError naming it', () => {
    expect(() => make(['revoker', 'web-app'])).toThrow(TypeError);
    expect(() => make(['web-app'])).toThrow(
      'options.revocation.clients must list confidential clients (with a client secret): "web-app" is a public client, and anyone could revoke as it',
    );
  });
});
