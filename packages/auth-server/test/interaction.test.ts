import type { Server } from 'node:http';
import { AAuthError } from '@aauth-kit/core';
import express from 'express';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../../test/fixtures/chromium.js';
import { createMemoryPendingStore } from '../src/index.js';
import { cookieHeader, decideOverHttp, signedFetch, startAuthServer, startParty, type Party, type TestAuthServer } from '../../../test/fixtures/auth-server.js';

const USER_ID = 'c0ffee00-0000-4000-8000-000000000001';

let as: TestAuthServer;
let backend: Party;
let sca: Party;
let callbackServer: Server;
let callbackBase: string;
const callbacks: string[] = [];

beforeAll(async () => {
  // The agent lists the test's callback server among its redirect_uris (issue 13: callbacks are bound to the agent).
  [as, backend, sca] = await Promise.all([startAuthServer(), startParty('backend', () => ({ redirect_uris: [`${callbackBase}/done`] })), startParty('sca')]);
  const app = express();
  app.get('/done', (req, res) => {
    callbacks.push(req.originalUrl);
    res.type('text/plain').send('callback reached');
  });
  callbackServer = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  callbackBase = `http://127.0.0.1:${(callbackServer.address() as { port: number }).port}`;
});
afterAll(async () => {
  await Promise.all([as?.close(), backend?.close(), sca?.close()]);
  await new Promise((r) => callbackServer?.close(r));
});

async function pendingRequest(scope: string) {
  const rt = await sca.resourceToken({ agent: backend.identity, agentJkt: backend.key.thumbprint, scope, audience: as.issuer });
  const res = await signedFetch(as.tokenEndpoint, { key: backend.key, signatureKey: backend.signatureKey, json: { resource_token: rt } });
  expect(res.status).toBe(202);
  return { code: String(res.body.code), location: String(res.body.location) };
}

const poll = (location: string) => signedFetch(location, { key: backend.key, signatureKey: backend.signatureKey });

