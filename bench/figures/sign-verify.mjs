// Figures 1 (core part), 3 and 4: signing and verifying one request through the kit, raw
// node:crypto on the same signature base, and two peer libraries on the same request.
import { createPublicKey, sign as nodeSign, verify as nodeVerify } from 'node:crypto';
import * as noble from '@noble/ed25519';
import { httpbis } from 'http-message-signatures';
import * as hello from '@hellocoop/httpsig';
import { generateKey, importPublicKey, signRequest } from '@aauth-kit/core';
import { parseSignedRequest, verifySignedRequest } from '@aauth-kit/core/internal';
import { rawSigners } from '../lib/ed25519.mjs';
import { compare } from '../lib/measure.mjs';

const URL_ = 'http://localhost:3001/analyze?region=eu';
const BODY = JSON.stringify({ sku: 'A-100', quantity: 12, horizonDays: 30 });

export function fixture() {
  const key = generateKey({ kid: 'bench-1' });
  const request = { method: 'POST', url: URL_, headers: { 'content-type': 'application/json' }, body: BODY };
  const signatureKey = { scheme: 'jwks_uri', id: 'http://localhost:3000', kid: key.kid };
  const signed = signRequest(request, { key, signatureKey });
  const sentHeaders = { ...request.headers, ...signed.headers };
  return { key, request, signatureKey, signed, sentHeaders, base: Buffer.from(signed.signatureBase) };
}

/** Figure 3: signing. */
export async function signFigure({ iterations, rounds }) {
  const { key, request, signatureKey, base } = fixture();
  const raw = rawSigners(key.toPrivateJwk(), base);
  return compare({
    iterations,
    rounds,
    baseline: raw.limit,
    subjects: {
      ...(raw.node !== raw.limit ? { 'raw node:crypto sign of the same base': raw.node } : {}),
      'core signRequest': () => signRequest(request, { key, signatureKey }),
    },
  });
}

/** Figure 1 (core layer): verify with a known key, vs raw verifies of the same base. */
export async function verifyCoreFigure({ iterations, rounds }) {
  const { key, request, signed, sentHeaders, base } = fixture();
  const pub = importPublicKey(key.jwk);
  const sig = Buffer.from(signed.headers.signature.slice(5, -1), 'base64');
  const req = { ...request, headers: sentHeaders };
  const now = () => Date.now() / 1000;
  return compare({
    iterations,
    rounds,
    baseline: () => {
      if (!nodeVerify(null, base, pub.keyObject ?? key.privateKeyObject, sig)) throw new Error('baseline verify failed');
    },
    subjects: {
      'core parseSignedRequest + verifySignedRequest': () => verifySignedRequest(parseSignedRequest(req, { now }), pub),
    },
  });
}

let nobleReady = false;
async function nobleSetup() {
  if (nobleReady) return;
  const { createHash } = await import('node:crypto');
  noble.hashes.sha512 = (m) => new Uint8Array(createHash('sha512').update(m).digest());
  nobleReady = true;
}

