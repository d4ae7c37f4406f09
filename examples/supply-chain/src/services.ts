import { readFileSync } from 'node:fs';
import { createServer, STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import express from 'express';
import { createAgent, type Agent, type Interaction } from '@aauth-kit/agent';
import { createAuthServer, type AuditEvent, type AuthServerOptions } from '@aauth-kit/auth-server';
import { AAuthError, generateKey, loadKeyFile, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import type { Trace } from './trace.js';

/** The scopes of the demo (the realm file allows both; the user must consent to the first). */
export const SCA_SCOPE = 'supply-chain:optimize';
export const MAA_SCOPE = 'market-analysis:analyze';

/** A started service. */
export interface Service {
  name: string;
  /** Where it listens, e.g. http://127.0.0.1:3001 */
  url: string;
  /** Its identity URL (or issuer for the auth server). */
  identity: string;
  close(): Promise<void>;
}

/** A configuration mistake or a taken port, said plainly. */
export class DemoError extends Error {
  override readonly name = 'DemoError';
}

export interface ListenOptions {
  /** 0 picks a free port. */
  port: number;
  host: string;
  /** For messages: which service and which variable sets its port. */
  label: string;
  envName?: string;
}

/**
 * Node's parser limit is raised above the kit's own header limits (16 KiB per signature header), so
 * an oversized AAuth header reaches the middleware and gets the kit's 431 JSON answer; beyond this,
 * the parser's own refusal is answered as JSON too instead of a bare reset.
 */
export const MAX_HEADER_SIZE = 64 * 1024;

const PARSER_REFUSALS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'header_too_large', `The request headers are larger than ${MAX_HEADER_SIZE / 1024} KiB`],
};

function answerClientError(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || (socket as Duplex & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const [status, code, description] = PARSER_REFUSALS[error.code ?? ''] ?? [400, 'invalid_request', 'The request is not valid HTTP'];
  const body = JSON.stringify({ error: 'invalid_request', error_description: description, code });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function listen(options: ListenOptions): Promise<{ server: Server; port: number }> {
  const server = createServer({ maxHeaderSize: MAX_HEADER_SIZE });
  server.on('clientError', answerClientError);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(
          new DemoError(
            `port ${options.port} for the ${options.label} is already in use on ${options.host}` +
              (options.envName ? `; set ${options.envName} to a free port (or 0 for any)` : ''),
          ),
        );
      } else reject(new DemoError(`cannot listen for the ${options.label}: ${error.message}`));
    });
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return { server, port };
}

export function closer(server: Server): () => Promise<void> {
  return () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
}

export function keyFor(keyFile: string | undefined, kid: string): SigningKey {
  return keyFile ? loadKeyFile(keyFile) : generateKey({ kid });
}

/** The realm export at `file`, with `attributes` set over its own (a bad file is the server's to name). */
function withAttributes(file: string, attributes: Record<string, string>): string | object {
  let realm: { attributes?: Record<string, string> };
  try {
    realm = JSON.parse(readFileSync(file, 'utf8')) as typeof realm;
  } catch {
    return file;
  }
  return { ...realm, attributes: { ...(realm.attributes ?? {}), ...attributes } };
}

/** Options of the demo's embedded auth server. */
export interface AuthServerServiceOptions {
  realmFile: string;
  baseUrl?: string;
  keyFile?: string;
  onAudit?: (e: AuditEvent) => void;
  onWarning?: (m: string) => void;
  /** Also serve the AAuth -11 person server at the origin of baseUrl (the -11 demo). */
  draft11?: NonNullable<AuthServerOptions['draft11']>;
  /** Seconds a pending consent request lives (default the server's, 600). */
  pendingLifetime?: number;
  /** Realm attributes set on top of the file's (e.g. the -11 access server's, known only once ports are). */
  realmAttributes?: Record<string, string>;
  /** Its name in the demo's services and trace; default 'auth-server'. */
  name?: string;
  /** Its outgoing fetch (discovery; -11 federation to an access server); default globalThis.fetch. */
  fetch?: typeof fetch;
}

/** A started embedded auth server and the -11 roles it serves. */
export type AuthServerService = Service & { issuer: string; personServer: string | undefined; accessServer: string | undefined };

/** The embedded auth server, for the realm export both it and Keycloak read. */
export async function startAuthServer(options: ListenOptions & AuthServerServiceOptions): Promise<AuthServerService> {
  return mountAuthServer(await listen(options), options);
}

/**
 * The embedded auth server on a socket that already listens (so that two servers can learn each
 * other's origins before either starts: the -11 person and access servers). Closes it on failure.
 */
