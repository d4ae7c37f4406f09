import { generateKey } from '@aauth-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createAgent, wrapFetch, type AgentFetch } from '../src/index.js';
import { scenario, type Scenario } from './fixtures/scenario.js';

const open: Scenario[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

describe('wrapFetch', () => {
  it('wraps any fetch with an existing agent, sharing its token cache', async () => {
    const s = await scenario();
    open.push(s);
    const seen: string[] = [];
    const inner: typeof fetch = (input, init) => {
      seen.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    };
    const wrapped = wrapFetch(inner, s.hosted.agent);
    expect((await wrapped(`${s.resource.url}/data`)).status).toBe(200);
    // Every hop went through the wrapped transport, the token request too.
    expect(seen.some((u) => u.endsWith('/protocol/aauth/token'))).toBe(true);
    expect(seen.filter((u) => u.startsWith(s.resource.url))).toHaveLength(2);
    // The agent's own fetch now finds the token in the shared cache.
    expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(1);
    expect(s.resource.calls.at(-1)!.scheme).toBe('jwt');
  });

  it('creates an agent from options', async () => {
    const s = await scenario();
    open.push(s);
    const key = generateKey();
    const wrapped = wrapFetch(fetch, { key, authServer: s.as.issuer });
    expect((await wrapped(`${s.resource.url}/data`)).status).toBe(200);
    expect(s.as.tokenRequests[0]!.signer).toBe(`pseudonymous:${key.thumbprint}`);
  });

  it("takes agent.fetch's per-call options, typed (before, its type was fetch's: upstreamToken and the rest did not compile)", async () => {
    const s = await scenario();
    open.push(s);
    const wrapped: AgentFetch = wrapFetch(fetch, s.hosted.agent);
    // Still usable wherever a fetch is expected.
    const asFetch: typeof fetch = wrapped;
    expect(typeof asFetch).toBe('function');
    const before = s.resource.calls.length;
    expect((await wrapped(`${s.resource.url}/data`, { signatureScheme: 'hwk' })).status).toBe(200);
    // The per-call option reached the signer: the first request went out under hwk, not the agent's jwks_uri.
    expect(s.resource.calls[before]!.scheme).toBe('hwk');
  });

  it('refuses a non-function fetch', () => {
    expect(() => wrapFetch(undefined as unknown as typeof fetch, createAgent({ key: generateKey() }))).toThrow(TypeError);
  });
});
