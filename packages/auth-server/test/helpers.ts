import { createServer as createNetServer } from 'node:net';
import type { Server } from 'node:http';
import { generateKey, mintResourceToken, signRequest, type SigningKey, type SignatureKey } from '@aauth-kit/core';
import express, { type Express } from 'express';
import { createAuthServer, type AuditEvent, type AuthServer, type AuthServerOptions } from '../src/index.js';

/** A free loopback port (the auth server's base URL must be known before it listens). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createNetServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * An agent that is also a resource (like the demo's supply-chain agent): serves agent and resource
 * metadata and its JWKS on loopback, signs requests, and mints resource tokens with core.
 */
export interface Party {
  identity: string;
  key: SigningKey;
  /** Signature-Key naming this party's published key. */
  signatureKey: SignatureKey;
  resourceToken(options: { agent: string; agentJkt: string; scope: string; audience: string; lifetime?: number; now?: () => number; key?: SigningKey }): Promise<string>;
  close(): Promise<void>;
}

export async function startParty(name = 'party'): Promise<Party> {
  const key = generateKey({ kid: `${name}-1` });
  const app = express();
  let identity = '';
  app.get(['/.well-known/aauth-agent.json', '/.well-known/aauth-agent'], (_req, res) => {
    res.json({ agent: identity, jwks_uri: `${identity}/jwks.json` });
  });
  app.get(['/.well-known/aauth-resource.json', '/.well-known/aauth-resource'], (_req, res) => {
    res.json({ resource: identity, jwks_uri: `${identity}/jwks.json` });
  });
  app.get('/jwks.json', (_req, res) => {
    res.json({ keys: [key.toPublishedJwk()] });
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  identity = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    identity,
    key,
    signatureKey: { scheme: 'jwks_uri', id: identity, kid: key.kid },
    resourceToken: (o) =>
      mintResourceToken(o.key ?? key, {
        issuer: identity,
        audience: o.audience,
        agent: o.agent,
        agentJkt: o.agentJkt,
        scope: o.scope,
        ...(o.lifetime !== undefined ? { lifetime: o.lifetime } : {}),
        ...(o.now !== undefined ? { now: o.now } : {}),
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface SignedResponse {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
}

/** Send a request signed with core signRequest (the agent's own key), as section 8 describes. */
export async function signedFetch(
  url: string,
  options: {
    key: SigningKey;
    signatureKey?: SignatureKey;
    method?: string;
    json?: unknown;
    form?: Record<string, string>;
    body?: string;
    contentType?: string;
    now?: () => number;
    extraHeaders?: Record<string, string>;
  },
): Promise<SignedResponse> {
  const method = options.method ?? (options.json !== undefined || options.form !== undefined || options.body !== undefined ? 'POST' : 'GET');
  let body: string | undefined;
  const headers: Record<string, string> = { ...(options.extraHeaders ?? {}) };
  if (options.json !== undefined) {
    body = JSON.stringify(options.json);
    headers['content-type'] = 'application/json';
  } else if (options.form !== undefined) {
    body = new URLSearchParams(options.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  } else if (options.body !== undefined) {
    body = options.body;
  }
  if (options.contentType !== undefined) headers['content-type'] = options.contentType;
  if (body !== undefined && method === 'POST') headers.prefer = 'wait=45';
  const signed = signRequest(
    { method, url, headers, body },
    { key: options.key, signatureKey: options.signatureKey ?? { scheme: 'hwk', jwk: options.key.jwk }, ...(options.now ? { now: options.now } : {}) },
  );
  const response = await fetch(url, { method, headers: { ...headers, ...signed.headers }, body, redirect: 'manual' });
  const text = await response.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text.length > 0 ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Decode a JWT's header and claims (tests only). */
export function decodeJwt(jwt: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  const [h, c] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')) as Record<string, unknown>,
    claims: JSON.parse(Buffer.from(c!, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

/** The realm the tests use unless they override parts of it. */
export function testRealm(attributes: Record<string, string> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    realm: 'aauth-test',
    enabled: true,
    accessTokenLifespan: 300,
    attributes: {
      'aauth.enabled': 'true',
      'aauth.consent.required.scopes': '["supply-chain:optimize"]',
      'aauth.consent.required.scope.prefixes': '["user."]',
      ...attributes,
    },
    users: [
      {
        id: 'c0ffee00-0000-4000-8000-000000000001',
        username: 'mcp-user',
        enabled: true,
        firstName: 'MCP',
        lastName: 'User',
        credentials: [{ type: 'password', value: 'user123', temporary: false }],
      },
      { username: 'disabled-user', enabled: false, credentials: [{ type: 'password', value: 'pw' }] },
    ],
    ...extra,
  };
}

export interface TestAuthServer {
  server: AuthServer;
  issuer: string;
  tokenEndpoint: string;
  interactionEndpoint: string;
  audit: AuditEvent[];
  warnings: string[];
  close(): Promise<void>;
}

/** Start an embedded auth server on a free loopback port with base URL http://127.0.0.1:PORT. */
export async function startAuthServer(options: Partial<AuthServerOptions> = {}): Promise<TestAuthServer> {
  const port = await freePort();
  const audit: AuditEvent[] = [];
  const warnings: string[] = [];
  const server = createAuthServer({
    realm: testRealm(),
    baseUrl: `http://127.0.0.1:${port}`,
    onAudit: (e) => audit.push(e),
    onWarning: (w) => warnings.push(w),
    ...options,
  });
  const running = await server.listen(port);
  return {
    server,
    issuer: server.issuer,
    tokenEndpoint: `${server.issuer}/protocol/aauth/token`,
    interactionEndpoint: `${server.issuer}/protocol/aauth/interact`,
    audit,
    warnings,
    close: running.close,
  };
}

/** Parse a Set-Cookie list into a Cookie header value, keeping the last value of each name. */
export function cookieHeader(previous: string, response: Response): string {
  const jar = new Map<string, string>();
  for (const part of previous.split('; ').filter(Boolean)) {
    const eq = part.indexOf('=');
    jar.set(part.slice(0, eq), part.slice(eq + 1));
  }
  for (const line of response.headers.getSetCookie()) {
    const first = line.split(';')[0]!;
    const eq = first.indexOf('=');
    const name = first.slice(0, eq);
    const value = first.slice(eq + 1);
    if (value === '' || /max-age=0/i.test(line)) jar.delete(name);
    else jar.set(name, value);
  }
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}

function hiddenField(html: string, name: string): string {
  const match = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!match) throw new Error(`no hidden field ${name} in page`);
  return match[1]!.replace(/&amp;/g, '&').replace(/&quot;/g, '"');
}

/**
 * Drive the interaction page over plain HTTP like a browser would (cookies, CSRF fields, 303s):
 * log in as `username` and approve or deny. Returns the final response.
 */
export async function decideOverHttp(
  interactionEndpoint: string,
  code: string,
  decision: 'approve' | 'deny',
  options: { username?: string; password?: string; callback?: string } = {},
): Promise<Response> {
  const query = new URLSearchParams({ code, ...(options.callback ? { callback: options.callback } : {}) });
  const first = await fetch(`${interactionEndpoint}?${query}`);
  let cookies = cookieHeader('', first);
  const loginHtml = await first.text();
  const login = await fetch(`${interactionEndpoint}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
    body: new URLSearchParams({
      code,
      csrf: hiddenField(loginHtml, 'csrf'),
      ...(options.callback ? { callback: options.callback } : {}),
      username: options.username ?? 'mcp-user',
      password: options.password ?? 'user123',
    }).toString(),
  });
  if (login.status !== 303) throw new Error(`login answered ${login.status}: ${await login.text()}`);
  cookies = cookieHeader(cookies, login);
  const consent = await fetch(new URL(login.headers.get('location')!, interactionEndpoint), { headers: { cookie: cookies } });
  const consentHtml = await consent.text();
  return fetch(`${interactionEndpoint}/decision`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
    body: new URLSearchParams({
      code,
      csrf: hiddenField(consentHtml, 'csrf'),
      ...(options.callback ? { callback: options.callback } : {}),
      decision,
    }).toString(),
  });
}

/** An express app on a free loopback port, with its own key. */
export interface Service {
  url: string;
  app: Express;
  key: SigningKey;
  close(): Promise<void>;
}

/** An express app on a known free loopback port, so its identity URL is known before routes are added. */
export async function service(kid: string): Promise<Service> {
  const port = await freePort();
  const app = express();
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(port, '127.0.0.1', () => resolve(s));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    app,
    key: generateKey({ kid }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
