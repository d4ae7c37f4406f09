import type { AAuthErrorCode } from '@aauth-kit/core';
import { createTelemetry, type Telemetry } from '@aauth-kit/core/internal';
import type { DocumentFetcherOptions, ResolveHostname } from '../types.js';
import { VERSION } from './version.js';

/** Fetcher options with every default applied. */
export interface ResolvedFetcherOptions {
  /** The given fetch; undefined for discovery's own node:http transport. */
  fetch: typeof fetch | undefined;
  now: () => number;
  timeoutMs: number;
  maxBytes: number;
  maxEntries: number;
  defaultTtl: number;
  failureTtl: number;
  maxInflight: number;
  maxInflightPerHost: number;
  maxInflightPerCaller: number;
  allowHttpHosts: string[];
  allowHosts: string[] | undefined;
  resolveHostname: ResolveHostname | undefined;
  allowPrivateAddresses: boolean;
  failureCode: AAuthErrorCode;
  deniedCode: AAuthErrorCode;
  /** The `aauth.discovery` spans' tracer (off when `telemetry.enabled` is false). */
  telemetry: Telemetry;
}

/** The numeric limits and their defaults (wire profile section 4: 3 s, 64 KiB). */
const LIMITS = {
  timeoutMs: 3000,
  maxBytes: 64 * 1024,
  // Thousands of agents, each with its metadata and its JWKS (issue 18).
  maxEntries: 10_000,
  defaultTtl: 300,
  failureTtl: 10,
  maxInflight: 100,
  maxInflightPerHost: 10,
  maxInflightPerCaller: 20,
} as const;

type Limit = keyof typeof LIMITS;

/** Validate and default fetcher options; misuse throws a TypeError naming `path` and the option. */
export function resolveFetcherOptions(options: DocumentFetcherOptions | undefined, path: string): ResolvedFetcherOptions {
  const o = options ?? {};
  if (typeof o !== 'object' || o === null) throw new TypeError(`${path} must be an object`);
  const misuse = (name: string, what: string, value: unknown): TypeError =>
    new TypeError(`${path}.${name} must be ${what} (got ${typeof value === 'function' ? 'a function' : JSON.stringify(value)})`);

  const limits = {} as Record<Limit, number>;
  for (const name of Object.keys(LIMITS) as Limit[]) {
    const value: unknown = o[name];
    if (value !== undefined && (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)) {
      throw misuse(name, 'a positive integer', value);
    }
    limits[name] = value ?? LIMITS[name];
  }
  for (const name of ['fetch', 'now', 'resolveHostname'] as const) {
    if (o[name] !== undefined && typeof o[name] !== 'function') throw misuse(name, 'a function', o[name]);
  }
  const hostList = (name: 'allowHttpHosts' | 'allowHosts'): string[] | undefined => {
    const value: unknown = o[name];
    if (value === undefined) return undefined;
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string' || v.length === 0)) {
      throw misuse(name, 'an array of non-empty strings', value);
    }
    return [...(value as string[])];
  };
  if (o.allowPrivateAddresses !== undefined && typeof o.allowPrivateAddresses !== 'boolean') {
    throw misuse('allowPrivateAddresses', 'a boolean', o.allowPrivateAddresses);
  }
  return {
    ...limits,
    // Not globalThis.fetch: reading it loads node's fetch (undici), tens of ms of CPU on a cold start.
    fetch: o.fetch,
    now: o.now ?? (() => Date.now() / 1000),
    allowHttpHosts: hostList('allowHttpHosts') ?? [],
    allowHosts: hostList('allowHosts'),
    resolveHostname: o.resolveHostname,
    allowPrivateAddresses: o.allowPrivateAddresses ?? false,
    failureCode: o.failureCode ?? 'key_discovery_failed',
    deniedCode: o.deniedCode ?? 'egress_denied',
    telemetry: createTelemetry('@aauth-kit/discovery', VERSION, o.telemetry),
  };
}
