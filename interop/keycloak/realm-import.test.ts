import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cookieHeader, signedFetch, startParty, type Party, type TestAuthServer } from '../../test/fixtures/auth-server.js';
import { REALM_FILE, USER_ID } from '../../test/fixtures/oauth.js';
import { keycloakAdminGet, REALM, startEmbedded } from './fixtures.js';

/**
 * Issue 14 section 1: keycloak-realm/aauth-test-realm.json imports into a real Keycloak (started
 * once for the interop run by ./global-setup.ts) without a warning, keeps every field the kit
 * relies on, the `aauth.*` attributes included, and the embedded server reads the same file.
 */

// Keycloak's admin representations, read as plain JSON.
type Json = Record<string, any>;
const realmFile = JSON.parse(readFileSync(REALM_FILE, 'utf8')) as Json;
const keycloakUrl = inject('keycloakUrl');

/**
 * The lines of Keycloak's console log that say the import went wrong: a WARN or ERROR while it
 * imports (between "Full model import requested" and "Import finished"), or from its import and
 * model code at any time. Empty when the import was clean.
 */
function importProblems(log: string): string[] {
  const lines = log.split('\n');
  const start = lines.findIndex((l) => l.includes('Full model import requested'));
  const end = lines.findIndex((l) => l.includes('Import finished successfully'));
  const problems: string[] = [];
  if (start === -1 || end === -1 || end < start) problems.push('the log has no complete import');
  lines.forEach((line, i) => {
    const level = /\s(WARN|ERROR)\s/.test(line);
    const duringImport = i > start && i < end;
    const importCode = /\[org\.keycloak\.(models|exportimport|storage|representations)[.\]]/.test(line) || /RepresentationToModel|ImportUtils/.test(line);
    if (level && (duringImport || importCode)) problems.push(line.trim());
  });
  return problems;
}

/** A representation from Keycloak's admin API for the realm (fails the test on a non-200). */
async function admin(path: string): Promise<Json & Json[]> {
  return (await keycloakAdminGet(path)) as Json & Json[];
}

