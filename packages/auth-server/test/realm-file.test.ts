import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRealm } from '../src/index.js';
import { decideOverHttp, decodeJwt, signedFetch, startAuthServer, startParty, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REALM_FILE = `${ROOT}keycloak-realm/aauth-test-realm.json`;
const realmText = readFileSync(REALM_FILE, 'utf8');

/**
 * Typecheck a realm export as an object literal against Keycloak's `RealmRepresentation` (from
 * @keycloak/keycloak-admin-client), with the TypeScript compiler: an object literal with
 * `satisfies` gets excess-property checks, so a misspelled or misplaced field fails.
 */
function typecheckRealm(json: string): string[] {
  const fileName = `${ROOT}keycloak-realm/__realm-typecheck__.ts`;
  const source = [
    "import type RealmRepresentation from '@keycloak/keycloak-admin-client/lib/defs/realmRepresentation.js';",
    `export const realm = ${json.trim()} satisfies RealmRepresentation;`,
    '',
  ].join('\n');
  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, languageVersion, true) : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));
  const program = ts.createProgram([fileName], options, host);
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('keycloak-realm/aauth-test-realm.json', () => {
  it('typechecks as a Keycloak RealmRepresentation', () => {
    expect(typecheckRealm(realmText)).toEqual([]);
  });

  it('the typecheck catches a misspelled field (the check can fail)', () => {
    const broken = realmText.replace('"username": "mcp-user"', '"usernme": "mcp-user"');
    const diagnostics = typecheckRealm(broken);
    expect(diagnostics.join('\n')).toMatch(/usernme/);
    const wrongType = realmText.replace('"accessTokenLifespan": 300', '"accessTokenLifespan": "300"');
    expect(typecheckRealm(wrongType).join('\n')).toMatch(/accessTokenLifespan|not assignable/);
  });

  it('holds the realm, the demo user and the AAuth attributes of section 10 as JSON arrays in strings', () => {
    const realm = JSON.parse(realmText);
    expect(realm.realm).toBe('aauth-test');
    expect(realm.enabled).toBe(true);
    expect(realm.accessTokenLifespan).toBe(300);
    const user = realm.users.find((u: { username: string }) => u.username === 'mcp-user');
    expect(user.enabled).toBe(true);
    expect(user.credentials).toEqual([{ type: 'password', value: 'user123', temporary: false }]);
    for (const value of Object.values(realm.attributes)) expect(typeof value).toBe('string');
    expect(JSON.parse(realm.attributes['aauth.allowed.scopes'])).toEqual(['supply-chain:optimize', 'market-analysis:analyze']);
    expect(JSON.parse(realm.attributes['aauth.consent.required.scopes'])).toEqual(['supply-chain:optimize']);
    expect(realm.attributes['aauth.exchange.enabled']).toBe('true');

    const parsed = loadRealm(REALM_FILE, { onWarning: (w) => expect.fail(w) });
    expect(parsed.name).toBe('aauth-test');
    expect(parsed.policy).toMatchObject({
      enabled: true,
      exchangeEnabled: true,
      maxDepth: 10,
      allowedScopes: ['supply-chain:optimize', 'market-analysis:analyze'],
      consentScopes: ['supply-chain:optimize'],
      consentScopePrefixes: [],
      allowedAgents: [],
      blockedAgents: [],
      trustedIssuers: [],
    });
  });
});

describe('the embedded server on the shipped realm file: the demo chain', () => {
  let as: TestAuthServer;
  let backend: Party;
  let sca: Party;
  let maa: Party;
  beforeAll(async () => {
    [as, backend, sca, maa] = await Promise.all([startAuthServer({ realm: REALM_FILE }), startParty('backend'), startParty('sca'), startParty('maa')]);
  });
  afterAll(async () => {
    await Promise.all([as?.close(), backend?.close(), sca?.close(), maa?.close()]);
  });

  it('backend -> consent by mcp-user -> SCA token; SCA exchanges it for MAA with sub and act', async () => {
    const rt1 = await sca.resourceToken({
      agent: backend.identity,
      agentJkt: backend.key.thumbprint,
      scope: 'supply-chain:optimize market-analysis:analyze',
      audience: as.issuer,
    });
    const pending = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt1 } });
    expect(pending.status).toBe(202);
    expect((await decideOverHttp(as.interactionEndpoint, String(pending.body.code), 'approve')).status).toBe(200);
    const first = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey });
    expect(first.status).toBe(200);

    const rt2 = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'market-analysis:analyze', audience: as.issuer });
    const second = await signedFetch(as.tokenEndpoint, {
      key: sca.key,
      signatureKey: sca.signatureKey,
      json: { resource_token: rt2, upstream_token: first.body.auth_token },
    });
    expect(second.status).toBe(200);
    expect(decodeJwt(String(second.body.auth_token)).claims).toMatchObject({
      aud: maa.identity,
      agent: sca.identity,
      sub: '6f1c2b7e-3d4a-4e5f-9a8b-0c1d2e3f4a5b',
      scope: 'market-analysis:analyze',
      act: { agent: backend.identity, sub: '6f1c2b7e-3d4a-4e5f-9a8b-0c1d2e3f4a5b' },
    });
  });

  it('refuses a scope the realm does not allow with 400 invalid_scope', async () => {
    const rt = await maa.resourceToken({ agent: sca.identity, agentJkt: sca.key.thumbprint, scope: 'market-analysis:admin', audience: as.issuer });
    const res = await signedFetch(as.tokenEndpoint, { key: sca.key, signatureKey: sca.signatureKey, json: { resource_token: rt } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_scope');
  });
});
