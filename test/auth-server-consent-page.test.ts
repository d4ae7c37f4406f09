import { mkdirSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey, type SigningKey } from '@aauth-kit/core';
import { createAgent, type Agent, type Interaction } from '@aauth-kit/agent';
import { createResource } from '@aauth-kit/express';
import express, { type Express } from 'express';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium } from './fixtures/chromium.js';
import { service, startAuthServer, testRealm, type Service, type TestAuthServer } from './fixtures/auth-server.js';

// Screenshots go to the repository's git-ignored test-results/ folder.
const RESULTS = fileURLToPath(new URL('../test-results/', import.meta.url));
const HOSTILE_NAME = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">${'Z'.repeat(10 * 1024)}`;


/** A small square logo with a letter, as an SVG (an <img> never runs an SVG's scripts). */
function serveLogo(app: Express, letter: string, colour: string): void {
  app.get('/logo.svg', (_req, res) => {
    res
      .type('image/svg+xml')
      .send(
        `<svg xmlns="http://www.w3.org/2000/svg" width="88" height="88" viewBox="0 0 88 88"><rect width="88" height="88" rx="18" fill="${colour}"/>` +
          `<text x="44" y="60" font-family="sans-serif" font-size="48" font-weight="700" fill="#fff" text-anchor="middle">${letter}</text></svg>`,
      );
  });
}

/** An agent whose consent requests the test answers by hand: `next()` resolves with the next interaction. */
function interactiveAgent(svc: Service, issuer: string, metadata: { name?: string; logo_uri?: string }): { agent: Agent; next(): Promise<Interaction> } {
  const waiting: ((i: Interaction) => void)[] = [];
  const queued: Interaction[] = [];
  const agent = createAgent({
    identity: svc.url,
    key: svc.key,
    authServer: issuer,
    metadata,
    sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 100))),
    onInteraction: (interaction) => {
      const w = waiting.shift();
      if (w) w(interaction);
      else queued.push(interaction);
    },
  });
  svc.app.use(agent.wellKnown());
  return {
    agent,
    next: () => {
      const q = queued.shift();
      return q ? Promise.resolve(q) : new Promise((resolve) => waiting.push(resolve));
    },
  };
}

async function signIn(page: Page): Promise<void> {
  await page.fill('#username', 'mcp-user');
  await page.fill('#password', 'user123');
  await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/protocol/aauth/interact')), page.click('#login')]);
}

let as: TestAuthServer;
let backend: Service;
let sca: Service;
let hostile: Service;
let backendAgent: ReturnType<typeof interactiveAgent>;
let hostileAgent: ReturnType<typeof interactiveAgent>;
let browser: Browser;

