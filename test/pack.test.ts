import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TSC_INIT_FLAGS } from './readme/compile.js';
import { PREAMBLES } from './readme/preambles.js';
import { extractSnippets, type Snippet } from './readme/snippets.js';

// Issue 11 acceptance: pack every package (`npm pack`, which runs `prepack`), install the tarballs
// into new projects OUTSIDE the repository, compile the READMEs' quick starts there under strict +
// exactOptionalPropertyTypes, and run a resource + agent + embedded auth server round trip with
// call chaining (test/fixtures/pack/round-trip.ts) that uses no file of the monorepo. A second
// project holds only @aauth-kit/core, @aauth-kit/discovery and @aauth-kit/agent: no express, and it still signs.
// Installs use the npm registry or its local cache only (--prefer-offline); servers bind 127.0.0.1.

const root = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['core', 'discovery', 'verifier', 'express', 'agent', 'auth-server', 'cli'] as const;
type PackageDir = (typeof PACKAGES)[number];
/** The quick starts compiled in the consumer project: README -> file name there. */
const QUICK_STARTS: Array<[PackageDir, string]> = [
  ['express', 'quick-start-resource.ts'],
  ['agent', 'quick-start-agent.ts'],
  ['auth-server', 'quick-start-auth-server.ts'],
];

interface PackResult {
  name: string;
  filename: string;
  files: Array<{ path: string }>;
}
interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The child's environment without the npm variables of a surrounding `npm test` (they point npm at the repository). */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !/^npm_config_(cache|registry|userconfig)$/i.test(k)) continue;
    if (k === 'INIT_CWD' || k === 'NODE_ENV') continue;
    env[k] = v;
  }
  return env;
}

function run(command: string, args: string[], cwd: string): Promise<Run> {
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr, ms: Math.round(performance.now() - started) }));
  });
}

function ok(r: Run, what: string): Run {
  if (r.code !== 0) throw new Error(`${what} exited ${r.code}\n--- stdout\n${r.stdout.slice(-4000)}\n--- stderr\n${r.stderr.slice(-4000)}`);
  return r;
}

function version(name: string): string {
  return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

/** The first ```ts block of a README's "## Quick start" section, with its declared preamble. */
function quickStart(pkg: PackageDir): string {
  const file = `packages/${pkg}/README.md`;
  const text = readFileSync(join(root, file), 'utf8');
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^##\s+Quick start/i.test(l));
  if (start === -1) throw new Error(`${file} has no "## Quick start" section`);
  const next = lines.findIndex((l, i) => i > start && /^##\s/.test(l));
  const end = next === -1 ? lines.length : next;
  const block: Snippet | undefined = extractSnippets(file, text).find((s) => s.fenceLine > start + 1 && s.fenceLine <= end);
  if (!block) throw new Error(`${file}: no ts block in its Quick start section`);
  const preamble = block.preamble.map((name) => {
    const declaration = PREAMBLES[name];
    if (declaration === undefined) throw new Error(`${file}:${block.fenceLine}: unknown snippet-preamble "${name}"`);
    return declaration;
  });
  return `// From ${file}, line ${block.fenceLine + 1}.\n${[...preamble, block.code].join('\n')}\n`;
}

/** What `tsc --init` (TypeScript 5.9) turns on, and skipLibCheck off so the shipped .d.ts are checked too. */
const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    types: ['node'],
    ...TSC_INIT_FLAGS,
    moduleDetection: 'force',
    skipLibCheck: false,
    rootDir: 'src',
    outDir: 'dist',
  },
  include: ['src'],
};

