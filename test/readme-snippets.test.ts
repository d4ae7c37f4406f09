import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import type ts from 'typescript';
import { createAgent, createTokenExchanger } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, signRequest } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore, createVerifier } from '@aauth-kit/verifier';
import { createSnippetProgram, diagnosticsOf, snippetLineMapper, snippetSource, type SnippetSource } from './readme/compile.js';
import { extractSnippets, readmeSnippets, type Snippet } from './readme/snippets.js';

// Every ```ts block of README.md, packages/*/README.md and examples/*/README.md is compiled as a
// module of a new project would be (the options `tsc --init` writes: strict,
// exactOptionalPropertyTypes, noUncheckedIndexedAccess, NodeNext, ESM), against the BUILT packages:
// `@aauth-kit/*` resolve through the workspace links to packages/*/dist/*.d.ts, never to the sources.
// A block that is not meant to compile (shell, a fragment) must not be tagged `ts`.

const root = fileURLToPath(new URL('..', import.meta.url));
// Virtual files (never written) in a folder of the repository, so node_modules resolves from here.
const dir = fileURLToPath(new URL('./readme/', import.meta.url));
const snippets = readmeSnippets(root);
const sources = new Map<Snippet, SnippetSource>(snippets.map((s) => [s, snippetSource(dir, s)]));

/** Representative options passed `undefined` explicitly, as `exactOptionalPropertyTypes` code does. */
const EXPLICIT_UNDEFINED = {
  fileName: `${dir}explicit-undefined.ts`,
  text: `
import express from 'express';
import { createAgent, createTokenExchanger, exchangeToken, type AgentRequestInit } from '@aauth-kit/agent';
import { createAuthServer } from '@aauth-kit/auth-server';
import { generateKey, signRequest, verifyToken, mintResourceToken } from '@aauth-kit/core';
import { createResource } from '@aauth-kit/express';
import { createMemoryReplayStore, createVerifier } from '@aauth-kit/verifier';

declare const maybe: string | undefined;
declare const req: express.Request;
const key = generateKey({ kid: maybe });
const agent = createAgent({
  key, identity: maybe, authServer: maybe, trustedAuthServers: undefined, fetch: undefined, now: undefined,
  onInteraction: undefined, interactionCallback: maybe, interactionTimeoutMs: undefined, sleep: undefined,
  tokenCache: undefined, refresh: undefined, signatureEncoding: undefined, signatureKeyForm: undefined, nonce: undefined,
  onEvent: undefined, discovery: { timeoutMs: undefined, maxBytes: undefined }, tokenRequest: undefined,
  maxBodyBytes: undefined, metadata: { name: maybe, logo_uri: undefined, policy_uri: undefined, tos_uri: undefined },
});
const init: AgentRequestInit = { upstreamToken: req.aauth?.token?.raw, authToken: maybe, scope: maybe, signatureScheme: undefined };
await agent.fetch('https://maa.example/analyze', { method: 'POST', upstreamToken: req.aauth?.token?.raw });
await agent.fetch('https://maa.example/analyze', init);
agent.buildSignedRequest({ method: 'GET', url: 'https://maa.example/', headers: undefined, body: undefined }, { scheme: undefined, authToken: maybe });
const resource = createResource({
  identity: 'https://maa.example', key, authServer: { issuer: 'https://as.example', trustedIssuers: undefined }, scopes: undefined,
  additionalSignatureComponents: undefined, maxBodyBytes: undefined, requirementHeader: undefined, errors: undefined,
  onError: undefined, replay: { store: undefined, methods: undefined }, discovery: { timeoutMs: undefined },
});
resource.require({ level: undefined, scope: maybe, requiredComponents: undefined });
createVerifier({ identity: 'https://maa.example', trustedIssuers: undefined, now: undefined, tokenLeeway: undefined, replay: { store: createMemoryReplayStore({ maxEntries: undefined }) } });
createAuthServer({ realm: 'realm.json', baseUrl: 'http://localhost:8080', keyFile: maybe, onAudit: undefined, onWarning: undefined, pendingLifetime: undefined });
createTokenExchanger({
  targets: { crm: { tokenEndpoint: 'https://sso.example/token', clientId: 'sca', auth: { method: 'none' }, audience: maybe, scope: maybe, origins: undefined } },
  subjectTokenProvider: () => maybe, actorTokenProvider: undefined, now: undefined, onEvent: undefined,
});
await exchangeToken({ tokenEndpoint: 'https://sso.example/token', clientId: 'sca', auth: { method: 'none' }, subjectToken: 'x', actorToken: maybe, scope: maybe, timeoutMs: undefined });
signRequest({ method: 'GET', url: 'https://maa.example/', headers: {}, body: undefined }, { key, now: undefined, nonce: undefined, label: maybe });
await verifyToken('x', { kind: 'auth', getKey: () => key.toPublishedJwk(), audience: maybe, leeway: undefined, now: undefined });
await mintResourceToken(key, { issuer: 'https://maa.example', audience: 'https://as.example', agent: 'https://sca.example', agentJkt: 'x', scope: 'a', lifetime: undefined, typ: undefined });
createResource({ identity: 'https://maa.example', key, authServer: maybe });
`,
};

let program: ts.Program;
beforeAll(() => {
  // The blocks are compiled against packages/*/dist: build first (a no-op when up to date).
  const tsc = spawnSync(process.execPath, [fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url)), '-b'], { cwd: root, encoding: 'utf8' });
  if (tsc.status !== 0) throw new Error(`tsc -b failed, so the README blocks cannot be compiled against the built packages:\n${tsc.stdout}${tsc.stderr}`);
  program = createSnippetProgram([...sources.values(), EXPLICIT_UNDEFINED]);
}, 120_000);

