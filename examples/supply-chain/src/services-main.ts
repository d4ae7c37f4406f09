#!/usr/bin/env node
// `npm run demo:services`: the demo's services as long-running servers, configured from the
// environment, against the embedded auth server or a real Keycloak (AAUTH_ISSUER).
//
//   HOST                 address to bind (default 127.0.0.1; docker-compose sets 0.0.0.0)
//   AAUTH_ISSUER         use this issuer (e.g. http://localhost:8080/realms/aauth-test on Keycloak)
//                        instead of starting the embedded auth server
//   AUTH_SERVER_PORT     embedded auth server port (default 8080); AUTH_SERVER_BASE_URL its public origin
//   REALM_FILE           realm export for the embedded server (default keycloak-realm/aauth-test-realm.json)
//   BACKEND_PORT, SCA_PORT, MAA_PORT                default 3000, 3001, 3002
//   BACKEND_IDENTITY, SCA_IDENTITY, MAA_IDENTITY    default http://localhost:<port>
//   BACKEND_KEY_FILE, SCA_KEY_FILE, MAA_KEY_FILE
//                        the services' Ed25519 key files (JWK or PEM, e.g. from `aauth keygen --out`); default: ephemeral keys
//   AUTH_SERVER_KEY_FILE the embedded auth server's realm key: a path where none exists yet makes it create
//                        one there (the realm signs RS256, so an RSA key); default: an ephemeral key
//
// The backend serves POST /run: it calls the supply-chain agent for the user and prints the consent
// URL here when the user must approve.
import { issuerProblem } from './issuer-check.js';
import { DEFAULT_REALM_FILE } from './run-demo.js';
import { DemoError, startAuthServer, startBackend, startMarketAnalysis, startSupplyChain, type Service } from './services.js';
import { otlpTracesUrl, startDemoTracing } from './telemetry.js';

function env(name: string, fallback?: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

function port(name: string, fallback: number): number {
  const raw = env(name, String(fallback))!;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new DemoError(`${name} must be a port number (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

const log = (text: string) => process.stdout.write(`${new Date().toISOString()} ${text}\n`);

async function main(): Promise<void> {
  const host = env('HOST', '127.0.0.1')!;
  // OTEL_EXPORTER_OTLP_ENDPOINT set (docker-compose.yml: Jaeger): each request's trace, exported when it is over (telemetry.ts).
  const otlp = otlpTracesUrl(process.env);
  const tracing = otlp === undefined ? undefined : await startDemoTracing(otlp, (m) => log(`telemetry: ${m}`));
  const services: Service[] = [];
  const ephemeral = (name: string, file: string | undefined) => {
    if (!file) log(`${name}: using an ephemeral key (dev default); set ${name.toUpperCase().replace(/-/g, '_')}_KEY_FILE to keep one across restarts`);
  };
  let issuer = env('AAUTH_ISSUER');
  if (!issuer) {
    const authPort = port('AUTH_SERVER_PORT', 8080);
    const keyFile = env('AUTH_SERVER_KEY_FILE');
    const auth = await startAuthServer({
      port: authPort,
      host,
      label: 'auth server',
      envName: 'AUTH_SERVER_PORT',
      realmFile: env('REALM_FILE', DEFAULT_REALM_FILE)!,
      ...(env('AUTH_SERVER_BASE_URL') ? { baseUrl: env('AUTH_SERVER_BASE_URL')! } : {}),
      ...(keyFile ? { keyFile } : {}),
      onWarning: (m) => log(`auth-server: ${m}`),
      onAudit: (e) => log(`auth-server audit: ${JSON.stringify(e)}`),
    });
    services.push(auth);
    issuer = auth.issuer;
    log(`auth-server: ${auth.issuer} (listening on ${auth.url})`);
  } else {
    log(`using auth server ${issuer}`);
    const problem = await issuerProblem(issuer);
    if (problem !== undefined) log(`warning: ${problem}`);
  }
  const maaPort = port('MAA_PORT', 3002);
  const scaPort = port('SCA_PORT', 3001);
  const backendPort = port('BACKEND_PORT', 3000);
  // Identities default to http://localhost:<the port actually bound>.
  const maaIdentity = env('MAA_IDENTITY');
  const scaIdentity = env('SCA_IDENTITY');
  const backendIdentity = env('BACKEND_IDENTITY');
  for (const [name, file] of [['maa', env('MAA_KEY_FILE')], ['sca', env('SCA_KEY_FILE')], ['backend', env('BACKEND_KEY_FILE')]] as const) ephemeral(name, file);

  const maaKey = env('MAA_KEY_FILE');
  const maa = await startMarketAnalysis({ port: maaPort, host, label: 'market-analysis agent', envName: 'MAA_PORT', issuer, ...(maaIdentity ? { identity: maaIdentity } : {}), ...(maaKey ? { keyFile: maaKey } : {}), onSeen: (v) => log(`market-analysis-agent saw ${JSON.stringify(v)}`) });
  services.push(maa);
  log(`market-analysis-agent: ${maa.identity} (listening on ${maa.url})`);
  const scaKey = env('SCA_KEY_FILE');
  const sca = await startSupplyChain({ port: scaPort, host, label: 'supply-chain agent', envName: 'SCA_PORT', issuer, maaUrl: maa.identity, ...(scaIdentity ? { identity: scaIdentity } : {}), ...(scaKey ? { keyFile: scaKey } : {}) });
  services.push(sca);
  log(`supply-chain-agent: ${sca.identity} (listening on ${sca.url})`);
  const backendKey = env('BACKEND_KEY_FILE');
  const backend = await startBackend({
    port: backendPort,
    host,
    label: 'backend',
    envName: 'BACKEND_PORT',
    issuer,
    ...(backendIdentity ? { identity: backendIdentity } : {}),
    scaUrl: sca.identity,
    ...(backendKey ? { keyFile: backendKey } : {}),
    onInteraction: async ({ url, code }) => {
      log(`backend: the user must approve: open ${url} (code ${code})`);
    },
  });
  services.push(backend);
  log(`backend: ${backend.identity} (listening on ${backend.url}); POST ${backend.url}/run to start a request`);
  tracing?.name(Object.fromEntries(services.map((s) => [s.name, { url: s.url, identity: s.identity }])));

  const stop = async () => {
    log('stopping');
    await Promise.all(services.map((s) => s.close()));
    await tracing?.finish();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo:services: ${(error as Error).message}\n`);
  process.exit(1);
});
