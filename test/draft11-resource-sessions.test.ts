// -11 resource-managed access (AAuth -11 "AAuth-Access Response Header"): the resource hands out a
// session token in AAuth-Access; later signed requests carry `Authorization: AAuth <token>`,
// covered by the signature, and the route sees the session (draft-11 profile section 7).
import { generateKey, parseSignatureError, type SigningKey } from '@aauth-kit/core';
import { createResource, type Resource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentToken, fetch11, startIssuer11, type Issuer11 } from './fixtures/draft11-issuers.js';
import { listen, type Listening } from './fixtures/http.js';

let ap: Issuer11;
let site: Listening;
let resource: Resource;
let url: string;
const agentKey: SigningKey = generateKey({ kid: 'agent-11' });
const thief: SigningKey = generateKey({ kid: 'thief' });

beforeAll(async () => {
  ap = await startIssuer11('aauth-agent.json');
  const app = express();
  site = await listen(app);
  url = site.origin;
  resource = createResource({ identity: url, key: generateKey({ kid: 'r' }), generations: ['draft-11'], draft11: { allowLoopback: true, accessMode: 'session-token' } });
  // The resource's own flow decided (here: at once) and starts a session for this agent's key.
  app.post('/login', resource.require({ level: 'identity' }), (req: Request, res: Response) => {
    resource.startSession(req, res, { user: 'alice', plan: 'pro' });
    res.json({ status: 'authorized' });
  });
  app.get('/account', resource.require({ level: 'identity' }), (req: Request, res: Response) => res.json(req.aauth));
});

afterAll(async () => {
  await Promise.all([ap?.close(), site?.close()]);
});

describe('session tokens (AAuth-Access)', () => {
  it('AAuth-Access hands out a token68; presented under a covered Authorization it is req.aauth.session', async () => {
    const jwt = await agentToken(ap, agentKey);
    const login = await fetch11(`${url}/login`, agentKey, jwt, { method: 'POST', body: '{}' });
    expect(login.status).toBe(200);
    const token = login.headers.get('aauth-access')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const res = await fetch11(`${url}/account`, agentKey, jwt, { headers: { authorization: `AAuth ${token}` }, cover: ['authorization'] });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ generation: 'draft-11', accessMode: 'session-token', session: { user: 'alice', plan: 'pro' } });
  });

  it('an uncovered Authorization is invalid_input naming authorization; a malformed one 400 invalid_request', async () => {
    const jwt = await agentToken(ap, agentKey);
    const token = (await fetch11(`${url}/login`, agentKey, jwt, { method: 'POST', body: '{}' })).headers.get('aauth-access')!;
    const uncovered = await fetch11(`${url}/account`, agentKey, jwt, { headers: { authorization: `AAuth ${token}` } });
    expect(uncovered.status).toBe(401);
    expect(parseSignatureError(uncovered.headers.get('signature-error'))).toMatchObject({ error: 'invalid_input', requiredInput: ['@method', '@authority', '@path', 'authorization', 'signature-key'] });
    const malformed = await fetch11(`${url}/account`, agentKey, jwt, { headers: { authorization: 'AAuth two tokens' }, cover: ['authorization'] });
    expect([malformed.status, malformed.body.error, malformed.headers.get('content-type')]).toEqual([400, 'invalid_request', 'application/problem+json']);
  });

  it('a session token replayed by another key is no session', async () => {
    const jwt = await agentToken(ap, agentKey);
    const token = (await fetch11(`${url}/login`, agentKey, jwt, { method: 'POST', body: '{}' })).headers.get('aauth-access')!;
    const other = await agentToken(ap, thief, { local: 'thief' });
    const res = await fetch11(`${url}/account`, thief, other, { headers: { authorization: `AAuth ${token}` }, cover: ['authorization'] });
    expect(res.status).toBe(200);
    expect(res.body.session).toBeUndefined();
    expect(res.body.accessMode).toBe('agent-token');
  });
});
