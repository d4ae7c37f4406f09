import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { AAuthError, isLocalHostname } from '@aauth-kit/core';
import { raceSignal } from './race-signal.js';

/** Resolves a host name to its IP addresses (injectable; default: the system resolver). */
export type ResolveHostname = (hostname: string) => Promise<string[]>;

export interface EgressPolicyOptions {
  /** Extra hosts reachable over plain http (besides localhost, 127.0.0.1, [::1], *.localhost). */
  allowHttpHosts?: readonly string[];
  /** When set, only these hosts (`name`, `name:port` or `*.suffix`) may be fetched. */
  allowHosts?: readonly string[];
  /** Host name resolver used to refuse private addresses. */
  resolveHostname?: ResolveHostname;
  /** Allow names that resolve to private, loopback or link-local addresses; default false. */
  allowPrivateAddresses?: boolean;
}

// Addresses a public identity URL must never lead to (SSRF: cloud metadata, intranet, loopback).
const PRIVATE = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['100::', 64],
  ['2001:db8::', 32],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  PRIVATE.addSubnet(net, prefix, 'ipv6');
}

/** True for loopback, private, link-local, shared, documentation and multicast addresses. */
export function isPrivateAddress(address: string): boolean {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 4) return PRIVATE.check(bare, 'ipv4');
  if (family === 6) {
    // BlockList maps ::ffff:a.b.c.d onto the IPv4 rules itself.
    return PRIVATE.check(bare, 'ipv6');
  }
  return true;
}

const defaultResolve: ResolveHostname = async (hostname) => {
  const answers = await lookup(hostname, { all: true, verbatim: true });
  return answers.map((a) => a.address);
};

function hostMatches(pattern: string, url: URL): boolean {
  const p = pattern.toLowerCase();
  const hostname = url.hostname.toLowerCase();
  if (p.startsWith('*.')) return hostname.endsWith(p.slice(1)) && hostname.length > p.length - 1;
  if (p.includes(':') && !p.startsWith('[')) return url.host.toLowerCase() === p;
  if (p.startsWith('[') && p.includes(']:')) return url.host.toLowerCase() === p;
  return hostname === p;
}

/**
 * The discovery egress policy (wire profile sections 1 and 4): https, or http to local names only;
 * an optional allow-list; no names that resolve to private addresses unless they are local names.
 * Throws `egress_denied`.
 */
export class EgressPolicy {
  private readonly allowHttpHosts: readonly string[];
  private readonly allowHosts: readonly string[] | undefined;
  private readonly resolve: ResolveHostname;
  private readonly allowPrivate: boolean;

  constructor(options: EgressPolicyOptions = {}) {
    this.allowHttpHosts = options.allowHttpHosts ?? [];
    this.allowHosts = options.allowHosts;
    this.resolve = options.resolveHostname ?? defaultResolve;
    this.allowPrivate = options.allowPrivateAddresses ?? false;
  }

  /** Checks that need no DNS: scheme, credentials, allow-list, IP literals. */
  checkStatic(url: URL): void {
    const deny = (why: string): never => {
      throw new AAuthError('egress_denied', `Refusing to fetch ${url.origin}: ${why}`, { details: { url: url.href } });
    };
    const local = isLocalHostname(url.hostname);
    const httpAllowed = local || this.allowHttpHosts.some((h) => hostMatches(h, url));
    if (url.protocol === 'http:') {
      if (!httpAllowed) deny('plain http is allowed only for local names');
    } else if (url.protocol !== 'https:') {
      deny(`scheme ${url.protocol} is not allowed`);
    }
    if (url.username || url.password) deny('URLs with credentials are not allowed');
    if (this.allowHosts && !this.allowHosts.some((h) => hostMatches(h, url))) deny('the host is not in the allow-list');
    if (!local && !this.allowPrivate && !this.trusted(url) && isIP(stripBrackets(url.hostname)) !== 0) {
      if (isPrivateAddress(url.hostname)) deny('the address is private, loopback or link-local');
    }
  }

  /** Full check, resolving the name to refuse private addresses (SSRF). */
  async check(url: URL, signal?: AbortSignal): Promise<void> {
    this.checkStatic(url);
    const hostname = stripBrackets(url.hostname);
    if (isLocalHostname(url.hostname) || this.allowPrivate || this.trusted(url) || isIP(hostname) !== 0) return;
    let addresses: string[];
    try {
      addresses = await raceSignal(this.resolve(hostname), signal);
    } catch (error) {
      if (error instanceof AAuthError || signal?.aborted) throw error;
      throw new AAuthError('key_discovery_failed', `Cannot resolve ${hostname}`, { cause: error, details: { url: url.href } });
    }
    if (addresses.length === 0) {
      throw new AAuthError('key_discovery_failed', `Cannot resolve ${hostname}`, { details: { url: url.href } });
    }
    if (addresses.some((a) => isPrivateAddress(a))) {
      throw new AAuthError('egress_denied', `Refusing to fetch ${url.origin}: the name resolves to a private, loopback or link-local address`, {
        details: { url: url.href },
      });
    }
  }

  // Hosts the operator named explicitly for plain http are trusted to live on a private network
  // (e.g. a compose service name such as http://keycloak:8080).
  private trusted(url: URL): boolean {
    return this.allowHttpHosts.some((h) => !h.startsWith('*.') && hostMatches(h, url));
  }
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}
