import { describe, expect, it } from 'vitest';
import { egressProblem, isPrivateAddress } from '@aauth-kit/discovery';
import { EgressPolicy } from '../src/lib/egress-policy.js';

describe('isPrivateAddress', () => {
  const privateOnes = ['10.0.0.1', '127.0.0.1', '127.255.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.168.0.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '[::1]', 'not-an-ip',
    // IPv4-compatible, IPv4-translated (SIIT), local-use NAT64, Teredo, 6to4 of private IPv4 (the audit's IPv6 list).
    '::127.0.0.1', '::7f00:1', '::ffff:0:7f00:1', '::ffff:0:127.0.0.1', '64:ff9b:1::a9fe:a9fe', '2001:0:4136:e378::1', '2002:7f00:1::1', '2002:a9fe:a9fe::', '2002:c0a8:101::1', '2002::1'];
  const publicOnes = ['8.8.8.8', '93.184.215.14', '172.32.0.1', '11.0.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8', '2002:808:808::1', '2001:db9::1'];
  for (const a of privateOnes) it(`${a} is private`, () => expect(isPrivateAddress(a)).toBe(true));
  for (const a of publicOnes) it(`${a} is public`, () => expect(isPrivateAddress(a)).toBe(false));
});

describe('EgressPolicy.checkStatic', () => {
  const deny = (policy: EgressPolicy, url: string) => {
    expect(() => policy.checkStatic(new URL(url))).toThrow(expect.objectContaining({ code: 'egress_denied' }));
  };
  it('https anywhere public, http only to local names', () => {
    const p = new EgressPolicy();
    p.checkStatic(new URL('https://agent.example/x'));
    p.checkStatic(new URL('http://localhost:3000/x'));
    p.checkStatic(new URL('http://127.0.0.1:3000/x'));
    p.checkStatic(new URL('http://[::1]:3000/x'));
    p.checkStatic(new URL('http://sca.localhost:3000/x'));
    deny(p, 'http://agent.example/x');
    deny(p, 'http://localhost.example/x');
    deny(p, 'file:///etc/passwd');
    deny(p, 'https://user:pw@agent.example/x');
    deny(p, 'https://10.0.0.1/x');
  });
  it('allow-list entries: name, name:port and *.suffix', () => {
    const p = new EgressPolicy({ allowHosts: ['a.example', 'b.example:8443', '*.c.example'] });
    p.checkStatic(new URL('https://a.example:9999/'));
    p.checkStatic(new URL('https://b.example:8443/'));
    p.checkStatic(new URL('https://x.c.example/'));
    deny(p, 'https://b.example/');
    deny(p, 'https://c.example/');
    deny(p, 'https://xa.example/');
  });
});

describe('egressProblem (wire profile section 1)', () => {
  it('https passes; http passes for local names and allowHttpHosts only', () => {
    expect(egressProblem(new URL('https://as.example/x'))).toBeUndefined();
    expect(egressProblem(new URL('http://localhost:8080/x'))).toBeUndefined();
    expect(egressProblem(new URL('http://app.localhost/x'))).toBeUndefined();
    expect(egressProblem(new URL('http://keycloak:8080/x'), ['keycloak:8080'])).toBeUndefined();
    expect(egressProblem(new URL('http://keycloak:8080/x'))).toBe('http://keycloak:8080 is not https (plain http is allowed for local names only)');
    expect(egressProblem(new URL('ftp://as.example/x'))).toBe('the scheme ftp: is not https');
  });
});

describe('EgressPolicy.check (resolving names)', () => {
  const resolving = (addresses: string[]) => new EgressPolicy({ resolveHostname: async () => addresses });
  it('refuses a name that resolves to a private address, accepts a public one (and names the addresses it checked, to connect to)', async () => {
    await expect(resolving(['10.0.0.5']).check(new URL('https://internal.example/x'))).rejects.toMatchObject({ code: 'egress_denied' });
    await expect(resolving(['8.8.8.8', '::1']).check(new URL('https://mixed.example/x'))).rejects.toMatchObject({ code: 'egress_denied' });
    await expect(resolving(['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c']).check(new URL('https://public.example/x'))).resolves.toEqual([
      '93.184.215.14',
      '2606:2800:21f:cb07:6820:80da:af6b:8b2c',
    ]);
  });
  it('an unresolvable name is the failure code, a refusal the denied code', async () => {
    const codes = { failureCode: 'auth_server_discovery_failed', deniedCode: 'auth_server_error' } as const;
    const none = new EgressPolicy({ ...codes, resolveHostname: async () => [] });
    await expect(none.check(new URL('https://nowhere.example/x'))).rejects.toMatchObject({ code: 'auth_server_discovery_failed', message: 'Cannot resolve nowhere.example' });
    const priv = new EgressPolicy({ ...codes, resolveHostname: async () => ['192.168.1.1'] });
    await expect(priv.check(new URL('https://lan.example/x'))).rejects.toMatchObject({ code: 'auth_server_error' });
  });
  it('allowPrivateAddresses and local names skip resolving (no addresses to pin)', async () => {
    const never = async (): Promise<string[]> => {
      throw new Error('must not resolve');
    };
    await expect(new EgressPolicy({ allowPrivateAddresses: true, resolveHostname: never }).check(new URL('https://10.0.0.1/x'))).resolves.toBeUndefined();
    await expect(new EgressPolicy({ resolveHostname: never }).check(new URL('http://localhost:1/x'))).resolves.toBeUndefined();
  });
});
