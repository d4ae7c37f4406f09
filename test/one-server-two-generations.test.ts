import { readFileSync } from 'node:fs';
import { createAgent, createAgentProvider } from '@aauth-kit/agent';
import { generateKey } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decideOverHttp, decodeJwt, startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { hostedAgent } from './fixtures/hosted-agent.js';
import { listen } from './fixtures/http.js';

// Issue 16, "One realm file": one embedded auth server process, started from the realm export that
// Keycloak imports, serves the Keycloak profile under /realms/{realm} and the -11 person server at
// its own well-known at once; one kit route accepts both generations and answers each caller in
// its own. Neither generation's token is accepted where the other's is required.

const realm = JSON.parse(readFileSync(new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let route: string;
const SCOPE = 'market-analysis:analyze';

beforeAll(async () => {
  as = await startAuthServer({ realm, draft11: { allowLoopback: true } });
  open.push(as);
  ps = as.server.personServer!;
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'both-1' }),
    authServer: as.issuer,
    generations: ['keycloak', 'draft-11'],
    draft11: { allowLoopback: true, personServers: [ps] },
  });
  app.use(resource.wellKnown());
  app.get('/analyze', resource.require({ scope: SCOPE }), (req: Request, res: Response) => {
    res.json({ generation: req.aauth!.generation, issuer: req.aauth!.token?.issuer, scheme: req.aauth!.scheme });
  });
  route = `${listening.origin}/analyze`;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
});

describe('one embedded auth server, one realm file, both generations at once', () => {
  it('serves the Keycloak-profile metadata and the -11 person server metadata from the same process', async () => {
    const keycloak = await fetch(`${as.issuer}/.well-known/aauth-issuer.json`);
    expect(keycloak.status).toBe(200);
    expect(((await keycloak.json()) as { issuer: string }).issuer).toBe(as.issuer);
    const person = await fetch(`${ps}/.well-known/aauth-person.json`);
    expect(person.status).toBe(200);
    const doc = (await person.json()) as Record<string, unknown>;
    expect(doc.issuer).toBe(ps);
    // The same realm's scopes serve the -11 role (its consent page comes as the url of a 202).
    expect(doc.scopes_supported).toContain(SCOPE);
  });

  it('a Keycloak-profile agent and a -11 agent both reach the same route through it, each in its own generation', async () => {
    const hosted = await hostedAgent({ authServer: as.issuer });
    open.push(hosted);
    const keycloakAnswer = await hosted.agent.fetch(route);
    expect(keycloakAnswer.status).toBe(200);
    expect(await keycloakAnswer.json()).toEqual({ generation: 'keycloak', issuer: as.issuer, scheme: 'jwt' });

    const providerApp = express();
    const providerListening = await listen(providerApp);
    open.push(providerListening);
    const provider = createAgentProvider({ issuer: providerListening.origin, key: generateKey({ kid: 'ap-both' }), allowLoopback: true });
    providerApp.use(provider.wellKnown());
    const minted: string[] = [];
    const agent11 = createAgent({
      key: generateKey({ kid: 'agent-both' }),
      draft11: { provider, local: 'both', ps, allowLoopback: true },
      sleep: async () => undefined,
      fetch: async (input, init) => {
        const res = await fetch(input, init);
        if (String(input instanceof Request ? input.url : input).startsWith(`${ps}/aauth/person/`) && res.status === 200) {
          const body = (await res.clone().json()) as Record<string, string>;
          minted.push(body.person_token ?? body.auth_token!);
        }
        return res;
      },
      onInteraction: async ({ url }) => {
        const answer = await decideOverHttp(as.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve');
        expect(answer.status).toBe(200);
      },
    });
    const draftAnswer = await agent11.fetch(route);
    expect(draftAnswer.status).toBe(200);
    expect(await draftAnswer.json()).toEqual({ generation: 'draft-11', issuer: ps, scheme: 'jwt' });
    // The person token (after the realm user's consent) and then the auth token came from the person server.
    expect(minted.map((t) => decodeJwt(t).header.typ)).toEqual(['aa-person+jwt', 'aa-auth+jwt']);
    const auth = decodeJwt(minted[1]!).claims;
    expect(auth).toMatchObject({ iss: ps, dwk: 'aauth-person.json', scope: SCOPE, ps });
    expect(auth.act).toBeUndefined();
    // One audit trail holds both generations' issuance.
    const issuedTo = new Set(as.audit.filter((e) => e.type === 'token.issued').map((e) => (e as { agent?: string }).agent));
    expect(issuedTo.has(hosted.identity)).toBe(true);
    expect(issuedTo.has(`aauth:both@${new URL(providerListening.origin).host}`)).toBe(true);
    expect(as.audit.filter((e) => e.type === 'consent.granted')).toHaveLength(1);
  });
});
