import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { assertKnownOptions, catchRejection, optionNames } from '@aauth-kit/core/internal';
import { createMemoryReplayStore } from '@aauth-kit/verifier';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { loadRealm, readRealmFile, type SigningAlgorithm } from './load-realm.js';
import { buildAuthServer, type AuthServer, type AuthServerOptions, type MessageNames } from './create-auth-server.js';
import { createMemoryPendingStore } from './pending-store.js';
import { createMemoryUsedTokenStore } from './used-token-store.js';
import { BRUTE_FORCE_DEFAULTS, createFailureThrottle, createMemoryRateLimitStore } from './lib/brute-force.js';
import { createMemorySessionStore } from './lib/interaction-sessions.js';
import { listenRouter } from './lib/listen-router.js';
import { loadRealmKey, type RealmKey } from './lib/realm-key.js';
import { warningHook } from './lib/warning-hook.js';

/**
 * What one realm of a tenant server has to itself (issue 17): its key file, its policy hook, its
 * state. Stores default to memory, one set per realm; for a fleet give Redis stores with a prefix
 * per realm: `createRedisAuthServerStores(redis, { prefix: `aauth:${name}:` })`.
 */
export type TenantRealmOptions = Pick<
  AuthServerOptions,
  'keyFile' | 'policy' | 'pendingStore' | 'usedTokenStore' | 'rateLimitStore' | 'sessionStore' | 'replay' | 'revocation'
>;

/** The option names of createTenantAuthServer (a misspelt one would be dropped without a word). */
const TENANT_OPTIONS = optionNames<TenantAuthServerOptions>({
  baseUrl: true, signingAlgorithm: true, fetch: true, now: true, pendingLifetime: true, onAudit: true, telemetry: true, onWarning: true,
  discovery: true, maxSkew: true, maxBodyBytes: true, bodyTimeoutMs: true, policyTimeoutMs: true, draft11: true, draft11Records: true,
  realms: true, realmsDir: true, realmOptions: true, draft11Realm: true, admin: true,
});
/** A realm's own settings given to createTenantAuthServer: where they go instead. */
const TENANT_HINTS: Readonly<Record<string, string>> = Object.fromEntries(
  ['keyFile', 'policy', 'pendingStore', 'usedTokenStore', 'rateLimitStore', 'sessionStore', 'replay', 'revocation'].map((name) => [
    name,
    `a realm's ${name} is returned by options.realmOptions(name), one per realm`,
  ]),
);

/** Options of {@link createTenantAuthServer}; validated when it is called. */
export interface TenantAuthServerOptions
  extends Omit<AuthServerOptions, 'realm' | 'keyFile' | 'policy' | 'pendingStore' | 'usedTokenStore' | 'rateLimitStore' | 'sessionStore' | 'replay' | 'revocation'> {
  /** Realm exports: file paths (read again on every reload) or parsed objects. */
  realms?: Array<string | object> | undefined;
  /** A folder whose `*.json` files are realm exports, listed again on every reload (add a file, reload: the realm is served). */
  realmsDir?: string | undefined;
  /** Each realm's own settings, asked when the realm is first built (and again when its file changes). */
  realmOptions?: ((name: string) => TenantRealmOptions) | undefined;
  /**
   * The realm that serves the -11 person and access servers, which live at the origin of `baseUrl`
   * (one per origin); default none: no realm serves -11. The other realms serve the Keycloak profile only.
   */
  draft11Realm?: string | undefined;
  /**
   * The admin endpoints `GET /admin/realms` and `POST /admin/realms/reload`, authenticated with
   * `Authorization: Bearer {token}` (at least 32 characters); default not served.
   */
  admin?:
    | {
        token: string;
        /**
         * Called after each reload the admin endpoint made and answered 200 (not after `reload()`
         * called by the application, nor after a refused one): e.g. to ask the other servers of a
         * fleet to reload too (the command does, with `--redis-url`). Not awaited; what it throws,
         * or the rejection of the promise it returns, is a warning.
         */
        onReloaded?: ((result: TenantReloadResult) => void) | undefined;
      }
    | undefined;
}

