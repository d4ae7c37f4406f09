import type { IncomingMessage, ServerResponse } from 'node:http';
import { createAgent, createAgentProvider, type Clarification } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { verifyContentDigest } from '@aauth-kit/core/internal';
import got from 'got';
import { afterEach, describe, expect, it } from 'vitest';
import { listen } from './fixtures/http.js';

// AAuth -11 "Clarification Required": a resource may answer 202 with requirement=clarification too
// (the requirement table: resource, PS and AS). The kit's agent hands the question to
// onClarification, POSTs its answer to the pending URL (signed JSON, "Clarification Response"),
// then polls; through agent.fetch and through got. A resource on loopback written for the test.

const open: Array<{ close(): Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

/** A resource that asks `questions` in turn (each answer POSTed to /p), then answers the poll with what it was told. */
async function askingResource(questions: Array<Record<string, unknown>>, answerStatus = 204) {
  const seen: Seen[] = [];
  const answers: string[] = [];
  let asked = 0;
  const pending = (res: ServerResponse) => {
    const question = questions[asked++]!;
    res.writeHead(202, { Location: '/p', 'Retry-After': '0', 'Cache-Control': 'no-store', 'AAuth-Requirement': 'requirement=clarification', 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'pending', ...question }));
  };
  const l = await listen((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      if (req.url === '/orders') return pending(res);
      if (req.url === '/p' && req.method === 'POST') {
        answers.push(String((JSON.parse(body) as { clarification_response: unknown }).clarification_response));
        return void res.writeHead(answerStatus).end();
      }
      if (req.url === '/p' && req.method === 'GET') {
        if (asked < questions.length) return pending(res);
        return void res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ ok: true, answers }));
      }
      res.writeHead(404).end();
    });
  });
  open.push(l);
  return { origin: l.origin, seen, answers };
}

function agentAnswering(onClarification?: (c: Clarification) => string | Promise<string>) {
  const provider = createAgentProvider({ issuer: 'http://127.0.0.1:9', key: generateKey({ kid: 'ap' }), allowLoopback: true });
  return createAgent({
    key: generateKey({ kid: 'agent-key-1' }),
    draft11: { provider, local: 'tester', ps: 'http://127.0.0.1:9', allowLoopback: true },
    sleep: async () => undefined,
    interactionTimeoutMs: 10_000,
    ...(onClarification ? { onClarification } : {}),
  });
}

describe("a resource's 202 requirement=clarification", () => {
  for (const via of ['agent.fetch', 'got'] as const) {
    it(`${via}: the question to onClarification, its answer POSTed (signed JSON, digest covered) to the pending URL, then the poll's answer`, async () => {
      const r = await askingResource([{ clarification: 'Which **size**?', options: ['S', 'L'], timeout: 30 }]);
      const asked: Clarification[] = [];
      const agent = agentAnswering((c) => (asked.push(c), 'L, please.'));
      const body =
        via === 'agent.fetch'
          ? await (await agent.fetch(`${r.origin}/orders`, { method: 'POST', body: '{"qty":1}', headers: { 'content-type': 'application/json' } })).json()
          : await agent.extendGot(got).post(`${r.origin}/orders`, { json: { qty: 1 }, retry: { limit: 0 } }).json();
      expect(body).toEqual({ ok: true, answers: ['L, please.'] });
      expect(asked).toEqual([{ question: 'Which **size**?', options: ['S', 'L'], timeout: 30, location: `${r.origin}/p`, authServer: r.origin }]);
      expect(r.seen.map((s) => [s.method, s.url])).toEqual([
        ['POST', '/orders'],
        ['POST', '/p'],
        ['GET', '/p'],
      ]);
      const answer = r.seen[1]!;
      expect(JSON.parse(answer.body)).toEqual({ action: 'clarification_response', clarification_response: 'L, please.' });
      expect(answer.headers['content-type']).toBe('application/json');
      expect(String(answer.headers['signature-input'])).toMatch(/"content-digest"/);
      expect(String(answer.headers['signature-key'])).toMatch(/sig=jwt/);
      expect(() => verifyContentDigest(String(answer.headers['content-digest']), Buffer.from(answer.body))).not.toThrow();
      // The poll after the answer is a bodiless GET.
      expect(r.seen[2]!.body).toBe('');
      expect(r.seen[2]!.headers['content-type']).toBeUndefined();
    });
  }

  it('two questions in turn are both answered; a sixth question in one call is refused (challenge_unsatisfiable)', async () => {
    const two = await askingResource([{ clarification: 'First?' }, { clarification: 'Second?' }]);
    const agent = agentAnswering((c) => `answer to ${c.question}`);
    expect(await (await agent.fetch(`${two.origin}/orders`, { method: 'POST', body: '{}' })).json()).toEqual({ ok: true, answers: ['answer to First?', 'answer to Second?'] });

    const many = await askingResource(Array.from({ length: 6 }, (_, i) => ({ clarification: `Question ${i + 1}?` })));
    let answered = 0;
    const patient = agentAnswering(() => `answer ${++answered}`);
    await expect(patient.fetch(`${many.origin}/orders`, { method: 'POST', body: '{}' })).rejects.toMatchObject({ code: 'challenge_unsatisfiable', message: expect.stringContaining('another clarification after 5') });
    expect(answered).toBe(5);
  });

  it('without onClarification: refused at once (challenge_unsatisfiable), nothing POSTed; a question without text: challenge_malformed', async () => {
    const r = await askingResource([{ clarification: 'Why?' }]);
    await expect(agentAnswering().fetch(`${r.origin}/orders`, { method: 'POST', body: '{}' })).rejects.toMatchObject({ code: 'challenge_unsatisfiable', message: expect.stringContaining('answers none (no onClarification)') });
    expect(r.seen.map((s) => s.method)).toEqual(['POST']);
    for (const question of [{}, { clarification: '  ' }, { clarification: 'x'.repeat(20_000) }]) {
      const bad = await askingResource([question]);
      const asked: string[] = [];
      await expect(agentAnswering((c) => (asked.push(c.question), 'a')).fetch(`${bad.origin}/orders`, { method: 'POST', body: '{}' })).rejects.toMatchObject({ code: 'challenge_malformed' });
      expect(asked).toEqual([]);
    }
  });

  it("a refusal of the answer (403) is the call's answer, handed back as the resource sent it", async () => {
    const r = await askingResource([{ clarification: 'Why?' }], 403);
    const res = await agentAnswering(() => 'Because.').fetch(`${r.origin}/orders`, { method: 'POST', body: '{}' });
    expect(res.status).toBe(403);
    expect(r.seen.map((s) => [s.method, s.url])).toEqual([
      ['POST', '/orders'],
      ['POST', '/p'],
    ]);
  });
});
