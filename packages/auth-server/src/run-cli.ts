import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { AAuthError } from '@aauth-kit/core';
import { argumentErrorText, fileProblem, repeatedOptionText, hashTagged, hasHashTag, serverIdentifierProblem, storeFailureText } from '@aauth-kit/core/internal';
import { createMemoryReplayStore, createMemoryRevocationStore, createRedisRevocationStore, type RedisRevocationClient } from '@aauth-kit/verifier';
import { buildAuthServer, type AuthServerDraft11Options, type MessageNames, type SigningAlgorithm } from './create-auth-server.js';
import { createFileAuditSink } from './create-file-audit-sink.js';
import { auditJson } from './lib/audit.js';
import { createRedisAuthServerStores, type RedisStoreClient } from './create-redis-stores.js';
import { createTenantAuthServer, TenantReloadError } from './create-tenant-auth-server.js';

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
  /** `--person-server`: serve the AAuth -11 person server at the origin of the base URL; absent: false. */
  personServer?: true;
  /** `--allow-loopback`: the -11 loopback relaxation (http, a port on a loopback host); absent: false. */
  allowLoopback?: true;
  /** `--person-key-file`: the person server's Ed25519 key file; default an ephemeral key. */
  personKeyFile?: string;
  /** `--access-server`: require the AAuth -11 access server (realm attribute `aauth.access.enabled`); absent: false. */
  accessServer?: true;
  /** `--access-key-file`: the access server's Ed25519 key file; default an ephemeral key. */
  accessKeyFile?: string;
  /** `--audit-file`: also append audit events to this JSON-lines file (rotated; `aauth audit` reads it). */
  auditFile?: string;
  /** `--audit-max-bytes`: rotate the audit file at this size; default the file sink's (10 MiB). */
  auditMaxBytes?: number;
  /** `--audit-keep`: rotated audit files kept; default the file sink's (5). */
  auditKeep?: number;
  /** `--revocation-client` (repeatable): realm clients that may call the revocation endpoint (issue 17); absent: not served. */
  revocationClients?: string[];
  /** Tenants (issue 17): every `--realm` when more than one is given; one auth server serves them all. */
  realms?: string[];
  /** `--realms DIR`: every `*.json` in DIR is a realm (tenants), listed again on SIGHUP and the admin reload. */
  realmsDir?: string;
  /** `--admin-token-file FILE`: serve `POST /admin/realms/reload` for `Authorization: Bearer` the file's first line (tenants only). */
  adminTokenFile?: string;
  /** `--key-dir DIR`: each realm's signing key in DIR/REALM.key.json, created if absent (tenants only). */
  keyDir?: string;
  /** `--redis-url URL`: the server's state in this Redis (createRedisAuthServerStores), shared with every server of the same issuer. */
  redisUrl?: string;
  /** `--redis-prefix P`: the prefix of every Redis key; default `aauth:auth-server:` (tenants: then the realm's name and `:`). */
  redisPrefix?: string;
  /** `--redis-cluster`: `--redis-url` names one node of a Redis Cluster (the prefix then needs a hash tag; default `{aauth:auth-server}:`). */
  redisCluster?: true;
}

/** A server started by {@link runCli}. */
export interface RunningCli {
  /** The address the server is bound to, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The origin clients use, the issuer's scheme and authority (`--base-url`, default `http://localhost:PORT`). */
  baseUrl: string;
  issuer: string;
  /** The -11 person server's identifier when it is served (`--person-server`). */
  personServer: string | undefined;
  /** The -11 access server's identifier when it is served (realm attribute `aauth.access.enabled`). */
  accessServer: string | undefined;
  close(): Promise<void>;
  /** Tenants (issue 17): read the realm files again and swap the realms served (SIGHUP calls it); prints what changed or why nothing did. */
  reload?: () => Promise<void>;
}

