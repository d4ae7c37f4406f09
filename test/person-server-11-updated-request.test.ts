import type { AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11, type SigningKey } from '@aauth-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, signedFetch, signInForConsent, type TestAuthServer } from './fixtures/auth-server.js';
import { startPersonServerWorld11 } from './fixtures/person-server-world-11.js';

// AAuth -11 "Updated Request": the person, deciding on an auth token request, asks the agent a
// question; the agent answers it with a new resource token for less (a POST of updated_request to
// the pending URL). The person server checks the token as it checked the first (same resource,
// same person token, the agent's key, single use), replaces the request, shows the change on the
// consent page, and the person's approval issues the updated request. Real loopback HTTP: the
// embedded auth server, an agent provider, a -11 kit resource whose key mints the resource tokens.

const open: Array<{ close(): Promise<void> }> = [];
const siteKey = generateKey({ kid: 'updated-site' });
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let site: string;

beforeAll(async () => {
  ({ as, ps, provider, site } = await startPersonServerWorld11('updated', (o) => open.push(o), {}, { key: siteKey, scopes: { 'user.read': 'Read your profile', 'user.write': 'Change your profile' }, routes: { '/me': 'user.read' } }));
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

/** An agent with a person token for the site (the person consented once), and a way to mint it resource tokens. */
async function agentWithPersonToken(local: string) {
  const key = generateKey({ kid: `${local}-key` }) as SigningKey;
  const signatureKey = { scheme: 'jwt' as const, jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) };
  const asked = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction'] } });
  expect(asked.status).toBe(202);
  const code = /code="([^"]+)"/.exec(asked.headers.get('aauth-requirement')!)![1]!;
  expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
  const issued = await signedFetch(asked.headers.get('location')!, { key, signatureKey });
  expect(issued.status).toBe(200);
  const personToken = String(issued.body.person_token);
  const person = decodeJwt(personToken).claims;
  const resourceToken = (scope: string, over: { key?: SigningKey; issuer?: string; presentedJti?: string } = {}) =>
    mintResourceToken11(over.key ?? siteKey, { issuer: over.issuer ?? site, audience: ps, ps, sub: String(person.sub), presentedJti: over.presentedJti ?? String(person.jti), agentJkt: key.thumbprint, scope, allowLoopback: true });
  return { key, signatureKey, personToken, resourceToken };
}

describe('an auth token request updated in answer to the person\'s question (AAuth -11 "Updated Request")', () => {
  it('the agent asks for less with a new resource token: the page shows the change, the approval issues the updated scope; audited', async () => {
    const { key, signatureKey, personToken, resourceToken } = await agentWithPersonToken('updater');
    const asked = await signedFetch(`${ps}/aauth/person/auth-token`, {
      key,
      signatureKey,
      json: { resource_token: await resourceToken('user.read user.write'), presented_token: personToken, capabilities: ['interaction', 'clarification'], justification: 'To sync your profile.' },
    });
    expect(asked.status).toBe(202);
    const code = /code="([^"]+)"/.exec(asked.headers.get('aauth-requirement')!)![1]!;
    const location = asked.headers.get('location')!;
    const post = (json: Record<string, unknown>) => signedFetch(location, { key, signatureKey, method: 'POST', json });

    // Before any question: nothing to answer, an update included.
    const early = await post({ action: 'updated_request', resource_token: await resourceToken('user.read') });
    expect([early.status, early.body.error]).toEqual([400, 'invalid_request']);
    expect(String(early.body.detail)).toContain('No clarification is open');

    const { cookies, csrf, consentHtml } = await signInForConsent(as.interactionEndpoint, code);
    expect(consentHtml).toContain('user.write');
    const form = (fields: Record<string, string>) =>
      fetch(`${as.interactionEndpoint}/decision`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies }, body: new URLSearchParams({ code, csrf, ...fields }).toString() });
    const page = async () => (await fetch(`${as.interactionEndpoint}?${new URLSearchParams({ code })}`, { headers: { cookie: cookies } })).text();
    expect((await form({ decision: 'ask', question: 'Why do you need to change my profile?' })).status).toBe(303);
    const poll = await signedFetch(location, { key, signatureKey });
    expect(poll.headers.get('aauth-requirement')).toBe('requirement=clarification');

    // Refused updates leave the request and the question as they were.
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ action: 'updated_request' }, 'An updated_request needs resource_token'],
      [{ action: 'updated_request', resource_token: await resourceToken('user.read', { key: generateKey({ kid: 'forger' }) }) }, 'resource_token refused'],
      [{ action: 'updated_request', resource_token: await resourceToken('user.read', { presentedJti: 'another-person-token' }) }, 'the same person token'],
      [{ action: 'updated_request', resource_token: await resourceToken('user.read'), justification: 7 }, 'justification'],
    ];
    for (const [json, says] of refusals) {
      const refused = await post(json);
      expect(refused.status, says).toBe(400);
      expect(String(refused.body.detail)).toContain(says);
    }
    expect(await page()).toContain("Waiting for the agent's answer.");

    const smaller = await resourceToken('user.read');
    const updated = await post({ action: 'updated_request', resource_token: smaller, justification: 'Fair: reading is enough.' });
    expect(updated.status).toBe(204);
    // The same token again: no question is open any more (and it was redeemed).
    expect((await post({ action: 'updated_request', resource_token: smaller })).status).toBe(400);

    const shown = await page();
    expect(shown).toContain('<p class="said-by" id="chat-update-1">The agent changed its request: it now asks for user.read');
    expect(shown).toContain('<blockquote id="chat-answer-1">Fair: reading is enough.</blockquote>');
    expect(shown).not.toContain('user.write');
    const pending = await signedFetch(location, { key, signatureKey });
    expect([pending.status, pending.body]).toEqual([202, { status: 'pending' }]);

    expect((await form({ decision: 'approve' })).status).toBe(200);
    const issued = await signedFetch(location, { key, signatureKey });
    expect(issued.status).toBe(200);
    expect(decodeJwt(String(issued.body.auth_token)).claims).toMatchObject({ iss: ps, aud: site, scope: 'user.read' });
    const event = as.audit.find((e) => e.type === 'request.updated');
    expect(event).toMatchObject({ endpoint: 'pending', resource: site, scope: 'user.read' });
    expect(JSON.stringify(event)).not.toContain(smaller);
  });

  it('a person token request has no resource token to update: 400, the question stays open', async () => {
    const key = generateKey({ kid: 'person-updater-key' }) as SigningKey;
    const signatureKey = { scheme: 'jwt' as const, jwt: await provider.mintAgentToken({ local: 'person-updater', agentKey: key, ps }) };
    const asked = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction', 'clarification'] } });
    const code = /code="([^"]+)"/.exec(asked.headers.get('aauth-requirement')!)![1]!;
    const { cookies, csrf } = await signInForConsent(as.interactionEndpoint, code);
    await fetch(`${as.interactionEndpoint}/decision`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies }, body: new URLSearchParams({ code, csrf, decision: 'ask', question: 'Who are you?' }).toString() });
    const location = asked.headers.get('location')!;
    const refused = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'updated_request', resource_token: 'x' } });
    expect([refused.status, refused.body.detail]).toEqual([400, 'Only an auth token request can be updated (it has a resource token to replace): answer with "action": "clarification_response", or DELETE the pending URL']);
    expect((await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'A bot.' } })).status).toBe(204);
  });
});