/** Figure 4: peers on the same request. Our speed-up = our ops/s over theirs. */
export async function peersFigure({ iterations, rounds }) {
  await nobleSetup();
  // No query here: @hellocoop/httpsig 2.2.0 derives @query without its leading "?" (RFC 9421
  // section 2.2.7 includes it), so a query would make the two disagree on the signature base.
  const { key, request: withQuery, signatureKey } = fixture();
  const request = { ...withQuery, url: withQuery.url.split('?')[0] };
  const jwk = { ...key.toPrivateJwk(), alg: 'Ed25519' };
  const seed = Buffer.from(jwk.d, 'base64url');
  const pubRaw = Buffer.from(key.jwk.x, 'base64url');
  const hwk = { scheme: 'hwk', jwk: key.jwk };
  const url = new URL(request.url);

  // (a) http-message-signatures with @noble/ed25519, the obvious way: signMessage/verifyMessage.
  const hmsKey = { id: key.kid, alg: 'ed25519', sign: async (data) => Buffer.from(await noble.signAsync(data, seed)) };
  const hmsFields = ['@method', '@authority', '@path', 'content-type', 'content-digest'];
  const hmsSign = () =>
    httpbis.signMessage(
      { key: hmsKey, fields: hmsFields, params: ['created', 'keyid'] },
      { method: request.method, url: request.url, headers: { ...request.headers, 'content-digest': 'sha-256=:x:' } },
    );
  const hmsSigned = await hmsSign();
  // (a') the same library given a node:crypto key: what it costs apart from its crypto backend.
  const pubObject = createPublicKey({ key: key.jwk, format: 'jwk' });
  const hmsNodeKey = { id: key.kid, alg: 'ed25519', sign: async (data) => nodeSign(null, data, key.privateKeyObject) };
  const hmsNodeSign = () =>
    httpbis.signMessage(
      { key: hmsNodeKey, fields: hmsFields, params: ['created', 'keyid'] },
      { method: request.method, url: request.url, headers: { ...request.headers, 'content-digest': 'sha-256=:x:' } },
    );
  const hmsNodeSigned = await hmsNodeSign();
  const hmsNodeVerify = async () => {
    const ok = await httpbis.verifyMessage(
      { keyLookup: async () => ({ id: key.kid, algs: ['ed25519'], verify: async (d, s) => nodeVerify(null, d, pubObject, s) }) },
      hmsNodeSigned,
    );
    if (!ok) throw new Error('http-message-signatures (node:crypto key) verify failed');
  };
  await hmsNodeVerify();
  const hmsVerify = async () => {
    const ok = await httpbis.verifyMessage(
      { keyLookup: async () => ({ id: key.kid, algs: ['ed25519'], verify: async (d, s) => noble.verifyAsync(s, d, pubRaw) }) },
      hmsSigned,
    );
    if (!ok) throw new Error('http-message-signatures verify failed');
  };

  // (b) @hellocoop/httpsig: sign with fetch dryRun, verify with verify() (hwk).
  const helloSign = () =>
    hello.fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signingKey: jwk,
      signatureKey: { type: 'hwk' },
      components: ['@method', '@authority', '@path', 'content-type', 'content-digest', 'signature-key'],
      dryRun: true,
    });
  const helloSigned = await helloSign();
  // The rounds outlast the 60 s freshness window: every verifier here is given the signing time as
  // its clock (the kit) or a wide skew (hellocoop), so all of them do the same work on every round.
  const signedAt = Math.floor(Date.now() / 1000);
  const helloHeaders = Object.fromEntries(helloSigned.headers.entries());
  const helloVerify = async () => {
    const r = await hello.verify({
      method: request.method,
      authority: url.host,
      path: url.pathname,
      query: url.search.slice(1),
      headers: helloHeaders,
      body: request.body,
    }, { maxClockSkew: 86400 });
    if (!r.verified) throw new Error(`hellocoop verify failed: ${r.error}`);
  };
  // The kit verifying the very same hellocoop-signed request (dictionary-form Signature-Key).
  const kitReq = { ...request, headers: helloHeaders };
  const now = () => signedAt;
  const kitVerifySame = () => {
    const parsed = parseSignedRequest(kitReq, { now });
    verifySignedRequest(parsed, importPublicKey(parsed.signatureKey.jwk));
  };
  kitVerifySame();
  const ownSigned = signRequest(request, { key, signatureKey: hwk });
  const ownReq = { ...request, headers: { ...request.headers, ...ownSigned.headers } };
  const kitVerifyOwn = () => {
    const parsed = parseSignedRequest(ownReq, { now });
    verifySignedRequest(parsed, importPublicKey(parsed.signatureKey.jwk));
  };

  const sign = await compare({
    iterations,
    rounds,
    baseline: () => signRequest(request, { key, signatureKey }),
    subjects: {
      'http-message-signatures + @noble/ed25519': hmsSign,
      'http-message-signatures + node:crypto key': hmsNodeSign,
      '@hellocoop/httpsig': helloSign,
    },
  });
  const verify = await compare({
    iterations,
    rounds,
    baseline: kitVerifySame,
    subjects: {
      'http-message-signatures + @noble/ed25519': hmsVerify,
      'http-message-signatures + node:crypto key': hmsNodeVerify,
      '@hellocoop/httpsig (same request)': helloVerify,
      'aauth-kit, own hwk-signed request': kitVerifyOwn,
    },
  });
  return { sign, verify };
}
