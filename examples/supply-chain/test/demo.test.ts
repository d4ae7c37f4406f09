import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { DEFAULT_REALM_FILE, runDemo, type DemoResult } from '../src/run-demo.js';
import { startMarketAnalysis } from '../src/services.js';
import type { Hop } from '../src/trace.js';

const realm = JSON.parse(readFileSync(DEFAULT_REALM_FILE, 'utf8')) as { users: Array<{ id: string; username: string }> };
const user = realm.users.find((u) => u.username === 'mcp-user')!;
const demoJs = fileURLToPath(new URL('../dist/demo.js', import.meta.url));
const aauthJs = fileURLToPath(new URL('../../../packages/cli/dist/bin.js', import.meta.url));

/** One raw HTTP/1.1 request on loopback (fetch would refuse or trim what these tests send). */
function rawRequest(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end('{}');
  });
}

function hops(result: DemoResult): Hop[] {
  return result.entries.filter((e): e is { kind: 'hop' } & Hop => e.kind === 'hop');
}

describe('the supply-chain demo, end to end over loopback', () => {
  it('walks the whole chain: consent, call, challenge, exchange, retry, and MAA sees the user and both agents', async () => {
    const result = await runDemo();
    expect(result.failure).toBeUndefined();
    expect(result.ok).toBe(true);
    const { backend, 'supply-chain-agent': sca, 'market-analysis-agent': maa, 'auth-server': auth } = result.services;
    const h = hops(result);
    const between = (from: string, to: string) => h.filter((x) => x.from === from && x.to === to);

    // Hop by hop, in the order the wire profile describes.
    const backendToSca = between('backend', 'supply-chain-agent');
    expect(backendToSca.map((x) => [x.status, x.scheme])).toEqual([
      [401, 'jwks_uri'],
      [200, 'jwt'],
    ]);
    expect(backendToSca[0]!.challenge?.require).toBe('auth-token');
    expect(backendToSca[0]!.challenge?.authServer).toBe(auth!.identity);
    expect(backendToSca[0]!.challenge?.resourceToken?.claims).toMatchObject({ iss: sca!.identity, agent: backend!.identity, aud: auth!.identity });

    const backendToAuth = between('backend', 'auth-server').filter((x) => x.method !== 'GET' || x.path.includes('/pending/'));
    expect(backendToAuth.map((x) => x.status)).toEqual([202, 200]);
    expect(backendToAuth[0]!.asked).toEqual(['resource_token']);
    expect(backendToAuth[0]!.interaction?.code).toMatch(/^[A-Z0-9]{6,}$/);
    const userToken = backendToAuth[1]!.issued!.claims;
    expect(userToken).toMatchObject({ sub: user.id, agent: backend!.identity, aud: sca!.identity, scope: 'supply-chain:optimize market-analysis:analyze' });

    const scaToMaa = between('supply-chain-agent', 'market-analysis-agent');
    expect(scaToMaa.map((x) => [x.status, x.scheme])).toEqual([
      [401, 'jwks_uri'],
      [200, 'jwt'],
    ]);
    const exchange = between('supply-chain-agent', 'auth-server').find((x) => x.method === 'POST')!;
    expect(exchange.status).toBe(200);
    expect(exchange.asked?.sort()).toEqual(['resource_token', 'upstream_token']);
    // The exchanged token: for MAA, issued to SCA, for the same user, narrowed scope, act chain.
    expect(exchange.issued!.claims).toEqual({
      iss: auth!.identity,
      sub: user.id,
      agent: sca!.identity,
      aud: maa!.identity,
      scope: 'market-analysis:analyze',
      act: { agent: backend!.identity, sub: user.id },
      exp: expect.any(Number),
    });
    expect(scaToMaa[1]!.presented?.claims.aud).toBe(maa!.identity);

    expect(result.maaSaw).toEqual({
      sub: user.id,
      agent: sca!.identity,
      scheme: 'jwt',
      scope: ['market-analysis:analyze'],
      act: { agent: backend!.identity, sub: user.id },
      issuer: auth!.identity,
    });
    const plan = (result.result as { plan: Array<{ sku: string; order: number }> }).plan;
    expect(plan.map((p) => p.sku)).toEqual(['WIDGET-100', 'GADGET-7']);
    expect(result.entries.some((e) => e.kind === 'note' && e.actor.includes('scripted'))).toBe(true);
  });

  it('reports the hop that fails when MAA requires a scope the realm will not grant', async () => {
    const result = await runDemo({ maaScope: 'market-analysis:admin' });
    expect(result.ok).toBe(false);
    const hop = result.failure!.hop!;
    expect(hop.from).toBe('supply-chain-agent');
    expect(hop.to).toBe('auth-server');
    expect(hop.method).toBe('POST');
    expect(hop.status).toBeGreaterThanOrEqual(400);
    expect(hop.status).toBeLessThan(500);
    expect(hop.error?.error).toMatch(/^(invalid_scope|invalid_grant|access_denied)$/);
    expect(result.failure!.reason).toContain('supply-chain-agent → auth-server');
  });
});

