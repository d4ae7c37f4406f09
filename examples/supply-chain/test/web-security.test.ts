import { createServer, type Server } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from '../../../test/fixtures/chromium.js';
import type { DemoOptions, DemoResult } from '../src/run-demo.js';
import { startWebDemo } from '../src/web/web-demo.js';

// The page's server against requests a person's browser sends for other pages: another page on
// loopback (another port of 127.0.0.1 is the same site, so the SameSite=Strict cookie goes along)
// must not start, stop or sign out of the demo's runs.

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** A run that reports nothing and finishes at once; `runs` counts the starts. */
function countingRun(runs: string[]): (options: DemoOptions) => Promise<DemoResult> {
  return async (options) => {
    runs.push(options.protocol ?? 'keycloak');
    return { ok: true, protocol: options.protocol ?? 'keycloak', entries: [], services: {}, result: { plan: [] } };
  };
}

/** Another site's page on loopback, serving `html` at / . */
async function otherPage(html: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('cross-site requests to the page server (CSRF from another page on loopback)', () => {
  it('a form and a no-cors fetch from another 127.0.0.1 port, with the signed-in cookie, start no run and sign nobody out', async () => {
    const runs: string[] = [];
    const demo = await startWebDemo({ run: countingRun(runs) });
    const hostile = await otherPage(`<!doctype html><body>
<form id="f" method="POST" action="${demo.url}api/runs" enctype="text/plain"><input name='{"protocol":"keycloak","x":"' value='"}'></form>
<script>
fetch(${JSON.stringify(`${demo.url}api/runs`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: '{"protocol":"draft-11"}' })
  .catch(() => {})
  .then(() => fetch(${JSON.stringify(`${demo.url}api/logout`)}, { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => {}))
  .then(() => { document.title = 'sent'; document.getElementById('f').submit(); });
</script></body>`);
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(demo.url);
      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'user123');
      await page.click('#login');
      await page.locator('#app-view').waitFor();

      const other = await context.newPage();
      await other.goto(hostile.url);
      // The form's answer replaces the other page: that navigation is the last of the three requests.
      await other.waitForURL(`${demo.url}api/runs`);
      const answer = await other.locator('body').textContent();
      expect(JSON.parse(answer!)).toMatchObject({ error: 'cross_site_request' });
      expect(runs).toEqual([]);

      // Still signed in: the page's own start works.
      await page.click('#start');
      await page.locator('#result[data-state="ok"]').waitFor();
      expect(runs).toEqual(['keycloak']);
    } finally {
      await context.close();
      await hostile.close();
      await demo.close();
    }
  });
});

describe('the page server checks where a state-changing request comes from, without a browser', () => {
  it('403 cross_site_request for another Origin or Sec-Fetch-Site; 415 for a body that is not JSON (chunked too); its own origin and plain clients pass', async () => {
    const runs: string[] = [];
    const demo = await startWebDemo({ run: countingRun(runs) });
    try {
      const own = new URL(demo.url).origin;
      const login = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json', origin: own, 'sec-fetch-site': 'same-origin' }, body: JSON.stringify({ username: 'mcp-user', password: 'user123' }) });
      expect(login.status).toBe(200);
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const post = (path: string, headers: Record<string, string>, body?: string | ReadableStream<Uint8Array>) =>
        fetch(`${demo.url}${path}`, { method: 'POST', headers: { cookie, ...headers }, ...(body === undefined ? {} : { body, duplex: 'half' }) } as RequestInit);
      const json = { 'content-type': 'application/json' };
      const crossSite = { error: 'cross_site_request', message: `Only the demo's own page (${own}) may send this request.` };
      for (const headers of [{ origin: 'http://127.0.0.1:1' }, { origin: 'null' }, { 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'cross-site', origin: own }] as Record<string, string>[]) {
        for (const path of ['api/runs', 'api/logout', 'api/login']) {
          const res = await post(path, { ...json, ...headers }, '{}');
          expect([path, res.status, await res.json()]).toEqual([path, 403, crossSite]);
        }
      }
      const notJson = { error: 'unsupported_media_type', message: 'Send the request body as application/json.' };
      for (const [type, body] of [['text/plain', '{"protocol":"keycloak"}'], ['application/x-www-form-urlencoded', 'protocol=keycloak'], ['multipart/form-data; boundary=x', '--x--']] as const) {
        const res = await post('api/runs', { 'content-type': type }, body);
        expect([type, res.status, await res.json()]).toEqual([type, 415, notJson]);
      }
      const chunked = await post('api/runs', { 'content-type': 'text/plain' }, new Blob(['{}']).stream());
      expect([chunked.status, await chunked.json()]).toEqual([415, notJson]);
      // A wrong-typed sign-in is not a failed password.
      const typed = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{"username":"mcp-user","password":"x"}' });
      expect(typed.status).toBe(415);
      expect(runs).toEqual([]);

      expect((await post('api/runs', { ...json, origin: own, 'sec-fetch-site': 'same-origin' }, '{"protocol":"draft-11"}')).status).toBe(202);
      expect((await post('api/runs', { ...json, origin: `http://localhost:${new URL(own).port}` }, '{}')).status).toBe(202);
      expect((await post('api/logout', {})).status).toBe(204);
      expect(runs).toEqual(['draft-11', 'keycloak']);
    } finally {
      await demo.close();
    }
  });
});