/** The command's usage text (`--help`). */
export const USAGE = `Usage: aauth-auth-server --realm FILE [--port N] [--host 127.0.0.1] [--base-url URL] [--key-file FILE] [--alg RS256|EdDSA|ES256]
                         [--person-server] [--access-server] [--allow-loopback] [--person-key-file FILE] [--access-key-file FILE]
                         [--revocation-client ID]...
       aauth-auth-server (--realm FILE --realm FILE... | --realms DIR) [--key-dir DIR] [--admin-token-file FILE] [--port N] ...

  --realm FILE      Keycloak realm export (e.g. keycloak-realm/aauth-test-realm.json)
  --port N          port to listen on (default 8080)
  --host HOST       address to bind (default 127.0.0.1)
  --base-url URL    URL clients use to reach this server (default http://localhost:PORT);
                    the issuer is BASE-URL/realms/REALM, and clients must use exactly that
  --key-file FILE   realm signing key, created if absent (default: ephemeral key)
  --alg ALG         auth token algorithm (default RS256)
  --revocation-client ID
                    a realm client (client secret) that may revoke at BASE-URL/realms/REALM/protocol/aauth/revoke
                    (aauth revoke); repeatable; revocations are kept in this process's memory (in Redis
                    with --redis-url)
  -h, --help        print this text and exit

Several servers of one issuer (behind one address), or state that outlives a restart:
  --redis-url URL   keep the state in Redis (redis://[:PASSWORD@]HOST:PORT[/DB], rediss:// for TLS):
                    pending consents, used resource tokens, seen signatures, rate limits, sign-in
                    sessions, revocations and the -11 records; needs the ioredis package installed.
                    Every server of the issuer gets the same URL, --redis-prefix, realm file and key
                    files (--key-file, and --person-key-file / --access-key-file with a -11 role;
                    --key-dir with tenants), which are then required. The command stops when Redis
                    does not answer at start; later, a request that needs Redis while it is down
                    gets a prompt 503 (store_unavailable), never a wait. With tenants, a reload at
                    one server (SIGHUP, the admin call) is announced to the others, which reload too
  --redis-prefix P  prefix of every key (default aauth:auth-server:); one per issuer
  --redis-cluster   --redis-url names one node of a Redis Cluster (database 0); the prefix needs a
                    hash tag, so that each operation's keys are in one slot (default
                    {aauth:auth-server}:), which puts one issuer's keys on one node of the cluster

Tenants (several realms in one server, each at BASE-URL/realms/REALM with its own keys, users and state):
  --realm FILE      given more than once: one realm per file
  --realms DIR      every *.json file in DIR is a realm
  --key-dir DIR     each realm's signing key in DIR/REALM.key.json, created if absent (default: ephemeral keys)
  --admin-token-file FILE
                    serve POST /admin/realms/reload (and GET /admin/realms) for
                    "Authorization: Bearer TOKEN", TOKEN the file's first line (32 characters or more)
  SIGHUP            reads the realm files (and DIR) again: new realms are served at once, removed ones
                    answer 404 realm_not_found; a file with an error keeps the old realms serving and is named
  (the -11 roles and --revocation-client serve one realm: not available with tenants)

AAuth -11 roles, from the same realm file (realm attributes aauth.person.*, aauth.access.*):
  --person-server   also serve the -11 person server; its identifier is the origin of --base-url,
                    which must then be https://HOST without a port (or see --allow-loopback);
                    the command stops when it cannot be served, saying why
  --access-server   also serve the -11 access server at the same origin; the realm must enable it
                    (aauth.access.enabled "true", with aauth.access.trusted.person.servers);
                    the command stops when it cannot be served, saying why
  --allow-loopback  with a -11 role: accept http and a port on localhost, 127.0.0.1 or [::1]
                    in -11 identifiers, its own and those it meets (development and tests only)
  --person-key-file FILE
                    with --person-server: its Ed25519 key, created if absent (default: ephemeral
                    key: its tokens and directed subs change after a restart)
  --access-key-file FILE
                    with --access-server: its Ed25519 key, created if absent (default: ephemeral)

Audit trail (every event is also printed as a JSON line, as without these flags):
  --audit-file FILE also append audit events to FILE, one JSON line each (read it with aauth audit)
  --audit-max-bytes N
                    rotate FILE before it passes N bytes (default 10485760)
  --audit-keep N    rotated files kept, FILE.1 (newest) to FILE.N (default 5)`;

/**
 * Whether a refusal of runCli is about the command line's shape (an unknown option, a stray
 * argument, a value missing, no realm): then both commands point at their --help, not otherwise.
 */
