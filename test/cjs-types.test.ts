import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The `require` side of the bundled packages' types: a CommonJS TypeScript program (a project
// without "type": "module", or any .cts file) given the .d.ts of a "type": "module" package is
// refused by TypeScript (TS1479: "the referenced file is an ECMAScript module and cannot be imported
// with 'require'"), although node requires the package's CommonJS entry fine. scripts/bundle.mjs
// writes a .d.cts twin of every .d.ts (writeCjsTypes), which the packages' `require` conditions
// name. Checked here: the rewriting itself, the twins of today's dist/, and a CommonJS program
// outside the repository that compiles against them (strict, shipped declarations checked) and runs.
const root = fileURLToPath(new URL('..', import.meta.url));
const BUNDLED = ['core', 'discovery', 'verifier', 'express', 'agent'] as const;

interface BundleScript {
  cjsDeclaration(text: string, dist: string): string;
  writeCjsTypes(dist: string): string[];
  distOf(name: string): string;
}
let script: BundleScript;
beforeAll(async () => {
  script = (await import(pathToFileURL(join(root, 'scripts/bundle.mjs')).href)) as BundleScript;
});

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)]));
}

describe('CommonJS declarations (.d.cts) of the bundled packages', () => {
  it('names relative modules .cjs, leaves bare ones, and gives an ES-module-only package a resolution-mode', () => {
    const dist = script.distOf('core');
    const text = [
      "import type { JWK } from 'jose';",
      "import { a } from './a.js';",
      'import type { B } from "../lib/b.js";',
      "export * from './c.js';",
      "export { d, type D } from './lib/d.js';",
      "import './side.js';",
      "export declare function f(): import('./e.js').E;",
      "import type { Request } from 'express';",
      "import type { KeyObject } from 'node:crypto';",
      "export type { X } from '@aauth-kit/verifier';",
      "export declare const data: typeof import('./data.json');",
      '//# sourceMappingURL=index.d.ts.map',
    ].join('\n');
    expect(script.cjsDeclaration(text, dist).split('\n')).toEqual([
      "import type { JWK } from 'jose' with { 'resolution-mode': 'import' };",
      "import { a } from './a.cjs';",
      'import type { B } from "../lib/b.cjs";',
      "export * from './c.cjs';",
      "export { d, type D } from './lib/d.cjs';",
      "import './side.cjs';",
      "export declare function f(): import('./e.cjs').E;",
      "import type { Request } from 'express';",
      "import type { KeyObject } from 'node:crypto';",
      "export type { X } from '@aauth-kit/verifier';",
      "export declare const data: typeof import('./data.json');",
      '//# sourceMappingURL=index.d.ts.map',
    ]);
  });

  it('refuses to write a declaration that names an ES-module-only package other than by import type', () => {
    const dist = script.distOf('core');
    expect(() => script.cjsDeclaration("export declare const k: import('jose').JWK;", dist)).toThrow(/names jose, whose types are an ES module only/);
    expect(() => script.cjsDeclaration("export type { JWK } from 'jose';", dist)).toThrow(/names jose/);
  });

  it('writes a twin of every .d.ts (not of dist/bundle/), rewrites only what changed, and removes a stale one', () => {
    const dist = mkdtempSync(join(tmpdir(), 'aauth-dcts-'));
    try {
      mkdirSync(join(dist, 'lib'));
      mkdirSync(join(dist, 'bundle'));
      writeFileSync(join(dist, 'index.d.ts'), "export * from './lib/x.js';\n");
      writeFileSync(join(dist, 'lib/x.d.ts'), 'export declare const x: number;\n');
      writeFileSync(join(dist, 'bundle/index.d.ts'), 'export {};\n');
      writeFileSync(join(dist, 'gone.d.cts'), 'export {};\n');
      expect(script.writeCjsTypes(dist).sort()).toEqual(['gone.d.cts', 'index.d.cts', 'lib/x.d.cts']);
      expect(readFileSync(join(dist, 'index.d.cts'), 'utf8')).toBe("export * from './lib/x.cjs';\n");
      expect(walk(dist).map((f) => relative(dist, f)).sort()).toEqual(['bundle/index.d.ts', 'index.d.cts', 'index.d.ts', 'lib/x.d.cts', 'lib/x.d.ts']);
      const before = statSync(join(dist, 'index.d.cts')).mtimeMs;
      expect(script.writeCjsTypes(dist)).toEqual([]);
      expect(statSync(join(dist, 'index.d.cts')).mtimeMs).toBe(before);
      writeFileSync(join(dist, 'lib/x.d.ts'), 'export declare const x: string;\n');
      expect(script.writeCjsTypes(dist)).toEqual(['lib/x.d.cts']);
      expect(readFileSync(join(dist, 'lib/x.d.cts'), 'utf8')).toBe('export declare const x: string;\n');
    } finally {
      rmSync(dist, { recursive: true, force: true });
    }
  });

  it("dist/ holds today's twin of every declaration of the five bundled packages", () => {
    for (const pkg of BUNDLED) {
      const dist = script.distOf(pkg);
      const dts = walk(dist).filter((f) => f.endsWith('.d.ts') && !f.includes(`${dist}bundle`));
      expect(dts.length, pkg).toBeGreaterThan(0);
      for (const file of dts) {
        const twin = file.replace(/\.d\.ts$/, '.d.cts');
        expect(readFileSync(twin, 'utf8'), relative(root, twin)).toBe(script.cjsDeclaration(readFileSync(file, 'utf8'), dist));
      }
      const twins = walk(dist).filter((f) => f.endsWith('.d.cts'));
      expect(twins.length, pkg).toBe(dts.length);
    }
  });
});

