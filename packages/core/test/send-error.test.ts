import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from './fixtures/raw-request.js';
import { AAuthError } from '@aauth-kit/core';
import { sendError, serveDocuments } from '@aauth-kit/core/internal';

describe('the HTTP edge: sendError and serveDocuments on node:http', () => {
  let server: Server;
  let origin: string;
  const documents = serveDocuments({ '/realms/r/protocol/aauth/certs': { keys: [] } }, 'test');

  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/refuse') {
        const error = new AAuthError('auth_token_required', 'Authorization required', { headers: { AAuth: 'require=auth-token' } });
        sendError(res, error, { 'Cache-Control': 'no-store' });
        return;
      }
      documents(req, res);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.close();
    server.closeAllConnections();
  });

  it('sendError: the error status, its headers and the extra ones, the JSON body', async () => {
    const res = await send(origin, 'GET', '/refuse');
    expect(res.status).toBe(401);
    expect(res.headers.aauth).toBe('require=auth-token');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(res.body)).toEqual({ error: 'invalid_auth_token', error_description: 'Authorization required' });
  });

  it('sendError answers HEAD with the headers and no body', async () => {
    const res = await send(origin, 'HEAD', '/refuse');
    expect(res.status).toBe(401);
    expect(Number(res.headers['content-length'])).toBeGreaterThan(20);
    expect(res.body).toBe('');
  });

  it('serveDocuments: any path, exact; 404 route_not_found and 405 method_not_allowed from the table without next()', async () => {
    const ok = await send(origin, 'GET', '/realms/r/protocol/aauth/certs');
    expect([ok.status, ok.headers['cache-control'], JSON.parse(ok.body)]).toEqual([200, 'public, max-age=300', { keys: [] }]);
    const missing = await send(origin, 'GET', '/realms/r/protocol/aauth/certs/');
    expect([missing.status, JSON.parse(missing.body).error]).toEqual([404, 'not_found']);
    const post = await send(origin, 'POST', '/realms/r/protocol/aauth/certs');
    expect([post.status, post.headers.allow, JSON.parse(post.body).error]).toEqual([405, 'GET, HEAD', 'method_not_allowed']);
  });

  it('serveDocuments refuses a path that does not start with / (start-up misuse: TypeError naming the handler)', () => {
    expect(() => serveDocuments({ certs: {} }, 'authServer.router()')).toThrow(new TypeError('authServer.router(): document path "certs" must start with /'));
  });
});
