import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decideOverHttp, signedFetch, type Party, type TestAuthServer } from './helpers.js';

export const REALM_FILE = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));
export const USER_ID = '6f1c2b7e-3d4a-4e5f-9a8b-0c1d2e3f4a5b';
export const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
export const SECRETS = {
  'supply-chain-agent': 'supply-chain-agent-secret',
  'market-analysis-agent': 'market-analysis-agent-secret',
  crm: 'crm-secret',
} as const;

interface RealmJson {
  attributes: Record<string, string>;
  clients: Array<Record<string, unknown> & { clientId: string; attributes: Record<string, string> }>;
}

/**
 * The shipped realm file, adjusted for loopback tests: the CRM scopes are allowed for AAuth
 * tokens, the agents' AAuth identities are the test parties' URLs, and `crm` has a root URL.
 */
export function exchangeRealm(options: { scaIdentity: string; maaIdentity?: string; crmRootUrl?: string; extraClients?: Array<Record<string, unknown>> }): RealmJson {
  const realm = JSON.parse(readFileSync(REALM_FILE, 'utf8')) as RealmJson;
  realm.attributes['aauth.allowed.scopes'] = JSON.stringify(['supply-chain:optimize', 'market-analysis:analyze', 'crm:read', 'crm:write']);
  const client = (id: string) => realm.clients.find((c) => c.clientId === id)!;
  client('supply-chain-agent').attributes['aauth.exchange.subject.audiences'] = JSON.stringify([options.scaIdentity]);
  if (options.maaIdentity) client('market-analysis-agent').attributes['aauth.exchange.subject.audiences'] = JSON.stringify([options.maaIdentity]);
  if (options.crmRootUrl) client('crm').rootUrl = options.crmRootUrl;
  realm.clients.push(...((options.extraClients ?? []) as RealmJson['clients']));
  return realm;
}

/**
 * A user's AAuth auth token from the embedded server's own flow: `backend` takes a resource token
 * of `sca` to the token endpoint, mcp-user logs in and approves, and the poll delivers the token
 * (`aud` = SCA, `agent` = backend, `sub` = the user).
 */
export async function userToken(as: TestAuthServer, backend: Party, sca: Party, scope: string): Promise<string> {
  const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: as.issuer });
  const pending = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
  if (pending.status !== 202) throw new Error(`expected 202, got ${pending.status} ${JSON.stringify(pending.body)}`);
  const decided = await decideOverHttp(as.interactionEndpoint, String(pending.body.code), 'approve');
  if (decided.status !== 200) throw new Error(`approval answered ${decided.status}`);
  const delivered = await signedFetch(String(pending.body.location), { key: backend.key, signatureKey: backend.signatureKey });
  if (delivered.status !== 200) throw new Error(`poll answered ${delivered.status}`);
  return String(delivered.body.auth_token);
}

export interface FormResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** POST a form to the OAuth token endpoint, optionally with Basic credentials (RFC 6749 section 2.3.1 encoding). */
export async function tokenPost(
  as: TestAuthServer,
  params: Record<string, string | string[] | undefined>,
  options: { basic?: [string, string]; rawAuthorization?: string; contentType?: string } = {},
): Promise<FormResponse> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) form.append(name, v);
  }
  const headers: Record<string, string> = { 'content-type': options.contentType ?? 'application/x-www-form-urlencoded' };
  if (options.basic) {
    const enc = (s: string) => new URLSearchParams([['', s]]).toString().slice(1);
    headers.authorization = `Basic ${Buffer.from(`${enc(options.basic[0])}:${enc(options.basic[1])}`).toString('base64')}`;
  }
  if (options.rawAuthorization) headers.authorization = options.rawAuthorization;
  const response = await fetch(`${as.issuer}/protocol/openid-connect/token`, { method: 'POST', headers, body: form.toString() });
  const text = await response.text();
  let body: Record<string, unknown> = {};
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

/** Basic credentials of a client of the shipped realm. */
export function basic(client: keyof typeof SECRETS): [string, string] {
  return [client, SECRETS[client]];
}
