import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

// scripts/bundle-loader.cjs, shipped as dist/bundle/load.cjs in each bundled package (issue 18, cold
// start): compiles a bundle's CommonJS code with the V8 code cache written beside it, only when the
// cache belongs to that code and V8 takes it. Checked in plain node processes (V8 refuses a cache
// made under other flags), on small bundles written here. Nothing is timed.
const LOADER = fileURLToPath(new URL('../scripts/bundle-loader.cjs', import.meta.url));

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-loader-'));
  copyFileSync(LOADER, join(dir, 'load.cjs'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Run `script` (CommonJS, `dir` and `loader` in scope) in a plain node; resolves its last line as JSON. */
function run(script: string, { flags = [], nodeOptions }: { flags?: string[]; nodeOptions?: string } = {}): any {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  if (nodeOptions !== undefined) env.NODE_OPTIONS = nodeOptions;
  const program = `const dir = ${JSON.stringify(dir)}; const loader = require(dir + '/load.cjs');\n${script}`;
  const result = spawnSync(process.execPath, [...flags, '-e', program], { encoding: 'utf8', env, timeout: 30_000 });
  expect(result.status, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').pop()!);
}

const write = (name: string, code: string) => writeFileSync(join(dir, name), code);

describe('the bundle loader (dist/bundle/load.cjs)', () => {
  it('loads entries and their shared chunk once, as the modules require() knows, and caches what it compiled', () => {
    write('shared-abc.code.cjs', `'use strict';\nglobalThis.chunkRuns = (globalThis.chunkRuns ?? 0) + 1;\nexports.Thing = class Thing {};\n`);
    write('index.code.cjs', `'use strict';\nconst shared = require('./shared-abc.code.cjs');\nexports.Thing = shared.Thing;\nexports.self = this === module.exports;\nexports.path = require('node:path').basename(__filename);\n`);
    write('internal.code.cjs', `'use strict';\nexports.Thing = require('./shared-abc.code.cjs').Thing;\n`);
    const first = run(`
      const states = ['index', 'internal', 'shared-abc'].map((n) => loader.compile(dir + '/' + n + '.code.cjs').cache);
      const written = loader.writeCodeCaches(dir);
      console.log(JSON.stringify({ states, written }));
    `);
    expect(first.states).toEqual(['absent', 'absent', 'absent']);
    expect(first.written).toEqual(['index.code.cjs.cache', 'internal.code.cjs.cache', 'shared-abc.code.cjs.cache']);
    const second = run(`
      const states = ['index', 'internal', 'shared-abc'].map((n) => loader.compile(dir + '/' + n + '.code.cjs').cache);
      const a = loader(dir + '/index.code.cjs');
      const b = loader(dir + '/internal.code.cjs');
      console.log(JSON.stringify({
        states,
        written: loader.writeCodeCaches(dir),
        oneClass: a.Thing === b.Thing,
        chunkRuns: globalThis.chunkRuns,
        again: loader(dir + '/index.code.cjs') === a,
        required: require(dir + '/index.code.cjs') === a && require(dir + '/shared-abc.code.cjs').Thing === a.Thing,
        self: a.self,
        path: a.path,
      }));
    `);
    expect(second).toEqual({ states: ['accepted', 'accepted', 'accepted'], written: [], oneClass: true, chunkRuns: 1, again: true, required: true, self: true, path: 'index.code.cjs' });
  });

  it('never runs a cache made from other code, even code of the same length, which V8 alone would take', () => {
    write('index.code.cjs', `'use strict';\nexports.value = 1;\n`);
    run(`console.log(JSON.stringify(loader.writeCodeCaches(dir)));`);
    // Edited in place to the same length, as a patch of an installed package may be.
    write('index.code.cjs', `'use strict';\nexports.value = 2;\n`);
    const result = run(`
      const { readFileSync } = require('node:fs');
      const { Script } = require('node:vm');
      const file = dir + '/index.code.cjs';
      // What V8 does with the old payload on its own: it checks the length, not the text.
      const payload = readFileSync(file + '.cache').subarray(Buffer.from('aauth-kit code cache 1\\n').length + 40);
      const raw = new Script('(function (exports, require, module, __filename, __dirname) { ' + readFileSync(file, 'utf8') + '\\n})', { filename: file, cachedData: payload });
      const rawExports = {};
      raw.runInThisContext()(rawExports, require, { exports: rawExports }, file, dir);
      console.log(JSON.stringify({ v8Took: raw.cachedDataRejected === false, v8Ran: rawExports.value, state: loader.compile(file).cache, value: loader(file).value }));
    `);
    expect(result.v8Took).toBe(true);
    expect(result.v8Ran).toBe(1);
    expect(result.state).toBe('stale');
    expect(result.value).toBe(2);
    // The next build writes a cache for the new code.
    expect(run(`console.log(JSON.stringify([loader.writeCodeCaches(dir), loader.compile(dir + '/index.code.cjs').cache]))`)).toEqual([['index.code.cjs.cache'], 'accepted']);
  });

  it('compiles the code as node would when V8 refuses the cache (a damaged payload, another node)', () => {
    write('index.code.cjs', `'use strict';\nexports.value = 'ok';\n`);
    run(`console.log(JSON.stringify(loader.writeCodeCaches(dir)));`);
    const result = run(`
      const { readFileSync, writeFileSync } = require('node:fs');
      const file = dir + '/index.code.cjs.cache';
      const data = readFileSync(file);
      // The header (tag, SHA-1 of the code and of its path) kept, V8's own part damaged: its magic number.
      const header = Buffer.from('aauth-kit code cache 1\\n').length + 40;
      for (let i = header; i < header + 8; i++) data[i] ^= 0xff;
      writeFileSync(file, data);
      console.log(JSON.stringify({ state: loader.compile(dir + '/index.code.cjs').cache, value: loader(dir + '/index.code.cjs').value }));
    `);
    expect(result).toEqual({ state: 'rejected', value: 'ok' });
  });

  it('uses a cache only at the path it was made for: a moved bundle compiles afresh and names its own path', () => {
    write('index.code.cjs', `'use strict';\nexports.fail = () => {\n  throw new Error('from the bundle');\n};\n`);
    run(`console.log(JSON.stringify(loader.writeCodeCaches(dir)));`);
    const moved = `${dir}/moved`;
    const result = run(`
      const { cpSync } = require('node:fs');
      const stackOf = (exports) => { try { exports.fail(); } catch (e) { return e.stack.split('\\n')[1]; } };
      const here = { state: loader.compile(dir + '/index.code.cjs').cache, frame: stackOf(loader(dir + '/index.code.cjs')) };
      cpSync(dir + '/index.code.cjs', ${JSON.stringify(`${dir}/moved/index.code.cjs`)});
      cpSync(dir + '/index.code.cjs.cache', ${JSON.stringify(`${dir}/moved/index.code.cjs.cache`)});
      const elsewhere = { state: loader.compile(${JSON.stringify(`${dir}/moved/index.code.cjs`)}).cache, frame: stackOf(loader(${JSON.stringify(`${dir}/moved/index.code.cjs`)})) };
      console.log(JSON.stringify({ here, elsewhere }));
    `);
    expect(result.here.state).toBe('accepted');
    expect(result.here.frame).toContain(`${dir}/index.code.cjs:3:`);
    expect(result.elsewhere.state).toBe('moved');
    expect(result.elsewhere.frame).toContain(`${moved}/index.code.cjs:3:`);
  });

  it('leaves no half-loaded module behind when the code throws, and keeps its line numbers in the stack', () => {
    write('index.code.cjs', `'use strict';\nglobalThis.runs = (globalThis.runs ?? 0) + 1;\nthrow new Error('broken bundle');\n`);
    const result = run(`
      const file = dir + '/index.code.cjs';
      const attempt = () => { try { loader(file); return null; } catch (e) { return e; } };
      const first = attempt();
      const second = attempt();
      console.log(JSON.stringify({ message: first?.message, line: /index\\.code\\.cjs:3\\b/.test(first?.stack ?? ''), again: second?.message, runs: globalThis.runs, cached: file in require.cache }));
    `);
    expect(result).toEqual({ message: 'broken bundle', line: true, again: 'broken bundle', runs: 2, cached: false });
  });

  it('leaves the code to node\'s require under --enable-source-maps (flag, NODE_OPTIONS or at run time), so stack traces follow the source map', () => {
    // A bundle whose map sends line 3 (the throw) to line 7 of original.ts.
    const map = { version: 3, file: 'index.code.cjs', sources: ['original.ts'], names: [], mappings: ';;AAMA' };
    write('index.code.cjs', `'use strict';\nexports.fail = () => {\nthrow new Error('from the bundle');\n};\n//# sourceMappingURL=index.code.cjs.map\n`);
    write('index.code.cjs.map', JSON.stringify(map));
    run(`console.log(JSON.stringify(loader.writeCodeCaches(dir)));`);
    const probe = (before = '') => `
      ${before}
      const plainRuns = [];
      const exports = loader(dir + '/index.code.cjs', () => { plainRuns.push(1); return require(dir + '/index.code.cjs'); });
      let frame;
      try { exports.fail(); } catch (e) { frame = e.stack.split('\\n')[1]; }
      console.log(JSON.stringify({ enabled: loader.sourceMapsEnabled(), plain: plainRuns.length, frame }));
    `;
    const plain = run(probe());
    expect(plain).toMatchObject({ enabled: false, plain: 0 });
    expect(plain.frame).toContain(`${dir}/index.code.cjs:3:`);
    for (const mapped of [run(probe(), { flags: ['--enable-source-maps'] }), run(probe(), { nodeOptions: '--enable-source-maps' }), run(probe('process.setSourceMapsEnabled(true);'))]) {
      expect(mapped).toMatchObject({ enabled: true, plain: 1 });
      expect(mapped.frame).toContain(`${dir}/original.ts:7:`);
    }
  });
});
