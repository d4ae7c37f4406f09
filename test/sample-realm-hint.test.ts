import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../packages/auth-server/dist/bin.js', import.meta.url));
const realm = fileURLToPath(new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'aauth-sample-realm-'));
const empty = mkdtempSync(join(tmpdir(), 'aauth-no-realm-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(empty, { recursive: true, force: true });
});

// The READMEs' `--realm keycloak-realm/aauth-test-realm.json` exists only in the kit's repository;
// in a project that installed the package, the error now names the sample realm it ships.
describe('a missing --realm file in a project that installed @aauth-kit/auth-server', () => {
  it('names the sample realm of the package, relative to where the command runs', () => {
    // What npm installs: the package's manifest (its exports) and dist/aauth-test-realm.json (prepack).
    const pkg = join(dir, 'node_modules', '@aauth-kit', 'auth-server');
    mkdirSync(join(pkg, 'dist'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: '@aauth-kit/auth-server', exports: { './aauth-test-realm.json': './dist/aauth-test-realm.json' } }));
    copyFileSync(realm, join(pkg, 'dist', 'aauth-test-realm.json'));
    const r = spawnSync(process.execPath, [bin, '--realm', 'keycloak-realm/aauth-test-realm.json', '--port', '0'], { cwd: dir, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read realm file keycloak-realm/aauth-test-realm.json: ENOENT');
    expect(r.stderr).toContain(`(the sample realm of @aauth-kit/auth-server is ${join('node_modules', '@aauth-kit', 'auth-server', 'dist', 'aauth-test-realm.json')})`);
  });

  it('says nothing more where no such package is installed', () => {
    const r = spawnSync(process.execPath, [bin, '--realm', 'nope.json', '--port', '0'], { cwd: empty, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('cannot read realm file nope.json: ENOENT');
    expect(r.stderr).not.toContain('sample realm');
  });
});
