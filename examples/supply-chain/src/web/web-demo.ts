// `npm run demo -- --web`: the demo as a web page on loopback. The person signs in as a realm user,
// starts the optimisation, approves on the auth server's consent page (opened from the page), and
// watches every hop arrive live (Server-Sent Events from the same TraceEntry stream as the terminal
// trace) as a sequence diagram, next to the result or the refusal.
//
// Each run starts fresh services and stops them at its end (runDemo), so every run shows the whole
// flow, consent included, rather than the agents' cached tokens.
import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { loadRealm, type AuditEvent, type PasswordCredential, type RealmUser } from '@aauth-kit/auth-server';
import { DEFAULT_REALM_FILE, runDemo, type DemoOptions, type DemoProtocol, type DemoResult } from '../run-demo.js';
import { closer, listen } from '../services.js';
import type { DemoTracing } from '../telemetry.js';
import type { TraceEntry } from '../trace.js';
import { explainFailure } from './explain-failure.js';

const PUBLIC = new URL('../../src/web/public/', import.meta.url);
const SESSION_COOKIE = 'aauth_demo_session';
/** A signed-in page session lives this long (ms). */
const SESSION_LIFETIME = 8 * 60 * 60 * 1000;
const MAX_SESSIONS = 1000;
const HEARTBEAT_MS = 15_000;
/** Failed sign-ins per client address in one window, before the page answers 429 until the window ends. */
const MAX_FAILED_SIGN_INS = 10;
const SIGN_IN_WINDOW_MS = 5 * 60 * 1000;
/** Client addresses whose failures are counted at once (the oldest is forgotten first). */
const MAX_COUNTED_ADDRESSES = 1000;

export interface WebDemoOptions {
  /** Address to bind; default 127.0.0.1. */
  host?: string;
  /** Port of the page; default 0 (a free port). */
  port?: number;
  /** The realm export: its users sign in on the page, and the auth server reads it; default keycloak-realm/aauth-test-realm.json. */
  realmFile?: string;
  /** What the page offers first; default keycloak, three-party. */
  protocol?: DemoProtocol;
  fourParty?: boolean;
  /** The scope the market-analysis agent requires; default the demo's. */
  maaScope?: string;
  /** The services' ports for each run (0 = any free port); default all 0. */
  ports?: DemoOptions['ports'];
  /** Runs one flow; default runDemo (a seam for tests). */
  run?: (options: DemoOptions) => Promise<DemoResult>;
  /** OpenTelemetry export (OTEL_EXPORTER_OTLP_ENDPOINT): each run is one trace, exported when it ends. */
  tracing?: DemoTracing;
}

export interface WebDemo {
  /** The page, e.g. http://127.0.0.1:5173/ */
  url: string;
  /** Stops the current run (closing its services), ends every event stream and closes the page's server. */
  close(): Promise<void>;
}

/** One Server-Sent Event of the page's stream. */
export interface WebEvent {
  id: number;
  type: 'run' | 'names' | 'entry' | 'interaction' | 'decision' | 'result';
  data: unknown;
}

interface Session {
  username: string;
  name: string;
  expires: number;
}

interface Run {
  id: number;
  controller: AbortController;
  settled: Promise<void>;
  done: boolean;
  /** A newer run replaced it. */
  superseded: boolean;
}

/** A start asked for while the demo stops. */
class Stopping extends Error {}

const derive = promisify(pbkdf2);

/** True when `password` is one of the user's realm credentials (plain, or Keycloak's PBKDF2 export), compared in constant time. */
async function passwordMatches(user: RealmUser | undefined, password: string): Promise<boolean> {
  if (password.length === 0 || password.length > 1024) return false;
  const check = async (c: PasswordCredential): Promise<boolean> => {
    if (c.kind === 'plain') {
      const a = createHash('sha256').update(password, 'utf8').digest();
      return timingSafeEqual(a, createHash('sha256').update(c.value, 'utf8').digest());
    }
    const derived = await derive(password, c.salt, c.iterations, c.hash.length, c.digest);
    return derived.length === c.hash.length && timingSafeEqual(derived, c.hash);
  };
  if (user === undefined || !user.enabled) return false;
  return (await Promise.all(user.passwords.map(check))).some(Boolean);
}

