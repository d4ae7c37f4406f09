import { computeThumbprint, generateKey } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';
import { deliveryProblem, type FederationRequest } from '../src/lib/access-server/federate.js';

// The person server's check of an access server's auth token before the agent sees it (AAuth -11
// "Auth Token Delivery"; AS-20, AS-21): each claim that is wrong is named.

const agent = generateKey({ kid: 'agent' });
const jwk = { ...(agent.jwk as unknown as Record<string, string>), alg: 'Ed25519' };
delete (jwk as Record<string, string>).kid;
const request: FederationRequest = {
  accessServer: 'https://as.example',
  resourceToken: 'rt',
  agentToken: 'at',
  resource: 'https://resource.example',
  sub: 'directed',
  scope: 'data.read data.write',
  agentJkt: computeThumbprint(jwk as never),
  expCap: 2_000_000_000,
};
const good = { iss: 'https://as.example', dwk: 'aauth-access.json', aud: 'https://resource.example', ps: 'https://ps.example', sub: 'directed', cnf: { jwk }, scope: 'data.read', exp: 1_900_000_000 };

describe('deliveryProblem', () => {
  it('accepts a token of the access server for this resource, person, key and a narrower scope', () => {
    expect(deliveryProblem(good, request, 'https://ps.example')).toBeUndefined();
    expect(deliveryProblem({ ...good, scope: undefined }, request, 'https://ps.example')).toBeUndefined();
  });

  it.each([
    [{ iss: 'https://other.example' }, /has iss/],
    [{ dwk: 'aauth-person.json' }, /dwk/],
    [{ aud: 'https://elsewhere.example' }, /has aud/],
    [{ ps: 'https://other-ps.example' }, /has ps/],
    [{ sub: 'someone-else' }, /another sub/],
    [{ cnf: { jwk: { ...jwk, x: generateKey().jwk.x } } }, /not bound/],
    [{ cnf: {} }, /not bound/],
    [{ scope: 'data.read admin' }, /grants admin, beyond/],
    [{ exp: 2_100_000_000 }, /outlives/],
  ] as const)('refuses %o', (change, why) => {
    expect(deliveryProblem({ ...good, ...change }, request, 'https://ps.example')).toMatch(why);
  });
});
