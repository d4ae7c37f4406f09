import { AAuthError } from '@aauth-kit/core';
import { createMemoryPendingStore, type PendingStore } from '@aauth-kit/auth-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedFetch, signInForConsent, startAuthServer, startParty, type Party, type TestAuthServer } from './fixtures/auth-server.js';

// The consent page when the shared store is in trouble (Redis audit, finding F4): a decision whose
// store answered too late may still be recorded, and the page says so and what to do; a second
// decision on a request already decided names what was decided.

let as: TestAuthServer;
let backend: Party;
let sca: Party;
/** When set, the next decide is recorded by the store but answered as a timeout (Redis ran it late). */
let lateAnswer = false;

beforeAll(async () => {
  const memory = createMemoryPendingStore();
  const store: PendingStore = {
    ...memory,
    put: (r) => memory.put(r),
    get: (id) => memory.get(id),
    getByCode: (code) => memory.getByCode(code),
    take: (id) => memory.take(id),
    async decide(id, decision) {
      const decided = await memory.decide(id, decision);
      if (lateAnswer) {
        lateAnswer = false;
        throw new AAuthError('store_unavailable', 'The shared state store did not answer within 500 ms', { headers: { 'Retry-After': '1' } });
      }
      return decided;
    },
  };
  as = await startAuthServer({ pendingStore: store });
  backend = await startParty('backend');
  sca = await startParty('sca');
});
afterAll(async () => {
  await Promise.all([as, backend, sca].map((s) => s?.close()));
});

/** A signed-in consent page for `code` (its cookies and CSRF field), not yet answered. */
const signedInPage = (code: string) => signInForConsent(as.interactionEndpoint, code);

function decide(code: string, page: { cookies: string; csrf: string }, decision: 'approve' | 'deny'): Promise<Response> {
  return fetch(`${as.interactionEndpoint}/decision`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: page.cookies },
    body: new URLSearchParams({ code, csrf: page.csrf, decision }).toString(),
  });
}

async function pendingCode(): Promise<{ code: string; location: string }> {
  const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope: 'supply-chain:optimize', audience: as.issuer });
  const pending = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
  expect(pending.status).toBe(202);
  return { code: String(pending.body.code), location: String(pending.body.location) };
}

describe('the consent page when the store answers late or the request was decided elsewhere', () => {
  it('a decision the store answered too late: 503 saying it may be recorded and to reload; the reloaded page shows the outcome', async () => {
    const { code, location } = await pendingCode();
    const page = await signedInPage(code);
    lateAnswer = true;
    const res = await decide(code, page, 'approve');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    const html = await res.text();
    expect(html).toContain('Temporarily unavailable');
    expect(html).toContain('it may still record it. Reload this page in a moment');
    // It was recorded: the reloaded page says the request is decided, and the agent gets its token.
    const reloaded = await fetch(`${as.interactionEndpoint}?code=${code}`, { headers: { cookie: page.cookies } });
    expect(reloaded.status).toBe(409);
    const delivered = await signedFetch(location, { key: backend.key, signatureKey: backend.signatureKey });
    expect(delivered.status).toBe(200);
  });

  it('two open pages: the second decision is refused naming the first (approved, or denied)', async () => {
    for (const [first, second, named] of [['approve', 'deny', 'was already approved'], ['deny', 'approve', 'was already denied']] as const) {
      const { code } = await pendingCode();
      const one = await signedInPage(code);
      const two = await signedInPage(code);
      expect((await decide(code, one, first)).status).toBe(200);
      const res = await decide(code, two, second);
      expect(res.status).toBe(409);
      expect(await res.text()).toContain(`This request ${named}.`);
    }
  });
});
