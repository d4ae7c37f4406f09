import { fileURLToPath } from 'node:url';
import type { Agent, Interaction } from '@aauth-kit/agent';
import type { AuditEvent } from '@aauth-kit/auth-server';
import { isAAuthError } from '@aauth-kit/core';
import { actAsUser } from './scripted-user.js';
import {
  closer,
  DemoError,
  listen,
  MAA_SCOPE,
  mountAuthServer,
  startAuthServer,
  type AuthServerService,
  startBackend,
  startMarketAnalysis,
  startSupplyChain,
  type MaaView,
  type Service,
} from './services.js';
import { startBackend11, startMarketAnalysis11, startSupplyChain11, type Sleep } from './services-11.js';
import { Trace, type Hop, type TraceEntry } from './trace.js';

export const DEFAULT_REALM_FILE = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));

/** The wire generation the demo speaks: the Keycloak profile (default) or AAuth -11. */
export type DemoProtocol = 'keycloak' | 'draft-11';

export interface DemoOptions {
  /** 'keycloak' (default): wire-profile.md; 'draft-11': the current drafts (wire-profile-draft11.md). */
  protocol?: DemoProtocol;
  /** What the scripted user decides on the consent page; 'ignore' walks away (the request expires). Default 'approve'. */
  decision?: 'approve' | 'deny' | 'ignore';
  /** Seconds a pending consent request lives at the auth server; default the server's (600). */
  pendingLifetime?: number;
  /**
   * draft-11 only: put the market-analysis agent behind a separate access server (a second embedded
   * auth server with the access role): four-party, the person server federates. Default false.
   */
  fourParty?: boolean;
  /** Realm export for the embedded auth server; default keycloak-realm/aauth-test-realm.json. */
  realmFile?: string;
  /** Host to bind; default 127.0.0.1. */
  host?: string;
  /** Ports (0 = any free port); defaults all 0. */
  ports?: { authServer?: number; backend?: number; sca?: number; maa?: number; accessServer?: number };
  /** The scope the market-analysis agent requires; default market-analysis:analyze. */
  maaScope?: string;
  /** The demo user; default mcp-user / user123 from the realm file. */
  user?: { username: string; password: string };
  /** 'scripted' (default): the demo signs in and approves as the user; 'interactive': print the URL and wait. */
  consent?: 'scripted' | 'interactive';
  /**
   * Where the backend sends the person to consent (the web page shows the URL), instead of the
   * scripted user or the printed URL. Default none.
   */
  onInteraction?: (interaction: Interaction) => void | Promise<void>;
  /** Aborting it stops the run: every service it started closes, so a wait for consent ends at once. */
  signal?: AbortSignal;
  /** Called for every trace entry as it happens. */
  onEntry?: (entry: TraceEntry) => void;
  /** Called with text for the person running the demo (interactive consent). */
  say?: (text: string) => void;
  onAudit?: (event: AuditEvent) => void;
  /** Filled with origin -> service name as services start (for display). */
  names?: Map<string, string>;
}

export interface DemoResult {
  ok: boolean;
  protocol: DemoProtocol;
  entries: TraceEntry[];
  /** The optimisation plan the backend received. */
  result?: unknown;
  /** What the market-analysis agent saw of its caller. */
  maaSaw?: MaaView;
  /** The failing hop and why, when not ok. */
  failure?: { hop?: Hop; reason: string; code?: string };
  services: Record<string, { url: string; identity: string }>;
}

