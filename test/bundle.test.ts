import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 18 (cold start): core, discovery, verifier, express and the agent load from bundles
// (scripts/bundle.mjs, run after `tsc -b`), which their package exports name. The tests here import
// the sources (vitest.config.ts aliases them), so the bundles are checked in fresh node processes:
// each is what the bundler makes of today's dist/ (tsc -b never rewrites dist/bundle/), and a signed
// request goes end to end through them. Nothing is timed.
const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLED = { core: ['index', 'internal'], discovery: ['index'], verifier: ['index'], express: ['index'], agent: ['index'] } as const;

function node(probe: string): unknown {
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('the bundles in dist/bundle/ (issue 18, cold start)', () => {
  it('each package exports its bundle by default and its .d.ts for types', () => {
    for (const [pkg, entries] of Object.entries(BUNDLED)) {
      const manifest = JSON.parse(readFileSync(`${root}packages/${pkg}/package.json`, 'utf8')) as { main: string; exports: Record<string, { types: string; default: string }> };
      expect(manifest.main, pkg).toBe('./dist/bundle/index.js');
      for (const entry of entries) {
        const key = entry === 'index' ? '.' : `./${entry}`;
        expect(manifest.exports[key], `${pkg} ${key}`).toEqual({ types: `./dist/${entry}.d.ts`, default: `./dist/bundle/${entry}.js` });
      }
    }
  });

  it('are what scripts/bundle.mjs makes of the current tsc output (not left over from an earlier build)', () => {
    const probe = `
      import { readdirSync, readFileSync } from 'node:fs';
      import { BUNDLES, bundlePackage, distOf } from './scripts/bundle.mjs';
      const out = {};
      for (const name of Object.keys(BUNDLES)) {
        const files = await bundlePackage(name, { write: false });
        const dir = distOf(name) + 'bundle/';
        let onDisk = [];
        try { onDisk = readdirSync(dir).sort(); } catch {}
        out[name] = {
          entries: files.map((f) => f.fileName).filter((f) => !f.startsWith('shared-')),
          sameFiles: JSON.stringify(onDisk) === JSON.stringify(files.map((f) => f.fileName).sort()),
          stale: files.filter((f) => { try { return readFileSync(dir + f.fileName, 'utf8') !== f.code; } catch { return true; } }).map((f) => f.fileName),
        };
      }
      console.log(JSON.stringify(out));
    `;
    const result = node(probe) as Record<string, { entries: string[]; sameFiles: boolean; stale: string[] }>;
    const fix = 'dist/bundle/ is stale: run `node scripts/bundle.mjs` after `tsc -b` (npm run build, npm test do)';
    for (const [pkg, entries] of Object.entries(BUNDLED)) {
      expect(result[pkg]?.entries.sort(), pkg).toEqual(entries.map((e) => `${e}.js`).sort());
      expect(result[pkg]?.sameFiles, `${pkg}: ${fix}`).toBe(true);
      expect(result[pkg]?.stale, `${pkg}: ${fix}`).toEqual([]);
    }
  });

  it('a build that changes nothing writes nothing (npm pack runs it while other tests load the bundles)', () => {
    const dir = `${root}packages/verifier/dist/bundle/`;
    const before = readdirSync(dir).map((f) => [f, statSync(dir + f).mtimeMs]);
    // From the root (npm run build) and from the package (its prepack, as npm pack runs it): the same bytes.
    for (const [cwd, script] of [[root, 'scripts/bundle.mjs'], [`${root}packages/verifier`, '../../scripts/bundle.mjs']] as const) {
      const run = spawnSync(process.execPath, [script, 'verifier'], { cwd, encoding: 'utf8', timeout: 60_000 });
      expect(run.status, run.stderr).toBe(0);
      expect(readdirSync(dir).map((f) => [f, statSync(dir + f).mtimeMs]), cwd).toEqual(before);
    }
  });

  it('a signed request goes end to end through the bundles: agent -> express (verifier, discovery, core)', () => {
    const probe = `
      import { once } from 'node:events';
      import { createServer } from 'node:http';
      import express from 'express';
      import * as core from '@aauth-kit/core';
      import * as internal from '@aauth-kit/core/internal';
      import { createDocumentFetcher } from '@aauth-kit/discovery';
      import { createVerifier } from '@aauth-kit/verifier';
      import { aauth } from '@aauth-kit/express';
      import { createAgent } from '@aauth-kit/agent';
      const specifiers = ['@aauth-kit/core', '@aauth-kit/core/internal', '@aauth-kit/discovery', '@aauth-kit/verifier', '@aauth-kit/express', '@aauth-kit/agent'];
      const resolved = specifiers.map((s) => import.meta.resolve(s).slice(import.meta.resolve('./').length));
      async function listen(listener) {
        const server = createServer(listener);
        server.listen(0, '127.0.0.1');
        await once(server, 'listening');
        return [server, 'http://127.0.0.1:' + server.address().port];
      }
      let wellKnown = (_req, res) => res.writeHead(503).end();
      const [agentServer, agentId] = await listen((req, res) => wellKnown(req, res));
      const agentKey = core.generateKey({ kid: 'bundle-agent' });
      const agent = createAgent({ identity: agentId, key: agentKey });
      wellKnown = agent.wellKnown();
      const app = express();
      let route = (_req, res) => res.status(503).end();
      app.use((req, res, next) => route(req, res, next));
      const [resourceServer, resourceId] = await listen(app);
      const guarded = express.Router();
      guarded.get('/plan', aauth({ identity: resourceId, key: core.generateKey(), level: 'identity' }), (req, res) => res.json({ agent: req.aauth.agent, scheme: req.aauth.scheme }));
      route = guarded;
      const response = await agent.fetch(resourceId + '/plan');
      const answered = { status: response.status, body: await response.json() };
      // The verifier and discovery bundles on their own: a request signed by core, key found over HTTP.
      const verifier = createVerifier({ identity: resourceId, replay: { methods: 'none' } });
      const request = { method: 'GET', url: resourceId + '/x', headers: {} };
      const signed = core.signRequest(request, { key: agentKey, signatureKey: { scheme: 'jwks_uri', id: agentId, kid: agentKey.kid } });
      const verified = await verifier.verify({ ...request, headers: signed.headers });
      // One copy of each class across core's two entries and the packages that import them.
      let refused;
      try {
        await verifier.verify({ ...request, headers: { ...signed.headers, signature: 'sig=:' + 'A'.repeat(86) + '==:' } });
      } catch (error) {
        refused = { instance: error instanceof core.AAuthError, code: error.code };
      }
      let unsigned;
      try {
        internal.parseSignedRequest(request);
      } catch (error) {
        unsigned = { instance: error instanceof core.AAuthError, code: error.code };
      }
      const metadata = await createDocumentFetcher().fetchJson(agentId + '/.well-known/aauth-agent.json');
      agentServer.close();
      resourceServer.close();
      console.log(JSON.stringify({ resolved, answered, agentId, verified: { agent: verified.agent, scheme: verified.scheme }, refused, unsigned, metadata: metadata.body?.jwks_uri ?? Object.keys(metadata) }));
    `;
    const result = node(probe) as {
      resolved: string[];
      answered: { status: number; body: { agent: string; scheme: string } };
      agentId: string;
      verified: { agent: string; scheme: string };
      refused: { instance: boolean; code: string };
      unsigned: { instance: boolean; code: string };
      metadata: unknown;
    };
    expect(result.resolved).toEqual([
      'packages/core/dist/bundle/index.js',
      'packages/core/dist/bundle/internal.js',
      'packages/discovery/dist/bundle/index.js',
      'packages/verifier/dist/bundle/index.js',
      'packages/express/dist/bundle/index.js',
      'packages/agent/dist/bundle/index.js',
    ]);
    expect(result.answered).toEqual({ status: 200, body: { agent: result.agentId, scheme: 'jwks_uri' } });
    expect(result.verified).toEqual({ agent: result.agentId, scheme: 'jwks_uri' });
    expect(result.refused).toEqual({ instance: true, code: 'signature_invalid' });
    expect(result.unsigned).toEqual({ instance: true, code: 'signature_missing' });
    expect(result.metadata).toBe(`${result.agentId}/jwks.json`);
  });
});
