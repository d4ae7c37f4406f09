import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseAgentIdentifier } from '@aauth-kit/core';
import { serverIdentifierProblem } from '@aauth-kit/core/internal';

const RUNS = { numRuns: 300, seed: 20261130 } as const;

describe('serverIdentifierProblem (draft-11 profile section 2, AAuth -11 "Server Identifiers")', () => {
  it('https and a bare lower-case host only', () => {
    for (const ok of ['https://agent.example', 'https://xn--nxasmq6b.example', 'https://localhost', 'https://a-b.c1.example']) {
      expect(serverIdentifierProblem(ok), ok).toBeUndefined();
    }
    const cases: Array<[string, RegExp]> = [
      ['http://agent.example', /https/],
      ['https://Agent.Example', /lower case/],
      ['https://agent.example:8443', /port/],
      ['https://agent.example/v1', /path/],
      ['https://agent.example/', /slash/],
      ['https://agent.example?x=1', /query/],
      ['https://agent.example#f', /fragment/],
      ['https://user@agent.example', /credentials/],
      ['https://', /host/],
      ['agent.example', /absolute/],
      ['https://-a.example', /A-labels/],
      ['https://a..example', /A-labels/],
      ['https://bücher.example', /A-labels/],
    ];
    for (const [bad, why] of cases) expect(serverIdentifierProblem(bad), bad).toMatch(why);
    expect(serverIdentifierProblem(42)).toMatch(/string/);
  });

  it('the loopback relaxation is explicit: http or a port, on loopback hosts only', () => {
    for (const dev of ['http://localhost:3000', 'http://127.0.0.1:8080', 'https://localhost:8443', 'http://[::1]:9000', 'http://agent.localhost:3000', 'http://localhost']) {
      expect(serverIdentifierProblem(dev), dev).toBeDefined();
      expect(serverIdentifierProblem(dev, { allowLoopback: true }), dev).toBeUndefined();
    }
    for (const still of ['http://agent.example:3000', 'http://localhost:3000/', 'http://localhost:3000/x', 'http://localhost:0', 'http://localhost:70000', 'http://user@localhost:3000']) {
      expect(serverIdentifierProblem(still, { allowLoopback: true }), still).toBeDefined();
    }
  });

  it('names the real problem of a loopback identifier (before: "must use https" for a path or a trailing slash)', () => {
    const loop = { allowLoopback: true };
    expect(serverIdentifierProblem('http://localhost:8080/realms/aauth-test', loop)).toBe('must not have a path');
    expect(serverIdentifierProblem('http://localhost:8080/', loop)).toBe('must not end with a slash');
    expect(serverIdentifierProblem('http://localhost:8080?x=1', loop)).toBe('must not have a query or fragment');
    expect(serverIdentifierProblem('http://localhost:3000')).toBe('must use https (http only for a loopback host, with allowLoopback, in development)');
    expect(serverIdentifierProblem('http://agent.example')).toBe('must use https');
  });
});

describe('parseAgentIdentifier (AAuth -11 "Agent Identifiers")', () => {
  it('splits local, name, discriminator and domain', () => {
    expect(parseAgentIdentifier('aauth:planner.7f3c+search1@vendor.example')).toEqual({
      id: 'aauth:planner.7f3c+search1@vendor.example',
      local: 'planner.7f3c+search1',
      name: 'planner.7f3c',
      discriminator: 'search1',
      domain: 'vendor.example',
    });
    expect(parseAgentIdentifier('aauth:assistant-v2@agent.example')).toEqual({ id: 'aauth:assistant-v2@agent.example', local: 'assistant-v2', name: 'assistant-v2', domain: 'agent.example' });
  });

  it('upper case in the local part: accepted by default (Go reference, profile), refused when strict (the -11 text)', () => {
    expect(parseAgentIdentifier('aauth:Agent@agent.example')?.name).toBe('Agent');
    expect(parseAgentIdentifier('aauth:Agent@agent.example', { strict: true })).toBeUndefined();
    expect(parseAgentIdentifier('aauth:agent@agent.example', { strict: true })?.name).toBe('agent');
  });

  it('refuses everything else', () => {
    for (const bad of [
      'aauth:@agent.example',
      'aauth:a b@agent.example',
      'aauth:a@b@agent.example',
      'aauth:a+b+c@agent.example',
      'aauth:+w@agent.example',
      'aauth:w+@agent.example',
      `aauth:${'a'.repeat(256)}@agent.example`,
      'aauth:agent@Agent.Example',
      'aauth:agent@agent.example:8443',
      'aauth:agent@',
      'agent@agent.example',
      'aauth:agent@localhost:3000',
      42,
    ]) {
      expect(parseAgentIdentifier(bad), String(bad)).toBeUndefined();
    }
    expect(parseAgentIdentifier('aauth:agent@localhost:3000', { allowLoopback: true })?.domain).toBe('localhost:3000');
  });

  it('property: never throws; what parses reassembles to the input', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((s) => `aauth:${s}`), fc.tuple(fc.string(), fc.domain()).map(([l, d]) => `aauth:${l}@${d}`)), (s) => {
        const id = parseAgentIdentifier(s);
        if (id) expect(`aauth:${id.local}@${id.domain}`).toBe(s);
      }),
      RUNS,
    );
    fc.assert(fc.property(fc.string(), (s) => serverIdentifierProblem(s) === undefined || typeof serverIdentifierProblem(s) === 'string'), RUNS);
  });
});
