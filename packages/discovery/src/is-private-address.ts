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
    // Unspecified, loopback and the deprecated IPv4-compatible ::a.b.c.d (RFC 4291 section 2.5.5.1).
    ['::', 96],
    // IPv4-translated ::ffff:0:a.b.c.d (RFC 2765, SIIT).
    ['::ffff:0:0:0', 96],
    ['64:ff9b::', 96],
    // Local-use IPv4/IPv6 translation (RFC 8215).
    ['64:ff9b:1::', 48],
    // Teredo (RFC 4380): tunnels to an IPv4 address the policy cannot see.
    ['2001::', 32],
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
  if (family === 6) return privateAddresses().check(bare, 'ipv6') || embeds6to4Private(bare);
  return true;
}

/** A 6to4 address (2002:AABB:CCDD::/48, RFC 3056) names the IPv4 address AA.BB.CC.DD: private if that is. */
function embeds6to4Private(address: string): boolean {
  // The first two groups are written out whenever the address starts with 2002: ('2002::' alone is 0.0.0.0).
  const match = /^2002:([0-9a-f]{0,4})(?::([0-9a-f]{0,4}))?/i.exec(address);
  if (match === null) return false;
  const high = parseInt(match[1] || '0', 16);
  const low = parseInt(match[2] || '0', 16);
  const v4 = `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  return privateAddresses().check(v4, 'ipv4');
}
