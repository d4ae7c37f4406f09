import { describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { REALM_FILE } from '../../../test/fixtures/oauth.js';

describe('loadRealm: clients (the OAuth token endpoint)', () => {
  it('reads the shipped realm clients: who may exchange, which audiences, which subject audiences', () => {
    const realm = loadRealm(REALM_FILE, { onWarning: (w) => expect.fail(w) });
    expect(realm.enabled).toBe(true);
    expect(realm.clients.map((c) => [c.clientId, c.tokenExchange, c.serviceAccountsEnabled, c.exchangeAudiences, c.subjectAudiences])).toEqual([
      ['supply-chain-agent', true, true, ['crm', 'market-analysis-agent'], ['http://localhost:3001']],
      ['market-analysis-agent', true, false, ['crm'], ['http://localhost:3002']],
      ['crm', false, false, [], []],
      ['supply-chain-ui', false, false, [], []],
    ]);
    expect(realm.clients[0]).toMatchObject({
      enabled: true,
      publicClient: false,
      bearerOnly: false,
      secret: 'supply-chain-agent-secret',
      clientAuthenticatorType: 'client-secret',
      defaultClientScopes: ['basic', 'service_account'],
      optionalClientScopes: ['crm:read', 'crm:write', 'market-analysis:analyze'],
    });
    // The public client a user signs in with (Keycloak's password and code grants, not this server's).
    expect(realm.clients[3]).toMatchObject({ clientId: 'supply-chain-ui', publicClient: true, secret: undefined });
  });

  it('defaults: enabled, confidential, no grants; other Keycloak fields and attributes are ignored', () => {
    const realm = loadRealm({ realm: 'r', clients: [{ clientId: 'account', redirectUris: ['/x'], attributes: { 'post.logout.redirect.uris': '+' } }] });
    expect(realm.clients).toEqual([
      {
        clientId: 'account',
        enabled: true,
        publicClient: false,
        bearerOnly: false,
        secret: undefined,
        clientAuthenticatorType: 'client-secret',
        serviceAccountsEnabled: false,
        rootUrl: undefined,
        defaultClientScopes: [],
        optionalClientScopes: [],
        tokenExchange: false,
        exchangeAudiences: [],
        subjectAudiences: [],
      },
    ]);
    expect(loadRealm({ realm: 'r' }).clients).toEqual([]);
  });

  it.each([
    ['clients as an object', { clients: {} }, 'options.realm.clients must be an array'],
    ['a client without an id', { clients: [{ secret: 's' }] }, 'options.realm.clients[0].clientId must be a non-empty string'],
    ['duplicate client ids', { clients: [{ clientId: 'a' }, { clientId: 'a' }] }, 'options.realm.clients[1].clientId duplicates the client id "a"'],
    ['a non-boolean flag', { clients: [{ clientId: 'a', publicClient: 'yes' }] }, 'options.realm.clients[0].publicClient must be a boolean'],
    ['a non-string secret', { clients: [{ clientId: 'a', secret: 42 }] }, 'options.realm.clients[0].secret must be a string'],
    ['scopes not a list', { clients: [{ clientId: 'a', optionalClientScopes: 'crm:read' }] }, 'options.realm.clients[0].optionalClientScopes must be an array'],
    [
      'a bad exchange flag',
      { clients: [{ clientId: 'a', attributes: { 'standard.token.exchange.enabled': 'yes' } }] },
      'options.realm.clients[0].attributes["standard.token.exchange.enabled"] must be "true" or "false"',
    ],
    [
      'audiences not a JSON array',
      { clients: [{ clientId: 'a', attributes: { 'aauth.exchange.audiences': 'crm' } }] },
      'options.realm.clients[0].attributes["aauth.exchange.audiences"] must hold a JSON array',
    ],
  ])('refuses %s, naming the field', (_name, extra, message) => {
    expect(() => loadRealm({ realm: 'r', ...extra })).toThrow(TypeError);
    expect(() => loadRealm({ realm: 'r', ...extra })).toThrow(message);
  });

  it('warns about a client that may use a grant but has no secret this server can check', () => {
    const warnings: string[] = [];
    loadRealm(
      {
        realm: 'r',
        clients: [
          { clientId: 'jwt-client', clientAuthenticatorType: 'client-jwt', serviceAccountsEnabled: true },
          { clientId: 'no-secret', attributes: { 'standard.token.exchange.enabled': 'true' } },
          { clientId: 'public', publicClient: true, attributes: { 'standard.token.exchange.enabled': 'true' } },
        ],
      },
      { onWarning: (w) => warnings.push(w) },
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toMatch(/clients\[0\] \(jwt-client\) has no client secret/);
    expect(warnings[1]).toMatch(/clients\[1\] \(no-secret\)/);
  });
});
