import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aauth } from './support.js';

// keygen --out and --force (found by a CLI audit): --force wrote through symbolic links and
// chmodded device nodes, a FIFO hung it, and --out - wrote a file named "-".
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-keygen-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keygen --out', () => {
  it('--force replaces a symbolic link itself and leaves the file it pointed to alone', async () => {
    const target = join(dir, 'precious.txt');
    writeFileSync(target, 'keep me\n', { mode: 0o644 });
    const link = join(dir, 'link.jwk');
    symlinkSync(target, link);
    const r = await aauth('keygen', '--out', link, '--force');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`wrote private key to ${link} (mode 0600, replacing the symbolic link itself, not the file it pointed to)\n`);
    expect(readFileSync(target, 'utf8')).toBe('keep me\n');
    expect(statSync(target).mode & 0o777).toBe(0o644);
    expect(lstatSync(link).isFile()).toBe(true);
    expect(lstatSync(link).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(link, 'utf8')).d).toEqual(expect.any(String));
  });
  it('--force replaces a regular file with the new key, mode 0600 (also when it was wider)', async () => {
    const file = join(dir, 'old.jwk');
    writeFileSync(file, 'old', { mode: 0o644 });
    expect((await aauth('keygen', '--out', file, '--force')).code).toBe(0);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8')).kty).toBe('OKP');
  });
  it('a FIFO or a device is refused even with --force, naming --out (before: hung, or chmodded the device)', async () => {
    const fifo = join(dir, 'fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    expect(await aauth('keygen', '--out', fifo, '--force')).toEqual({
      code: 2,
      out: '',
      err: `aauth keygen: --out ${fifo} is a FIFO (named pipe), not a regular file: keygen writes only regular files, even with --force (give --out - for stdout)\n`,
    });
    // A copy of /dev/null (never /dev/null itself: the old code chmodded it); mknod needs root.
    const device = join(dir, 'null-copy');
    if (spawnSync('mknod', ['-m', '666', device, 'c', '1', '3']).status !== 0) return;
    expect(await aauth('keygen', '--out', device, '--force')).toEqual({
      code: 2,
      out: '',
      err: `aauth keygen: --out ${device} is a device, not a regular file: keygen writes only regular files, even with --force (give --out - for stdout)\n`,
    });
    expect(statSync(device).mode & 0o777).toBe(0o666);
  });
  it('--out - prints the private JWK on stdout, as without --out, and writes no file named "-"', () => {
    const r = spawnSync(process.execPath, [bin, 'keygen', '--out', '-'], { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).d).toEqual(expect.any(String));
    expect(r.stderr).toMatch(/^public JWK: .*\nthumbprint: \S+\n$/);
    expect(existsSync(join(dir, '-'))).toBe(false);
  });
});
