import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCliArgs, runCli } from '../src/index.js';
import { freePort } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REALM_FILE = join(ROOT, 'keycloak-realm/aauth-test-realm.json');
const BIN = join(ROOT, 'packages/auth-server/dist/bin.js');
const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseCliArgs', () => {
  it('reads the options with their defaults', () => {
    expect(parseCliArgs(['--realm', 'r.json'])).toEqual({ realm: 'r.json', port: 8080, host: '127.0.0.1', baseUrl: 'http://localhost:8080', baseUrlGiven: false });
    expect(parseCliArgs(['--realm', 'r.json', '--port', '9000', '--host', '::1', '--base-url', 'https://as.example', '--key-file', 'k.json', '--alg', 'EdDSA'])).toEqual({
      realm: 'r.json',
      port: 9000,
      host: '::1',
      baseUrl: 'https://as.example',
      baseUrlGiven: true,
      keyFile: 'k.json',
      signingAlgorithm: 'EdDSA',
    });
  });

  it('port 0 without --base-url serves an issuer that names the port actually bound', async () => {
    const lines: string[] = [];
    const running = await runCli(['--realm', REALM_FILE, '--port', '0'], { out: (l) => lines.push(l), err: () => {} });
    try {
      const port = new URL(running.url).port;
      expect(port).not.toBe('0');
      expect(running.issuer).toBe(`http://localhost:${port}/realms/aauth-test`);
      const r = await fetch(`${running.issuer}/.well-known/aauth-issuer.json`);
      expect(((await r.json()) as { issuer: string }).issuer).toBe(running.issuer);
    } finally {
      await running.close();
    }
  });

  it.each([
    [[], '--realm FILE is required'],
    [['--realm', 'r', '--port', 'http'], '--port must be a port number'],
    [['--realm', 'r', '--port', '70000'], '--port must be a port number'],
    [['--realm', 'r', '--alg', 'HS256'], '--alg must be RS256, EdDSA or ES256'],
    [['--realm', 'r', '--bogus'], "Unknown option '--bogus'"],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(TypeError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });
});

describe('runCli', () => {
  it('serves the realm file, prints where, and logs audit events as JSON lines', async () => {
    const port = await freePort();
    const out: string[] = [];
    const err: string[] = [];
    const keyFile = join(dir, 'key.json');
    const running = await runCli(['--realm', REALM_FILE, '--port', String(port), '--base-url', `http://127.0.0.1:${port}`, '--key-file', keyFile], {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
    });
    try {
      expect(running.issuer).toBe(`http://127.0.0.1:${port}/realms/aauth-test`);
      expect(out[0]).toBe(`aauth-auth-server listening on http://127.0.0.1:${port}; issuer ${running.issuer}`);
      expect(existsSync(keyFile)).toBe(true);
      expect(err.some((l) => /ephemeral/.test(l))).toBe(false);
      const meta = (await (await fetch(`${running.issuer}/.well-known/aauth-issuer`)).json()) as { token_endpoint: string };
      expect(meta.token_endpoint).toBe(`${running.issuer}/protocol/aauth/token`);
      const unsigned = await fetch(meta.token_endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unsigned.status).toBe(401);
      const line = JSON.parse(out.at(-1)!);
      expect(line.audit).toMatchObject({ type: 'request.refused', endpoint: 'token', status: 401, error: 'invalid_request' });
    } finally {
      await running.close();
    }
  });

  it('the built command refuses bad arguments with exit code 2 and usage, and runs with good ones', async () => {
    expect(existsSync(BIN), `${BIN} is missing: build first (npx tsc -b; npm test does it)`).toBe(true);
    const bad = spawn(process.execPath, [BIN, '--port', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    bad.stderr.on('data', (d) => (stderr += d));
    const code = await new Promise((resolve) => bad.on('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('aauth-auth-server: --realm FILE is required');
    expect(stderr).toContain('Usage: aauth-auth-server --realm FILE');

    const port = await freePort();
    const good = spawn(process.execPath, [BIN, '--realm', REALM_FILE, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const first = await new Promise<string>((resolve, reject) => {
        good.stdout.once('data', (d) => resolve(String(d)));
        good.once('exit', (c) => reject(new Error(`exited ${c}`)));
      });
      expect(first).toContain(`listening on http://127.0.0.1:${port}; issuer http://localhost:${port}/realms/aauth-test`);
      const res = await fetch(`http://127.0.0.1:${port}/realms/aauth-test/.well-known/aauth-issuer.json`);
      expect(((await res.json()) as { issuer: string }).issuer).toBe(`http://localhost:${port}/realms/aauth-test`);
    } finally {
      const exited = new Promise((resolve) => good.once('exit', resolve));
      good.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
  });
});
