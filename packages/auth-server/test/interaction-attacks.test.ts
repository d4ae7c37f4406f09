import { pbkdf2Sync, randomBytes } from 'node:crypto';
import { createMemoryPendingStore, type PendingStore } from '@aauth-kit/auth-server';
import { generateKey, signRequest } from '@aauth-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cookieHeader, decideOverHttp, signedFetch, startAuthServer, startParty, testRealm, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';
import { basic, exchangeRealm, tokenPost } from '../../../test/fixtures/oauth.js';

// Issue 13: the consent pages and polling, attacked as an attacker would, over loopback HTTP.

const REGISTERED = 'https://app.example/aauth/done';

let as: TestAuthServer;
let backend: Party;
let sca: Party;

beforeAll(async () => {
  [as, backend, sca] = await Promise.all([startAuthServer(), startParty('backend', () => ({ redirect_uris: [REGISTERED] })), startParty('sca')]);
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close()]);
});

async function pendingRequest(server = as, scope = 'supply-chain:optimize') {
  const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: server.issuer });
  const res = await signedFetch(server.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
  expect(res.status).toBe(202);
  return { code: String(res.body.code), location: String(res.body.location) };
}

const poll = (location: string) => signedFetch(location, { key: backend.key, signatureKey: backend.signatureKey });

/** The kit's error code a refusal page names. */
function pageCode(html: string): string | undefined {
  return /id="error-code"><code>([a-z_]+)<\/code>/.exec(html)?.[1];
}

function hidden(html: string, name: string): string {
  return new RegExp(`name="${name}" value="([^"]*)"`).exec(html)![1]!;
}

/**
 * A realm user (mcp-user / user123 unless named) with a PBKDF2-hashed password of `iterations`
 * rounds: each check waits on the thread pool, so parallel guesses overlap.
 */
function pbkdf2User(iterations: number, who: { id?: string; username?: string; password?: string } = {}): Record<string, unknown> {
  const salt = randomBytes(16);
  const hash = pbkdf2Sync(who.password ?? 'user123', salt, iterations, 32, 'sha256');
  return {
    ...(who.id === undefined ? {} : { id: who.id }),
    username: who.username ?? 'mcp-user',
    enabled: true,
    credentials: [
      {
        type: 'password',
        secretData: JSON.stringify({ value: hash.toString('base64'), salt: salt.toString('base64') }),
        credentialData: JSON.stringify({ hashIterations: iterations, algorithm: 'pbkdf2-sha256' }),
      },
    ],
  };
}

/** POST the consent page's sign-in form (its cookie and CSRF field from the page). */
function postLogin(server: { interactionEndpoint: string }, f: { code: string; cookie: string; csrf: string; username: string; password: string }): Promise<Response> {
  return fetch(`${server.interactionEndpoint}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: f.cookie },
    body: new URLSearchParams({ code: f.code, csrf: f.csrf, username: f.username, password: f.password }).toString(),
  });
}

/** Sign in as mcp-user without a callback; returns the session cookies and the consent form's CSRF field. */
async function signIn(server: TestAuthServer, code: string): Promise<{ cookies: string; csrf: string }> {
  const page = await fetch(`${server.interactionEndpoint}?code=${code}`);
  let cookies = cookieHeader('', page);
  const login = await postLogin(server, { code, cookie: cookies, csrf: hidden(await page.text(), 'csrf'), username: 'mcp-user', password: 'user123' });
  expect(login.status).toBe(303);
  cookies = cookieHeader(cookies, login);
  const consent = await fetch(`${server.interactionEndpoint}?code=${code}`, { headers: { cookie: cookies } });
  return { cookies, csrf: hidden(await consent.text(), 'csrf') };
}

describe('finding 13: the consent callback is bound to the agent', () => {
  it('refuses a callback on a host the agent does not control, before the user signs in', async () => {
    const { code } = await pendingRequest();
    const res = await fetch(`${as.interactionEndpoint}?code=${code}&callback=${encodeURIComponent('https://evil.example/steal')}`);
    expect(res.status).toBe(400);
    expect(pageCode(await res.text())).toBe('consent_callback_unregistered');
  });

  it('a deny posted with a foreign callback does not redirect there, and decides nothing', async () => {
    const { code, location } = await pendingRequest();
    const { cookies, csrf } = await signIn(as, code);
    const res = await fetch(`${as.interactionEndpoint}/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code, csrf, callback: 'https://evil.example/after-deny', decision: 'deny' }).toString(),
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(pageCode(await res.text())).toBe('consent_callback_unregistered');
    expect((await poll(location)).status).toBe(202);
  });

  it('refuses any callback of a pseudonymous (hwk) agent, which has no origin of its own', async () => {
    const key = generateKey();
    const rt = await sca.resourceToken({ agent: `pseudonymous:${key.thumbprint}`, agentJkt: key.thumbprint, scope: 'supply-chain:optimize', audience: as.issuer });
    const pending = await signedFetch(as.tokenEndpoint, { key, json: { resource_token: rt } });
    expect(pending.status).toBe(202);
    const res = await fetch(`${as.interactionEndpoint}?code=${String(pending.body.code)}&callback=${encodeURIComponent('http://localhost:4444/cb')}`);
    expect(res.status).toBe(400);
    expect(pageCode(await res.text())).toBe('consent_callback_unregistered');
  });

  it("accepts a callback on the agent's own origin, and one of the redirect_uris of its metadata", async () => {
    const own = `${backend.identity}/done?state=1`;
    const first = await pendingRequest();
    const approved = await decideOverHttp(as.interactionEndpoint, first.code, 'approve', { callback: own });
    expect(approved.status).toBe(303);
    expect(approved.headers.get('location')).toBe(own);
    const second = await pendingRequest();
    const denied = await decideOverHttp(as.interactionEndpoint, second.code, 'deny', { callback: `${REGISTERED}?state=2` });
    expect(denied.status).toBe(303);
    expect(denied.headers.get('location')).toBe(`${REGISTERED}?state=2`);
  });
});