/** Runs the whole supply-chain flow in this process and tears everything down. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const protocol = options.protocol ?? 'keycloak';
  if (options.fourParty && protocol !== 'draft-11') throw new TypeError("options.fourParty needs options.protocol 'draft-11' (the Keycloak profile has no access server)");
  const user = options.user ?? { username: 'mcp-user', password: 'user123' };
  const names = options.names ?? new Map<string, string>();
  const trace = new Trace(names, options.onEntry ?? (() => {}));
  const services: Service[] = [];
  const seen: { maa?: MaaView } = {};
  const summary = () => Object.fromEntries(services.map((s) => [s.name, { url: s.url, identity: s.identity }]));
  // Closing the servers breaks the agents' held polls, so the flow below fails fast and returns.
  const stop = () => void Promise.all(services.map((s) => s.close()));
  options.signal?.addEventListener('abort', stop, { once: true });
  try {
    options.signal?.throwIfAborted();
    const start = protocol === 'draft-11' ? startChain11 : startChainKeycloak;
    const { backend, sca } = await start(options, { trace, services, seen, onInteraction: consentHandler(options, trace, user) });
    options.signal?.throwIfAborted();
    const response = await backend.fetch(`${sca}/optimize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        skus: [
          { sku: 'WIDGET-100', onHand: 40 },
          { sku: 'GADGET-7', onHand: 5 },
        ],
      }),
    });
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    const base = { protocol, entries: trace.entries, services: summary(), ...(seen.maa ? { maaSaw: seen.maa } : {}) };
    if (!response.ok) {
      const hop = firstFailure(trace.hops());
      const description = body?.error_description ?? body?.detail;
      const reason = hop?.error
        ? hopReason(hop)
        : `supply-chain-agent answered ${response.status}: ${String(body?.error ?? '')} ${String(description ?? '')}`;
      return { ok: false, ...base, failure: { ...(hop ? { hop } : {}), reason } };
    }
    return { ok: true, ...base, result: body };
  } catch (error) {
    const hop = firstFailure(trace.hops());
    const message = error instanceof DemoError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
    // A -11 agent throws on a terminal poll (403 denied, 408 expired): name the hop that said so.
    const reason = hop?.error && protocol === 'draft-11' ? `${hopReason(hop)} (${message})` : message;
    const code = isAAuthError(error) ? error.code : undefined;
    return {
      ok: false,
      protocol,
      entries: trace.entries,
      services: summary(),
      ...(seen.maa ? { maaSaw: seen.maa } : {}),
      failure: { ...(hop ? { hop } : {}), reason, ...(code ? { code } : {}) },
    };
  } finally {
    options.signal?.removeEventListener('abort', stop);
    await Promise.all(services.map((s) => s.close()));
  }
}

function hopReason(hop: Hop): string {
  return `${hop.from} → ${hop.to} ${hop.method} ${hop.path} answered ${hop.status} ${hop.error!.error}${hop.error!.description ? `: ${hop.error!.description}` : ''}`;
}

/** What a chain starter shares with runDemo. */
interface ChainContext {
  trace: Trace;
  /** Started services, closed by runDemo whatever happens. */
  services: Service[];
  /** Filled by the market-analysis agent with what it saw of its caller. */
  seen: { maa?: MaaView };
  onInteraction: (interaction: Interaction) => Promise<void>;
}

/** The backend's agent and the supply-chain agent's identity: what runDemo calls. */
interface Chain {
  backend: Agent;
  sca: string;
}

/** The person at the consent page: the scripted user (approve, deny or walk away), or a prompt for a real one. */
function consentHandler(options: DemoOptions, trace: Trace, user: { username: string; password: string }): (interaction: Interaction) => Promise<void> {
  const say = options.say ?? (() => {});
  const person = options.onInteraction;
  if (person !== undefined) return async (interaction) => person(interaction);
  return async ({ url, code }) => {
    if (options.consent === 'interactive') {
      say(`\nA user must approve: open ${url}\n(sign in as ${user.username} / ${user.password}, check code ${code}, approve). Waiting...\n`);
      return;
    }
    const decision = options.decision ?? 'approve';
    if (decision === 'ignore') {
      trace.note('user (scripted by the demo)', `is asked to open the consent page for code ${code}, and never does`);
      return;
    }
    trace.note('user (scripted by the demo)', `opens the consent page for code ${code}, signs in as ${user.username} and ${decision === 'approve' ? 'approves' : 'denies'}`);
    const text = await actAsUser(url, { ...user, decision });
    trace.note('user (scripted by the demo)', `sees: ${text.slice(0, 120)}`);
  };
}

