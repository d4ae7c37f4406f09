// Bundles the packages a resource and an agent load (issue 18, cold start): after `tsc -b`, each
// package's entry points in dist/ (with every module of its own they reach) become one CommonJS
// file each in dist/bundle/ (`<entry>.code.cjs`, and for core a shared chunk, so that core's two
// entries hold one copy of every class and `instanceof` holds across them). Every bare specifier
// (the other @aauth-kit packages, third-party packages, node builtins) stays a require. Beside each:
//
//   <entry>.js            the ES module entry (the package's `import` export): its named exports,
//                         taken from <entry>.cjs
//   <entry>.cjs           the CommonJS entry (the package's `require` export): loads the code
//                         through load.cjs
//   load.cjs              scripts/bundle-loader.cjs: compiles each *.code.cjs with its V8 code cache
//   <file>.code.cjs.cache that cache, written by a plain `node` (no flags) after the files
//
// so a cold process compiles 7 files from their caches instead of parsing ~75 modules, and a module
// loads once whichever entry reaches it. A package's types stay dist/*.d.ts.
//
// Run it after every `tsc -b` (the root scripts and each package's prepack do): tsc -b is
// incremental and never touches dist/bundle/, so a bundle left over from an earlier build would be
// stale (test/bundle.test.ts fails then).
//
//   node scripts/bundle.mjs [package ...]   (default: all of BUNDLES)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { rolldown } from 'rolldown';

/** The bundled packages and their entry points: dist/<entry>.js -> dist/bundle/<entry>.js. */
export const BUNDLES = {
  core: ['index', 'internal'],
  discovery: ['index'],
  verifier: ['index'],
  express: ['index'],
  agent: ['index'],
};

const root = new URL('../', import.meta.url);

/** Relative and absolute ids are the package's own modules; every other id stays an import. */
const external = (id) => !id.startsWith('.') && !isAbsolute(id);

/** The package's dist/ directory (with a trailing slash). */
export const distOf = (name) => fileURLToPath(new URL(`packages/${name}/dist/`, root));

const LOADER = fileURLToPath(new URL('scripts/bundle-loader.cjs', root));

/** Whether a file in dist/bundle/ is a code cache (written after the other files, by V8). */
export const isCodeCache = (fileName) => fileName.endsWith('.code.cjs.cache');

/**
 * Bundle one package from its dist/: resolves [{ fileName, code }], the files of dist/bundle/ but its
 * code caches, written there (emptied first) when `write` is true, and then its code caches (only
 * those missing or not accepted by this node). Chunks sit beside the entries: a module that finds a
 * file relative to itself (express's and the agent's `../../package.json`) is two directories below
 * the package root in dist/lib/ and in dist/bundle/ alike.
 */
export async function bundlePackage(name, { write = true } = {}) {
  const entries = BUNDLES[name];
  if (entries === undefined) throw new Error(`scripts/bundle.mjs: ${name} is not a bundled package (${Object.keys(BUNDLES).join(', ')})`);
  const dist = distOf(name);
  for (const entry of entries) readFileSync(`${dist}${entry}.js`); // a clear error when tsc -b has not run
  const bundle = await rolldown({
    input: Object.fromEntries(entries.map((entry) => [entry, `${dist}${entry}.js`])),
    external,
    platform: 'node',
    // The region comments name modules relative to cwd: the repository root, wherever it runs from
    // (a package's prepack runs in the package), so every build of the same dist/ is the same bytes.
    cwd: fileURLToPath(root),
  });
  let files;
  try {
    const output = { dir: `${dist}bundle`, format: 'cjs', strict: true, entryFileNames: '[name].code.cjs', chunkFileNames: 'shared-[hash].code.cjs', sourcemap: false };
    files = [];
    for (const chunk of (await bundle.generate(output)).output) {
      files.push({ fileName: chunk.fileName, code: chunk.code });
      if (chunk.type === 'chunk' && chunk.isEntry) files.push(...entryFiles(name, chunk.name, chunk.exports));
    }
  } finally {
    await bundle.close();
  }
  files.push({ fileName: 'load.cjs', code: readFileSync(LOADER, 'utf8') });
  if (write) replaceIfChanged(`${dist}bundle`, files);
  return files;
}

