import { type Clarification, createAgent, type AgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import type { Browser } from 'playwright-core';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { launchChromium } from './fixtures/chromium.js';
import { signedFetch, signInForConsent, type TestAuthServer } from './fixtures/auth-server.js';
import { usePersonServerWorld11 } from './fixtures/person-server-world-11.js';

// AAuth -11 "Clarification Chat" at the kit's person server: the person, deciding on the consent
// page, asks the agent a question; the agent's next poll gets 202 requirement=clarification, it
// answers with a POST of clarification_response, and the page shows the answer (the agent's own
// words, as text) before the person approves or denies. With the kit's agent (onClarification) and
// by hand (signed requests), over real loopback HTTP: the embedded auth server, an agent provider,
// a -11 kit resource.

let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let site: string;
usePersonServerWorld11('clarify', (w) => ({ as, ps, provider, site } = w));

/** A signed-in person on the consent page of `code`: read the page, post a decision or a question. */
async function person(code: string) {
  const { cookies, consentHtml, csrf } = await signInForConsent(as.interactionEndpoint, code);
  const page = async (): Promise<string> => (await fetch(`${as.interactionEndpoint}?${new URLSearchParams({ code })}`, { headers: { cookie: cookies } })).text();
  const post = (fields: Record<string, string>): Promise<Response> =>
    fetch(`${as.interactionEndpoint}/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code, csrf, ...fields }).toString(),
    });
  return { first: consentHtml, page, post };
}

/** The kit's agent; its interaction codes arrive on `codes`. */
function agentWith(local: string, onClarification?: (c: Clarification) => string | Promise<string>) {
  const codes: string[] = [];
  let gotCode: (code: string) => void = () => undefined;
  const firstCode = new Promise<string>((resolve) => (gotCode = resolve));
  const agent = createAgent({
    key: generateKey({ kid: `${local}-key` }),
    draft11: { provider, local, ps, allowLoopback: true },
    sleep: async () => undefined,
    ...(onClarification ? { onClarification } : {}),
    onInteraction: ({ url }) => {
      const code = new URL(url).searchParams.get('code')!;
      codes.push(code);
      gotCode(code);
    },
  });
  return { agent, firstCode };
}

describe('the person asks the kit\'s agent a question on the consent page', () => {
  it('the agent answers (onClarification), the page shows the answer as text, the person approves: the call completes; audited', async () => {
    const questions: Clarification[] = [];
    const { agent, firstCode } = agentWith('explainer', (c) => {
      questions.push(c);
      return 'To compare <b>prices</b> & "stock" for your order.';
    });
    const call = agent.fetch(`${site}/data`);
    const p = await person(await firstCode);
    expect(p.first).toContain('id="ask-form"');
    const asked = await p.post({ decision: 'ask', question: 'Why do you need <market> data?' });
    expect(asked.status).toBe(303);
    // The agent's poll brings the question; its answer comes back to the page.
    await vi.waitFor(async () => expect(await p.page()).toContain('id="chat-answer-1"'), { timeout: 10_000, interval: 50 });
    const page = await p.page();
    expect(page).toContain('<span id="chat-question-1">Why do you need &lt;market&gt; data?</span>');
    expect(page).toContain('<blockquote id="chat-answer-1">To compare &lt;b&gt;prices&lt;/b&gt; &amp; &quot;stock&quot; for your order.</blockquote>');
    expect(page).toContain('The agent answers (its own words, not checked by this server)');
    expect(questions).toHaveLength(1);
    expect(questions[0]).toMatchObject({ question: 'Why do you need <market> data?', authServer: ps });
    expect(questions[0]!.timeout).toBeGreaterThan(0);
    expect((await p.post({ decision: 'approve' })).status).toBe(200);
    const res = await call;
    expect(res.status).toBe(200);
    const types = as.audit.map((e) => e.type);
    expect(types).toContain('clarification.asked');
    expect(types).toContain('clarification.answered');
    expect(as.audit.find((e) => e.type === 'clarification.asked')).toMatchObject({ endpoint: 'interact', username: 'mcp-user', resource: site });
    // Neither the question nor the answer is in the audit trail.
    expect(JSON.stringify(as.audit)).not.toContain('market&gt;');
    expect(JSON.stringify(as.audit)).not.toContain('compare');
  });

  it('the person approves while the agent is still answering: its late answer is refused, it polls on and gets the token (the approval is not withdrawn)', async () => {
    let asked: () => void = () => undefined;
    const questionCame = new Promise<void>((resolve) => (asked = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    const { agent, firstCode } = agentWith('late-answerer', async () => {
      asked();
      await released;
      return 'Too late, but here it is.';
    });
    const call = agent.fetch(`${site}/data`);
    const p = await person(await firstCode);
    expect((await p.post({ decision: 'ask', question: 'Why?' })).status).toBe(303);
    await questionCame;
    // The question still open, the person approves anyway; then the agent's answer arrives.
    expect((await p.post({ decision: 'approve' })).status).toBe(200);
    const before = as.audit.length;
    release();
    const res = await call;
    expect(res.status).toBe(200);
    const after = as.audit.slice(before).map((e) => e.type);
    expect(after).not.toContain('request.withdrawn');
    expect(after).toContain('token.issued');
  });

  it('an agent without the clarification capability: the page offers no question, and a posted one is refused', async () => {
    const { agent, firstCode } = agentWith('silent');
    const call = agent.fetch(`${site}/data`);
    const p = await person(await firstCode);
    expect(p.first).not.toContain('id="ask-form"');
    const refused = await p.post({ decision: 'ask', question: 'Why?' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('This request takes no (more) questions to the agent: approve or deny it.');
    expect((await p.post({ decision: 'deny' })).status).toBe(200);
    await expect(call).rejects.toMatchObject({ code: 'interaction_denied' });
  });
});

describe('in headless Chromium', () => {
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
  });

  it('the person types a question, sees that it waits, reloads to the answer, and approves', async () => {
    browser = await launchChromium();
    const { agent, firstCode } = agentWith('browser-asker', () => 'For your **order** <script>window.__pwned = 1</script>');
    const call = agent.fetch(`${site}/data`);
    const code = await firstCode;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${as.interactionEndpoint}?${new URLSearchParams({ code })}`);
      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'user123');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/protocol/aauth/interact')), page.click('#login')]);
      await page.fill('#question', 'What is it for?');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/protocol/aauth/interact')), page.click('#ask')]);
      expect(await page.locator('#chat-question-1').textContent()).toBe('What is it for?');
      await vi.waitFor(
        async () => {
          await page.reload();
          expect(await page.locator('#chat-answer-1').count()).toBe(1);
        },
        { timeout: 10_000, interval: 100 },
      );
      expect(await page.locator('#chat-answer-1').textContent()).toBe('For your **order** <script>window.__pwned = 1</script>');
      expect(await page.evaluate('typeof globalThis.__pwned')).toBe('undefined');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/decision')), page.click('#approve')]);
      expect(await page.locator('#message').textContent()).toBe('You approved the request. You can close this window.');
    } finally {
      await context.close();
    }
    expect((await call).status).toBe(200);
  });
});