describe('finding 16: login CSRF with a planted cookie', () => {
  it('a cookie and form field carrying the same attacker-chosen value do not sign in', async () => {
    const { code } = await pendingRequest();
    const planted = 'attacker-chosen-value-0123456789';
    const res = await postLogin(as, { code, cookie: `aauth_csrf=${planted}`, csrf: planted, username: 'mcp-user', password: 'user123' });
    expect(res.status).toBe(403);
    expect(pageCode(await res.text())).toBe('consent_form_invalid');
  });

  it('a CSRF pair the server issued for one interaction does not sign in to another', async () => {
    const first = await pendingRequest();
    const second = await pendingRequest();
    const page = await fetch(`${as.interactionEndpoint}?code=${first.code}`);
    const res = await postLogin(as, { code: second.code, cookie: cookieHeader('', page), csrf: hidden(await page.text(), 'csrf'), username: 'mcp-user', password: 'user123' });
    expect(res.status).toBe(403);
    expect(pageCode(await res.text())).toBe('consent_form_invalid');
  });
});

describe('finding 8: a replayed poll cannot steal delivery', () => {
  it('a captured poll replayed after approval is refused, and the real agent gets the token', async () => {
    const { code, location } = await pendingRequest();
    // The attacker captures one signed poll on the wire (the agent sent it while the request was pending).
    const captured = signRequest({ method: 'GET', url: location, headers: {}, body: undefined }, { key: backend.key, signatureKey: backend.signatureKey });
    const sent = await fetch(location, { headers: captured.headers });
    expect(sent.status).toBe(202);
    expect((await decideOverHttp(as.interactionEndpoint, code, 'approve')).status).toBe(200);
    const replayed = await fetch(location, { headers: captured.headers });
    expect(replayed.status).toBe(401);
    expect(await replayed.json()).toMatchObject({ error: 'invalid_signature' });
    expect(as.audit.filter((e) => e.endpoint === 'pending').at(-1)).toMatchObject({ code: 'signature_replayed', status: 401 });
    const real = await poll(location);
    expect(real.status).toBe(200);
    expect(typeof real.body.auth_token).toBe('string');
  });
});

