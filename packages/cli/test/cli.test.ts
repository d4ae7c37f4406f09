import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeThumbprint, generateKey, mintResourceToken, signJwt } from '@aauth-kit/core';

// The built binary, run as a user runs it (`npm test` builds before testing).
const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const realmFile = fileURLToPath(new URL('../../../keycloak-realm/aauth-test-realm.json', import.meta.url));

function aauth(args: string[], input?: string) {
  return spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 30_000, ...(input === undefined ? {} : { input }) });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('aauth (no command, help, unknown)', () => {
  it('without a command prints usage and exits 2', () => {
    const r = aauth([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('Usage: aauth <command>');
  });
  it('--help lists the commands', () => {
    const r = aauth(['--help']);
    expect(r.status).toBe(0);
    for (const c of ['keygen', 'decode', 'request', 'auth-server']) expect(r.stdout).toContain(c);
  });
  it('an unknown command exits 2 with one line', () => {
    const r = aauth(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
  for (const c of ['keygen', 'decode', 'request', 'auth-server']) {
    it(`${c} --help prints its usage`, () => {
      const r = aauth([c, '--help']);
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`Usage: aauth ${c}`);
    });
    it(`${c} with an unknown option exits 2 with a one-line reason`, () => {
      const r = aauth([c, '--bogus-option']);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toBe(`aauth ${c}: unknown option --bogus-option (aauth ${c} --help lists the options)\n`);
    });
  }
  it('a single-valued option given twice exits 2 naming it; a repeatable one (-H) is taken each time', () => {
    const twice = aauth(['keygen', '--kid', 'a', '--kid', 'b']);
    expect(twice.status).toBe(2);
    expect(twice.stderr).toBe('aauth keygen: --kid was given 2 times: give it once (aauth keygen --help lists the options)\n');
    expect(aauth(['request', '--identity', 'https://a.example', '--identity=https://b.example', 'https://r.example']).stderr).toMatch(/^aauth request: --identity was given 2 times: give it once/);
    expect(aauth(['request', '-H', 'a: 1', '-H', 'b: 2', '--help']).status).toBe(0);
  });

  it('an option misspelt names the one meant; a value missing says which option', () => {
    expect(aauth(['keygen', '--ot', 'x']).stderr).toBe('aauth keygen: unknown option --ot (did you mean --out?) (aauth keygen --help lists the options)\n');
    expect(aauth(['request', '--identiy', 'x']).stderr).toMatch(/^aauth request: unknown option --identiy \(did you mean --identity\?\)/);
    const missing = aauth(['keygen', '--out']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toBe("aauth keygen: Option '--out <value>' argument missing (aauth keygen --help lists the options)\n");
  });
});

describe('aauth keygen', () => {
  it('writes a private JWK with mode 0600 and prints the public JWK and thumbprint', () => {
    const out = join(dir, 'agent.jwk');
    const r = aauth(['keygen', '--kid', 'sca-1', '--out', out]);
    expect(r.status).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const jwk = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    expect(jwk).toMatchObject({ kty: 'OKP', crv: 'Ed25519', kid: 'sca-1' });
    expect(jwk.d).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const thumbprint = computeThumbprint(jwk);
    expect(r.stdout).toContain(`thumbprint: ${thumbprint}`);
    const pub = JSON.parse(/public JWK: (.*)/.exec(r.stdout)![1]!) as Record<string, string>;
    expect(pub).toEqual({ kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: 'sca-1' });
  });
  it('refuses to overwrite a key file without --force', () => {
    const out = join(dir, 'exists.jwk');
    writeFileSync(out, 'keep me');
    const r = aauth(['keygen', '--out', out]);
    expect(r.status).toBe(2);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(aauth(['keygen', '--out', out, '--force']).status).toBe(0);
  });
  it('without --out prints the private JWK on stdout', () => {
    const r = aauth(['keygen']);
    expect(r.status).toBe(0);
    const jwk = JSON.parse(r.stdout) as Record<string, string>;
    expect(jwk.kid).toBe(computeThumbprint(jwk));
    expect(r.stderr).toContain('thumbprint:');
  });
});

describe('aauth decode', () => {
  it('shows a resource token: kind, claims, times as dates', async () => {
    const key = generateKey({ kid: 'r1' });
    const token = await mintResourceToken(key, { issuer: 'http://localhost:3002', audience: 'http://localhost:8080/realms/aauth-test', agent: 'http://localhost:3001', agentJkt: key.thumbprint, scope: 'market-analysis:analyze', now: () => 1_800_000_000 });
    const r = aauth(['decode', token]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('kind: resource token (typ resource+jwt)');
    expect(r.stdout).toContain('"market-analysis:analyze"');
    expect(r.stdout).toContain(new Date(1_800_000_000 * 1000).toISOString());
  });
  it('shows an auth token with its cnf.jwk thumbprint, from stdin, as JSON', async () => {
    const issuerKey = generateKey();
    const agentKey = generateKey();
    const token = await signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: 'http://localhost:8080/realms/aauth-test', aud: 'http://localhost:3002', sub: 'u1', cnf: { jwk: agentKey.jwk }, iat: 1, exp: 2 });
    const r = aauth(['decode', '--json', '-'], `${token}\n`);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { kind: string; cnf_jkt: string; claims: { sub: string }; times: { exp: string } };
    expect(out.kind).toBe('auth');
    expect(out.cnf_jkt).toBe(agentKey.thumbprint);
    expect(out.claims.sub).toBe('u1');
    expect(out.times.exp).toBe('1970-01-01T00:00:02.000Z');
  });
  it('refuses something that is not a JWT with exit 2', () => {
    const r = aauth(['decode', 'not.a.jwt']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('not a JWT');
  });
});

describe('aauth auth-server: what it prints is what clients configure', () => {
  it('the printed address is the issuer origin, the bound address is only a detail, and warnings name the flags', async () => {
    const child = spawn(process.execPath, [bin, 'auth-server', '--realm', realmFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          if (/configure resources and agents[^\n]*\n/.test(stdout)) resolve();
        });
        child.once('exit', (code) => reject(new Error(`auth-server exited ${code}: ${stderr}`)));
      });
      const [, listening, boundPort, issuer] = /listening on (\S+) \(bound to 127\.0\.0\.1:(\d+)\); issuer (\S+)/.exec(stdout)!;
      expect(listening).toBe(`http://localhost:${boundPort}`);
      expect(issuer).toBe(`${listening}/realms/aauth-test`);
      const metadata = (await (await fetch(`${issuer}/.well-known/aauth-issuer.json`)).json()) as { issuer: string };
      expect(metadata.issuer).toBe(issuer);
      expect(stdout).toContain(`(http://127.0.0.1:${boundPort}/realms/aauth-test would be another issuer and fail discovery; --base-url sets it)`);
      expect(stderr).toContain('warning: no --key-file given');
      expect(stderr).toContain("warning: pending consent requests and seen signatures are kept in this process's memory");
      expect(stderr).not.toMatch(/keyFile|options\.pendingStore|AAUTH_MEMORY_REPLAY_STORE/);
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });

  it('--help documents every flag of the auth server (the one usage text of aauth-auth-server)', () => {
    const r = aauth(['auth-server', '--help']);
    expect(r.status).toBe(0);
    for (const flag of ['--realms DIR', '--key-dir DIR', '--admin-token-file FILE', '--revocation-client ID', '--audit-file FILE', '--redis-url URL', '--redis-prefix P', '--redis-cluster', '--person-server']) {
      expect(r.stdout).toContain(flag);
    }
    expect(r.stdout).not.toContain('aauth-auth-server');
  });

  it('with tenants, SIGHUP reads the realm files again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aauth-cli-tenants-'));
    const realm = JSON.parse(readFileSync(realmFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(join(dir, 'first.json'), JSON.stringify({ ...realm, realm: 'first' }));
    const child = spawn(process.execPath, [bin, 'auth-server', '--realms', dir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const until = (pattern: RegExp): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        const check = (): void => {
          if (pattern.test(stdout)) resolve();
        };
        child.stdout.on('data', (d: Buffer) => {
          stdout += d.toString();
          check();
        });
        child.once('exit', (code) => reject(new Error(`auth-server exited ${code}: ${stdout}`)));
        check();
      });
    try {
      await until(/realms first\n/);
      writeFileSync(join(dir, 'second.json'), JSON.stringify({ ...realm, realm: 'second' }));
      child.kill('SIGHUP');
      await until(/realms reloaded: serving first, second \(added: second;/);
      expect(child.exitCode).toBeNull();
    } finally {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a bad --base-url is refused naming the flag', () => {
    const r = aauth(['auth-server', '--realm', realmFile, '--port', '0', '--base-url', 'http://as.example']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--base-url must use https unless the host is localhost');
  });
});

describe('found by a CLI audit: hostile input, misuse, and what is shown', () => {
  const b64 = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

  it('decode escapes control characters of names and values (a token cannot drive the terminal), and survives any time', () => {
    const jwt = `${b64({ alg: 'none', typ: 'x\u001b[2J' })}.${b64({ exp: 1e20, iat: -1e16, '\u001b]0;pwned\u0007': 'v\u009b31m\u202e' })}.sig`;
    const r = aauth(['decode', jwt]);
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect(r.stdout).toContain('  \\u001b]0;pwned\\u0007: "v\\u009b31m\\u202e"');
    expect(r.stdout).toContain('kind: unknown (typ "x\\u001b[2J")');
    // Before: "aauth: Invalid time value", exit 1.
    expect(r.stdout).toContain('  exp: 100000000000000000000\n');
    const json = aauth(['decode', '--json', jwt]);
    expect(json.status).toBe(0);
    expect(json.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
    expect((JSON.parse(json.stdout) as { claims: Record<string, unknown> }).claims['\u001b]0;pwned\u0007']).toBe('v\u009b31m\u202e');
  });

  it('audit shows a client id with escape sequences as text, and a line with fields of other types instead of crashing', () => {
    const log = join(dir, 'hostile-audit.log');
    writeFileSync(
      log,
      [
        { type: 'revocation.refused', time: 1, decision: 'deny', client: 'evil\u001b]0;PWNED\u0007\u001b[2J' },
        { type: 'token.issued', time: 2, decision: 'allow', chain: 'abc', user: 42, scopesRequested: 'x' },
        { type: 'token.issued', time: 1e20, decision: 'allow' },
      ]
        .map((e) => JSON.stringify(e))
        .join('\n'),
    );
    const r = aauth(['audit', '--file', log, '--all']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(r.stdout).toContain('3 event(s)');
    expect(r.stdout).toMatch(/token\.issued +abc +42 +x/);
    const filtered = aauth(['audit', '--file', log, '--agent', 'abc']);
    expect([filtered.status, filtered.stdout.trim().split('\n').at(-1)]).toEqual([0, '0 event(s)']);
  });

  it('keygen --out: an empty name, a directory, a missing folder and a dangling symbolic link are usage errors naming the flag', () => {
    expect([aauth(['keygen', '--out', '']).status, aauth(['keygen', '--out', '']).stderr]).toEqual([2, 'aauth keygen: --out needs a file name\n']);
    const asDir = aauth(['keygen', '--out', dir, '--force']);
    expect([asDir.status, asDir.stderr]).toEqual([2, `aauth keygen: --out ${dir} is a directory: name a file in it (e.g. ${dir}/agent.jwk)\n`]);
    const missing = aauth(['keygen', '--out', join(dir, 'no', 'such', 'k.jwk')]);
    expect([missing.status, missing.stderr]).toEqual([2, `aauth keygen: --out ${join(dir, 'no', 'such', 'k.jwk')}: cannot write it (its folder does not exist)\n`]);
    const link = join(dir, 'dangling.jwk');
    symlinkSync(join(dir, 'target-not-there.jwk'), link);
    const through = aauth(['keygen', '--out', link]);
    expect([through.status, through.stderr]).toEqual([2, `aauth keygen: ${link} exists (a symbolic link); pass --force to overwrite it\n`]);
    expect(existsSync(join(dir, 'target-not-there.jwk'))).toBe(false);
  });

  it('request and revoke refuse a URL with a password without printing it; request names -d and -X problems', () => {
    const key = join(dir, 'req.jwk');
    aauth(['keygen', '--out', key, '--force']);
    const creds = aauth(['request', 'http://user:secretpw@127.0.0.1:9/x', '--key', key]);
    expect(creds.status).toBe(2);
    expect(`${creds.stdout}${creds.stderr}`).not.toContain('secretpw');
    expect(creds.stderr).toBe('aauth request: the URL must not contain a user name or password (give credentials with -H "Authorization: ...")\n');
    const revoke = aauth(['revoke', '--auth-server', 'http://u:secretpw@127.0.0.1:9/realms/r', '--client-id', 'c', '--client-secret', 's', '--jti', 'j']);
    expect(revoke.status).toBe(2);
    expect(revoke.stderr).not.toContain('secretpw');
    const data = aauth(['request', 'http://127.0.0.1:9/x', '--key', key, '-d', `@${join(dir, 'missing.json')}`]);
    expect([data.status, data.stderr]).toEqual([2, `aauth request: -d @${join(dir, 'missing.json')}: cannot read it (no such file)\n`]);
    expect(aauth(['request', 'http://127.0.0.1:9/x', '--key', key, '-X', 'GET', '-d', 'x']).stderr).toBe('aauth request: -X GET takes no body: drop -d, or use -X POST\n');
    expect(aauth(['request', 'http://127.0.0.1:9/x', '--key', key, '-X', 'CONNECT']).status).toBe(2);
  });

  it('aauth --version prints package.json\'s version; audit refuses a date not on the calendar; revoke --token - refuses an empty stdin', () => {
    const version = (JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string }).version;
    expect([aauth(['--version']).status, aauth(['--version']).stdout]).toEqual([0, `aauth ${version}\n`]);
    const log = join(dir, 'calendar-audit.log');
    writeFileSync(log, '');
    const since = aauth(['audit', '--file', log, '--since', '2024-02-30']);
    expect([since.status, since.stderr]).toEqual([2, 'aauth audit: --since must be an ISO 8601 time, epoch seconds or a duration such as 2h (got "2024-02-30")\n']);
    expect(aauth(['audit', '--file', log, '--since', '2024-02-29']).status).toBe(0);
    const empty = aauth(['revoke', '--auth-server', 'http://127.0.0.2:9/realms/r', '--client-id', 'c', '--client-secret', 's', '--token', '-'], '');
    expect([empty.status, empty.stderr]).toEqual([2, 'aauth revoke: --token -: stdin held no token\n']);
  });

  it('aauth help COMMAND prints that command\'s help', () => {
    const r = aauth(['help', 'keygen']);
    expect([r.status, r.stdout.split('\n')[0]]).toEqual([0, 'Usage: aauth keygen [--kid KID] [--out FILE] [--force]']);
  });

  it('stdin larger than 1 MiB is refused while it is read (before: buffered whole, then a V8 string error)', () => {
    const r = spawnSync(process.execPath, [bin, 'decode', '-'], { input: Buffer.alloc(3 * 1024 * 1024, 0x61), encoding: 'utf8', timeout: 30_000 });
    expect([r.status, r.stderr]).toEqual([2, 'aauth decode: stdin is larger than 1024 KiB: give one token (or secret)\n']);
  });
});

describe('auth-server: what clients send is printed escaped', () => {
  it('an audit line with a C1 control character a client sent (grant_type) shows it as \\u009b, still JSON', async () => {
    const child = spawn(process.execPath, [bin, 'auth-server', '--realm', realmFile, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      const waitFor = async (re: RegExp) => {
        const deadline = Date.now() + 15_000;
        while (!re.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        return re.exec(out);
      };
      const issuer = (await waitFor(/issuer (\S+)/))![1]!;
      await fetch(`${issuer}/protocol/openid-connect/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=x%C2%9By&client_id=c' });
      const line = (await waitFor(/^\{"audit".*grantType.*$/m))![0];
      expect(line).not.toMatch(/[\u0080-\u009f]/);
      expect(line).toContain('"grantType":"x\\u009by"');
      expect(JSON.parse(line).audit.grantType).toBe('x\u009by');
    } finally {
      child.kill('SIGTERM');
    }
  });
});
