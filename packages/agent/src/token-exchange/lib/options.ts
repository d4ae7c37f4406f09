import type { SigningKey } from '@aauth-kit/core';
import { TOKEN_TYPE, type ClientAuthentication, type TokenExchangeProfile, type TokenExchangeTarget } from '../types.js';
import { egressProblem } from '../../lib/http.js';

/** A target after validation: every value normalised, nothing left to check at request time. */
export interface ResolvedTarget {
  tokenEndpoint: URL;
  clientId: string;
  auth: ClientAuthentication;
  profile: TokenExchangeProfile;
  subjectTokenType: string;
  actorTokenType: string;
  audience: string[];
  resource: string[];
  /** Space-separated, or undefined. */
  scope: string | undefined;
  requestedTokenType: string | undefined;
  extraParams: Array<[string, string]>;
  /** Where the exchanger may send the token; undefined: anywhere egress allows. */
  origins: string[] | undefined;
}

/** Parameters a target's `extraParams` must not set: the client builds them (RFC 6749, 7523, 8693). */
const RESERVED = new Set([
  'grant_type', 'client_id', 'client_secret', 'client_assertion', 'client_assertion_type', 'subject_token', 'subject_token_type',
  'actor_token', 'actor_token_type', 'audience', 'resource', 'scope', 'requested_token_type', 'assertion', 'requested_token_use',
]);
const TARGET_KEYS = new Set([
  'tokenEndpoint', 'clientId', 'auth', 'profile', 'subjectTokenType', 'actorTokenType', 'audience', 'resource', 'scope',
  'requestedTokenType', 'extraParams',
]);
// RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
// RFC 3986 absolute URI (scheme ":" ...), as RFC 8693 section 3 requires of token type identifiers.
const ABSOLUTE_URI = /^[A-Za-z][A-Za-z0-9+.-]*:[^\s]+$/;
const PROFILES: readonly TokenExchangeProfile[] = ['rfc8693', 'entra-obo'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmpty(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new TypeError(`${path} must be a non-empty string`);
  // No control characters: these values become form fields and, for Basic, a header.
  if (/[\x00-\x1F\x7F]/.test(value)) throw new TypeError(`${path} must not contain control characters`);
  return value;
}

function list(value: unknown, path: string): string[] {
  if (value === undefined) return [];
  const values = typeof value === 'string' ? [value] : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (values === undefined) throw new TypeError(`${path} must be a string or an array of strings`);
  return values.map((v, i) => nonEmpty(v, Array.isArray(value) ? `${path}[${i}]` : path));
}

function tokenType(value: unknown, path: string, fallback: string): string {
  if (value === undefined) return fallback;
  const text = nonEmpty(value, path);
  if (!ABSOLUTE_URI.test(text)) throw new TypeError(`${path} must be an absolute URI, e.g. ${TOKEN_TYPE.accessToken}`);
  return text;
}

/** Normalise a scope (string or list) to RFC 6749's space-separated form; undefined when absent or empty. */
export function normaliseScope(value: unknown, path: string): string | undefined {
  if (value === undefined) return undefined;
  const tokens = typeof value === 'string' ? value.split(' ').filter((s) => s.length > 0) : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (tokens === undefined) throw new TypeError(`${path} must be a space-separated string or an array of scope tokens`);
  const out: string[] = [];
  tokens.forEach((token, i) => {
    if (typeof token !== 'string' || !SCOPE_TOKEN.test(token)) {
      throw new TypeError(`${path}${Array.isArray(value) ? `[${i}]` : ''} has an invalid scope token ${JSON.stringify(token)} (RFC 6749 section 3.3)`);
    }
    if (!out.includes(token)) out.push(token);
  });
  return out.length > 0 ? out.join(' ') : undefined;
}

function endpoint(value: unknown, path: string): URL {
  if (typeof value !== 'string' && !(value instanceof URL)) throw new TypeError(`${path} must be an absolute URL`);
  let url: URL;
  try {
    url = new URL(value instanceof URL ? value.href : value);
  } catch {
    throw new TypeError(`${path} must be an absolute URL`);
  }
  const problem = egressProblem(url);
  if (problem) throw new TypeError(`${path} ${problem}`);
  if (url.username || url.password) throw new TypeError(`${path} must not contain credentials`);
  // RFC 6749 section 3.2: the endpoint URI must not include a fragment.
  if (url.hash || String(value).includes('#')) throw new TypeError(`${path} must not have a fragment`);
  return url;
}

function isSigningKey(value: unknown): value is SigningKey {
  const k = value as Record<string, unknown> | null;
  return typeof k === 'object' && k !== null && typeof k.kid === 'string' && typeof k.jwsAlgorithm === 'string' && typeof k.privateKeyObject === 'object';
}

function clientAuth(value: unknown, path: string): ClientAuthentication {
  if (!isObject(value)) throw new TypeError(`${path} must be an object with a method`);
  const allowed = (keys: string[]): void => {
    for (const k of Object.keys(value)) if (k !== 'method' && !keys.includes(k)) throw new TypeError(`${path}.${k} is not an option of ${String(value.method)}`);
  };
  switch (value.method) {
    case 'client_secret_basic':
    case 'client_secret_post':
      allowed(['clientSecret']);
      return { method: value.method, clientSecret: nonEmpty(value.clientSecret, `${path}.clientSecret`) };
    case 'private_key_jwt': {
      allowed(['key', 'audience', 'lifetime']);
      if (!isSigningKey(value.key)) throw new TypeError(`${path}.key must be a SigningKey from @aauth-kit/core`);
      const lifetime = value.lifetime ?? 60;
      if (typeof lifetime !== 'number' || !Number.isInteger(lifetime) || lifetime < 1 || lifetime > 300) {
        throw new TypeError(`${path}.lifetime must be an integer between 1 and 300 seconds`);
      }
      const auth: ClientAuthentication = { method: 'private_key_jwt', key: value.key, lifetime };
      if (value.audience !== undefined) auth.audience = nonEmpty(value.audience, `${path}.audience`);
      return auth;
    }
    case 'none':
      allowed([]);
      return { method: 'none' };
    default:
      throw new TypeError(`${path}.method must be client_secret_basic, client_secret_post, private_key_jwt or none`);
  }
}

/**
 * Validate a target at start-up; misuse throws a `TypeError` naming the option path
 * (`options.targets.crm.tokenEndpoint must be an absolute URL`).
 */
export function resolveTarget(value: unknown, path: string, extraKeys: readonly string[] = []): ResolvedTarget {
  if (!isObject(value)) throw new TypeError(`${path} must be an object`);
  for (const k of Object.keys(value)) {
    if (!TARGET_KEYS.has(k) && !extraKeys.includes(k)) throw new TypeError(`${path}.${k} is not an option of a token exchange target`);
  }
  const t = value as unknown as TokenExchangeTarget & { origins?: unknown };
  const profile = t.profile ?? 'rfc8693';
  if (!PROFILES.includes(profile)) throw new TypeError(`${path}.profile must be one of ${PROFILES.join(', ')}`);
  const extraParams: Array<[string, string]> = [];
  if (t.extraParams !== undefined) {
    if (!isObject(t.extraParams)) throw new TypeError(`${path}.extraParams must be an object of strings or string arrays`);
    for (const [name, v] of Object.entries(t.extraParams)) {
      if (name.length === 0 || RESERVED.has(name)) throw new TypeError(`${path}.extraParams.${name} is a parameter the client sets itself`);
      for (const item of list(v, `${path}.extraParams.${name}`)) extraParams.push([name, item]);
    }
  }
  const resource = list(t.resource, `${path}.resource`);
  resource.forEach((r, i) => {
    let ok = false;
    try {
      ok = new URL(r).href.length > 0 && !r.includes('#');
    } catch {
      ok = false;
    }
    // RFC 8707 section 2: an absolute URI without a fragment.
    if (!ok) throw new TypeError(`${path}.resource${Array.isArray(t.resource) ? `[${i}]` : ''} must be an absolute URI without a fragment`);
  });
  let origins: string[] | undefined;
  if (t.origins !== undefined) {
    if (!Array.isArray(t.origins) || t.origins.length === 0) throw new TypeError(`${path}.origins must be a non-empty array of origins`);
    origins = (t.origins as unknown[]).map((o, i) => {
      let origin: string | undefined;
      try {
        origin = new URL(String(o)).origin;
      } catch {
        origin = undefined;
      }
      if (typeof o !== 'string' || origin === undefined || origin === 'null' || origin !== o) {
        throw new TypeError(`${path}.origins[${i}] must be an origin such as https://crm.example.com (no path, no trailing slash)`);
      }
      return origin;
    });
  }
  const resolved: ResolvedTarget = {
    tokenEndpoint: endpoint(t.tokenEndpoint, `${path}.tokenEndpoint`),
    clientId: nonEmpty(t.clientId, `${path}.clientId`),
    auth: clientAuth(t.auth, `${path}.auth`),
    profile,
    subjectTokenType: tokenType(t.subjectTokenType, `${path}.subjectTokenType`, TOKEN_TYPE.accessToken),
    actorTokenType: tokenType(t.actorTokenType, `${path}.actorTokenType`, TOKEN_TYPE.accessToken),
    audience: list(t.audience, `${path}.audience`),
    resource,
    scope: normaliseScope(t.scope, `${path}.scope`),
    requestedTokenType: t.requestedTokenType === undefined ? undefined : tokenType(t.requestedTokenType, `${path}.requestedTokenType`, ''),
    extraParams,
    origins,
  };
  if (profile === 'entra-obo') {
    // Entra's on-behalf-of request names the target by scope and has no RFC 8693 token types.
    for (const name of ['audience', 'resource', 'subjectTokenType', 'actorTokenType', 'requestedTokenType'] as const) {
      if (t[name] !== undefined) throw new TypeError(`${path}.${name} is not used by the entra-obo profile (Entra names the target by scope)`);
    }
    if (resolved.scope === undefined) throw new TypeError(`${path}.scope is required by the entra-obo profile, e.g. "api://crm/.default"`);
  }
  return resolved;
}

/** A positive number option, or its default. */
export function positiveOption(value: unknown, path: string, fallback: number, integer = false): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isInteger(value))) {
    throw new TypeError(`${path} must be a positive ${integer ? 'integer' : 'number'} (got ${String(value)})`);
  }
  return value;
}

/** A function option, or undefined. */
export function functionOption<T>(value: T | undefined, path: string): T | undefined {
  if (value !== undefined && typeof value !== 'function') throw new TypeError(`${path} must be a function`);
  return value;
}
