import { closeSync, constants, existsSync, fstatSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { identityUrlProblem, jsonSyntaxText } from '@aauth-kit/core/internal';
import { parseBruteForce, type BruteForceSettings } from './lib/brute-force.js';
import { warningHook } from './lib/warning-hook.js';

/** The AAuth policy read from realm attributes (wire profile section 10). */
export interface RealmPolicy {
  /** `aauth.enabled`; default true. */
  enabled: boolean;
  /** `aauth.allowed.agents`; empty: every agent that is not blocked. */
  allowedAgents: string[];
  /** `aauth.blocked.agents`. */
  blockedAgents: string[];
  /** `aauth.allowed.scopes`; empty: all scopes. */
  allowedScopes: string[];
  /** `aauth.trusted.issuers`: other auth servers whose tokens may be exchanged here. */
  trustedIssuers: string[];
  /** `aauth.exchange.enabled`; default true. */
  exchangeEnabled: boolean;
  /** `aauth.exchange.max.depth`: most `act` entries an exchanged token may carry; default 10. */
  maxDepth: number;
  /** `aauth.consent.required.scopes`. */
  consentScopes: string[];
  /** `aauth.consent.required.scope.prefixes`. */
  consentScopePrefixes: string[];
}

/**
 * The -11 person server's settings (draft-11 profile sections 2, 6 and 8), read from the realm
 * attributes `aauth.person.*`; everything else (users, consent rules, allowed scopes and agents)
 * is the realm's one policy, shared with the Keycloak profile.
 */
export interface PersonServerSettings {
  /** `aauth.person.enabled`: serve the -11 person server at the base URL's origin; default true. */
  enabled: boolean;
  /** `aauth.person.token.lifespan`: seconds a person or auth token lives, at most 3600 (the -11 ceiling); default 3600. */
  tokenLifespan: number;
  /** `aauth.person.max.wait`: longest a `Prefer: wait=N` poll is held, seconds (at most 60); default 30. */
  maxWait: number;
}

/**
 * The -11 access server's settings (draft-11 profile sections 2, 6 and 8), read from the realm
 * attributes `aauth.access.*`; the policy it applies (allowed agents and scopes) is the realm's one policy.
 */
export interface AccessServerSettings {
  /** `aauth.access.enabled`: serve the -11 access server at the base URL's origin; default false. */
  enabled: boolean;
  /** `aauth.access.trusted.person.servers`: JSON list of the person servers whose token requests it serves; default [] (none). */
  trustedPersonServers: string[];
  /** `aauth.access.token.lifespan`: seconds an auth token it issues lives, at most 3600; default 3600. */
  tokenLifespan: number;
  /** `aauth.person.trusted.access.servers`: JSON list of the access servers the person server federates to (four-party); default [] (none). */
  personTrustedAccessServers: string[];
}

/** A password check prepared from a realm user's credential. */
export type PasswordCredential =
  | { kind: 'plain'; value: string }
  | { kind: 'pbkdf2'; digest: 'sha1' | 'sha256' | 'sha512'; iterations: number; salt: Buffer; hash: Buffer };

/** A realm user who may log in on the interaction page. */
export interface RealmUser {
  /** The `sub` of tokens this user consents to: the user's `id`, else the user name (as Keycloak's `sub` is the user id). */
  id: string;
  /** Lower-cased, as Keycloak stores user names. */
  username: string;
  enabled: boolean;
  displayName: string;
  passwords: PasswordCredential[];
  /**
   * OpenID Connect claims of the user's Keycloak fields (`email`, `email_verified`, `given_name`,
   * `family_name`, `name`, `preferred_username`): what a four-party person server answers an access
   * server's `requirement=claims` with (never `sub`, AAuth -11 "Claims Required").
   */
  claims?: Record<string, string | boolean> | undefined;
}

/**
 * A realm client scope (Keycloak's `clientScopes[]`), as far as the consent page uses it: the text
 * shown for a requested scope of the same name.
 */
export interface RealmClientScope {
  name: string;
  /** `description`. */
  description: string | undefined;
  /** `attributes["consent.screen.text"]`, unless it is a theme message key such as `${profileScopeConsentText}`. */
  consentScreenText: string | undefined;
  /**
   * `attributes["include.in.token.scope"]`; default true. As in Keycloak, a scope set to `"false"`
   * (its built-in `basic`, `service_account`) is granted but not listed in an issued token's `scope`.
   */
  includeInTokenScope: boolean;
}

/** The parts of a Keycloak realm export the embedded server uses. */
export interface RealmConfig {
  /** The realm name (`realm`), the last segment of the issuer. */
  name: string;
  displayName: string;
  /** `accessTokenLifespan` in seconds; default 300. */
  accessTokenLifespan: number;
  /** How long after `exp` an auth token may still be refreshed: `aauth.refresh.lifespan`, default 1800 s. */
  refreshLifespan: number;
  /**
   * `ssoSessionMaxLifespan` in seconds, default 36000 (Keycloak's): the absolute life of a grant,
   * from the consent or first issuance (`auth_time`), that refreshes and exchanges never extend.
   */
  ssoSessionMaxLifespan: number;
  policy: RealmPolicy;
  users: RealmUser[];
  /** The realm's `enabled`; default true. A disabled realm issues no tokens. */
  enabled: boolean;
  /** `clients[]`: the OAuth clients of the token endpoint (RFC 8693 exchange, client credentials). */
  clients: RealmClient[];
  /** `clientScopes[]`: their descriptions are what the consent page shows for scopes of the same name. */
  clientScopes: RealmClientScope[];
  /** Keycloak's brute-force detection (`bruteForceProtected`, `failureFactor`, ...): the sign-in lockout (issue 13, finding 2). */
  bruteForce: BruteForceSettings;
  /** The -11 person server's settings (`aauth.person.*`). */
  person: PersonServerSettings;
  /** The -11 access server's settings (`aauth.access.*`, and the person server's `aauth.person.trusted.access.servers`). */
  access: AccessServerSettings;
  /**
   * `aauth.token.signing.alg`: the JWS algorithm of the realm's auth tokens (`RS256`, `EdDSA` or
   * `ES256`); undefined when the realm does not say (the server's `signingAlgorithm`, else RS256 as Keycloak).
   */
  signingAlgorithm: SigningAlgorithm | undefined;
}

/** A realm client as the OpenID Connect token endpoint uses it (Keycloak's `ClientRepresentation` fields). */
export interface RealmClient {
  clientId: string;
  /** `enabled`; default true. */
  enabled: boolean;
  /** `publicClient`; default false. Public clients cannot use the exchange or client-credentials grants. */
  publicClient: boolean;
  /** `bearerOnly`; default false. Bearer-only clients obtain no tokens. */
  bearerOnly: boolean;
  /** `secret` for `client_secret_basic` / `client_secret_post`. */
  secret: string | undefined;
  /** `clientAuthenticatorType`; default `client-secret` (the only one this server checks). */
  clientAuthenticatorType: string;
  /** `serviceAccountsEnabled`: may use `client_credentials`; default false. */
  serviceAccountsEnabled: boolean;
  /** `rootUrl`: a `resource` (RFC 8707) equal to it names this client. */
  rootUrl: string | undefined;
  /** `defaultClientScopes`: scopes of every client-credentials token. */
  defaultClientScopes: string[];
  /** `optionalClientScopes`: scopes a client-credentials request may add. */
  optionalClientScopes: string[];
  /** `attributes["standard.token.exchange.enabled"]` (Keycloak 26.2): may use the token-exchange grant; default false. */
  tokenExchange: boolean;
  /** `attributes["aauth.exchange.audiences"]`: client ids this client may name as `audience` (besides itself). */
  exchangeAudiences: string[];
  /** `attributes["aauth.exchange.subject.audiences"]`: other `aud` values (e.g. its AAuth identity URL) that make a subject token this client's. */
  subjectAudiences: string[];
}

export interface LoadRealmOptions {
  /** Receives non-fatal problems (unknown `aauth.*` attributes, unusable credentials). */
  onWarning?: ((message: string) => void) | undefined;
  /** Name of the input in messages; default `'options.realm'`. */
  path?: string | undefined;
}

const LIST_ATTRIBUTES = {
  'aauth.allowed.agents': 'allowedAgents',
  'aauth.blocked.agents': 'blockedAgents',
  'aauth.allowed.scopes': 'allowedScopes',
  'aauth.trusted.issuers': 'trustedIssuers',
  'aauth.consent.required.scopes': 'consentScopes',
  'aauth.consent.required.scope.prefixes': 'consentScopePrefixes',
} as const;
const BOOLEAN_ATTRIBUTES = { 'aauth.enabled': 'enabled', 'aauth.exchange.enabled': 'exchangeEnabled' } as const;
/** The JWS algorithms the embedded server can sign auth tokens with (section 7). */
export const SIGNING_ALGORITHMS = ['RS256', 'EdDSA', 'ES256'] as const;
export type SigningAlgorithm = (typeof SIGNING_ALGORITHMS)[number];
const INTEGER_ATTRIBUTES = ['aauth.exchange.max.depth', 'aauth.refresh.lifespan', 'aauth.token.lifespan'] as const;

// The extension's defaults when neither consent attribute is set (its README, "AAuth Scopes That Trigger User Consent").
const DEFAULT_CONSENT_SCOPES = ['openid', 'profile', 'email'];
const DEFAULT_CONSENT_PREFIXES = ['user.', 'profile.', 'email.'];

function fail(path: string, message: string): never {
  throw new TypeError(`${path} ${message}`);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/**
 * A missing realm file, where the package is installed: name the sample realm it ships
 * (`keycloak-realm/aauth-test-realm.json` of the READMEs exists only in the kit's repository).
 */
function sampleRealmHint(error: unknown): string {
  if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return '';
  try {
    const sample = createRequire(join(process.cwd(), 'noop.js')).resolve('@aauth-kit/auth-server/aauth-test-realm.json');
    return existsSync(sample) ? ` (the sample realm of @aauth-kit/auth-server is ${relative(process.cwd(), sample) || sample})` : '';
  } catch {
    return '';
  }
}

function readInput(input: unknown, path: string): { realm: Record<string, unknown>; path: string } {
  if (typeof input === 'string') {
    const where = `${path} (file ${input})`;
    let text: string;
    try {
      text = readRealmFile(input);
    } catch (error) {
      throw new TypeError(`${path}: cannot read realm file ${input}: ${(error as Error).message}${sampleRealmHint(error)}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      // Never an excerpt of the file: a realm export holds client secrets and user credentials.
      throw new TypeError(`${where} is not valid JSON: ${jsonSyntaxText(error)}`);
    }
    if (!isObject(parsed)) throw new TypeError(`${where} must hold a JSON object (a Keycloak realm export)`);
    return { realm: parsed, path: where };
  }
  if (!isObject(input)) throw new TypeError(`${path} must be a path to a realm export or the parsed realm object`);
  return { realm: input, path };
}

function parseList(value: unknown, field: string): string[] {
  // Keycloak realm attributes are strings; the extension stores lists as JSON arrays inside them.
  if (typeof value !== 'string') fail(field, `must be a string holding a JSON array of strings (got ${show(value)})`);
  if (value.trim() === '') return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail(field, `must hold a JSON array of strings, e.g. "[\\"a\\",\\"b\\"]" (got ${show(value)})`);
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string' && v.length > 0)) {
    fail(field, `must hold a JSON array of non-empty strings (got ${show(value)})`);
  }
  return parsed as string[];
}

function parseBoolean(value: unknown, field: string): boolean {
  if (value === 'true' || value === true) return true;
  if (value === 'false' || value === false) return false;
  fail(field, `must be "true" or "false" (got ${show(value)})`);
}

function parseInteger(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = typeof value === 'number' ? value : typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) fail(field, `must be an integer of at least ${min} (got ${show(value)})`);
  if (n > max) fail(field, `must be at most ${max} (got ${show(value)})`);
  return n;
}

/**
 * Most PBKDF2 iterations a credential may ask for: Keycloak uses 27,500 to 210,000; far more would let
 * one realm file hold every sign-in (and node's thread pool, for every realm) for minutes.
 */
const MAX_HASH_ITERATIONS = 10_000_000;

/** The largest realm export read, bytes (the shipped one is a few KiB; Keycloak's with many users a few MiB). */
export const MAX_REALM_FILE_BYTES = 32 * 1024 * 1024;

/**
 * The text of realm file `path`: opened without blocking, refused unless it is a regular file of at
 * most MAX_REALM_FILE_BYTES (a FIFO would hang the server at start and on every reload, /dev/zero
 * would grow memory without bound).
 */
export function readRealmFile(path: string): string {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new Error('it is not a regular file (a realm export is a JSON file)');
    if (stat.size > MAX_REALM_FILE_BYTES) throw new Error(`it is ${stat.size} bytes, more than ${MAX_REALM_FILE_BYTES} a realm export may be`);
    const buffer = Buffer.alloc(stat.size);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

function parseJsonObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'string') fail(field, `must be a string holding a JSON object (got ${show(value)})`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    fail(field, 'must hold a JSON object');
  }
  if (!isObject(parsed)) fail(field, 'must hold a JSON object');
  return parsed;
}

const PBKDF2 = { pbkdf2: 'sha1', 'pbkdf2-sha256': 'sha256', 'pbkdf2-sha512': 'sha512' } as const;

function parseCredential(
  credential: unknown,
  field: string,
  warn: (message: string) => void,
): PasswordCredential | undefined {
  if (!isObject(credential)) fail(field, `must be an object (got ${show(credential)})`);
  if (credential.type !== undefined && typeof credential.type !== 'string') fail(`${field}.type`, 'must be a string');
  if (credential.type !== 'password') return undefined;
  if (credential.value !== undefined) {
    if (typeof credential.value !== 'string' || credential.value.length === 0) {
      fail(`${field}.value`, 'must be a non-empty string');
    }
    return { kind: 'plain', value: credential.value };
  }
  if (credential.secretData === undefined && credential.credentialData === undefined) {
    fail(field, 'is a password credential with neither "value" nor "secretData"/"credentialData"');
  }
  // Keycloak's hashed export form: secretData {"value","salt"}, credentialData {"hashIterations","algorithm"}.
  const secret = parseJsonObject(credential.secretData, `${field}.secretData`);
  const data = parseJsonObject(credential.credentialData, `${field}.credentialData`);
  const algorithm = data.algorithm;
  if (typeof algorithm !== 'string' || !(algorithm in PBKDF2)) {
    warn(
      `${field}.credentialData.algorithm ${show(algorithm)} is not supported by the embedded server ` +
        '(pbkdf2, pbkdf2-sha256, pbkdf2-sha512, or a plain "value"); this credential cannot log in',
    );
    return undefined;
  }
  const iterations = parseInteger(data.hashIterations, `${field}.credentialData.hashIterations`, 1, MAX_HASH_ITERATIONS);
  if (typeof secret.value !== 'string' || typeof secret.salt !== 'string') {
    fail(`${field}.secretData`, 'must hold "value" and "salt" as base64 strings');
  }
  const hash = Buffer.from(secret.value, 'base64');
  const salt = Buffer.from(secret.salt, 'base64');
  if (hash.length < 16) fail(`${field}.secretData.value`, 'must be a base64 hash of at least 16 bytes');
  if (hash.length > 1024) fail(`${field}.secretData.value`, `must be a base64 hash of at most 1024 bytes (got ${hash.length})`);
  return { kind: 'pbkdf2', digest: PBKDF2[algorithm as keyof typeof PBKDF2], iterations, salt, hash };
}

/** Each entry of the realm's array `name` (absent: none), which must be an object, parsed by `parse` with its path. */
function objectList<T>(value: unknown, path: string, name: string, parse: (entry: Record<string, unknown>, field: string) => T): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(`${path}.${name}`, `must be an array (got ${show(value)})`);
  return value.map((entry, i) => {
    const field = `${path}.${name}[${i}]`;
    if (!isObject(entry)) fail(field, `must be an object (got ${show(entry)})`);
    return parse(entry, field);
  });
}

function parseUsers(value: unknown, path: string, warn: (message: string) => void): RealmUser[] {
  const seen = new Set<string>();
  return objectList(value, path, 'users', (user, field): RealmUser => {
    if (typeof user.username !== 'string' || user.username.trim().length === 0) {
      fail(`${field}.username`, `must be a non-empty string (got ${show(user.username)})`);
    }
    const username = user.username.toLowerCase();
    if (seen.has(username)) fail(`${field}.username`, `duplicates the user name ${show(username)}`);
    seen.add(username);
    if (user.id !== undefined && (typeof user.id !== 'string' || user.id.length === 0)) {
      fail(`${field}.id`, `must be a non-empty string (got ${show(user.id)})`);
    }
    if (user.enabled !== undefined && typeof user.enabled !== 'boolean') {
      fail(`${field}.enabled`, `must be a boolean (got ${show(user.enabled)})`);
    }
    if (user.credentials !== undefined && !Array.isArray(user.credentials)) {
      fail(`${field}.credentials`, `must be an array (got ${show(user.credentials)})`);
    }
    const passwords = ((user.credentials as unknown[] | undefined) ?? [])
      .map((c, j) => parseCredential(c, `${field}.credentials[${j}]`, warn))
      .filter((c): c is PasswordCredential => c !== undefined);
    const names = [user.firstName, user.lastName].filter((n): n is string => typeof n === 'string' && n.length > 0);
    const claims: Record<string, string | boolean> = { preferred_username: username };
    for (const [claim, value] of [['email', user.email], ['given_name', user.firstName], ['family_name', user.lastName], ['name', names.join(' ')]] as const) {
      if (typeof value === 'string' && value.length > 0) claims[claim] = value;
    }
    if (typeof user.email === 'string' && typeof user.emailVerified === 'boolean') claims.email_verified = user.emailVerified;
    return {
      id: (user.id as string | undefined) ?? username,
      username,
      enabled: user.enabled !== false,
      displayName: names.length > 0 ? names.join(' ') : username,
      passwords,
      claims,
    };
  });
}

function optionalBoolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(field, `must be a boolean (got ${show(value)})`);
  return value;
}

function stringList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v.length > 0)) {
    fail(field, `must be an array of non-empty strings (got ${show(value)})`);
  }
  return value as string[];
}

function parseClients(value: unknown, path: string, warn: (message: string) => void): RealmClient[] {
  const seen = new Set<string>();
  return objectList(value, path, 'clients', (client, field): RealmClient => {
    if (typeof client.clientId !== 'string' || client.clientId.length === 0) {
      fail(`${field}.clientId`, `must be a non-empty string (got ${show(client.clientId)})`);
    }
    if (seen.has(client.clientId)) fail(`${field}.clientId`, `duplicates the client id ${show(client.clientId)}`);
    seen.add(client.clientId);
    for (const name of ['secret', 'clientAuthenticatorType', 'rootUrl'] as const) {
      if (client[name] !== undefined && typeof client[name] !== 'string') fail(`${field}.${name}`, `must be a string (got ${show(client[name])})`);
    }
    const attributes = client.attributes ?? {};
    if (!isObject(attributes)) fail(`${field}.attributes`, `must be an object of string values (got ${show(attributes)})`);
    const attr = (name: string) => `${field}.attributes[${JSON.stringify(name)}]`;
    const exchange = attributes['standard.token.exchange.enabled'];
    const parsed: RealmClient = {
      clientId: client.clientId,
      enabled: optionalBoolean(client.enabled, `${field}.enabled`, true),
      publicClient: optionalBoolean(client.publicClient, `${field}.publicClient`, false),
      bearerOnly: optionalBoolean(client.bearerOnly, `${field}.bearerOnly`, false),
      secret: client.secret === '' ? undefined : (client.secret as string | undefined),
      clientAuthenticatorType: (client.clientAuthenticatorType as string | undefined) ?? 'client-secret',
      serviceAccountsEnabled: optionalBoolean(client.serviceAccountsEnabled, `${field}.serviceAccountsEnabled`, false),
      rootUrl: client.rootUrl === '' ? undefined : (client.rootUrl as string | undefined),
      defaultClientScopes: stringList(client.defaultClientScopes, `${field}.defaultClientScopes`),
      optionalClientScopes: stringList(client.optionalClientScopes, `${field}.optionalClientScopes`),
      tokenExchange: exchange === undefined ? false : parseBoolean(exchange, attr('standard.token.exchange.enabled')),
      exchangeAudiences:
        attributes['aauth.exchange.audiences'] === undefined ? [] : parseList(attributes['aauth.exchange.audiences'], attr('aauth.exchange.audiences')),
      subjectAudiences:
        attributes['aauth.exchange.subject.audiences'] === undefined
          ? []
          : parseList(attributes['aauth.exchange.subject.audiences'], attr('aauth.exchange.subject.audiences')),
    };
    const grants = parsed.tokenExchange || parsed.serviceAccountsEnabled;
    if (grants && !parsed.publicClient && (parsed.secret === undefined || parsed.clientAuthenticatorType !== 'client-secret')) {
      warn(`${field} (${parsed.clientId}) has no client secret the embedded server can check (clientAuthenticatorType "client-secret" with a "secret"); it cannot authenticate`);
    }
    return parsed;
  });
}

function parseClientScopes(value: unknown, path: string): RealmClientScope[] {
  return objectList(value, path, 'clientScopes', (scope, field): RealmClientScope => {
    if (typeof scope.name !== 'string' || scope.name.length === 0) fail(`${field}.name`, `must be a non-empty string (got ${show(scope.name)})`);
    if (scope.description !== undefined && typeof scope.description !== 'string') {
      fail(`${field}.description`, `must be a string (got ${show(scope.description)})`);
    }
    const attributes = scope.attributes ?? {};
    if (!isObject(attributes)) fail(`${field}.attributes`, `must be an object of string values (got ${show(attributes)})`);
    const text = attributes['consent.screen.text'];
    if (text !== undefined && typeof text !== 'string') {
      fail(`${field}.attributes["consent.screen.text"]`, `must be a string (got ${show(text)})`);
    }
    const inScope = attributes['include.in.token.scope'];
    return {
      name: scope.name,
      description: scope.description === '' ? undefined : (scope.description as string | undefined),
      // Keycloak resolves `${key}` through its theme's messages; this server has no themes, so such a key is skipped.
      consentScreenText: text === undefined || text.trim() === '' || /^\$\{[^}]*\}$/.test(text.trim()) ? undefined : text,
      includeInTokenScope: inScope === undefined ? true : parseBoolean(inScope, `${field}.attributes["include.in.token.scope"]`),
    };
  });
}

/**
 * Read and validate a Keycloak realm export (a file path or the parsed object) for the embedded
 * server. Throws a `TypeError` naming the bad field, e.g.
 * `options.realm.attributes["aauth.allowed.agents"] must hold a JSON array of strings`.
 */
export function loadRealm(input: string | object, options: LoadRealmOptions = {}): RealmConfig {
  const warn = warningHook(options.onWarning, '[aauth-auth-server]');
  const { realm, path } = readInput(input, options.path ?? 'options.realm');

  // Not "." or "..": the issuer {baseUrl}/realms/{name} would name another path once normalised.
  if (typeof realm.realm !== 'string' || !/^[A-Za-z0-9._-]+$/.test(realm.realm) || /^\.+$/.test(realm.realm)) {
    fail(`${path}.realm`, `must be the realm name, a non-empty string of letters, digits, ".", "_" or "-", not dots alone (got ${show(realm.realm)})`);
  }
  if (realm.enabled !== undefined && typeof realm.enabled !== 'boolean') {
    fail(`${path}.enabled`, `must be a boolean (got ${show(realm.enabled)})`);
  }
  if (realm.displayName !== undefined && typeof realm.displayName !== 'string') {
    fail(`${path}.displayName`, `must be a string (got ${show(realm.displayName)})`);
  }
  let accessTokenLifespan = 300;
  if (realm.accessTokenLifespan !== undefined) {
    if (typeof realm.accessTokenLifespan !== 'number') {
      fail(`${path}.accessTokenLifespan`, `must be a number of seconds (got ${show(realm.accessTokenLifespan)})`);
    }
    // Keycloak treats -1 as "not configured" and then uses 300 s.
    if (realm.accessTokenLifespan !== -1) accessTokenLifespan = parseInteger(realm.accessTokenLifespan, `${path}.accessTokenLifespan`, 1);
  }

  let ssoSessionMaxLifespan = 36000;
  if (realm.ssoSessionMaxLifespan !== undefined) {
    if (typeof realm.ssoSessionMaxLifespan !== 'number') {
      fail(`${path}.ssoSessionMaxLifespan`, `must be a number of seconds (got ${show(realm.ssoSessionMaxLifespan)})`);
    }
    // As Keycloak's admin console: 0 (or -1) means not set, and the default applies.
    if (realm.ssoSessionMaxLifespan > 0) ssoSessionMaxLifespan = parseInteger(realm.ssoSessionMaxLifespan, `${path}.ssoSessionMaxLifespan`, 1);
  }

  const attributes = realm.attributes ?? {};
  if (!isObject(attributes)) fail(`${path}.attributes`, `must be an object of string values (got ${show(attributes)})`);
  const policy: RealmPolicy = {
    enabled: realm.enabled !== false,
    allowedAgents: [],
    blockedAgents: [],
    allowedScopes: [],
    trustedIssuers: [],
    exchangeEnabled: true,
    maxDepth: 10,
    consentScopes: [],
    consentScopePrefixes: [],
  };
  let refreshLifespan = 1800;
  let signingAlgorithm: SigningAlgorithm | undefined;
  const person: PersonServerSettings = { enabled: true, tokenLifespan: 3600, maxWait: 30 };
  const access: AccessServerSettings = { enabled: false, trustedPersonServers: [], tokenLifespan: 3600, personTrustedAccessServers: [] };
  for (const [name, value] of Object.entries(attributes)) {
    const field = `${path}.attributes[${JSON.stringify(name)}]`;
    if (name === 'aauth.access.enabled') {
      access.enabled = parseBoolean(value, field);
    } else if (name === 'aauth.access.trusted.person.servers') {
      access.trustedPersonServers = parseList(value, field);
    } else if (name === 'aauth.person.trusted.access.servers') {
      access.personTrustedAccessServers = parseList(value, field);
    } else if (name === 'aauth.access.token.lifespan') {
      access.tokenLifespan = parseInteger(value, field, 1);
      if (access.tokenLifespan > 3600) fail(field, `must be at most 3600: -11 auth tokens live at most one hour (got ${show(value)})`);
    } else if (name === 'aauth.person.enabled') {
      person.enabled = parseBoolean(value, field);
    } else if (name === 'aauth.person.token.lifespan') {
      person.tokenLifespan = parseInteger(value, field, 1);
      if (person.tokenLifespan > 3600) fail(field, `must be at most 3600: -11 person and auth tokens live at most one hour (got ${show(value)})`);
    } else if (name === 'aauth.person.max.wait') {
      person.maxWait = parseInteger(value, field, 0);
      if (person.maxWait > 60) fail(field, `must be at most 60 seconds (got ${show(value)})`);
    } else if (name === 'aauth.token.signing.alg') {
      if (typeof value !== 'string' || !(SIGNING_ALGORITHMS as readonly string[]).includes(value)) {
        fail(field, `must be one of ${SIGNING_ALGORITHMS.join(', ')} (got ${show(value)})`);
      }
      signingAlgorithm = value as SigningAlgorithm;
    } else if (name in LIST_ATTRIBUTES) {
      policy[LIST_ATTRIBUTES[name as keyof typeof LIST_ATTRIBUTES]] = parseList(value, field);
    } else if (name in BOOLEAN_ATTRIBUTES) {
      const key = BOOLEAN_ATTRIBUTES[name as keyof typeof BOOLEAN_ATTRIBUTES];
      policy[key] = parseBoolean(value, field) && (key !== 'enabled' || policy.enabled);
    } else if ((INTEGER_ATTRIBUTES as readonly string[]).includes(name)) {
      const n = parseInteger(value, field, name === 'aauth.exchange.max.depth' ? 0 : 1);
      if (name === 'aauth.exchange.max.depth') policy.maxDepth = n;
      if (name === 'aauth.refresh.lifespan') refreshLifespan = n;
      if (name === 'aauth.token.lifespan') {
        warn(`${field} is ignored: the auth token lifetime is the realm's accessTokenLifespan, as in the Keycloak extension`);
      }
    } else if (name.startsWith('aauth.')) {
      warn(`${field} is not an AAuth attribute this server knows; it is ignored`);
    }
  }
  if (!('aauth.consent.required.scopes' in attributes) && !('aauth.consent.required.scope.prefixes' in attributes)) {
    policy.consentScopes = [...DEFAULT_CONSENT_SCOPES];
    policy.consentScopePrefixes = [...DEFAULT_CONSENT_PREFIXES];
  }
  policy.trustedIssuers.forEach((issuer, i) => {
    const problem = identityUrlProblem(issuer);
    if (problem) fail(`${path}.attributes["aauth.trusted.issuers"][${i}]`, `${problem} (got ${show(issuer)})`);
  });

  return {
    name: realm.realm,
    displayName: typeof realm.displayName === 'string' && realm.displayName.length > 0 ? realm.displayName : realm.realm,
    accessTokenLifespan,
    refreshLifespan,
    ssoSessionMaxLifespan,
    policy,
    users: parseUsers(realm.users, path, warn),
    enabled: realm.enabled !== false,
    clients: parseClients(realm.clients, path, warn),
    clientScopes: parseClientScopes(realm.clientScopes, path),
    bruteForce: parseBruteForce(realm, path),
    person,
    access,
    signingAlgorithm,
  };
}
