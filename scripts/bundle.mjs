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
// loads once whichever entry reaches it. A package's types are dist/*.d.ts for `import` and, for
// `require`, a copy of each as dist/*.d.cts (writeCjsTypes): TypeScript takes a .d.ts of a
// `"type": "module"` package for an ES module and refuses it to a CommonJS program (TS1479), so the
// `require` condition of each export names the .d.cts, whose relative imports name .cjs files.
//
// Run it after every `tsc -b` (the root scripts and each package's prepack do): tsc -b is
// incremental and never touches dist/bundle/, so a bundle left over from an earlier build would be
// stale (test/bundle.test.ts fails then).
//
//   node scripts/bundle.mjs [package ...]   (default: all of BUNDLES)
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
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
 * those missing or not accepted by this node). Chunks sit beside the entries, two directories below
 * the package root as dist/lib/ is (no module reads a file relative to itself any more: the traced
 * packages' versions are constants, src/lib/version.ts).
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
    plugins: [withTscSourceMaps],
  });
  let files;
  try {
    const output = { dir: `${dist}bundle`, format: 'cjs', strict: true, entryFileNames: '[name].code.cjs', chunkFileNames: 'shared-[hash].code.cjs', sourcemap: true, sourcemapExcludeSources: true };
    files = [];
    for (const chunk of (await bundle.generate(output)).output) {
      files.push({ fileName: chunk.fileName, code: chunk.type === 'asset' ? String(chunk.source) : chunk.code });
      if (chunk.type === 'chunk' && chunk.isEntry) files.push(...entryFiles(name, chunk.name, chunk.exports));
    }
  } finally {
    await bundle.close();
  }
  files.push({ fileName: 'load.cjs', code: readFileSync(LOADER, 'utf8') });
  if (write) {
    replaceIfChanged(`${dist}bundle`, files);
    writeCjsTypes(dist);
  }
  return files;
}

/**
 * Each module as tsc wrote it, with tsc's source map (dist/x.js.map, whose sources are ../src/x.ts), so
 * that the bundle's map (<entry>.code.cjs.map) leads to the TypeScript source the package ships in
 * src/: `node --enable-source-maps` then names src/*.ts lines in stack traces (load.cjs leaves the
 * code to node's require then). The maps carry no source text (sourcemapExcludeSources).
 */
