import type { Server } from 'node:http';
import { createMemoryReplayStore, createVerifier } from '@aauth-kit/verifier';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The consent page reads display fields through the verifier's resolveMetadata (added for it):
// the same discovery rules as for keys, and the document must name the identity it was fetched for.
let server: Server;
let base = '';
let served: Record<string, unknown> = {};

beforeAll(async () => {
  const app = express();
  app.get('/.well-known/aauth-agent.json', (_req, res) => {
    res.json(served);
  });
  app.get('/.well-known/aauth-resource', (_req, res) => {
    res.json({ resource: base, jwks_uri: `${base}/jwks.json`, scope_descriptions: { s: 'S' } });
  });
  server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const verifier = () => createVerifier({ identity: 'http://localhost:1', replay: { store: createMemoryReplayStore() } });

describe('verifier.resolveMetadata', () => {
  it('returns the agent document when it names the identity it was fetched for', async () => {
    served = { agent: base, jwks_uri: `${base}/jwks.json`, name: 'Named' };
    expect(await verifier().resolveMetadata('agent', base)).toEqual(served);
  });

  it('refuses a document that names another agent', async () => {
    served = { agent: 'http://127.0.0.1:9', jwks_uri: 'x', name: 'Impostor' };
    await expect(verifier().resolveMetadata('agent', base)).rejects.toMatchObject({ code: 'key_discovery_failed', status: 401 });
  });

  it('falls back to the name without .json on 404 (resource document)', async () => {
    expect((await verifier().resolveMetadata('resource', base)).scope_descriptions).toEqual({ s: 'S' });
  });

  it('refuses an identity that is not a URL before any fetch', async () => {
    const v = verifier();
    await expect(v.resolveMetadata('agent', 'not a url')).rejects.toMatchObject({ code: 'key_discovery_failed' });
    expect(v.stats().fetches).toBe(0);
  });
});
