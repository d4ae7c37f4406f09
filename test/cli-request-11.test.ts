import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAgentProvider, type AgentProvider } from '@aauth-kit/agent';
import { generateKey, saveKeyFile } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import express, { type Request as ExpressRequest, type Response as ExpressResponse } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../packages/cli/src/run.js';
import { decideOverHttp, startAuthServer, type TestAuthServer } from './fixtures/auth-server.js';
import { listen } from './fixtures/http.js';

// Issue 16 (helper E): `aauth request --agent-token` speaks AAuth -11 through the kit's agent
// (`createAgent({ draft11: { agentToken } })`): signed under sig=jwt with an agent token from an
// external agent provider, person and auth tokens from the embedded auth server's -11 person
// server, the person approving on the consent page. In-process (the command's `run`), loopback HTTP.

const open: Array<{ close(): Promise<void> }> = [];
let as: TestAuthServer;
let ps: string;
let provider: AgentProvider;
let site: string;
let dir: string;
const key = generateKey({ kid: 'cli-11' });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-cli-11-'));
  saveKeyFile(join(dir, 'agent.jwk'), key);
  as = await startAuthServer({ draft11: { allowLoopback: true } });
  open.push(as);
  ps = as.server.personServer!;
  const apApp = express();
  const ap = await listen(apApp);
  open.push(ap);
  provider = createAgentProvider({ issuer: ap.origin, key: generateKey({ kid: 'cli-ap' }), allowLoopback: true });
  apApp.use(provider.wellKnown() as express.RequestHandler);
  const app = express();
  const listening = await listen(app);
  open.push(listening);
  const resource = createResource({
    identity: listening.origin,
    key: generateKey({ kid: 'cli-resource' }),
    generations: ['draft-11'],
    scopes: { 'data.read': 'Read market data' },
    draft11: { allowLoopback: true, personServers: [ps] },
  });
  app.use(resource.wellKnown());
  app.get('/data', resource.require({ scope: 'data.read' }), (req: ExpressRequest, res: ExpressResponse) => res.json(req.aauth));
  site = listening.origin;
});

afterAll(async () => {
  await Promise.all(open.splice(0).map((o) => o.close()));
  rmSync(dir, { recursive: true, force: true });
});

/** Run `aauth ...` in-process; when it asks for the person, approve on the page as mcp-user. */
async function aauth(args: string[]): Promise<{ code: number; stdout: string; stderr: string; approvals: number }> {
  let stdout = '';
  let stderr = '';
  const approvals: Promise<Response>[] = [];
  const code = await run(args, {
    stdout: (t) => (stdout += t),
    stderr: (t) => {
      stderr += t;
      const url = /a user must approve this request: open (\S+)/.exec(t)?.[1];
      if (url !== undefined) approvals.push(decideOverHttp(as.interactionEndpoint, new URL(url).searchParams.get('code')!, 'approve'));
    },
    readStdin: async () => '',
  });
  for (const answer of await Promise.all(approvals)) expect(answer.status).toBe(200);
  return { code, stdout, stderr, approvals: approvals.length };
}

describe('aauth request --agent-token (AAuth -11)', () => {
  it('gets a person token and an auth token from the person server named by the token\'s ps; the person approves once', { timeout: 60_000 }, async () => {
    const agentToken = await provider.mintAgentToken({ local: 'cli', agentKey: key, ps });
    const first = await aauth(['request', `${site}/data`, '--key', join(dir, 'agent.jwk'), '--agent-token', agentToken, '--allow-loopback', '-v']);
    expect([first.code, first.approvals]).toEqual([0, 1]);
    const seen = JSON.parse(first.stdout) as Record<string, unknown>;
    // The resource accepted a -11 auth token of this person server, bound to the CLI's key.
    expect(seen).toMatchObject({ scheme: 'jwt', generation: 'draft-11', thumbprint: key.thumbprint, scope: ['data.read'], accessMode: 'auth-token', ps });
    expect(seen.token).toMatchObject({ kind: 'auth', issuer: ps, scope: ['data.read'] });
    // -v shows the hops: signed under jwt, the person-token and auth-token challenges of the resource.
    expect(first.stderr).toMatch(/"scheme":"jwt"/);
    // The token from a file, and the approval remembered by the person server: no second interaction.
    const file = join(dir, 'agent-token.jwt');
    writeFileSync(file, `${agentToken}\n`);
    const again = await aauth(['request', `${site}/data`, '--key', join(dir, 'agent.jwk'), '--agent-token', `@${file}`, '--ps', ps, '--allow-loopback']);
    expect([again.code, again.approvals, JSON.parse(again.stdout).scope]).toEqual([0, 0, ['data.read']]);
  });

  it('Ctrl-C while the person has not answered: exit 130, and the request is withdrawn at the person server (the page says so)', { timeout: 60_000 }, async () => {
    const otherKey = generateKey({ kid: 'cli-11-ctrl-c' });
    saveKeyFile(join(dir, 'ctrl-c.jwk'), otherKey);
    const agentToken = await provider.mintAgentToken({ local: 'cli-interrupted', agentKey: otherKey, ps });
    let interrupt: (() => void) | undefined;
    let code: string | undefined;
    let stderr = '';
    const exit = await run(['request', `${site}/data`, '--key', join(dir, 'ctrl-c.jwk'), '--agent-token', agentToken, '--allow-loopback'], {
      stdout: () => undefined,
      stderr: (t) => {
        stderr += t;
        const url = /a user must approve this request: open (\S+)/.exec(t)?.[1];
        if (url !== undefined) {
          code = new URL(url).searchParams.get('code')!;
          // The user presses Ctrl-C instead of approving.
          setTimeout(() => interrupt?.(), 50);
        }
      },
      readStdin: async () => '',
      onInterrupt: (handler) => {
        interrupt = handler;
        return () => (interrupt = undefined);
      },
    });
    expect(exit).toBe(130);
    expect(stderr).toContain('* interrupted: the request waiting for the person was withdrawn at the person server');
    const page = await fetch(`${as.interactionEndpoint}?${new URLSearchParams({ code: code! })}`);
    expect(page.status).toBe(410);
    expect(await page.text()).toContain('The agent withdrew this request');
    expect(interrupt).toBeUndefined();
  });

  it.each([
    [['--ps', 'https://ps.example'], 'aauth request: --ps and --allow-loopback are AAuth -11 settings: give them with --agent-token'],
    [['--allow-loopback'], 'aauth request: --ps and --allow-loopback are AAuth -11 settings: give them with --agent-token'],
    [['--agent-token', 'not-a-jwt'], 'aauth request: --agent-token must be a JWT (an aa-agent+jwt from your agent provider), or @FILE holding one'],
  ])('refuses %j with exit code 2', async (extra, message) => {
    const answer = await aauth(['request', `${site}/data`, '--key', join(dir, 'agent.jwk'), ...extra]);
    expect([answer.code, answer.stderr]).toEqual([2, `${message}\n`]);
  });

  it('request --help and auth-server --help document the -11 flags', async () => {
    const help = await aauth(['request', '--help']);
    expect(help.code).toBe(0);
    for (const flag of ['--agent-token T', '--ps URL', '--allow-loopback']) expect(help.stdout).toContain(flag);
    const server = await aauth(['auth-server', '--help']);
    expect(server.code).toBe(0);
    for (const flag of ['--person-server', '--access-server', '--allow-loopback', '--person-key-file FILE', '--access-key-file FILE']) expect(server.stdout).toContain(flag);
  });
});