describe('the realm file in Keycloak 26.5', () => {
  it("imports with no WARN or ERROR from the import: Keycloak's log says \"Realm 'aauth-test' imported\"", () => {
    const log = readFileSync(inject('keycloakLog'), 'utf8');
    expect(log).toContain(`Realm '${REALM}' imported`);
    expect(importProblems(log)).toEqual([]);
  });

  it('the log check catches the warnings the file used to cause (it can fail)', () => {
    const before = [
      '2026-01-01 10:00:00,000 INFO  [org.keycloak.services] (main) KC-SERVICES0030: Full model import requested. Strategy: IGNORE_EXISTING',
      "2026-01-01 10:00:01,000 WARN  [org.keycloak.models.utils.RepresentationToModel] (main) Referenced client scope 'crm:read' doesn't exist. Ignoring",
      "2026-01-01 10:00:02,000 INFO  [org.keycloak.exportimport.util.ImportUtils] (main) Realm 'aauth-test' imported",
      '2026-01-01 10:00:02,100 INFO  [org.keycloak.services] (main) KC-SERVICES0032: Import finished successfully',
      '2026-01-01 10:05:00,000 WARN  [org.keycloak.events] (executor-thread-1) type="LOGIN_ERROR", realmName="aauth-test", error="invalid_user_credentials"',
    ].join('\n');
    expect(importProblems(before)).toEqual([before.split('\n')[1]]);
  });

  it('keeps every aauth.* realm attribute, value for value, and the realm settings', async () => {
    const realm = await admin('');
    const ours = Object.entries(realmFile.attributes as Record<string, string>);
    expect(ours.length).toBe(9);
    for (const [name, value] of ours) expect(realm.attributes[name], name).toBe(value);
    expect(Object.keys(realm.attributes).filter((n) => n.startsWith('aauth.')).sort()).toEqual(ours.map(([n]) => n).sort());
    expect(JSON.parse(realm.attributes['aauth.allowed.scopes'])).toEqual(['supply-chain:optimize', 'market-analysis:analyze']);
    expect(realm).toMatchObject({ realm: REALM, enabled: true, accessTokenLifespan: 300, sslRequired: 'none', bruteForceProtected: true });
  });

  it('has exactly the client scopes of the file (no built-in ones but offline_access), with their texts, flags and audience mappers', async () => {
    const scopes = (await admin('/client-scopes')) as Json[];
    const byName = new Map(scopes.map((s) => [s.name as string, s]));
    // Keycloak adds offline_access with the realm's offline role; the file defines every other scope.
    expect([...byName.keys()].sort()).toEqual(
      ['basic', 'crm:read', 'crm:write', 'email', 'market-analysis:analyze', 'offline_access', 'profile', 'service_account', 'supply-chain:optimize'].sort(),
    );
    for (const ours of realmFile.clientScopes as Json[]) {
      const theirs = byName.get(ours.name)!;
      expect(theirs.description, ours.name).toBe(ours.description);
      expect(theirs.attributes, ours.name).toEqual(ours.attributes);
      // Every mapper of the file, with its config; Keycloak may add its defaults (userinfo.token.claim).
      const theirMappers = new Map((theirs.protocolMappers as Json[]).map((m) => [m.name as string, m]));
      expect([...theirMappers.keys()].sort(), ours.name).toEqual((ours.protocolMappers as Json[]).map((m) => m.name).sort());
      for (const m of ours.protocolMappers as Json[]) {
        expect(theirMappers.get(m.name), `${ours.name} ${m.name}`).toMatchObject({ protocolMapper: m.protocolMapper, config: m.config });
      }
    }
    expect(byName.get('crm:read')!.protocolMappers[0]).toMatchObject({
      protocolMapper: 'oidc-audience-mapper',
      config: { 'included.client.audience': 'crm', 'access.token.claim': 'true' },
    });
    const names = async (path: string) => ((await admin(path)) as Json[]).map((s) => s.name).sort();
    expect(await names('/default-default-client-scopes')).toEqual(['basic', 'email', 'profile']);
    // Keycloak makes its offline_access scope a realm default (optional) scope; no client of the file lists it.
    expect(await names('/default-optional-client-scopes')).toEqual(['offline_access']);
  });

  it('has the four clients with their grants, scopes, secrets and aauth.* attributes', async () => {
    for (const ours of realmFile.clients as Json[]) {
      const [theirs] = (await admin(`/clients?clientId=${encodeURIComponent(ours.clientId)}`)) as Json[];
      expect(theirs, ours.clientId).toBeDefined();
      for (const field of ['publicClient', 'standardFlowEnabled', 'directAccessGrantsEnabled', 'serviceAccountsEnabled', 'implicitFlowEnabled', 'enabled']) {
        expect(theirs![field], `${ours.clientId}.${field}`).toBe(ours[field]);
      }
      expect([...theirs!.defaultClientScopes].sort(), ours.clientId).toEqual([...ours.defaultClientScopes].sort());
      expect([...theirs!.optionalClientScopes].sort(), ours.clientId).toEqual([...ours.optionalClientScopes].sort());
      for (const [name, value] of Object.entries(ours.attributes as Record<string, string>)) expect(theirs!.attributes[name], `${ours.clientId} ${name}`).toBe(value);
      if (!ours.publicClient) expect((await admin(`/clients/${theirs!.id}/client-secret`)).value).toBe(`${ours.clientId}-secret`);
    }
    const [sca] = (await admin('/clients?clientId=supply-chain-agent')) as Json[];
    expect(sca!.attributes).toMatchObject({
      'standard.token.exchange.enabled': 'true',
      'aauth.exchange.audiences': '["crm","market-analysis-agent"]',
      'aauth.exchange.subject.audiences': '["http://localhost:3001"]',
    });
    const [ui] = (await admin('/clients?clientId=supply-chain-ui')) as Json[];
    expect(ui).toMatchObject({ publicClient: true, directAccessGrantsEnabled: true, standardFlowEnabled: true, webOrigins: ['+'] });
    expect([...ui!.redirectUris].sort()).toEqual(['http://127.0.0.1:*', 'http://localhost:*']);
    expect(ui!.attributes['pkce.code.challenge.method']).toBe('S256');
  });

  it('has mcp-user with the fixed id the embedded server uses as sub', async () => {
    const [user] = (await admin('/users?username=mcp-user&exact=true')) as Json[];
    expect(user).toMatchObject({ id: USER_ID, username: 'mcp-user', email: 'mcp-user@example.com', emailVerified: true, firstName: 'MCP', lastName: 'User', enabled: true });
  });

  it('serves the realm: discovery names the issuer, and mcp-user signs in through supply-chain-ui', async () => {
    const discovery = (await (await fetch(`${keycloakUrl}/realms/${REALM}/.well-known/openid-configuration`)).json()) as Json;
    expect(discovery.issuer).toBe(`${keycloakUrl}/realms/${REALM}`);
    expect(discovery.grant_types_supported).toContain('urn:ietf:params:oauth:grant-type:token-exchange');
    // The browser's flow: an authorization request with PKCE for a loopback redirect URI is shown the login page...
    const auth = (redirect: string) =>
      fetch(
        `${discovery.authorization_endpoint}?${new URLSearchParams({
          client_id: 'supply-chain-ui',
          response_type: 'code',
          scope: 'openid',
          redirect_uri: redirect,
          code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
          code_challenge_method: 'S256',
        })}`,
      );
    const login = await auth('http://localhost:5173/callback');
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('id="kc-form-login"');
    // ...and one for any other host is refused.
    const refused = await auth('https://attacker.example/callback');
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('Invalid parameter: redirect_uri');
  });
});

