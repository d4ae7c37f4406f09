import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { send } from './fixtures/raw-request.js';
import { AAuthError } from '@aauth-kit/core';
import { sendProblem, signatureErrorHeaders } from '@aauth-kit/core/internal';

describe('sendProblem: a -11 error response on node:http (draft-11 profile sections 4 and 5)', () => {
  let server: Server;
  let origin: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const error =
        req.url === '/alg'
          ? new AAuthError('key_alg_missing', 'cnf.jwk has no alg')
          : new AAuthError('person_token_required', undefined, { headers: { 'AAuth-Requirement': 'requirement=person-token' } });
      sendProblem(res, error, signatureErrorHeaders(error));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => {
    server.close();
    server.closeAllConnections();
  });

  it('a signature failure: 401, Signature-Error, Accept-Signature-Alg, problem+json with the -09 code', async () => {
    const res = await send(origin, 'GET', '/alg');
    expect(res.status).toBe(401);
    expect(res.headers['signature-error']).toBe('error=unsupported_algorithm');
    expect(res.headers['accept-signature-alg']).toBe('Ed25519, ES256');
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toEqual({ error: 'unsupported_algorithm', detail: 'cnf.jwk has no alg', status: 401, type: 'urn:ietf:params:sig-error:unsupported_algorithm' });
  });

  it('a challenge: its AAuth-Requirement header and no Signature-Error', async () => {
    const res = await send(origin, 'GET', '/person');
    expect(res.status).toBe(401);
    expect(res.headers['aauth-requirement']).toBe('requirement=person-token');
    expect(res.headers['signature-error']).toBeUndefined();
    expect(JSON.parse(res.body)).toEqual({ error: 'person_token_required', detail: 'This resource requires a person token', status: 401 });
  });

  it('HEAD: headers, no body', async () => {
    const res = await send(origin, 'HEAD', '/alg');
    expect(res.status).toBe(401);
    expect(res.body).toBe('');
  });
});