/** The two entry files of one bundled entry: `<entry>.cjs` (CommonJS) and `<entry>.js` (ES module). */
function entryFiles(pkg, entry, names) {
  if (names.includes('default')) throw new Error(`scripts/bundle.mjs: ${pkg}/${entry} has a default export; the entries carry named exports only`);
  const from = `@aauth-kit/${pkg}${entry === 'index' ? '' : `/${entry}`}`;
  // Both name the files they load statically (an import, a require of a literal path), so that a
  // bundler given the package follows them; load.cjs then leaves the code to the bundler's loader.
  const cjs = [
    `'use strict';`,
    `// ${from}, CommonJS entry (scripts/bundle.mjs): the code is ${entry}.code.cjs, compiled by load.cjs.`,
    // (A bundler writing an ES module leaves __dirname undefined: then the bundler's require it is.)
    `const here = typeof __dirname === 'string' ? require('node:path').join(__dirname, '${entry}.code.cjs') : undefined;`,
    `module.exports = require('./load.cjs')(here, () => require('./${entry}.code.cjs'));`,
    '',
  ].join('\n');
  const esm = [
    `// ${from}, ES module entry (scripts/bundle.mjs): the exports of ${entry}.cjs, so that the package`,
    `// is one module whether it is imported or required.`,
    `import m from './${entry}.cjs';`,
    `export const { ${[...names].sort().join(', ')} } = m;`,
    '',
  ].join('\n');
  return [
    { fileName: `${entry}.cjs`, code: cjs },
    { fileName: `${entry}.js`, code: esm },
  ];
}

/**
 * Write the code caches of dir/*.code.cjs that this node does not accept, made for their paths in
 * `finalDir`, in a fresh `node` with no flags and no NODE_OPTIONS (the way a resource is started:
 * V8 refuses a cache made under other flags). Nothing is written when every cache is accepted, so
 * a build that changed nothing writes nothing. The caches are not packed (`files` in each
 * package.json): made for this path, they would not be used where the package is installed.
 */
function writeCodeCaches(dir, finalDir = dir) {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const call = `require(${JSON.stringify(`${dir}/load.cjs`)}).writeCodeCaches(${JSON.stringify(dir)}, ${JSON.stringify(finalDir)})`;
  const run = spawnSync(process.execPath, ['-e', call], { env, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`scripts/bundle.mjs: writing the code caches of ${dir} failed: ${run.stderr}`);
}

/**
 * Write `files` as `dir`, with their code caches, unless `dir` already holds exactly them (then only
 * the caches this node does not accept are written): a build that changed nothing writes nothing,
 * so processes loading the bundles meanwhile (tests run in parallel; `npm pack` runs prepack) never
 * see a half-written directory. A change is written beside it and renamed in.
 */
function replaceIfChanged(dir, files) {
  let onDisk;
  try {
    onDisk = readdirSync(dir)
      .filter((f) => !isCodeCache(f))
      .sort();
  } catch {
    onDisk = [];
  }
  const same =
    JSON.stringify(onDisk) === JSON.stringify(files.map((f) => f.fileName).sort()) &&
    files.every((f) => {
      try {
        return readFileSync(`${dir}/${f.fileName}`, 'utf8') === f.code;
      } catch {
        return false;
      }
    });
  if (same) {
    writeCodeCaches(dir);
    return;
  }
  const next = `${dir}.next-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next, { recursive: true });
  for (const f of files) writeFileSync(`${next}/${f.fileName}`, f.code);
  writeCodeCaches(next, dir);
  const old = `${dir}.old-${process.pid}`;
  rmSync(old, { recursive: true, force: true });
  try {
    renameSync(dir, old);
  } catch {
    // No bundle yet.
  }
  renameSync(next, dir);
  rmSync(old, { recursive: true, force: true });
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(BUNDLES);
  for (const name of names) await bundlePackage(name);
}