describe('the embedded server reads the same file', () => {
  let as: TestAuthServer;
  let backend: Party;
  let sca: Party;
  beforeAll(async () => {
    [as, backend, sca] = await Promise.all([startEmbedded(), startParty('backend'), startParty('sca')]);
  });
  afterAll(async () => {
    await Promise.all([as?.close(), backend?.close(), sca?.close()]);
  });

  it('serves its metadata and warns about nothing in the realm', async () => {
    const res = await fetch(`${as.issuer}/.well-known/aauth-issuer.json`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      issuer: as.issuer,
      token_endpoint: `${as.issuer}/protocol/aauth/token`,
      interaction_endpoint: `${as.issuer}/protocol/aauth/interact`,
      jwks_uri: `${as.issuer}/protocol/aauth/certs`,
    });
    expect(as.issuer.endsWith(`/realms/${REALM}`)).toBe(true);
    // Only the test setup's own choice (no key file) is warned about; nothing names a field of the realm file.
    expect(as.warnings.filter((w) => w.includes('options.realm'))).toEqual([]);
    expect(as.warnings.join('\n')).toMatch(/no keyFile given/);
  });

  it('client credentials: the default scopes basic and service_account are granted but not listed, as Keycloak does; crm:read adds to them', async () => {
    const basic = `Basic ${Buffer.from('supply-chain-agent:supply-chain-agent-secret').toString('base64')}`;
    const post = (form: Record<string, string>) =>
      fetch(`${as.issuer}/protocol/openid-connect/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
        body: new URLSearchParams(form).toString(),
      });
    const plain = await post({ grant_type: 'client_credentials' });
    expect(plain.status).toBe(200);
    expect(((await plain.json()) as Json).scope).toBeUndefined();
    const read = await post({ grant_type: 'client_credentials', scope: 'crm:read', audience: 'crm' });
    expect(read.status).toBe(200);
    expect(((await read.json()) as Json).scope).toBe('crm:read');
  });

  it("the consent page shows the realm scope's consent.screen.text for supply-chain:optimize", async () => {
    const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize', audience: as.issuer });
    const pending = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
    expect(pending.status).toBe(202);
    const code = String(pending.body.code);
    // Sign in as mcp-user the way a browser would, then read the consent page.
    const first = await fetch(`${as.interactionEndpoint}?code=${code}`);
    let cookies = cookieHeader('', first);
    const csrf = /name="csrf" value="([^"]*)"/.exec(await first.text())![1]!;
    const login = await fetch(`${as.interactionEndpoint}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code, csrf, username: 'mcp-user', password: 'user123' }).toString(),
    });
    expect(login.status).toBe(303);
    cookies = cookieHeader(cookies, login);
    const consent = await fetch(new URL(login.headers.get('location')!, as.interactionEndpoint), { headers: { cookie: cookies } });
    expect(consent.status).toBe(200);
    const html = await consent.text();
    expect(html).toContain('Plan and optimise your inventory orders');
    expect(html).toContain('supply-chain:optimize');
  });
});
