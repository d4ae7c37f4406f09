// The `npm run demo` command line, as a function (demo.ts is the thin bin around it), so tests
// drive it in process: parse the flags, run the demo, print the trace and the outcome.
import { parseArgs } from 'node:util';
import { DEFAULT_REALM_FILE, runDemo, type DemoProtocol, type DemoResult } from './run-demo.js';
import { MAA_SCOPE } from './services.js';
import { otlpTracesUrl, startDemoTracing } from './telemetry.js';
import { TraceFormatter, type TraceEntry } from './trace.js';
import { startWebDemo, type WebDemoOptions } from './web/web-demo.js';

export const HELP = `Usage: npm run demo [-- --protocol keycloak|draft-11] [-- --four-party] [-- --json] [-- --tokens]
                    [-- --interactive] [-- --web] [-- --maa-scope SCOPE] [-- --realm FILE]

Runs the embedded auth server, a backend, a supply-chain agent and a market-analysis agent on
127.0.0.1, and walks one request through them: the user approves the backend, the backend calls the
supply-chain agent, which gets its own token to call the market-analysis agent for the same user.
  --protocol P    keycloak (default): the Keycloak profile, tokens exchanged at the auth server;
                  draft-11: AAuth -11, the auth server's person server issues agent-bound person and
                  auth tokens, and the supply-chain agent chains with upstream_token
  --four-party    with --protocol draft-11: the market-analysis agent sits behind a separate access
                  server (a second embedded auth server); the person server federates to it
  --json          write the trace as JSON lines (one object per hop) instead of text; every token
                  appears whole in its "raw" field
  --tokens        print whole tokens in the text trace (try one with: npx aauth decode TOKEN)
  --interactive   print the consent URL for you to open, instead of the scripted user
  --web           serve the demo as a web page on 127.0.0.1 (port DEMO_WEB_PORT, default 0: a free
                  port, printed): sign in as the realm's user, start the optimisation, approve on the
                  auth server's consent page, watch the hops live as a sequence diagram; Ctrl-C stops
  --maa-scope S   the scope the market-analysis agent requires (default ${MAA_SCOPE})
  --realm FILE    the realm export (default keycloak-realm/aauth-test-realm.json)
Ports: AUTH_SERVER_PORT, BACKEND_PORT, SCA_PORT, MAA_PORT, ACCESS_SERVER_PORT, DEMO_WEB_PORT (default 0: any free port).
Tracing: with OTEL_EXPORTER_OTLP_ENDPOINT set (e.g. http://localhost:4318, Jaeger in docker-compose.yml),
one OpenTelemetry trace of the run is exported over OTLP/HTTP (docs/telemetry.md).`;

const PROTOCOLS: readonly DemoProtocol[] = ['keycloak', 'draft-11'];

/** Where the command writes, and its environment (ports). */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** `--web` serves until this aborts; default until SIGINT or SIGTERM. */
  signal?: AbortSignal;
}

class UsageError extends Error {}

function portFromEnv(env: CliIo['env'], name: string): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return 0;
  if (!/^\d{1,5}$/.test(raw) || Number(raw) > 65535) throw new UsageError(`${name} must be a port number from 0 to 65535 (got ${JSON.stringify(raw)})`);
  return Number(raw);
}