describe('npm run demo (the built program, as a user runs it)', () => {
  it('exits 0 with a trace and a success line', () => {
    const run = spawnSync(process.execPath, [demoJs], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('backend → supply-chain-agent: POST /optimize [jwks_uri]');
    expect(run.stdout).toContain('{resource_token, upstream_token}');
    expect(run.stdout).toMatch(/act=\{agent: backend, sub: /);
    expect(run.stdout).toContain('SUCCESS');
  });

  it('--json writes one JSON object per line, ending with the result', () => {
    const run = spawnSync(process.execPath, [demoJs, '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { kind: string; ok?: boolean });
    expect(lines.filter((l) => l.kind === 'hop').length).toBeGreaterThanOrEqual(8);
    expect(lines.at(-1)).toMatchObject({ kind: 'result', ok: true });
  });

  it('--json carries every token whole, and `aauth decode` reads one', () => {
    const run = spawnSync(process.execPath, [demoJs, '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(0);
    const hopsSeen = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Hop & { kind: string })
      .filter((l) => l.kind === 'hop');
    const issued = hopsSeen.map((h) => h.issued).filter((t) => t !== undefined);
    expect(issued.length).toBeGreaterThanOrEqual(2);
    const exchanged = issued.find((t) => t.claims.act !== undefined)!;
    expect(exchanged.raw.split('.')).toHaveLength(3);
    expect(exchanged.token.length).toBeLessThan(exchanged.raw.length);
    const decoded = spawnSync(process.execPath, [aauthJs, 'decode', '--json', exchanged.raw], { encoding: 'utf8', timeout: 20_000 });
    expect(decoded.status).toBe(0);
    expect(decoded.stdout).toContain(String(exchanged.claims.aud));
    expect(decoded.stdout).toContain('market-analysis:analyze');
  });

  it('--tokens prints whole tokens in the text trace; without it the trace says how to get them', () => {
    const whole = spawnSync(process.execPath, [demoJs, '--tokens'], { encoding: 'utf8', timeout: 60_000 });
    expect(whole.status).toBe(0);
    expect(whole.stdout).toMatch(/auth token eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+ /);
    expect(whole.stdout).not.toContain('npm run demo -- --tokens');
    const short = spawnSync(process.execPath, [demoJs], { encoding: 'utf8', timeout: 60_000 });
    expect(short.stdout).not.toMatch(/auth token eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+ /);
    expect(short.stdout).toContain('npm run demo -- --tokens');
  });

  it('fails loudly, naming the hop, when a link is broken', () => {
    const run = spawnSync(process.execPath, [demoJs, '--maa-scope', 'market-analysis:admin'], { encoding: 'utf8', timeout: 60_000 });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/FAILED at hop \d+ \(supply-chain-agent → auth-server POST \/realms\/aauth-test\/protocol\/aauth\/token\)/);
  });

  it('says which port is taken and which variable moves it', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const { port } = blocker.address() as { port: number };
    try {
      const run = spawnSync(process.execPath, [demoJs], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, SCA_PORT: String(port) } });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain(`port ${port} for the supply-chain agent is already in use`);
      expect(run.stderr).toContain('SCA_PORT');
    } finally {
      blocker.close();
    }
  });

  it('refuses a bad option with exit code 2', () => {
    const run = spawnSync(process.execPath, [demoJs, '--nope'], { encoding: 'utf8', timeout: 20_000 });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--nope');
    // And where the list is (before: the bare "Unknown option").
    expect(run.stderr.trim()).toMatch(/\(`npm run demo -- --help` lists the options; through npm, options go after --\)$/);
  });
});

describe('the demo servers and oversized headers', () => {
  it('answer the kit\'s 431 JSON for an oversized Signature-Key, and a JSON 431 past the parser limit, never a reset', async () => {
    const maa = await startMarketAnalysis({ port: 0, host: '127.0.0.1', label: 'market-analysis agent', issuer: 'http://localhost:1/realms/x' });
    try {
      const kit = await rawRequest(`${maa.url}/analyze`, { 'signature-key': `sig=jwt;jwt="${'a'.repeat(20 * 1024)}"` });
      expect(kit.status).toBe(431);
      expect(JSON.parse(kit.body)).toMatchObject({ error: 'invalid_request' });
      expect(kit.body).toMatch(/Signature-Key is larger than/);
      const parser = await rawRequest(`${maa.url}/analyze`, { 'x-big': 'b'.repeat(80 * 1024) });
      expect(parser.status).toBe(431);
      expect(JSON.parse(parser.body)).toMatchObject({ error: 'invalid_request', code: 'header_too_large' });
    } finally {
      await maa.close();
    }
  });
});