/** The Keycloak profile (wire-profile.md): one auth server issues and exchanges every token. */
async function startChainKeycloak(options: DemoOptions, ctx: ChainContext): Promise<Chain> {
  const host = options.host ?? '127.0.0.1';
  const ports = options.ports ?? {};
  const { trace, services } = ctx;
  const auth = await startAuthServer({
    port: ports.authServer ?? 0,
    host,
    label: 'auth server',
    envName: 'AUTH_SERVER_PORT',
    realmFile: options.realmFile ?? DEFAULT_REALM_FILE,
    ...(options.onAudit ? { onAudit: options.onAudit } : {}),
    ...(options.pendingLifetime !== undefined ? { pendingLifetime: options.pendingLifetime } : {}),
  });
  services.push(auth);
  trace.name(new URL(auth.issuer).origin, 'auth-server');

  const maa = await startMarketAnalysis({
    port: ports.maa ?? 0,
    host,
    label: 'market-analysis agent',
    envName: 'MAA_PORT',
    issuer: auth.issuer,
    scope: options.maaScope ?? MAA_SCOPE,
    onSeen: (v) => {
      ctx.seen.maa = v;
    },
  });
  services.push(maa);
  trace.name(new URL(maa.identity).origin, 'market-analysis-agent');

  const sca = await startSupplyChain({
    port: ports.sca ?? 0,
    host,
    label: 'supply-chain agent',
    envName: 'SCA_PORT',
    issuer: auth.issuer,
    maaUrl: maa.identity,
    fetch: trace.fetchFor('supply-chain-agent'),
  });
  services.push(sca);
  trace.name(new URL(sca.identity).origin, 'supply-chain-agent');

  const backend = await startBackend({
    port: ports.backend ?? 0,
    host,
    label: 'backend',
    envName: 'BACKEND_PORT',
    issuer: auth.issuer,
    fetch: trace.fetchFor('backend'),
    onInteraction: ctx.onInteraction,
  });
  services.push(backend);
  trace.name(new URL(backend.identity).origin, 'backend');
  return { backend: backend.agent, sca: sca.identity };
}

/**
 * AAuth -11 (wire-profile-draft11.md): the same realm file drives the embedded server's person
 * server; the backend and the supply-chain agent are their own agent providers; the supply-chain
 * agent chains to the market-analysis agent with `upstream_token` (section 8, item 7).
 */
