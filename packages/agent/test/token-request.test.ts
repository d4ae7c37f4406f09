import { isAAuthError } from '@aauth-kit/core';
import { afterEach, describe, expect, it } from 'vitest';
import type { Interaction } from '../src/index.js';
import { scenario, type Scenario } from './fixtures/scenario.js';
import { caught } from '../../../test/fixtures/caught.js';

const open: Scenario[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A sleeper that records what it was asked to wait and advances a fake clock instead of waiting. */
function fakeTime(start = 1_800_000_000) {
  const state = { t: start, sleeps: [] as number[] };
  return {
    state,
    now: () => state.t,
    sleep: async (ms: number) => {
      state.sleeps.push(ms);
      state.t += ms / 1000;
    },
  };
}

describe('202 -> interaction -> poll -> token (wire profile section 8)', () => {
  it('surfaces the interaction URL, polls the Location with signed GETs, and retries with the token', async () => {
    const time = fakeTime();
    const interactions: Interaction[] = [];
    let polledBeforeApproval = 0;
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, now: time.now },
      resource: { now: time.now },
      agent: {
        now: time.now,
        sleep: async (ms) => {
          await time.sleep(ms);
          // The user approves after the second poll.
          if (++polledBeforeApproval === 2) await fetch(interactions[0]!.url);
        },
        interactionCallback: 'http://localhost:5173/done',
        onInteraction: (i) => {
          interactions.push(i);
        },
      },
    });
    open.push(s);
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    expect(interactions).toHaveLength(1);
    const url = new URL(interactions[0]!.url);
    expect(`${url.origin}${url.pathname}`).toBe(`${s.as.issuer}/protocol/aauth/interact`);
    expect(url.searchParams.get('code')).toBe(interactions[0]!.code);
    expect(url.searchParams.get('callback')).toBe('http://localhost:5173/done');
    expect(interactions[0]!.location).toMatch(new RegExp(`^${s.as.issuer}/protocol/aauth/pending/`));
    // Retry-After: 0 is raised to the 1 s floor; polls continue until the 200.
    expect(time.state.sleeps).toEqual([1000, 1000]);
    expect(s.as.polls).toHaveLength(2);
    expect(s.resource.calls.map((c) => c.scheme)).toEqual(['jwks_uri', 'jwt']);
    expect(s.events.map((e) => e.type)).toEqual(['signed', 'challenged', 'interaction', 'exchanged', 'retried', 'signed']);
  });

  it('honours a longer Retry-After', async () => {
    const time = fakeTime();
    let approve: (() => Promise<unknown>) | undefined;
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, retryAfter: 3, now: time.now },
      resource: { now: time.now },
      agent: {
        now: time.now,
        sleep: async (ms) => {
          await time.sleep(ms);
          await approve?.();
        },
        onInteraction: (i) => {
          approve = () => fetch(i.url);
        },
      },
    });
    open.push(s);
    expect((await s.hosted.agent.fetch(`${s.resource.url}/data`)).status).toBe(200);
    expect(time.state.sleeps).toEqual([3000]);
  });

  it('polls with the real sleeper (one short real wait of at least 1 s)', async () => {
    const s = await scenario({
      as: { mode: { kind: 'interaction' } },
      agent: {
        onInteraction: async (i) => {
          await fetch(i.url);
        },
      },
    });
    open.push(s);
    const res = await s.hosted.agent.fetch(`${s.resource.url}/data`);
    expect(res.status).toBe(200);
    expect(s.as.polls).toHaveLength(1);
  });

  it('without onInteraction, throws interaction_required carrying the URL and code', async () => {
    const s = await scenario({ as: { mode: { kind: 'interaction' } } });
    open.push(s);
    const e = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
    expect(isAAuthError(e, 'interaction_required')).toBe(true);
    const details = (e as { details: { url: string; code: string } }).details;
    expect(new URL(details.url).searchParams.get('code')).toBe(details.code);
    expect(s.as.polls).toHaveLength(0);
  });

  for (const [outcome, code] of [
    ['denied', 'interaction_denied'],
    ['expired', 'interaction_expired'],
    ['gone', 'pending_not_found'],
  ] as const) {
    it(`a ${outcome} pending request ends with ${code}`, async () => {
      const time = fakeTime();
      let s: Scenario | undefined;
      s = await scenario({
        as: { mode: { kind: 'interaction' } },
        agent: {
          sleep: time.sleep,
          onInteraction: (i) => {
            const entry = [...s!.as.pending.values()].find((p) => p.code === i.code)!;
            if (outcome === 'denied') s!.as.decide(i.code, false);
            else if (outcome === 'expired') entry.state = 'expired';
            else s!.as.pending.delete(entry.id);
          },
        },
      });
      open.push(s);
      const e = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
      expect(isAAuthError(e, code)).toBe(true);
      expect(s.resource.calls).toHaveLength(1);
    });
  }

  it('gives up at the deadline with interaction_timeout', async () => {
    const time = fakeTime();
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, retryAfter: 2, now: time.now },
      resource: { now: time.now },
      agent: { now: time.now, sleep: time.sleep, interactionTimeoutMs: 9000, onInteraction: () => undefined },
    });
    open.push(s);
    const e = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`));
    expect(isAAuthError(e, 'interaction_timeout')).toBe(true);
    // 2+2+2+2 s, then the last 1 s up to the 9 s deadline.
    expect(time.state.sleeps).toEqual([2000, 2000, 2000, 2000, 1000]);
    expect(s.as.polls).toHaveLength(5);
  });

  it("the caller's AbortSignal stops its wait for a pending approval", async () => {
    const time = fakeTime();
    const controller = new AbortController();
    const s = await scenario({
      as: { mode: { kind: 'interaction' }, now: time.now },
      resource: { now: time.now },
      agent: {
        now: time.now,
        interactionTimeoutMs: 5000,
        sleep: time.sleep,
        // The user is sent to the interaction: the caller gives up while the agent waits for approval.
        onInteraction: () => controller.abort(),
      },
    });
    open.push(s);
    const e = await caught(s.hosted.agent.fetch(`${s.resource.url}/data`, { signal: controller.signal }));
    expect((e as Error).name).toBe('AbortError');
    expect(s.resource.calls).toHaveLength(1);
  });
});
