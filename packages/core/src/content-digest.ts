import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { AAuthError } from './errors.js';
import { hashOnce } from './lib/hash.js';

type ParseDictionary = (typeof import('structured-headers'))['parseDictionary'];
let parseDictionaryFn: ParseDictionary | undefined;
/**
 * structured-headers' dictionary parser (its CommonJS build, one file, which http-message-signatures
 * shares), loaded on the first Content-Digest checked: a resource's start does not load it (issue 18:
 * cold start), and requests without a body never need it.
 */
function parseDictionary(header: string): ReturnType<ParseDictionary> {
  parseDictionaryFn ??= (createRequire(import.meta.url)('structured-headers') as typeof import('structured-headers')).parseDictionary;
  return parseDictionaryFn(header);
}

/** Digest algorithms of RFC 9530 that the kit creates and checks. */
export type DigestAlgorithm = 'sha-256' | 'sha-512';

const NODE_ALG: Record<DigestAlgorithm, 'sha256' | 'sha512'> = { 'sha-256': 'sha256', 'sha-512': 'sha512' };
/** A Content-Digest carries a few short hashes; anything near this size is hostile. */
const MAX_DIGEST_HEADER = 8 * 1024;

/** One `sha-256` or `sha-512` member holding a standard base64 byte sequence, nothing around it. */
const CANONICAL_DIGEST = /^(sha-256|sha-512)=:([A-Za-z0-9+/]+={0,2}):$/;

/** The body as bytes: strings are UTF-8. */
export function bodyBytes(body: string | Uint8Array): Uint8Array {
  return typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
}

/** `Content-Digest` value for a body (RFC 9530 section 2): `sha-256=:<base64>:` by default. */
export function createContentDigest(body: string | Uint8Array, algorithm: DigestAlgorithm = 'sha-256'): string {
  if (algorithm !== 'sha-256' && algorithm !== 'sha-512') throw new TypeError("algorithm must be 'sha-256' or 'sha-512'");
  const digest = hashOnce(NODE_ALG[algorithm], bodyBytes(body), 'base64');
  return `${algorithm}=:${digest}:`;
}

/**
 * Check a `Content-Digest` header against the received body. Every supported algorithm present
 * must match, and at least one must be present (unknown algorithms are ignored, RFC 9530 section 2).
 * Throws `digest_malformed` or `digest_mismatch`.
 */
export function verifyContentDigest(header: string, body: string | Uint8Array): void {
  if (typeof header !== 'string') throw new AAuthError('digest_malformed', 'Content-Digest must be a string');
  if (header.length > MAX_DIGEST_HEADER) throw new AAuthError('header_too_large', `Content-Digest is larger than ${MAX_DIGEST_HEADER} bytes`);
  // Fast path (issue 18): one member in the form signers emit, `sha-256=:<base64>:`, whose text is
  // exactly the canonical base64 of the body's digest, is a match. Anything else (another form, or
  // a value that differs in any way) goes to the general parse below, which decides and names it.
  const fast = CANONICAL_DIGEST.exec(header);
  if (fast !== null && fast[2] === hashOnce(NODE_ALG[fast[1] as DigestAlgorithm], bodyBytes(body), 'base64')) return;
  let dict: ReturnType<typeof parseDictionary>;
  try {
    dict = parseDictionary(header);
  } catch (error) {
    throw new AAuthError('digest_malformed', `Content-Digest is not a structured dictionary: ${(error as Error).message}`);
  }
  const bytes = bodyBytes(body);
  let checked = 0;
  for (const [name, member] of dict) {
    if (name !== 'sha-256' && name !== 'sha-512') continue;
    const value = member[0];
    if (!(value instanceof ArrayBuffer)) {
      throw new AAuthError('digest_malformed', `Content-Digest ${name} must be a byte sequence`);
    }
    const expected = createHash(NODE_ALG[name]).update(bytes).digest();
    const got = Buffer.from(value);
    if (got.length !== expected.length || !got.equals(expected)) {
      throw new AAuthError('digest_mismatch', `Content-Digest ${name} does not match the received body`);
    }
    checked++;
  }
  if (checked === 0) throw new AAuthError('digest_malformed', 'Content-Digest has no sha-256 or sha-512 member');
}
