import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// Issue 18 (cold start): a resource's start loads only what its first verified answer needs.
// http-message-signatures (the reference signature base) and structured-headers (a Content-Digest
// not in the one-member form signers emit) load on first use. Checked in a fresh node process on the built packages (`tsc -b` runs before
// the tests), with a resolve hook for ES modules and require.cache for CommonJS; nothing is timed.
const root = fileURLToPath(new URL('..', import.meta.url));

const probe = `
import { createRequire, register } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const resolved = new Set();
port1.on('message', (url) => resolved.add(url));
port1.unref();
register('data:text/javascript,' + encodeURIComponent('let port; export function initialize(d) { port = d.port; } export async function resolve(s, c, n) { const r = await n(s, c); port.postMessage(r.url); return r; }'), { data: { port: port2 }, transferList: [port2] });
const settle = () => new Promise((r) => setTimeout(r, 100));
const loaded = () => [...resolved, ...Object.keys(createRequire(import.meta.url).cache)].filter((u) => u.includes('node_modules'));
const packages = (list) => [...new Set(list.map((u) => u.replace(/\\\\/g, '/').match(/node_modules\\/((?:@[^/]+\\/)?[^/]+)/)[1]))].sort();
await import('express');
await import('@aauth-kit/express');
const internal = await import('@aauth-kit/core/internal');
await settle();
const atStart = packages(loaded());
internal.verifyContentDigest(internal.createContentDigest('{"a":1}'), '{"a":1}');
const afterCanonicalDigest = packages(loaded());
internal.verifyContentDigest(internal.createContentDigest('{"a":1}') + ', ' + internal.createContentDigest('{"a":1}', 'sha-512'), '{"a":1}');
const afterDigest = packages(loaded());
const base = internal.createSignatureBase({ method: 'GET', url: 'https://r.example/x', headers: {} }, ['@method', '@authority'], '("@method" "@authority");created=1');
const afterBase = packages(loaded());
console.log(JSON.stringify({ atStart, afterCanonicalDigest, afterDigest, afterBase, base }));
`;

describe('lazy loading at start (issue 18)', () => {
  it('importing express and @aauth-kit/express loads neither http-message-signatures nor structured-headers; first use does', () => {
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const { atStart, afterCanonicalDigest, afterDigest, afterBase, base } = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, string[] | string>;
    expect(atStart).not.toContain('http-message-signatures');
    expect(atStart).not.toContain('structured-headers');
    expect(atStart).toContain('express'); // the probe sees packages at all
    // The one-member form signers emit is checked without the general parser; any other form loads it.
    expect(afterCanonicalDigest).not.toContain('structured-headers');
    expect(afterDigest).toContain('structured-headers');
    expect(afterDigest).not.toContain('http-message-signatures');
    expect(afterBase).toContain('http-message-signatures');
    expect(base).toBe('"@method": GET\n"@authority": r.example\n"@signature-params": ("@method" "@authority");created=1');
  });

  it("verifying a request whose headers are a plain record (node's, express's) does not load node's fetch (undici)", () => {
    const probe = `
      import { generateKey, signRequest } from '@aauth-kit/core';
      import { createVerifier } from '@aauth-kit/verifier';
      const undici = () => process.moduleLoadList.some((m) => m.includes('undici'));
      const key = generateKey();
      const request = { method: 'GET', url: 'http://localhost:3002/x', headers: { accept: 'application/json' } };
      const signed = signRequest(request, { key, signatureKey: { scheme: 'hwk', jwk: key.jwk } });
      const verifier = createVerifier({ identity: 'http://localhost:3002', replay: { methods: 'none' } });
      const verified = await verifier.verify({ ...request, headers: { ...request.headers, ...signed.headers } });
      const before = undici();
      const again = await verifier.verify({ ...request, headers: new Headers({ ...request.headers, ...signed.headers }) });
      console.log(JSON.stringify({ scheme: verified.scheme, before, after: undici(), again: again.scheme }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
    // A fetch Headers is still accepted (and then loads undici): the probe sees the difference.
    expect(result).toEqual({ scheme: 'hwk', before: false, after: true, again: 'hwk' });
  });
  it('@opentelemetry/api (installed here) loads only once something is registered with it; until then spans are no-ops', () => {
    const probe = `
      import { createRequire } from 'node:module';
      import { createTelemetry } from '@aauth-kit/core/internal';
      const require = createRequire(import.meta.url);
      const apiLoaded = () => Object.keys(require.cache).some((f) => f.replace(/\\\\/g, '/').includes('/@opentelemetry/api/'));
      const telemetry = createTelemetry('@aauth-kit/probe', '0.0.0');
      const before = { value: telemetry.span('x', 'server', {}, (span) => span.recording), live: telemetry.live(), active: telemetry.active().recording, loaded: apiLoaded() };
      const headers = {};
      telemetry.inject(headers);
      before.headers = headers;
      // An application registers an SDK (after the kit started): the next span records.
      const api = require('@opentelemetry/api');
      const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
      const ownLoaded = apiLoaded();
      api.trace.setGlobalTracerProvider(new BasicTracerProvider());
      const after = { value: telemetry.span('x', 'server', {}, (span) => span.recording), live: telemetry.live() };
      console.log(JSON.stringify({ before, ownLoaded, after }));
    `;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout.trim().split('\n').pop()!)).toEqual({
      before: { value: false, live: false, active: false, loaded: false, headers: {} },
      ownLoaded: true, // the probe sees the API in require.cache at all
      after: { value: true, live: true },
    });
  });
});
