import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadRealm } from '@aauth-kit/auth-server';
import { REALM_FILE } from './fixtures/oauth.js';

/**
 * The shipped realm file is what a real Keycloak needs (issue 14 section 1), checked without
 * Keycloak so that `npm test` catches a regression: the rules below are the ones Keycloak 26.5
 * applies at import (interop/keycloak/realm-import.test.ts checks the import itself).
 */

type Json = Record<string, unknown>;
interface Mapper {
  name: string;
  protocolMapper: string;
  config?: Record<string, string>;
}
interface Scope {
  name: string;
  description?: string;
  attributes?: Record<string, unknown>;
  protocolMappers?: Mapper[];
}
interface Client {
  clientId: string;
  publicClient?: boolean;
  secret?: string;
  standardFlowEnabled?: boolean;
  directAccessGrantsEnabled?: boolean;
  serviceAccountsEnabled?: boolean;
  redirectUris?: string[];
  defaultClientScopes?: string[];
  optionalClientScopes?: string[];
  attributes?: Record<string, unknown>;
}
interface Realm {
  attributes?: Record<string, unknown>;
  defaultDefaultClientScopes?: string[];
  defaultOptionalClientScopes?: string[];
  clientScopes?: Scope[];
  clients?: Client[];
  users?: Json[];
}

const realmText = readFileSync(REALM_FILE, 'utf8');
const fresh = (): Realm => JSON.parse(realmText) as Realm;

// The protocol mapper types the file uses, as Keycloak 26 names them (a typo is a mapper Keycloak cannot run).
const MAPPER_TYPES = new Set([
  'oidc-audience-mapper',
  'oidc-sub-mapper',
  'oidc-usersessionmodel-note-mapper',
  'oidc-usermodel-attribute-mapper',
  'oidc-usermodel-property-mapper',
  'oidc-full-name-mapper',
]);

/** What Keycloak would warn about or get wrong when it imports `realm`; empty when nothing. */
function keycloakProblems(realm: Realm): string[] {
  const problems: string[] = [];
  const scopes = new Map((realm.clientScopes ?? []).map((s) => [s.name, s]));
  const clients = new Map((realm.clients ?? []).map((c) => [c.clientId, c]));
  if ((realm.clientScopes ?? []).length !== scopes.size) problems.push('two client scopes have the same name');
  if ((realm.clients ?? []).length !== clients.size) problems.push('two clients have the same clientId');

  // Keycloak: "Referenced client scope 'x' doesn't exist. Ignoring" for each of these.
  const references: Array<[string, string[] | undefined]> = [
    ['defaultDefaultClientScopes', realm.defaultDefaultClientScopes],
    ['defaultOptionalClientScopes', realm.defaultOptionalClientScopes],
    ...(realm.clients ?? []).flatMap((c): Array<[string, string[] | undefined]> => [
      [`${c.clientId}.defaultClientScopes`, c.defaultClientScopes],
      [`${c.clientId}.optionalClientScopes`, c.optionalClientScopes],
    ]),
  ];
  for (const [where, names] of references) {
    for (const name of names ?? []) if (!scopes.has(name)) problems.push(`${where} references client scope ${name}, which the realm does not define`);
  }

  // Keycloak's attributes are a map of strings: anything else fails the import.
  const stringValues = (where: string, attributes: Record<string, unknown> | undefined): void => {
    for (const [name, value] of Object.entries(attributes ?? {})) {
      if (typeof value !== 'string') problems.push(`${where}.attributes["${name}"] is not a string`);
    }
  };
  stringValues('realm', realm.attributes);
  for (const s of scopes.values()) stringValues(`clientScopes ${s.name}`, s.attributes);
  for (const c of clients.values()) stringValues(`client ${c.clientId}`, c.attributes);

  for (const s of scopes.values()) {
    for (const m of s.protocolMappers ?? []) {
      if (!MAPPER_TYPES.has(m.protocolMapper)) problems.push(`client scope ${s.name}: mapper ${m.name} has unknown type ${m.protocolMapper}`);
      const audience = m.protocolMapper === 'oidc-audience-mapper' ? m.config?.['included.client.audience'] : undefined;
      if (m.protocolMapper === 'oidc-audience-mapper' && (audience === undefined || !clients.has(audience))) {
        problems.push(`client scope ${s.name}: audience mapper names ${String(audience)}, which is not a client of the realm`);
      }
    }
  }

  // A realm that lists its client scopes gets none of Keycloak's built-in ones: without a sub
  // mapper among a client's default scopes, Keycloak's tokens for it have no `sub`.
  const hasSub = (names: string[] | undefined) =>
    (names ?? realm.defaultDefaultClientScopes ?? []).some((n) => scopes.get(n)?.protocolMappers?.some((m) => m.protocolMapper === 'oidc-sub-mapper'));
  for (const c of clients.values()) {
    const issues = c.standardFlowEnabled || c.directAccessGrantsEnabled || c.serviceAccountsEnabled || c.attributes?.['standard.token.exchange.enabled'] === 'true';
    if (issues && !hasSub(c.defaultClientScopes)) problems.push(`client ${c.clientId} gets tokens, but none of its default client scopes maps sub`);
  }

  // Keycloak's standard token exchange issues an audience only through a client scope of the
  // requester: every aauth.exchange.audiences entry needs one (the embedded server reads the attribute).
  const audiencesOf = (names: string[] | undefined) =>
    (names ?? []).flatMap((n) => (scopes.get(n)?.protocolMappers ?? []).map((m) => m.config?.['included.client.audience']).filter((a): a is string => a !== undefined));
  for (const c of clients.values()) {
    if (c.attributes?.['standard.token.exchange.enabled'] !== 'true') continue;
    if (c.publicClient || !c.secret) problems.push(`client ${c.clientId} exchanges tokens but is not confidential with a secret`);
    const reachable = new Set([...audiencesOf(c.defaultClientScopes), ...audiencesOf(c.optionalClientScopes)]);
    const declared = JSON.parse(String(c.attributes['aauth.exchange.audiences'] ?? '[]')) as string[];
    for (const audience of declared) {
      if (!reachable.has(audience)) problems.push(`client ${c.clientId}: aauth.exchange.audiences has ${audience}, but no client scope of it adds that audience in Keycloak`);
    }
  }
  return problems;
}