describe('aauth request --agent-token: a clarification asked of the agent', () => {
  /** A resource that asks one question (202 requirement=clarification), then answers the poll with the answer it got. */
  async function askingResource(): Promise<string> {
    let answer: unknown;
    const l = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.url === '/ask') {
          return void res.writeHead(202, { Location: '/p', 'Retry-After': '0', 'AAuth-Requirement': 'requirement=clarification', 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'pending', clarification: 'Which size?', options: ['S', 'L'] }));
        }
        if (req.url === '/p' && req.method === 'POST') {
          answer = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { clarification_response: unknown }).clarification_response;
          return void res.writeHead(204).end();
        }
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ answer }));
      });
    });
    open.push(l);
    return l.origin;
  }

  it('at a terminal: the question (and its options) on stderr, the line typed is the answer; without a terminal the request ends naming why', { timeout: 60_000 }, async () => {
    const origin = await askingResource();
    const agentToken = await provider.mintAgentToken({ local: 'cli-asked', agentKey: key, ps });
    const args = ['request', `${origin}/ask`, '--key', join(dir, 'agent.jwk'), '--agent-token', agentToken, '--allow-loopback'];
    let stdout = '';
    let stderr = '';
    const prompts: string[] = [];
    const code = await run(args, {
      stdout: (t) => (stdout += t),
      stderr: (t) => (stderr += t),
      readStdin: async () => '',
      readLine: async (prompt) => (prompts.push(prompt), 'L, please'),
    });
    expect([code, JSON.parse(stdout)]).toEqual([0, { answer: 'L, please' }]);
    expect(stderr).toContain(`* ${origin} asks: Which size?\n*   options: S | L\n`);
    expect(prompts).toEqual(['* your answer (one line, Enter to send): ']);

    // No terminal (stdin piped): no handler, the request ends with the reason.
    let piped = '';
    const refused = await run(args, { stdout: () => undefined, stderr: (t) => (piped += t), readStdin: async () => '' });
    expect(refused).not.toBe(0);
    expect(piped).toMatch(/answers none \(no onClarification\)/);
    // An empty line is no answer: the request ends too.
    let empty = '';
    const none = await run(args, { stdout: () => undefined, stderr: (t) => (empty += t), readStdin: async () => '', readLine: async () => '  ' });
    expect(none).not.toBe(0);
    expect(empty).toMatch(/no answer was given at the terminal/);
  });

  it('the built command under a real terminal (a pty from script(1), Debian bsdutils): the prompt, the line typed, the answer sent', { timeout: 60_000 }, async () => {
    const origin = await askingResource();
    const agentToken = await provider.mintAgentToken({ local: 'cli-tty', agentKey: key, ps });
    const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));
    const command = [process.execPath, bin, 'request', `${origin}/ask`, '--key', join(dir, 'agent.jwk'), '--agent-token', agentToken, '--allow-loopback'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString('utf8');
      if (out.includes('your answer (one line') && !out.includes('typed')) {
        out += '[typed]';
        child.stdin.write('M, thanks\r');
      }
    });
    expect(await exited).toBe(0);
    expect(out).toContain(`${origin} asks: Which size?`);
    expect(out).toMatch(/\{"answer":"M, thanks"\}/);
  });
});
