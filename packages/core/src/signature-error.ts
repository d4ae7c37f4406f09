/**
 * The response headers of HTTP Signature Keys -09 (sections 4 and 5): `Signature-Error`,
 * `Accept-Signature-Scheme`, `Accept-Signature-Alg`. Pure codecs; draft-11 profile section 4.
 */
import { AAuthError, signatureErrorCode } from './errors.js';
import { SIGNATURE_ERROR_CODES, type SignatureErrorCode } from './lib/signature-error-codes.js';
import { SfvError, Token, isInnerList, parseDictionary, parseList, serializeString } from './lib/sfv.js';

export { SIGNATURE_ERROR_CODES, type SignatureErrorCode };

/** The algorithms a -11 party accepts, in `Accept-Signature-Alg` order (`Ed25519` required, `ES256` should). */
export const ACCEPT_SIGNATURE_ALGS = ['Ed25519', 'ES256'] as const;

/** The one Signature-Key scheme AAuth -11 agents use towards resources and servers. */
export const ACCEPT_SIGNATURE_SCHEMES_11 = ['jwt'] as const;

/** A parsed `Signature-Error` header. */
export interface SignatureError {
  /** The code as sent (may be one this kit does not know: -09 section 9.4 is a registry). */
  error: string;
  /** True when `error` is one of {@link SIGNATURE_ERROR_CODES}. */
  known: boolean;
  /** `invalid_input`: the components the server requires (`required_input`), when sent. */
  requiredInput?: string[];
}

const MAX_HEADER = 8 * 1024;
const TOKEN = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/;

/**
 * Serialize `Signature-Error`: `error=<code>`, plus `required_input=("@method" ...)` for
 * `invalid_input` (-09 section 5.4.5). Throws a `TypeError` for a code that is not a token.
 */
export function serializeSignatureError(options: { error: SignatureErrorCode | string; requiredInput?: readonly string[] | undefined }): string {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  if (typeof options.error !== 'string' || !TOKEN.test(options.error)) {
    throw new TypeError(`options.error ${JSON.stringify(options.error)} is not an RFC 8941 token`);
  }
  let out = `error=${options.error}`;
  if (options.requiredInput !== undefined) {
    if (!Array.isArray(options.requiredInput) || options.requiredInput.length === 0) throw new TypeError('options.requiredInput must be a non-empty array of component names');
    out += `, required_input=(${options.requiredInput.map((c) => serializeString(c)).join(' ')})`;
  }
  return out;
}

/**
 * Parse a `Signature-Error` header (a dictionary whose `error` member is a token; unknown members
 * are ignored, -09 section 5.1). Returns undefined when absent; throws `challenge_malformed` when
 * it is not a dictionary with a token `error`.
 */
export function parseSignatureError(value: string | readonly string[] | undefined | null): SignatureError | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === 'string' ? value : value.join(', ');
  if (text.trim().length === 0) return undefined;
  if (text.length > MAX_HEADER) throw new AAuthError('challenge_malformed', 'Signature-Error is larger than 8 KiB');
  let members;
  try {
    members = parseDictionary(text);
  } catch (error) {
    if (error instanceof SfvError) throw new AAuthError('challenge_malformed', `Signature-Error is malformed: ${error.message}`);
    throw error;
  }
  // RFC 8941 section 3.2: the last value of a repeated key wins.
  const last = (name: string) => [...members].reverse().find((m) => m.key === name)?.value;
  const err = last('error');
  if (err === undefined || isInnerList(err) || !(err.value instanceof Token)) {
    throw new AAuthError('challenge_malformed', 'Signature-Error has no error token');
  }
  const result: SignatureError = { error: err.value.value, known: (SIGNATURE_ERROR_CODES as readonly string[]).includes(err.value.value) };
  const required = last('required_input');
  if (required !== undefined && isInnerList(required)) {
    const names = required.items.map((i) => i.value).filter((v): v is string => typeof v === 'string');
    if (names.length === required.items.length) result.requiredInput = names;
  }
  return result;
}

/**
 * Serialize `Accept-Signature-Scheme` or `Accept-Signature-Alg`: an sf list of tokens
 * (`jwt`, `Ed25519, ES256`). Throws a `TypeError` for an empty list or a value that is not a token.
 */
export function serializeTokenList(values: readonly string[]): string {
  if (!Array.isArray(values) || values.length === 0) throw new TypeError('values must be a non-empty array');
  for (const v of values) if (typeof v !== 'string' || !TOKEN.test(v)) throw new TypeError(`${JSON.stringify(v)} is not an RFC 8941 token`);
  return values.join(', ');
}

/** `Accept-Signature-Scheme` value; default `jwt` (the -11 agent scheme). */
export function buildAcceptSignatureScheme(schemes: readonly string[] = ACCEPT_SIGNATURE_SCHEMES_11): string {
  return serializeTokenList(schemes);
}

/** `Accept-Signature-Alg` value; default `Ed25519, ES256`. */
export function buildAcceptSignatureAlg(algs: readonly string[] = ACCEPT_SIGNATURE_ALGS): string {
  return serializeTokenList(algs);
}

/**
 * Parse `Accept-Signature-Scheme` / `Accept-Signature-Alg`: the tokens of an sf list, members that
 * are not tokens ignored (-09 section 4.9: a client ignores what it does not recognise). Malformed
 * or absent: `[]`. Never throws.
 */
export function parseTokenList(value: string | readonly string[] | undefined | null): string[] {
  if (value === undefined || value === null) return [];
  const text = typeof value === 'string' ? value : value.join(', ');
  if (text.length > MAX_HEADER) return [];
  try {
    return parseList(text)
      .filter((m) => !isInnerList(m) && m.value instanceof Token)
      .map((m) => ((m as { value: Token }).value).value);
  } catch {
    return [];
  }
}

/** Options of {@link signatureErrorHeaders}. */
export interface SignatureErrorHeadersOptions {
  /** Schemes for `Accept-Signature-Scheme` on `unsupported_scheme`; default `['jwt']`. */
  schemes?: readonly string[] | undefined;
  /** Algorithms for `Accept-Signature-Alg` on `unsupported_algorithm`; default `Ed25519, ES256`. */
  algorithms?: readonly string[] | undefined;
  /** Components for `required_input` on `invalid_input`; omitted when undefined. */
  requiredInput?: readonly string[] | undefined;
}

/**
 * The headers of a -11 signature failure (draft-11 profile section 4): `Signature-Error` with the
 * error's -09 code, `Accept-Signature-Scheme` on `unsupported_scheme`, `Accept-Signature-Alg` on
 * `unsupported_algorithm`. `{}` for an error that is not a signature failure (a 403 never carries them).
 */
export function signatureErrorHeaders(error: AAuthError, options: SignatureErrorHeadersOptions = {}): Record<string, string> {
  const code = signatureErrorCode(error);
  if (code === undefined) return {};
  const headers: Record<string, string> = {
    'Signature-Error': serializeSignatureError({ error: code, requiredInput: code === 'invalid_input' ? options.requiredInput : undefined }),
  };
  if (code === 'unsupported_scheme') headers['Accept-Signature-Scheme'] = buildAcceptSignatureScheme(options.schemes);
  if (code === 'unsupported_algorithm') headers['Accept-Signature-Alg'] = buildAcceptSignatureAlg(options.algorithms);
  return headers;
}
