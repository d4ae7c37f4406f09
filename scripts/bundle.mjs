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
import { readFileSync, rmSync } from 'node:fs';
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
  });
  try {
    const output = { dir: `${dist}bundle`, format: 'esm', entryFileNames: '[name].js', chunkFileNames: 'shared-[hash].js', sourcemap: false };
    if (write) rmSync(output.dir, { recursive: true, force: true });
    const { output: files } = write ? await bundle.write(output) : await bundle.generate(output);
    return files.map((f) => ({ fileName: f.fileName, code: f.code }));
  } finally {
    await bundle.close();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const names = process.argv.length > 2 ? process.argv.slice(2) : Object.keys(BUNDLES);
  for (const name of names) await bundlePackage(name);
}