/** Runs the demo command with `argv` (without node and the script); resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let values;
  let ports;
  let webPort = 0;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        protocol: { type: 'string' },
        'four-party': { type: 'boolean' },
        json: { type: 'boolean' },
        tokens: { type: 'boolean' },
        interactive: { type: 'boolean' },
        web: { type: 'boolean' },
        'maa-scope': { type: 'string' },
        realm: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
    if (values.protocol !== undefined && !(PROTOCOLS as readonly string[]).includes(values.protocol)) {
      throw new UsageError(`--protocol must be one of ${PROTOCOLS.join(', ')} (got ${JSON.stringify(values.protocol)})`);
    }
    if (values['four-party'] && values.protocol !== 'draft-11') {
      throw new UsageError('--four-party needs --protocol draft-11 (the Keycloak profile has no access server)');
    }
    if (values.web && (values.json || values.interactive || values.tokens)) {
      throw new UsageError('--web shows the flow in the page: it takes no --json, --interactive or --tokens');
    }
    ports = {
      authServer: portFromEnv(io.env, 'AUTH_SERVER_PORT'),
      backend: portFromEnv(io.env, 'BACKEND_PORT'),
      sca: portFromEnv(io.env, 'SCA_PORT'),
      maa: portFromEnv(io.env, 'MAA_PORT'),
      accessServer: portFromEnv(io.env, 'ACCESS_SERVER_PORT'),
    };
    webPort = portFromEnv(io.env, 'DEMO_WEB_PORT');
  } catch (error) {
    // node's parseArgs says only "Unknown option '--x'": point at the list (and at npm's `--`).
    const unknown = (error as { code?: string }).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION';
    io.err(`demo: ${(error as Error).message.split('\n')[0]}${unknown ? ' (`npm run demo -- --help` lists the options; through npm, options go after --)' : ''}\n`);
    return 2;
  }
  if (values.help) {
    io.out(`${HELP}\n`);
    return 0;
  }
  const protocol = (values.protocol ?? 'keycloak') as DemoProtocol;
  const draft11 = protocol === 'draft-11';
  const fourParty = values['four-party'] === true;
  if (values.web) {
    return serveWeb(io, {
      port: webPort,
      protocol,
      fourParty,
      ports,
      ...(values.realm ? { realmFile: values.realm } : {}),
      ...(values['maa-scope'] ? { maaScope: values['maa-scope'] } : {}),
    });
  }
  const json = values.json === true;
  const out = io.out;
  const names = new Map<string, string>();
  const formatter = new TraceFormatter(names, values.tokens === true);
  const onEntry = (entry: TraceEntry) => {
    if (json) {
      if (entry.kind !== 'request') out(`${JSON.stringify(entry)}\n`);
    } else {
      const text = formatter.format(entry);
      if (text !== '') out(`${text}\n`);
    }
  };
  const started = Date.now();
  if (!json) {
    out(
      draft11
        ? `aauth-kit supply-chain demo on AAuth -11${fourParty ? ', four-party' : ''}: backend → supply-chain agent → market-analysis agent, person and auth tokens from the embedded person server${fourParty ? ', the market-analysis agent behind an access server' : ''}\n`
        : 'aauth-kit supply-chain demo: backend → supply-chain agent → market-analysis agent, tokens from the embedded auth server\n',
    );
    out(`realm: ${values.realm ?? DEFAULT_REALM_FILE}\n\n`);
  }
  // OTEL_EXPORTER_OTLP_ENDPOINT set: one trace of the run, exported before the command returns (telemetry.ts).
  const otlp = otlpTracesUrl(io.env);
  const tracing = otlp === undefined ? undefined : await startDemoTracing(otlp, (message) => io.err(`demo: ${message}\n`));
  const demo = (): ReturnType<typeof runDemo> => runDemo({
    protocol,
    ...(fourParty ? { fourParty } : {}),
    ...(values.realm ? { realmFile: values.realm } : {}),
    ...(values['maa-scope'] ? { maaScope: values['maa-scope'] } : {}),
    consent: values.interactive ? 'interactive' : 'scripted',
    ports,
    onEntry,
    names,
    say: (text) => io.err(text),
  });
  const result = tracing === undefined ? await demo() : await tracing.run(demo);
  tracing?.name(result.services);
  await tracing?.finish();
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  if (json) {
    out(`${JSON.stringify({ kind: 'result', protocol, fourParty, ok: result.ok, result: result.result, maaSaw: result.maaSaw, failure: result.failure, seconds: Number(seconds) })}\n`);
    return result.ok ? 0 : 1;
  }
  if (result.ok) {
    out('\n');
    out(draft11 ? summary11(result, names) : summaryKeycloak(result));
    out(`optimisation plan: ${JSON.stringify((result.result as { plan?: unknown })?.plan)}\n`);
    out(
      draft11
        ? `\nSUCCESS on AAuth -11${fourParty ? ' (four-party)' : ''}: backend → supply-chain agent → market-analysis agent with person and auth tokens bound to each agent's key, chained with upstream_token (${seconds} s)\n`
        : `\nSUCCESS: the user's request went backend → supply-chain agent → market-analysis agent with exchanged, key-bound tokens (${seconds} s)\n`,
    );
    if (values.tokens !== true) out('Tokens are shortened above; `npm run demo -- --tokens` prints them whole, to try `npx aauth decode TOKEN`.\n');
    return 0;
  }
  const hop = result.failure?.hop;
  io.err(`\nFAILED${hop ? ` at hop ${hop.n} (${hop.from} → ${hop.to} ${hop.method} ${hop.path})` : ''}: ${result.failure?.reason}\n`);
  return 1;
}

/** `--web`: the page until the signal (default SIGINT or SIGTERM), then every server it started stops. */
async function serveWeb(io: CliIo, options: WebDemoOptions): Promise<number> {
  // Listening before anything starts: a Ctrl-C from the moment the address is printed stops cleanly.
  const signal = io.signal ?? processSignal();
  // OTEL_EXPORTER_OTLP_ENDPOINT set: each run of the page is one trace, exported when it ends.
  const otlp = otlpTracesUrl(io.env);
  const tracing = otlp === undefined ? undefined : await startDemoTracing(otlp, (message) => io.err(`demo: ${message}\n`));
  let web;
  try {
    web = await startWebDemo({ ...options, ...(tracing === undefined ? {} : { tracing }) });
  } catch (error) {
    await tracing?.finish();
    io.err(`demo: ${(error as Error).message}\n`);
    return 1;
  }
  io.out(`aauth-kit supply-chain demo, as a web page: ${web.url}\n`);
  io.out("Sign in as a user of the realm (the demo realm's is mcp-user / user123), start the optimisation, approve on the consent page. Ctrl-C stops.\n");
  if (!signal.aborted) await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
  await web.close();
  await tracing?.finish();
  io.out('demo web page stopped\n');
  return 0;
}