export async function mountAuthServer({ server, port }: { server: Server; port: number }, options: ListenOptions & AuthServerServiceOptions): Promise<AuthServerService> {
  const baseUrl = options.baseUrl ?? `http://localhost:${port}`;
  let auth;
  try {
    auth = createAuthServer({
      realm: options.realmAttributes ? withAttributes(options.realmFile, options.realmAttributes) : options.realmFile,
      baseUrl,
      ...(options.keyFile ? { keyFile: options.keyFile } : {}),
      ...(options.onAudit ? { onAudit: options.onAudit } : {}),
      replay: { store: createMemoryReplayStore() },
      onWarning: options.onWarning ?? (() => {}),
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.draft11 ? { draft11: options.draft11 } : {}),
      ...(options.pendingLifetime !== undefined ? { pendingLifetime: options.pendingLifetime } : {}),
    });
  } catch (error) {
    await closer(server)();
    throw new DemoError(`the auth server cannot start: ${(error as Error).message}`);
  }
  const app = express();
  app.use(auth.router());
  server.on('request', app);
  // The -11 access server role (realm attribute aauth.access.enabled), read structurally until every build has it.
  const accessServer = (auth as { accessServer?: string }).accessServer;
  return { name: options.name ?? 'auth-server', url: `http://${options.host}:${port}`, identity: auth.issuer, issuer: auth.issuer, personServer: auth.personServer, accessServer, close: closer(server) };
}

/** What the market-analysis agent saw of its callers, for the trace and the tests. */
export interface MaaView {
  sub?: string;
  agent: string;
  scheme: string;
  scope: string[];
  act?: unknown;
  issuer?: string;
  /** -11 only: the generation the caller spoke, its key's thumbprint, its person server, the credential presented. */
  generation?: string;
  thumbprint?: string;
  ps?: string;
  accessMode?: string;
}

/** The market-analysis agent: a resource that requires an auth token with `scope`. */
export async function startMarketAnalysis(options: ListenOptions & { issuer: string; scope?: string; identity?: string; keyFile?: string; onSeen?: (v: MaaView) => void }): Promise<Service> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const scope = options.scope ?? MAA_SCOPE;
  const resource = createResource({
    identity,
    key: keyFor(options.keyFile, 'maa-1'),
    authServer: options.issuer,
    // One process per service: an in-memory replay store is right here (a fleet uses Redis).
    replay: { store: createMemoryReplayStore() },
    scopes: { [scope]: 'Analyse market demand and prices for products' },
  });
  const app = express();
  app.use(resource.wellKnown());
  app.post('/analyze', resource.require({ scope }), express.json(), analyzeHandler(options.onSeen, false));
  server.on('request', app);
  return { name: 'market-analysis-agent', url: `http://${options.host}:${port}`, identity, close: closer(server) };
}

/** A deterministic stand-in for a market model: demand and price trend from the SKU's name. */
export function analyse(sku: string): { sku: string; weeklyDemand: number; priceTrend: number } {
  let h = 2166136261;
  for (const c of sku) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return { sku, weeklyDemand: 20 + (h % 80), priceTrend: Math.round((((h >>> 8) % 21) - 10) * 10) / 1000 };
}

/**
 * The supply-chain agent: a resource for the backend (needs both scopes: its own, and the one it
 * passes on) and an agent towards the market-analysis agent, exchanging the token it was called with.
 */
export async function startSupplyChain(options: ListenOptions & { issuer: string; maaUrl: string; identity?: string; keyFile?: string; fetch?: typeof fetch }): Promise<Service> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const key = keyFor(options.keyFile, 'sca-1');
  const resource = createResource({
    identity,
    key,
    authServer: options.issuer,
    replay: { store: createMemoryReplayStore() },
    scopes: { [SCA_SCOPE]: 'Plan inventory orders', [MAA_SCOPE]: 'Ask market analysis on your behalf' },
  });
  // Its name is what the consent page shows for this service (the resource document has no name).
  const agent = createAgent({ identity, key, authServer: options.issuer, metadata: { name: 'Supply-chain agent' }, ...(options.fetch ? { fetch: options.fetch } : {}) });
  const app = express();
  // One JWKS with both keys: the SCA signs as an agent and as a resource (its resource tokens).
  app.use(resource.wellKnown({ agent }));
  app.post('/optimize', resource.require({ scope: [SCA_SCOPE, MAA_SCOPE] }), express.json(), optimize(agent, options.maaUrl, 'oauth'));
  server.on('request', app);
  return { name: 'supply-chain-agent', url: `http://${options.host}:${port}`, identity, close: closer(server) };
}

/**
 * The market-analysis agent's `/analyze` handler, in both generations: it reports what it saw of
 * the caller (`MaaView`; on -11 also the generation, key thumbprint, `ps` and access mode) and
 * answers the analysis of the SKUs asked.
 */