export function isArgumentProblem(error: unknown): boolean {
  return error instanceof TypeError && /^(unknown option|unexpected argument|Option '|--realm FILE is required)/.test(error.message);
}

/** True when the arguments ask for the usage text (`-h`, `--help`). */
export function helpRequested(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/** The command's options, for node's parseArgs (and the nearest-name hint of an unknown one). */
const OPTIONS = {
    realm: { type: 'string', multiple: true },
    realms: { type: 'string' },
    'key-dir': { type: 'string' },
    'admin-token-file': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'base-url': { type: 'string' },
    'key-file': { type: 'string' },
    alg: { type: 'string' },
    'person-server': { type: 'boolean' },
    'allow-loopback': { type: 'boolean' },
    'person-key-file': { type: 'string' },
    'access-server': { type: 'boolean' },
    'access-key-file': { type: 'string' },
    'audit-file': { type: 'string' },
    'audit-max-bytes': { type: 'string' },
    'audit-keep': { type: 'string' },
    'revocation-client': { type: 'string', multiple: true },
    'redis-url': { type: 'string' },
    'redis-prefix': { type: 'string' },
    'redis-cluster': { type: 'boolean' },
} as const;

/** Parse the command's arguments; throws a `TypeError` with the problem, one line (the caller points at --help). */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  let values: Record<string, string | boolean | string[] | undefined>;
  let tokens: Parameters<typeof repeatedOptionText>[0];
  try {
    ({ values, tokens } = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false, tokens: true }));
  } catch (error) {
    throw new TypeError(argumentErrorText(error, Object.keys(OPTIONS)));
  }
  // node keeps the last of a repeated single-valued flag silently: refused instead.
  const repeated = repeatedOptionText(tokens, OPTIONS);
  if (repeated !== undefined) throw new TypeError(repeated);
  const realmList = Array.isArray(values.realm) ? values.realm : [];
  const realmsDir = typeof values.realms === 'string' ? values.realms : undefined;
  if (realmsDir !== undefined && realmsDir.length === 0) throw new TypeError('--realms must name a folder');
  if (realmList.some((r) => r.length === 0)) throw new TypeError('--realm must name a file');
  if (realmList.length === 0 && realmsDir === undefined) throw new TypeError('--realm FILE is required');
  const realm = realmList[0] ?? '';
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
  const tenants = realmList.length > 1 || realmsDir !== undefined;
  if (realmList.length > 1) options.realms = realmList;
  if (realmsDir !== undefined) {
    options.realmsDir = realmsDir;
    if (realmList.length > 0) options.realms = realmList;
  }
  for (const [flag, name] of [['admin-token-file', 'adminTokenFile'], ['key-dir', 'keyDir']] as const) {
    const text = values[flag];
    if (typeof text !== 'string') continue;
    if (text.length === 0) throw new TypeError(`--${flag} must name a ${flag === 'key-dir' ? 'folder' : 'file'}`);
    if (!tenants) throw new TypeError(`--${flag} is for tenants: give several --realm or --realms DIR`);
    options[name] = text;
  }
  if (tenants) {
    // These serve one realm (the -11 roles live at the origin; revocation clients are one realm's clients).
    for (const flag of ['person-server', 'access-server', 'revocation-client', 'key-file']) {
      if (values[flag] !== undefined) throw new TypeError(`--${flag} serves one realm: not available with several realms (see --key-dir for keys)`);
    }
  }
  const revokers = values['revocation-client'];
  if (Array.isArray(revokers)) {
    if (revokers.some((c) => c.length === 0)) throw new TypeError('--revocation-client must name a realm client');
    options.revocationClients = revokers;
  }
  if (values['person-server'] === true) options.personServer = true;
  if (values['allow-loopback'] === true) options.allowLoopback = true;
  if (values['access-server'] === true) options.accessServer = true;
  if (typeof values['key-file'] === 'string') options.keyFile = values['key-file'];
  if (typeof values.alg === 'string') {
    if (!['RS256', 'EdDSA', 'ES256'].includes(values.alg)) throw new TypeError(`--alg must be RS256, EdDSA or ES256 (got ${values.alg})`);
    options.signingAlgorithm = values.alg as SigningAlgorithm;
  }
  if (typeof values['person-key-file'] === 'string') {
    if (values['person-key-file'].length === 0) throw new TypeError('--person-key-file must name a file');
    if (values['person-key-file'] === options.keyFile) throw new TypeError('--person-key-file must differ from --key-file: the person server has its own Ed25519 key');
    options.personKeyFile = values['person-key-file'];
  }
  if (typeof values['access-key-file'] === 'string') {
    const file = values['access-key-file'];
    if (file.length === 0) throw new TypeError('--access-key-file must name a file');
    if (file === options.keyFile || file === options.personKeyFile) throw new TypeError('--access-key-file must differ from --key-file and --person-key-file: the access server has its own Ed25519 key');
    options.accessKeyFile = file;
  }
  if (typeof values['audit-file'] === 'string') {
    if (values['audit-file'].length === 0) throw new TypeError('--audit-file must name a file');
    options.auditFile = values['audit-file'];
  }
  for (const [flag, name] of [['audit-max-bytes', 'auditMaxBytes'], ['audit-keep', 'auditKeep']] as const) {
    const text = values[flag];
    if (typeof text !== 'string') continue;
    if (!/^[1-9]\d{0,14}$/.test(text)) throw new TypeError(`--${flag} must be a positive integer (got ${JSON.stringify(text)})`);
    if (options.auditFile === undefined) throw new TypeError(`--${flag} configures the audit file: give it with --audit-file`);
    options[name] = Number(text);
  }
  if (typeof values['redis-url'] === 'string') options.redisUrl = redisUrlOf(values['redis-url']);
  if (typeof values['redis-prefix'] === 'string') {
    if (options.redisUrl === undefined) throw new TypeError('--redis-prefix names the keys in Redis: give it with --redis-url');
    if (!/^[\x21-\x7e]{1,100}$/.test(values['redis-prefix'])) throw new TypeError('--redis-prefix must be 1 to 100 visible ASCII characters, no spaces');
    options.redisPrefix = values['redis-prefix'];
  }
  if (values['redis-cluster'] === true) {
    if (options.redisUrl === undefined) throw new TypeError('--redis-cluster says --redis-url names a node of a Redis Cluster: give it with --redis-url');
    const db = new URL(options.redisUrl).pathname;
    if (db !== '' && db !== '/' && db !== '/0') throw new TypeError(`--redis-cluster: a Redis Cluster has database 0 only (--redis-url names ${db})`);
    if (options.redisPrefix !== undefined && !hasHashTag(options.redisPrefix)) {
      throw new TypeError(`--redis-cluster: --redis-prefix needs a hash tag, e.g. ${hashTagged(options.redisPrefix)}, so that the keys one operation touches are in one slot of the cluster`);
    }
    options.redisCluster = true;
  }
  if (options.redisUrl !== undefined) {
    // Shared state with ephemeral keys is a fleet whose members cannot verify each other's tokens
    // (or a server whose stored consents outlive the key that was to sign for them): refuse it.
    const shared = "with --redis-url, every server of the issuer must sign with the same keys (and one restarted must keep them)";
    if (tenants && options.keyDir === undefined) throw new TypeError(`${shared}: give --key-dir DIR, the same folder of key files to each`);
    if (!tenants && options.keyFile === undefined) throw new TypeError(`${shared}: give --key-file FILE, the same file to each`);
    if (options.personServer && options.personKeyFile === undefined) throw new TypeError(`${shared}: give --person-key-file FILE with --person-server`);
    if (options.accessServer && options.accessKeyFile === undefined) throw new TypeError(`${shared}: give --access-key-file FILE with --access-server`);
  }
  // The -11 settings only mean something with a -11 role: refuse them alone rather than ignore them.
  if (!options.personServer && options.personKeyFile !== undefined) throw new TypeError('--person-key-file is the -11 person server\'s key: give it with --person-server');
  if (!options.accessServer && options.accessKeyFile !== undefined) throw new TypeError('--access-key-file is the -11 access server\'s key: give it with --access-server');
  if (!options.personServer && !options.accessServer && options.allowLoopback) {
    throw new TypeError('--allow-loopback relaxes -11 identifiers: give it with --person-server or --access-server');
  }
  for (const [flag, file] of [['--key-file', options.keyFile], ['--person-key-file', options.personKeyFile], ['--access-key-file', options.accessKeyFile], ['--admin-token-file', options.adminTokenFile]] as const) {
    if (file !== undefined) checkSmallFile(flag, file);
  }
  return options;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The most a key file or the admin token file may hold, bytes (a private JWK is a few KiB at most). */
const MAX_SMALL_FILE_BYTES = 64 * 1024;

