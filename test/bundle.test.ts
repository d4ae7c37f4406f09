import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 18 (cold start): core, discovery, verifier, express and the agent load from bundles
// (scripts/bundle.mjs, run after `tsc -b`), which their package exports name: CommonJS code compiled
// by dist/bundle/load.cjs with V8 code caches, behind an ES module entry and a CommonJS entry. The
// tests here import the sources (vitest.config.ts aliases them), so the bundles are checked in fresh
// node processes: each is what the bundler makes of today's dist/ (tsc -b never rewrites
// dist/bundle/), its caches are accepted by a plain node, and a signed request goes end to end
// through them, imported and required. Nothing is timed. The loader itself is tested in
// test/bundle-loader.test.ts.
const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLED = { core: ['index', 'internal'], discovery: ['index'], verifier: ['index'], express: ['index'], agent: ['index'] } as const;

function node(probe: string): unknown {
  // A plain node, as a resource is started (V8 refuses a code cache made under other flags).
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 60_000, env });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split('\n').pop()!);
}

describe('the bundles in dist/bundle/ (issue 18, cold start)', () => {
  it('each package exports its bundle, as an ES module with its .d.ts and as CommonJS with its .d.cts', () => {
    for (const [pkg, entries] of Object.entries(BUNDLED)) {
      const manifest = JSON.parse(readFileSync(`${root}packages/${pkg}/package.json`, 'utf8')) as { main: string; exports: Record<string, unknown> };
      expect(manifest.main, pkg).toBe('./dist/bundle/index.js');
      for (const entry of entries) {
        const key = entry === 'index' ? '.' : `./${entry}`;
        expect(manifest.exports[key], `${pkg} ${key}`).toEqual({
          import: { types: `./dist/${entry}.d.ts`, default: `./dist/bundle/${entry}.js` },
          require: { types: `./dist/${entry}.d.cts`, default: `./dist/bundle/${entry}.cjs` },
        });
        // The types come first in each condition (TypeScript takes the first condition it knows).
        expect(Object.keys((manifest.exports[key] as Record<string, object>).require!)[0], `${pkg} ${key}`).toBe('types');
      }
    }
  });

  it('are what scripts/bundle.mjs makes of the current tsc output (not left over from an earlier build)', () => {
    const probe = `
      import { readdirSync, readFileSync } from 'node:fs';
      import { createRequire } from 'node:module';
      import { BUNDLES, bundlePackage, distOf, isCodeCache } from './scripts/bundle.mjs';
      const out = {};
      for (const name of Object.keys(BUNDLES)) {
        const files = await bundlePackage(name, { write: false });
        const dir = distOf(name) + 'bundle/';
        let onDisk = [];
        try { onDisk = readdirSync(dir).sort(); } catch {}
        const code = files.map((f) => f.fileName).filter((f) => f.endsWith('.code.cjs'));
        const { compile } = createRequire(import.meta.url)(dir + 'load.cjs');
        out[name] = {
          entries: files.map((f) => f.fileName).filter((f) => !f.startsWith('shared-') && !f.endsWith('.code.cjs') && !f.endsWith('.code.cjs.map')),
          sameFiles: JSON.stringify(onDisk.filter((f) => !isCodeCache(f))) === JSON.stringify(files.map((f) => f.fileName).sort()),
          stale: files.filter((f) => { try { return readFileSync(dir + f.fileName, 'utf8') !== f.code; } catch { return true; } }).map((f) => f.fileName),
          caches: onDisk.filter(isCodeCache),
          cacheStates: code.map((f) => compile(dir + f).cache),
          code: code.length,
        };
      }
      console.log(JSON.stringify(out));
    `;
    const result = node(probe) as Record<string, { entries: string[]; sameFiles: boolean; stale: string[]; caches: string[]; cacheStates: string[]; code: number }>;
    const fix = 'dist/bundle/ is stale: run `node scripts/bundle.mjs` after `tsc -b` (npm run build, npm test do)';
    for (const [pkg, entries] of Object.entries(BUNDLED)) {
      expect(result[pkg]?.entries.sort(), pkg).toEqual([...entries.flatMap((e) => [`${e}.cjs`, `${e}.js`]), 'load.cjs'].sort());
      expect(result[pkg]?.sameFiles, `${pkg}: ${fix}`).toBe(true);
      expect(result[pkg]?.stale, `${pkg}: ${fix}`).toEqual([]);
      // Every code file has its cache, and a plain node of this version takes it.
      expect(result[pkg]?.code, pkg).toBeGreaterThanOrEqual(entries.length);
      expect(result[pkg]?.caches.length, `${pkg}: ${fix}`).toBe(result[pkg]?.code);
      expect(result[pkg]?.cacheStates, `${pkg}: ${fix}`).toEqual(Array(result[pkg]?.code).fill('accepted'));
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
      // require() reaches the very modules import did: one copy of each package in the process.
      const { createRequire } = await import('node:module');
      const require = createRequire(import.meta.url);
      const requiredFrom = specifiers.map((s) => require.resolve(s).slice(process.cwd().length + 1));
      const imported = { '@aauth-kit/core': core, '@aauth-kit/core/internal': internal, '@aauth-kit/discovery': { createDocumentFetcher }, '@aauth-kit/verifier': { createVerifier }, '@aauth-kit/express': { aauth }, '@aauth-kit/agent': { createAgent } };
      const sameModules = specifiers.filter((s) => Object.entries(imported[s]).every(([k, v]) => typeof v !== 'function' || require(s)[k] === v));
      const requiredError = (() => { try { require('@aauth-kit/core/internal').parseSignedRequest(request); } catch (e) { return e instanceof core.AAuthError; } })();
      console.log(JSON.stringify({ resolved, answered, agentId, verified: { agent: verified.agent, scheme: verified.scheme }, refused, unsigned, metadata: metadata.body?.jwks_uri ?? Object.keys(metadata), requiredFrom, sameModules, requiredError }));
    `;
    const result = node(probe) as {
      resolved: string[];
      answered: { status: number; body: { agent: string; scheme: string } };
      agentId: string;
      verified: { agent: string; scheme: string };
      refused: { instance: boolean; code: string };
      unsigned: { instance: boolean; code: string };
      metadata: unknown;
      requiredFrom: string[];
      sameModules: string[];
      requiredError: boolean;
    };
    expect(result.requiredFrom).toEqual([
      'packages/core/dist/bundle/index.cjs',
      'packages/core/dist/bundle/internal.cjs',
      'packages/discovery/dist/bundle/index.cjs',
      'packages/verifier/dist/bundle/index.cjs',
      'packages/express/dist/bundle/index.cjs',
      'packages/agent/dist/bundle/index.cjs',
    ]);
    expect(result.sameModules).toEqual(['@aauth-kit/core', '@aauth-kit/core/internal', '@aauth-kit/discovery', '@aauth-kit/verifier', '@aauth-kit/express', '@aauth-kit/agent']);
    expect(result.requiredError).toBe(true);
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

  it('a resource loads neither @noble/ed25519 nor node:dns/promises nor node:https until it needs them', () => {
    // Its agent at a localhost name (no resolver asked) over http; the noble backend not chosen.
    const probe = `
      import { createServer } from 'node:http';
      import { once } from 'node:events';
      import { createRequire } from 'node:module';
      const before = new Set(process.moduleLoadList);
      const { aauth } = await import('@aauth-kit/express');
      const core = await import('@aauth-kit/core');
      const { createAgent } = await import('@aauth-kit/agent');
      const agentKey = core.generateKey({ kid: 'lazy-agent' });
      let wellKnown;
      const agentServer = createServer((req, res) => wellKnown(req, res)).listen(0, '127.0.0.1');
      await once(agentServer, 'listening');
      const agentId = 'http://localhost:' + agentServer.address().port;
      wellKnown = createAgent({ identity: agentId, key: agentKey }).wellKnown();
      const guard = aauth({ identity: 'http://localhost:3002', key: core.generateKey(), level: 'identity' });
      const signed = core.signRequest({ method: 'GET', url: 'http://localhost:3002/plan', headers: {} }, { key: agentKey, signatureKey: { scheme: 'jwks_uri', id: agentId, kid: agentKey.kid } });
      const { default: express } = await import('express');
      const app = express();
      app.get('/plan', guard, (req, res) => res.json({ agent: req.aauth.agent }));
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      // node:http, not fetch: undici loads node:tls itself.
      const { request } = await import('node:http');
      const answer = await new Promise((resolve, reject) => {
        const req = request('http://127.0.0.1:' + server.address().port + '/plan', { headers: signed.headers }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode, text }));
        });
        req.on('error', reject);
        req.end();
      });
      const body = JSON.parse(answer.text);
      server.close();
      agentServer.close();
      const loaded = process.moduleLoadList.filter((m) => !before.has(m));
      const require = createRequire(import.meta.url);
      const noble = Object.keys(require.cache).filter((k) => k.includes('@noble'));
      // Then chosen: the noble backend loads on demand and signs like the default.
      const nobleKey = core.importPrivateKey(agentKey.toPrivateJwk(), { backend: 'noble' });
      const same = Buffer.from(nobleKey.sign(Buffer.from('x'))).equals(Buffer.from(agentKey.sign(Buffer.from('x'))));
      console.log(JSON.stringify({ status: answer.status, agent: body.agent, agentId, builtins: loaded.filter((m) => /^NativeModule (dns\\/promises|internal\\/dns\\/promises|https|_tls_wrap|tls)$/.test(m)), noble, nobleAfter: Object.keys(require.cache).some((k) => k.includes('@noble')), same }));
    `;
    const result = node(probe) as { status: number; agent: string; agentId: string; builtins: string[]; noble: string[]; nobleAfter: boolean; same: boolean };
    expect(result.status).toBe(200);
    expect(result.agent).toBe(result.agentId);
    expect(result.builtins).toEqual([]);
    expect(result.noble).toEqual([]);
    expect(result.nobleAfter).toBe(true);
    expect(result.same).toBe(true);
  });

  it('a bundler given the packages follows them: an app bundled into one file verifies a request away from dist/', () => {
    // The entries name the files they load statically, and load.cjs leaves the code to the bundler's
    // module system; the bundle runs in a directory with no dist/ beside it.
    const probe = `
      import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
      import { tmpdir } from 'node:os';
      import { join } from 'node:path';
      import { spawnSync } from 'node:child_process';
      import { rolldown } from 'rolldown';
      const src = join(process.cwd(), 'node_modules', '.cache', 'aauth-bundle-test-' + process.pid);
      const out = mkdtempSync(join(tmpdir(), 'aauth-bundled-app-'));
      mkdirSync(src, { recursive: true });
      writeFileSync(join(src, 'app.mjs', ), [
        "import { AAuthError, generateKey, signRequest } from '@aauth-kit/core';",
        "import { createVerifier } from '@aauth-kit/verifier';",
        // The traced packages too: their tracers' versions are constants, not package.json reads.
        "import { aauth } from '@aauth-kit/express';",
        "import { createAgent } from '@aauth-kit/agent';",
        "const key = generateKey();",
        "const agent = createAgent({ key: generateKey() });",
        "const guard = aauth({ identity: 'https://api.example', key: generateKey(), level: 'signature' });",
        "const request = { method: 'GET', url: 'https://api.example/orders', headers: {} };",
        "const signed = { ...request, headers: { ...request.headers, ...signRequest(request, { key }).headers } };",
        "const verifier = createVerifier({ identity: 'https://api.example' });",
        "verifier.verify(signed).then(async (who) => {",
        "  let refused;",
        "  try { await verifier.verify({ ...signed, headers: { ...signed.headers, signature: 'sig=:' + 'A'.repeat(86) + '==:' } }); } catch (e) { refused = e instanceof AAuthError && e.code; }",
        "  const traced = typeof guard === 'function' && typeof agent.fetch === 'function';",
        "  console.log(JSON.stringify({ scheme: who.scheme, refused, traced }));",
        "});",
      ].join('\\n'));
      try {
        const runs = [];
        // An ES module and CommonJS (what a bundler for a node function writes by default).
        for (const [format, file] of [['esm', 'app.mjs'], ['cjs', 'app.cjs']]) {
          const bundle = await rolldown({ input: join(src, 'app.mjs'), platform: 'node', logLevel: 'silent' });
          await bundle.write({ file: join(out, file), format });
          await bundle.close();
          const run = spawnSync(process.execPath, [join(out, file)], { cwd: out, encoding: 'utf8' });
          runs.push({ format, status: run.status, stderr: run.stderr.slice(-800), answer: run.stdout.trim() });
        }
        const names = spawnSync(process.execPath, ['-e', 'console.log(JSON.stringify(require("fs").readdirSync(process.argv[1]).sort()))', out], { encoding: 'utf8' });
        console.log(JSON.stringify({ runs, files: JSON.parse(names.stdout) }));
      } finally {
        rmSync(src, { recursive: true, force: true });
        rmSync(out, { recursive: true, force: true });
      }
    `;
    const result = node(probe) as { runs: { format: string; status: number; stderr: string; answer: string }[]; files: string[] };
    expect(result.files).toEqual(['app.cjs', 'app.mjs']);
    expect(result.runs.map((r) => r.format)).toEqual(['esm', 'cjs']);
    for (const run of result.runs) {
      expect(run.status, `${run.format}: ${run.stderr}`).toBe(0);
      expect(JSON.parse(run.answer), run.format).toEqual({ scheme: 'hwk', refused: 'signature_invalid', traced: true });
    }
  });
});