export function analyzeHandler(onSeen: ((v: MaaView) => void) | undefined, draft11: boolean): express.RequestHandler {
  return (req, res) => {
    const a = req.aauth!;
    const seen: MaaView = draft11
      ? { agent: a.agent, scheme: a.scheme, scope: a.scope, generation: a.generation, thumbprint: a.thumbprint }
      : { agent: a.agent, scheme: a.scheme, scope: a.scope };
    if (a.sub !== undefined) seen.sub = a.sub;
    if (draft11 && a.ps !== undefined) seen.ps = a.ps;
    if (draft11 && a.accessMode !== undefined) seen.accessMode = a.accessMode;
    if (a.act !== undefined) seen.act = a.act;
    if (a.token) seen.issuer = a.token.issuer;
    onSeen?.(seen);
    const skus = Array.isArray(req.body?.skus) ? (req.body.skus as Array<{ sku: string; onHand: number }>) : [];
    res.json({ analysis: skus.map((s) => analyse(s.sku)), seen });
  };
}

/**
 * The supply-chain agent's `/optimize` handler, in both generations: it calls the market-analysis
 * agent with the token it was called with as `upstreamToken` (the Keycloak profile exchanges it;
 * -11 chains through the person server it names) and turns the analysis into an order plan.
 * Refusals are 502, in the generation's error format: OAuth's `error_description` or -11's
 * problem+json `detail`.
 */
export function optimize(agent: Agent, maaUrl: string, format: 'oauth' | 'problem'): express.RequestHandler {
  const refuse = (res: express.Response, error: string, text: string): void => {
    if (format === 'oauth') res.status(502).json({ error, error_description: text });
    else res.status(502).type('application/problem+json').send(JSON.stringify({ error, detail: text }));
  };
  return async (req, res) => {
    const skus = Array.isArray(req.body?.skus) ? (req.body.skus as Array<{ sku: string; onHand: number }>) : [];
    let maa: Response;
    try {
      maa = await agent.fetch(`${maaUrl}/analyze`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ skus }),
        upstreamToken: req.aauth!.token!.raw,
      });
    } catch (error) {
      const e = error instanceof AAuthError ? error : undefined;
      refuse(res, e?.code ?? 'downstream_failed', `supply-chain-agent could not call market-analysis-agent: ${(error as Error).message}`);
      return;
    }
    const body = (await maa.json().catch(() => ({}))) as {
      analysis?: Array<{ sku: string; weeklyDemand: number; priceTrend: number }>;
      seen?: MaaView;
      error?: string;
      error_description?: string;
      detail?: string;
    };
    if (!maa.ok) {
      refuse(res, 'downstream_refused', `market-analysis-agent answered ${maa.status} ${body.error ?? ''} ${body.error_description ?? body.detail ?? ''}`.trim());
      return;
    }
    const plan = (body.analysis ?? []).map((a) => {
      const onHand = skus.find((s) => s.sku === a.sku)?.onHand ?? 0;
      const target = Math.ceil(a.weeklyDemand * 2 * (1 + Math.max(a.priceTrend, 0)));
      return { sku: a.sku, onHand, weeklyDemand: a.weeklyDemand, order: Math.max(target - onHand, 0) };
    });
    res.json({ plan, for: req.aauth!.sub, marketAnalysisSaw: body.seen });
  };
}

/** The backend: an agent acting for the user, publishing its metadata and JWKS. */
export async function startBackend(options: ListenOptions & { issuer: string; identity?: string; scaUrl?: string; keyFile?: string; fetch?: typeof fetch; onInteraction: (i: Interaction) => Promise<void> }): Promise<Service & { agent: Agent }> {
  const { server, port } = await listen(options);
  const identity = options.identity ?? `http://localhost:${port}`;
  const agent = createAgent({
    identity,
    key: keyFor(options.keyFile, 'backend-1'),
    authServer: options.issuer,
    metadata: { name: 'Supply-chain backend' },
    onInteraction: options.onInteraction,
    interactionTimeoutMs: 120_000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const app = express();
  app.use(agent.wellKnown());
  const scaUrl = options.scaUrl;
  if (scaUrl) {
    // POST /run: the backend asks the supply-chain agent to plan orders for the user (services mode).
    app.post('/run', async (_req, res) => {
      try {
        const r = await agent.fetch(`${scaUrl}/optimize`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ skus: [{ sku: 'WIDGET-100', onHand: 40 }, { sku: 'GADGET-7', onHand: 5 }] }),
        });
        res.status(r.status).type('application/json').send(await r.text());
      } catch (error) {
        const e = error instanceof AAuthError ? error : undefined;
        res.status(502).json({ error: e?.code ?? 'failed', error_description: (error as Error).message });
      }
    });
  }
  server.on('request', app);
  return { name: 'backend', url: `http://${options.host}:${port}`, identity, agent, close: closer(server) };
}

export type { Trace };
