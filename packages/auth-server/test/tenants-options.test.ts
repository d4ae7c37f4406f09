import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTenantAuthServer } from '../src/create-tenant-auth-server.js';
import { parseCliArgs, runCli } from '../src/run-cli.js';

// Issue 17, tenants: what createTenantAuthServer and the command refuse, and what they parse.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const REALM = JSON.parse(readFileSync(join(ROOT, 'keycloak-realm/aauth-test-realm.json'), 'utf8')) as Record<string, unknown>;
const dir = mkdtempSync(join(tmpdir(), 'aauth-tenant-options-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const named = (name: string): Record<string, unknown> => ({ ...REALM, realm: name });
const quiet = { onWarning: () => undefined };

describe('createTenantAuthServer options', () => {
  it('refuses bad options with the option named', () => {
    const base = { baseUrl: 'http://127.0.0.1:1', ...quiet };
    expect(() => createTenantAuthServer({ ...base })).toThrow('options.realms or options.realmsDir must name at least one realm');
    expect(() => createTenantAuthServer({ ...base, realms: [named('a')], admin: { token: 'short' } })).toThrow('options.admin.token must be a string of at least 32 characters');
    expect(() => createTenantAuthServer({ ...base, realms: [named('a')], realmOptions: 'x' as never })).toThrow('options.realmOptions must be a function');
    expect(() => createTenantAuthServer({ ...base, realms: [named('a')], admin: { token: 'x'.repeat(32), onReloaded: 'x' as never } })).toThrow('options.admin.onReloaded must be a function');
  });

  it('refuses a name it does not know, with the nearest one or where the setting goes', () => {
    const base = { baseUrl: 'http://127.0.0.1:1', ...quiet };
    expect(() => createTenantAuthServer({ ...base, realm: named('a') } as never)).toThrow(/^options.realm is not an option of createTenantAuthServer \(did you mean realms\?\)$/);
    expect(() => createTenantAuthServer({ ...base, realms: [named('a')], keyFile: join(dir, 'k.json') } as never)).toThrow(
      /^options.keyFile is not an option of createTenantAuthServer: a realm's keyFile is returned by options.realmOptions\(name\), one per realm$/,
    );
  });

  it('admin.onReloaded: called after each reload the admin endpoint answered 200, not after a refused one, nor after reload()', async () => {
    const file = join(dir, 'hooked.json');
    writeFileSync(file, JSON.stringify(named('hooked')));
    const calls: unknown[] = [];
    const token = 'hooked-admin-token-0123456789abcdef';
    const server = createTenantAuthServer({ baseUrl: 'http://127.0.0.1:1', realms: [file], signingAlgorithm: 'EdDSA', admin: { token, onReloaded: (result) => calls.push(result) }, ...quiet });
    const running = await server.listen(0);
    const adminReload = (): Promise<Response> => fetch(`${running.url}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    try {
      writeFileSync(file, '{ not json');
      expect((await adminReload()).status).toBe(422);
      expect(calls).toEqual([]);
      writeFileSync(file, JSON.stringify({ ...named('hooked'), displayName: 'Hooked, renamed' }));
      expect((await adminReload()).status).toBe(200);
      expect(calls).toEqual([{ realms: ['hooked'], added: [], removed: [], changed: ['hooked'] }]);
      await server.reload();
      expect(calls).toHaveLength(1);
    } finally {
      await running.close();
    }
  });

  it('admin.onReloaded that throws or rejects (an async hook): the reload is answered 200, a warning, no unhandled rejection', async () => {
    const file = join(dir, 'hook-fails.json');
    writeFileSync(file, JSON.stringify(named('hookfails')));
    const warnings: string[] = [];
    const unhandled: unknown[] = [];
    const record = (reason: unknown): void => void unhandled.push(reason);
    const token = 'failing-hook-admin-token-0123456789';
    let calls = 0;
    const onReloaded = (): Promise<void> | void => {
      calls++;
      if (calls === 1) return Promise.reject(new Error('fleet channel down'));
      throw new Error('hook bug');
    };
    const server = createTenantAuthServer({ baseUrl: 'http://127.0.0.1:1', realms: [file], signingAlgorithm: 'EdDSA', admin: { token, onReloaded }, onWarning: (w) => warnings.push(w) });
    const running = await server.listen(0);
    process.on('unhandledRejection', record);
    try {
      for (let i = 0; i < 2; i++) {
        const res = await fetch(`${running.url}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
        expect(res.status).toBe(200);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).toEqual([]);
      expect(warnings.filter((w) => w.startsWith('options.admin.onReloaded'))).toEqual(['options.admin.onReloaded rejected: fleet channel down', 'options.admin.onReloaded threw: hook bug']);
    } finally {
      process.off('unhandledRejection', record);
      await running.close();
    }
  });

  it('a bad realm at start stops it, naming the source and the field; two realms of one name too', () => {
    const base = { baseUrl: 'http://127.0.0.1:1', ...quiet };
    const bad = { ...named('b'), attributes: { 'aauth.allowed.agents': 'nope' } };
    expect(() => createTenantAuthServer({ ...base, realms: [named('a'), bad] })).toThrow(/^options\.realms\[1\]\.attributes\["aauth\.allowed\.agents"\] must hold a JSON array of strings/);
    expect(() => createTenantAuthServer({ ...base, realms: [named('a'), named('a')] })).toThrow('options.realms[1]: realm a is given twice');
    const missing = join(dir, 'missing.json');
    expect(() => createTenantAuthServer({ ...base, realms: [missing] })).toThrow(`${missing}: ENOENT`);
  });

  it('a realm file that changed is rebuilt with the same key; an unchanged one keeps its instance', async () => {
    const a = join(dir, 'a.json');
    const b = join(dir, 'b.json');
    writeFileSync(a, JSON.stringify(named('a')));
    writeFileSync(b, JSON.stringify(named('b')));
    const server = createTenantAuthServer({ baseUrl: 'http://127.0.0.1:1', realms: [a, b], signingAlgorithm: 'EdDSA', ...quiet });
    const [beforeA, beforeB] = [server.realm('a')!, server.realm('b')!];
    writeFileSync(b, JSON.stringify({ ...named('b'), displayName: 'B, renamed' }));
    expect(await server.reload()).toEqual({ realms: ['a', 'b'], added: [], removed: [], changed: ['b'] });
    expect(server.realm('a')).toBe(beforeA);
    expect(server.realm('b')).not.toBe(beforeB);
    expect(server.realm('b')!.jwks()).toEqual(beforeB.jwks());
    // A source that names another realm after the edit: the old name goes, the new one comes, with a new key.
    writeFileSync(b, JSON.stringify(named('c')));
    expect(await server.reload()).toEqual({ realms: ['a', 'c'], added: ['c'], removed: ['b'], changed: [] });
    expect(server.realm('c')!.jwks()).not.toEqual(beforeB.jwks());
  });
});

describe('the command with several realms', () => {
  it('parses several --realm and --realms DIR, and the tenant flags', () => {
    expect(parseCliArgs(['--realm', 'a.json', '--realm', 'b.json', '--key-dir', 'keys', '--admin-token-file', 't'])).toMatchObject({
      realm: 'a.json',
      realms: ['a.json', 'b.json'],
      keyDir: 'keys',
      adminTokenFile: 't',
    });
    expect(parseCliArgs(['--realms', 'dir'])).toMatchObject({ realmsDir: 'dir' });
    expect(parseCliArgs(['--realm', 'a.json'])).not.toHaveProperty('realms');
  });

  it.each([
    [['--realm', 'a.json', '--key-dir', 'k'], '--key-dir is for tenants: give several --realm or --realms DIR'],
    [['--realm', 'a.json', '--admin-token-file', 't'], '--admin-token-file is for tenants: give several --realm or --realms DIR'],
    [['--realms', 'd', '--person-server'], '--person-server serves one realm: not available with several realms (see --key-dir for keys)'],
    [['--realms', 'd', '--revocation-client', 'crm'], '--revocation-client serves one realm: not available with several realms (see --key-dir for keys)'],
    [['--realms', 'd', '--key-file', 'k'], '--key-file serves one realm: not available with several realms (see --key-dir for keys)'],
    [['--realms', ''], '--realms must name a folder'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCliArgs(argv)).toThrow(message);
  });

  it('refuses a short admin token and serves the admin endpoint with a good one', async () => {
    const realms = join(dir, 'realms');
    rmSync(realms, { recursive: true, force: true });
    const { mkdirSync } = await import('node:fs');
    mkdirSync(realms);
    writeFileSync(join(realms, 'x.json'), JSON.stringify(named('x')));
    const short = join(dir, 'short');
    writeFileSync(short, 'abc\n');
    await expect(runCli(['--realms', realms, '--port', '0', '--admin-token-file', short], { out: () => undefined, err: () => undefined })).rejects.toThrow(
      `--admin-token-file ${short}: the token (its first line) must have at least 32 characters`,
    );
    const good = join(dir, 'good');
    const token = 'x'.repeat(40);
    writeFileSync(good, `${token}\nignored\n`);
    const lines: string[] = [];
    const running = await runCli(['--realms', realms, '--port', '0', '--admin-token-file', good], { out: (l) => lines.push(l), err: () => undefined });
    try {
      expect(lines[0]).toMatch(/^aauth-auth-server listening on http:\/\/localhost:\d+ \(bound to 127\.0\.0\.1:\d+\); realms x$/);
      const reload = await fetch(`${running.url}/admin/realms/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      expect(await reload.json()).toEqual({ realms: ['x'], added: [], removed: [], changed: [] });
      await running.reload!();
      expect(lines.at(-1)).toBe('realms reloaded: serving x (added: none; removed: none; changed: none)');
    } finally {
      await running.close();
    }
  });
});

describe('realm files that are not what they seem (realm audit)', () => {
  const base = { baseUrl: 'http://127.0.0.1:1', signingAlgorithm: 'EdDSA' as const, ...quiet };

  it('a FIFO, a device or an oversized file among the realms is refused by name, at start and on reload; the realms served stay', async () => {
    const { execFileSync } = await import('node:child_process');
    const { symlinkSync } = await import('node:fs');
    const folder = mkdtempSync(join(dir, 'odd-'));
    writeFileSync(join(folder, 'a.json'), JSON.stringify(named('a')));
    execFileSync('mkfifo', [join(folder, 'b.json')]);
    // Before: reading the FIFO blocked the process for good (at start, and on SIGHUP while serving).
    expect(() => createTenantAuthServer({ ...base, realmsDir: folder })).toThrow(`${join(folder, 'b.json')}: it is not a regular file (a realm export is a JSON file)`);
    rmSync(join(folder, 'b.json'));
    const server = createTenantAuthServer({ ...base, realmsDir: folder });
    symlinkSync('/dev/zero', join(folder, 'z.json'));
    await expect(server.reload()).rejects.toMatchObject({ problems: [`${join(folder, 'z.json')}: it is not a regular file (a realm export is a JSON file)`] });
    rmSync(join(folder, 'z.json'));
    writeFileSync(join(folder, 'big.json'), Buffer.alloc(33 * 1024 * 1024, 32));
    await expect(server.reload()).rejects.toMatchObject({ problems: [expect.stringMatching(/big\.json: it is \d+ bytes, more than 33554432 a realm export may be$/)] });
    rmSync(join(folder, 'big.json'));
    expect(server.realms()).toEqual(['a']);
    // An editor's lock file (a dotfile, here a dangling symlink) is not a realm.
    symlinkSync(join(folder, 'nowhere'), join(folder, '.#a.json'));
    await expect(server.reload()).resolves.toMatchObject({ realms: ['a'] });
    // A folder emptied mid-deploy: the reload is refused, the realm stays.
    rmSync(join(folder, 'a.json'));
    await expect(server.reload()).rejects.toMatchObject({ problems: [`${folder}: holds no *.json realm export (a reload never leaves the server without realms)`] });
    expect(server.realms()).toEqual(['a']);
  });

  it('hash iterations past 10,000,000 and realm names of dots alone are refused, naming the field', () => {
    const user = (iterations: number) => ({
      username: 'u',
      credentials: [{ type: 'password', secretData: JSON.stringify({ value: Buffer.alloc(32).toString('base64'), salt: 'c2FsdA==' }), credentialData: JSON.stringify({ algorithm: 'pbkdf2-sha256', hashIterations: iterations }) }],
    });
    expect(() => createTenantAuthServer({ ...base, realms: [{ ...named('h'), users: [user(2_147_483_647)] }] })).toThrow(/users\[0\]\.credentials\[0\]\.credentialData\.hashIterations must be at most 10000000/);
    expect(() => createTenantAuthServer({ ...base, realms: [{ ...named('h'), users: [user(27_500)] }] })).not.toThrow();
    for (const name of ['.', '..', '...']) expect(() => createTenantAuthServer({ ...base, realms: [named(name)] }), name).toThrow(/\.realm must be the realm name.*not dots alone/);
  });

  it('addRealm of a realm served already changes nothing; removeRealm afterwards removes only that realm', async () => {
    const folder = mkdtempSync(join(dir, 'add-'));
    const file = (name: string) => {
      const path = join(folder, `${name}.json`);
      writeFileSync(path, JSON.stringify(named(name)));
      return path;
    };
    const server = createTenantAuthServer({ ...base, realms: [file('a'), file('x'), file('y')] });
    expect(server.realms()).toEqual(['a', 'x', 'y']);
    await expect(server.addRealm(named('a'))).rejects.toMatchObject({ problems: [expect.stringMatching(/realm a is given twice|the realm is served already/)] });
    expect(server.realms()).toEqual(['a', 'x', 'y']);
    // Before: the failed add left its source named, and this removal took y with it.
    await expect(server.removeRealm('a')).resolves.toMatchObject({ realms: ['x', 'y'], removed: ['a'] });
    expect(server.realms()).toEqual(['x', 'y']);
  });
});

describe('a failed reload leaves nothing behind', () => {
  it('a key file made for a realm of a refused reload is removed, so the next attempt (another algorithm) starts clean', async () => {
    const folder = mkdtempSync(join(dir, 'keys-'));
    const keys = mkdtempSync(join(dir, 'keydir-'));
    writeFileSync(join(folder, 'a.json'), JSON.stringify(named('a')));
    const server = createTenantAuthServer({ baseUrl: 'http://127.0.0.1:1', realmsDir: folder, realmOptions: (name) => ({ keyFile: join(keys, `${name}.key.json`) }), ...quiet });
    // c (RS256 by default) arrives with a broken b: the reload is refused, and c's new key file goes.
    writeFileSync(join(folder, 'c.json'), JSON.stringify(named('c')));
    writeFileSync(join(folder, 'b.json'), '{"realm": 7}');
    await expect(server.reload()).rejects.toMatchObject({ problems: [expect.stringContaining('b.json')] });
    const { existsSync } = await import('node:fs');
    expect(existsSync(join(keys, 'c.key.json'))).toBe(false);
    expect(existsSync(join(keys, 'a.key.json'))).toBe(true);
    // Fixed, with c now asking for EdDSA: served (before: refused, the RSA key file of the failed attempt in the way).
    writeFileSync(join(folder, 'b.json'), JSON.stringify(named('b')));
    writeFileSync(join(folder, 'c.json'), JSON.stringify({ ...named('c'), attributes: { ...(REALM.attributes as object), 'aauth.token.signing.alg': 'EdDSA' } }));
    await expect(server.reload()).resolves.toMatchObject({ realms: ['a', 'b', 'c'] });
  });

  it('a realm file nested thousands deep is refused by name, not with a stack overflow', async () => {
    const folder = mkdtempSync(join(dir, 'deep-'));
    writeFileSync(join(folder, 'a.json'), JSON.stringify(named('a')));
    const server = createTenantAuthServer({ baseUrl: 'http://127.0.0.1:1', realmsDir: folder, signingAlgorithm: 'EdDSA', ...quiet });
    const deep = `{"realm":"d","x":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    writeFileSync(join(folder, 'd.json'), deep);
    await expect(server.reload()).rejects.toMatchObject({ problems: [`${join(folder, 'd.json')}: is nested too deeply to be a realm export`] });
    expect(server.realms()).toEqual(['a']);
  });
});