describe('npm pack -> install outside the repository -> quick starts compile -> round trip', () => {
  let work: string;
  let packed: PackResult[] = [];
  const timings: Record<string, number> = {};
  const tarball = (pkg: PackageDir): string => {
    const p = packed.find((r) => r.name === `@aauth-kit/${pkg}`);
    if (!p) throw new Error(`@aauth-kit/${pkg} was not packed`);
    return `file:${join(work, 'tarballs', p.filename)}`;
  };
  const app = (): string => join(work, 'app');
  const agentOnly = (): string => join(work, 'agent-only');
  const npm = 'npm';
  const installArgs = ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'aauth-pack-'));
    expect(relative(root, work).startsWith('..')).toBe(true);
    mkdirSync(join(work, 'tarballs'));

    // One npm process packs all seven; each package's prepack (`tsc -b`) builds it first.
    const pack = ok(
      await run(npm, ['pack', '--json', '--pack-destination', join(work, 'tarballs'), ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])], root),
      'npm pack',
    );
    timings.pack = pack.ms;
    packed = JSON.parse(pack.stdout.slice(pack.stdout.search(/^\[/m))) as PackResult[];

    // The consumer app: the seven tarballs, and from the registry (cache) express, its types, TypeScript, Node's types.
    mkdirSync(join(app(), 'src'), { recursive: true });
    const deps: Record<string, string> = Object.fromEntries(PACKAGES.map((p) => [`@aauth-kit/${p}`, tarball(p)]));
    for (const name of ['express', '@types/express', 'typescript', '@types/node']) deps[name] = version(name);
    writeFileSync(join(app(), 'package.json'), JSON.stringify({ name: 'aauth-pack-consumer', private: true, type: 'module', dependencies: deps }, null, 2));
    writeFileSync(join(app(), 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    for (const [pkg, name] of QUICK_STARTS) writeFileSync(join(app(), 'src', name), quickStart(pkg));
    cpSync(join(root, 'test/fixtures/pack/round-trip.ts'), join(app(), 'src', 'round-trip.ts'));
    // A CommonJS file of the same app: the packages' require side (their .d.cts and CommonJS entries).
    cpSync(join(root, 'test/fixtures/pack/require-consumer.cts'), join(app(), 'src', 'require-consumer.cts'));
    // A CommonJS program with classic node10 resolution (module commonjs and nothing else): its own folder and tsconfig.
    mkdirSync(join(app(), 'node10'));
    cpSync(join(root, 'test/fixtures/pack/node10-consumer/index.ts'), join(app(), 'node10', 'index.ts'));
    writeFileSync(
      join(app(), 'node10', 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'commonjs', strict: true, esModuleInterop: true, skipLibCheck: false, noEmit: true, types: ['node'] }, include: ['index.ts'] }, null, 2),
    );

    // A fetch client alone: core + agent (and discovery, which the agent depends on), nothing else.
    mkdirSync(agentOnly());
    writeFileSync(
      join(agentOnly(), 'package.json'),
      JSON.stringify({ name: 'aauth-agent-only', private: true, type: 'module', dependencies: { '@aauth-kit/core': tarball('core'), '@aauth-kit/discovery': tarball('discovery'), '@aauth-kit/agent': tarball('agent') } }, null, 2),
    );
    cpSync(join(root, 'test/fixtures/pack/agent-only.mjs'), join(agentOnly(), 'agent-only.mjs'));

    const [installApp, installAgent] = await Promise.all([run(npm, installArgs, app()), run(npm, installArgs, agentOnly())]);
    ok(installApp, 'npm install (app)');
    ok(installAgent, 'npm install (agent only)');
    timings.installApp = installApp.ms;
    timings.installAgentOnly = installAgent.ms;
  }, 240_000);

  afterAll(() => {
    console.log(`pack test timings (ms): ${JSON.stringify(timings)}`);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('packs every package with LICENSE, its built code, and the sources its source maps name', () => {
    const license = readFileSync(join(root, 'LICENSE'), 'utf8');
    expect(packed.map((p) => p.name).sort()).toEqual(PACKAGES.map((p) => `@aauth-kit/${p}`).sort());
    for (const pkg of PACKAGES) {
      const dir = join(app(), 'node_modules', '@aauth-kit', pkg);
      const files = walk(dir).map((f) => relative(dir, f).split('\\').join('/'));
      expect(files, pkg).toContain('dist/index.d.ts');
      if (pkg === 'auth-server' || pkg === 'cli') expect(files, pkg).toContain('dist/index.js');
      // The bundled packages ship their bundles and no unbundled copy of the same code, which nothing loads.
      else expect(files.filter((f) => /\.js(\.map)?$/.test(f) && !f.startsWith('dist/bundle/')), pkg).toEqual([]);
      // The bundled packages ship the CommonJS twin of every declaration (their require condition's types).
      if (pkg !== 'auth-server' && pkg !== 'cli') {
        const dts = files.filter((f) => f.endsWith('.d.ts') && !f.startsWith('dist/bundle/'));
        expect(files.filter((f) => f.endsWith('.d.cts')).sort(), pkg).toEqual(dts.map((f) => f.replace(/\.d\.ts$/, '.d.cts')).sort());
      }
      expect(readFileSync(join(dir, 'LICENSE'), 'utf8'), `${pkg} LICENSE`).toBe(license);
      // core's README names the wire profile; the package carries it (copied by prepack).
      if (pkg === 'core') expect(files).toEqual(expect.arrayContaining(['dist/wire-profile.md', 'dist/wire-profile-draft11.md']));
      expect(files.filter((f) => /tsbuildinfo|(^|\/)test\//.test(f)), pkg).toEqual([]);
      // The packages a resource or an agent loads ship their bundle, which their exports name (scripts/bundle.mjs).
      if (pkg !== 'auth-server' && pkg !== 'cli') {
        expect(files, pkg).toEqual(expect.arrayContaining(['dist/bundle/index.js', 'dist/bundle/index.code.cjs']));
        // Each bundle file that names a source map ships it (core's index, only re-exports, has none).
        const code = files.filter((f) => f.endsWith('.code.cjs'));
        const named = code.filter((f) => readFileSync(join(dir, f), 'utf8').includes('\n//# sourceMappingURL='));
        expect(named.length, pkg).toBeGreaterThan(0);
        for (const f of named) expect(files, pkg).toContain(`${f}.map`);
      }
      // Every compiled file comes from a shipped source (no stale output of a removed module).
      for (const js of files.filter((f) => f.startsWith('dist/') && !f.startsWith('dist/bundle/') && f.endsWith('.js'))) {
        expect(files, `${pkg}: ${js} has no source`).toContain(js.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'));
      }
      // Source maps ship with their sources: every `sources` entry resolves inside the package.
      const maps = files.filter((f) => f.endsWith('.map'));
      expect(maps.length, pkg).toBeGreaterThan(0);
      for (const map of maps) {
        const { sources, sourceRoot } = JSON.parse(readFileSync(join(dir, map), 'utf8')) as { sources: string[]; sourceRoot?: string };
        for (const source of sources) {
          const path = resolve(dirname(join(dir, map)), sourceRoot ?? '', source);
          expect(relative(dir, path).startsWith('..'), `${pkg}/${map} -> ${source}`).toBe(false);
          expect(existsSync(path), `${pkg}/${map} -> ${source}`).toBe(true);
        }
      }
    }
    // The realm export ships inside the auth server, reachable as a package export.
    expect(existsSync(join(app(), 'node_modules/@aauth-kit/auth-server/dist/aauth-test-realm.json'))).toBe(true);
  });

  it('declares express (and optionally @types/express) as peers where a router is offered, and not for the fetch client', () => {
    const manifest = (pkg: PackageDir) =>
      JSON.parse(readFileSync(join(app(), 'node_modules', '@aauth-kit', pkg, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
        peerDependencies?: Record<string, string>;
        peerDependenciesMeta?: Record<string, { optional?: boolean }>;
        scripts?: Record<string, string>;
      };
    for (const pkg of ['express', 'auth-server'] as const) {
      const m = manifest(pkg);
      expect(m.dependencies?.express, pkg).toBeUndefined();
      expect(m.peerDependencies, pkg).toMatchObject({ express: expect.any(String), '@types/express': expect.any(String) });
      expect(m.peerDependenciesMeta?.['@types/express']?.optional, pkg).toBe(true);
    }
    for (const pkg of ['core', 'discovery', 'verifier', 'agent'] as const) {
      const m = manifest(pkg);
      expect({ ...m.dependencies, ...m.peerDependencies }.express, pkg).toBeUndefined();
    }
    for (const pkg of PACKAGES) expect(manifest(pkg).scripts?.prepack, pkg).toMatch(/tsc -b/);
  });

  it('compiles the quick starts and the round trip with tsc (strict, exactOptionalPropertyTypes, shipped .d.ts checked)', async () => {
    const tsc = await run(process.execPath, [join(app(), 'node_modules/typescript/bin/tsc'), '-p', '.'], app());
    timings.tsc = tsc.ms;
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.code).toBe(0);
    for (const [pkg, name] of QUICK_STARTS) {
      // The block compiled is the package's own quick start (it imports the package).
      expect(readFileSync(join(app(), 'src', name), 'utf8'), name).toContain(`from '@aauth-kit/${pkg}'`);
      expect(existsSync(join(app(), 'dist', name.replace(/\.ts$/, '.js'))), name).toBe(true);
    }
  }, 120_000);

  it('type-checks a CommonJS program with node10 resolution (the default of module: commonjs), the kit\'s types intact', async () => {
    const tsc = await run(process.execPath, [join(app(), 'node_modules/typescript/bin/tsc'), '-p', 'node10'], app());
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('links the two commands at install, and they run (node_modules/.bin/aauth, aauth-auth-server)', async () => {
    const cli = await run(join(app(), 'node_modules/.bin/aauth'), ['--help'], app());
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(/^Usage: aauth <command>/);
    const server = await run(join(app(), 'node_modules/.bin/aauth-auth-server'), ['--help'], app());
    expect(server.code, server.stderr).toBe(0);
    expect(server.stdout).toMatch(/^Usage: aauth-auth-server/);
  }, 30_000);

  it('runs the CommonJS consumer: require() of every bundled package, typed by its .d.cts', async () => {
    const r = await run(process.execPath, ['dist/require-consumer.cjs'], app());
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(app(), 'dist/require-consumer.cjs'), 'utf8')).toContain('require("@aauth-kit/core")');
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '')).toEqual({ scheme: 'hwk', thumbprint: true, covered: true, functions: true });
  }, 30_000);

  it('runs backend -> supply-chain agent -> (upstream_token exchange) -> market analysis against the embedded auth server', async () => {
    const r = await run(process.execPath, ['dist/round-trip.js'], app());
    timings.roundTrip = r.ms;
    const line = r.stdout.trim().split('\n').at(-1) ?? '';
    const out = JSON.parse(line) as {
      status: number;
      body: { sca: Record<string, unknown>; maa: Record<string, unknown> };
      interactions: number;
      user: string;
      backend: string;
      sca: string;
      scaJwksKids: string[];
    };
    expect(r.code, r.stderr).toBe(0);
    expect(out.status).toBe(200);
    expect(out.interactions).toBe(1);
    expect(out.body.sca).toEqual({ agent: out.backend, sub: out.user });
    expect(out.body.maa).toEqual({
      agent: out.sca,
      sub: out.user,
      act: { agent: out.backend, sub: out.user },
      scope: ['market-analysis:analyze'],
      skus: [{ sku: 'WIDGET-100' }],
    });
    expect(out.scaJwksKids).toEqual(['sca-resource-1', 'sca-agent-1']);
  }, 60_000);

  it('with node --enable-source-maps, a stack trace from an installed package names its TypeScript source line', async () => {
    const script = [
      "import { parseSignatureKey } from '@aauth-kit/core';",
      "try { parseSignatureKey('sig=hwk;kty=((('); } catch (e) { console.log(JSON.stringify(e.stack.split('\\n').slice(1, 3))); }",
    ].join('\n');
    writeFileSync(join(app(), 'stack.mjs'), script);
    const frames = async (flags: string[]) => {
      const r = await run(process.execPath, [...flags, 'stack.mjs'], app());
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout.trim()) as string[];
    };
    const source = join(app(), 'node_modules/@aauth-kit/core/src/signature-key.ts');
    const mapped = await frames(['--enable-source-maps']);
    expect(mapped[0]).toContain(`${source}:`);
    // The line named is the throw in the shipped source.
    const line = Number(/signature-key\.ts:(\d+):\d+\)$/.exec(mapped[0]!)?.[1]);
    expect(readFileSync(source, 'utf8').split('\n')[line - 1]).toMatch(/throw new AAuthError\('signature_key_malformed'/);
    // Without the flag the bundle's own file is named (its code cache in use where the build made one).
    expect((await frames([]))[0]).toMatch(/dist[\\/]bundle[\\/]shared-[^/\\]+\.code\.cjs:\d+:\d+\)$/);
  }, 30_000);

  it('installs the fetch client without express, and it signs requests a peer verifies', async () => {
    expect(existsSync(join(agentOnly(), 'node_modules/express'))).toBe(false);
    // Issue 19: @opentelemetry/api is an optional peer, not installed here: the agent runs without it.
    expect(existsSync(join(agentOnly(), 'node_modules/@opentelemetry/api'))).toBe(false);
    expect(readdirSync(join(agentOnly(), 'node_modules/@aauth-kit')).sort()).toEqual(['agent', 'core', 'discovery']);
    const r = await run(process.execPath, ['agent-only.mjs'], agentOnly());
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '')).toEqual({ status: 200, verified: 'jwks_uri', thumbprintMatches: true, expressResolvable: false });
  }, 30_000);

  it('prepack builds a checkout that was never built', async () => {
    // A copy of packages/core without dist/ and without a tsbuildinfo, as a fresh clone has it.
    const clone = join(work, 'clone');
    mkdirSync(join(clone, 'packages'), { recursive: true });
    cpSync(join(root, 'tsconfig.base.json'), join(clone, 'tsconfig.base.json'));
    cpSync(join(root, 'docs'), join(clone, 'docs'), { recursive: true });
    cpSync(join(root, 'scripts'), join(clone, 'scripts'), { recursive: true });
    cpSync(join(root, 'packages/core'), join(clone, 'packages/core'), { recursive: true, filter: (src) => !/[\\/](dist|node_modules)$|tsbuildinfo$/.test(src) });
    symlinkSync(join(root, 'node_modules'), join(clone, 'node_modules'), 'junction');
    expect(existsSync(join(clone, 'packages/core/dist'))).toBe(false);
    const r = ok(await run(npm, ['pack', '--dry-run', '--json'], join(clone, 'packages/core')), 'npm pack (unbuilt)');
    timings.packUnbuilt = r.ms;
    const [result] = JSON.parse(r.stdout.slice(r.stdout.search(/^\[/m))) as PackResult[];
    const files = result!.files.map((f) => f.path);
    expect(files).not.toContain('dist/index.js');
    expect(files).toEqual(expect.arrayContaining(['dist/bundle/index.js', 'dist/bundle/internal.code.cjs.map', 'dist/bundle/internal.js', 'dist/index.d.cts', 'dist/internal.d.cts']));
    expect(files).toContain('LICENSE');
    expect(files).toContain('dist/wire-profile.md');
  }, 120_000);
});
