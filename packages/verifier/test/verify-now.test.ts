import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createMemoryReplayStore, createVerifier, verifyNow, type VerifiedRequest, type Verifier } from '@aauth-kit/verifier';
import { closer, sign, startAgent } from './helpers.js';

const RESOURCE = 'http://localhost:4000';
const servers = closer();
let agent: Awaited<ReturnType<typeof startAgent>>;

beforeAll(async () => {
  agent = servers.track(await startAgent());
});
afterAll(() => servers.closeAll());

const get = (path = '/data') => ({ method: 'GET', url: `${RESOURCE}${path}`, headers: {} as Record<string, string> });
const post = (path = '/data') => ({ method: 'POST', url: `${RESOURCE}${path}`, headers: { 'content-type': 'application/json' }, body: '{"n":1}' });
const isPromise = (value: unknown): value is Promise<unknown> => value instanceof Promise;

describe('verifyNow (issue 18): the verification without a promise when no step waits', () => {
  it('answers a warm jwks_uri request synchronously, with what verify answers', async () => {
    const v = createVerifier({ identity: RESOURCE });
    const signedBy = { scheme: 'jwks_uri' as const, id: agent.id, kid: 'agent-1' };
    // Cold: the key is discovered first, so a promise.
    const cold = verifyNow(v, sign(get(), agent.key, signedBy));
    expect(isPromise(cold)).toBe(true);
    await cold;
    const request = sign(get('/x'), agent.key, signedBy);
    const warm = verifyNow(v, request);
    expect(isPromise(warm)).toBe(false);
    const viaVerify = await v.verify(request);
    expect(warm).toMatchObject({ scheme: 'jwks_uri', generation: viaVerify.generation, agent: agent.id, thumbprint: agent.key.thumbprint });
  });

  it('answers hwk synchronously, and a request with a replay check to make by a promise', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE, replay: { store: createMemoryReplayStore() } });
    const hwk = verifyNow(v, sign(get(), key));
    expect(isPromise(hwk)).toBe(false);
    expect((hwk as VerifiedRequest).agent).toBe(`pseudonymous:${key.thumbprint}`);
    const request = sign(post(), key, undefined, { nonce: true });
    const first = verifyNow(v, request);
    expect(isPromise(first)).toBe(true);
    await first;
    // The same request again is still refused as a replay.
    const again = verifyNow(v, request);
    expect(isPromise(again)).toBe(true);
    await expect(again).rejects.toMatchObject({ code: 'signature_replayed' });
  });

  it('throws a refusal found before any wait; verify rejects with the same', async () => {
    const key = generateKey();
    const v = createVerifier({ identity: RESOURCE });
    const request = sign(get(), key);
    request.headers.signature = request.headers.signature!.replace(/:[^:]+:/, ':AAAA:');
    let thrown: unknown;
    try {
      verifyNow(v, request);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(AAuthError);
    await expect(v.verify(request)).rejects.toMatchObject({ code: (thrown as AAuthError).code });
    expect(() => verifyNow(v, { method: 'GET', url: `${RESOURCE}/data`, headers: {} })).toThrow(expect.objectContaining({ code: 'signature_missing' }));
  });

  it('answers through verify for a verifier it did not make', async () => {
    const answer = { scheme: 'hwk' } as unknown as VerifiedRequest;
    const foreign = { verify: async () => answer } as unknown as Verifier;
    await expect(verifyNow(foreign, get())).resolves.toBe(answer);
  });
});