function cookieOf(req: Request, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** JSON for the page: whole tokens (`raw`) stay on the server; the page shows the shortened ones and their claims. */
function pageJson(value: unknown): string {
  return JSON.stringify(value, (key, v: unknown) => (key === 'raw' ? undefined : v));
}

const STATIC: Record<string, [file: string, type: string]> = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/app.css': ['app.css', 'text/css; charset=utf-8'],
};

/** The JSON body parser's errors (by their `type`): status, code, message. */
const BODY_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'invalid_json', 'The request body is not a JSON object.'],
  'entity.too.large': [413, 'body_too_large', 'The request body is larger than 4 KiB.'],
  'charset.unsupported': [415, 'unsupported_media_type', 'Send the request body as application/json in UTF-8.'],
  'encoding.unsupported': [415, 'unsupported_media_type', 'Send the request body without a Content-Encoding.'],
  'entity.verify.failed': [400, 'invalid_json', 'The request body is not a JSON object.'],
  'request.size.invalid': [400, 'invalid_request', 'The request body is shorter or longer than its Content-Length.'],
};

const SECURITY_HEADERS = {
  // The page's own script and style only; its data arrives over the same origin (SSE, JSON).
  'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

/** Starts the page's server; the services start with each run. */
export async function startWebDemo(options: WebDemoOptions = {}): Promise<WebDemo> {
  const host = options.host ?? '127.0.0.1';
  const realmFile = options.realmFile ?? DEFAULT_REALM_FILE;
  const realm = loadRealm(realmFile);
  const runFlow = options.run ?? runDemo;
  const files = Object.fromEntries(Object.entries(STATIC).map(([path, [file, type]]) => [path, { body: readFileSync(new URL(file, PUBLIC)), type }]));

  const sessions = new Map<string, Session>();
  /** Failed sign-ins by client address: a password is not guessed at the page's speed. */
  const failedSignIns = new Map<string, { count: number; until: number }>();
  /** Open event streams, each with the session it was opened with. */
  const clients = new Map<ServerResponse, string>();
  let seq = 0;
  /** The current run's events, replayed to a page that connects (or reconnects) late. */
  let history: WebEvent[] = [];
  let current: Run | undefined;
  let closing = false;

  const emit = (type: WebEvent['type'], data: unknown): void => {
    const event: WebEvent = { id: ++seq, type, data };
    history.push(event);
    const text = frame(event);
    for (const res of clients.keys()) res.write(text);
  };
  const frame = (e: WebEvent) => `id: ${e.id}\nevent: ${e.type}\ndata: ${pageJson(e.data)}\n\n`;

  const sessionOf = (req: Request): Session | undefined => {
    const id = cookieOf(req, SESSION_COOKIE);
    const session = id === undefined ? undefined : sessions.get(id);
    if (session === undefined || session.expires < Date.now()) return undefined;
    return session;
  };

  /** Starts are taken one at a time, so each stops the run before it and no run is left unstopped. */
  let starting: Promise<unknown> = Promise.resolve();
  function startRun(choice: { protocol: DemoProtocol; fourParty: boolean }, session: Session): Promise<number> {
    const next = starting.then(() => beginRun(choice, session));
    starting = next.catch(() => {});
    return next;
  }

  async function beginRun(choice: { protocol: DemoProtocol; fourParty: boolean }, session: Session): Promise<number> {
    if (current && !current.done) {
      // Superseded: it ends without a result of its own, the page moves on to the next run.
      current.superseded = true;
      current.controller.abort();
      await current.settled;
    }
    // The demo was told to stop while this start waited for the run before it: start nothing.
    if (closing) throw new Stopping();
    const controller = new AbortController();
    const run: Run = { id: (current?.id ?? 0) + 1, controller, settled: Promise.resolve(), done: false, superseded: false };
    current = run;
    history = [];
    const started = Date.now();
    emit('run', { id: run.id, protocol: choice.protocol, fourParty: choice.fourParty, user: session.username });
    const names = new Map<string, string>();
    let named = 0;
    const mine = () => current === run && !run.superseded;
    const tracing = options.tracing;
    const flowRun = () => runFlow({
      protocol: choice.protocol,
      ...(choice.fourParty ? { fourParty: true } : {}),
      realmFile,
      host,
      ...(options.maaScope ? { maaScope: options.maaScope } : {}),
      ...(options.ports ? { ports: options.ports } : {}),
      names,
      signal: controller.signal,
      onEntry: (entry: TraceEntry) => {
        if (!mine()) return;
        if (names.size !== named) {
          named = names.size;
          emit('names', Object.fromEntries(names));
        }
        emit('entry', entry);
      },
      onInteraction: ({ url, code }) => {
        // The URL comes from the auth server's metadata: the page links to http(s) only.
        if (mine() && /^https?:$/.test(new URL(url).protocol)) emit('interaction', { url, code });
      },
      onAudit: (event: AuditEvent) => {
        if (!mine() || (event.type !== 'consent.granted' && event.type !== 'consent.denied')) return;
        emit('decision', { decision: event.type === 'consent.granted' ? 'approve' : 'deny', username: event.username ?? null });
      },
    });
    // With tracing, the run is one trace under `supply-chain demo`, exported (its services named) when the run ends.
    const flow =
      tracing === undefined
        ? flowRun()
        : tracing.run(flowRun).then(
            async (result) => {
              tracing.name(result.services);
              await tracing.flush();
              return result;
            },
            async (error: unknown) => {
              await tracing.flush();
              throw error;
            },
          );
    run.settled = flow.then(
      (result) => {
        run.done = true;
        if (current !== run || run.superseded) return;
        emit('names', Object.fromEntries(names));
        emit('result', resultOf(result, controller.signal.aborted, (Date.now() - started) / 1000, choice));
      },
      (error: unknown) => {
        run.done = true;
        if (current !== run || run.superseded) return;
        const failure = { reason: `${(error as Error).name}: ${(error as Error).message}` };
        emit('result', { ok: false, ...choice, failure: { ...failure, meaning: explainFailure(failure) } });
      },
    );
    return run.id;
  }

  const app = express();
  app.disable('x-powered-by');
  const listening = await listen({ port: options.port ?? 0, host, label: 'demo web page', envName: 'DEMO_WEB_PORT' });
  const { server, port } = listening;
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // DNS rebinding: a page of another site resolved to 127.0.0.1 names its own host, never one of these.
  const hosts = new Set([`${host}:${port}`, `127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, new URL(origin).host]);
  app.use((req, res, next) => {
    if (!hosts.has(req.headers.host ?? '')) {
      res.status(421).type('text/plain').send('This demo answers only on its loopback address.\n');
      return;
    }
    res.set(SECURITY_HEADERS);
    next();
  });
  // CSRF: another page on loopback (another port of 127.0.0.1 is the same site, so the SameSite
  // cookie goes along) can send a form or a no-cors fetch here. A browser names where a POST comes
  // from (Sec-Fetch-Site, Origin): only the page's own origin may change anything; and a body is
  // JSON only, which a form or a no-cors fetch cannot send.
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  app.use((req, res, next) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const site = req.headers['sec-fetch-site'];
    const from = req.headers.origin;
    if ((site !== undefined && site !== 'same-origin') || (from !== undefined && !origins.has(from))) {
      res.status(403).json({ error: 'cross_site_request', message: `Only the demo's own page (${origin}) may send this request.` });
      return;
    }
    const body = req.headers['transfer-encoding'] !== undefined || (req.headers['content-length'] ?? '0') !== '0';
    if (body && !req.is('application/json')) {
      res.status(415).json({ error: 'unsupported_media_type', message: 'Send the request body as application/json.' });
      return;
    }
    next();
  });
  for (const [path, file] of Object.entries(files)) app.get(path, (_req, res) => void res.type(file.type).send(file.body));
  app.get('/favicon.ico', (_req, res) => void res.status(204).end());

  const parseJson = express.json({ limit: '4kb', inflate: false });
  /** A JSON object body (an array or a primitive is refused as the parser refuses bad JSON). */
  const json = (req: Request, res: Response, next: NextFunction): void =>
    parseJson(req, res, (error?: unknown) => {
      if (error !== undefined) return next(error);
      if (req.body !== undefined && (typeof req.body !== 'object' || req.body === null || Array.isArray(req.body))) {
        return next(Object.assign(new Error('not an object'), { type: 'entity.parse.failed', status: 400 }));
      }
      next();
    });
  const signedIn = (req: Request, res: Response, next: NextFunction): void => {
    if (sessionOf(req) === undefined) {
      res.status(401).json({ error: 'not_signed_in', message: 'Sign in first.' });
      return;
    }
    next();
  };

  app.get('/api/session', (req, res) => {
    const session = sessionOf(req);
    const defaults = { protocol: options.protocol ?? 'keycloak', fourParty: options.fourParty === true };
    // Signed out is an answer, not an error: a 401 here would be a red console line on every first visit.
    if (session === undefined) res.json({ user: null, defaults });
    else res.json({ user: { username: session.username, name: session.name }, defaults });
  });

  app.post('/api/login', json, async (req, res) => {
    const address = req.socket.remoteAddress ?? '';
    const now = Date.now();
    let failed = failedSignIns.get(address);
    if (failed !== undefined && failed.until <= now) {
      failedSignIns.delete(address);
      failed = undefined;
    }
    if (failed !== undefined && failed.count >= MAX_FAILED_SIGN_INS) {
      const seconds = Math.ceil((failed.until - now) / 1000);
      res.set('Retry-After', String(seconds));
      res.status(429).json({ error: 'too_many_attempts', message: `Too many failed sign-ins from this address: try again in ${seconds} s.` });
      return;
    }
    const body = (req.body ?? {}) as { username?: unknown; password?: unknown };
    const username = typeof body.username === 'string' ? body.username.trim().toLowerCase() : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const user = realm.users.find((u) => u.username === username);
    if (!(await passwordMatches(user, password))) {
      if (failed === undefined) {
        if (failedSignIns.size >= MAX_COUNTED_ADDRESSES) failedSignIns.delete(failedSignIns.keys().next().value as string);
        failed = { count: 0, until: now + SIGN_IN_WINDOW_MS };
        failedSignIns.set(address, failed);
      }
      failed.count++;
      res.status(401).json({ error: 'login_failed', message: 'Wrong user name or password.' });
      return;
    }
    failedSignIns.delete(address);
    const id = randomBytes(32).toString('base64url');
    if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value as string);
    const session = { username: user!.username, name: user!.displayName, expires: Date.now() + SESSION_LIFETIME };
    sessions.set(id, session);
    res.append('Set-Cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_LIFETIME / 1000}`);
    res.json({ user: { username: session.username, name: session.name } });
  });

  app.post('/api/logout', (req, res) => {
    const id = cookieOf(req, SESSION_COOKIE);
    if (id !== undefined) {
      sessions.delete(id);
      // A signed-out page follows no more runs: its streams end (its EventSource then finds no session).
      for (const [res, of] of clients) {
        if (of !== id) continue;
        res.end();
        clients.delete(res);
      }
    }
    res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0`);
    res.status(204).end();
  });

  // Starting a run is a JSON POST (a cross-site form cannot send one) with the SameSite session cookie.
  app.post('/api/runs', signedIn, json, async (req, res) => {
    const body = (req.body ?? {}) as { protocol?: unknown; fourParty?: unknown };
    const protocol = body.protocol ?? 'keycloak';
    const fourParty = body.fourParty === true;
    if ((protocol !== 'keycloak' && protocol !== 'draft-11') || (fourParty && protocol !== 'draft-11')) {
      res.status(400).json({ error: 'invalid_request', message: 'protocol is keycloak or draft-11; fourParty needs draft-11.' });
      return;
    }
    if (closing) {
      res.status(503).json({ error: 'stopping', message: 'The demo is stopping.' });
      return;
    }
    let id;
    try {
      id = await startRun({ protocol, fourParty }, sessionOf(req)!);
    } catch (error) {
      if (!(error instanceof Stopping)) throw error;
      res.status(503).json({ error: 'stopping', message: 'The demo is stopping.' });
      return;
    }
    res.status(202).json({ id });
  });

  app.get('/api/events', signedIn, (req, res) => {
    res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'text/event-stream; charset=utf-8', Connection: 'keep-alive', 'X-Accel-Buffering': 'no' });
    // HEAD: the headers only (a stream that sends no body would never end).
    if (req.method === 'HEAD') return void res.end();
    res.write('retry: 1000\n\n');
    // A reconnecting EventSource names the last event it saw; anything else gets the current run from its start.
    const last = Number(req.headers['last-event-id']);
    for (const e of history) if (!(Number.isInteger(last) && e.id <= last)) res.write(frame(e));
    clients.set(res, cookieOf(req, SESSION_COOKIE)!);
    const heartbeat = setInterval(() => res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    req.on('close', () => {
      clearInterval(heartbeat);
      clients.delete(res);
    });
  });

  app.use('/api', (_req, res) => void res.status(404).json({ error: 'not_found' }));
  app.use((_req, res) => void res.status(404).type('text/plain').send('Not found\n'));
  app.use((error: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    // The JSON body parser's refusals, each with its own code and a message that says what to send.
    const refused = BODY_ERRORS[error.type ?? ''];
    if (refused !== undefined) {
      res.status(refused[0]).json({ error: refused[1], message: refused[2] });
      return;
    }
    const status = error.status !== undefined && error.status >= 400 && error.status < 500 ? error.status : 500;
    res.status(status).json({ error: status === 500 ? 'internal_error' : 'invalid_request', message: status === 500 ? 'The request failed.' : error.message });
  });
  server.on('request', app);

  const close = closer(server);
  return {
    url: `${origin}/`,
    close: async () => {
      closing = true;
      // A start already queued finds `closing` and starts nothing; then the last run is stopped.
      await starting;
      if (current && !current.done) {
        current.controller.abort();
        await current.settled;
      }
      for (const res of clients.keys()) res.end();
      clients.clear();
      await close();
    },
  };
}

/** The `result` event: the plan or the refusal (the failing hop, its code, and what it means). */
function resultOf(result: DemoResult, stopped: boolean, seconds: number, choice: { protocol: DemoProtocol; fourParty: boolean }): unknown {
  const base = { ok: result.ok, ...choice, seconds: Math.round(seconds * 10) / 10, services: result.services, ...(result.maaSaw ? { maaSaw: result.maaSaw } : {}) };
  if (result.ok) {
    const body = result.result as { plan?: unknown; for?: unknown } | undefined;
    return { ...base, plan: body?.plan ?? [], for: body?.for ?? null };
  }
  const failure = stopped ? { ...result.failure, reason: 'stopped', code: 'stopped' } : (result.failure ?? { reason: 'unknown' });
  return { ...base, failure: { ...failure, meaning: explainFailure(failure) } };
}
