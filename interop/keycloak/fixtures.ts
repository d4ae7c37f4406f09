import { inject } from 'vitest';
import { decodeJwt, startAuthServer, startParty, type Party, type TestAuthServer } from '../../test/fixtures/auth-server.js';
import { exchangeRealm, REALM_FILE, SECRETS, userToken } from '../../test/fixtures/oauth.js';

/**
 * Helpers of the Keycloak interop tests (issue 14 section 1): tokens from the real Keycloak that
 * global-setup.ts started, and the embedded server on the same realm file, both reached over
 * their OAuth token endpoint at Keycloak's path.
 */

/** The realm of keycloak-realm/aauth-test-realm.json. */
export const REALM = 'aauth-test';
/** mcp-user's password in the realm file (dev only). */
export const USER_PASSWORD = 'user123';

/** The issuer of the realm in the Keycloak of this interop run: `http://127.0.0.1:PORT/realms/aauth-test`. */
export function keycloakIssuer(): string {
  const url = inject('keycloakUrl');
  if (url === '') throw new Error('Keycloak was not started (INTEROP_SKIP_KEYCLOAK=1): these tests need it');
  return `${url}/realms/${REALM}`;
}

/** An answer of a token endpoint, read whole. */
export interface TokenAnswer {
  status: number;
  headers: Headers;
  /** The JSON body (`{ text }` when it is not JSON). */
  body: Record<string, unknown>;
}

/**
 * POST a form to `{issuer}/protocol/openid-connect/token` (Keycloak's path, which the embedded
 * server serves too), with Basic credentials form-urlencoded as RFC 6749 section 2.3.1 says.
 */
export async function postToken(issuer: string, params: Record<string, string | undefined>, options: { basic?: readonly [string, string] } = {}): Promise<TokenAnswer> {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) if (value !== undefined) form.append(name, value);
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  if (options.basic) {
    const enc = (s: string): string => new URLSearchParams([['', s]]).toString().slice(1);
    headers.authorization = `Basic ${Buffer.from(`${enc(options.basic[0])}:${enc(options.basic[1])}`).toString('base64')}`;
  }
  const response = await fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', headers, body: form.toString() });
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body };
}

/** Basic credentials of a confidential client of the realm file (dev secrets). */
export function credentials(client: keyof typeof SECRETS): readonly [string, string] {
  return [client, SECRETS[client]];
}

async function accessToken(answer: Promise<TokenAnswer>, what: string): Promise<string> {
  const res = await answer;
  if (res.status !== 200 || typeof res.body.access_token !== 'string') throw new Error(`${what}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token;
}

/** A client's own token (`client_credentials`), from Keycloak or the embedded server. */
export function clientCredentialsToken(issuer: string, client: keyof typeof SECRETS, scope?: string): Promise<string> {
  return accessToken(postToken(issuer, { grant_type: 'client_credentials', scope }, { basic: credentials(client) }), `client_credentials of ${client}`);
}

/**
 * mcp-user's tokens from Keycloak: the password grant at the public client `supply-chain-ui`
 * (direct access grants are on in the realm file for dev and tests). The whole answer: the access
 * token, and with `openid` in `scope` an ID token, and a refresh token.
 */
export async function keycloakUserTokens(issuer: string, scope: string): Promise<{ access_token: string; id_token?: string; refresh_token?: string }> {
  const res = await postToken(issuer, { grant_type: 'password', client_id: 'supply-chain-ui', username: 'mcp-user', password: USER_PASSWORD, scope });
  if (res.status !== 200 || typeof res.body.access_token !== 'string') throw new Error(`password grant of mcp-user: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body as { access_token: string; id_token?: string; refresh_token?: string };
}

/** The embedded server on keycloak-realm/aauth-test-realm.json exactly as the repository ships it. */
export function startEmbedded(): Promise<TestAuthServer> {
  return startAuthServer({ realm: REALM_FILE });
}

/** An embedded server whose user got a token through the AAuth flow. */
export interface EmbeddedWithUser {
  server: TestAuthServer;
  /** mcp-user's AAuth auth token for the supply-chain agent (`aud` = its identity), approved on the consent page. */
  userToken: string;
  close(): Promise<void>;
}

/**
 * The embedded server has no password grant: a user's token comes from the AAuth flow (a backend
 * agent asks for the supply-chain agent's resource token, mcp-user signs in and approves). The
 * realm file is the shipped one with the loopback identities of that flow (test/fixtures/oauth.ts
 * `exchangeRealm`): the supply-chain agent's AAuth identity and the CRM scopes allowed for AAuth.
 */
export async function startEmbeddedWithUser(scope: string): Promise<EmbeddedWithUser> {
  const parties: Party[] = await Promise.all([startParty('backend'), startParty('sca')]);
  const [backend, sca] = parties as [Party, Party];
  let server: TestAuthServer | undefined;
  try {
    server = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }) });
    const token = await userToken(server, backend, sca, scope);
    const started = server;
    const close = async (): Promise<void> => {
      await Promise.all([started.close(), ...parties.map((p) => p.close())]);
    };
    return { server, userToken: token, close };
  } catch (error) {
    await Promise.all([server?.close(), ...parties.map((p) => p.close())]);
    throw error;
  }
}

/** Re-encode a JWS with a changed header or claims, keeping the original signature (a tampered token). */
export function tamper(jwt: string, change: { header?: Record<string, unknown>; claims?: Record<string, unknown> }): string {
  const { header, claims } = decodeJwt(jwt);
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${enc({ ...header, ...change.header })}.${enc({ ...claims, ...change.claims })}.${jwt.split('.')[2]}`;
}

/** GET a path of Keycloak's admin API for the realm, as the bootstrap admin of global-setup.ts (admin/admin). */
export async function keycloakAdminGet(path: string): Promise<unknown> {
  const url = inject('keycloakUrl');
  const login = await postToken(`${url}/realms/master`, { grant_type: 'password', client_id: 'admin-cli', username: 'admin', password: 'admin' });
  if (login.status !== 200) throw new Error(`admin login: ${login.status} ${JSON.stringify(login.body)}`);
  const res = await fetch(`${url}/admin/realms/${REALM}${path}`, { headers: { authorization: `Bearer ${String(login.body.access_token)}` } });
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
}
