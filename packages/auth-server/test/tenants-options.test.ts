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
