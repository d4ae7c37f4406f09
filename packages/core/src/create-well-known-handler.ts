import type { IncomingMessage, ServerResponse } from 'node:http';
import { algOf11 } from './jwk-alg.js';
import { computeThumbprint, type EcPublicJwk, type OkpPublicJwk } from './keys.js';
import { serveDocuments } from './serve-documents.js';

/**
 * A key as published at `/jwks.json`: public members and `kid`; no `alg` in the Keycloak profile
 * (wire profile section 2), the fully specified `alg` with `keyAlg: true` (draft-11 profile section 2).
 */
export type PublishedJwk = (OkpPublicJwk | EcPublicJwk) & { kid: string };

/** Options of {@link createWellKnownHandler}. */
export interface WellKnownHandlerOptions {
  /** Path below the mount point -> JSON document, e.g. `'/.well-known/aauth-agent.json'`. */
  documents: Record<string, unknown>;
  /** The keys served as `{"keys":[...]}` at `/jwks.json`; each needs a `kid`, and two different keys need different ones. */
  keys: ReadonlyArray<OkpPublicJwk | EcPublicJwk>;
  /** How start-up errors name this handler, e.g. `'agent.wellKnown()'`; default `'a well-known handler'`. */
  label?: string | undefined;
  /**
   * Publish each key with its fully specified `alg` (`Ed25519` or `ES256`), as every -11 party must
   * (draft-11 profile section 2). Default false: no `alg` (the Keycloak profile, section 2).
   */
  keyAlg?: boolean | undefined;
  /**
   * The path of the party's identity URL, e.g. `'/api'` for `https://host/api`: every document and
   * the JWKS are served under it as well, so that a handler mounted at the root of the origin
   * answers at the identity's own well-known URLs (`{identity}/.well-known/...`, where peers look).
   * Default none (an identity without a path).
   */
  identityPath?: string | undefined;
}

/**
 * A framework-free request handler for the well-known documents and the JWKS. It answers GET and
 * HEAD on its paths and calls `next()` for anything else (a 404 or 405 without `next`), so it works
 * under express's `app.use()` (paths are relative to the mount path) and as a plain `node:http`
 * listener.
 */
export interface WellKnownHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
  /** Every document served, by path (the JWKS at `/jwks.json` among them). */
  readonly documents: Readonly<Record<string, unknown>>;
  /** The keys published at `/jwks.json`, one per distinct key. */
  readonly keys: readonly PublishedJwk[];
  /** How start-up errors name this handler. */
  readonly label: string;
}

/** The path of the JWKS below the mount point (wire profile sections 2 and 9: `{identity}/jwks.json`). */
export const JWKS_PATH = '/jwks.json';

/** Where express mounts are recorded on the parent app, shared by every copy of this module. */
const MOUNTS = Symbol.for('@aauth-kit/well-known.mounts');

interface Mount {
  path: string;
  handler: WellKnownHandler;
}

function mountKey(path: unknown): string {
  return typeof path === 'string' ? path : JSON.stringify(path ?? '/', (_k, v: unknown) => (v instanceof RegExp ? String(v) : v));
}

/**
 * Refuse a second handler on the same app path whose keys the first one's JWKS does not hold: only
 * the first `/jwks.json` is ever served, so signatures made with the missing key would not verify.
 */
function checkMount(parent: object, path: unknown, handler: WellKnownHandler): void {
  const registry = parent as { [MOUNTS]?: Mount[] };
  if (!Object.prototype.hasOwnProperty.call(registry, MOUNTS)) {
    Object.defineProperty(registry, MOUNTS, { value: [], enumerable: false });
  }
  const mounts = registry[MOUNTS]!;
  const key = mountKey(path);
  const first = mounts.find((m) => m.path === key);
  if (first && first.handler !== handler) {
    const served = new Set(first.handler.keys.map((k) => computeThumbprint(k)));
    const missing = handler.keys.filter((k) => !served.has(computeThumbprint(k)));
    if (missing.length > 0) {
      throw new TypeError(
        `${handler.label} and ${first.handler.label} are both mounted at ${JSON.stringify(key)} and publish different keys at ` +
          `${JWKS_PATH}: only the JWKS of the first one (${first.handler.label}) would be served, so a signature made with ` +
          `kid ${missing.map((k) => JSON.stringify(k.kid)).join(', ')} would not verify. Publish one JWKS holding every key the app ` +
          `signs with: use resource.wellKnown({ agent }) instead of mounting agent.wellKnown() beside it ` +
          `(or mount each at its own identity path).`,
      );
    }
  }
  mounts.push({ path: key, handler });
}