describe('README ts blocks compile (strict, exactOptionalPropertyTypes, NodeNext) against the built packages', () => {
  it('finds the blocks of every README that has some', () => {
    const files = new Set(snippets.map((s) => s.file));
    for (const f of ['README.md', 'packages/agent/README.md', 'packages/express/README.md', 'packages/core/README.md', 'packages/discovery/README.md', 'packages/verifier/README.md', 'packages/auth-server/README.md']) {
      expect(files, f).toContain(f);
    }
  });

  it('reads a block, its preamble comment and its line; diagnostics name the README line', () => {
    const md = 'text\n<!-- snippet-preamble: app req -->\n\n```ts\nconst n: number = req.path;\n```\n\n```sh\nls\n```\n';
    const [block, ...rest] = extractSnippets('X.md', md);
    expect(rest).toEqual([]);
    expect(block).toEqual({ file: 'X.md', fenceLine: 4, code: 'const n: number = req.path;', preamble: ['app', 'req'] });
    const source = snippetSource(dir, block!);
    const p = createSnippetProgram([source]);
    expect(diagnosticsOf(p, source.fileName, snippetLineMapper(block!, source))).toEqual([
      "X.md:5:7: TS2322 Type 'string' is not assignable to type 'number'.",
    ]);
    expect(() => snippetSource(dir, { ...block!, preamble: ['nope'] })).toThrow(/unknown snippet-preamble "nope"/);
  });

  it.each(snippets.map((s) => [`${s.file}:${s.fenceLine}`, s] as const))('%s', (_name, snippet) => {
    const source = sources.get(snippet)!;
    const diagnostics = diagnosticsOf(program, source.fileName, snippetLineMapper(snippet, source));
    expect(diagnostics, `\n${diagnostics.join('\n')}\n`).toEqual([]);
  });
});

describe('public option types under exactOptionalPropertyTypes', () => {
  it('take an explicit undefined for every optional option (typed `?: T | undefined`)', () => {
    const diagnostics = diagnosticsOf(program, EXPLICIT_UNDEFINED.fileName, (line) => `explicit-undefined.ts:${line + 1}`);
    expect(diagnostics, `\n${diagnostics.join('\n')}\n`).toEqual([]);
  });

  it('a wrong type is still an error (the check can fail)', () => {
    const bad = {
      fileName: `${dir}explicit-undefined-bad.ts`,
      text: "import { createAgent, generateKey } from './no-such-module.js';\n",
    };
    const p = createSnippetProgram([
      bad,
      { fileName: `${dir}wrong-type.ts`, text: "import { createAgent } from '@aauth-kit/agent';\nimport { generateKey } from '@aauth-kit/core';\ncreateAgent({ key: generateKey(), identity: 42 });\n" },
    ]);
    expect(diagnosticsOf(p, bad.fileName, (l) => String(l + 1)).join('\n')).toMatch(/TS2307/);
    expect(diagnosticsOf(p, `${dir}wrong-type.ts`, (l) => String(l + 1)).join('\n')).toMatch(/^3:.*TS2322/);
  });

  it('at run time an explicit undefined is an absent option, never a TypeError', () => {
    const u = undefined;
    const key = generateKey({ kid: u });
    const agent = createAgent({
      key, identity: 'http://localhost:3000', authServer: u, trustedAuthServers: u, fetch: u, now: u, onInteraction: u,
      interactionCallback: u, interactionTimeoutMs: u, sleep: u, tokenCache: u, refresh: u, signatureEncoding: u,
      signatureKeyForm: u, nonce: u, onEvent: u, discovery: { timeoutMs: u, maxBytes: u }, tokenRequest: u, maxBodyBytes: u,
      metadata: { name: u, logo_uri: u, policy_uri: u, tos_uri: u },
    });
    expect(agent.identity).toBe('http://localhost:3000');
    expect(() => agent.buildSignedRequest({ method: 'GET', url: 'http://localhost:3001/', headers: u, body: u }, { scheme: u, authToken: u })).not.toThrow();
    const resource = createResource({
      identity: 'http://localhost:3001', key, authServer: { issuer: 'http://localhost:8080/realms/aauth-test', trustedIssuers: u },
      scopes: u, additionalSignatureComponents: u, maxBodyBytes: u, requirementHeader: u, errors: u, onError: u,
      replay: { store: createMemoryReplayStore({ maxEntries: u, now: u }), methods: u }, discovery: { timeoutMs: u, allowHttpHosts: u },
    });
    expect(() => resource.require({ level: u, scope: 'a', requiredComponents: u })).not.toThrow();
    expect(() => createVerifier({ identity: 'http://localhost:3001', trustedIssuers: u, now: u, tokenLeeway: u, maxSkew: u, replay: { store: createMemoryReplayStore() } })).not.toThrow();
    expect(() => createAuthServer({ realm: fileURLToPath(new URL('../keycloak-realm/aauth-test-realm.json', import.meta.url)), baseUrl: 'http://localhost:8080', keyFile: u, onAudit: u, onWarning: () => {}, pendingLifetime: u, replay: { store: createMemoryReplayStore() } })).not.toThrow();
    expect(() => createTokenExchanger({
      targets: { crm: { tokenEndpoint: 'https://sso.example/token', clientId: 'sca', auth: { method: 'none' }, audience: u, scope: u, origins: u } },
      subjectTokenProvider: () => 'x', actorTokenProvider: u, now: u, onEvent: u, renewBefore: u,
    })).not.toThrow();
    const headers = signRequest({ method: 'GET', url: 'https://maa.example/', headers: {}, body: u }, { key, now: u, nonce: u, label: u, components: u }).headers;
    expect(Object.keys(headers).sort()).toEqual(['signature', 'signature-input', 'signature-key']);
  });
});
