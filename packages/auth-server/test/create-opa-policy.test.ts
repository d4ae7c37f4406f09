import { createOpaPolicy, type PolicyInput } from '@aauth-kit/auth-server';
import { AAuthError, isAAuthError } from '@aauth-kit/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../../test/fixtures/route-server.js';
import { freePort } from '../../../test/fixtures/http.js';
import { createPolicyCheck } from '../src/lib/policy-hook.js';

// createOpaPolicy against a small fake OPA (the real one is in interop/opa/), and the policy
// check that every issuing endpoint calls: what a decision may say, and what refuses.

const input: PolicyInput = {
  realm: 'r',
  generation: 'keycloak',
  endpoint: 'aauth-token',
  operation: 'auth',
  stage: 'request',
  agent: 'http://127.0.0.1:1',
  chain: ['http://127.0.0.1:2'],
  resource: 'http://127.0.0.1:3',
  scopes: ['crm:read', 'crm:write'],
  time: 1_795_780_800,
};

async function refusal(fn: () => unknown): Promise<AAuthError> {
  try {
    await fn();
  } catch (error) {
    if (isAAuthError(error)) return error;
    throw error;
  }
  throw new Error('expected a refusal');
}

let opa: Awaited<ReturnType<typeof startServer>>;
const bodies: Array<{ path: string; body: unknown; contentType: string | undefined }> = [];
/** What the fake answers on /v1/data/<name>. */
const answers: Record<string, { status: number; text: string; delayMs?: number }> = {
  deny: { status: 200, text: JSON.stringify({ result: { allow: false, reason: 'closed today' } }) },
  narrow: { status: 200, text: JSON.stringify({ result: { allow: true, scopes: ['crm:read'] } }) },
  yes: { status: 200, text: JSON.stringify({ result: true }) },
  no: { status: 200, text: JSON.stringify({ result: false }) },
  undefined_doc: { status: 200, text: '{}' },
  odd: { status: 200, text: JSON.stringify({ result: { permit: true } }) },
  badscopes: { status: 200, text: JSON.stringify({ result: { allow: true, scopes: 'crm:read' } }) },
  notjson: { status: 200, text: 'ok' },
  error: { status: 500, text: JSON.stringify({ code: 'internal_error', message: 'eval failed' }) },
  slow: { status: 200, text: JSON.stringify({ result: true }), delayMs: 1000 },
};

beforeAll(async () => {
  opa = await startServer();
  for (const [name, answer] of Object.entries(answers)) {
    opa.routes[`/v1/data/aauth/${name}`] = (req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
      req.on('end', () => {
        bodies.push({ path: req.url ?? '', body: JSON.parse(text), contentType: req.headers['content-type'] });
        const send = () => res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.text);
        if (answer.delayMs) setTimeout(send, answer.delayMs).unref();
        else send();
      });
    };
  }
});

afterAll(async () => {
  await opa.close();
});

