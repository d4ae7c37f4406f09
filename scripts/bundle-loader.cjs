'use strict';
// Copied by scripts/bundle.mjs into each bundled package as dist/bundle/load.cjs (issue 18, cold
// start). A bundle's code (`<name>.code.cjs`, CommonJS) is compiled here with the V8 code cache the
// build wrote beside it (`<name>.code.cjs.cache`), so a process does not parse the package again on
// every start. Node.js 20 has no code cache for modules of its own (module.enableCompileCache is 22+).
//
// A cache is used only when it belongs to the code beside it (the SHA-1 of the code is in its
// header: a bundle edited in place, even to the same length, never runs with the bytecode of its old
// text), was made at this very path (node 20's V8 keeps the file name of the cache's making in stack
// traces, so a bundle moved or installed elsewhere compiles afresh rather than report a path that is
// not its own) and V8 accepts it (same V8, same flags); otherwise the code is compiled as node would
// compile it. Either way the module is the one node's `require` knows by that file name
// (require.cache), so it loads once whether it is reached through the package's ES module entry, its
// CommonJS entry or another bundle.
const { createHash } = require('node:crypto');
const { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const { Module, createRequire } = require('node:module');
const { dirname, join } = require('node:path');
const { Script } = require('node:vm');

/** What every cache file starts with: this tag, the SHA-1 of the code and that of the path it was made for. */
const TAG = Buffer.from('aauth-kit code cache 1\n');
const SHA1 = 20;
const HEADER = TAG.length + 2 * SHA1;
const CODE = /\.code\.cjs$/;
// One line of wrapper, the code's first line after it: line numbers in stack traces stay the file's.
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) { ';
const WRAP_TAIL = '\n})';

const digest = (source) => createHash('sha1').update(source).digest();

/**
 * Compile one bundle file (an absolute path): resolves { script, source, cache } where cache says
 * what became of its code cache: 'accepted', 'rejected' (V8 refused it: another node version or
 * other flags), 'stale' (made from other code), 'moved' (made for another path) or 'absent'.
 * `codeFile` is where the code is read from when it is not yet at `filename` (a build's next
 * directory).
 */
function compile(filename, codeFile = filename) {
  const source = readFileSync(codeFile, 'utf8');
  let cachedData;
  let cache = 'absent';
  try {
    const file = readFileSync(`${codeFile}.cache`);
    const tag = file.subarray(0, TAG.length);
    const made = { code: file.subarray(TAG.length, TAG.length + SHA1), path: file.subarray(TAG.length + SHA1, HEADER) };
    if (file.length <= HEADER || !tag.equals(TAG) || !made.code.equals(digest(source))) {
      cache = 'stale';
    } else if (!made.path.equals(digest(filename))) {
      cache = 'moved';
    } else {
      cachedData = file.subarray(HEADER);
    }
  } catch {
    // No cache: compiled as node would.
  }
  const script = new Script(WRAP_HEAD + source + WRAP_TAIL, { filename, cachedData });
  if (cachedData !== undefined) cache = script.cachedDataRejected === true ? 'rejected' : 'accepted';
  return { script, source, cache };
}

/**
 * Whether node maps stack traces through source maps (`node --enable-source-maps`, also in
 * NODE_OPTIONS, or process.setSourceMapsEnabled(true)): node reads a file's source map only for
 * code its own module loader compiles, not for a vm.Script, so the bundles are then left to node's
 * `require` (no code cache: a debugging run starts a little slower) and stack traces name the
 * TypeScript sources (dist/bundle/*.code.cjs.map leads to src/*.ts).
 */
function sourceMapsEnabled() {
  if (typeof process.sourceMapsEnabled === 'boolean') return process.sourceMapsEnabled; // node >= 20.7
  return process.execArgv.includes('--enable-source-maps') || /(^|\s)--enable-source-maps(\s|$)/.test(process.env.NODE_OPTIONS ?? '');
}

/**
 * Load one bundle file (an absolute `*.code.cjs` path) as a CommonJS module; resolves its exports.
 * `plain` is the entry's own `require` of the same file: used instead when this file is not run by
 * node's module loader (a bundler's or a test runner's module system, where vm would run the code
 * outside it) or the code is not on disk beside it (bundled elsewhere; `filename` undefined when
 * the bundler gave the entry no __dirname).
 */
function load(filename, plain) {
  const elsewhere = typeof filename !== 'string' || !(module instanceof Module) || !existsSync(filename);
  if (plain !== undefined && (elsewhere || sourceMapsEnabled())) return plain();
  const known = require.cache[filename];
  if (known !== undefined) return known.exports;
  const { script } = compile(filename);
  const dir = dirname(filename);
  const mod = new Module(filename, module);
  mod.filename = filename;
  if (typeof Module._nodeModulePaths === 'function') mod.paths = Module._nodeModulePaths(dir);
  const base = createRequire(filename);
  // A bundle's own chunks (`./shared-<hash>.code.cjs`) load here too, with their caches; every other
  // id is node's to resolve.
  const req = (id) => (typeof id === 'string' && id.startsWith('./') && CODE.test(id) ? load(join(dir, id)) : base(id));
  req.resolve = base.resolve;
  req.cache = base.cache;
  req.main = base.main;
  mod.require = req;
  require.cache[filename] = mod;
  try {
    script.runInThisContext().call(mod.exports, mod.exports, req, mod, filename, dir);
  } catch (error) {
    delete require.cache[filename];
    throw error;
  }
  mod.loaded = true;
  return mod.exports;
}

/**
 * Write the code cache of every `*.code.cjs` in `dir` whose cache is not already accepted; resolves
 * the files written. Made for the paths the files will have in `finalDir` (default `dir`: a build
 * writes into a next directory and renames it in). Run by scripts/bundle.mjs in a `node` with no
 * flags, the way a resource starts: V8 rejects a cache made under other flags. The cache is made
 * right after compiling, before the code runs, so building a package never runs it.
 */
function writeCodeCaches(dir, finalDir = dir) {
  const written = [];
  for (const name of readdirSync(dir).filter((f) => CODE.test(f)).sort()) {
    const codeFile = join(dir, name);
    const filename = join(finalDir, name);
    const { script, source, cache } = compile(filename, codeFile);
    if (cache === 'accepted') continue;
    // A stale, moved or absent cache was not given to V8, and a rejected one left the code compiled afresh.
    const next = `${codeFile}.cache.next-${process.pid}`;
    writeFileSync(next, Buffer.concat([TAG, digest(source), digest(filename), script.createCachedData()]));
    renameSync(next, `${codeFile}.cache`);
    written.push(`${name}.cache`);
  }
  return written;
}

module.exports = load;
module.exports.compile = compile;
module.exports.writeCodeCaches = writeCodeCaches;
module.exports.sourceMapsEnabled = sourceMapsEnabled;
