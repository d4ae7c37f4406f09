import { type AgentEvent, createAgent, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, signRequest, type SigningKey } from '@aauth-kit/core';
import { describe, expect, it, vi } from 'vitest';
import { decideOverHttp, signedFetch, type TestAuthServer } from './fixtures/auth-server.js';
import { usePersonServerWorld11 } from './fixtures/person-server-world-11.js';

// AAuth -11 "Cancel Request": the agent that asked withdraws its pending request with a signed
// DELETE of the pending URL. The person server answers 204, tells the person on the consent page,
// and answers later requests to the URL with 410; the kit's agent sends the DELETE when its call
// gives up while the person server holds the request (aborted, interaction deadline passed).
// Real loopback HTTP: the embedded auth server, an agent provider, a -11 kit resource.

let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let site: string;
usePersonServerWorld11('cancel', (w) => ({ as, ps, provider, site } = w));

/** A person token request that waits for the person: its pending URL, interaction code, and the agent's signing material. */
async function waitingRequest(local: string): Promise<{ key: SigningKey; signatureKey: { scheme: 'jwt'; jwt: string }; location: string; code: string }> {
  const key = generateKey({ kid: `${local}-key` });
  const signatureKey = { scheme: 'jwt' as const, jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) };
  const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction'] } });
  expect(post.status).toBe(202);
  const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
  return { key, signatureKey, location: post.headers.get('location')!, code };
}

/** What the consent page shows the person who opens it with a code. */
async function consentPage(code: string): Promise<{ status: number; text: string }> {
  const page = await fetch(`${as.interactionEndpoint}?${new URLSearchParams({ code })}`);
  return { status: page.status, text: await page.text() };
}

describe('DELETE of the pending URL at the person server (AAuth -11 "Cancel Request")', () => {
  it('the agent that asked withdraws it: 204; the consent page says so; the next poll and DELETE are 410', async () => {
    const { key, signatureKey, location, code } = await waitingRequest('canceller');
    const withdrawn = await signedFetch(location, { key, signatureKey, method: 'DELETE' });
    expect(withdrawn.status).toBe(204);
    expect(withdrawn.headers.get('cache-control')).toBe('no-store');
    const page = await consentPage(code);
    expect(page.status).toBe(410);
    expect(page.text).toContain('The agent withdrew this request');
    // Nothing to sign in to: the page has no form.
    expect(page.text).not.toContain('<form');
    const poll = await signedFetch(location, { key, signatureKey });
    expect(poll.status).toBe(410);
    expect(poll.headers.get('content-type')).toBe('application/problem+json');
    expect(poll.body).toMatchObject({ error: 'invalid_code' });
    expect(String(poll.body.detail)).toContain('withdrawn by its agent');
    expect((await signedFetch(location, { key, signatureKey, method: 'DELETE' })).status).toBe(410);
    const event = as.audit.find((e) => e.type === 'request.withdrawn');
    expect(event).toMatchObject({ endpoint: 'pending', resource: site });
    expect(JSON.stringify(event)).not.toContain(location);
  });

  it('another key cannot withdraw it (410, the request stays pending); an unsigned or replayed DELETE is 401', async () => {
    const { key, signatureKey, location } = await waitingRequest('owner');
    const thief = generateKey({ kid: 'thief-cancel' });
    const stolen = await signedFetch(location, { key: thief, signatureKey: { scheme: 'jwt', jwt: await provider.mintAgentToken({ local: 'thief', agentKey: thief, ps }) }, method: 'DELETE' });
    expect(stolen.status).toBe(410);
    expect(stolen.body).toMatchObject({ error: 'invalid_code' });
    const unsigned = await fetch(location, { method: 'DELETE' });
    expect(unsigned.status).toBe(401);
    expect(unsigned.headers.get('signature-error')).toBe('error=invalid_signature');
    // The rightful agent's poll: still pending.
    expect((await signedFetch(location, { key, signatureKey })).status).toBe(202);
    // Its DELETE, sent twice with one signature: the copy is refused as a replay.
    const headers = signRequest({ method: 'DELETE', url: location, headers: {} }, { key, signatureKey, nonce: true }).headers;
    expect((await fetch(location, { method: 'DELETE', headers })).status).toBe(204);
    const replayed = await fetch(location, { method: 'DELETE', headers });
    expect(replayed.status).toBe(401);
    expect(replayed.headers.get('signature-error')).toMatch(/^error=/);
  });

  it('a request the person already approved but the agent did not collect: dropped unissued (204, then 410)', async () => {
    const { key, signatureKey, location, code } = await waitingRequest('late-canceller');
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    expect((await signedFetch(location, { key, signatureKey, method: 'DELETE' })).status).toBe(204);
    const poll = await signedFetch(location, { key, signatureKey });
    expect(poll.status).toBe(410);
    expect(poll.body).not.toHaveProperty('person_token');
  });

  it('other methods: 405 naming GET, POST and DELETE', async () => {
    const { key, signatureKey, location } = await waitingRequest('poster');
    const post = await signedFetch(location, { key, signatureKey, method: 'PUT', json: { action: 'clarification_response' } });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, POST, DELETE');
  });

  it('a POST to the pending URL ("Agent Response to Clarification"): no or an unknown action is 400 naming the two; an answer when no clarification is open is 400 saying so; the request stays pending; another key\'s POST is 410', async () => {
    const { key, signatureKey, location } = await waitingRequest('answerer');
    const cases: Array<[unknown, string]> = [
      [{}, 'A POST to a pending URL needs "action": "clarification_response" or "updated_request" (got none); to withdraw the request, DELETE the pending URL'],
      [{ action: 'approve' }, 'A POST to a pending URL needs "action": "clarification_response" or "updated_request" (got "approve"); to withdraw the request, DELETE the pending URL'],
      [{ action: 'clarification_response', clarification_response: 'Because.' }, 'No clarification is open for this request (none was asked, or its answer came already): there is nothing to answer with clarification_response; poll the pending URL with GET, or DELETE it to withdraw the request'],
      [{ action: 'updated_request', resource_token: 'x' }, 'No clarification is open for this request (none was asked, or its answer came already): there is nothing to answer with updated_request; poll the pending URL with GET, or DELETE it to withdraw the request'],
    ];
    for (const [json, detail] of cases) {
      const res = await signedFetch(location, { key, signatureKey, method: 'POST', json });
      expect([res.status, res.body.error, res.body.detail], JSON.stringify(json)).toEqual([400, 'invalid_request', detail]);
    }
    // Not JSON: 400 too, never a 500.
    const notJson = await signedFetch(location, { key, signatureKey, method: 'POST', body: 'not json', contentType: 'application/json' });
    expect([notJson.status, notJson.body.error]).toEqual([400, 'invalid_request']);
    // Still waiting for the person.
    expect((await signedFetch(location, { key, signatureKey })).status).toBe(202);
    // Another agent key: the pending URL is not its own.
    const otherKey = generateKey({ kid: 'stranger-key' });
    const otherSignatureKey = { scheme: 'jwt' as const, jwt: await provider.mintAgentToken({ local: 'stranger', agentKey: otherKey, ps }) };
    const stranger = await signedFetch(location, { key: otherKey, signatureKey: otherSignatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'x' } });
    expect([stranger.status, stranger.body.error]).toEqual([410, 'invalid_code']);
  });
});

