import { type SigningKey } from '@aauth-kit/core';
import { assertIdentityUrl } from '@aauth-kit/core/internal';
import type { VerifierOptions } from '@aauth-kit/verifier';
import type { RequireLevel, RequireOptions, ResourceOptions } from '../types.js';

export interface ResolvedRoute {
  level: RequireLevel;
  scope: string[];
  requiredComponents: string[];
}

export interface ResolvedResourceOptions {
  identity: string;
  origin: string;
  key: SigningKey;
  authServer: string | undefined;
  scopes: Record<string, string> | undefined;
  additionalSignatureComponents: string[];
  maxBodyBytes: number;
  requirementHeader: boolean;
  errors: 'respond' | 'next';
  onError: ResourceOptions['onError'];
  callerKey: NonNullable<ResourceOptions['callerKey']>;
  now: (() => number) | undefined;
  verifierOptions: VerifierOptions;
  resolveRoute(options: RequireOptions, path?: string): ResolvedRoute;
}

const LEVELS: readonly RequireLevel[] = ['signature', 'identity', 'auth-token'];
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
const COMPONENT = /^(@[a-z-]+|[a-z0-9!#$%&'*+.^_`|~-]+)$/;

function components(value: unknown, path: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((c) => typeof c !== 'string' || !COMPONENT.test(c.toLowerCase()))) {
    throw new TypeError(`${path} must be an array of component names ("@query", "content-type", ...)`);
  }
  return [...new Set((value as string[]).map((c) => c.toLowerCase()))];
}

/** Validate and default resource options; misuse throws a TypeError naming the option path. */
export function resolveResourceOptions(options: ResourceOptions): ResolvedResourceOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { identity, key, authServer, scopes, additionalSignatureComponents, maxBodyBytes, requirementHeader, errors, onError, callerKey, ...rest } = options;
  assertIdentityUrl(identity, 'options.identity');
  const k = key as Partial<SigningKey> | undefined;
  if (typeof k !== 'object' || k === null || typeof k.sign !== 'function' || typeof k.kid !== 'string' || typeof k.toPublishedJwk !== 'function') {
    throw new TypeError('options.key must be a SigningKey (generateKey(), importPrivateKey() or loadKeyFile() from @aauth-kit/core)');
  }
  if (k.jwsAlgorithm !== 'EdDSA') throw new TypeError('options.key must be an Ed25519 key: resource tokens are EdDSA (wire profile section 6)');

  let issuer: string | undefined;
  let trustedIssuers: string[] = [];
  if (typeof authServer === 'string') {
    assertIdentityUrl(authServer, 'options.authServer');
    issuer = authServer;
  } else if (authServer !== undefined) {
    if (typeof authServer !== 'object' || authServer === null) throw new TypeError('options.authServer must be an issuer URL or { issuer, trustedIssuers }');
    assertIdentityUrl(authServer.issuer, 'options.authServer.issuer');
    issuer = authServer.issuer;
    if (authServer.trustedIssuers !== undefined) {
      if (!Array.isArray(authServer.trustedIssuers)) throw new TypeError('options.authServer.trustedIssuers must be an array of issuer URLs');
      authServer.trustedIssuers.forEach((iss, i) => assertIdentityUrl(iss, `options.authServer.trustedIssuers[${i}]`));
      trustedIssuers = [...authServer.trustedIssuers];
    }
  }

  if (scopes !== undefined) {
    if (typeof scopes !== 'object' || scopes === null || Array.isArray(scopes)) throw new TypeError('options.scopes must be an object of scope -> description');
    for (const [name, description] of Object.entries(scopes)) {
      if (!SCOPE_TOKEN.test(name)) throw new TypeError(`options.scopes key ${JSON.stringify(name)} is not a valid scope (no spaces or quotes)`);
      if (typeof description !== 'string') throw new TypeError(`options.scopes[${JSON.stringify(name)}] must be a string`);
    }
  }
  const extra = components(additionalSignatureComponents, 'options.additionalSignatureComponents');
  const bodyLimit = maxBodyBytes ?? 1024 * 1024;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 0) throw new TypeError('options.maxBodyBytes must be a non-negative integer');
  if (requirementHeader !== undefined && typeof requirementHeader !== 'boolean') throw new TypeError('options.requirementHeader must be a boolean');
  if (errors !== undefined && errors !== 'respond' && errors !== 'next') throw new TypeError("options.errors must be 'respond' or 'next'");
  if (onError !== undefined && typeof onError !== 'function') throw new TypeError('options.onError must be a function');
  if (callerKey !== undefined && typeof callerKey !== 'function') throw new TypeError('options.callerKey must be a function (req) => string');

  const verifierOptions: VerifierOptions = {
    ...rest,
    identity,
    trustedIssuers: issuer === undefined ? trustedIssuers : [issuer, ...trustedIssuers.filter((i) => i !== issuer)],
  };

  return {
    identity,
    origin: new URL(identity).origin,
    key: key,
    authServer: issuer,
    scopes,
    additionalSignatureComponents: extra,
    maxBodyBytes: bodyLimit,
    requirementHeader: requirementHeader ?? false,
    errors: errors ?? 'respond',
    onError,
    // The TCP peer by default; behind a proxy that is the proxy, so the operator passes a better key.
    callerKey: callerKey ?? ((req) => req.socket.remoteAddress ?? 'unknown'),
    now: rest.now,
    verifierOptions,
    resolveRoute(route: RequireOptions, path = 'options'): ResolvedRoute {
      if (typeof route !== 'object' || route === null) throw new TypeError(`${path} must be an object`);
      const scope = route.scope === undefined ? [] : typeof route.scope === 'string' ? route.scope.split(' ').filter(Boolean) : route.scope;
      if (!Array.isArray(scope) || scope.some((s) => typeof s !== 'string' || !SCOPE_TOKEN.test(s))) {
        throw new TypeError(`${path}.scope must be a scope string or an array of scopes`);
      }
      const level = route.level ?? (scope.length > 0 ? 'auth-token' : 'signature');
      if (!LEVELS.includes(level)) throw new TypeError(`${path}.level must be 'signature', 'identity' or 'auth-token'`);
      if (level === 'auth-token') {
        // The Keycloak extension refuses resource tokens without scope (section 5).
        if (scope.length === 0) throw new TypeError(`${path}.scope must name at least one scope at the auth-token level`);
        if (issuer === undefined) throw new TypeError('options.authServer is required for routes at the auth-token level');
        if (scopes) {
          const unknown = scope.filter((s) => !(s in scopes));
          if (unknown.length > 0) throw new TypeError(`${path}.scope ${unknown.join(' ')} is not in options.scopes`);
        }
      } else if (scope.length > 0) {
        throw new TypeError(`${path}.scope is only meaningful at the auth-token level`);
      }
      return { level, scope: [...new Set(scope)], requiredComponents: [...new Set([...extra, ...components(route.requiredComponents, `${path}.requiredComponents`)])] };
    },
  };
}
