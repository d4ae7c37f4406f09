// Figure 9: cold start to the first verified answer. Fresh `node` processes (cold-start-child.mjs),
// a resource behind aauth() and a bare express route alternated, each taking one request from here.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { createAgent } from '@aauth-kit/agent';
import { generateKey, saveKeyFile, signRequest } from '@aauth-kit/core';
import { median } from '../lib/measure.mjs';

const CHILD = fileURLToPath(new URL('./cold-start-child.mjs', import.meta.url));
// The resource's identity: the verified URL comes from it, never from Host, so a request signed here
// before the child exists is valid at whatever port the child listens on.
const RESOURCE = 'http://localhost:3002';

/** Send `headers` as a GET /plan to 127.0.0.1:port; resolves { status, body }. */
function send(port, headers) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/plan', method: 'GET', headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.once('error', reject);
    req.end();
  });
}

/** One fresh process in `mode`; resolves its timings (ms since its own process start) and the parent's wall time. */
export function runOnce(mode, args, headers, execArgv = []) {
  return new Promise((resolve, reject) => {
    const spawnedAt = performance.timeOrigin + performance.now();
    const child = spawn(process.execPath, [...execArgv, CHILD, JSON.stringify({ mode, ...args })], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let answered; // the response, once this process has it in hand
    const fail = (error) => {
      child.kill();
      reject(error);
    };
    // A process that never answers must not hang the suite.
    const timer = setTimeout(() => fail(new Error(`cold-start child (${mode}) did not answer within 60 s: ${err.slice(-500)}`)), 60_000);
    child.stderr.on('data', (d) => (err += d));
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      const lines = out.split('\n');
      if (answered === undefined && lines.length > 1) {
        const { port } = JSON.parse(lines[0]);
        answered = send(port, headers).then((r) => ({ ...r, at: performance.timeOrigin + performance.now() }));
        answered.catch(fail);
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`cold-start child (${mode}) exited ${code}: ${err.slice(-2000)}`));
      const line = out.split('\n')[1];
      const times = line ? JSON.parse(line) : undefined;
      if (!times || !answered) return reject(new Error(`cold-start child (${mode}) gave no answer: ${out.slice(0, 500)} ${err.slice(-500)}`));
      // The process may exit before this one has read the whole response: wait for it.
      answered.then((response) => {
        if (response.status !== 200 || times.status !== 200) {
          return reject(new Error(`cold-start child (${mode}) answered ${response.status}: ${response.body.slice(0, 300)} ${err.slice(-500)}`));
        }
        resolve({ wall: { ...spans(times.marks, 0), spawned: response.at - spawnedAt }, cpu: spans(times.marks, 1), body: JSON.parse(response.body), stderr: err });
      }, reject);
    });
  });
}

/** The spans of one process, in ms: wall time ([0] of each mark) or CPU time ([1]). */
const spans = (m, i) => ({
  boot: m.boot[i],
  express: m.expressLoaded[i] - m.boot[i],
  kit: m.kitLoaded[i] - m.expressLoaded[i],
  setup: m.listening[i] - m.kitLoaded[i],
  handoff: m.arrived[i] - m.listening[i],
  answer: m.answered[i] - m.arrived[i],
  total: m.answered[i],
});

/**
 * `runs` fresh processes of each mode, alternated (bare, kit, kit, bare, ...), after one discarded
 * process of each. Returns per-mode { median, min, max } of every span, and the processes' stderr.
 */
export async function coldStartFigure({ runs }) {
  const dir = mkdtempSync(join(tmpdir(), 'aauth-cold-'));
  const agentKey = generateKey({ kid: 'cold-agent' });
  const agentApp = express();
  const agentServer = await new Promise((resolve) => {
    const s = agentApp.listen(0, '127.0.0.1', () => resolve(s));
  });
  const agentIdentity = `http://localhost:${agentServer.address().port}`;
  agentApp.use(createAgent({ identity: agentIdentity, key: agentKey }).wellKnown());
  const keyFile = join(dir, 'resource-key.json');
  saveKeyFile(keyFile, generateKey({ kid: 'cold-resource' }));
  const args = { identity: RESOURCE, keyFile };
  // Signed here, before the process starts: signing is not part of the resource's start. GETs are
  // not replay-checked by default, but each run still gets its own signature (fresh `created`).
  const signed = () =>
    signRequest({ method: 'GET', url: `${RESOURCE}/plan`, headers: {} }, { key: agentKey, signatureKey: { scheme: 'jwks_uri', id: agentIdentity, kid: agentKey.kid } }).headers;
  const samples = { bare: [], kit: [], bareCpu: [], kitCpu: [] };
  const warnings = new Set();
  try {
    for (const mode of ['bare', 'kit']) await runOnce(mode, args, signed()); // warm the OS file cache
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? ['bare', 'kit'] : ['kit', 'bare'];
      for (const mode of order) {
        const r = await runOnce(mode, args, signed());
        if (mode === 'kit' && r.body.agent !== agentIdentity) throw new Error(`cold-start: the kit's answer names agent ${r.body.agent}, not ${agentIdentity}`);
        if (r.stderr.trim()) warnings.add(r.stderr.trim().replace(/\(node:\d+\) /g, ''));
        samples[mode].push(r.wall);
        samples[`${mode}Cpu`].push(r.cpu);
      }
    }
  } finally {
    agentServer.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const summary = (list) =>
    Object.fromEntries(Object.keys(list[0]).map((k) => [k, { median: median(list.map((s) => s[k])), min: Math.min(...list.map((s) => s[k])), max: Math.max(...list.map((s) => s[k])) }]));
  return { runs, bare: summary(samples.bare), kit: summary(samples.kit), bareCpu: summary(samples.bareCpu), kitCpu: summary(samples.kitCpu), warnings: [...warnings] };
}