describe("the kit's agent withdraws a request it gives up on", () => {
  function agentWith(local: string, options: { onInteraction: (code: string) => Promise<void>; interactionTimeoutMs?: number }) {
    const events: AgentEvent[] = [];
    const codes: string[] = [];
    const agent = createAgent({
      key: generateKey({ kid: `${local}-key` }),
      draft11: { provider, local, ps, allowLoopback: true },
      sleep: async () => undefined,
      onEvent: (e) => events.push(e),
      ...(options.interactionTimeoutMs === undefined ? {} : { interactionTimeoutMs: options.interactionTimeoutMs }),
      onInteraction: async ({ url }) => {
        const code = new URL(url).searchParams.get('code')!;
        codes.push(code);
        await options.onInteraction(code);
      },
    });
    return { agent, events, codes };
  }

  it('the caller aborts while the person has not answered: the call rejects with the abort reason, and the person server is told (DELETE, 204)', async () => {
    const controller = new AbortController();
    const flow = agentWith('aborter', { onInteraction: async () => controller.abort(new Error('the user closed the tab')) });
    await expect(flow.agent.fetch(`${site}/data`, { signal: controller.signal })).rejects.toThrow('the user closed the tab');
    await vi.waitFor(() => expect(flow.events.find((e) => e.type === 'withdrawn')).toMatchObject({ type: 'withdrawn', authServer: ps, status: 204 }), { timeout: 5000 });
    const page = await consentPage(flow.codes[0]!);
    expect(page.status).toBe(410);
    expect(page.text).toContain('The agent withdrew this request');
  });

  it('the interaction deadline passes: interaction_timeout, and the request is withdrawn', async () => {
    const flow = agentWith('impatient', { interactionTimeoutMs: 1, onInteraction: async () => new Promise((resolve) => setTimeout(resolve, 20)) });
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_timeout' });
    // Its polls were never held past the deadline: no Prefer: wait in the deadline's last second.
    await vi.waitFor(() => expect(flow.events.find((e) => e.type === 'withdrawn')).toMatchObject({ status: 204 }), { timeout: 5000 });
    expect((await consentPage(flow.codes[0]!)).status).toBe(410);
  });

  it('a request the person server ended (denied) is not withdrawn: no DELETE', async () => {
    const flow = agentWith('refused', { onInteraction: async (code) => void (await decideOverHttp(as.interactionEndpoint, code, 'deny')) });
    await expect(flow.agent.fetch(`${site}/data`)).rejects.toMatchObject({ code: 'interaction_denied' });
    // Settle any DELETE the agent would have sent (it is sent at once, before the call rejects).
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(flow.events.filter((e) => e.type === 'withdrawn')).toEqual([]);
  });
});
