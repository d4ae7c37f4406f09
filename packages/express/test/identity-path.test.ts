import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '@aauth-kit/core';
import { createAgent } from '@aauth-kit/agent';
import { createResource } from '@aauth-kit/express';
import { startApp } from './helpers.js';

// An identity with a path (https://host/api): peers fetch {identity}/.well-known/aauth-resource.json
// and its jwks_uri {identity}/jwks.json. wellKnown() mounted at the root served only
// /.well-known/... and /jwks.json, so the auth server found nothing (audit finding).
describe('wellKnown() of an identity with a path, mounted at the root of the origin', () => {
  let web: Awaited<ReturnType<typeof startApp>>;
  let agentWeb: Awaited<ReturnType<typeof startApp>>;
  let identity = '';
  const key = generateKey({ kid: 'api-1' });
  const agentKey = generateKey({ kid: 'tools-1' });
  beforeAll(async () => {
    web = await startApp();
    identity = `${web.identity}/api`;
    const resource = createResource({ identity, key });
    web.app.use(resource.wellKnown());
    // An agent alone on its origin (two parties at the root of one app would publish two JWKS at /jwks.json: refused at app.use()).
    agentWeb = await startApp();
    agentWeb.app.use(createAgent({ identity: `${agentWeb.identity}/tools`, key: agentKey }).wellKnown());
  });
  afterAll(async () => {
    await web.close();
    await agentWeb.close();
  });

  it("serves the resource's documents and JWKS at the identity's own URLs", async () => {
    const doc = (await (await fetch(`${identity}/.well-known/aauth-resource.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ resource: identity, jwks_uri: `${identity}/jwks.json` });
    expect((await fetch(`${identity}/.well-known/aauth-resource`)).status).toBe(200);
    const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['api-1']);
  });

  it("the agent's too, under its own path", async () => {
    const doc = (await (await fetch(`${agentWeb.identity}/tools/.well-known/aauth-agent.json`)).json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ agent: `${agentWeb.identity}/tools`, jwks_uri: `${agentWeb.identity}/tools/jwks.json` });
    const jwks = (await (await fetch(String(doc.jwks_uri))).json()) as { keys: Array<{ kid: string }> };
    expect(jwks.keys.map((k) => k.kid)).toEqual(['tools-1']);
  });

  it('other paths under the identity are not answered by the handler', async () => {
    expect((await fetch(`${identity}/.well-known/other.json`)).status).toBe(404);
  });
});