/**
 * A key or token file named by `flag`, when it exists, is a regular file of at most 64 KiB: a FIFO
 * would hang the start (it is read synchronously), /dev/zero would grow memory without end, and a
 * device would be overwritten when a key is created. stat, not open: nothing is waited on.
 */
function checkSmallFile(flag: string, file: string): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(file);
  } catch {
    // A key file that is not there is created: its folder must be.
    if (flag !== '--admin-token-file' && !isFolder(dirname(file))) throw new TypeError(`${flag} ${file}: its folder ${dirname(file)} does not exist (the key is created there when absent): create it, or name a file in an existing folder`);
    return;
  }
  if (stat.isDirectory()) throw new TypeError(`${flag} ${file} is a directory: name a file`);
  if (!stat.isFile()) throw new TypeError(`${flag} ${file} is not a regular file (a FIFO, a device or a socket): name a key file`);
  if (stat.size > MAX_SMALL_FILE_BYTES) throw new TypeError(`${flag} ${file} is ${stat.size} bytes, more than the ${MAX_SMALL_FILE_BYTES} a key file may be`);
}

/** `--redis-url`'s value checked: a redis:// or rediss:// URL with a host. Messages never repeat a password. */
function redisUrlOf(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new TypeError('--redis-url must be a URL: redis://HOST:PORT (or rediss:// for TLS, redis://:PASSWORD@HOST:PORT/DB)');
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new TypeError(`--redis-url must be a redis:// or rediss:// URL (got ${url.protocol}//...)`);
  if (url.hostname === '') throw new TypeError('--redis-url must name a host: redis://HOST:PORT');
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
  } catch {
    throw new TypeError('--redis-url: its user name or password has a malformed %-escape (write a % as %25)');
  }
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,5}$/.test(url.pathname)) throw new TypeError(`--redis-url: the path must be a database number (got ${url.pathname})`);
  return text;
}

/** Where the state is, as the command prints it: `Redis at URL`, or `the Redis Cluster of URL`. */
function redisWhere(options: CliOptions): string {
  return `${options.redisCluster ? 'the Redis Cluster of' : 'Redis at'} ${redactedRedisUrl(options.redisUrl!)}`;
}

/**
 * The URL as printed: its password, and every query value, replaced by `***` (ioredis takes a
 * `?password=` in the query as the password, as it takes the one before the `@`).
 */
export function redactedRedisUrl(text: string): string {
  const url = new URL(text);
  if (url.password !== '') url.password = '***';
  for (const key of new Set(url.searchParams.keys())) url.searchParams.set(key, '***');
  return url.href;
}

/** The Redis client of the command, as far as it uses it: the stores' calls, and its life. */
interface CliRedis {
  on(event: 'error', listener: (error: Error) => void): unknown;
  on(event: 'ready' | 'close', listener: () => void): unknown;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  connect(): Promise<void>;
  ping(): Promise<string>;
  quit(): Promise<unknown>;
  disconnect(): void;
  /** A new connection with the same settings (a subscriber: a connection that subscribes does nothing else). */
  duplicate(): CliRedis;
  subscribe(channel: string): Promise<unknown>;
  publish(channel: string, message: string): Promise<number>;
  /** `INFO section` (ioredis's Redis; a Cluster's client answers for one node). */
  info?(section: string): Promise<string>;
}

/** Redis refusing the credentials (or asking for some): said as what to change in --redis-url. */
const REDIS_AUTH_REFUSED = /NOAUTH|WRONGPASS|invalid username-password|invalid password/i;

/** Clients being closed by the command: their connection's end is no outage. */
const closing = new WeakSet<object>();

