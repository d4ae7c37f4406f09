import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NextFunction, Request, Response } from 'express';
import { generateKey } from '@aauth-kit/core';
import { aauth, aauthErrorHandler, createResource } from '@aauth-kit/express';
import { send, startApp } from './helpers.js';

// A factory handed to express uncalled (`resource.require` for `resource.require()`) used to return
// a handler that express dropped: the request hung until the client gave up. Now the first request
// fails with a TypeError that names the fix.
describe('a factory mounted without being called fails the request with the fix, instead of hanging it', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  const seen: unknown[] = [];
  beforeAll(async () => {
    web = await startApp();
    const resource = createResource({ identity: web.identity, key: generateKey() });
    web.app.get('/require', resource.require as never, (_req, res) => void res.json({ ok: true }));
    web.app.get('/well-known', resource.wellKnown as never, (_req, res) => void res.json({ ok: true }));
    web.app.get('/aauth', aauth as never, (_req, res) => void res.json({ ok: true }));
    web.app.get('/handler', aauthErrorHandler as never, (_req, res) => void res.json({ ok: true }));
    web.app.use((error: Error, _req: Request, res: Response, _next: NextFunction) => {
      seen.push(error);
      res.status(500).json({ name: error.name, message: error.message });
    });
  });
  afterAll(() => web.close());

  const cases: Array<[string, RegExp]> = [
    ['/require', /^resource\.require is a factory: mount what it returns, e\.g\. app\.get\('\/x', resource\.require\(\{ level: 'identity' \}\), handler\), not resource\.require itself \(express called it with a request\)$/],
    ['/well-known', /^resource\.wellKnown is a factory: mount what it returns, e\.g\. app\.use\(resource\.wellKnown\(\)\)/],
    ['/aauth', /^aauth is a factory: mount what it returns, e\.g\. app\.use\(aauth\(\{ identity, key, level: 'identity' \}\)\)/],
    ['/handler', /^aauthErrorHandler is a factory: mount what it returns, e\.g\. app\.use\(aauthErrorHandler\(\)\)/],
  ];
  for (const [path, message] of cases) {
    it(`${path}: 500 with the TypeError, at once`, async () => {
      const answer = await send({ method: 'GET', url: `${web.identity}${path}` });
      expect(answer.status).toBe(500);
      expect(answer.json.name).toBe('TypeError');
      expect(answer.json.message).toMatch(message);
    });
  }

  it('the factories called as meant are untouched', () => {
    const resource = createResource({ identity: web.identity, key: generateKey() });
    expect(typeof resource.require()).toBe('function');
    expect(typeof resource.require({ level: 'identity' })).toBe('function');
    expect(typeof resource.wellKnown()).toBe('function');
    expect(aauthErrorHandler().length).toBe(4);
  });
});
