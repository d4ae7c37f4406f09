#!/usr/bin/env node
// `npm run demo`: the whole supply-chain flow on this machine, with a live trace of every hop.
import { parseArgs } from 'node:util';
import { DEFAULT_REALM_FILE, runDemo } from './run-demo.js';
import { MAA_SCOPE } from './services.js';
import { TraceFormatter, type TraceEntry } from './trace.js';

const HELP = `Usage: npm run demo [-- --json] [-- --tokens] [-- --interactive] [-- --maa-scope SCOPE] [-- --realm FILE]

Runs the embedded auth server, a backend, a supply-chain agent and a market-analysis agent on
127.0.0.1, and walks one request through them: the user approves the backend, the backend calls the
supply-chain agent, which exchanges its token to call the market-analysis agent.
  --json          write the trace as JSON lines (one object per hop) instead of text; every token
                  appears whole in its "raw" field
  --tokens        print whole tokens in the text trace (try one with: npx aauth decode TOKEN)
  --interactive   print the consent URL for you to open, instead of the scripted user
  --maa-scope S   the scope the market-analysis agent requires (default ${MAA_SCOPE})
  --realm FILE    the realm export (default keycloak-realm/aauth-test-realm.json)
Ports: AUTH_SERVER_PORT, BACKEND_PORT, SCA_PORT, MAA_PORT (default 0: any free port).`;

function portFromEnv(name: string): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) {
    process.stderr.write(`demo: ${name} must be a port number from 0 to 65535 (got ${JSON.stringify(raw)})\n`);
    process.exit(2);
  }
  return Number(raw);
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        json: { type: 'boolean' },
        tokens: { type: 'boolean' },
        interactive: { type: 'boolean' },
        'maa-scope': { type: 'string' },
        realm: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const json = values.json === true;
  const out = (text: string) => process.stdout.write(text);
  const names = new Map<string, string>();
  const formatter = new TraceFormatter(names, values.tokens === true);
  const onEntry = (entry: TraceEntry) => {
    if (json) {
      if (entry.kind !== 'request') out(`${JSON.stringify(entry)}\n`);
    } else out(`${formatter.format(entry)}\n`);
  };
  const started = Date.now();
  if (!json) {
    out('aauth-kit supply-chain demo: backend → supply-chain agent → market-analysis agent, tokens from the embedded auth server\n');
    out(`realm: ${values.realm ?? DEFAULT_REALM_FILE}\n\n`);
  }
  const result = await runDemo({
    ...(values.realm ? { realmFile: values.realm } : {}),
    ...(values['maa-scope'] ? { maaScope: values['maa-scope'] } : {}),
    consent: values.interactive ? 'interactive' : 'scripted',
    ports: {
      authServer: portFromEnv('AUTH_SERVER_PORT'),
      backend: portFromEnv('BACKEND_PORT'),
      sca: portFromEnv('SCA_PORT'),
      maa: portFromEnv('MAA_PORT'),
    },
    onEntry,
    names,
    say: (text) => process.stderr.write(text),
  });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (json) {
    out(`${JSON.stringify({ kind: 'result', ok: result.ok, result: result.result, maaSaw: result.maaSaw, failure: result.failure, seconds: Number(seconds) })}\n`);
    return result.ok ? 0 : 1;
  }
  if (result.ok) {
    const saw = result.maaSaw;
    out('\n');
    out(`market-analysis agent saw: user ${saw?.sub ?? '?'}, calling agent ${saw?.agent ?? '?'} (${saw?.scheme}), `);
    out(`on behalf of ${JSON.stringify(saw?.act ?? null)}, scope ${saw?.scope.join(' ')}\n`);
    out(`optimisation plan: ${JSON.stringify((result.result as { plan?: unknown })?.plan)}\n`);
    out(`\nSUCCESS: the user's request went backend → supply-chain agent → market-analysis agent with exchanged, key-bound tokens (${seconds} s)\n`);
    if (values.tokens !== true) out('Tokens are shortened above; `npm run demo -- --tokens` prints them whole, to try `npx aauth decode TOKEN`.\n');
    return 0;
  }
  const hop = result.failure?.hop;
  process.stderr.write(`\nFAILED${hop ? ` at hop ${hop.n} (${hop.from} → ${hop.to} ${hop.method} ${hop.path})` : ''}: ${result.failure?.reason}\n`);
  return 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`demo: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