/** Aborts on the first SIGINT or SIGTERM (and stops listening for the other). */
function processSignal(): AbortSignal {
  const controller = new AbortController();
  const stop = () => {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    controller.abort();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  return controller.signal;
}

function summaryKeycloak(result: DemoResult): string {
  const saw = result.maaSaw;
  return `market-analysis agent saw: user ${saw?.sub ?? '?'}, calling agent ${saw?.agent ?? '?'} (${saw?.scheme}), on behalf of ${JSON.stringify(saw?.act ?? null)}, scope ${saw?.scope.join(' ')}\n`;
}

/** What the -11 run shows that the Keycloak profile does not: directed subs, ps, key binding, no act. */
function summary11(result: DemoResult, names: Map<string, string>): string {
  const saw = result.maaSaw;
  const named = (url: string | undefined) => (url === undefined ? '?' : (names.get(url) ?? url));
  const atSca = (result.result as { for?: string } | undefined)?.for;
  return (
    `market-analysis agent saw: person (${named(saw?.ps)}, sub ${saw?.sub ?? '?'}), scope ${saw?.scope.join(' ')}, ` +
    `from an ${saw?.accessMode ?? '?'} issued by ${named(saw?.issuer)}, whose cnf key signed the request (${saw?.agent ?? '?'})\n` +
    `the same person is sub ${atSca ?? '?'} at the supply-chain agent: subs are directed (one per resource), and no token carries act\n`
  );
}