describe('keycloak-realm/aauth-test-realm.json is what Keycloak 26.5 needs', () => {
  it('has no problem Keycloak would warn about or get wrong at import', () => {
    expect(keycloakProblems(fresh())).toEqual([]);
  });

  it('the check finds each problem (it can fail)', () => {
    const noCrmRead = fresh();
    noCrmRead.clientScopes = noCrmRead.clientScopes!.filter((s) => s.name !== 'crm:read');
    expect(keycloakProblems(noCrmRead)).toContain('supply-chain-agent.optionalClientScopes references client scope crm:read, which the realm does not define');

    const noBasic = fresh();
    noBasic.clients!.find((c) => c.clientId === 'supply-chain-agent')!.defaultClientScopes = [];
    expect(keycloakProblems(noBasic)).toEqual(['client supply-chain-agent gets tokens, but none of its default client scopes maps sub']);

    const numeric = fresh();
    numeric.attributes!['aauth.exchange.max.depth'] = 10;
    expect(keycloakProblems(numeric)).toEqual(['realm.attributes["aauth.exchange.max.depth"] is not a string']);

    const unreachable = fresh();
    unreachable.clients!.find((c) => c.clientId === 'market-analysis-agent')!.optionalClientScopes = [];
    expect(keycloakProblems(unreachable)).toEqual([
      'client market-analysis-agent: aauth.exchange.audiences has crm, but no client scope of it adds that audience in Keycloak',
    ]);

    const badAudience = fresh();
    badAudience.clientScopes!.find((s) => s.name === 'crm:write')!.protocolMappers![0]!.config!['included.client.audience'] = 'crm-api';
    expect(keycloakProblems(badAudience)).toEqual(['client scope crm:write: audience mapper names crm-api, which is not a client of the realm']);
  });

  it('defines the scopes the clients reference, with descriptions, consent texts and audiences', () => {
    const realm = fresh();
    const scope = (name: string) => realm.clientScopes!.find((s) => s.name === name)!;
    expect(realm.clientScopes!.map((s) => s.name)).toEqual([
      'basic',
      'profile',
      'email',
      'service_account',
      'supply-chain:optimize',
      'market-analysis:analyze',
      'crm:read',
      'crm:write',
    ]);
    const audience = (name: string) => scope(name).protocolMappers!.filter((m) => m.protocolMapper === 'oidc-audience-mapper').map((m) => m.config!['included.client.audience']);
    expect(audience('supply-chain:optimize')).toEqual(['supply-chain-agent']);
    expect(audience('market-analysis:analyze')).toEqual(['market-analysis-agent']);
    expect(audience('crm:read')).toEqual(['crm']);
    expect(audience('crm:write')).toEqual(['crm']);
    expect(scope('basic').attributes!['include.in.token.scope']).toBe('false');
    expect(scope('service_account').attributes!['include.in.token.scope']).toBe('false');
    for (const name of ['supply-chain:optimize', 'market-analysis:analyze', 'crm:read', 'crm:write']) {
      expect(scope(name).description, name).toMatch(/\w{4,}/);
      expect(scope(name).attributes!['consent.screen.text'], name).toMatch(/\w{4,}/);
    }
    expect(realm.defaultDefaultClientScopes).toEqual(['basic', 'profile', 'email']);
  });

  it('has the public client a user signs in with: code flow with PKCE on loopback, password grant for tests', () => {
    const ui = fresh().clients!.find((c) => c.clientId === 'supply-chain-ui')!;
    expect(ui).toMatchObject({
      publicClient: true,
      standardFlowEnabled: true,
      directAccessGrantsEnabled: true,
      serviceAccountsEnabled: false,
      redirectUris: ['http://localhost:*', 'http://127.0.0.1:*'],
      defaultClientScopes: ['basic', 'profile', 'email'],
      optionalClientScopes: ['supply-chain:optimize', 'market-analysis:analyze', 'crm:read', 'crm:write'],
    });
    expect(ui.secret).toBeUndefined();
    expect(ui.attributes!['pkce.code.challenge.method']).toBe('S256');
  });

  it('the embedded server reads the same file without a warning, scope texts and include.in.token.scope included', () => {
    const warnings: string[] = [];
    const realm = loadRealm(REALM_FILE, { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual([]);
    expect(realm.clientScopes.find((s) => s.name === 'crm:read')).toEqual({
      name: 'crm:read',
      description: 'Read contacts and accounts in the CRM',
      consentScreenText: 'Read your CRM contacts and accounts',
      includeInTokenScope: true,
    });
    expect(realm.clientScopes.filter((s) => !s.includeInTokenScope).map((s) => s.name)).toEqual(['basic', 'service_account']);
    expect(realm.clients.map((c) => c.clientId)).toEqual(['supply-chain-agent', 'market-analysis-agent', 'crm', 'supply-chain-ui']);
  });
});
