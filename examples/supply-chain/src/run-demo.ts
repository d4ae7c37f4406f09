import { fileURLToPath } from 'node:url';
import type { AuditEvent } from '@aauth-kit/auth-server';
import { actAsUser } from './scripted-user.js';
import {
  DemoError,
  MAA_SCOPE,
  startAuthServer,
  startBackend,
  startMarketAnalysis,
  startSupplyChain,
  type MaaView,
  type Service,
} from './services.js';
import { Trace, type Hop, type TraceEntry } from './trace.js';

export const DEFAULT_REALM_FILE = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));

export interface DemoOptions {
  /** Realm export for the embedded auth server; default keycloak-realm/aauth-test-realm.json. */
  realmFile?: string;
  /** Host to bind; default 127.0.0.1. */
  host?: string;
  /** Ports (0 = any free port); defaults all 0. */
  ports?: { authServer?: number; backend?: number; sca?: number; maa?: number };
  /** The scope the market-analysis agent requires; default market-analysis:analyze. */
  maaScope?: string;
  /** The demo user; default mcp-user / user123 from the realm file. */
  user?: { username: string; password: string };
  /** 'scripted' (default): the demo signs in and approves as the user; 'interactive': print the URL and wait. */
  consent?: 'scripted' | 'interactive';
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
  entries: TraceEntry[];
  /** The optimisation plan the backend received. */
  result?: unknown;
  /** What the market-analysis agent saw of its caller. */
  maaSaw?: MaaView;
  /** The failing hop and why, when not ok. */
  failure?: { hop?: Hop; reason: string };
  services: Record<string, { url: string; identity: string }>;
}

/** Runs the whole supply-chain flow in this process and tears everything down. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoResult> {
  const host = options.host ?? '127.0.0.1';
  const ports = options.ports ?? {};
  const user = options.user ?? { username: 'mcp-user', password: 'user123' };
  const names = options.names ?? new Map<string, string>();
  const trace = new Trace(names, options.onEntry ?? (() => {}));
  const services: Service[] = [];
  let maaSaw: MaaView | undefined;
  const say = options.say ?? (() => {});
  try {
    const auth = await startAuthServer({
      port: ports.authServer ?? 0,
      host,
      label: 'auth server',
      envName: 'AUTH_SERVER_PORT',
      realmFile: options.realmFile ?? DEFAULT_REALM_FILE,
      ...(options.onAudit ? { onAudit: options.onAudit } : {}),
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
        maaSaw = v;
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
      onInteraction: async ({ url, code }) => {
        if (options.consent === 'interactive') {
          say(`\nA user must approve: open ${url}\n(sign in as ${user.username} / ${user.password}, check code ${code}, approve). Waiting...\n`);
          return;
        }
        trace.note('user (scripted by the demo)', `opens the consent page for code ${code}, signs in as ${user.username} and approves`);
        const text = await actAsUser(url, { ...user, decision: 'approve' });
        trace.note('user (scripted by the demo)', `sees: ${text.slice(0, 120)}`);
      },
    });
    services.push(backend);
    trace.name(new URL(backend.identity).origin, 'backend');

    const response = await backend.agent.fetch(`${sca.identity}/optimize`, {
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
    const base = { entries: trace.entries, services: Object.fromEntries(services.map((s) => [s.name, { url: s.url, identity: s.identity }])) };
    if (!response.ok) {
      const hop = firstFailure(trace.hops());
      const reason = hop?.error
        ? `${hop.from} → ${hop.to} ${hop.method} ${hop.path} answered ${hop.status} ${hop.error.error}${hop.error.description ? `: ${hop.error.description}` : ''}`
        : `supply-chain-agent answered ${response.status}: ${String(body?.error ?? '')} ${String(body?.error_description ?? '')}`;
      return { ok: false, ...base, ...(maaSaw ? { maaSaw } : {}), failure: { ...(hop ? { hop } : {}), reason } };
    }
    return { ok: true, ...base, result: body, ...(maaSaw ? { maaSaw } : {}) };
  } catch (error) {
    const hop = firstFailure(trace.hops());
    const reason = error instanceof DemoError ? error.message : `${(error as Error).name}: ${(error as Error).message}`;
    return {
      ok: false,
      entries: trace.entries,
      services: Object.fromEntries(services.map((s) => [s.name, { url: s.url, identity: s.identity }])),
      failure: { ...(hop ? { hop } : {}), reason },
    };
  } finally {
    await Promise.all(services.map((s) => s.close()));
  }
}

/** The hop that went wrong: an error answer that is not an ordinary AAuth challenge. */
export function firstFailure(hops: Hop[]): Hop | undefined {
  return hops.find((h) => h.status === 0 || (h.status >= 400 && !(h.status === 401 && h.challenge !== undefined && h.error?.error !== 'invalid_signature')));
}
