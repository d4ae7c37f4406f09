// Figures 1, 2 and 7: the verifier's cost per request against the raw signature checks it needs,
// and its memory under many distinct keys.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createPrivateKey, createPublicKey, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { generateKey, signJwt, signRequest } from '@aauth-kit/core';
import { createMemoryReplayStore, createVerifier } from '@aauth-kit/verifier';
import { rawPoolVerifiers, signedPair } from '../lib/ed25519.mjs';
import { compare } from '../lib/measure.mjs';

const RESOURCE = 'http://localhost:3002';
const AGENT = 'http://localhost:3001';
const ISSUER = 'http://localhost:8080/realms/aauth-test';

/** A fetch that serves metadata documents from memory: the figures measure warm caches, not I/O. */
export function documentFetch(docs) {
  return async (input) => {
    const url = typeof input === 'string' ? input : input.url;
    const doc = docs.get(url);
    if (!doc) return new Response('not found', { status: 404 });
    return new Response(JSON.stringify(doc), { status: 200, headers: { 'content-type': 'application/json', 'cache-control': 'max-age=3600' } });
  };
}

function agentDocs(docs, identity, key) {
  docs.set(`${identity}/.well-known/aauth-agent.json`, { agent: identity, jwks_uri: `${identity}/jwks.json` });
  docs.set(`${identity}/jwks.json`, { keys: [key.toPublishedJwk()] });
}

/**
 * Raw Ed25519 verifies of signed requests' bases, taken in turn: { limit, node } (see
 * lib/ed25519.mjs). Given the very requests a subject verifies, the baseline verifies the same
 * distinct signatures, as the verifier does (one signature over and over is faster than distinct ones).
 */
function rawBaseline(key, signedList) {
  return rawPoolVerifiers(key.jwk, signedList.map(signedPair));
}

const GET_POOL = 4096;

/** Figure 1: jwks_uri scheme, warm key cache. */
export async function verifyJwksFigure({ iterations, rounds }) {
  const key = generateKey({ kid: 'sca-1' });
  const docs = new Map();
  agentDocs(docs, AGENT, key);
  // Every signature is made with `created` = T and the verifiers' clock reads T, so rounds that
  // outlast the 60 s freshness window still do the full work on every request.
  const T = Math.floor(Date.now() / 1000);
  const now = () => T;
  const verifier = createVerifier({ identity: RESOURCE, fetch: documentFetch(docs), now, replay: { methods: 'none' } });
  // The default backend is libsodium when sodium-native is installed; the node:crypto backend beside it.
  const nodeVerifier = createVerifier({ identity: RESOURCE, fetch: documentFetch(docs), now, replay: { methods: 'none' }, cryptoBackend: 'node' });
  const replayVerifier = createVerifier({ identity: RESOURCE, fetch: documentFetch(docs), now, replay: { store: createMemoryReplayStore({ now }) } });
  const signatureKey = { scheme: 'jwks_uri', id: AGENT, kid: key.kid };
  const get = { method: 'GET', url: `${RESOURCE}/analysis?sku=A-100`, headers: { accept: 'application/json' } };
  // Every verified GET is a distinct request: its own nonce, so its own Signature-Input and
  // Signature, as independent requests are; no parse or lookup can be served from having seen the
  // same header text before (the Signature-Key, the same for every request of an agent, can).
  // A pool larger than every memo is cycled.
  const getPool = [];
  const getSigned = [];
  for (let i = 0; i < GET_POOL; i++) {
    const s = signRequest(get, { key, signatureKey, created: T, nonce: true });
    getSigned.push(s);
    getPool.push({ ...get, headers: { ...get.headers, ...s.headers } });
  }
  let getCursor = 0;
  const nextGet = () => getPool[getCursor++ % GET_POOL];
  await verifier.verify(nextGet()); // warm the key caches
  await nodeVerifier.verify(nextGet());

  // POSTs are replay-checked, so each verified request needs its own signature: pre-sign a pool
  // per round (signing is not what is measured here).
  const body = JSON.stringify({ sku: 'A-100', quantity: 12 });
  const post = { method: 'POST', url: `${RESOURCE}/analyze`, headers: { 'content-type': 'application/json' }, body };
  let pool = [];
  const refill = () => {
    pool = [];
    for (let i = 0; i < iterations + 1; i++) {
      const s = signRequest(post, { key, signatureKey, created: T });
      pool.push({ ...post, headers: { ...post.headers, ...s.headers } });
    }
  };
  const samplePost = signRequest(post, { key, signatureKey, created: T });
  await replayVerifier.verify({ ...post, headers: { ...post.headers, ...samplePost.headers } });
  // The baseline verifies the pool's own signatures, in turn, as the verifier does.
  const rawGet = rawBaseline(key, getSigned);
  const getCmp = await compare({
    iterations,
    rounds,
    baseline: rawGet.limit,
    subjects: {
      ...(rawGet.node !== rawGet.limit ? { 'raw node:crypto verify of the same requests': rawGet.node } : {}),
      'verifier.verify, GET (jwks_uri, warm cache)': () => verifier.verify(nextGet()),
      "verifier.verify, GET, cryptoBackend: 'node'": () => nodeVerifier.verify(nextGet()),
    },
  });
  // The POST comparison refills its pool before each measured batch.
  let cursor = 0;
  const postSubject = async (i) => {
    if (i === 0 || cursor >= pool.length) {
      refill();
      cursor = 0;
    }
    await replayVerifier.verify(pool[cursor++]);
  };
  const postCmp = await compare({
    iterations,
    rounds,
    // Distinct POSTs like the verified ones (own nonce and signature each), verified in turn.
    baseline: rawBaseline(key, Array.from({ length: GET_POOL }, () => signRequest(post, { key, signatureKey, created: T, nonce: true }))).limit,
    subjects: { 'verifier.verify, POST with body (content-digest, replay store)': postSubject },
  });
  return { getCmp, postCmp };
}