beforeAll(async () => {
  as = await startAuthServer({
    realm: testRealm(
      { 'aauth.allowed.scopes': '["supply-chain:optimize","market-analysis:analyze"]' },
      {
        // Keycloak's client-scope fields: the realm's text wins over the resource's own description.
        clientScopes: [
          {
            name: 'market-analysis:analyze',
            protocol: 'openid-connect',
            description: 'Market analysis (admin description)',
            attributes: { 'consent.screen.text': 'Ask the market-analysis service about demand and prices', 'display.on.consent.screen': 'true' },
          },
        ],
      },
    ),
  });
  [backend, sca, hostile] = await Promise.all([service('backend-1'), service('sca-1'), service('hostile-1')]);

  // The supply-chain agent: a resource (scope descriptions in its resource metadata) and an agent
  // (its name and logo in its agent metadata, at the same identity URL), one key for both.
  const resource = createResource({
    identity: sca.url,
    key: sca.key,
    authServer: as.issuer,
    scopes: { 'supply-chain:optimize': 'Plan inventory orders for you', 'market-analysis:analyze': 'Ask market analysis on your behalf' },
  });
  const scaAgent = createAgent({ identity: sca.url, key: sca.key, authServer: as.issuer, metadata: { name: 'Supply Chain Agent', logo_uri: `${sca.url}/logo.svg` } });
  sca.app.use(resource.wellKnown());
  sca.app.use(scaAgent.wellKnown());
  serveLogo(sca.app, 'S', '#2f7d55');
  sca.app.post('/optimize', resource.require({ scope: ['supply-chain:optimize', 'market-analysis:analyze'] }), (req, res) => {
    res.json({ agent: req.aauth!.agent, sub: req.aauth!.sub });
  });

  backendAgent = interactiveAgent(backend, as.issuer, { name: 'Acme Ordering Backend', logo_uri: `${backend.url}/logo.svg` });
  serveLogo(backend.app, 'A', '#1f5fbf');
  hostileAgent = interactiveAgent(hostile, as.issuer, { name: HOSTILE_NAME, logo_uri: 'javascript:window.__pwned=3' });

  browser = await launchChromium();
  mkdirSync(RESULTS, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await Promise.all([as?.close(), backend?.close(), sca?.close(), hostile?.close()]);
});

describe('the consent page in headless Chromium, with a real resource and agent metadata', () => {
  it('names the agent, the service, each scope, the user, the duration and the onward delegation', async () => {
    const call = backendAgent.agent.fetch(`${sca.url}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const interaction = await backendAgent.next();
    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    try {
      const page = await context.newPage();
      const response = await page.goto(interaction.url);
      // Images only from the two logos' origins; still no scripts.
      expect(response!.headers()['content-security-policy']).toBe(
        `default-src 'none'; style-src 'unsafe-inline'; img-src ${backend.url} ${sca.url}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
      );
      // Before signing in: who asks, for which service, to do what.
      expect(await page.locator('#agent-name').textContent()).toBe('Acme Ordering Backend');
      expect(await page.locator('#agent-url').textContent()).toBe(backend.url);
      expect(await page.locator('#resource-name').textContent()).toBe('Supply Chain Agent');
      expect(await page.locator('#resource-url').textContent()).toBe(sca.url);
      await page.screenshot({ path: join(RESULTS, 'consent-login.png'), fullPage: true });

      await signIn(page);
      expect(await page.locator('h1').textContent()).toBe('Allow Acme Ordering Backend to use Supply Chain Agent on your behalf?');
      expect(await page.locator('#user').textContent()).toBe('MCP User');
      expect(await page.locator('#user-login').textContent()).toBe('(mcp-user)');
      expect(await page.locator('#scopes .scope-text').allTextContents()).toEqual([
        'Plan inventory orders for you',
        'Ask the market-analysis service about demand and prices',
      ]);
      expect(await page.locator('#scopes .scope-id').allTextContents()).toEqual(['supply-chain:optimize', 'market-analysis:analyze']);
      const duration = await page.locator('#duration').textContent();
      expect(duration).toContain('Access lasts 5 minutes.');
      expect(duration).toContain('Acme Ordering Backend can renew it without asking you again, 5 minutes at a time');
      expect(duration).toContain('within 30 minutes after it runs out');
      expect(await page.locator('#chaining').textContent()).toBe(
        'This also lets Supply Chain Agent call other agents and services on your behalf, as MCP User, ' +
          'with the permissions above or fewer (through a chain of up to 10 more agents).',
      );
      // Both logos loaded: the page's Content-Security-Policy allows exactly their origins.
      const logos = page.locator('.party img.logo');
      expect(await logos.count()).toBe(2);
      expect(await logos.evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0))).toEqual([true, true]);
      await page.screenshot({ path: join(RESULTS, 'consent-page.png'), fullPage: true });

      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/interact/decision')), page.click('#approve')]);
      expect(await page.locator('#message').textContent()).toBe('You approved the request. You can close this window.');
    } finally {
      await context.close();
    }
    const res = await call;
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ agent: backend.url, sub: 'c0ffee00-0000-4000-8000-000000000001' });
  });

  it('a hostile agent name is escaped and cut to 100 characters, and a javascript: logo is dropped', async () => {
    const call = hostileAgent.agent
      .fetch(`${sca.url}/optimize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      .then(
        (r) => ({ status: r.status, code: undefined as string | undefined }),
        (e: { status?: number; code?: string }) => ({ status: e.status, code: e.code }),
      );
    const interaction = await hostileAgent.next();

    // The HTML itself: no markup from the name survives, and at most 100 characters of it appear.
    const raw = await fetch(interaction.url);
    expect(raw.headers.get('content-security-policy')).toContain(`img-src ${sca.url};`);
    const html = await raw.text();
    expect(html).not.toContain('<script>');
    expect(html).not.toContain('<img src=x');
    expect(html).not.toContain('javascript:');
    expect(html).toContain('&lt;script&gt;window.__pwned = 1&lt;/script&gt;');
    expect(html).not.toContain('Z'.repeat(100));

    const context = await browser.newContext({ viewport: { width: 900, height: 1000 } });
    try {
      const page = await context.newPage();
      const dialogs: string[] = [];
      page.on('dialog', (d) => {
        dialogs.push(d.message());
        void d.dismiss();
      });
      await page.goto(interaction.url);
      const expected = `${Array.from(HOSTILE_NAME).slice(0, 99).join('')}…`;
      expect(await page.locator('#agent-name').textContent()).toBe(expected);
      expect(expected).toHaveLength(100);
      expect(await page.locator('#agent img').count()).toBe(0);
      await signIn(page);
      expect(await page.locator('#agent-name').textContent()).toBe(expected);
      expect(await page.locator('h1').textContent()).toBe(`Allow ${expected} to use Supply Chain Agent on your behalf?`);
      expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
      expect(dialogs).toEqual([]);
      await page.screenshot({ path: join(RESULTS, 'consent-page-hostile.png'), fullPage: true });
      await Promise.all([page.waitForURL((u) => u.pathname.endsWith('/interact/decision')), page.click('#deny')]);
    } finally {
      await context.close();
    }
    // The user's denial ends the agent's call without a token.
    expect((await call).status).not.toBe(200);
    expect(as.audit.filter((e) => e.agent === hostile.url).map((e) => e.type)).toEqual(['consent.required', 'consent.denied', 'request.refused']);
  });
});

describe('launching Chromium', () => {
  it('a missing binary fails with how to install it', async () => {
    const missing = '/nonexistent/chromium';
    await expect(launchChromium(missing)).rejects.toThrow(
      'The consent-page tests need Chromium, and there is none at /nonexistent/chromium. Install it with `sudo apt-get install chromium` (Debian; .ci/run does this), or set CHROMIUM_PATH to a Chromium or Google Chrome binary.',
    );
  });

  it('CHROMIUM_PATH chooses the binary, else Debian’s /usr/bin/chromium', () => {
    expect(chromiumPath({ CHROMIUM_PATH: '/opt/chrome/chrome' })).toBe('/opt/chrome/chrome');
    expect(chromiumPath({ CHROMIUM_PATH: '' })).toBe('/usr/bin/chromium');
    expect(chromiumPath({})).toBe('/usr/bin/chromium');
  });
});
