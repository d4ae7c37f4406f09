import express from 'express';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { signed, startApp } from './helpers.js';

// A signature covers `@path` as a URL parser makes it (dot segments removed, `\` read as `/`), while
// express routes on the raw request target. A request signed for /public, replayed with the target
// /admin/../public, would verify and reach the router mounted at /admin: such targets are refused.

let web: Awaited<ReturnType<typeof startApp>>;
let R: string;
const key = generateKey();
const reached: string[] = [];

beforeAll(async () => {
  web = await startApp();
  R = web.identity;
  const resource = createResource({ identity: R, key: generateKey({ kid: 'res' }) });
  const admin = express.Router();
  admin.use((req, res) => {
    reached.push(`admin ${req.path}`);
    res.json({ route: 'admin' });
  });
  web.app.use('/admin', resource.require(), admin);
  web.app.get('/public', resource.require(), (_req, res) => {
    reached.push('public');
    res.json({ route: 'public' });
  });
});
afterAll(() => web.close());

/** One GET over a raw socket, the request target sent exactly as given. */
function rawGet(target: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(web.port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(out.split(' ')[1]), body: out.split('\r\n\r\n')[1] ?? '' }));
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`GET ${target} HTTP/1.1\r\nhost: 127.0.0.1\r\n${lines}connection: close\r\n\r\n`);
  });
}

describe('request targets whose parsed path is not the routed path', () => {
  it('a signature for /public replayed on /admin/../public (and its encodings) is refused with 400 invalid_request', async () => {
    const { headers } = signed({ method: 'GET', url: `${R}/public` }, key);
    expect(await rawGet('/public', headers)).toMatchObject({ status: 200 });
    reached.length = 0;
    for (const target of ['/admin/../public', '/admin/%2e%2e/public', '/admin/%2E%2E/public', '/admin/./../public', '/admin/.%2e/public', '/admin/\\..\\..\\public']) {
      const answer = await rawGet(target, headers);
      expect(answer.status, target).toBe(400);
      expect(JSON.parse(answer.body), target).toMatchObject({ error: 'invalid_request', error_description: expect.stringMatching(/normalised path|backslash/) });
    }
    expect(reached).toEqual([]);
  });
});
