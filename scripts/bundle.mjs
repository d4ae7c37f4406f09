// Bundles the packages a resource and an agent load (issue 18, cold start): after `tsc -b`, each
// package's entry points in dist/ (with every module of its own they reach) become ES modules in
// dist/bundle/: one file per entry, and for core a shared chunk, so that core's two entries hold one
// copy of every class and `instanceof` holds across them. Every bare specifier (the other
// @aauth-kit packages, third-party packages, node builtins) stays an import. A package's `exports`
// default points at its bundle; its types stay dist/*.d.ts. A cold process then compiles 7 files
// instead of ~75 modules.
//
// Run it after every `tsc -b` (the root scripts and each package's prepack do): tsc -b is
// incremental and never touches dist/bundle/, so a bundle left over from an earlier build would be
// stale (test/bundle.test.ts fails then).
//
//   node scripts/bundle.mjs [package ...]   (default: all of BUNDLES)
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

/**
 * Bundle one package from its dist/: resolves [{ fileName, code }], written to dist/bundle/ (emptied
 * first) when `write` is true. Chunks sit beside the entries: a module that finds a file relative
 * to itself (express's and the agent's `../../package.json`) is two directories below the package
 * root in dist/lib/ and in dist/bundle/ alike.
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
    const output = { dir: `${dist}bundle`, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'shared-[hash].js', sourcemap: false };
    files = (await bundle.generate(output)).output.map((f) => ({ fileName: f.fileName, code: f.code }));
  } finally {
    await bundle.close();
  }
  if (write) replaceIfChanged(`${dist}bundle`, files);
  return files;
}

/**
 * Write `files` as `dir` unless `dir` already holds exactly them: a build that changed nothing
 * writes nothing, so processes loading the bundles meanwhile (tests run in parallel; `npm pack`
 * runs prepack) never see a half-written directory. A change is written beside it and renamed in.
 */
function replaceIfChanged(dir, files) {
  let onDisk;
  try {
    onDisk = readdirSync(dir).sort();
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
  if (same) return;
  const next = `${dir}.next-${process.pid}`;
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next, { recursive: true });
  for (const f of files) writeFileSync(`${next}/${f.fileName}`, f.code);
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