/** What a reload changed. */
export interface TenantReloadResult {
  /** Realm names served after the reload, sorted. */
  realms: string[];
  added: string[];
  removed: string[];
  /** Realms whose export changed: rebuilt with the same key and state stores. */
  changed: string[];
}

/** A reload refused: nothing changed, the realms served before are served still. */
export class TenantReloadError extends Error {
  readonly code = 'realm_reload_failed';
  /** One line per problem: the source (file or list index) and what is wrong with it. */
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`realms not reloaded, the realms served before are served still: ${problems.join('; ')}`);
    this.name = 'TenantReloadError';
    this.problems = problems;
  }
}

/** One auth server process serving several realms at `/realms/{name}` (issue 17: tenants). */
export interface TenantAuthServer {
  readonly baseUrl: string;
  /** The names of the realms served now, sorted. */
  realms(): string[];
  /** The auth server of one realm (issuer, jwks, realm config), or undefined when it is not served. */
  realm(name: string): AuthServer | undefined;
  /** Read every source again (files, the folder) and swap the realm set at once; on any problem throws {@link TenantReloadError} and changes nothing. */
  reload(): Promise<TenantReloadResult>;
  /** Serve one more realm export (a file path or the parsed object); kept on later reloads. Throws {@link TenantReloadError} when it cannot be served (e.g. its name is taken). */
  addRealm(source: string | object): Promise<TenantReloadResult>;
  /** Stop serving a realm given to {@link createTenantAuthServer}'s `realms` or {@link addRealm}; its tokens and pending requests are refused from then on (404 `realm_not_found`). A realm of `realmsDir` is removed by deleting its file and reloading. */
  removeRealm(name: string): Promise<TenantReloadResult>;
  /** Express router serving every realm (and the admin endpoints); mount it at `/` of an app whose origin is `baseUrl`. */
  router(): Router;
  /** Listen on `host` (default 127.0.0.1) and `port` (default: the port of `baseUrl`). */
  listen(port?: number, host?: string): Promise<{ url: string; close(): Promise<void> }>;
}

interface Built {
  name: string;
  /** The export's canonical text: a reload rebuilds the realm only when it changed. */
  fingerprint: string;
  server: AuthServer;
}

interface RealmState {
  key: RealmKey;
  options: TenantRealmOptions;
  /** The key file this state wrote (it did not exist): removed again if the load that made it fails. */
  wroteKeyFile?: string | undefined;
}

const API_NAMES: MessageNames = {
  baseUrl: 'options.baseUrl',
  realm: 'options.realms[]',
  ephemeralKey: 'no keyFile given for a realm: its signing key is ephemeral (kept across reloads, not across restarts; dev only)',
  memoryPendingStore: 'pending consent requests are kept in memory: a fleet of auth servers needs a shared pendingStore per realm',
};