describe('the wire, by hand: 202 requirement=clarification on the poll, the POST of the answer', () => {
  /** A person token request that declared both capabilities and waits for the person. */
  async function waiting(local: string) {
    const key = generateKey({ kid: `${local}-key` });
    const signatureKey = { scheme: 'jwt' as const, jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { key, signatureKey, json: { resource: site, capabilities: ['interaction', 'clarification'] } });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    return { key, signatureKey, location: post.headers.get('location')!, code };
  }

  it('the poll says the question (with the time left), one answer is taken, then the poll is pending again and the page shows it; one question open at a time', async () => {
    const { key, signatureKey, location, code } = await waiting('by-hand');
    const p = await person(code);
    expect((await p.post({ decision: 'ask', question: 'Which **market**?' })).status).toBe(303);
    // A second question while the first is open: refused, and the page has no form for it.
    const second = await p.post({ decision: 'ask', question: 'And?' });
    expect(second.status).toBe(400);
    expect(await second.text()).toContain('The agent has not answered your last question yet.');
    const waitingPage = await p.page();
    expect(waitingPage).toContain("Waiting for the agent's answer.");
    expect(waitingPage).not.toContain('id="ask-form"');

    const poll = await signedFetch(location, { key, signatureKey });
    expect(poll.status).toBe(202);
    expect(poll.headers.get('aauth-requirement')).toBe('requirement=clarification');
    expect(poll.headers.get('retry-after')).toBe('0');
    expect(poll.body).toMatchObject({ status: 'pending', clarification: 'Which **market**?' });
    expect(poll.body.timeout).toBeGreaterThan(0);

    const tooLong = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'x'.repeat(16_385) } });
    expect([tooLong.status, tooLong.body.detail]).toEqual([400, "clarification_response must be a non-empty string of at most 16384 characters (Markdown), the answer to the person's question"]);
    const updated = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'updated_request', resource_token: 'x' } });
    expect([updated.status, updated.body.detail]).toEqual([400, 'Only an auth token request can be updated (it has a resource token to replace): answer with "action": "clarification_response", or DELETE the pending URL']);
    const answered = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'The EU one.' } });
    expect(answered.status).toBe(204);
    const again = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'Twice.' } });
    expect([again.status, again.body.detail]).toEqual([
      400,
      'No clarification is open for this request (none was asked, or its answer came already): there is nothing to answer with clarification_response; poll the pending URL with GET, or DELETE it to withdraw the request',
    ]);
    const after = await signedFetch(location, { key, signatureKey });
    expect(after.status).toBe(202);
    expect(after.headers.get('aauth-requirement')).toBeNull();
    expect(after.body).toEqual({ status: 'pending' });
    const page = await p.page();
    expect(page).toContain('<blockquote id="chat-answer-1">The EU one.</blockquote>');
    // Asking again is offered once the answer is in.
    expect(page).toContain('id="ask-form"');
  });

  it("the agent's answer is shown sanitised as its justification is: no bidirectional, invisible or control characters, at most 200 lines", async () => {
    const { key, signatureKey, location, code } = await waiting('spoofer');
    const p = await person(code);
    expect((await p.post({ decision: 'ask', question: 'Which file?' })).status).toBe(303);
    expect((await signedFetch(location, { key, signatureKey })).body.clarification).toBe('Which file?');
    // Nothing visible: refused, the question stays open.
    const invisible = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: '\u200B\u202E\u0007' } });
    expect(invisible.status).toBe(400);
    const lines = Array.from({ length: 300 }, (_, i) => `line ${i + 1}`).join('\n');
    const answer = `invoice\u202Efdp.exe\u202C\u200B ok\u0000\u0007\u001b[31m red\r\n\n\n\nnext\n${lines}`;
    expect((await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: answer } })).status).toBe(204);
    const page = await p.page();
    const shown = /<blockquote id="chat-answer-1">([^<]*)<\/blockquote>/.exec(page)![1]!;
    expect(shown.startsWith('invoice fdp.exe ok [31m red\n\nnext\nline 1\nline 2\n')).toBe(true);
    expect(shown).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/);
    expect(shown.split('\n')).toHaveLength(200);
    expect(shown.endsWith('line 197…')).toBe(true);
  });

  it('a poll held with Prefer: wait returns as soon as the person asks', async () => {
    const { key, signatureKey, location, code } = await waiting('held');
    const p = await person(code);
    const held = signedFetch(location, { key, signatureKey, extraHeaders: { prefer: 'wait=20' } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await p.post({ decision: 'ask', question: 'Now?' })).status).toBe(303);
    const poll = await held;
    expect([poll.status, poll.headers.get('aauth-requirement'), poll.body.clarification]).toEqual([202, 'requirement=clarification', 'Now?']);
    // Polled again while that question stays open: held like a pending request (no tight loop for an
    // agent that does not answer), until the answer comes.
    const again = signedFetch(location, { key, signatureKey, extraHeaders: { prefer: 'wait=20' } });
    let settled = false;
    void again.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 600));
    expect(settled).toBe(false);
    const answered = await signedFetch(location, { key, signatureKey, method: 'POST', json: { action: 'clarification_response', clarification_response: 'Yes.' } });
    expect(answered.status).toBe(204);
    const after = await again;
    expect([after.status, after.headers.get('aauth-requirement'), after.body]).toEqual([202, null, { status: 'pending' }]);
  });
});
