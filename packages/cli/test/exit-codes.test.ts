import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { runCli } from '@aauth-kit/auth-server/cli';
import { aauth } from './support.js';

// The exit-code table (found by a CLI audit): these are bad arguments, exit 2 with one line naming
// the flag, not node's messages with exit 1.

let dir: string;
let keyFile: string;
const realm = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-exit-'));
  keyFile = join(dir, 'agent.jwk');
  saveKeyFile(keyFile, generateKey());
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const url = 'http://127.0.0.1:1/';

describe('request', () => {
  it('--key \'\' and --upstream-token \'\' are usage errors naming the flag (before: "aauth: path must be a non-empty string", exit 1)', async () => {
    expect(await aauth('request', url, '--key', '')).toEqual({ code: 2, out: '', err: 'aauth request: --key needs a file name (create one with: aauth keygen --out FILE)\n' });
    expect(await aauth('request', url, '--key', keyFile, '--upstream-token', '')).toEqual({ code: 2, out: '', err: 'aauth request: --upstream-token needs a token (the auth token this agent was called with)\n' });
  });
  it('--max-time out of what a timer holds is a usage error (before: node\'s "delay out of range", exit 1)', async () => {
    for (const value of ['99999999999', '0.0001', '0', '-1']) {
      const r = await aauth('request', url, '--key', keyFile, `--max-time=${value}`);
      expect(r).toEqual({ code: 2, out: '', err: `aauth request: --max-time must be a number of seconds from 0.001 to 4294967 (got "${value}")\n` });
    }
  });
});

describe('auth-server', () => {
  it('--host that does not resolve or is not this machine\'s is a usage error naming --host (before: ENOTFOUND, EADDRNOTAVAIL, exit 1)', async () => {
    const bad = await aauth('auth-server', '--realm', realm, '--host', '999.1.1.1', '--port', '0');
    expect(bad).toEqual({ code: 2, out: '', err: 'aauth auth-server: --host 999.1.1.1: no such address (give an IP address of this machine, e.g. 127.0.0.1 or 0.0.0.0, or a name that resolves to one)\n' });
    const elsewhere = await aauth('auth-server', '--realm', realm, '--host', '10.255.255.1', '--port', '0');
    expect(elsewhere).toEqual({ code: 2, out: '', err: 'aauth auth-server: --host 10.255.255.1: no interface of this machine has that address\n' });
  });
  it('--key-file in a folder that does not exist is a usage error naming --key-file (before: ENOENT, exit 1)', async () => {
    const file = join(dir, 'nodir', 'k.json');
    const r = await aauth('auth-server', '--realm', realm, '--port', '0', '--key-file', file);
    expect(r).toEqual({ code: 2, out: '', err: `aauth auth-server: --key-file ${file}: its folder ${join(dir, 'nodir')} does not exist (the key is created there when absent): create it, or name a file in an existing folder\n` });
  });
  it('--person-key-file holding an RSA key names the flag and the key type it needs (before: unsupported_algorithm, exit 1)', async () => {
    const pem = join(dir, 'rsa.pem');
    writeFileSync(pem, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const r = await aauth('auth-server', '--realm', realm, '--port', '0', '--person-server', '--allow-loopback', '--person-key-file', pem);
    expect(r.code).toBe(2);
    expect(r.err.split('\n').filter((l) => !l.startsWith('warning: '))).toEqual([
      `aauth auth-server: --person-key-file ${pem} must hold an Ed25519 private key (a JWK or PKCS#8 PEM, e.g. from aauth keygen --out): Unsupported private key type rsa`,
      '',
    ]);
  });
  it('--port 80 is printed as bound to port 80 (before: "bound to 127.0.0.1:0")', async (context) => {
    const lines: string[] = [];
    let running: Awaited<ReturnType<typeof runCli>>;
    try {
      running = await runCli(['--realm', realm, '--port', '80'], { out: (l) => lines.push(l), err: () => {} });
    } catch (error) {
      // Port 80 needs privileges, or another process has it: nothing to check here then.
      if (error instanceof TypeError && /^--port 80: /.test(error.message)) return context.skip();
      throw error;
    }
    try {
      expect(lines[0]).toMatch(/^aauth-auth-server listening on http:\/\/localhost(:80)? \(bound to 127\.0\.0\.1:80\); issuer http:\/\/localhost(:80)?\/realms\/aauth-test$/);
    } finally {
      await running.close();
    }
  });
});