/** Keys deduplicated by thumbprint; two different keys under one `kid` are refused. */
function publishedKeys(keys: WellKnownHandlerOptions['keys'], label: string, keyAlg: boolean): PublishedJwk[] {
  const byThumbprint = new Map<string, PublishedJwk>();
  const byKid = new Map<string, string>();
  keys.forEach((key, index) => {
    if (typeof key.kid !== 'string' || key.kid.length === 0) throw new TypeError(`${label}: keys[${index}].kid must be a non-empty string`);
    const thumbprint = computeThumbprint(key);
    const other = byKid.get(key.kid);
    if (other !== undefined && other !== thumbprint) {
      throw new TypeError(`${label}: two different keys share the kid ${JSON.stringify(key.kid)}; give each key its own kid (KeyOptions.kid)`);
    }
    byKid.set(key.kid, thumbprint);
    if (!byThumbprint.has(thumbprint)) {
      // Section 2: no `alg` in published entries (the Keycloak extension mishandles "EdDSA").
      const { alg: _alg, ...published } = key;
      // -11: the alg is derived from the key itself, never taken from what the caller passed.
      byThumbprint.set(thumbprint, (keyAlg ? { ...published, alg: algOf11(key) } : published) as PublishedJwk);
    }
  });
  return [...byThumbprint.values()];
}

/**
 * Serve JSON documents and one JWKS from a handler that needs no framework (wire profile sections
 * 2 and 9). Mounted with express's `app.use()`, it is also checked against the other handlers on
 * the same path: a second one whose keys the first JWKS lacks throws there, at start-up.
 */
export function createWellKnownHandler(options: WellKnownHandlerOptions): WellKnownHandler {
  const label = options.label ?? 'a well-known handler';
  const keys = publishedKeys(options.keys, label, options.keyAlg === true);
  const own: Record<string, unknown> = { ...options.documents, [JWKS_PATH]: { keys } };
  const under = options.identityPath?.replace(/\/+$/, '') ?? '';
  if (under !== '' && !/^\/[^?#]*$/.test(under)) throw new TypeError(`${label}: identityPath must be a path starting with / (got ${JSON.stringify(options.identityPath)})`);
  const documents: Record<string, unknown> = under === '' ? own : { ...own, ...Object.fromEntries(Object.entries(own).map(([path, document]) => [`${under}${path}`, document])) };
  const serve = serveDocuments(documents, label);
  const handler = function wellKnown(req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void {
    serve(req, res, next);
  } as WellKnownHandler & { mountpath?: unknown };

  Object.defineProperties(handler, {
    documents: { value: Object.freeze(documents), enumerable: true },
    keys: { value: Object.freeze(keys), enumerable: true },
    label: { value: label, enumerable: true },
    // Express's app.use() mounts anything with `handle` and `set` like a sub-app: it sets
    // `mountpath` and emits `mount` with the parent app, synchronously, inside app.use(). That is
    // where two JWKS on one path are caught, whichever order they are mounted in.
    handle: { value: (req: IncomingMessage, res: ServerResponse, next: (error?: unknown) => void) => handler(req, res, next) },
    set: { value: () => handler },
    emit: {
      value: (event: string, parent: unknown): boolean => {
        // An express app is a function.
        if (event !== 'mount' || (typeof parent !== 'function' && (typeof parent !== 'object' || parent === null))) return false;
        checkMount(parent, handler.mountpath, handler);
        return true;
      },
    },
  });
  return handler;
}
