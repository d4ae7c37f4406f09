import got from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import type { Interaction } from '../src/index.js';
import { scenario, type Scenario } from './fixtures/scenario.js';
import { closingServer } from '../../../test/fixtures/http.js';

// Found by a client audit: aborting a call stopped only that caller's wait. The token request it
// had started (shared with any concurrent caller) kept running, consent polling went on once a
// second for up to interactionTimeoutMs (keeping the process alive), and a later call silently
// joined the abandoned consent: its onInteraction was never called, so the app had no URL to show,
// and it failed with interaction_timeout. Now a shared token request is cancelled and forgotten
// once every caller waiting for it gave up.

const open: Scenario[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const settle = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('aborting a call that waits for a shared token request', () => {
  it('a consent the only caller gave up on stops polling, and the next call asks the user again', async () => {
    const interactions: Interaction[] = [];
    let onAsk: (i: Interaction) => void = () => undefined;
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, retryAfter: 0 },
      agent: { interactionTimeoutMs: 30_000, onInteraction: (i) => (interactions.push(i), onAsk(i)) },
    });
    open.push(s);
    const first = new AbortController();
    onAsk = () => first.abort();
    const e = await s.hosted.agent.fetch(`${s.resource.url}/data`, { signal: first.signal }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('AbortError');
    // No poll after the abort (before: one a second until interactionTimeoutMs).
    const polled = s.as.polls.length;
    await settle(1500);
    expect(s.as.polls.length).toBe(polled);

    // The next call starts its own token request, and the app is told the new interaction URL.
    onAsk = (i) => void fetch(i.url);
    const second = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(second.status).toBe(200);
    expect(interactions).toHaveLength(2);
    expect(interactions[1]!.code).not.toBe(interactions[0]!.code);
    expect(s.as.tokenRequests).toHaveLength(2);
  });

  it('a token request still wanted by another caller goes on; one nobody waits for is not joined later', async () => {
    const s = await scenario({ as: { delayMs: 600 } });
    open.push(s);
    const quitter = new AbortController();
    const quitting = s.hosted.agent.fetch(`${s.resource.url}/data`, { signal: quitter.signal }).catch((x: unknown) => x);
    const staying = s.hosted.agent.fetch(`${s.resource.url}/data`);
    while (s.as.tokenRequests.length === 0) await settle(10);
    quitter.abort();
    expect(((await quitting) as Error).name).toBe('AbortError');
    // The other caller still gets the token of the one request.
    expect((await staying).status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(1);

    // A lone caller gives up while its request is held: a later call sends its own (before: it joined the abandoned one).
    s.hosted.agent.flush();
    const alone = new AbortController();
    const gaveUp = s.hosted.agent.fetch(`${s.resource.url}/data`, { signal: alone.signal }).catch((x: unknown) => x);
    while (s.as.tokenRequests.length === 1) await settle(10);
    alone.abort();
    expect(((await gaveUp) as Error).name).toBe('AbortError');
    expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    expect(s.as.tokenRequests).toHaveLength(3);
  });
});

describe("got's signal: a consent the only got caller gave up on", () => {
  it('is cancelled, and the next got call asks the user again', async () => {
    // Found by a client audit: the got hooks did not give got's signal to the token request, so an
    // aborted got call left its consent polling, and the next call joined it silently: no
    // onInteraction, and interaction_timeout after interactionTimeoutMs.
    const interactions: Interaction[] = [];
    let onAsk: (i: Interaction) => void = () => undefined;
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, retryAfter: 0 },
      agent: { interactionTimeoutMs: 5_000, onInteraction: (i) => (interactions.push(i), onAsk(i)) },
    });
    open.push(s);
    const client = s.hosted.agent.extendGot(got);
    const first = new AbortController();
    onAsk = () => first.abort();
    const e = await client.get(`${s.resource.url}/data`, { signal: first.signal }).catch((x: unknown) => x);
    expect((e as Error).name).toBe('AbortError');

    onAsk = (i) => void fetch(i.url);
    const second = await client.get(`${s.resource.url}/data`);
    expect(second.statusCode).toBe(200);
    expect(interactions).toHaveLength(2);
    expect(interactions[1]!.code).not.toBe(interactions[0]!.code);
    expect(s.as.tokenRequests).toHaveLength(2);
  });
});

describe("the caller's signal while the request body is read", () => {
  it('a stream body that never ends: the call rejects when the signal aborts, as fetch does, and the stream is cancelled', async () => {
    const s = await scenario();
    open.push(s);
    let cancelled: unknown;
    const endless = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"part":'));
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const e = await s.hosted.agent
      .fetch(`${s.resource.url}/data`, { method: 'POST', body: endless, duplex: 'half', signal: AbortSignal.timeout(200) } as RequestInit)
      .catch((x: unknown) => x);
    // Before: still pending (the body was read without looking at the signal).
    expect((e as Error).name).toBe('TimeoutError');
    expect((cancelled as Error | undefined)?.name).toBe('TimeoutError');
    expect(s.resource.calls).toHaveLength(0);
  });

  it('an already aborted signal rejects without reading the body', async () => {
    const s = await scenario();
    open.push(s);
    let pulls = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        controller.enqueue(new Uint8Array(16));
      },
    }, { highWaterMark: 0 });
    const controller = new AbortController();
    controller.abort();
    const e = await s.hosted.agent.fetch(`${s.resource.url}/data`, { method: 'POST', body, duplex: 'half', signal: controller.signal } as RequestInit).catch((x: unknown) => x);
    expect((e as Error).name).toBe('AbortError');
    expect(pulls).toBe(0);
  });
});

describe('a server that closes the connection without answering', () => {
  it('agent.fetch of a bodiless request rejects with resource_unreachable, as fetch does (before: never settled)', async () => {
    const closing = await closingServer();
    const port = closing.port;
    const s = await scenario();
    open.push(s);
    try {
      const outcome = await Promise.race([
        s.hosted.agent.fetch(`http://127.0.0.1:${port}/x`).then(
          () => 'answered',
          (e: unknown) => (e as { code?: string }).code,
        ),
        settle(5000).then(() => 'pending'),
      ]);
      expect(outcome).toBe('resource_unreachable');
    } finally {
      await closing.close();
    }
  });
});
