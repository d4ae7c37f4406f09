import {
  generateKey,
  signJwt,
  signRequest,
  type HttpRequest,
  type SignatureKey,
  type SignRequestOptions,
  type SigningKey,
} from '@aauth-kit/core';
import { startServer, type Route, type TestServer } from '../../../test/fixtures/route-server.js';

export { closer, manualClock, startServer, type Route, type TestServer } from '../../../test/fixtures/route-server.js';

/** An agent: a key and a loopback server publishing its metadata and JWKS. */
export async function startAgent(options: { kid?: string; key?: SigningKey } = {}): Promise<TestServer & { key: SigningKey; id: string; routes: Record<string, Route> }> {
  const key = options.key ?? generateKey({ kid: options.kid ?? 'agent-1' });
  const srv = await startServer();
  srv.routes['/.well-known/aauth-agent.json'] = { body: { agent: srv.url, jwks_uri: `${srv.url}/jwks.json` } };
  srv.routes['/jwks.json'] = { body: { keys: [key.toPublishedJwk()] } };
  return { ...srv, key, id: srv.url };
}

/** An auth-token issuer: a key and a loopback server publishing its metadata and JWKS. */
export async function startIssuer(options: { key?: SigningKey } = {}): Promise<
  TestServer & { key: SigningKey; issuer: string; routes: Record<string, Route>; mint: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string> }
> {
  const key = options.key ?? generateKey({ kid: 'issuer-1' });
  const srv = await startServer();
  srv.routes['/.well-known/aauth-issuer.json'] = {
    body: { issuer: srv.url, token_endpoint: `${srv.url}/token`, jwks_uri: `${srv.url}/certs` },
  };
  srv.routes['/certs'] = { body: { keys: [key.toPublishedJwk()] } };
  const mint = (claims: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> =>
    signJwt(key, { typ: 'auth+jwt', ...header }, { iss: srv.url, ...claims });
  return { ...srv, key, issuer: srv.url, mint };
}

/** Standard auth-token claims for `agent` at `audience`, bound to `cnf`. */
export function authClaims(options: { audience: string; agent: string; cnf: SigningKey; scope?: string; lifetime?: number; now?: number }): Record<string, unknown> {
  const iat = Math.floor(options.now ?? Date.now() / 1000);
  return {
    aud: options.audience,
    agent: options.agent,
    sub: 'user-1',
    scope: options.scope ?? 'read write',
    cnf: { jwk: options.cnf.jwk },
    iat,
    exp: iat + (options.lifetime ?? 300),
    jti: `t-${Math.random().toString(36).slice(2)}`,
  };
}

/** Sign `request` and return it with the signature headers added. */
export function sign(
  request: HttpRequest & { headers: Record<string, string> },
  key: SigningKey,
  signatureKey?: SignatureKey | string,
  extra: Partial<SignRequestOptions> = {},
): HttpRequest & { headers: Record<string, string> } {
  const { headers } = signRequest(request, { key, ...(signatureKey === undefined ? {} : { signatureKey }), ...extra });
  return { ...request, headers: { ...request.headers, ...headers } };
}

/** A compact JWT with an arbitrary header and payload and a junk signature (alg none, forged, ...). */
export function unsignedJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = ''): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');
  return `${enc(header)}.${enc(payload)}.${signature}`;
}

/** An injected fetch answering from a table of absolute URLs (for https hosts without TLS); records calls. */
export function tableFetch(table: Record<string, unknown | ((url: string) => Response)>): typeof fetch & { calls: string[] } {
  const calls: string[] = [];
  const f = (async (input: string | URL | Request) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    calls.push(url);
    const entry = table[url];
    if (entry === undefined) return new Response('{"error":"not_found"}', { status: 404 });
    if (typeof entry === 'function') return (entry as (u: string) => Response)(url);
    return new Response(JSON.stringify(entry), { status: 200, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch & { calls: string[] };
  f.calls = calls;
  return f;
}

/** A resolver that maps names to fixed addresses (public by default) and records lookups. */
export function tableResolver(table: Record<string, string[]> = {}): ((host: string) => Promise<string[]>) & { lookups: string[] } {
  const lookups: string[] = [];
  const r = (async (host: string) => {
    lookups.push(host);
    return table[host] ?? ['93.184.215.14'];
  }) as ((host: string) => Promise<string[]>) & { lookups: string[] };
  r.lookups = lookups;
  return r;
}
