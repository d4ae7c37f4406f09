import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { helpRequested, parseCliArgs, runCli, USAGE } from '../src/run-cli.js';

// Issue 16 (helper E): the -11 flags of `aauth-auth-server` (run-cli.ts): --person-server,
// --allow-loopback, --person-key-file, --access-server, --access-key-file, and -h/--help. Servers
// run in-process on loopback, port 0. The access server serving through the command is tested in
// run-cli-access.test.ts (it needs the access server role, issue 16 helper A).

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REALM_FILE = join(ROOT, 'keycloak-realm/aauth-test-realm.json');
const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-11-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the command in-process, collecting what it prints. */
async function start(argv: string[]): Promise<{ running: Awaited<ReturnType<typeof runCli>>; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const running = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { running, out, err };
}

describe('parseCliArgs: the -11 flags', () => {
  it('reads --person-server, --allow-loopback and --person-key-file; without them nothing -11 is set', () => {
    expect(parseCliArgs(['--realm', 'r.json', '--person-server', '--allow-loopback', '--person-key-file', 'ps.json', '--key-file', 'k.json'])).toEqual({
      realm: 'r.json',
      port: 8080,
      host: '127.0.0.1',
      baseUrl: 'http://localhost:8080',
      baseUrlGiven: false,
      keyFile: 'k.json',
      personServer: true,
      allowLoopback: true,
      personKeyFile: 'ps.json',
    });
    expect(parseCliArgs(['--realm', 'r.json'])).not.toHaveProperty('personServer');
    expect(parseCliArgs(['--realm', 'r.json', '--access-server', '--allow-loopback', '--access-key-file', 'as.json'])).toEqual({
      realm: 'r.json',
      port: 8080,
      host: '127.0.0.1',
      baseUrl: 'http://localhost:8080',
      baseUrlGiven: false,
      accessServer: true,
      allowLoopback: true,
      accessKeyFile: 'as.json',
    });
  });

  it.each([
    [['--realm', 'r', '--allow-loopback'], '--allow-loopback relaxes -11 identifiers: give it with --person-server or --access-server'],
    [['--realm', 'r', '--access-key-file', 'a.json'], "--access-key-file is the -11 access server's key: give it with --access-server"],
    [['--realm', 'r', '--person-server', '--person-key-file', 'a.json'].concat(['--access-server', '--access-key-file', 'a.json']), '--access-key-file must differ from --key-file and --person-key-file'],
    [['--realm', 'r', '--access-server', '--access-key-file', ''], '--access-key-file must name a file'],
    [['--realm', 'r', '--person-key-file', 'p.json'], "--person-key-file is the -11 person server's key: give it with --person-server"],
    [['--realm', 'r', '--person-server', '--person-key-file', ''], '--person-key-file must name a file'],
    [['--realm', 'r', '--person-server', '--key-file', 'k.json', '--person-key-file', 'k.json'], '--person-key-file must differ from --key-file'],
    [['--realm', 'r', '--person-server=yes'], "Option '--person-server' does not take an argument"],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(TypeError);
    expect(() => parseCliArgs(argv)).toThrow(message);
  });
});

describe('--help', () => {
  it('is asked for by -h or --help anywhere in the arguments', () => {
    expect(helpRequested(['--help'])).toBe(true);
    expect(helpRequested(['--realm', 'r.json', '-h'])).toBe(true);
    expect(helpRequested(['--realm', 'r.json'])).toBe(false);
  });

  it('documents every flag, the -11 ones under their own heading', () => {
    for (const flag of ['--realm FILE', '--port N', '--host HOST', '--base-url URL', '--key-file FILE', '--alg ALG', '-h, --help', '--person-server', '--allow-loopback', '--person-key-file FILE', '--access-server', '--access-key-file FILE']) {
      expect(USAGE).toContain(flag);
    }
    expect(USAGE).toContain('AAuth -11 roles, from the same realm file (realm attributes aauth.person.*, aauth.access.*):');
    expect(USAGE.startsWith('Usage: aauth-auth-server --realm FILE')).toBe(true);
  });
});