/** Close one of the command's connections: QUIT, or drop it when Redis does not answer; its end is no outage. */
async function quitRedis(client: CliRedis): Promise<void> {
  closing.add(client);
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

/**
 * Connect to `--redis-url` with the client settings the shared stores need (no offline queue, one
 * retry per command: a Redis outage is a prompt 503, never a queue) and check that it answers;
 * throws, naming the flag, when ioredis is missing or Redis does not answer. An outage later is
 * reported once on `err` when it starts and once when Redis answers again.
 */
async function connectRedis(text: string, cluster: boolean, err: (line: string) => void): Promise<CliRedis & object> {
  const shown = redactedRedisUrl(text);
  let ioredis: {
    Redis: new (url: string, options: Record<string, unknown>) => CliRedis;
    Cluster: new (nodes: Array<{ host: string; port: number }>, options: Record<string, unknown>) => CliRedis;
  };
  try {
    ioredis = (await import('ioredis')) as unknown as typeof ioredis;
  } catch {
    throw new Error('--redis-url needs the ioredis package beside @aauth-kit/auth-server: npm install ioredis');
  }
  const settings = { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 3000 };
  let client: CliRedis;
  if (cluster) {
    // The URL names a seed node; the client learns the others (and their slots) from it.
    const url = new URL(text);
    const auth = {
      ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    };
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // an IPv6 literal without its brackets
    client = new ioredis.Cluster([{ host, port: url.port === '' ? 6379 : Number(url.port) }], {
      lazyConnect: true,
      enableOfflineQueue: false,
      redisOptions: { ...settings, ...auth },
    });
  } else {
    client = new ioredis.Redis(text, { lazyConnect: true, ...settings });
  }
  let lastError: Error | undefined;
  let started = false;
  let down = false;
  const lost = (why: string): void => {
    if (!started || down || closing.has(client)) return;
    down = true;
    err(`warning: Redis at ${shown} does not answer (${why}): requests that need the shared state get 503 store_unavailable until it does`);
  };
  let credentialsRefused = false;
  client.on('error', (error) => {
    lastError = error;
    // A password changed under a running server: said once, with the fix, even while already down.
    if (started && !credentialsRefused && REDIS_AUTH_REFUSED.test(error.message) && !closing.has(client)) {
      credentialsRefused = true;
      err(`warning: Redis at ${shown} refuses this server's credentials (${error.message}): correct the password in --redis-url and restart`);
    }
    lost(error.message);
  });
  // A connection lost is an outage at once: the next error (a reconnect refused) may come later.
  client.on('close', () => lost('connection closed'));
  client.on('ready', () => {
    if (down) err(`Redis at ${shown} answers again`);
    down = false;
    credentialsRefused = false;
  });
  // Bounded (connectTimeout covers only the TCP handshake, which a stopped Redis's kernel still
  // completes; the ready check and PING would then wait forever): the command stops at start.
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${REDIS_START_TIMEOUT_MS / 1000} s: is it stopped or overloaded?`)), REDIS_START_TIMEOUT_MS);
  });
  try {
    await Promise.race([(async () => {
      await client.connect();
      await client.ping();
    })(), deadline]);
  } catch (error) {
    client.disconnect();
    const why = lastError?.message ?? (error as Error).message;
    if (REDIS_AUTH_REFUSED.test(why)) {
      throw new Error(`--redis-url ${shown}: Redis refused the credentials (${why}); give its password in the URL (redis://:PASSWORD@HOST:PORT, or redis://USER:PASSWORD@HOST:PORT with an ACL user) and check it`);
    }
    throw new Error(`--redis-url ${shown}: Redis did not answer (${why}); start it, or correct the URL`);
  } finally {
    clearTimeout(timer);
  }
  started = true;
  // Without an append-only file a restarted Redis forgets what was written since its last snapshot:
  // single-use records (redeemed resource tokens, used signatures), revocations, pending consents.
  if (typeof client.info === 'function') {
    try {
      const persistence = await client.info('persistence');
      if (/^aof_enabled:0\b/m.test(persistence)) {
        err(`warning: Redis at ${shown} keeps no append-only file (appendonly no): if it restarts, what it recorded since its last snapshot is lost: redeemed resource tokens and used signatures (each could be used again within its lifetime), revocations, pending consents. Run it with appendonly yes for the shared stores`);
      }
    } catch {
      // INFO refused (an ACL, a managed Redis): nothing to say.
    }
  }
  storeFailureLogs.set(client, storeFailureLog(shown, err));
  return client;
}

/** A file the command appends to: refused at start (TypeError, one line) when it cannot be. */
function checkWritable(path: string, flag: string): void {
  try {
    closeSync(openSync(path, 'a', 0o600));
  } catch (error) {
    throw new TypeError(`${flag} ${path}: cannot write it (${fileProblem(error, 'write')})`);
  }
}

