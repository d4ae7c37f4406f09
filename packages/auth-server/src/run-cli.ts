import { createServer } from 'node:net';
import { parseArgs } from 'node:util';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import { buildAuthServer, type MessageNames, type SigningAlgorithm } from './create-auth-server.js';

/** The command's options, parsed from its arguments. */
export interface CliOptions {
  realm: string;
  port: number;
  /** Default `127.0.0.1`. */
  host: string;
  /** Default `http://localhost:{port}`. */
  baseUrl: string;
  /** True when `--base-url` was given (otherwise port 0 resolves to the bound port). */
  baseUrlGiven: boolean;
  keyFile?: string;
  signingAlgorithm?: SigningAlgorithm;
}

/** A server started by {@link runCli}. */
export interface RunningCli {
  /** The address the server is bound to, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The origin clients use, the issuer's scheme and authority (`--base-url`, default `http://localhost:PORT`). */
  baseUrl: string;
  issuer: string;
  close(): Promise<void>;
}

/** The command's usage text, printed with argument errors. */
export const USAGE = `Usage: aauth-auth-server --realm FILE [--port N] [--host 127.0.0.1] [--base-url URL] [--key-file FILE] [--alg RS256|EdDSA|ES256]

  --realm FILE      Keycloak realm export (e.g. keycloak-realm/aauth-test-realm.json)
  --port N          port to listen on (default 8080)
  --host HOST       address to bind (default 127.0.0.1)
  --base-url URL    URL clients use to reach this server (default http://localhost:PORT);
                    the issuer is BASE-URL/realms/REALM, and clients must use exactly that
  --key-file FILE   realm signing key, created if absent (default: ephemeral key)
  --alg ALG         auth token algorithm (default RS256)`;

/** Parse the command's arguments; throws a `TypeError` with the problem (the caller prints usage). */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        realm: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        'base-url': { type: 'string' },
        'key-file': { type: 'string' },
        alg: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new TypeError((error as Error).message);
  }
  const realm = values.realm;
  if (typeof realm !== 'string' || realm.length === 0) throw new TypeError('--realm FILE is required');
  const portText = typeof values.port === 'string' ? values.port : '8080';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new TypeError(`--port must be a port number (got ${JSON.stringify(portText)})`);
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  const options: CliOptions = {
    realm,
    port,
    host,
    baseUrl: typeof values['base-url'] === 'string' ? values['base-url'] : `http://localhost:${port}`,
    baseUrlGiven: typeof values['base-url'] === 'string',
  };
  if (typeof values['key-file'] === 'string') options.keyFile = values['key-file'];
  if (typeof values.alg === 'string') {
    if (!['RS256', 'EdDSA', 'ES256'].includes(values.alg)) throw new TypeError(`--alg must be RS256, EdDSA or ES256 (got ${values.alg})`);
    options.signingAlgorithm = values.alg as SigningAlgorithm;
  }
  return options;
}

/** How the command's messages name what the user can set: its flags, not the API's options. */
const CLI_NAMES: MessageNames = {
  baseUrl: '--base-url',
  realm: '--realm',
  ephemeralKey: 'no --key-file given: the realm signing key is ephemeral, and tokens it signed stop verifying after a restart (dev only; --key-file FILE keeps it)',
  memoryPendingStore:
    "pending consent requests and seen signatures are kept in this process's memory: run one process per issuer " +
    '(several processes behind one address need createAuthServer() with a shared pendingStore and replay store)',
};

/** `host:port` as a URL authority (IPv6 literals in brackets). */
function authority(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Run `aauth-auth-server`: parse the arguments, start the server, print the URL clients use (the
 * issuer's origin), the address it is bound to and the issuer, then one JSON line per audit event
 * to `out`; warnings, naming the command's flags, go to `err`.
 */
export async function runCli(
  argv: readonly string[],
  io: { out?: (line: string) => void; err?: (line: string) => void } = {},
): Promise<RunningCli> {
  const out = io.out ?? ((line: string) => process.stdout.write(`${line}\n`));
  const err = io.err ?? ((line: string) => process.stderr.write(`${line}\n`));
  const options = parseCliArgs(argv);
  let baseUrl = options.baseUrl;
  let port = options.port;
  if (port === 0 && !options.baseUrlGiven) {
    // Port 0 picks a free port: learn it first, so the issuer names the port actually served.
    port = await freePort(options.host);
    baseUrl = `http://localhost:${port}`;
  }
  const server = buildAuthServer(
    {
      realm: options.realm,
      baseUrl,
      ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : {}),
      ...(options.signingAlgorithm !== undefined ? { signingAlgorithm: options.signingAlgorithm } : {}),
      // One process: the memory store is the only choice, and the warning above already says so.
      replay: { store: createMemoryReplayStore() },
      onWarning: (message) => err(`warning: ${message}`),
      onAudit: (event) => out(JSON.stringify({ audit: event })),
    },
    CLI_NAMES,
  );
  const running = await server.listen(port, options.host);
  const bound = new URL(running.url);
  // What clients configure is the issuer, compared byte for byte (wire profile section 1): print the
  // origin they use, and the bound address only as a detail, so the two cannot be confused.
  out(`aauth-auth-server listening on ${baseUrl} (bound to ${authority(options.host, Number(bound.port))}); issuer ${server.issuer}`);
  const boundIssuer = `${bound.origin}${new URL(server.issuer).pathname}`;
  out(
    `  configure resources and agents with the issuer exactly as printed${
      boundIssuer === server.issuer ? '' : ` (${boundIssuer} would be another issuer and fail discovery; --base-url sets it)`
    }`,
  );
  return { url: running.url, baseUrl, issuer: server.issuer, close: running.close };
}

/** A port that is free on `host` right now (for `--port 0`). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, host, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}
