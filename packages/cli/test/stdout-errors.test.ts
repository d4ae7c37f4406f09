import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { listen, type Listening } from '../../../test/fixtures/http.js';

// Writing to stdout fails (found by a CLI audit: stack traces): the reader went away
// (`aauth request ... | head -c 20`, EPIPE) or the disk is full (/dev/full, ENOSPC).
// The built binary, run as a user runs it (`npm test` builds before testing).
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));

let dir: string;
let server: Listening;
let base = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-stdout-'));
  saveKeyFile(join(dir, 'agent.jwk'), generateKey());
  server = await listen((req, res) => {
    const piece = Buffer.alloc(64 * 1024, 0x41);
    const pump = () => {
      while (!res.destroyed && res.write(piece));
    };
    res.on('drain', pump);
    req.socket.on('close', () => res.destroy());
    pump();
  });
  base = server.origin;
});
afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('stdout errors', () => {
  it('a reader that goes away (EPIPE) ends request quietly with 141 (before: a stack trace)', async () => {
    const child = spawn(process.execPath, [bin, 'request', `${base}/endless`, '--key', join(dir, 'agent.jwk'), '--max-time', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Read the first bytes, then close the pipe, as `head -c 20` does.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (c, s) => resolve([c, s])));
    expect({ code, signal, stderr }).toEqual({ code: 141, signal: null, stderr: '' });
  });
  it('any other write error (ENOSPC on /dev/full) is one line, exit 1 (before: a stack trace)', () => {
    const full = openSync('/dev/full', 'w');
    try {
      const r = spawnSync(process.execPath, [bin, 'keygen', '--help'], { stdio: ['ignore', full, 'pipe'], encoding: 'utf8', timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('aauth: cannot write to stdout: ENOSPC: no space left on device, write\n');
    } finally {
      closeSync(full);
    }
  });
});