describe('consent page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('log in, see the agent, resource and scopes, approve, return to the callback; the poll gets the token', async () => {
    const { code, location } = await pendingRequest('supply-chain:optimize market-analysis:analyze');
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const callback = `${callbackBase}/done?state=approve-1`;
      await page.goto(`${as.interactionEndpoint}?code=${code}&callback=${encodeURIComponent(callback)}`);
      // These parties publish no name: the page names them by their URLs.
      expect(await page.locator('#agent-name').textContent()).toBe(backend.identity);
      expect(await page.locator('#resource-name').textContent()).toBe(sca.identity);
      expect(await page.locator('#scopes .scope-id').allTextContents()).toEqual(['supply-chain:optimize', 'market-analysis:analyze']);
      expect(await page.locator('body').textContent()).toContain(code);

      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'wrong-password');
      await page.click('#login');
      expect(await page.locator('#error').textContent()).toBe('Invalid user name or password.');

      await page.fill('#username', 'MCP-User');
      await page.fill('#password', 'user123');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/protocol/aauth/interact')), page.click('#login')]);
      expect(await page.locator('#user').textContent()).toBe('MCP User');
      expect(await page.locator('#user-login').textContent()).toBe('(mcp-user)');
      expect(await page.locator('#agent-name').textContent()).toBe(backend.identity);
      expect(await page.locator('#scopes .scope-id').allTextContents()).toEqual(['supply-chain:optimize', 'market-analysis:analyze']);
      expect((await poll(location)).status).toBe(202);

      await Promise.all([page.waitForURL(callback), page.click('#approve')]);
      expect(await page.locator('body').textContent()).toBe('callback reached');
      expect(callbacks).toContain('/done?state=approve-1');

      const done = await poll(location);
      expect(done.status).toBe(200);
      const claims = JSON.parse(Buffer.from(String(done.body.auth_token).split('.')[1]!, 'base64url').toString());
      expect(claims).toMatchObject({ sub: USER_ID, agent: backend.identity, aud: sca.identity, scope: 'supply-chain:optimize market-analysis:analyze' });

      // The code is spent: opening the link again says so.
      await page.goto(`${as.interactionEndpoint}?code=${code}`);
      expect(await page.locator('h1').textContent()).toBe('Unknown request');
    } finally {
      await context.close();
    }
  });

  it('log in and deny: the callback is reached and the poll gets 403 access_denied', async () => {
    const { code, location } = await pendingRequest('supply-chain:optimize');
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const callback = `${callbackBase}/done?state=deny-1`;
      await page.goto(`${as.interactionEndpoint}?code=${code}&callback=${encodeURIComponent(callback)}`);
      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'user123');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/protocol/aauth/interact')), page.click('#login')]);
      expect(await page.locator('#scopes .scope-id').allTextContents()).toEqual(['supply-chain:optimize']);
      await Promise.all([page.waitForURL(callback), page.click('#deny')]);
      expect(callbacks).toContain('/done?state=deny-1');
      const denied = await poll(location);
      expect(denied.status).toBe(403);
      expect(denied.body).toEqual({ error: 'access_denied', error_description: 'The user denied the request' });
    } finally {
      await context.close();
    }
  });

  it('without a callback, the decision ends on a page saying what happened', async () => {
    const { code, location } = await pendingRequest('supply-chain:optimize');
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${as.interactionEndpoint}?code=${code}`);
      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'user123');
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/interact')), page.click('#login')]);
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/interact/decision')), page.click('#approve')]);
      expect(await page.locator('#message').textContent()).toBe('You approved the request. You can close this window.');
      expect((await poll(location)).status).toBe(200);
    } finally {
      await context.close();
    }
  });
});

describe('consent page over HTTP: escaping, CSRF, sessions', () => {
  it('escapes everything it shows and sends protective headers', async () => {
    const { code } = await pendingRequest('user.<script>alert(1)</script>');
    const res = await fetch(`${as.interactionEndpoint}?code=${code}&callback=${encodeURIComponent(`${callbackBase}/done?a="><b>`)}`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('<li><code class="scope-id">user.&lt;script&gt;alert(1)&lt;/script&gt;</code></li>');
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('"><b>');
    expect(res.headers.get('content-security-policy')).toBe(
      `default-src 'none'; style-src 'unsafe-inline'; form-action 'self' ${callbackBase}; frame-ancestors 'none'; base-uri 'none'`,
    );
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const cookie = res.headers.getSetCookie()[0]!;
    expect(cookie).toMatch(/^aauth_csrf=[A-Za-z0-9_-]+; Path=\/realms\/aauth-test\/protocol\/aauth\/interact; HttpOnly; SameSite=Strict; Max-Age=600$/);
  });

  it.each([
    ['a javascript: callback', 'javascript:alert(1)', 400],
    ['an http callback to a public host', 'http://evil.example/cb', 400],
    ['a callback with credentials', 'https://user:pw@example.com/cb', 400],
  ])('refuses %s', async (_name, callback, status) => {
    const { code } = await pendingRequest('supply-chain:optimize');
    const res = await fetch(`${as.interactionEndpoint}?code=${code}&callback=${encodeURIComponent(callback)}`);
    expect(res.status).toBe(status);
  });

  it('answers unknown, malformed and repeated codes with a page, never a 500', async () => {
    expect((await fetch(`${as.interactionEndpoint}?code=ZZZZZZZZ`)).status).toBe(404);
    expect((await fetch(`${as.interactionEndpoint}?code=<x>`)).status).toBe(400);
    expect((await fetch(`${as.interactionEndpoint}`)).status).toBe(400);
    expect((await fetch(`${as.interactionEndpoint}?code=A&code=B`)).status).toBe(400);
  });

  it('refuses a login post without the CSRF cookie, and a decision without a session', async () => {
    const { code } = await pendingRequest('supply-chain:optimize');
    const page = await fetch(`${as.interactionEndpoint}?code=${code}`);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const login = await fetch(`${as.interactionEndpoint}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ code, csrf, username: 'mcp-user', password: 'user123' }).toString(),
    });
    expect(login.status).toBe(403);
    const decision = await fetch(`${as.interactionEndpoint}/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookieHeader('', page) },
      body: new URLSearchParams({ code, csrf, decision: 'approve' }).toString(),
    });
    expect(decision.status).toBe(403);
  });

  it('a session is bound to its code: it cannot approve another request', async () => {
    const first = await pendingRequest('supply-chain:optimize');
    const second = await pendingRequest('supply-chain:optimize');
    const page = await fetch(`${as.interactionEndpoint}?code=${first.code}`);
    let cookies = cookieHeader('', page);
    const csrf = /name="csrf" value="([^"]+)"/.exec(await page.text())![1]!;
    const login = await fetch(`${as.interactionEndpoint}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code: first.code, csrf, username: 'mcp-user', password: 'user123' }).toString(),
    });
    expect(login.status).toBe(303);
    cookies = cookieHeader(cookies, login);
    const consent = await fetch(`${as.interactionEndpoint}?code=${first.code}`, { headers: { cookie: cookies } });
    const sessionCsrf = /name="csrf" value="([^"]+)"/.exec(await consent.text())![1]!;
    const other = await fetch(`${as.interactionEndpoint}/decision`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: cookies },
      body: new URLSearchParams({ code: second.code, csrf: sessionCsrf, decision: 'approve' }).toString(),
    });
    expect(other.status).toBe(403);
    expect((await poll(second.location)).status).toBe(202);
  });

  it('a disabled user cannot log in, and too many failures lock the request', async () => {
    const { code } = await pendingRequest('supply-chain:optimize');
    await expect(decideOverHttp(as.interactionEndpoint, code, 'approve', { username: 'disabled-user', password: 'pw' })).rejects.toThrow('login answered 401');
    for (let i = 0; i < 9; i++) {
      await expect(decideOverHttp(as.interactionEndpoint, code, 'approve', { password: `bad-${i}` })).rejects.toThrow('login answered 401');
    }
    await expect(decideOverHttp(as.interactionEndpoint, code, 'approve')).rejects.toThrow('login answered 429');
  });

  it('a decided request cannot be decided again', async () => {
    const { code } = await pendingRequest('supply-chain:optimize');
    expect((await decideOverHttp(as.interactionEndpoint, code, 'deny')).status).toBe(200);
    expect((await fetch(`${as.interactionEndpoint}?code=${code}`)).status).toBe(409);
  });
});

