import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createAuthServer, loadRealm } from '../src/index.js';
import { verifyPassword } from '../src/lib/passwords.js';
import { testRealm } from '../../../test/fixtures/auth-server.js';

const dir = mkdtempSync(join(tmpdir(), 'aauth-realm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function withAttribute(name: string, value: unknown) {
  const realm = testRealm() as { attributes: Record<string, unknown> };
  realm.attributes[name] = value;
  return realm;
}

describe('loadRealm', () => {
  it('reads policy, lifetimes and users from a realm object', () => {
    const realm = loadRealm(
      testRealm({ 'aauth.blocked.agents': '["https://bad.example"]', 'aauth.exchange.max.depth': '3', 'aauth.refresh.lifespan': '60' }, { accessTokenLifespan: 120 }),
    );
    expect(realm.name).toBe('aauth-test');
    expect(realm.accessTokenLifespan).toBe(120);
    expect(realm.refreshLifespan).toBe(60);
    expect(realm.policy).toEqual({
      enabled: true,
      allowedAgents: [],
      blockedAgents: ['https://bad.example'],
      allowedScopes: [],
      trustedIssuers: [],
      exchangeEnabled: true,
      maxDepth: 3,
      consentScopes: ['supply-chain:optimize'],
      consentScopePrefixes: ['user.'],
    });
    expect(realm.users.map((u) => [u.username, u.id, u.enabled, u.displayName])).toEqual([
      ['mcp-user', 'c0ffee00-0000-4000-8000-000000000001', true, 'MCP User'],
      ['disabled-user', 'disabled-user', false, 'disabled-user'],
    ]);
  });

  it('applies the extension defaults when no consent attribute is set, and Keycloak defaults otherwise', () => {
    const realm = loadRealm({ realm: 'r', accessTokenLifespan: -1 });
    expect(realm.policy.consentScopes).toEqual(['openid', 'profile', 'email']);
    expect(realm.policy.consentScopePrefixes).toEqual(['user.', 'profile.', 'email.']);
    expect(realm.accessTokenLifespan).toBe(300);
    expect(realm.policy.maxDepth).toBe(10);
    expect(realm.users).toEqual([]);
    const explicit = loadRealm({ realm: 'r', attributes: { 'aauth.consent.required.scopes': '[]' } });
    expect(explicit.policy.consentScopes).toEqual([]);
    expect(explicit.policy.consentScopePrefixes).toEqual([]);
  });

  it("reads the client scopes' consent texts (Keycloak's clientScopes), skipping theme message keys", () => {
    const realm = loadRealm({
      realm: 'r',
      clientScopes: [
        { name: 'market-analysis:analyze', protocol: 'openid-connect', description: 'Market analysis', attributes: { 'consent.screen.text': 'Ask market analysis for you', 'display.on.consent.screen': 'true' } },
        { name: 'profile', description: '', attributes: { 'consent.screen.text': '${profileScopeConsentText}' } },
        { name: 'bare' },
      ],
    });
    expect(realm.clientScopes).toEqual([
      { name: 'market-analysis:analyze', description: 'Market analysis', consentScreenText: 'Ask market analysis for you', includeInTokenScope: true },
      { name: 'profile', description: undefined, consentScreenText: undefined, includeInTokenScope: true },
      { name: 'bare', description: undefined, consentScreenText: undefined, includeInTokenScope: true },
    ]);
    expect(loadRealm({ realm: 'r' }).clientScopes).toEqual([]);
  });

  it("reads a client scope's include.in.token.scope (Keycloak's basic scope is \"false\"); default true; anything else names the field", () => {
    const realm = loadRealm({
      realm: 'r',
      clientScopes: [
        { name: 'basic', attributes: { 'include.in.token.scope': 'false', 'display.on.consent.screen': 'false' } },
        { name: 'crm:read', attributes: { 'include.in.token.scope': 'true' } },
      ],
    });
    expect(realm.clientScopes.map((s) => [s.name, s.includeInTokenScope])).toEqual([
      ['basic', false],
      ['crm:read', true],
    ]);
    expect(() => loadRealm({ realm: 'r', clientScopes: [{ name: 'basic', attributes: { 'include.in.token.scope': 'no' } }] })).toThrow(
      'options.realm.clientScopes[0].attributes["include.in.token.scope"] must be "true" or "false" (got "no")',
    );
  });

  it('reads ssoSessionMaxLifespan, the absolute life of a grant; default 36000 s as Keycloak, 0 or -1 mean the default (issue 13, finding 6)', () => {
    expect(loadRealm({ realm: 'r' }).ssoSessionMaxLifespan).toBe(36000);
    expect(loadRealm({ realm: 'r', ssoSessionMaxLifespan: 7200 }).ssoSessionMaxLifespan).toBe(7200);
    expect(loadRealm({ realm: 'r', ssoSessionMaxLifespan: 0 }).ssoSessionMaxLifespan).toBe(36000);
    expect(loadRealm({ realm: 'r', ssoSessionMaxLifespan: -1 }).ssoSessionMaxLifespan).toBe(36000);
  });

  it('a disabled realm disables AAuth', () => {
    expect(loadRealm({ realm: 'r', enabled: false, attributes: { 'aauth.enabled': 'true' } }).policy.enabled).toBe(false);
  });

  it.each([
    ['no realm name', { users: [] }, 'options.realm.realm must be the realm name'],
    ['a realm name with a slash', { realm: 'a/b' }, 'options.realm.realm must be the realm name'],
    ['a list that is not JSON', withAttribute('aauth.allowed.agents', 'https://a.example'), 'options.realm.attributes["aauth.allowed.agents"] must hold a JSON array of strings'],
    ['a list that is an object', withAttribute('aauth.allowed.scopes', '{"a":1}'), 'options.realm.attributes["aauth.allowed.scopes"] must hold a JSON array of non-empty strings'],
    ['a list with a number', withAttribute('aauth.blocked.agents', '[1]'), 'options.realm.attributes["aauth.blocked.agents"] must hold a JSON array of non-empty strings'],
    ['a list given as a real array', withAttribute('aauth.consent.required.scopes', ['a']), 'options.realm.attributes["aauth.consent.required.scopes"] must be a string holding a JSON array of strings'],
    ['a boolean that is not true/false', withAttribute('aauth.exchange.enabled', 'yes'), 'options.realm.attributes["aauth.exchange.enabled"] must be "true" or "false"'],
    ['a negative depth', withAttribute('aauth.exchange.max.depth', '-1'), 'options.realm.attributes["aauth.exchange.max.depth"] must be an integer of at least 0'],
    ['an untrusted-looking issuer', withAttribute('aauth.trusted.issuers', '["http://example.com/realms/x"]'), 'options.realm.attributes["aauth.trusted.issuers"][0] must use https'],
    ['an issuer with a trailing slash', withAttribute('aauth.trusted.issuers', '["https://kc.example/realms/x/"]'), 'options.realm.attributes["aauth.trusted.issuers"][0] must not end with a slash'],
    ['attributes as an array', { realm: 'r', attributes: [] }, 'options.realm.attributes must be an object of string values'],
    ['a string lifespan', { realm: 'r', accessTokenLifespan: '300' }, 'options.realm.accessTokenLifespan must be a number of seconds'],
    ['a zero lifespan', { realm: 'r', accessTokenLifespan: 0 }, 'options.realm.accessTokenLifespan must be an integer of at least 1'],
    ['a string SSO session maximum', { realm: 'r', ssoSessionMaxLifespan: '36000' }, 'options.realm.ssoSessionMaxLifespan must be a number of seconds'],
    ['a fractional SSO session maximum', { realm: 'r', ssoSessionMaxLifespan: 1.5 }, 'options.realm.ssoSessionMaxLifespan must be an integer of at least 1'],
    ['users as an object', { realm: 'r', users: {} }, 'options.realm.users must be an array'],
    ['a user without a name', { realm: 'r', users: [{ enabled: true }] }, 'options.realm.users[0].username must be a non-empty string'],
    ['duplicate user names', { realm: 'r', users: [{ username: 'A' }, { username: 'a' }] }, 'options.realm.users[1].username duplicates the user name "a"'],
    ['a non-boolean enabled', { realm: 'r', users: [{ username: 'a', enabled: 'yes' }] }, 'options.realm.users[0].enabled must be a boolean'],
    ['credentials as an object', { realm: 'r', users: [{ username: 'a', credentials: {} }] }, 'options.realm.users[0].credentials must be an array'],
    ['an empty password value', { realm: 'r', users: [{ username: 'a', credentials: [{ type: 'password', value: '' }] }] }, 'options.realm.users[0].credentials[0].value must be a non-empty string'],
    ['a password with nothing', { realm: 'r', users: [{ username: 'a', credentials: [{ type: 'password' }] }] }, 'options.realm.users[0].credentials[0] is a password credential with neither "value" nor "secretData"/"credentialData"'],
    ['secretData that is not JSON', { realm: 'r', users: [{ username: 'a', credentials: [{ type: 'password', secretData: '{', credentialData: '{}' }] }] }, 'options.realm.users[0].credentials[0].secretData must hold a JSON object'],
    ['clientScopes as an object', { realm: 'r', clientScopes: {} }, 'options.realm.clientScopes must be an array'],
    ['a client scope without a name', { realm: 'r', clientScopes: [{ description: 'x' }] }, 'options.realm.clientScopes[0].name must be a non-empty string'],
    ['a client scope description that is not a string', { realm: 'r', clientScopes: [{ name: 's', description: 1 }] }, 'options.realm.clientScopes[0].description must be a string'],
    ['a consent text that is not a string', { realm: 'r', clientScopes: [{ name: 's', attributes: { 'consent.screen.text': true } }] }, 'options.realm.clientScopes[0].attributes["consent.screen.text"] must be a string'],
  ])('refuses %s with a message naming the field', (_name, realm, message) => {
    expect(() => loadRealm(realm)).toThrow(TypeError);
    expect(() => loadRealm(realm)).toThrow(message);
  });

  it('names the file for a realm file that is not JSON, and createAuthServer refuses it', () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"realm": "aauth-test",');
    expect(() => loadRealm(file)).toThrow(`options.realm (file ${file}) is not valid JSON`);
    expect(() => createAuthServer({ realm: file, baseUrl: 'http://localhost:8080', onWarning: () => {} })).toThrow(TypeError);
    expect(() => loadRealm(join(dir, 'missing.json'))).toThrow(`options.realm: cannot read realm file ${join(dir, 'missing.json')}`);
  });

  it('never quotes the text of a realm file that is not JSON (it holds client secrets and passwords)', () => {
    for (const text of ['hunter2-client-secret', '{"clients":[{"secret": hunter2-client-secret}]}']) {
      const file = join(dir, 'secret.json');
      writeFileSync(file, text);
      let message = '';
      try {
        loadRealm(file);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toContain(`options.realm (file ${file}) is not valid JSON`);
      expect(message).not.toMatch(/hunter2|"clients"/);
    }
  });

  it('names the bad field of a realm file', () => {
    const file = join(dir, 'bad-field.json');
    writeFileSync(file, JSON.stringify(withAttribute('aauth.allowed.agents', 'not json')));
    expect(() => createAuthServer({ realm: file, baseUrl: 'http://localhost:8080', onWarning: () => {} })).toThrow(
      `options.realm (file ${file}).attributes["aauth.allowed.agents"] must hold a JSON array of strings`,
    );
  });

  it('warns about unknown aauth.* attributes and unusable credentials, and ignores other attributes', () => {
    const warnings: string[] = [];
    loadRealm(
      {
        realm: 'r',
        attributes: { 'aauth.alowed.agents': '[]', frontendUrl: 'x' },
        users: [{ username: 'a', credentials: [{ type: 'password', secretData: '{"value":"x","salt":"y"}', credentialData: '{"algorithm":"argon2","hashIterations":5}' }] }],
      },
      { onWarning: (w) => warnings.push(w) },
    );
    expect(warnings).toHaveLength(2);
    expect(warnings[0]).toContain('options.realm.attributes["aauth.alowed.agents"] is not an AAuth attribute');
    expect(warnings[1]).toContain('options.realm.users[0].credentials[0].credentialData.algorithm "argon2" is not supported');
  });
});

describe('realm passwords', () => {
  it('checks plain values and Keycloak PBKDF2 hashes', async () => {
    const salt = randomBytes(16);
    const hash = pbkdf2Sync('s3cret', salt, 1000, 64, 'sha256');
    const realm = loadRealm({
      realm: 'r',
      users: [
        { username: 'plain', credentials: [{ type: 'password', value: 'user123' }, { type: 'otp', value: '123456' }] },
        {
          username: 'hashed',
          credentials: [
            {
              type: 'password',
              secretData: JSON.stringify({ value: hash.toString('base64'), salt: salt.toString('base64'), additionalParameters: {} }),
              credentialData: JSON.stringify({ hashIterations: 1000, algorithm: 'pbkdf2-sha256', additionalParameters: {} }),
            },
          ],
        },
      ],
    });
    const [plain, hashed] = realm.users;
    await expect(verifyPassword(plain!, 'user123')).resolves.toBe(true);
    await expect(verifyPassword(plain!, 'user1234')).resolves.toBe(false);
    await expect(verifyPassword(plain!, '123456')).resolves.toBe(false);
    await expect(verifyPassword(plain!, '')).resolves.toBe(false);
    await expect(verifyPassword(hashed!, 's3cret')).resolves.toBe(true);
    await expect(verifyPassword(hashed!, 's3cret ')).resolves.toBe(false);
    await expect(verifyPassword(hashed!, 'x'.repeat(5000))).resolves.toBe(false);
  });
});
