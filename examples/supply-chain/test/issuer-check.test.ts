import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issuerProblem } from '../src/issuer-check.js';
import { DEFAULT_REALM_FILE } from '../src/run-demo.js';
import { startAuthServer, type AuthServerService } from '../src/services.js';

const servicesJs = fileURLToPath(new URL('../dist/services-main.js', import.meta.url));

/** A loopback server answering every request with `status` and `body`. */
async function answering(status: number, body: unknown): Promise<{ url: string; server: Server }> {
  const server = createServer((_req, res) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const { server } = await answering(200, {});
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let auth: AuthServerService;
beforeAll(async () => {
  auth = await startAuthServer({ port: 0, host: '127.0.0.1', label: 'auth server', realmFile: DEFAULT_REALM_FILE });
});
afterAll(() => auth.close());

describe('demo:services with AAUTH_ISSUER: the issuer is checked once at start', () => {
  it('a real AAuth issuer (the embedded auth server) has no problem', async () => {
    expect(await issuerProblem(auth.issuer)).toBeUndefined();
  });

  it('says what is wrong with an issuer that is down, not AAuth, another issuer, or mistyped', async () => {
    const port = await closedPort();
    expect(await issuerProblem(`http://127.0.0.1:${port}/realms/aauth-test`)).toMatch(
      new RegExp(`^the auth server http://127\\.0\\.0\\.1:${port}/realms/aauth-test does not answer \\(fetch failed: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\); the services start anyway`),
    );
    const plain = await answering(404, { error: 'not_found' });
    const other = await answering(200, { issuer: 'http://localhost:9999/realms/other' });
    const broken = await answering(500, {});
    try {
      expect(await issuerProblem(`${plain.url}/realms/aauth-test`)).toBe(
        `the auth server ${plain.url}/realms/aauth-test serves no AAuth issuer metadata (/.well-known/aauth-issuer.json 404, /.well-known/aauth-issuer 404): is it Keycloak with the AAuth extension (docker compose builds one), and AAUTH_ISSUER its realm (http://HOST:PORT/realms/REALM)?`,
      );
      expect(await issuerProblem(`${other.url}/realms/aauth-test`)).toBe(
        `the issuer metadata at ${other.url}/realms/aauth-test/.well-known/aauth-issuer.json names "http://localhost:9999/realms/other", not AAUTH_ISSUER ${other.url}/realms/aauth-test: tokens would carry that iss and be refused; set AAUTH_ISSUER to it exactly`,
      );
      expect(await issuerProblem(`${broken.url}/realms/x`)).toMatch(/answered .* with HTTP 500: is AAUTH_ISSUER the realm's issuer/);
    } finally {
      for (const s of [plain, other, broken]) await new Promise((resolve) => s.server.close(resolve));
    }
    expect(await issuerProblem(`${auth.issuer}/`)).toBe(`AAUTH_ISSUER ends with "/": the issuer is compared byte for byte with the tokens' iss, write it without (${auth.issuer})`);
    expect(await issuerProblem('localhost:8080/realms/x')).toMatch(/^AAUTH_ISSUER "localhost:8080\/realms\/x" is not an absolute URL/);
  });

  it('the built command logs the warning and starts the services anyway', async () => {
    const port = await closedPort();
    const child = spawn(process.execPath, [servicesJs], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, AAUTH_ISSUER: `http://127.0.0.1:${port}/realms/aauth-test`, HOST: '127.0.0.1', BACKEND_PORT: '0', SCA_PORT: '0', MAA_PORT: '0', OTEL_EXPORTER_OTLP_ENDPOINT: '' },
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (out += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (out += t));
    try {
      while (!out.includes('POST ') && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      expect(out).toMatch(new RegExp(`using auth server http://127\\.0\\.0\\.1:${port}/realms/aauth-test\\n\\S+ warning: the auth server http://127\\.0\\.0\\.1:${port}/realms/aauth-test does not answer`));
      expect(out).toMatch(/backend: http:\/\/localhost:\d+ \(listening on http:\/\/127\.0\.0\.1:\d+\); POST /);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  }, 30_000);
});