describe('consent page: hostile forms', () => {
  it('an oversized or malformed form gets a 4xx page, and the server keeps answering', async () => {
    const big = await fetch(`${as.interactionEndpoint}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `username=${'a'.repeat(20_000)}`,
    });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-type')).toMatch(/^text\/html/);
    const many = await fetch(`${as.interactionEndpoint}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: Array.from({ length: 50 }, (_, i) => `f${i}=1`).join('&'),
    });
    expect(many.status).toBe(413);
    const repeated = await fetch(`${as.interactionEndpoint}/decision`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'code=A&code=B&decision=approve',
    });
    expect(repeated.status).toBe(400);
    const json = await fetch(`${as.interactionEndpoint}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"code":"x"}' });
    expect(json.status).toBe(403);
    expect((await fetch(`${as.issuer}/.well-known/aauth-issuer.json`)).status).toBe(200);
  });
});

describe('the consent page when the shared state store fails', () => {
  it('is 503 "Temporarily unavailable" with the reason and Retry-After, not "Bad request"', async () => {
    const inner = createMemoryPendingStore();
    const failing = {
      ...inner,
      getByCode: () => Promise.reject(new AAuthError('store_unavailable', 'The shared state store did not answer within 1000 ms', { headers: { 'Retry-After': '1' } })),
    };
    const down = await startAuthServer({ pendingStore: failing });
    try {
      const res = await fetch(`${down.interactionEndpoint}?code=ABCD2345`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('1');
      const html = await res.text();
      expect(html).toContain('<h1>Temporarily unavailable</h1>');
      expect(html).toContain('<p id="message">The shared state store did not answer within 1000 ms</p>');
      expect(html).not.toContain('Bad request');
    } finally {
      await down.close();
    }
  });
});
