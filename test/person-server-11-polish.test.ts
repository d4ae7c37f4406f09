import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, mintResourceToken11, type SigningKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryPendingStore, type PendingStore } from '@aauth-kit/auth-server';
import { cookieHeader, decideOverHttp, decodeJwt, signedFetch, startAuthServer, testRealm, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';
import { startKitSite } from './fixtures/kit-site-11.js';

// Issue 16, person-server polish (helper E), over real loopback HTTP against the embedded auth
// server's -11 person server:
// - the agent's `justification` on the consent page: sanitised plain text, cut to length, and
//   attributed to the agent, apart from the resource's own scope descriptions (AAuth -11, consent
//   presentation; "Markdown fields MUST be sanitized before rendering");
// - `Prefer: wait=N` on the pending URL (RFC 7240): a huge N is held for the realm's maximum
//   (`aauth.person.max.wait`) and says so in `Preference-Applied`; a malformed one is ignored, as
//   RFC 7240 section 2 requires, and then no `Preference-Applied` is sent;
// - an expired agent token in `Signature-Key` at every person-server endpoint: 401 with
//   `Signature-Error: error=expired_jwt` (AAuth -11 token endpoint error codes: "The token in the
//   Signature-Key header has no codes in this table"), never 400 `expired_agent_token`.

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let site: string;
const resourceKey = generateKey({ kid: 'polish-resource' });
const providerKey = generateKey({ kid: 'polish-ap' });
/** Called with the id of each pending request the server reads (the poll handler's re-reads). */
let onGet: (id: string) => void = () => undefined;

/** The memory store, observed: a test can act while a poll is being held. */
function observedStore(): PendingStore {
  const inner = createMemoryPendingStore();
  return {
    ...inner,
    put: (r) => inner.put(r),
    getByCode: (c) => inner.getByCode(c),
    decide: (id, d) => inner.decide(id, d),
    take: (id) => inner.take(id),
    get: async (id) => {
      const found = await inner.get(id);
      onGet(id);
      return found;
    },
  };
}

beforeAll(async () => {
  as = await startAuthServer({
    draft11: { allowLoopback: true },
    pendingStore: observedStore(),
    realm: testRealm({ 'aauth.person.max.wait': '1' }),
  });
  open.push(as);
  ps = as.server.personServer!;
  // The agent provider.
  const apApp = express();
  const apListening = await listen(apApp);
  open.push(apListening);
  provider = createAgentProvider({ issuer: apListening.origin, key: providerKey, allowLoopback: true });
  apApp.use(provider.wellKnown() as express.RequestHandler);
  // A -11 resource whose metadata names its scopes (resource-asserted text on the page).
  site = await startKitSite({ key: resourceKey, scopes: { 'supply-chain:optimize': 'Optimise the supply chain', 'data.read': 'Read market data' }, draft11: { personServers: [ps] }, track: (l) => open.push(l) });
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

type Signer = { key: SigningKey; signatureKey: { scheme: 'jwt'; jwt: string } };

async function newAgent(local: string): Promise<Signer> {
  const key = generateKey({ kid: `${local}-key` });
  return { key, signatureKey: { scheme: 'jwt', jwt: await provider.mintAgentToken({ local, agentKey: key, ps }) } };
}

/** POST to the person token endpoint with the interaction capability: the 202's pending URL and code. */
async function pendingPersonToken(agent: Signer): Promise<{ location: string; code: string }> {
  const post = await signedFetch(`${ps}/aauth/person/person-token`, { ...agent, json: { resource: site, capabilities: ['interaction'] } });
  expect(post.status).toBe(202);
  return { location: post.headers.get('location')!, code: /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]! };
}

/** A person token for `site`, the person having approved on the page. */
async function personToken(agent: Signer): Promise<Record<string, unknown>> {
  const { location, code } = await pendingPersonToken(agent);
  expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
  const done = await signedFetch(location, agent);
  expect(done.status).toBe(200);
  // The claims, and the token itself (sent back as presented_token).
  return { ...decodeJwt(String(done.body.person_token)).claims, token: String(done.body.person_token) };
}

/** A resource token of `site` for `scope`, naming the agent's person token. */
function resourceToken(agent: Signer, person: Record<string, unknown>, scope: string): Promise<string> {
  return mintResourceToken11(resourceKey, {
    issuer: site,
    audience: ps,
    ps,
    sub: String(person.sub),
    presentedJti: String(person.jti),
    agentJkt: agent.key.thumbprint,
    scope,
    allowLoopback: true,
  });
}

function hiddenField(html: string, name: string): string {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!.replace(/&amp;/g, '&');
}

/** Sign in on the interaction page as mcp-user and return the consent page's HTML (no decision). */
async function consentPageHtml(code: string): Promise<{ status: number; html: string; csp: string | null }> {
  const first = await fetch(`${as.interactionEndpoint}?${new URLSearchParams({ code })}`);
  let cookies = cookieHeader('', first);
  const login = await fetch(`${as.interactionEndpoint}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
    body: new URLSearchParams({ code, csrf: hiddenField(await first.text(), 'csrf'), username: 'mcp-user', password: 'user123' }).toString(),
  });
  expect(login.status).toBe(303);
  cookies = cookieHeader(cookies, login);
  const page = await fetch(new URL(login.headers.get('location')!, as.interactionEndpoint), { headers: { cookie: cookies } });
  return { status: page.status, html: await page.text(), csp: page.headers.get('content-security-policy') };
}

describe('the -11 consent page names the parties from their metadata (AAuth -11 "Metadata Documents")', () => {
  it("the agent by its agent provider's aauth-agent.json, the resource by its aauth-resource.json, each with its logo and id", async () => {
    // A provider and a resource that publish display fields.
    const apApp = express();
    const apListening = await listen(apApp);
    open.push(apListening);
    const named = createAgentProvider({
      issuer: apListening.origin,
      key: generateKey({ kid: 'named-ap' }),
      allowLoopback: true,
      metadata: { name: 'Acme <Planner>', logo_uri: 'https://cdn.acme.example/planner.png' },
    });
    apApp.use(named.wellKnown() as express.RequestHandler);
    const app = express();
    const listening = await listen(app);
    open.push(listening);
    const key = generateKey({ kid: 'named-resource' });
    const resource = createResource({
      identity: listening.origin,
      key,
      generations: ['draft-11'],
      scopes: { 'supply-chain:optimize': 'Optimise the supply chain' },
      metadata: { name: 'Supply chain', logo_uri: 'https://cdn.sca.example/logo.png' },
      draft11: { allowLoopback: true, personServers: [ps] },
    });
    app.use(resource.wellKnown());
    expect(resource.metadata).toMatchObject({ issuer: listening.origin, name: 'Supply chain', logo_uri: 'https://cdn.sca.example/logo.png' });

    const agentKey = generateKey({ kid: 'named-agent' });
    const agent: Signer = { key: agentKey, signatureKey: { scheme: 'jwt', jwt: await named.mintAgentToken({ local: 'planner', agentKey, ps }) } };
    const post = await signedFetch(`${ps}/aauth/person/person-token`, { ...agent, json: { resource: listening.origin, capabilities: ['interaction'] } });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    const { status, html, csp } = await consentPageHtml(code);
    expect(status).toBe(200);
    // Before: both parties were shown by their ids alone (aauth:planner@127.0.0.1:PORT, http://127.0.0.1:PORT).
    expect(html).toContain('<div class="name" id="agent-name">Acme &lt;Planner&gt;</div>');
    expect(html).toContain(`<div class="url" id="agent-url">aauth:planner@${new URL(apListening.origin).host}</div>`);
    expect(html).toContain('<div class="name" id="resource-name">Supply chain</div>');
    expect(html).toContain(`<div class="url" id="resource-url">${listening.origin}</div>`);
    expect(html).toContain('<img class="logo" src="https://cdn.acme.example/planner.png"');
    expect(html).toContain('<img class="logo" src="https://cdn.sca.example/logo.png"');
    expect(csp).toContain('https://cdn.acme.example');
    expect(csp).toContain('https://cdn.sca.example');
  });

  it('a party whose document names nobody is shown by its id, as before', async () => {
    const agent = await newAgent('plain');
    const { code } = await pendingPersonToken(agent);
    const { html } = await consentPageHtml(code);
    expect(html).toContain(`<div class="name" id="agent-name">aauth:plain@${new URL(provider.issuer).host}</div>`);
    expect(html).toContain(`<div class="name" id="resource-name">${site}</div>`);
  });
});

describe('justification on the consent page (AAuth -11 consent presentation)', () => {
  const HOSTILE = [
    '# I need this',
    '<script>alert(1)</script> and <img src=x onerror=alert(2)>',
    '[Click to approve](javascript:alert(3)) or ![x](https://evil.example/pixel.png)',
    '"><a href="javascript:alert(4)">approve</a> \u202Eevil\u202C \u200Bhidden',
    '',
    '',
    '',
    'Signed, your <b>bank</b> & co',
  ].join('\r\n');

  it('shows a hostile justification as escaped plain text, attributed to the agent, beside the resource-asserted scope text', async () => {
    const agent = await newAgent('justifier');
    const person = await personToken(agent);
    const post = await signedFetch(`${ps}/aauth/person/auth-token`, {
      ...agent,
      json: { resource_token: await resourceToken(agent, person, 'supply-chain:optimize'), presented_token: person.token, justification: HOSTILE, capabilities: ['interaction'] },
    });
    expect(post.status).toBe(202);
    const code = /code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!;
    const { status, html, csp } = await consentPageHtml(code);
    expect(status).toBe(200);
    // Attributed to the agent and set apart: its own block, its own heading.
    expect(html).toContain("<h2>Why, in the agent's words</h2>");
    expect(html).toContain('<p class="said-by">The agent says (its own claim, not checked by this server):</p>');
    const quoted = /<blockquote id="justification-text">([\s\S]*?)<\/blockquote>/.exec(html)![1]!;
    // Plain text: every tag escaped, no Markdown rendered, bidi and zero-width characters gone,
    // CRLF made LF, and the run of empty lines collapsed to one.
    expect(quoted).toBe(
      [
        '# I need this',
        '&lt;script&gt;alert(1)&lt;/script&gt; and &lt;img src=x onerror=alert(2)&gt;',
        '[Click to approve](javascript:alert(3)) or ![x](https://evil.example/pixel.png)',
        '&quot;&gt;&lt;a href=&quot;javascript:alert(4)&quot;&gt;approve&lt;/a&gt; evil hidden',
        '',
        'Signed, your &lt;b&gt;bank&lt;/b&gt; &amp; co',
      ].join('\n'),
    );
    // Nothing of it became markup anywhere on the page.
    expect(html).not.toMatch(/<script|<a\s|<img|<b>|href="?javascript|\u202E|\u200B/i);
    // The resource-asserted text is there as before: the scope's description from the resource's metadata.
    expect(html).toContain('<li><span class="scope-text">Optimise the supply chain</span><code class="scope-id">supply-chain:optimize</code></li>');
    // The justification comes after the scopes: the resource's words first.
    expect(html.indexOf('id="scopes"')).toBeLessThan(html.indexOf('id="justification"'));
    // -11 wording: token lifetime of the person server (aauth.person.token.lifespan, 1 hour), no refresh.
    expect(html).toContain('lasts at most <strong>1 hour</strong>. This approval is remembered');
    // And scripts could not run even if something slipped through.
    expect(csp).toContain("default-src 'none'");
    // The code as the agent shows it (groups of four with a hyphen), not as stored: the user compares the two.
    expect(code).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(html).toContain(`Code ${code}`);
  });

  it('cuts a long justification to 1000 characters, ending with an ellipsis; a request without one has no block', async () => {
    const agent = await newAgent('verbose');
    const person = await personToken(agent);
    const post = await signedFetch(`${ps}/aauth/person/auth-token`, {
      ...agent,
      json: { resource_token: await resourceToken(agent, person, 'supply-chain:optimize'), presented_token: person.token, justification: 'é'.repeat(4096), capabilities: ['interaction'] },
    });
    expect(post.status).toBe(202);
    const { html } = await consentPageHtml(/code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!);
    const quoted = /<blockquote id="justification-text">([\s\S]*?)<\/blockquote>/.exec(html)![1]!;
    expect(quoted).toBe(`${'é'.repeat(999)}…`);

    const quiet = await newAgent('quiet');
    const quietPerson = await personToken(quiet);
    const plain = await signedFetch(`${ps}/aauth/person/auth-token`, {
      ...quiet,
      json: { resource_token: await resourceToken(quiet, quietPerson, 'supply-chain:optimize'), presented_token: quietPerson.token, capabilities: ['interaction'] },
    });
    expect(plain.status).toBe(202);
    const page = await consentPageHtml(/code="([^"]+)"/.exec(plain.headers.get('aauth-requirement')!)![1]!);
    expect(page.html).toContain('<h1>Allow ');
    expect(page.html).not.toContain('id="justification"');
  });

  it('the person token endpoint takes a justification too (PS-10): shown the same way; a non-string one is 400 invalid_request', async () => {
    const agent = await newAgent('pt-justifier');
    const post = await signedFetch(`${ps}/aauth/person/person-token`, {
      ...agent,
      json: { resource: site, justification: 'To **compare** <b>prices</b> for you', capabilities: ['interaction'] },
    });
    expect(post.status).toBe(202);
    const { html } = await consentPageHtml(/code="([^"]+)"/.exec(post.headers.get('aauth-requirement')!)![1]!);
    expect(html).toContain('<p class="said-by">The agent says (its own claim, not checked by this server):</p>');
    expect(/<blockquote id="justification-text">([\s\S]*?)<\/blockquote>/.exec(html)![1]).toBe('To **compare** &lt;b&gt;prices&lt;/b&gt; for you');
    for (const justification of [42, '', 'x'.repeat(4097)]) {
      const bad = await signedFetch(`${ps}/aauth/person/person-token`, { ...agent, json: { resource: site, justification, capabilities: ['interaction'] } });
      expect([bad.status, bad.body.error]).toEqual([400, 'invalid_request']);
    }
  });
});

describe('Prefer: wait=N on the pending URL (RFC 7240; realm aauth.person.max.wait = 1)', () => {
  const poll = (agent: Signer, location: string, prefer?: string) => signedFetch(location, { ...agent, ...(prefer !== undefined ? { extraHeaders: { prefer } } : {}) });

  it('a wait too large for 4 digits, or for any integer, is held for the realm maximum and says so; never answered as "no wait"', async () => {
    const agent = await newAgent('patient');
    const { location } = await pendingPersonToken(agent);
    for (const prefer of ['wait=99999', 'wait=99999999999999999999999999999999999999', 'respond-async, WAIT = "86400"']) {
      const res = await poll(agent, location, prefer);
      expect([res.status, res.body.status, res.headers.get('preference-applied')]).toEqual([202, 'pending', 'wait=1']);
    }
  });

  it('a malformed or empty wait, or wait only as a parameter, is ignored (RFC 7240 section 2): 202 at once, no Preference-Applied', async () => {
    const agent = await newAgent('garbled');
    const { location } = await pendingPersonToken(agent);
    for (const prefer of ['wait=abc', 'wait=-5', 'wait=1.5', 'wait=', 'wait', 'respond-async; wait=10', 'wait=0', 'wait=x, wait=10']) {
      const res = await poll(agent, location, prefer);
      expect([prefer, res.status, res.body.status, res.headers.get('preference-applied')]).toEqual([prefer, 202, 'pending', null]);
    }
    // Absent: the same.
    expect((await poll(agent, location)).headers.get('preference-applied')).toBeNull();
  });

  it('a held poll answers with the token as soon as the person approves during the wait', async () => {
    const agent = await newAgent('held');
    const { location, code } = await pendingPersonToken(agent);
    const id = location.slice(location.lastIndexOf('/') + 1);
    // The first read is the poll's lookup; a second one means the poll is being held: approve then.
    let reads = 0;
    let decided: Promise<Response> | undefined;
    onGet = (seen) => {
      if (seen === id && ++reads === 2) decided = decideOverHttp(as.interactionEndpoint, code, 'approve');
    };
    try {
      const res = await poll(agent, location, 'wait=1000000');
      expect(decided).toBeDefined();
      expect((await decided!).status).toBe(200);
      // Not the 202 an unheld poll gets: the person's decision, delivered on the same poll.
      expect(res.status).toBe(200);
      expect(decodeJwt(String(res.body.person_token)).claims).toMatchObject({ iss: ps, aud: site });
    } finally {
      onGet = () => undefined;
    }
  });
});

describe('an expired agent token at the person server (AAuth -11 token endpoint error codes)', () => {
  it('is 401 Signature-Error: error=expired_jwt at every endpoint, never 400 expired_agent_token', async () => {
    const agent = await newAgent('late');
    const { location } = await pendingPersonToken(agent);
    const past = () => Date.now() / 1000 - 7200;
    // The provider's own key and identity, its clock two hours back: a genuine token, expired an hour ago.
    const oldProvider = createAgentProvider({ issuer: provider.issuer, key: providerKey, allowLoopback: true, now: past });
    const expired: Signer = { key: agent.key, signatureKey: { scheme: 'jwt', jwt: await oldProvider.mintAgentToken({ local: 'late', agentKey: agent.key, ps, lifetime: 3600 }) } };
    const answers = [
      await signedFetch(`${ps}/aauth/person/person-token`, { ...expired, json: { resource: site, capabilities: ['interaction'] } }),
      await signedFetch(`${ps}/aauth/person/auth-token`, { ...expired, json: { resource_token: 'a.b.c' } }),
      await signedFetch(`${ps}/aauth/person/revoke`, { ...expired, json: { iss: ps, jti: 'x' } }),
      await signedFetch(location, expired),
    ];
    for (const res of answers) {
      expect([res.status, res.headers.get('signature-error'), res.body.error]).toEqual([401, 'error=expired_jwt', 'expired_jwt']);
      expect(res.headers.get('content-type')).toBe('application/problem+json');
    }
    // The pending request was not touched by the refused poll: the live agent token still polls it.
    expect((await signedFetch(location, agent)).status).toBe(202);
  });
});

describe('found by a hostile-input audit of the -11 person server', () => {
  it("a resource token naming another agent's person token is refused: a resource cannot move a person's consent to an agent nobody approved", async () => {
    // The victim: approved by mcp-user for the resource, with the scope granted.
    const victim = await newAgent('victim');
    const person = await personToken(victim);
    const asked = await signedFetch(`${ps}/aauth/person/auth-token`, {
      ...victim,
      json: { resource_token: await resourceToken(victim, person, 'supply-chain:optimize'), presented_token: person.token, capabilities: ['interaction'] },
    });
    expect(asked.status).toBe(202);
    const code = /code="([^"]+)"/.exec(asked.headers.get('aauth-requirement')!)![1]!;
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    expect((await signedFetch(asked.headers.get('location')!, victim)).status).toBe(200);

    // The attacker: a new agent, never bound, never approved, with a resource token (minted by a
    // colluding or buggy resource) that names the victim's person token and the attacker's key.
    const attacker = await newAgent('attacker');
    const stolen = await signedFetch(`${ps}/aauth/person/auth-token`, {
      ...attacker,
      // The victim's person token, which the resource saw, presented too.
      json: { resource_token: await resourceToken(attacker, person, 'supply-chain:optimize'), presented_token: person.token, capabilities: ['interaction'] },
    });
    // Before: 200, an auth token with the victim's directed sub bound to the attacker's key.
    expect(stolen.status).toBe(400);
    expect(stolen.body.error).toBe('invalid_presented_token');
    expect(stolen.body.auth_token).toBeUndefined();
  });

  it('a resource token whose scope is only spaces is 400 invalid_resource_token, not a 500', async () => {
    const agent = await newAgent('blank-scope');
    const person = await personToken(agent);
    // The kit's own minting refuses such a scope: a hostile resource signs it by hand.
    const valid = await resourceToken(agent, person, 'supply-chain:optimize');
    const [header, payload] = valid.split('.');
    const input = `${header}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), scope: '   ' })).toString('base64url')}`;
    const blank = `${input}.${Buffer.from(await resourceKey.sign(Buffer.from(input, 'latin1'))).toString('base64url')}`;
    const res = await signedFetch(`${ps}/aauth/person/auth-token`, { ...agent, json: { resource_token: blank, presented_token: person.token, capabilities: ['interaction'] } });
    expect([res.status, res.body.error]).toEqual([400, 'invalid_resource_token']);
    expect(String(res.body.error_description ?? res.body.detail ?? '')).toContain('scope names no scope');
  });

  it('a held poll whose request another poll collected answers 410, not 202 pending (exactly one poll gets the token)', async () => {
    const agent = await newAgent('two-pollers');
    const { location, code } = await pendingPersonToken(agent);
    const held = signedFetch(location, { ...agent, extraHeaders: { prefer: 'wait=1' } });
    await new Promise((r) => setTimeout(r, 100));
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    const fresh = await signedFetch(location, agent);
    const statuses = [(await held).status, fresh.status].sort();
    expect(statuses).toEqual([200, 410]);
  });
});