describe('stopping the page while a start is queued', () => {
  it('a run asked for while the demo stops is refused (503 stopping), and no run is left going after close()', async () => {
    // Each run waits (as for a consent) until it is stopped, then takes until `release` to close its services.
    const started: AbortSignal[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const waiting = async (options: DemoOptions): Promise<DemoResult> => {
      started.push(options.signal!);
      if (!options.signal!.aborted) await new Promise((resolve) => options.signal!.addEventListener('abort', resolve));
      await released;
      return { ok: false, protocol: 'keycloak', entries: [], services: {}, failure: { reason: 'aborted' } };
    };
    const demo = await startWebDemo({ run: waiting });
    const login = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mcp-user', password: 'user123' }) });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const start = () => fetch(`${demo.url}api/runs`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{}' });
    expect((await start()).status).toBe(202);
    while (started.length < 1) await new Promise((r) => setTimeout(r, 5));
    // A second tab starts again: the first run is being stopped when the demo is told to stop.
    const second = start();
    while (!started[0]!.aborted) await new Promise((r) => setTimeout(r, 5));
    const closed = demo.close();
    release();
    await closed;
    const answer = await second.then(async (res) => [res.status, await res.json()] as const, (error: Error) => [0, error.message] as const);
    expect(started.map((signal) => signal.aborted)).toEqual([true]);
    expect(answer).toEqual([503, { error: 'stopping', message: 'The demo is stopping.' }]);
  });
});