/** Figure 2: jwt scheme, auth token + proof of possession; first sight and repeated token. */
export async function verifyJwtFigure({ iterations, rounds }) {
  const agentKey = generateKey({ kid: 'sca-1' });
  // Generated as DER and re-imported (a KeyObject straight from generateKeyPairSync can deadlock
  // Node 20 when a GC finalises its generation job during an export; see core keys.ts).
  const privateKey = createPrivateKey({ key: generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { format: 'der', type: 'pkcs8' }, publicKeyEncoding: { format: 'der', type: 'spki' } }).privateKey, format: 'der', type: 'pkcs8' });
  const publicKey = createPublicKey(privateKey);
  const issuerJwk = { ...publicKey.export({ format: 'jwk' }), kid: 'realm-1', alg: 'RS256', use: 'sig' };
  const issuerKey = { kid: 'realm-1', jwsAlgorithm: 'RS256', privateKeyObject: privateKey };
  const docs = new Map();
  docs.set(`${ISSUER}/.well-known/aauth-issuer.json`, { issuer: ISSUER, jwks_uri: `${ISSUER}/protocol/aauth/certs`, token_endpoint: `${ISSUER}/protocol/aauth/token` });
  docs.set(`${ISSUER}/protocol/aauth/certs`, { keys: [issuerJwk] });
  // Signatures and tokens are all made at T and the verifier's clock reads T (see figure 1).
  const now = Math.floor(Date.now() / 1000);
  const verifier = createVerifier({ identity: RESOURCE, trustedIssuers: [ISSUER], fetch: documentFetch(docs), now: () => now, replay: { methods: 'none' } });
  const mint = (i) =>
    signJwt(issuerKey, { typ: 'auth+jwt' }, { iss: ISSUER, aud: RESOURCE, agent: AGENT, sub: 'user-1', scope: 'market-analysis:analyze', cnf: { jwk: agentKey.jwk }, iat: now, exp: now + 3600, jti: `t${i}` });
  const get = { method: 'GET', url: `${RESOURCE}/analysis`, headers: {} };
  // Every request has its own nonce (a distinct Signature-Input and Signature, see figure 1).
  const signedWith = (token) => {
    const s = signRequest(get, { key: agentKey, signatureKey: { scheme: 'jwt', jwt: token }, created: now, nonce: true });
    return { req: { ...get, headers: s.headers }, s, token };
  };
  const token0 = await mint(0);
  const repeated = signedWith(token0);
  // The repeated token: the same token on every request, each request signed afresh.
  const repeatedPool = [];
  const repeatedSigned = [];
  for (let i = 0; i < GET_POOL; i++) {
    const one = signedWith(token0);
    repeatedPool.push(one.req);
    repeatedSigned.push(one.s);
  }
  let repeatedCursor = 0;
  await verifier.verify(repeated.req);

  // First sight: a new token on every request (pool pre-minted and pre-signed).
  // (Measured first: the pool of first-sight requests below is large enough to load the heap.)
  const rawRepeated = rawBaseline(agentKey, repeatedSigned);
  const again = await compare({
    iterations,
    rounds,
    baseline: rawRepeated.limit,
    subjects: {
      ...(rawRepeated.node !== rawRepeated.limit ? { 'raw node:crypto Ed25519 verify': rawRepeated.node } : {}),
      'verifier.verify, repeated token (cached until exp)': () => verifier.verify(repeatedPool[repeatedCursor++ % GET_POOL]),
    },
  });
  const firstIterations = Math.max(5, iterations >> 2);
  const pool = [];
  const firstSigned = [];
  for (let i = 1; i <= firstIterations * (rounds + 2) + 64; i++) {
    const one = signedWith(await mint(i));
    pool.push(one.req);
    firstSigned.push(one);
  }
  let cursor = 0;
  const firstSight = () => verifier.verify(pool[cursor++ % pool.length]);

  // Raw cost of the checks a first sight needs: one RS256 JWT signature + one Ed25519 signature,
  // of the pool's own tokens and requests, in turn.
  const jwtPairs = firstSigned.map(({ token }) => {
    const dot = token.lastIndexOf('.');
    return [Buffer.from(token.slice(0, dot)), Buffer.from(token.slice(dot + 1), 'base64url')];
  });
  const ed = rawBaseline(agentKey, firstSigned.map(({ s }) => s)).limit;
  const rsaPub = createPublicKey({ key: issuerJwk, format: 'jwk' });
  let jwtCursor = 0;
  const rawBoth = () => {
    const [jwtInput, jwtSig] = jwtPairs[jwtCursor++ % jwtPairs.length];
    if (!nodeVerify('sha256', jwtInput, rsaPub, jwtSig)) throw new Error('rs256 baseline failed');
    ed();
  };
  const first = await compare({ iterations: firstIterations, rounds, baseline: rawBoth, subjects: { 'verifier.verify, first sight of a token': firstSight } });
  return { first, again };
}