/** `listen`, with an address in use or not allowed said as the flags that chose it. */
async function listenNamed<T>(listen: () => Promise<T>, port: number, host: string): Promise<T> {
  try {
    return await listen();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new TypeError(`--port ${port}: another process listens on ${host}:${port} (stop it, or give another --port; --port 0 picks a free one)`);
    if (code === 'EACCES') throw new TypeError(`--port ${port}: not allowed to listen there (ports below 1024 need privileges; give --port 8080, or --port 0)`);
    if (code === 'EADDRNOTAVAIL') throw new TypeError(`--host ${host}: no interface of this machine has that address`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') throw new TypeError(`--host ${host}: no such address (give an IP address of this machine, e.g. 127.0.0.1 or 0.0.0.0, or a name that resolves to one)`);
    throw error;
  }
}

/**
 * SIGHUP, listened for before the server starts (both commands call this first): one that arrives
 * while it starts (after it printed its realms, before it is handed back) is honoured once it runs,
 * not lost. With tenants SIGHUP reloads the realms; with one realm there is nothing to reload, and
 * SIGHUP keeps its default: the command ends (with its terminal).
 */
export function listenForHangup(): { started(running: RunningCli): void; stop(): void } {
  let server: RunningCli | undefined;
  let hungUp = false;
  const onHangup = (): void => {
    if (server === undefined) hungUp = true;
    else if (server.reload !== undefined) void server.reload();
    else {
      // One realm: the default, raised again with no listener left (the command ends).
      process.off('SIGHUP', onHangup);
      process.kill(process.pid, 'SIGHUP');
    }
  };
  // Kept after the start even with one realm: a SIGHUP the process already received but had not yet
  // handed to JavaScript when the listener was removed was dropped with it, and the command ran on
  // (2 of 8 servers hung up right after their start line, under load; the SIGHUP test's flake).
  process.on('SIGHUP', onHangup);
  return {
    started(running) {
      server = running;
      if (hungUp) onHangup();
    },
    stop: () => void process.off('SIGHUP', onHangup),
  };
}

/** How long the command waits at start for Redis to connect and answer PING. */
const REDIS_START_TIMEOUT_MS = 5000;

/** How the command's messages name what the user can set: its flags, not the API's options. */
const CLI_NAMES: MessageNames = {
  baseUrl: '--base-url',
  realm: '--realm',
  ephemeralKey: 'no --key-file given: the realm signing key is ephemeral, and tokens it signed stop verifying after a restart (dev only; --key-file FILE keeps it)',
  memoryPendingStore:
    "pending consent requests and seen signatures are kept in this process's memory: run one process per issuer " +
    '(or give --redis-url: several processes behind one address then share them)',
};

/** The -11 settings as the command's flags name them, in warnings the library words with its option paths. */
const CLI_DRAFT11_NAMES: ReadonlyArray<readonly [string, string]> = [
  ['options.draft11.keyFile', '--person-key-file'],
  ['options.draft11.allowLoopback', '--allow-loopback'],
  ['options.draft11.accessKeyFile', '--access-key-file'],
  // Start-up refusals of the library, said as the flags that set them.
  ['options.keyFile', '--key-file'],
  ['options.signingAlgorithm', '--alg'],
  ['options.revocation.clients', '--revocation-client'],
];

function withFlagNames(message: string): string {
  return CLI_DRAFT11_NAMES.reduce((text, [option, flag]) => text.split(option).join(flag), message);
}

/** Run `build`; a TypeError it throws (a refused setting) is said with the command's flag names. */
function flagNamed<T>(build: () => T): T {
  try {
    return build();
  } catch (error) {
    if (error instanceof TypeError) throw new TypeError(withFlagNames(error.message));
    throw error;
  }
}

/**
 * The API's `draft11` options for the -11 flags. `accessKeyFile` belongs to the access server role
 * (issue 16, helper A); typed here so this file builds with or without it.
 */
function draft11Of(options: CliOptions): AuthServerDraft11Options & { accessKeyFile?: string } {
  const draft11: AuthServerDraft11Options & { accessKeyFile?: string } = { allowLoopback: options.allowLoopback === true };
  if (options.personKeyFile !== undefined) draft11.keyFile = options.personKeyFile;
  if (options.accessKeyFile !== undefined) draft11.accessKeyFile = options.accessKeyFile;
  return draft11;
}

/** Why a -11 role asked for on the command line is not served: its realm switch, else its identifier. */
function notServed(role: string, enabled: boolean, attribute: string, baseUrl: string, allowLoopback: boolean): string {
  if (!enabled) return `the realm does not set ${attribute} to true`;
  const origin = new URL(baseUrl).origin;
  return (
    `its identifier, the origin of --base-url (${origin}), ${serverIdentifierProblem(origin, { allowLoopback }) ?? `is not a -11 server identifier for the ${role}`}` +
    (allowLoopback ? '' : ' (--allow-loopback accepts http and a port on a loopback host, for development)')
  );
}

/** The port of a bound URL: a URL leaves out its scheme's default (80 for http), so '' is that port, not 0. */
function boundPort(url: URL): number {
  return url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
}

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
    port = await listenNamed(() => freePort(options.host), 0, options.host);
    baseUrl = `http://localhost:${port}`;
  }
  // Redis first: a command that cannot reach it stops before it opens anything else.
  const redis = options.redisUrl === undefined ? undefined : await connectRedis(options.redisUrl, options.redisCluster === true, err);
  // The audit file is checked now: a path that cannot be written would otherwise lose every event,
  // said only when the first one is dropped.
  if (options.auditFile !== undefined) checkWritable(options.auditFile, '--audit-file');
  const sink =
    options.auditFile === undefined
      ? undefined
      : createFileAuditSink({
          path: options.auditFile,
          ...(options.auditMaxBytes !== undefined ? { maxBytes: options.auditMaxBytes } : {}),
          ...(options.auditKeep !== undefined ? { keep: options.auditKeep } : {}),
          onWarning: (message) => err(`warning: ${message}`),
        });
  const prefix = options.redisPrefix ?? (options.redisCluster ? DEFAULT_CLUSTER_PREFIX : DEFAULT_REDIS_PREFIX);
  const closeRedis = async (): Promise<void> => {
    if (redis !== undefined) await quitRedis(redis);
  };
  try {
    if (options.realms !== undefined || options.realmsDir !== undefined) {
      return await runTenants(options, { baseUrl, port, out, err, sink, redis, prefix, closeRedis });
    }
    return await runOne(options, { baseUrl, port, out, err, sink, redis, prefix, closeRedis });
  } catch (error) {
    await closeRedis();
    await sink?.close();
    throw error;
  }
}

/** The default `--redis-prefix` (the API's default prefix). */
const DEFAULT_REDIS_PREFIX = 'aauth:auth-server:';
/** The default `--redis-prefix` with `--redis-cluster`: the same, as a hash tag. */
const DEFAULT_CLUSTER_PREFIX = '{aauth:auth-server}:';

/** What {@link runCli} hands its two forms: the resolved address, the outputs, the audit file and Redis. */
interface RunContext {
  baseUrl: string;
  port: number;
  out: (line: string) => void;
  err: (line: string) => void;
  sink: ReturnType<typeof createFileAuditSink> | undefined;
  redis: (CliRedis & object) | undefined;
  prefix: string;
  closeRedis: () => Promise<void>;
}

/** The stores of one issuer in Redis (`prefix` its keys), its revocations among them. */
function redisStoresOf(redis: CliRedis & object, prefix: string) {
  const client = redis as unknown as RedisStoreClient & RedisRevocationClient;
  const onFailure = storeFailureLogs.get(redis);
  return {
    stores: createRedisAuthServerStores(client, { prefix, ...(onFailure === undefined ? {} : { onFailure }) }),
    revocationStore: () => createRedisRevocationStore(client, { prefix: `${prefix}revoked:` }),
  };
}

/** Per connected client: the log of its stores' failed operations (see {@link storeFailureLog}). */
const storeFailureLogs = new WeakMap<object, (error: AAuthError) => void>();

/**
 * A failed Redis operation as one warning line with Redis's own words (an OOM or an ACL refusal
 * otherwise showed nowhere: clients get a generic 503), at most one line per reason a minute.
 */
function storeFailureLog(shown: string, err: (line: string) => void): (error: AAuthError) => void {
  const said = new Map<string, number>();
  return (error) => {
    const text = storeFailureText(error);
    const at = Date.now();
    const last = said.get(text);
    if (last !== undefined && at - last < 60_000) return;
    if (said.size > 100) said.clear();
    said.set(text, at);
    err(`warning: Redis at ${shown}: ${text}; requests that need the shared state get 503 until it does`);
  };
}

/** A realm's shared stores as a tenant takes them (no -11 records: tenants serve the Keycloak profile). */
function tenantStores({ draft11Records: _records, ...stores }: ReturnType<typeof createRedisAuthServerStores>) {
  return stores;
}

