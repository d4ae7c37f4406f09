import { describe, expect, it } from 'vitest';
import { assertIdentityUrl, identityUrlProblem, isLocalHostname } from '@aauth-kit/core/internal';

describe('isLocalHostname (wire profile section 1)', () => {
  it('accepts the local names', () => {
    for (const h of ['localhost', 'LOCALHOST', '127.0.0.1', '[::1]', '::1', 'supply-chain-agent.localhost', 'a.b.localhost']) {
      expect(isLocalHostname(h), h).toBe(true);
    }
  });

  it('refuses look-alikes', () => {
    for (const h of ['localhost.example.com', 'mylocalhost', '127.0.0.2', 'example.com', '10.0.0.1', 'localhost.']) {
      expect(isLocalHostname(h), h).toBe(false);
    }
  });
});

describe('identityUrlProblem', () => {
  it('accepts https anywhere and http for local names, byte for byte without a trailing slash', () => {
    for (const url of [
      'https://agent.example',
      'https://agent.example/agents/a1',
      'http://localhost:3000',
      'http://127.0.0.1:8080/realms/aauth-test',
      'http://[::1]:3000',
      'http://supply-chain-agent.localhost:3000',
    ]) {
      expect(identityUrlProblem(url), url).toBeUndefined();
    }
  });

  it('explains what is wrong', () => {
    expect(identityUrlProblem(undefined)).toMatch(/non-empty string/);
    expect(identityUrlProblem('')).toMatch(/non-empty string/);
    expect(identityUrlProblem('agent.example')).toMatch(/absolute URL/);
    expect(identityUrlProblem('ftp://agent.example')).toMatch(/https/);
    expect(identityUrlProblem('http://agent.example')).toMatch(/https unless/);
    expect(identityUrlProblem('https://user:pw@agent.example')).toMatch(/credentials/);
    expect(identityUrlProblem('https://agent.example?x=1')).toMatch(/query/);
    expect(identityUrlProblem('https://agent.example#f')).toMatch(/fragment/);
    expect(identityUrlProblem('https://agent.example/?')).toMatch(/query/);
    expect(identityUrlProblem('https://agent.example/')).toMatch(/slash/);
    expect(identityUrlProblem('http://localhost:3000/')).toMatch(/slash/);
  });
});

describe('assertIdentityUrl', () => {
  it('throws a TypeError naming the option path', () => {
    expect(() => assertIdentityUrl('http://agent.example', 'options.authServer.issuer')).toThrow(TypeError);
    expect(() => assertIdentityUrl('http://agent.example', 'options.authServer.issuer')).toThrow(/^options\.authServer\.issuer must use https/);
    expect(() => assertIdentityUrl('https://agent.example', 'options.id')).not.toThrow();
  });
});
