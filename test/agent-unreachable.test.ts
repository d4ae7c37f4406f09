import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { describe, expect, it } from 'vitest';
import { AAuthError, generateKey } from '@aauth-kit/core';
import { createAgent } from '@aauth-kit/agent';
import { aauthErrorHandler } from '@aauth-kit/express';

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// A resource that is down used to surface as undici's bare `TypeError: fetch failed`: express
// answered it as an HTML 500 page with a stack, and the CLI printed "aauth: fetch failed".
describe('a called URL that gives no HTTP answer: resource_unreachable (502), naming the URL and the reason', () => {
  const agent = createAgent({ key: generateKey() });

  it('a refused connection', async () => {
    const port = await closedPort();
    const error = await agent.fetch(`http://127.0.0.1:${port}/analyze?secret=1`, { method: 'POST', body: '{}' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AAuthError);
    const e = error as AAuthError;
    expect(e.code).toBe('resource_unreachable');
    expect(e.status).toBe(502);
    expect(e.error).toBe('server_error');
    expect(e.message).toMatch(new RegExp(`^Cannot reach POST http://127\\.0\\.0\\.1:${port}/analyze: fetch failed \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\)$`));
    expect(e.message).not.toContain('secret');
    expect(e.cause).toBeInstanceOf(TypeError);
  });

  it('an abort through the call signal stays fetch\'s AbortError', async () => {
    const port = await closedPort();
    const controller = new AbortController();
    controller.abort();
    const error = await agent.fetch(`http://127.0.0.1:${port}/x`, { signal: controller.signal }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).not.toBeInstanceOf(AAuthError);
    expect((error as Error).name).toBe('AbortError');
  });

  it('inside a route, aauthErrorHandler() answers it as JSON 502 (before: express\'s HTML 500 with a stack)', async () => {
    const port = await closedPort();
    const app = express();
    app.get('/plan', async () => {
      await agent.fetch(`http://127.0.0.1:${port}/analyze`);
    });
    app.use(aauthErrorHandler());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const answer = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/plan`);
      expect(answer.status).toBe(502);
      expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
      const body = (await answer.json()) as { error: string; error_description: string };
      expect(body.error).toBe('server_error');
      expect(body.error_description).toMatch(/^Cannot reach GET http:\/\/127\.0\.0\.1:\d+\/analyze: fetch failed \(connect ECONNREFUSED/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
