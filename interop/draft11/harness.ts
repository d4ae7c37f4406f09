import { createHash, createPrivateKey, generateKeyPairSync, randomUUID, sign as cryptoSign, type JsonWebKey, type KeyObject } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { verify as httpsigVerify, type VerificationResult } from '@hellocoop/httpsig';
import { listen, type Listening } from '../../test/fixtures/http.js';
import { listenHttps, type LocalTls } from '../fixtures/local-tls.js';

// Glue shared by the -11 interop tests (interop/draft11/*.test.ts): keys and JWTs made with
// node:crypto alone (so a peer never checks the kit against the kit's own minting), a minimal -11
// agent provider, and a Node server that runs @hellocoop/httpsig's verify() on what it receives.

/** A JOSE key pair with the fully specified `alg` -11 requires on every JWK. */
export interface TestKey {
  alg: 'Ed25519' | 'ES256';
  kid: string;
  /** Public members, `alg` and `kid`. */
  publicJwk: JsonWebKey & { kid: string; alg: string };
  /** The same plus the private member(s). */
  privateJwk: JsonWebKey & { kid: string; alg: string };
  /** RFC 7638 SHA-256 thumbprint of the public key, base64url. */
  jkt: string;
  keyObject: KeyObject;
}

/** RFC 7638 thumbprint (SHA-256, base64url) of an OKP or EC public JWK. */
export function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === 'OKP' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x } : { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** A fresh Ed25519 (default) or P-256 key; `kid` defaults to the thumbprint. */
export function newKey(alg: 'Ed25519' | 'ES256' = 'Ed25519', kid?: string): TestKey {
  const { privateKey } =
    alg === 'Ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const full = privateKey.export({ format: 'jwk' });
  const { d: _d, ...pub } = full;
  const jkt = thumbprint(pub);
  const id = kid ?? jkt;
  return {
    alg,
    kid: id,
    publicJwk: { ...pub, alg, kid: id },
    privateJwk: { ...full, alg, kid: id },
    jkt,
    keyObject: createPrivateKey({ key: full, format: 'jwk' }),
  };
}

const b64u = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A compact JWS over `payload` with `key` (EdDSA bytes for Ed25519, raw r||s for ES256). */
export function signJwt(header: Record<string, unknown>, payload: Record<string, unknown>, key: TestKey): string {
  const input = `${b64u({ alg: key.alg, kid: key.kid, ...header })}.${b64u(payload)}`;
  const sig =
    key.alg === 'Ed25519'
      ? cryptoSign(null, Buffer.from(input), key.keyObject)
      : cryptoSign('sha256', Buffer.from(input), { key: key.keyObject, dsaEncoding: 'ieee-p1363' });
  return `${input}.${sig.toString('base64url')}`;
}

/** Header and payload of a compact JWS, unverified. */
export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>,
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

// ---------------------------------------------------------------------------------------------

export interface AgentTokenOptions {
  /** The agent identifier, `aauth:local@domain`. */
  sub: string;
  /** The agent's public key (goes to `cnf.jwk`, `alg` kept). */
  jwk: JsonWebKey;
  ps?: string | undefined;
  lifetime?: number | undefined;
  /** Override any claim or header member (hostile cases). */
  claims?: Record<string, unknown> | undefined;
  header?: Record<string, unknown> | undefined;
}

/** A -11 agent provider of the test's own: metadata, JWKS, and agent tokens it signs. */
export interface TestAgentProvider {
  /** Its identifier: `http://127.0.0.1:<port>` (plain) or `https://<name>` (TLS). */
  issuer: string;
  key: TestKey;
  /** A fresh `aa-agent+jwt` (section 6 of the -11 profile). */
  agentToken(options: AgentTokenOptions): string;
  /** Keys it also publishes (e.g. an agent's own key, for the `jwks_uri` scheme). */
  publish(jwk: JsonWebKey): void;
  /** Paths fetched so far. */
  fetched: string[];
  close(): Promise<void>;
}

/**
 * Start an agent provider serving `/.well-known/aauth-agent.json` (`issuer`, `jwks_uri`, `name`)
 * and `/jwks.json`. Plain HTTP on 127.0.0.1 (issuer `http://127.0.0.1:<port>`, for verifiers with
 * the loopback relaxation and for httpsig, which fetches with the global fetch), or TLS under a
 * loopback name (`{ tls, name, port }`, issuer `https://<name>`, for the Python peers).
 */
export async function startAgentProvider(
  tlsOptions?: { tls: LocalTls; name: string; port: number },
  /** Hostile: the `issuer` its metadata names instead of its own identifier. */
  options: { metadataIssuer?: string | undefined } = {},
): Promise<TestAgentProvider> {
  const key = newKey('Ed25519');
  const published: JsonWebKey[] = [key.publicJwk];
  const fetched: string[] = [];
  let issuer = '';
  const handler: RequestListener = (req, res) => {
    fetched.push(req.url ?? '');
    if (req.url === '/.well-known/aauth-agent.json') {
      sendJson(res, 200, { issuer: options.metadataIssuer ?? issuer, jwks_uri: `${issuer}/jwks.json`, name: 'interop draft11 agent provider' });
    } else if (req.url === '/jwks.json') {
      sendJson(res, 200, { keys: published });
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  };
  let close: () => Promise<void>;
  if (tlsOptions) {
    const server = await listenHttps(handler, tlsOptions.tls, tlsOptions.port);
    issuer = `https://${tlsOptions.name}`;
    close = server.close;
  } else {
    const server: Listening = await listen(handler);
    issuer = server.origin;
    close = server.close;
  }
  return {
    issuer,
    key,
    fetched,
    publish: (jwk) => void published.push(jwk),
    agentToken: (o) => {
      const iat = Math.floor(Date.now() / 1000);
      return signJwt(
        { typ: 'aa-agent+jwt', ...o.header },
        {
          iss: issuer,
          dwk: 'aauth-agent.json',
          sub: o.sub,
          jti: randomUUID(),
          cnf: { jwk: o.jwk },
          ...(o.ps !== undefined ? { ps: o.ps } : {}),
          iat,
          exp: iat + (o.lifetime ?? 3600),
          ...o.claims,
        },
        key,
      );
    },
    close: () => close(),
  };
}

// ---------------------------------------------------------------------------------------------

/** What the httpsig verifier server answers: verify()'s result, trimmed to what tests assert. */
export interface HttpsigVerdict {
  verified: boolean;
  keyType: VerificationResult['keyType'];
  thumbprint: string;
  label: string;
  error?: string | undefined;
  signatureError?: VerificationResult['signatureError'];
  jwt?: { header: Record<string, unknown>; payload: Record<string, unknown> } | undefined;
  jwks_uri?: VerificationResult['jwks_uri'];
  publicKey: JsonWebKey;
  /** The covered components and parameters, as the request's Signature-Input had them. */
  signatureInput: string | undefined;
  signatureKey: string | undefined;
  body: string;
  /**
   * When refused and the request had a query: whether verify() accepts it once given `@query` as
   * RFC 9421 section 2.2.7 defines it (with the leading `?`); httpsig 2.2.0 derives it without.
   */
  verifiedWithRfc9421Query?: boolean | undefined;
}

export interface HttpsigVerifierServer extends Listening {
  /** Every verdict, in order. */
  verdicts: HttpsigVerdict[];
}

/**
 * A loopback server whose every route runs `@hellocoop/httpsig`'s `verify()` on the request as
 * received (raw body bytes, `@authority` from the Host header) with the AAuth -11 algorithms
 * (`Ed25519`, `ES256`) and answers 200 with the verdict when verified, 401 with it otherwise.
 * Under `/mitm/...` it plays a man in the middle first: `/mitm/body` changes one byte of the body,
 * `/mitm/method` presents the method as PUT, `/mitm/path` drops the prefix from the path.
 */
export async function startHttpsigVerifier(): Promise<HttpsigVerifierServer> {
  const verdicts: HttpsigVerdict[] = [];
  const server = await listen((req, res) => {
    void (async () => {
      const raw = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://placeholder');
      let method = req.method ?? 'GET';
      let path = url.pathname;
      let body: Buffer | undefined = raw.length > 0 ? raw : undefined;
      if (path.startsWith('/mitm/body') && body) body = Buffer.concat([body.subarray(0, -1), Buffer.from(body.at(-1) === 0x7d ? ' ' : '}')]);
      if (path.startsWith('/mitm/method')) method = 'PUT';
      if (path.startsWith('/mitm/path')) path = path.slice('/mitm/path'.length) || '/';
      const verifyAs = (query: string | undefined): ReturnType<typeof httpsigVerify> =>
        httpsigVerify(
          {
            method,
            authority: req.headers.host ?? '',
            path,
            ...(query !== undefined ? { query } : {}),
            headers: req.headers as Record<string, string | string[]>,
            ...(body !== undefined ? { body } : {}),
          },
          { supportedAlgorithms: ['Ed25519', 'ES256'] },
        );
      // As its README says to call it: the query without its `?`.
      const result = await verifyAs(url.search ? url.search.slice(1) : undefined);
      const rfcQuery = !result.verified && url.search ? (await verifyAs(url.search)).verified : undefined;
      const verdict: HttpsigVerdict = {
        verified: result.verified,
        keyType: result.keyType,
        thumbprint: result.thumbprint,
        label: result.label,
        error: result.error,
        signatureError: result.signatureError,
        jwt: result.jwt ? { header: result.jwt.header as Record<string, unknown>, payload: result.jwt.payload as Record<string, unknown> } : undefined,
        jwks_uri: result.jwks_uri,
        publicKey: result.publicKey,
        signatureInput: req.headers['signature-input'] as string | undefined,
        signatureKey: req.headers['signature-key'] as string | undefined,
        body: raw.toString('utf8'),
        verifiedWithRfc9421Query: rfcQuery,
      };
      verdicts.push(verdict);
      sendJson(res, result.verified ? 200 : 401, verdict);
    })().catch((err: unknown) => sendJson(res, 500, { error: String(err) }));
  });
  return { ...server, verdicts };
}