describe('createOpaPolicy', () => {
  it('validates its options with TypeErrors naming them', () => {
    expect(() => createOpaPolicy({ url: 'not a url', path: 'a/b' })).toThrow('options.url must be an absolute http(s) URL');
    expect(() => createOpaPolicy({ url: 'ftp://x', path: 'a/b' })).toThrow('options.url must be an absolute http(s) URL');
    expect(() => createOpaPolicy({ url: 'http://127.0.0.1:1', path: '/a/../b' })).toThrow('options.path must be a slash-separated OPA document path');
    expect(() => createOpaPolicy({ url: 'http://127.0.0.1:1', path: 'a/b', timeoutMs: 0 })).toThrow('options.timeoutMs must be a positive integer');
  });

  it('POSTs {input} as JSON to /v1/data/{path} and reads result: object and boolean decisions', async () => {
    const ask = (name: string) => createOpaPolicy({ url: opa.url, path: `aauth/${name}` })(input);
    expect(await ask('deny')).toEqual({ allow: false, reason: 'closed today' });
    expect(await ask('narrow')).toEqual({ allow: true, scopes: ['crm:read'] });
    expect(await ask('yes')).toEqual({ allow: true });
    expect(await ask('no')).toEqual({ allow: false });
    expect(bodies.at(-1)).toEqual({ path: '/v1/data/aauth/no', body: { input }, contentType: 'application/json' });
  });

  it('answers 503 policy_unavailable, never an allow, for every failure', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const cases: Array<[string, string, number?]> = [
      [opa.url, 'undefined_doc', undefined],
      [opa.url, 'odd', undefined],
      [opa.url, 'badscopes', undefined],
      [opa.url, 'notjson', undefined],
      [opa.url, 'error', undefined],
      [opa.url, 'slow', 100],
      [dead, 'yes', undefined],
    ];
    const messages: string[] = [];
    for (const [url, name, timeoutMs] of cases) {
      const policy = createOpaPolicy({ url, path: `aauth/${name}`, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
      const error = await refusal(() => policy(input));
      expect(error).toMatchObject({ code: 'policy_unavailable', status: 503, error: 'server_error', headers: { 'Retry-After': '5' } });
      messages.push(error.message);
    }
    expect(messages).toEqual([
      'OPA has no decision at this path (is the policy loaded?)',
      'OPA answered a decision that is neither a boolean nor { allow: boolean }',
      'OPA answered scopes that are not a list of strings',
      'OPA answered something that is not JSON',
      'OPA answered HTTP 500',
      'OPA did not answer within 100 ms',
      `OPA could not be reached at ${dead}`,
    ]);
  });
});

describe('the policy check of the issuing endpoints', () => {
  const check = (answer: unknown, timeoutMs = 1000) => createPolicyCheck(() => answer as never, timeoutMs, 'r', () => input.time);
  const request = { ...input } as Omit<PolicyInput, 'realm' | 'time'> & Partial<PolicyInput>;
  delete request.realm;
  delete request.time;

  it('without a hook, allows what the realm allowed, as asked', async () => {
    expect(await createPolicyCheck(undefined, 1000, 'r', () => 0)(request)).toEqual(['crm:read', 'crm:write']);
  });

  it('allow keeps the scopes; a narrowed list keeps the asked order; the hook sees realm and time', async () => {
    const seen: PolicyInput[] = [];
    const hook = (i: PolicyInput) => {
      seen.push(i);
      return { allow: true as const, scopes: ['crm:write', 'crm:read'] };
    };
    expect(await createPolicyCheck(hook, 1000, 'r', () => input.time + 0.7)(request)).toEqual(['crm:read', 'crm:write']);
    expect(seen).toEqual([input]);
    expect(await check({ allow: true, scopes: ['crm:read'] })(request)).toEqual(['crm:read']);
  });

  it('deny is 403 access_denied (policy_denied) with the reason, one printable line, bounded', async () => {
    const denied = await refusal(() => check({ allow: false, reason: 'closed\r\nX-Injected: 1' })(request));
    expect(denied).toMatchObject({ code: 'policy_denied', status: 403, error: 'access_denied', message: 'Denied by the issuance policy: closed X-Injected: 1' });
    const long = await refusal(() => check({ allow: false, reason: 'x'.repeat(1000) })(request));
    expect(long.message).toBe(`Denied by the issuance policy: ${'x'.repeat(299)}…`);
    const bare = await refusal(() => check({ allow: false })(request));
    expect(bare.message).toBe('Denied by the issuance policy: no reason given');
    const none = await refusal(() => check({ allow: true, scopes: [] })(request));
    expect(none).toMatchObject({ code: 'policy_denied', message: 'Denied by the issuance policy: none of the scopes asked (crm:read crm:write) is granted' });
  });

  it('widening, a non-decision, a throw or a timeout is 503 policy_unavailable', async () => {
    const cases: Array<[unknown, string]> = [
      [{ allow: true, scopes: ['crm:read', 'admin'] }, 'The issuance policy granted scopes that were not asked: admin'],
      [{ allow: 'yes' }, 'The issuance policy answered no decision ({ allow: boolean } expected)'],
      [null, 'The issuance policy answered no decision ({ allow: boolean } expected)'],
      [{ allow: true, scopes: [1] }, 'The issuance policy answered scopes that are not a list of strings'],
    ];
    for (const [answer, message] of cases) {
      expect(await refusal(() => check(answer)(request))).toMatchObject({ code: 'policy_unavailable', status: 503, message });
    }
    const thrown = await refusal(() =>
      createPolicyCheck(() => {
        throw new Error('boom');
      }, 1000, 'r', () => 0)(request),
    );
    expect(thrown).toMatchObject({ code: 'policy_unavailable', message: 'The issuance policy failed: boom' });
    const hung = await refusal(() => createPolicyCheck(() => new Promise<never>(() => undefined), 50, 'r', () => 0)(request));
    expect(hung).toMatchObject({ code: 'policy_unavailable', message: 'The issuance policy did not answer within 50 ms' });
  });
});
