import { describe, expect, it } from 'vitest';
import { isPrivateAddress } from '@aauth-kit/verifier';
import { EgressPolicy } from '../src/lib/egress.js';

describe('isPrivateAddress', () => {
  const privateOnes = ['10.0.0.1', '127.0.0.1', '127.255.0.1', '169.254.169.254', '172.16.0.1', '172.31.255.255', '192.168.0.1', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255', '::1', '::', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', '[::1]', 'not-an-ip'];
  const publicOnes = ['8.8.8.8', '93.184.215.14', '172.32.0.1', '11.0.0.1', '2606:4700:4700::1111', '::ffff:8.8.8.8'];
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
