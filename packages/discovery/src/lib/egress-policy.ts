import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { AAuthError, type AAuthErrorCode } from '@aauth-kit/core';
import { isLocalHostname } from '@aauth-kit/core/internal';
import { egressProblem } from '../egress-problem.js';
import { isPrivateAddress, stripBrackets } from '../is-private-address.js';
import type { EgressOptions, FailureCodes, ResolveHostname } from '../types.js';
import { hostMatches } from './host-pattern.js';
import { raceSignal } from './race-signal.js';

// node:dns/promises loads on the first name resolved: a resource whose agents are all local names
// (or that is given `resolve`) never loads it.
let dns: typeof import('node:dns/promises') | undefined;
const defaultResolve: ResolveHostname = async (hostname) => {
  dns ??= createRequire(import.meta.url)('node:dns/promises') as typeof import('node:dns/promises');
  const answers = await dns.lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

/**
 * The discovery egress policy (wire profile sections 1 and 4): https, or http to local names only;
 * an optional allow-list; no names that resolve to private addresses unless they are local names.
 * Refusals throw `deniedCode` (default `egress_denied`), resolver failures `failureCode`.
 */
export class EgressPolicy {
  private readonly allowHttpHosts: readonly string[];
  private readonly allowHosts: readonly string[] | undefined;
  private readonly resolve: ResolveHostname;
  private readonly allowPrivate: boolean;
  private readonly deniedCode: AAuthErrorCode;
  private readonly failureCode: AAuthErrorCode;

  constructor(options: EgressOptions & FailureCodes = {}) {
    this.allowHttpHosts = options.allowHttpHosts ?? [];
    this.allowHosts = options.allowHosts;
    this.resolve = options.resolveHostname ?? defaultResolve;
    this.allowPrivate = options.allowPrivateAddresses ?? false;
    this.deniedCode = options.deniedCode ?? 'egress_denied';
    this.failureCode = options.failureCode ?? 'key_discovery_failed';
  }

  /** Checks that need no DNS: scheme, credentials, allow-list, IP literals. */
  checkStatic(url: URL): void {
    const scheme = egressProblem(url, this.allowHttpHosts);
    if (scheme) throw this.denied(url, `Refusing to fetch: ${scheme}`);
    const deny = (why: string): never => {
      throw this.denied(url, `Refusing to fetch ${url.origin}: ${why}`);
    };
    if (url.username || url.password) deny('URLs with credentials are not allowed');
    if (this.allowHosts && !this.allowHosts.some((h) => hostMatches(h, url))) deny('the host is not in the allow-list');
    if (!this.unchecked(url) && isIP(stripBrackets(url.hostname)) !== 0 && isPrivateAddress(url.hostname)) {
      deny('the address is private, loopback or link-local');
    }
  }

  /**
   * Full check, resolving the name to refuse private addresses (SSRF). Resolves to the addresses
   * it checked, for the connection to be pinned to (DNS rebinding); undefined when it resolved
   * nothing (an IP literal, or a name it trusts without looking: local names, `allowHttpHosts`,
   * `allowPrivateAddresses`).
   */
  async check(url: URL, signal?: AbortSignal): Promise<readonly string[] | undefined> {
    this.checkStatic(url);
    const hostname = stripBrackets(url.hostname);
    if (this.unchecked(url) || isIP(hostname) !== 0) return undefined;
    const unresolved = (cause?: unknown): AAuthError =>
      new AAuthError(this.failureCode, `Cannot resolve ${hostname}`, { ...(cause === undefined ? {} : { cause }), details: { url: url.href } });
    let addresses: string[];
    try {
      addresses = await raceSignal(this.resolve(hostname), signal);
    } catch (error) {
      if (error instanceof AAuthError || signal?.aborted) throw error;
      throw unresolved(error);
    }
    if (addresses.length === 0) throw unresolved();
    if (addresses.some((a) => isPrivateAddress(a))) {
      throw this.denied(url, `Refusing to fetch ${url.origin}: the name resolves to a private, loopback or link-local address`);
    }
    return addresses;
  }

  private denied(url: URL, message: string): AAuthError {
    return new AAuthError(this.deniedCode, message, { details: { url: url.href } });
  }

  // Local names, and hosts the operator named explicitly for plain http, are trusted to live on a
  // private network (e.g. a compose service name such as http://keycloak:8080).
  private unchecked(url: URL): boolean {
    return (
      isLocalHostname(url.hostname) || this.allowPrivate || this.allowHttpHosts.some((h) => !h.startsWith('*.') && hostMatches(h, url))
    );
  }
}
