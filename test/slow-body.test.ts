import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, signRequest } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { testRealm } from './fixtures/auth-server.js';

/**
 * Send `head` and the start of a body on a raw socket, then nothing more: what the server answers
 * (the raw text) and whether it closed the connection (`closed` false: nothing closed it within
 * giveUpMs, far above the servers' bodyTimeoutMs of 300 ms here; no time is asserted).
 */
function stall(port: number, head: string, partial: string, giveUpMs = 10_000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), giveUpMs);
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', () => done(true));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
    socket.write(`${head}\r\n\r\n${partial}`);
  });
}

const jsonOf = (text: string): Record<string, unknown> => JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;

// Audit finding: a body that stops arriving held the connection (and the parser's buffer) until
// node's own request timeout, 300 s by default, before even the signature was looked at.
describe('a stalled request body: 408 body_timeout at bodyTimeoutMs, and the connection closed', () => {
  let resourcePort = 0;
  let authPort = 0;
  let mountedPort = 0;
  const closers: Array<() => Promise<unknown>> = [];
  beforeAll(async () => {
    const app = express();
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    resourcePort = (server.address() as AddressInfo).port;
    const resource = createResource({ identity: `http://127.0.0.1:${resourcePort}`, key: generateKey(), bodyTimeoutMs: 300 });
    app.post('/post', resource.require(), express.json(), (req, res) => void res.json({ got: req.body }));
    closers.push(() => new Promise((resolve) => server.close(resolve)));

    const auth = createAuthServer({ realm: testRealm(), baseUrl: 'http://localhost:1', bodyTimeoutMs: 300, onWarning: () => undefined });
    const running = await auth.listen(0);
    authPort = Number(new URL(running.url).port);
    closers.push(() => running.close());

    // The auth server's router mounted in an app of the user's, with no timeouts of its own.
    const mounted = express().use(auth.router()).listen(0, '127.0.0.1');
    await new Promise((resolve) => mounted.once('listening', resolve));
    mountedPort = (mounted.address() as AddressInfo).port;
    closers.push(() => new Promise((resolve) => mounted.close(resolve)));
  });
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('resource, unsigned: refused (401) without waiting for the body, connection closed', async () => {
    const r = await stall(resourcePort, `POST /post HTTP/1.1\r\nHost: 127.0.0.1:${resourcePort}\r\nContent-Type: application/json\r\nContent-Length: 100`, '{"a"');
    expect(r.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(r.text.toLowerCase()).toContain('connection: close');
    expect(jsonOf(r.text)).toEqual({ error: 'invalid_signature', error_description: 'The request is not signed (no Signature-Key, Signature-Input or Signature header)' });
    expect(r.closed).toBe(true);
  });

  it('resource, with a signature header but a stalled body: 408 once bodyTimeoutMs passed, connection closed', async () => {
    const r = await stall(resourcePort, `POST /post HTTP/1.1\r\nHost: 127.0.0.1:${resourcePort}\r\nContent-Type: application/json\r\nSignature: x=:AA==:\r\nContent-Length: 100`, '{"a"');
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.text.toLowerCase()).toContain('connection: close');
    expect(jsonOf(r.text)).toEqual({ error: 'invalid_request', error_description: "The request body did not arrive within 0.3 s: send it at once, or raise the server's bodyTimeoutMs" });
    expect(r.closed).toBe(true);
  });

  it('resource, signed with a content-digest: the same', async () => {
    const url = `http://127.0.0.1:${resourcePort}/post`;
    const body = JSON.stringify({ a: 'x'.repeat(50) });
    const { headers } = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body }, { key: generateKey() });
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${String(v)}`);
    const r = await stall(resourcePort, [`POST /post HTTP/1.1`, `Host: 127.0.0.1:${resourcePort}`, 'Content-Type: application/json', `Content-Length: ${body.length}`, ...lines].join('\r\n'), body.slice(0, 10));
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(jsonOf(r.text).error).toBe('invalid_request');
    expect(r.closed).toBe(true);
  });

  it('resource: a whole body in time still passes (the clock stops when the body is read)', async () => {
    const url = `http://127.0.0.1:${resourcePort}/post`;
    const body = '{"a":1}';
    const { headers } = signRequest({ method: 'POST', url, headers: { 'content-type': 'application/json' }, body }, { key: generateKey() });
    const answer = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' } as Record<string, string>, body });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ got: { a: 1 } });
    await new Promise((resolve) => setTimeout(resolve, 400));
  });

  for (const [name, port] of [['its own listener', () => authPort], ["mounted in the user's app", () => mountedPort]] as const) {
    it(`auth server, ${name}: the token endpoint answers 408 and closes`, async () => {
      const p = port();
      const r = await stall(p, `POST /realms/aauth-test/protocol/aauth/token HTTP/1.1\r\nHost: localhost:${p}\r\nContent-Type: application/json\r\nContent-Length: 500`, '{"resource_token":"');
      expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
      expect(r.text.toLowerCase()).toContain('cache-control: no-store');
      expect(jsonOf(r.text)).toMatchObject({ error: 'invalid_request' });
      expect(r.closed).toBe(true);
    });
  }

  it('auth server: the sign-in form too', async () => {
    const r = await stall(authPort, `POST /realms/aauth-test/protocol/aauth/interact/login HTTP/1.1\r\nHost: localhost:${authPort}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 300`, 'code=AB');
    expect(r.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(r.closed).toBe(true);
  });

  it('auth server: a pending URL whose percent-encoding does not decode is named as such (before: "The request body could not be read")', async () => {
    const answer = await fetch(`http://127.0.0.1:${authPort}/realms/aauth-test/protocol/aauth/pending/%zz`);
    expect(answer.status).toBe(400);
    expect(await answer.json()).toEqual({ error: 'invalid_request', error_description: 'The request path is not valid percent-encoding' });
  });
});

describe('bodyTimeoutMs is validated', () => {
  it('createResource and createAuthServer refuse a bad value', () => {
    expect(() => createResource({ identity: 'http://localhost:3000', key: generateKey(), bodyTimeoutMs: 0 })).toThrow('options.bodyTimeoutMs must be a positive integer (milliseconds)');
    expect(() => createAuthServer({ realm: testRealm(), baseUrl: 'http://localhost:1', bodyTimeoutMs: 1.5, onWarning: () => undefined })).toThrow('options.bodyTimeoutMs must be a positive integer');
  });
});