const withTscSourceMaps = {
  name: 'aauth-kit-tsc-source-maps',
  load(id) {
    if (!id.endsWith('.js')) return null;
    const code = readFileSync(id, 'utf8');
    let map;
    try {
      map = readFileSync(`${id}.map`, 'utf8');
    } catch {
      return code;
    }
    return { code: code.replace(/\n\/\/# sourceMappingURL=[^\n]*\s*$/, '\n'), map };
  },
};

/** A relative module specifier ending in .js, in `from '...'`, `import('...')` or `import '...'`. */
const RELATIVE_JS = /((?:\bfrom|\bimport)\s*\(?\s*)(['"])(\.{1,2}\/[^'"]*?)\.js\2/g;
/** A bare module specifier, in `from '...'`, `import('...')` or `import '...'`. */
const BARE = /(?:\bfrom|\bimport)\s*\(?\s*(['"])([^.'"][^'"]*)\1/g;
/** A type-only import statement from a bare specifier, which a resolution-mode attribute can follow. */
const TYPE_IMPORT = /^(import type [^;]*? from (['"])([^.'"][^'"]*)\2);$/gm;

/**
 * Whether TypeScript takes the types of package `name` (as found from `dir`) for an ES module when
 * a CommonJS program requires it: its `require`-side types are a .d.mts, or a .d.ts in a
 * `"type": "module"` package. Builtins (`node:*`) and packages typed elsewhere (@types) are not.
 */
function esmOnlyTypes(name, dir) {
  if (name.startsWith('node:')) return false;
  const pkgName = name.startsWith('@') ? name.split('/').slice(0, 2).join('/') : name.split('/')[0];
  let manifest;
  for (let d = dir; ; d = join(d, '..')) {
    try {
      manifest = JSON.parse(readFileSync(join(d, 'node_modules', pkgName, 'package.json'), 'utf8'));
      break;
    } catch {
      if (join(d, '..') === d) return false; // not installed here: typed by @types or ambient
    }
  }
  const sub = name === pkgName ? '.' : `.${name.slice(pkgName.length)}`;
  // TypeScript's pick for a require: the first of these conditions, in the manifest's order.
  const pick = (target) => {
    if (typeof target === 'string' || target === null || target === undefined) return target ?? undefined;
    if (Array.isArray(target)) return pick(target[0]);
    for (const [condition, value] of Object.entries(target)) {
      if (['types', 'require', 'node', 'default'].includes(condition)) {
        const found = pick(value);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  const exported = manifest.exports === undefined ? undefined : pick(typeof manifest.exports === 'object' && !Array.isArray(manifest.exports) && Object.keys(manifest.exports).some((k) => k.startsWith('.')) ? manifest.exports[sub] : manifest.exports);
  const file = exported ?? manifest.types ?? manifest.typings ?? manifest.main ?? 'index.js';
  if (/\.d\.mts$|\.mjs$/.test(file)) return true;
  if (/\.d\.cts$|\.cjs$/.test(file)) return false;
  return manifest.type === 'module';
}

/**
 * The CommonJS twin of one declaration file of `dist`: the same text with every relative `./x.js`
 * named `./x.cjs`, which TypeScript resolves to `./x.d.cts` (a declaration for a CommonJS module).
 * Bare specifiers stay: in a .d.cts, `@aauth-kit/core` resolves through core's `require` condition.
 * A type-only import of a package typed as an ES module only (jose) gets `with { 'resolution-mode':
 * 'import' }` (TypeScript 5.3 and later), without which TypeScript refuses it to a CommonJS program
 * (TS1541); such a package named any other way fails the build.
 */
export function cjsDeclaration(text, dist) {
  const out = text.replace(RELATIVE_JS, '$1$2$3.cjs$2').replace(TYPE_IMPORT, (all, statement, _q, name) =>
    esmOnlyTypes(name, dist) ? `${statement} with { 'resolution-mode': 'import' };` : all,
  );
  // Every naming of such a package must be one of the type-only imports just given the attribute.
  const count = (names, name) => names.filter((n) => n === name).length;
  const named = [...text.matchAll(BARE)].map((m) => m[2]);
  const typeImported = [...text.matchAll(TYPE_IMPORT)].map((m) => m[3]);
  for (const name of new Set(named)) {
    if (esmOnlyTypes(name, dist) && count(named, name) > count(typeImported, name)) {
      throw new Error(`scripts/bundle.mjs: a declaration in ${dist} names ${name}, whose types are an ES module only, other than by \`import type ... from\`: its .d.cts could not name it`);
    }
  }
  return out;
}

/** Every file below `dir` (but dist/bundle/) whose name ends with `suffix`, relative to `dir`. */
function declarations(dir, suffix, sub = '') {
  return readdirSync(join(dir, sub), { withFileTypes: true }).flatMap((e) => {
    const rel = sub === '' ? e.name : `${sub}/${e.name}`;
    if (e.isDirectory()) return rel === 'bundle' ? [] : declarations(dir, suffix, rel);
    return e.name.endsWith(suffix) ? [rel] : [];
  });
}

/**
 * Write dist/**\/*.d.cts beside each dist/**\/*.d.ts (see cjsDeclaration), and remove a .d.cts whose
 * .d.ts is gone. A file already holding its text is not written again (builds and tests run side by
 * side). Resolves the files written or removed.
 */
export function writeCjsTypes(dist) {
  const changed = [];
  const wanted = new Set();
  for (const dts of declarations(dist, '.d.ts')) {
    const dcts = dts.replace(/\.d\.ts$/, '.d.cts');
    wanted.add(dcts);
    const text = cjsDeclaration(readFileSync(join(dist, dts), 'utf8'), dist);
    let onDisk;
    try {
      onDisk = readFileSync(join(dist, dcts), 'utf8');
    } catch {
      onDisk = undefined;
    }
    if (onDisk === text) continue;
    const next = join(dist, `${dcts}.next-${process.pid}`);
    writeFileSync(next, text);
    renameSync(next, join(dist, dcts));
    changed.push(dcts);
  }
  for (const stale of declarations(dist, '.d.cts').filter((f) => !wanted.has(f))) {
    rmSync(join(dist, stale), { force: true });
    changed.push(stale);
  }
  return changed;
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