describe('finding 4: one agent cannot flush everyone\'s pending consent', () => {
  it('caps pending requests per agent key and per resource, and a full store refuses rather than evicts', async () => {
    const store = createMemoryPendingStore({ maxEntries: 6, maxPerAgent: 2, maxPerResource: 4 });
    const server = await startAuthServer({ pendingStore: store });
    const evil = await startParty('evil');
    try {
      // A real user's request, waiting for consent.
      const victim = await pendingRequest(server);
      const flood = async (key: ReturnType<typeof generateKey>, resource: Party) => {
        const agent = `pseudonymous:${key.thumbprint}`;
        const rt = await resource.resourceToken({ agent, agentJkt: key.thumbprint, scope: 'supply-chain:optimize', audience: server.issuer });
        return signedFetch(server.tokenEndpoint, { key, json: { resource_token: rt } });
      };
      const a = generateKey();
      expect((await flood(a, evil)).status).toBe(202);
      expect((await flood(a, evil)).status).toBe(202);
      const perAgent = await flood(a, evil);
      expect(perAgent.status).toBe(429);
      expect(server.audit.at(-1)).toMatchObject({ type: 'request.refused', code: 'pending_limit_reached', status: 429 });
      const b = generateKey();
      expect((await flood(b, evil)).status).toBe(202);
      expect((await flood(b, evil)).status).toBe(202);
      const perResource = await flood(generateKey(), evil);
      expect(perResource.status).toBe(429);
      expect(server.audit.at(-1)).toMatchObject({ code: 'pending_limit_reached', status: 429 });
      // Fresh keys at another resource fill the store: the next request is refused, nothing is evicted.
      expect((await flood(generateKey(), sca)).status).toBe(202);
      const full = await flood(generateKey(), sca);
      expect(full.status).toBe(503);
      expect(full.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(server.audit.at(-1)).toMatchObject({ code: 'pending_store_full', status: 503 });
      // The real user's request is still there: approve it, and the agent gets its token.
      expect((await decideOverHttp(server.interactionEndpoint, victim.code, 'approve')).status).toBe(200);
      expect((await poll(victim.location)).status).toBe(200);
    } finally {
      await Promise.all([server.close(), evil.close()]);
    }
  });
});

describe('finding 3: password hashing neither blocks the event loop nor tells which users exist', () => {
  const ITERATIONS = 1_000_000;
  let server: TestAuthServer;
  let onLookup: (() => void) | undefined;

  beforeAll(async () => {
    const realm = testRealm({}, { users: [pbkdf2User(ITERATIONS, { id: 'c0ffee00-0000-4000-8000-000000000002', username: 'hashed-user', password: 's3cret' })] });
    // The store tells the test when the login post has found its request: the password check comes next.
    const memory = createMemoryPendingStore();
    const store: PendingStore = {
      ...memory,
      async getByCode(code) {
        const found = await memory.getByCode(code);
        onLookup?.();
        return found;
      },
    };
    server = await startAuthServer({ realm, pendingStore: store });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** Post a login for `username`; once the server is checking the password, ask it for its metadata. Returns which answered first. */
  async function race(username: string): Promise<string[]> {
    const { code } = await pendingRequest(server);
    const page = await fetch(`${server.interactionEndpoint}?code=${code}`);
    const cookies = cookieHeader('', page);
    const csrf = hidden(await page.text(), 'csrf');
    const order: string[] = [];
    const checking = new Promise<void>((resolve) => (onLookup = resolve));
    const login = postLogin(server, { code, cookie: cookies, csrf, username, password: 'wrong-guess' }).then((res) => {
      order.push(`login ${res.status}`);
    });
    await checking;
    onLookup = undefined;
    const other = fetch(`${server.issuer}/.well-known/aauth-issuer.json`).then((res) => {
      order.push(`metadata ${res.status}`);
    });
    await Promise.all([login, other]);
    return order;
  }

  it('another request is answered while a PBKDF2 login is being checked', async () => {
    expect(await race('hashed-user')).toEqual(['metadata 200', 'login 401']);
  });

  it('an unknown user name costs the same PBKDF2 work as a known one', async () => {
    expect(await race('no-such-user')).toEqual(['metadata 200', 'login 401']);
  });
});

describe('finding 2: online password guessing', () => {
  const bruteForce = { bruteForceProtected: true, failureFactor: 5, waitIncrementSeconds: 60, maxFailureWaitSeconds: 900, quickLoginCheckMilliSeconds: 0 };

  async function guess(server: TestAuthServer, code: string, username: string, password: string): Promise<Response> {
    const page = await fetch(`${server.interactionEndpoint}?code=${code}`);
    return postLogin(server, { code, cookie: cookieHeader('', page), csrf: hidden(await page.text(), 'csrf'), username, password });
  }

  it('fresh interaction codes do not give fresh guesses: the user is locked after failureFactor failures', async () => {
    const server = await startAuthServer({ realm: testRealm({}, bruteForce) });
    try {
      // Fresh codes, 2 guesses each: below the per-code limit every time, but failureFactor (5) failures for one user.
      for (const guesses of [2, 2, 1]) {
        const { code } = await pendingRequest(server);
        for (let i = 0; i < guesses; i++) expect((await guess(server, code, 'mcp-user', `guess-${guesses}-${i}`)).status).toBe(401);
      }
      const { code } = await pendingRequest(server);
      const locked = await guess(server, code, 'mcp-user', 'user123');
      expect(locked.status).toBe(429);
      expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(pageCode(await locked.text())).toBe('login_locked');
    } finally {
      await server.close();
    }
  });

  it('one source address spraying many user names is locked too', async () => {
    const server = await startAuthServer({ realm: testRealm({}, bruteForce) });
    try {
      // Twice failureFactor failures from one address, each for another user name, over two codes.
      for (const batch of [0, 5]) {
        const { code } = await pendingRequest(server);
        for (let i = batch; i < batch + 5; i++) expect((await guess(server, code, `user-${i}`, 'password1')).status).toBe(401);
      }
      const second = await pendingRequest(server);
      const locked = await guess(server, second.code, 'mcp-user', 'user123');
      expect(locked.status).toBe(429);
      expect(pageCode(await locked.text())).toBe('login_locked');
    } finally {
      await server.close();
    }
  });

  it('without bruteForceProtected (Keycloak\'s default) the realm keeps only the per-code limit', async () => {
    const { code } = await pendingRequest();
    expect((await guess(as, code, 'mcp-user', 'nope')).status).toBe(401);
    expect((await guess(as, code, 'mcp-user', 'user123')).status).toBe(303);
  });
});

describe('finding 14: guessing client secrets and interaction codes backs off', () => {
  it('wrong client secrets: after 10 for one client it must wait, even with the right secret', async () => {
    const server = await startAuthServer({ realm: exchangeRealm({ scaIdentity: sca.identity }) });
    try {
      const [client, secret] = basic('supply-chain-agent');
      for (let i = 0; i < 10; i++) {
        const res = await tokenPost(server, { grant_type: 'client_credentials' }, { basic: [client, `guess-${i}`] });
        expect(res.status).toBe(401);
        expect(res.body.error).toBe('invalid_client');
      }
      const locked = await tokenPost(server, { grant_type: 'client_credentials' }, { basic: [client, secret] });
      expect(locked.status).toBe(429);
      expect(locked.body.error).toBe('invalid_client');
      expect(locked.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(server.audit.at(-1)).toMatchObject({ type: 'request.refused', endpoint: 'openid-connect', client, code: 'client_auth_throttled', status: 429 });
    } finally {
      await server.close();
    }
  });

  it('unknown interaction codes: after 20 from one address, lookups wait', async () => {
    const server = await startAuthServer();
    try {
      const { code } = await pendingRequest(server);
      for (let i = 0; i < 20; i++) {
        const guess = `ZZZZ${String(i).padStart(4, '0').replace(/[01]/g, 'Q')}`;
        expect((await fetch(`${server.interactionEndpoint}?code=${guess}`)).status).toBe(404);
      }
      const throttled = await fetch(`${server.interactionEndpoint}?code=${code}`);
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get('retry-after')).toMatch(/^\d+$/);
      expect(pageCode(await throttled.text())).toBe('consent_lookup_throttled');
    } finally {
      await server.close();
    }
  });
});

describe('finding 2: a burst of parallel guesses', () => {
  it('cannot all pass the lock check before the first failure is counted', async () => {
    const user = pbkdf2User(50_000);
    const realm = testRealm({}, { bruteForceProtected: true, failureFactor: 5, quickLoginCheckMilliSeconds: 0, users: [user] });
    const server = await startAuthServer({ realm });
    try {
      const forms = [];
      for (let c = 0; c < 2; c++) {
        const { code } = await pendingRequest(server);
        for (let i = 0; i < 4; i++) {
          const page = await fetch(`${server.interactionEndpoint}?code=${code}`);
          forms.push({ code, cookie: cookieHeader('', page), csrf: hidden(await page.text(), 'csrf'), password: `burst-${c}-${i}` });
        }
      }
      const statuses = await Promise.all(
        forms.map(async (f) => {
          const res = await postLogin(server, { ...f, username: 'mcp-user' });
          return res.status;
        }),
      );
      expect(statuses.filter((s) => s === 401)).toHaveLength(5);
      expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    } finally {
      await server.close();
    }
  });

  it("without bruteForceProtected (Keycloak's default), a burst on one code gets no more than the per-code limit of 10 checked", async () => {
    const user = pbkdf2User(27_500);
    const server = await startAuthServer({ realm: testRealm({}, { users: [user] }) });
    try {
      const { code } = await pendingRequest(server);
      const forms = [];
      for (let i = 0; i < 30; i++) {
        const page = await fetch(`${server.interactionEndpoint}?code=${code}`);
        forms.push({ cookie: cookieHeader('', page), csrf: hidden(await page.text(), 'csrf'), password: `burst-${i}` });
      }
      const pages = await Promise.all(
        forms.map(async (f) => {
          const res = await postLogin(server, { ...f, code, username: 'mcp-user' });
          return { status: res.status, code: pageCode(await res.text()) };
        }),
      );
      // 401 is a password that was checked: exactly the limit; every other guess is refused unchecked.
      expect(pages.filter((p) => p.status === 401)).toHaveLength(10);
      expect(pages.filter((p) => p.status === 429 && p.code === 'login_locked')).toHaveLength(20);
    } finally {
      await server.close();
    }
  });
});