async function startChain11(options: DemoOptions, ctx: ChainContext): Promise<Chain> {
  const host = options.host ?? '127.0.0.1';
  const ports = options.ports ?? {};
  const { trace, services } = ctx;
  const realmFile = options.realmFile ?? DEFAULT_REALM_FILE;
  const common = {
    host,
    realmFile,
    ...(options.onAudit ? { onAudit: options.onAudit } : {}),
    // Its origin, http://localhost:<port>, is the -11 server identifier: loopback relaxation (profile section 2).
    draft11: { allowLoopback: true },
  };
  const psListen = { ...common, port: ports.authServer ?? 0, label: 'auth server', envName: 'AUTH_SERVER_PORT' };
  let auth: AuthServerService;
  let access: AuthServerService | undefined;
  if (!options.fourParty) {
    auth = await startAuthServer({ ...psListen, ...(options.pendingLifetime !== undefined ? { pendingLifetime: options.pendingLifetime } : {}) });
    services.push(auth);
  } else {
    // Four-party (profile section 8, item 5): a second embedded auth server from the same realm file,
    // in the access role only. Each must name the other in its realm, so both listen first.
    const asListen = { ...common, port: ports.accessServer ?? 0, label: 'access server', envName: 'ACCESS_SERVER_PORT' };
    const psSocket = await listen(psListen);
    let asSocket;
    try {
      asSocket = await listen(asListen);
    } catch (error) {
      await closer(psSocket.server)();
      throw error;
    }
    const psOrigin = `http://localhost:${psSocket.port}`;
    const asOrigin = `http://localhost:${asSocket.port}`;
    try {
      auth = await mountAuthServer(psSocket, {
        ...psListen,
        ...(options.pendingLifetime !== undefined ? { pendingLifetime: options.pendingLifetime } : {}),
        realmAttributes: { 'aauth.person.trusted.access.servers': JSON.stringify([asOrigin]) },
        // The trace shows the person server's federation POSTs to the access server (not its discovery GETs).
        fetch: trace.fetchFor('person-server', fetch, (method) => method === 'POST'),
      });
    } catch (error) {
      await closer(asSocket.server)();
      throw error;
    }
    services.push(auth);
    access = await mountAuthServer(asSocket, {
      ...asListen,
      name: 'access-server',
      realmAttributes: {
        'aauth.access.enabled': 'true',
        'aauth.access.trusted.person.servers': JSON.stringify([psOrigin]),
        'aauth.person.enabled': 'false',
      },
    });
    services.push(access);
  }
  const personServer = auth.personServer;
  if (personServer === undefined) {
    throw new DemoError('the auth server does not serve the -11 person server: the realm sets aauth.person.enabled to "false"');
  }
  trace.name(personServer, 'person-server');
  const accessServer = access?.accessServer;
  if (access !== undefined) {
    if (accessServer === undefined) throw new DemoError('the second auth server does not serve the -11 access server (realm attribute aauth.access.enabled)');
    trace.name(accessServer, 'access-server');
  }
  // The scripted user has decided by the time onInteraction returns, and the person server holds
  // each poll (Prefer: wait) until the person decides, so the scripted demo need not sleep the
  // 5 s Retry-After between polls; with a real person the agent waits as the server asks. The web
  // page's person (onInteraction) keeps the short wait: the first poll goes out at once and is held
  // until they decide, so the page moves on the moment they approve.
  const sleep: Sleep | undefined = options.consent === 'interactive' ? undefined : (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 100)));

  const maa = await startMarketAnalysis11({
    port: ports.maa ?? 0,
    host,
    label: 'market-analysis agent',
    envName: 'MAA_PORT',
    personServer,
    ...(accessServer ? { accessServer } : {}),
    scope: options.maaScope ?? MAA_SCOPE,
    onSeen: (v) => {
      ctx.seen.maa = v;
    },
  });
  services.push(maa);
  trace.name(new URL(maa.identity).origin, 'market-analysis-agent');

  const sca = await startSupplyChain11({
    port: ports.sca ?? 0,
    host,
    label: 'supply-chain agent',
    envName: 'SCA_PORT',
    personServer,
    maaUrl: maa.identity,
    fetch: trace.fetchFor('supply-chain-agent'),
    ...(sleep ? { sleep } : {}),
  });
  services.push(sca);
  trace.name(new URL(sca.identity).origin, 'supply-chain-agent');

  const backend = await startBackend11({
    port: ports.backend ?? 0,
    host,
    label: 'backend',
    envName: 'BACKEND_PORT',
    personServer,
    fetch: trace.fetchFor('backend'),
    ...(sleep ? { sleep } : {}),
    onInteraction: ctx.onInteraction,
  });
  services.push(backend);
  trace.name(new URL(backend.identity).origin, 'backend');
  return { backend: backend.agent, sca: sca.identity };
}

/** The hop that went wrong: an error answer that is not an ordinary AAuth challenge. */
export function firstFailure(hops: Hop[]): Hop | undefined {
  return hops.find((h) => h.status === 0 || (h.status >= 400 && !(h.status === 401 && h.challenge !== undefined && h.error?.error !== 'invalid_signature')));
}