describe('runCli --person-server', () => {
  it('serves the -11 person server at the base URL origin with a key kept in --person-key-file, and says where', async () => {
    const keyFile = join(dir, 'ps-key.json');
    const first = await start(['--realm', REALM_FILE, '--port', '0', '--person-server', '--allow-loopback', '--person-key-file', keyFile, '--key-file', join(dir, 'realm-key.json')]);
    let x: unknown;
    try {
      const ps = first.running.personServer!;
      expect(ps).toBe(new URL(first.running.baseUrl).origin);
      expect(ps).toMatch(/^http:\/\/localhost:\d+$/);
      expect(first.out[2]).toBe(`  AAuth -11 person server ${ps} (metadata ${ps}/.well-known/aauth-person.json)`);
      const metadata = (await (await fetch(`${ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
      expect(metadata).toMatchObject({ issuer: ps, person_token_endpoint: `${ps}/aauth/person/person-token`, auth_token_endpoint: `${ps}/aauth/person/auth-token` });
      const jwks = (await (await fetch(metadata.jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
      expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'Ed25519' });
      x = jwks.keys[0]!.x;
      expect(existsSync(keyFile)).toBe(true);
      expect(first.err.some((l) => /ephemeral/.test(l))).toBe(false);
      // The endpoints answer as -11 does: an unsigned request is a 401 with Signature-Error.
      const unsigned = await fetch(metadata.person_token_endpoint!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      expect(unsigned.status).toBe(401);
      expect(unsigned.headers.get('signature-error')).toMatch(/^error=/);
    } finally {
      await first.running.close();
    }
    // Restarted on the same key file: the same person server key (tokens and directed subs survive).
    const second = await start(['--realm', REALM_FILE, '--port', '0', '--person-server', '--allow-loopback', '--person-key-file', keyFile]);
    try {
      const ps = second.running.personServer!;
      const metadata = (await (await fetch(`${ps}/.well-known/aauth-person.json`)).json()) as Record<string, string>;
      const jwks = (await (await fetch(metadata.jwks_uri!)).json()) as { keys: Array<Record<string, string>> };
      expect(jwks.keys[0]!.x).toBe(x);
      expect(JSON.parse(readFileSync(keyFile, 'utf8'))).toBeTypeOf('object');
    } finally {
      await second.running.close();
    }
  });

  it('without --person-key-file warns of the ephemeral key naming the flag, not the API option', async () => {
    const { running, err } = await start(['--realm', REALM_FILE, '--port', '0', '--person-server', '--allow-loopback']);
    try {
      expect(running.personServer).toBeDefined();
      expect(err).toContain(
        'warning: no --person-key-file given: the person server key is ephemeral, and its tokens and directed subs change after a restart (dev only)',
      );
      expect(err.join('\n')).not.toMatch(/options\./);
    } finally {
      await running.close();
    }
  });

  it('stops with the reason when the person server cannot be served: an http base URL without --allow-loopback, a realm that disables it', async () => {
    await expect(runCli(['--realm', REALM_FILE, '--port', '0', '--person-server'], { out: () => {}, err: () => {} })).rejects.toThrow(
      /^--person-server: the -11 person server cannot be served: its identifier, the origin of --base-url \(http:\/\/localhost:\d+\), .+ \(--allow-loopback accepts http and a port on a loopback host, for development\)$/,
    );
    const realm = JSON.parse(readFileSync(REALM_FILE, 'utf8')) as { attributes?: Record<string, string> };
    const file = join(dir, 'person-off.json');
    writeFileSync(file, JSON.stringify({ ...realm, attributes: { ...(realm.attributes ?? {}), 'aauth.person.enabled': 'false' } }));
    await expect(runCli(['--realm', file, '--port', '0', '--person-server', '--allow-loopback'], { out: () => {}, err: () => {} })).rejects.toThrow(
      new TypeError('--person-server: the -11 person server cannot be served: the realm sets aauth.person.enabled to false'),
    );
  });

  it('without --person-server on an http base URL: no person server, and nothing printed about one', async () => {
    const { running, out } = await start(['--realm', REALM_FILE, '--port', '0']);
    try {
      expect(running.personServer).toBeUndefined();
      expect(running.accessServer).toBeUndefined();
      expect(out.some((l) => /person server|access server/.test(l))).toBe(false);
      expect((await fetch(`${running.baseUrl}/.well-known/aauth-person.json`)).status).toBe(404);
    } finally {
      await running.close();
    }
  });
});