/**
 * The verifier's default cache bounds (@aauth-kit/verifier `maxKeyEntries`, `discovery.maxEntries`),
 * which figure 7 checks its caches against when it runs with the defaults.
 */
export const DEFAULT_CACHE_BOUNDS = { keys: 10_000, documents: 10_000 };

/**
 * Figure 7: memory after many verified requests from many distinct keys. Meant to run in a fresh
 * process started with --expose-gc (see memoryInChild): nothing of the other figures in its heap.
 * The verifier runs with its default cache sizes, as a resource that sets none does; with
 * `cacheSizes: 'working-set'` they are set to the working set instead (every key and document of
 * the run fits), for comparison.
 */
export async function memoryFigure({ requests, keys, replayEntries = 100_000, cacheSizes = 'default' }) {
  const jwksAgents = Math.ceil(keys / 2);
  const explicit = cacheSizes === 'working-set';
  // Every distinct key (jwks_uri keys and inline hwk keys); each jwks_uri agent: its metadata and its JWKS.
  const maxKeyEntries = explicit ? keys : DEFAULT_CACHE_BOUNDS.keys;
  const maxDocs = explicit ? 2 * jwksAgents : DEFAULT_CACHE_BOUNDS.documents;
  const replayStore = createMemoryReplayStore({ maxEntries: replayEntries });
  const docs = new Map();
  const agents = [];
  for (let i = 0; i < keys; i++) {
    const key = generateKey({ kid: `k${i}` });
    const identity = i % 2 === 0 ? `http://localhost:${10000 + i}` : undefined; // half jwks_uri, half hwk
    if (identity) agentDocs(docs, identity, key);
    agents.push({ key, signatureKey: identity ? { scheme: 'jwks_uri', id: identity, kid: key.kid } : { scheme: 'hwk', jwk: key.jwk } });
  }
  // Document fetches counted: when the working set fits the caches, each document is fetched once,
  // during the warm-up, and the run itself fetches nothing.
  let fetches = 0;
  const serve = documentFetch(docs);
  const verifier = createVerifier({
    identity: RESOURCE,
    fetch: (input) => {
      fetches++;
      return serve(input);
    },
    ...(explicit ? { maxKeyEntries, discovery: { maxEntries: maxDocs } } : {}),
    replay: { store: replayStore },
  });
  const body = '{"q":1}';
  const post = { method: 'POST', url: `${RESOURCE}/analyze`, headers: { 'content-type': 'application/json' }, body };
  const run = async (count, offset) => {
    for (let i = 0; i < count; i++) {
      const a = agents[(i + offset) % agents.length];
      const s = signRequest(post, { key: a.key, signatureKey: a.signatureKey });
      await verifier.verify({ ...post, headers: { ...post.headers, ...s.headers } });
    }
  };
  // A settled reading: several full GCs with pauses between them, so that finalizers, weak
  // references and the allocator's returns to the OS have happened before RSS is read.
  const settled = async () => {
    for (let i = 0; i < 4; i++) {
      globalThis.gc?.();
      await new Promise((r) => setTimeout(r, 100));
    }
    globalThis.gc?.();
    return process.memoryUsage();
  };
  const before = await settled();
  // Warm-up: every key seen once (documents fetched, keys cached).
  await run(keys, 0);
  const warm = await settled();
  const warmFetches = fetches;
  const t0 = process.hrtime.bigint();
  let maxKeys = 0;
  let maxDocuments = 0;
  let maxReplay = 0;
  const chunk = 5000;
  for (let done = 0; done < requests; done += chunk) {
    await run(Math.min(chunk, requests - done), done);
    const st = verifier.stats();
    maxKeys = Math.max(maxKeys, st.keys);
    maxDocuments = Math.max(maxDocuments, st.documents);
    maxReplay = Math.max(maxReplay, replayStore.size);
  }
  const perSecond = requests / (Number(process.hrtime.bigint() - t0) / 1e9);
  // Let the last discoveries' 3 s timeout signals expire, so the reading shows what is retained.
  await new Promise((r) => setTimeout(r, 3500));
  const after = await settled();
  return { before, warm, after, perSecond, fetches, runFetches: fetches - warmFetches, cacheSizes, requests, keys, maxKeys, maxDocuments, maxKeyEntries, maxDocs, maxReplay, replayEntries, stats: verifier.stats(), gcExposed: typeof globalThis.gc === 'function' };
}

/** Run figure 7 in a fresh `node --expose-gc` process and return its result. */
export function memoryInChild(args) {
  const child = fileURLToPath(new URL('./memory-child.mjs', import.meta.url));
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--expose-gc', child, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`memory figure child exited ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`memory figure child printed no JSON: ${out.slice(0, 300)} ${err.slice(-500)}`));
      }
    });
  });
}
