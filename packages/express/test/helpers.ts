import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Express } from 'express';
import { generateKey, signJwt, signRequest, type HttpRequest, type SignatureKey, type SignRequestOptions, type SigningKey } from '@aauth-kit/core';

export type Route = { status?: number; body?: unknown; headers?: Record<string, string>; raw?: string } | ((req: IncomingMessage, res: ServerResponse) => void);

export interface TestServer {
  url: string;
  server: Server;
  hits: Map<string, number>;
  routes: Record<string, Route>;
  close(): Promise<void>;
}

function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
}

/** A loopback server (127.0.0.1, port 0) answering from a route table; unknown paths 404. */
export async function startServer(routes: Record<string, Route> = {}): Promise<TestServer> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const route = routes[path];
    if (!route) return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
    if (typeof route === 'function') return route(req, res);
    res.writeHead(route.status ?? 200, { 'content-type': 'application/json', ...route.headers }).end(route.raw ?? JSON.stringify(route.body ?? {}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, server, hits, routes, close: () => closeServer(server) };
}

/** An agent publishing its metadata and JWKS on loopback. */
export async function startAgent(kid = 'agent-1'): Promise<TestServer & { key: SigningKey; id: string }> {
  const key = generateKey({ kid });
  const srv = await startServer();
  srv.routes['/.well-known/aauth-agent.json'] = { body: { agent: srv.url, jwks_uri: `${srv.url}/jwks.json` } };
  srv.routes['/jwks.json'] = { body: { keys: [key.toPublishedJwk()] } };
  return { ...srv, key, id: srv.url };
}

/** An auth-token issuer publishing its metadata and JWKS on loopback. */
export async function startIssuer(): Promise<TestServer & { key: SigningKey; issuer: string; mint: (claims: Record<string, unknown>, header?: Record<string, unknown>) => Promise<string> }> {
  const key = generateKey({ kid: 'issuer-1' });
  const srv = await startServer();
  srv.routes['/.well-known/aauth-issuer.json'] = { body: { issuer: srv.url, token_endpoint: `${srv.url}/token`, jwks_uri: `${srv.url}/certs` } };
  srv.routes['/certs'] = { body: { keys: [key.toPublishedJwk()] } };
  return { ...srv, key, issuer: srv.url, mint: (claims, header = {}) => signJwt(key, { typ: 'auth+jwt', ...header }, { iss: srv.url, ...claims }) };
}

/** Auth-token claims for `agent` at `audience`, bound to `cnf`. */
export function authClaims(o: { audience: string; agent: string; cnf: SigningKey; scope?: string; sub?: string; lifetime?: number; iat?: number }): Record<string, unknown> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  return { aud: o.audience, agent: o.agent, sub: o.sub ?? 'user-1', scope: o.scope ?? 'read', cnf: { jwk: o.cnf.jwk }, iat, exp: iat + (o.lifetime ?? 300) };
}

/** An express app on a loopback server; `identity` is known before routes are added. */
export async function startApp(): Promise<{ app: Express; identity: string; port: number; server: Server; close: () => Promise<void> }> {
  const app = express();
  const server = createServer({ maxHeaderSize: 64 * 1024 }, app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { app, identity: `http://127.0.0.1:${port}`, port, server, close: () => closeServer(server) };
}

export interface Outgoing {
  method: string;
  url: string;
  headers?: Record<string, string> | Array<[string, string]>;
  body?: string;
}

/** Sign a request for `url` (the URL the client addressed) and return it ready to send. */
export function signed(
  req: { method: string; url: string; headers?: Record<string, string>; body?: string },
  key: SigningKey,
  signatureKey?: SignatureKey | string,
  extra: Partial<SignRequestOptions> = {},
): Outgoing & { headers: Record<string, string> } {
  const request: HttpRequest = { method: req.method, url: req.url, headers: req.headers ?? {}, body: req.body };
  const { headers } = signRequest(request, { key, ...(signatureKey === undefined ? {} : { signatureKey }), ...extra });
  return { method: req.method, url: req.url, headers: { ...(req.headers ?? {}), ...headers }, ...(req.body === undefined ? {} : { body: req.body }) };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/**
 * Send a request with node:http (raw header lines allowed, so duplicated fields reach the server
 * as two lines). `to` overrides where it is sent (e.g. another port than the signed URL).
 */
export function send(req: Outgoing, to?: string): Promise<Answer> {
  const target = new URL(to ?? req.url);
  const signedUrl = new URL(req.url);
  const flat: string[] = [];
  const pairs = Array.isArray(req.headers) ? req.headers : Object.entries(req.headers ?? {});
  // With raw header lines node adds no Host header itself.
  if (!pairs.some(([k]) => k.toLowerCase() === 'host')) flat.push('host', target.host);
  for (const [k, v] of pairs) flat.push(k, v);
  if (req.body !== undefined && !pairs.some(([k]) => ['content-length', 'transfer-encoding'].includes(k.toLowerCase()))) flat.push('content-length', String(Buffer.byteLength(req.body)));
  return new Promise<Answer>((resolve, reject) => {
    const r = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path: `${signedUrl.pathname}${signedUrl.search}`, headers: flat as unknown as Record<string, string> },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = JSON.parse(text);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}