describe('what the person sees when the demo cannot run the flow', () => {
  it('a service that cannot listen (its port is taken): "Failed", the port and the variable to set, no "refused", no script error', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    const demo = await startWebDemo({ ports: { authServer: port } });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      page.on('pageerror', (e) => problems.push(e.message));
      await page.goto(demo.url);
      await page.fill('#username', 'mcp-user');
      await page.fill('#password', 'user123');
      await page.click('#login');
      await page.click('#start');
      await page.locator('#result[data-state]:not([data-state="running"])').waitFor();
      expect(await page.locator('#result').getAttribute('data-state')).toBe('failed');
      expect(await page.locator('#result > p').first().textContent()).toBe('No plan: the demo could not run the flow.');
      expect(await page.locator('#refusal h3').textContent()).toBe('Failed');
      expect(await page.locator('#refusal-reason').textContent()).toBe(`port ${port} for the auth server is already in use on 127.0.0.1; set AUTH_SERVER_PORT to a free port (or 0 for any)`);
      expect(await page.locator('#refusal-meaning').textContent()).toBe('The flow stopped without a refusal from any party: the reason is above.');
      // The reason comes first, then what it means.
      expect(await page.locator('#refusal p').evaluateAll((ps) => ps.map((p) => (p as unknown as { id: string }).id))).toEqual(['refusal-reason', 'refusal-meaning']);
      expect(await page.locator('#status').textContent()).toBe('Run 1 failed.');
      expect(await page.locator('body').textContent()).not.toMatch(/refused/i);
      expect(problems).toEqual([]);
    } finally {
      await context.close();
      await demo.close();
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});

describe('signing out', () => {
  it("ends the signed-out session's event streams (a signed-out tab follows no more runs), and only those", async () => {
    const runs: string[] = [];
    const demo = await startWebDemo({ run: countingRun(runs) });
    try {
      const signIn = async () => {
        const res = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mcp-user', password: 'user123' }) });
        return res.headers.get('set-cookie')!.split(';')[0]!;
      };
      const open = async (cookie: string) => {
        const res = await fetch(`${demo.url}api/events`, { headers: { cookie } });
        expect(res.status).toBe(200);
        const reader = res.body!.getReader();
        const decoder = new TextDecoder();
        let text = '';
        return {
          /** Everything the stream sent until it ended, or until `until` appears. */
          async read(until?: string): Promise<{ text: string; ended: boolean }> {
            for (;;) {
              if (until !== undefined && text.includes(until)) return { text, ended: false };
              const chunk = await reader.read();
              if (chunk.done) return { text, ended: true };
              text += decoder.decode(chunk.value, { stream: true });
            }
          },
          cancel: () => reader.cancel(),
        };
      };
      const leaving = await signIn();
      const staying = await signIn();
      const left = await open(leaving);
      const stays = await open(staying);
      expect((await fetch(`${demo.url}api/logout`, { method: 'POST', headers: { cookie: leaving } })).status).toBe(204);
      const ended = await left.read();
      expect(ended).toEqual({ text: 'retry: 1000\n\n', ended: true });
      // The other session's stream goes on and sees the next run.
      expect((await fetch(`${demo.url}api/runs`, { method: 'POST', headers: { cookie: staying, 'content-type': 'application/json' }, body: '{}' })).status).toBe(202);
      expect((await stays.read('event: result')).ended).toBe(false);
      await stays.cancel();
      expect((await fetch(`${demo.url}api/events`, { headers: { cookie: leaving } })).status).toBe(401);
    } finally {
      await demo.close();
    }
  });
});

describe('malformed bodies get a 4xx with their own code', () => {
  it('bad JSON, a JSON array or null, a body over 4 KiB, a compressed body: 400 invalid_json, 413 body_too_large, 415 unsupported_media_type; no run starts', async () => {
    const runs: string[] = [];
    const demo = await startWebDemo({ run: countingRun(runs) });
    try {
      const login = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mcp-user', password: 'user123' }) });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const send = async (path: string, body: string, headers: Record<string, string> = {}) => {
        const res = await fetch(`${demo.url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body });
        return [path, res.status, await res.json()];
      };
      const notObject = { error: 'invalid_json', message: 'The request body is not a JSON object.' };
      for (const path of ['api/runs', 'api/login']) {
        for (const body of ['{"protocol":', '[]', '["draft-11"]', 'null', '"keycloak"', '7']) expect([body, ...(await send(path, body))]).toEqual([body, path, 400, notObject]);
        expect(await send(path, JSON.stringify({ protocol: 'x'.repeat(5000) }))).toEqual([path, 413, { error: 'body_too_large', message: 'The request body is larger than 4 KiB.' }]);
        expect(await send(path, '{}', { 'content-encoding': 'gzip' })).toEqual([path, 415, { error: 'unsupported_media_type', message: 'Send the request body without a Content-Encoding.' }]);
      }
      expect(runs).toEqual([]);
      expect(await send('api/runs', '{"protocol":"draft-11"}')).toEqual(['api/runs', 202, { id: 1 }]);
    } finally {
      await demo.close();
    }
  });
});

describe('HEAD of the event stream', () => {
  it('answers with the headers and ends (it is not held open as a stream)', async () => {
    const demo = await startWebDemo({ run: countingRun([]) });
    try {
      const login = await fetch(`${demo.url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'mcp-user', password: 'user123' }) });
      const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
      const head = await fetch(`${demo.url}api/events`, { method: 'HEAD', headers: { cookie } });
      expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/event-stream; charset=utf-8', '']);
      expect((await fetch(`${demo.url}api/events`, { method: 'HEAD' })).status).toBe(401);
    } finally {
      await demo.close();
    }
  });
});
