import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { aauth } from './support.js';

// Files named on the command line (found by a CLI audit): a FIFO hung the command, /dev/zero grew
// it to 4 GB (or an uncaught RangeError). Only regular files of a sane size are read.

let dir: string;
let keyFile: string;
let fifo: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-files-'));
  keyFile = join(dir, 'agent.jwk');
  saveKeyFile(keyFile, generateKey());
  fifo = join(dir, 'fifo');
  expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const url = 'http://127.0.0.1:1/';

describe('request: --key, -d @FILE and --agent-token @FILE', () => {
  it('--key naming a FIFO or a device is a usage error naming --key (before: hung, or read /dev/zero to 4 GB)', async () => {
    expect(await aauth('request', url, '--key', fifo)).toEqual({ code: 2, out: '', err: `aauth request: --key ${fifo}: it is a FIFO (named pipe); give a regular file\n` });
    expect(await aauth('request', url, '--key', '/dev/zero')).toEqual({ code: 2, out: '', err: 'aauth request: --key /dev/zero: it is a device; give a regular file\n' });
  });
  it('--key larger than 64 KiB is refused before it is read', async () => {
    const big = join(dir, 'big.jwk');
    writeFileSync(big, ' '.repeat(70_000));
    expect(await aauth('request', url, '--key', big)).toEqual({ code: 2, out: '', err: `aauth request: --key ${big}: it is 70000 bytes, more than the 65536 bytes it may be\n` });
  });
  it('-d @FILE: a device, a FIFO or more than 16 MiB is a usage error naming -d', async () => {
    expect(await aauth('request', url, '--key', keyFile, '-d', '@/dev/zero')).toEqual({ code: 2, out: '', err: 'aauth request: -d @/dev/zero: it is a device; give a regular file\n' });
    expect((await aauth('request', url, '--key', keyFile, '-d', `@${fifo}`)).err).toBe(`aauth request: -d @${fifo}: it is a FIFO (named pipe); give a regular file\n`);
    const big = join(dir, 'big.body');
    writeFileSync(big, '');
    truncateSync(big, 16 * 1024 * 1024 + 1);
    expect(await aauth('request', url, '--key', keyFile, '-d', `@${big}`)).toEqual({ code: 2, out: '', err: `aauth request: -d @${big}: it is 16777217 bytes, more than the 16777216 bytes it may be\n` });
    expect((await aauth('request', url, '--key', keyFile, '-d', `@${join(dir, 'none')}`)).err).toBe(`aauth request: -d @${join(dir, 'none')}: cannot read it (no such file)\n`);
  });
  it('--agent-token @FILE: a FIFO or a device is a usage error naming --agent-token', async () => {
    expect((await aauth('request', url, '--key', keyFile, '--agent-token', `@${fifo}`)).err).toBe(`aauth request: --agent-token @${fifo}: it is a FIFO (named pipe); give a regular file\n`);
    const r = await aauth('request', url, '--key', keyFile, '--agent-token', '@/dev/zero');
    expect(r).toEqual({ code: 2, out: '', err: 'aauth request: --agent-token @/dev/zero: it is a device; give a regular file\n' });
  });
});

describe('audit --file', () => {
  it('a FIFO, a device or a directory is a usage error naming --file (before: hung, RangeError with a stack, EISDIR)', async () => {
    expect(await aauth('audit', '--file', fifo)).toEqual({ code: 2, out: '', err: `aauth audit: --file ${fifo}: it is a FIFO (named pipe); give a regular file\n` });
    expect(await aauth('audit', '--file', '/dev/zero')).toEqual({ code: 2, out: '', err: 'aauth audit: --file /dev/zero: it is a device; give a regular file\n' });
    const folder = join(dir, 'logdir');
    mkdirSync(folder);
    expect(await aauth('audit', '--file', folder)).toEqual({ code: 2, out: '', err: `aauth audit: --file ${folder}: it is a directory; give a regular file\n` });
  });
});

describe('auth-server key files', () => {
  it('--key-file and --person-key-file naming a FIFO or a device are usage errors naming the flag', async () => {
    const realm = new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url).pathname;
    const k = await aauth('auth-server', '--realm', realm, '--port', '0', '--key-file', fifo);
    expect(k).toEqual({ code: 2, out: '', err: `aauth auth-server: --key-file ${fifo} is not a regular file (a FIFO, a device or a socket): name a key file\n` });
    const p = await aauth('auth-server', '--realm', realm, '--port', '0', '--person-server', '--person-key-file', '/dev/zero');
    expect(p).toEqual({ code: 2, out: '', err: 'aauth auth-server: --person-key-file /dev/zero is not a regular file (a FIFO, a device or a socket): name a key file\n' });
  });
});