/** `aauth-auth-server` with one realm. */
async function runOne(options: CliOptions, run: RunContext): Promise<RunningCli> {
  const { baseUrl, port, out, err, sink, redis, prefix } = run;
  const shared = redis === undefined ? undefined : redisStoresOf(redis, prefix);
  const server = flagNamed(() => buildAuthServer(
    {
      realm: options.realm,
      baseUrl,
      ...(options.keyFile !== undefined ? { keyFile: options.keyFile } : {}),
      ...(options.signingAlgorithm !== undefined ? { signingAlgorithm: options.signingAlgorithm } : {}),
      ...(options.personServer || options.accessServer ? { draft11: draft11Of(options) } : {}),
      // Issue 17: without Redis one process, so its revocations live in its memory; with it, in Redis.
      ...(options.revocationClients !== undefined
        ? { revocation: { store: shared === undefined ? createMemoryRevocationStore() : shared.revocationStore(), clients: options.revocationClients } }
        : {}),
      // One process: the memory store, and the warning above says so; with --redis-url every store is shared.
      ...(shared === undefined ? { replay: { store: createMemoryReplayStore() } } : shared.stores),
      onWarning: (message) => err(`warning: ${withFlagNames(message)}`),
      onAudit: (event) => {
        out(auditJson({ audit: event }));
        sink?.write(event);
      },
    },
    CLI_NAMES,
  ));
  // Fail at start (house style): a role asked for is served, or the command stops saying why.
  const allowLoopback = options.allowLoopback === true;
  if (options.personServer && server.personServer === undefined) {
    const why = server.realm.person.enabled ? notServed('person server', true, '', baseUrl, allowLoopback) : 'the realm sets aauth.person.enabled to false';
    throw new TypeError(`--person-server: the -11 person server cannot be served: ${why}`);
  }
  // The access server role (helper A's `server.accessServer`, `realm.access`), read structurally.
  const accessServer = (server as { accessServer?: string | undefined }).accessServer;
  if (options.accessServer && accessServer === undefined) {
    const access = (server.realm as { access?: { enabled?: boolean } }).access;
    const why =
      access === undefined
        ? 'this version of @aauth-kit/auth-server has no access server role'
        : notServed('access server', access.enabled === true, 'aauth.access.enabled', baseUrl, allowLoopback);
    throw new TypeError(`--access-server: the -11 access server cannot be served: ${why}`);
  }
  const running = await listenNamed(() => server.listen(port, options.host), port, options.host);
  const bound = new URL(running.url);
  // What clients configure is the issuer, compared byte for byte (wire profile section 1): print the
  // origin they use, and the bound address only as a detail, so the two cannot be confused.
  out(`aauth-auth-server listening on ${baseUrl} (bound to ${authority(options.host, boundPort(bound))}); issuer ${server.issuer}`);
  const boundIssuer = `${bound.origin}${new URL(server.issuer).pathname}`;
  out(
    `  configure resources and agents with the issuer exactly as printed${
      boundIssuer === server.issuer ? '' : ` (${boundIssuer} would be another issuer and fail discovery; --base-url sets it)`
    }`,
  );
  if (server.personServer !== undefined) {
    out(`  AAuth -11 person server ${server.personServer} (metadata ${server.personServer}/.well-known/aauth-person.json)`);
  }
  if (accessServer !== undefined) out(`  AAuth -11 access server ${accessServer} (metadata ${accessServer}/.well-known/aauth-access.json)`);
  if (redis !== undefined) out(`  state in ${redisWhere(options)} (keys ${prefix}*), shared with every server of this issuer`);
  const close = async (): Promise<void> => {
    await running.close();
    await run.closeRedis();
    // Every event of the requests served is on disk before close resolves.
    await sink?.close();
  };
  return { url: running.url, baseUrl, issuer: server.issuer, personServer: server.personServer, accessServer, close };
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

/** How long a tenant server gathers reload announcements of the others before it reloads, in ms. */
const PEER_RELOAD_DELAY_MS = 100;

/** The tenant servers' reload announcements in Redis: {@link joinReloadChannel}. */
interface ReloadChannel {
  /** Ask the other servers to reload (after a reload here); a failure is reported on `err`, not thrown. */
  announce(): void;
  close(): Promise<void>;
}

/**
 * Tenants with `--redis-url`: every server of the realms subscribes to `channel`; a reload made at
 * one (SIGHUP, the admin call) is announced there, and each other server reloads when it hears it.
 * Announcements are not stored: a server whose subscription was cut reloads once when it is back,
 * so it misses none.
 */
async function joinReloadChannel(redis: CliRedis, channel: string, onPeer: () => void, err: (line: string) => void): Promise<ReloadChannel> {
  const me = randomUUID();
  const sub = redis.duplicate();
  let joined = false;
  sub.on('error', () => {
    // The outage is reported once, by the command's own client.
  });
  sub.on('message', (from, message) => {
    if (from !== channel) return;
    let sender: unknown;
    try {
      sender = (JSON.parse(message) as { from?: unknown }).from;
    } catch {
      return;
    }
    if (sender !== me) onPeer();
  });
  sub.on('ready', () => {
    // Back after a cut (ioredis subscribes again by itself): catch up on what was announced meanwhile.
    if (joined) onPeer();
  });
  await sub.connect();
  await sub.subscribe(channel);
  joined = true;
  // An announcement Redis did not take (its connection was cut, even briefly: the others' own
  // subscriptions may never have noticed) is made again when this server's connection is back.
  let owed = false;
  const publish = (again: boolean): void => {
    redis.publish(channel, JSON.stringify({ from: me })).then(
      () => {
        if (again) err('the other servers were asked to reload (the announcement held back while Redis did not answer)');
      },
      (error: Error) => {
        if (!owed) err(`warning: the other servers were not asked to reload yet (Redis: ${error.message}): they are asked when Redis answers again`);
        owed = true;
      },
    );
  };
  redis.on('ready', () => {
    if (!owed || closing.has(redis)) return;
    owed = false;
    publish(true);
  });
  return {
    announce() {
      publish(false);
    },
    close: () => quitRedis(sub),
  };
}

/** `aauth-auth-server` with several realms (issue 17, tenants): one server, reloaded on SIGHUP and by the admin call. */
async function runTenants(options: CliOptions, run: RunContext): Promise<RunningCli> {
  const { baseUrl, out, err, sink, redis, prefix } = run;
  let adminToken: string | undefined;
  if (options.adminTokenFile !== undefined) {
    try {
      adminToken = (readFileSync(options.adminTokenFile, 'utf8').split(/\r?\n/)[0] ?? '').trim();
    } catch (error) {
      throw new TypeError(`--admin-token-file ${options.adminTokenFile}: ${(error as Error).message}`);
    }
    if (adminToken.length < 32) throw new TypeError(`--admin-token-file ${options.adminTokenFile}: the token (its first line) must have at least 32 characters`);
  }
  const keyDir = options.keyDir;
  let channel: ReloadChannel | undefined;
  const server = createTenantAuthServer(
    {
      baseUrl,
      ...(options.realms !== undefined ? { realms: options.realms } : {}),
      ...(options.realmsDir !== undefined ? { realmsDir: options.realmsDir } : {}),
      ...(options.signingAlgorithm !== undefined ? { signingAlgorithm: options.signingAlgorithm } : {}),
      // An admin reload here is announced to the other servers (with --redis-url).
      ...(adminToken !== undefined ? { admin: { token: adminToken, onReloaded: () => channel?.announce() } } : {}),
      // With --redis-url each realm's state under its own prefix: PREFIX + realm name + ':'.
      realmOptions: (name) => ({
        ...(keyDir === undefined ? {} : { keyFile: join(keyDir, `${name}.key.json`) }),
        ...(redis === undefined ? {} : tenantStores(redisStoresOf(redis, `${prefix}${name}:`).stores)),
      }),
      onWarning: (message) => err(`warning: ${message}`),
      onAudit: (event) => {
        out(auditJson({ audit: event }));
        sink?.write(event);
      },
    },
    CLI_TENANT_NAMES,
  );
  const running = await listenNamed(() => server.listen(run.port, options.host), run.port, options.host);
  const bound = new URL(running.url);
  out(`aauth-auth-server listening on ${baseUrl} (bound to ${authority(options.host, boundPort(bound))}); realms ${server.realms().join(', ')}`);
  for (const name of server.realms()) out(`  issuer ${server.realm(name)!.issuer}`);
  if (adminToken !== undefined) out(`  admin: POST ${baseUrl}/admin/realms/reload (Authorization: Bearer, the token of --admin-token-file)`);
  if (redis !== undefined) out(`  state in ${redisWhere(options)} (keys ${prefix}REALM:*), shared with every server of these realms`);
  /** Read the realm files again; `peer`: asked by another server of the fleet (then not announced again). */
  const reloadHere = async (peer: boolean): Promise<void> => {
    try {
      const result = await server.reload();
      const asked = peer ? ' (another server of these realms reloaded)' : '';
      out(`realms reloaded${asked}: serving ${result.realms.join(', ')} (added: ${result.added.join(', ') || 'none'}; removed: ${result.removed.join(', ') || 'none'}; changed: ${result.changed.join(', ') || 'none'})`);
      if (!peer) channel?.announce();
    } catch (error) {
      err(`realms not reloaded, still serving ${server.realms().join(', ')}: ${error instanceof TenantReloadError ? error.problems.join('; ') : (error as Error).message}`);
    }
  };
  const reload = (): Promise<void> => reloadHere(false);
  // Announcements are gathered for PEER_RELOAD_DELAY_MS, and those that arrive while the reload they
  // asked for runs make one more: a burst of them (or a broken publisher) costs a reload or two,
  // never one each, and never a queue.
  let peerReload: Promise<void> | undefined;
  let peerAgain = false;
  const onPeer = (): void => {
    if (peerReload !== undefined) {
      peerAgain = true;
      return;
    }
    peerReload = (async () => {
      do {
        peerAgain = false;
        await new Promise((resolve) => setTimeout(resolve, PEER_RELOAD_DELAY_MS).unref());
        await reloadHere(true);
      } while (peerAgain);
      peerReload = undefined;
    })();
  };
  try {
    if (redis !== undefined) {
      channel = await joinReloadChannel(redis, `${prefix}realms:reload`, onPeer, err);
      out(`  reloads (SIGHUP, the admin call) are announced to every server of these realms (Redis channel ${prefix}realms:reload)`);
    }
  } catch (error) {
    await running.close();
    throw new Error(`--redis-url: cannot subscribe to ${prefix}realms:reload (${(error as Error).message})`);
  }
  const close = async (): Promise<void> => {
    await running.close();
    await channel?.close();
    await run.closeRedis();
    await sink?.close();
  };
  return { url: running.url, baseUrl, issuer: `${baseUrl}/realms`, personServer: undefined, accessServer: undefined, close, reload };
}

/** How the tenant command's messages name what the user set. */
const CLI_TENANT_NAMES: MessageNames = {
  baseUrl: '--base-url',
  realm: '--realm',
  ephemeralKey: 'no --key-dir given: the realm signing key is ephemeral, and tokens it signed stop verifying after a restart (dev only; --key-dir DIR keeps it)',
  memoryPendingStore: "pending consent requests are kept in this process's memory, one store per realm (--redis-url shares them)",
};
