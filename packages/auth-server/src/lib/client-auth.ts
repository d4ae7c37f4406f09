import { createHash, timingSafeEqual } from 'node:crypto';
import { AAuthError } from '@aauth-kit/core';
import type { RealmClient } from '../load-realm.js';
import { BRUTE_FORCE_DEFAULTS, type RateLimitStore } from './brute-force.js';

/** The form parameters of a token request: repeatable ones as lists, the others once. */
export interface TokenForm {
  single: Map<string, string>;
  repeated: Map<string, string[]>;
}

/** How the client authenticated. */
export interface AuthenticatedClient {
  client: RealmClient;
  method: 'client_secret_basic' | 'client_secret_post' | 'none';
}

const MAX_CREDENTIAL = 1024;

function sameSecret(given: string, expected: string): boolean {
  // Compare digests so the comparison takes the same time whatever the lengths.
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/** RFC 6749 Appendix B: undo the application/x-www-form-urlencoded encoding of one value. */
function formDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Authenticate the client of a token request (RFC 6749 section 2.3): `client_secret_basic`
 * (form-urlencoded id and secret, section 2.3.1) or `client_secret_post` against the realm
 * client's `secret`, or a bare `client_id` for a public client. Failures are 401 `invalid_client`,
 * with `WWW-Authenticate: Basic` when the client tried Basic or sent no credentials (section 5.2).
 */
export function authenticateClient(clients: readonly RealmClient[], realmName: string, authorization: string | undefined, form: TokenForm): AuthenticatedClient {
  const challenge = { 'WWW-Authenticate': `Basic realm="${realmName}"` };
  const basicHeader = authorization !== undefined && /^basic\s/i.test(authorization.trim()) ? authorization.trim() : undefined;
  const postSecret = form.single.get('client_secret');
  const formId = form.single.get('client_id');
  if (form.single.has('client_assertion') || form.single.has('client_assertion_type')) {
    throw new AAuthError('invalid_client', 'This server authenticates clients by client secret only (client_secret_basic or client_secret_post), not by client_assertion');
  }
  if (basicHeader !== undefined && postSecret !== undefined) {
    throw new AAuthError('invalid_request', 'The client used more than one authentication method (RFC 6749 section 2.3)');
  }

  let clientId: string;
  let secret: string | undefined;
  let method: AuthenticatedClient['method'];
  if (basicHeader !== undefined) {
    const bad = (why: string): AAuthError => new AAuthError('invalid_client', `Malformed Basic credentials: ${why}`, { headers: challenge });
    const encoded = basicHeader.slice(5).trim();
    if (encoded.length === 0 || encoded.length > 4 * MAX_CREDENTIAL || !/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw bad('not base64');
    const decoded = Buffer.from(encoded, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw bad('no ":" between client id and secret');
    const id = formDecode(decoded.slice(0, colon));
    const pw = formDecode(decoded.slice(colon + 1));
    if (id === undefined || pw === undefined || id.length === 0) throw bad('the client id or secret is not form-urlencoded');
    if (formId !== undefined && formId !== id) {
      throw new AAuthError('invalid_client', 'The client_id parameter differs from the client of the Basic credentials', { headers: challenge });
    }
    [clientId, secret, method] = [id, pw, 'client_secret_basic'];
  } else if (formId !== undefined) {
    [clientId, secret, method] = [formId, postSecret, postSecret === undefined ? 'none' : 'client_secret_post'];
  } else {
    throw new AAuthError('invalid_client', 'Client authentication is required (client_secret_basic or client_secret_post)', { headers: challenge });
  }

  const headers = method === 'client_secret_post' ? {} : challenge;
  const client = clients.find((c) => c.clientId === clientId);
  // One message for an unknown client and a wrong secret: the answer does not reveal which clients exist.
  const failed = new AAuthError('invalid_client', 'Client authentication failed: unknown client or wrong secret', { headers });
  if (client === undefined || !client.enabled) {
    if (client === undefined && secret !== undefined) sameSecret(secret, secret);
    throw failed;
  }
  if (method === 'none') {
    if (client.publicClient) return { client, method };
    throw new AAuthError('invalid_client', `Client ${clientId} is confidential: authenticate with its secret`, { headers: challenge });
  }
  if (client.publicClient) throw new AAuthError('invalid_client', `Client ${clientId} is a public client and has no secret`, { headers });
  if (client.secret === undefined || client.clientAuthenticatorType !== 'client-secret') {
    throw new AAuthError('invalid_client', `Client ${clientId} cannot authenticate with a client secret at this server`, { headers });
  }
  if (secret === undefined || secret.length > MAX_CREDENTIAL || !sameSecret(secret, client.secret)) throw failed;
  return { client, method };
}

/** The client id a token request names (Basic credentials, else `client_id`), read before authentication; undefined when none. */
export function claimedClientId(authorization: string | undefined, form: TokenForm): string | undefined {
  const header = authorization?.trim();
  if (header !== undefined && /^basic\s/i.test(header)) {
    const decoded = Buffer.from(header.slice(5).trim().slice(0, 4 * MAX_CREDENTIAL), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon > 0 ? formDecode(decoded.slice(0, colon)) : undefined;
  }
  return form.single.get('client_id')?.slice(0, MAX_CREDENTIAL);
}

/** Back-off of failed client authentications (issue 13, finding 14). */
export interface ClientAuthGuard {
  /** Throw 429 `client_auth_throttled` (with `Retry-After`) while the client or the source address must wait. */
  check(clientId: string | undefined, source: string): Promise<void>;
  failed(clientId: string | undefined, source: string): Promise<void>;
  succeeded(clientId: string | undefined): Promise<void>;
}

/**
 * Per client and per source address, Keycloak's temporary-lockout arithmetic: after 10 failures
 * for one client id (30 from one address) each further batch waits 60 s more, at most 15 min;
 * failures older than an hour are forgotten. Memory is bounded (see brute-force.ts).
 */
export function createClientAuthGuard(rateLimits: RateLimitStore): ClientAuthGuard {
  const base = { ...BRUTE_FORCE_DEFAULTS, enabled: true, waitIncrementSeconds: 60, maxFailureWaitSeconds: 900, maxDeltaTimeSeconds: 3600 };
  const clients = rateLimits.throttle('client-auth-client', { settings: { ...base, failureFactor: 10 }, quickCheck: false });
  const sources = rateLimits.throttle('client-auth-source', { settings: { ...base, failureFactor: 30 }, quickCheck: false });
  return {
    async check(clientId, source) {
      const wait = Math.max(clientId === undefined ? 0 : await clients.wait(clientId), await sources.wait(source));
      if (wait > 0) throw new AAuthError('client_auth_throttled', undefined, { headers: { 'Retry-After': String(wait) } });
    },
    async failed(clientId, source) {
      if (clientId !== undefined) await clients.fail(clientId);
      await sources.fail(source);
    },
    async succeeded(clientId) {
      if (clientId !== undefined) await clients.succeed(clientId);
    },
  };
}
