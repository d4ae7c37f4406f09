import { BlockList, isIP } from 'node:net';

// Addresses a public identity URL must never lead to (SSRF: cloud metadata, intranet, loopback).
// Built on first use: a resource that only discovers local agents never needs it (issue 18, cold start).
let privateList: BlockList | undefined;
function privateAddresses(): BlockList {
  return (privateList ??= buildPrivateList());
}

function buildPrivateList(): BlockList {
  const list = new BlockList();
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
    list.addSubnet(net, prefix, 'ipv4');
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
    list.addSubnet(net, prefix, 'ipv6');
  }
  return list;
}

/** IPv6 literals come bracketed in URLs (`[::1]`); the address itself has no brackets. */
export function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * True for loopback, private, link-local, shared, documentation and multicast addresses, and for
 * anything that is not an IP address (the test of the egress policy, for custom resolvers).
 */
export function isPrivateAddress(address: string): boolean {
  const bare = stripBrackets(address);
  const family = isIP(bare);
  if (family === 4) return privateAddresses().check(bare, 'ipv4');
  // BlockList maps ::ffff:a.b.c.d onto the IPv4 rules itself.
  if (family === 6) return privateAddresses().check(bare, 'ipv6');
  return true;
}