describe('a CommonJS TypeScript program outside the repository', () => {
  let work: string;
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'aauth-cjs-consumer-'));
    expect(relative(root, work).startsWith('..')).toBe(true);
    symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'), 'junction');
    // No "type" field: every .ts here is CommonJS, as in most express and NestJS projects.
    writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'aauth-cjs-consumer', private: true }));
    writeFileSync(
      join(work, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'Node16',
          moduleResolution: 'Node16',
          types: ['node'],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: false,
          rootDir: 'src',
          outDir: 'dist',
        },
        include: ['src'],
      }),
    );
    mkdirSync(join(work, 'src'));
    writeFileSync(
      join(work, 'src', 'consumer.ts'),
      [
        "import { generateKey, signRequest, type SigningKey } from '@aauth-kit/core';",
        "import { parseSignedRequest } from '@aauth-kit/core/internal';",
        "import { createDocumentFetcher } from '@aauth-kit/discovery';",
        "import { createVerifier } from '@aauth-kit/verifier';",
        "import { aauth } from '@aauth-kit/express';",
        "import { createAgent } from '@aauth-kit/agent';",
        '',
        "const key: SigningKey = generateKey({ kid: 'cjs' });",
        '// The types are the kit\'s, not `any`: each of these is an error TypeScript must report (never run).',
        'export function wrongs(): void {',
        '  // @ts-expect-error: a signing key is no number',
        '  const wrong: number = generateKey();',
        "  // @ts-expect-error: 'level' takes a level name",
        "  aauth({ identity: 'http://localhost:1', key, level: 'everything' });",
        '  void wrong;',
        '}',
        '',
        'async function main(): Promise<void> {',
        "  const url = 'http://localhost:3002/plan';",
        "  const signed = signRequest({ method: 'GET', url, headers: {} }, { key, signatureKey: { scheme: 'hwk', jwk: key.jwk } });",
        "  const parsed = parseSignedRequest({ method: 'GET', url, headers: signed.headers });",
        "  const verified = await createVerifier({ identity: 'http://localhost:3002' }).verify({ method: 'GET', url, headers: signed.headers });",
        '  console.log(JSON.stringify({',
        '    scheme: verified.scheme,',
        '    thumbprint: verified.thumbprint === key.thumbprint,',
        '    covered: parsed.components.length > 0,',
        "    functions: [typeof createDocumentFetcher, typeof aauth, typeof createAgent].every((t) => t === 'function'),",
        '  }));',
        '}',
        'void main();',
        '',
      ].join('\n'),
    );
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('compiles against the packages with require() resolution (strict, shipped declarations checked) and runs', () => {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: work, encoding: 'utf8', timeout: 120_000 });
    expect(`${tsc.stdout}${tsc.stderr}`).toBe('');
    expect(tsc.status).toBe(0);
    const emitted = readFileSync(join(work, 'dist', 'consumer.js'), 'utf8');
    expect(emitted).toContain('require("@aauth-kit/core")');
    expect(emitted).not.toMatch(/\bimport\s*\(/);
    const run = spawnSync(process.execPath, ['dist/consumer.js'], { cwd: work, encoding: 'utf8', timeout: 60_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({ scheme: 'hwk', thumbprint: true, covered: true, functions: true });
  }, 180_000);
});