/** A problem's message, whatever was thrown. */
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * Create one auth server for several realms (tenants): each realm at `{baseUrl}/realms/{name}` with
 * its own key, users, clients, policy, consent pages and state; tokens carry the realm's issuer and
 * each realm trusts only its own (and its file's `aauth.trusted.issuers`), so nothing issued in one
 * realm is accepted in another. Realms are added, changed and removed without a restart:
 * {@link TenantAuthServer.reload}, the admin call, or SIGHUP to `aauth-auth-server`.
 */
export function createTenantAuthServer(options: TenantAuthServerOptions, names: MessageNames = API_NAMES): TenantAuthServer {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  assertKnownOptions(options, TENANT_OPTIONS, 'options', 'createTenantAuthServer', TENANT_HINTS);
  const { realms: listed, realmsDir, realmOptions, draft11Realm, admin, ...shared } = options;
  if (listed !== undefined && !Array.isArray(listed)) throw new TypeError('options.realms must be an array of realm files or objects');
  if (realmsDir !== undefined && (typeof realmsDir !== 'string' || realmsDir.length === 0)) throw new TypeError('options.realmsDir must be a folder path');
  if ((listed ?? []).length === 0 && realmsDir === undefined) throw new TypeError('options.realms or options.realmsDir must name at least one realm');
  if (realmOptions !== undefined && typeof realmOptions !== 'function') throw new TypeError('options.realmOptions must be a function');
  if (draft11Realm !== undefined && typeof draft11Realm !== 'string') throw new TypeError('options.draft11Realm must be a realm name');
  if (admin !== undefined && (typeof admin !== 'object' || admin === null || typeof admin.token !== 'string' || admin.token.length < 32)) {
    throw new TypeError('options.admin.token must be a string of at least 32 characters');
  }
  if (admin?.onReloaded !== undefined && typeof admin.onReloaded !== 'function') throw new TypeError('options.admin.onReloaded must be a function');
  const warn = warningHook(shared.onWarning, '[aauth-auth-server]');
  const now = shared.now ?? (() => Date.now() / 1000);
  const sources: Array<string | object> = [...(listed ?? [])];

  /** Per realm name: its key and its stores, kept while the realm is served (a changed file keeps both). */
  const state = new Map<string, RealmState>();
  let current = new Map<string, Built>();
  /** The realm name each explicit source held at the last successful load (for removeRealm). */
  let sourceNames = new Map<string | object, string>();

  /** `alg`: the realm's signing algorithm when its key is first made (shared.signingAlgorithm, else its aauth.token.signing.alg, else RS256). */
  function stateOf(name: string, alg: SigningAlgorithm): RealmState {
    const known = state.get(name);
    if (known) return known;
    const own = realmOptions?.(name) ?? {};
    if (typeof own !== 'object' || own === null) throw new TypeError(`options.realmOptions(${JSON.stringify(name)}) must return an object`);
    if (own.keyFile === undefined) warn(`realm ${name}: ${names.ephemeralKey}`);
    const options: TenantRealmOptions = {
      ...own,
      pendingStore: own.pendingStore ?? createMemoryPendingStore({ now }),
      usedTokenStore: own.usedTokenStore ?? createMemoryUsedTokenStore({ now }),
      rateLimitStore: own.rateLimitStore ?? createMemoryRateLimitStore(now),
      sessionStore: own.sessionStore ?? createMemorySessionStore(now),
      replay: own.replay ?? { store: createMemoryReplayStore({ now }) },
    };
    const wroteKeyFile = own.keyFile !== undefined && !existsSync(own.keyFile) ? own.keyFile : undefined;
    const created: RealmState = { key: loadRealmKey(alg, own.keyFile), options, wroteKeyFile };
    state.set(name, created);
    return created;
  }

  /**
   * Forget the state made for `names` by a load that failed (unless served already): its key file
   * too, when this state wrote it, so that a later attempt (another signing algorithm) starts clean.
   */
  function forget(names: readonly string[]): void {
    for (const name of names) {
      if (current.has(name)) continue;
      const made = state.get(name);
      state.delete(name);
      if (made?.wroteKeyFile !== undefined) rmSync(made.wroteKeyFile, { force: true });
    }
  }

  /**
   * Read every source, build what is new or changed; throws TenantReloadError and changes nothing on
   * any problem (`mustAdd`: also when no realm would be added, decided before anything changes).
   */
  function load(mustAdd = false): TenantReloadResult {
    const problems: string[] = [];
    const entries: Array<{ source: string | object; label: string; realm: Record<string, unknown> }> = [];
    const read = (source: string | object, label: string): void => {
      try {
        const realm = typeof source === 'string' ? (JSON.parse(readRealmFile(source)) as unknown) : source;
        if (typeof realm !== 'object' || realm === null || Array.isArray(realm)) throw new TypeError('must be a JSON object (a Keycloak realm export)');
        entries.push({ source, label, realm: realm as Record<string, unknown> });
      } catch (error) {
        problems.push(`${label}: ${messageOf(error)}`);
      }
    };
    sources.forEach((source, i) => read(source, typeof source === 'string' ? source : `options.realms[${i}]`));
    if (realmsDir !== undefined) {
      try {
        // Not dotfiles: an editor's lock or backup (.#a.json) is no realm.
        const files = readdirSync(realmsDir).filter((f) => f.endsWith('.json') && !f.startsWith('.')).sort();
        if (files.length === 0 && sources.length === 0) problems.push(`${realmsDir}: holds no *.json realm export (a reload never leaves the server without realms)`);
        for (const file of files) read(join(realmsDir, file), join(realmsDir, file));
      } catch (error) {
        problems.push(`${realmsDir}: ${messageOf(error)}`);
      }
    }
    const next = new Map<string, Built>();
    const nextNames = new Map<string | object, string>();
    const fresh: string[] = [];
    for (const { source, label, realm } of entries) {
      try {
        // Validate first: a bad field is named with its file (warnings come when the realm is built).
        const loaded = loadRealm(realm, { path: label, onWarning: () => undefined });
        const name = loaded.name;
        if (next.has(name)) throw new TypeError(`realm ${name} is given twice`);
        let fingerprint: string;
        try {
          fingerprint = JSON.stringify(realm);
        } catch {
          throw new TypeError('is nested too deeply to be a realm export');
        }
        const before = current.get(name);
        let built: Built;
        if (before !== undefined && before.fingerprint === fingerprint) {
          built = before;
        } else {
          // Built with the realm's kept key and stores: a changed file keeps its tokens and pending requests.
          if (!state.has(name)) fresh.push(name);
          const own = stateOf(name, shared.signingAlgorithm ?? loaded.signingAlgorithm ?? 'RS256');
          const server = buildAuthServer({ ...shared, realm, ...own.options, onWarning: warn }, { ...names, realm: label }, { key: own.key, serveDraft11: name === draft11Realm });
          built = { name: server.realm.name, fingerprint, server };
        }
        next.set(built.name, built);
        if (sources.includes(source)) nextNames.set(source, built.name);
      } catch (error) {
        // The realm's own messages name the field under the source already (`{label}.attributes[...]`).
        const message = messageOf(error);
        problems.push(message.startsWith(label) ? message : `${label}: ${message}`);
      }
    }
    if (problems.length > 0) {
      // Nothing changes: forget the state made for realms that are not served.
      forget(fresh);
      throw new TenantReloadError(problems);
    }
    const result: TenantReloadResult = {
      realms: [...next.keys()].sort(),
      added: [...next.keys()].filter((n) => !current.has(n)).sort(),
      removed: [...current.keys()].filter((n) => !next.has(n)).sort(),
      changed: [...next.values()].filter((b) => current.has(b.name) && current.get(b.name) !== b).map((b) => b.name).sort(),
    };
    if (mustAdd && result.added.length === 0) {
      forget(fresh);
      throw new TenantReloadError(['the realm is served already']);
    }
    // A removed realm's key and state go with it: the same name added later is a new tenant.
    for (const name of result.removed) state.delete(name);
    current = next;
    sourceNames = nextNames;
    return result;
  }

  // Start-up: a bad realm stops it, naming the file and field (house style: fail at start).
  try {
    load();
  } catch (error) {
    if (error instanceof TenantReloadError) throw new TypeError(error.problems.join('; '));
    throw error;
  }

  // Reloads run one at a time.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(work: () => T): Promise<T> => {
    const run = queue.then(work);
    queue = run.catch(() => undefined);
    return run;
  };

  const reload = (): Promise<TenantReloadResult> => serial(() => load());

  const adminDigest = admin === undefined ? undefined : createHash('sha256').update(admin.token).digest();
  function adminAllowed(req: Request): boolean {
    const header = req.headers.authorization;
    if (adminDigest === undefined || typeof header !== 'string' || !header.startsWith('Bearer ')) return false;
    return timingSafeEqual(createHash('sha256').update(header.slice(7)).digest(), adminDigest);
  }

  let built: Router | undefined;
  function router(): Router {
    if (built) return built;
    const r = express.Router();
    if (admin !== undefined) {
      // Failed admin authentications per source address, with the client authentication's lockout
      // arithmetic: after 10 failures from one address each further 10 wait 60 s more, at most 15
      // min, forgotten after an hour without one; an address that must wait is refused before its
      // token is looked at. In this process's memory, bounded (brute-force.ts).
      const failures = createFailureThrottle({
        settings: { ...BRUTE_FORCE_DEFAULTS, enabled: true, failureFactor: 10, waitIncrementSeconds: 60, maxFailureWaitSeconds: 900, maxDeltaTimeSeconds: 3600 },
        now,
        quickCheck: false,
      });
      const guard = (req: Request, res: Response, next: NextFunction): void => {
        const source = req.socket.remoteAddress ?? 'unknown';
        const wait = failures.wait(source);
        if (wait > 0) {
          res
            .set('Retry-After', String(wait))
            .set('Cache-Control', 'no-store')
            .status(429)
            .json({ error: 'admin_throttled', error_description: `too many failed admin authentications from this address: try again in ${wait} s` });
          return;
        }
        if (adminAllowed(req)) {
          failures.succeed(source);
          return next();
        }
        failures.fail(source);
        res.set('WWW-Authenticate', 'Bearer realm="aauth-admin"').status(401).json({ error: 'admin_unauthorized', error_description: 'the admin endpoints need Authorization: Bearer with the admin token' });
      };
      r.get('/admin/realms', guard, (_req, res) => {
        res.set('Cache-Control', 'no-store').json({ realms: [...current.keys()].sort() });
      });
      r.post('/admin/realms/reload', guard, (_req, res) => {
        reload().then(
          (result) => {
            res.set('Cache-Control', 'no-store').json(result);
            // The reload is done and answered: a failing hook changes neither. An `async` hook's
            // rejection is handled too: unhandled, it would end the process.
            try {
              catchRejection(admin.onReloaded?.(result), (error) => warn(`options.admin.onReloaded rejected: ${messageOf(error)}`));
            } catch (error) {
              warn(`options.admin.onReloaded threw: ${messageOf(error)}`);
            }
          },
          (error: unknown) => {
            const problems = error instanceof TenantReloadError ? error.problems : [messageOf(error)];
            res
              .status(422)
              .set('Cache-Control', 'no-store')
              .json({ error: 'realm_reload_failed', error_description: `realms not reloaded, the realms served before are served still: ${problems.join('; ')}`, problems, realms: [...current.keys()].sort() });
          },
        );
      });
    }
    r.use((req, res, next) => {
      const match = /^\/realms\/([^/]+)(?:\/|$)/.exec(req.path);
      if (match) {
        const tenant = current.get(match[1]!);
        if (tenant === undefined) {
          res.status(404).set('Cache-Control', 'no-store').json({ error: 'realm_not_found', error_description: `no realm ${JSON.stringify(match[1])} is served here` });
          return;
        }
        tenant.server.router()(req, res, next);
        return;
      }
      // The origin's -11 documents and endpoints belong to the one realm that serves them.
      const draft11 = draft11Realm === undefined ? undefined : current.get(draft11Realm);
      if (draft11 !== undefined) draft11.server.router()(req, res, next);
      else next();
    });
    built = r;
    return r;
  }

  const base = new URL(shared.baseUrl);
  return {
    baseUrl: shared.baseUrl,
    realms: () => [...current.keys()].sort(),
    realm: (name) => current.get(name)?.server,
    reload,
    addRealm: (source) =>
      serial(() => {
        if (typeof source !== 'string' && (typeof source !== 'object' || source === null)) throw new TypeError('source must be a realm file path or object');
        sources.push(source);
        try {
          return load(true);
        } catch (error) {
          sources.splice(sources.lastIndexOf(source), 1);
          throw error;
        }
      }),
    removeRealm: (name) =>
      serial(() => {
        const mine = [...sourceNames].filter(([, n]) => n === name).map(([s]) => s);
        if (mine.length === 0) {
          throw new TenantReloadError([current.has(name) ? `realm ${name} comes from ${realmsDir}: delete its file and reload` : `realm ${name} is not served`]);
        }
        const kept = [...sources];
        for (const s of mine) {
          const at = sources.indexOf(s);
          if (at !== -1) sources.splice(at, 1);
        }
        try {
          return load();
        } catch (error) {
          sources.splice(0, sources.length, ...kept);
          throw error;
        }
      }),
    router,
    listen: (port, host) => listenRouter(router, base, port, host),
  };
}
