import { AAuthError } from './errors.js';
import { showValue } from './lib/show-value.js';
import type { EcPublicJwk, OkpPublicJwk } from './keys.js';
import {
  SfvError,
  Token,
  isInnerList,
  param,
  parseDictionary,
  parseParenthesisedDictionary,
  serializeString,
  type BareItem,
  type Params,
} from './lib/sfv.js';

/** The key a request names in `Signature-Key` (wire profile section 4). */
export type SignatureKey =
  | { scheme: 'hwk'; jwk: OkpPublicJwk | EcPublicJwk }
  | { scheme: 'jwks_uri'; id: string; kid: string; dwk?: string }
  | { scheme: 'jwt'; jwt: string };

/** The schemes the kit implements, as sent in `Accept-Signature-Scheme`. */
export const SIGNATURE_SCHEMES = ['hwk', 'jwks_uri', 'jwt'] as const;

export interface ParsedSignatureKey {
  /** The label, which selects the one signature to verify. */
  label: string;
  key: SignatureKey;
  /** Which wire form the header used. */
  form: 'parenthesised' | 'dictionary';
}

/** Options of {@link parseSignatureKey}. */
export interface ParseSignatureKeyOptions {
  /**
   * The label being verified (from `Signature-Input`): select that member and ignore the others
   * (HTTP Signature Keys -09 section 3.1; a member not selected is never interpreted). Without it,
   * the header must have exactly one member (the Keycloak profile's rule).
   */
  label?: string | undefined;
  /**
   * The schemes this verifier accepts (draft-11 profile section 4: a -11 resource accepts `jwt`
   * only). The selected member naming another scheme is `unsupported_scheme`, before its parameters
   * are read. Default: every scheme the kit implements.
   */
  schemes?: readonly string[] | undefined;
}

export interface SerializeSignatureKeyOptions {
  /** Default `'sig'`. */
  label?: string | undefined;
  /** Default `'parenthesised'` (the Keycloak profile); `'dictionary'` is the newer draft's form. */
  form?: 'parenthesised' | 'dictionary' | undefined;
}

const MAX_HEADER = 16 * 1024;

function text(v: BareItem | undefined): string | undefined {
  if (typeof v === 'string') return v;
  if (v instanceof Token) return v.value;
  return undefined;
}

function required(params: Params, name: string, scheme: string): string {
  const v = text(param(params, name));
  if (v === undefined || v.length === 0) {
    throw new AAuthError('signature_key_malformed', `Signature-Key scheme ${scheme} needs a "${name}" parameter`);
  }
  return v;
}

/** -09 section 3.4: hwk carries `alg` (required in -11; checked by jwkAlgProblem) and never `kid`. */
function withAlg<J extends OkpPublicJwk | EcPublicJwk>(jwk: J, params: Params, form: ParsedSignatureKey['form']): J {
  if (form === 'dictionary' && param(params, 'kid') !== undefined) {
    throw new AAuthError('signature_key_malformed', 'Signature-Key scheme hwk must not carry kid');
  }
  const alg = text(param(params, 'alg'));
  if (alg !== undefined) jwk.alg = alg;
  return jwk;
}

function toKey(scheme: string, params: Params, form: ParsedSignatureKey['form']): SignatureKey {
  switch (scheme) {
    case 'hwk': {
      const kty = required(params, 'kty', scheme);
      // Section 2: hwk keys are Ed25519, or P-256 where a scheme supplies them; the key bytes are
      // checked when the key is imported (importPublicKey).
      if (kty === 'OKP') {
        const crv = required(params, 'crv', scheme);
        if (crv !== 'Ed25519') throw new AAuthError('unsupported_algorithm', `Signature-Key hwk curve ${showValue(crv, 40)} is not supported`);
        return { scheme, jwk: withAlg({ kty, crv, x: required(params, 'x', scheme) }, params, form) };
      }
      if (kty === 'EC') {
        const crv = required(params, 'crv', scheme);
        if (crv !== 'P-256') throw new AAuthError('unsupported_algorithm', `Signature-Key hwk curve ${showValue(crv, 40)} is not supported`);
        return { scheme, jwk: withAlg({ kty, crv, x: required(params, 'x', scheme), y: required(params, 'y', scheme) }, params, form) };
      }
      throw new AAuthError('unsupported_algorithm', `Signature-Key hwk kty ${showValue(kty, 40)} is not supported`);
    }
    case 'jwks_uri':
    case 'jwks': {
      const dwk = text(param(params, 'dwk'));
      const key: SignatureKey = { scheme: 'jwks_uri', id: required(params, 'id', scheme), kid: required(params, 'kid', scheme) };
      if (dwk !== undefined) key.dwk = dwk;
      return key;
    }
    case 'jwt':
      return { scheme, jwt: required(params, 'jwt', scheme) };
    default:
      throw new AAuthError('unsupported_scheme', `Signature-Key scheme ${JSON.stringify(scheme)} is not supported`, {
        details: { scheme },
      });
  }
}

/**
 * Parse a `Signature-Key` header in either wire form (wire profile sections 4 and 11; draft-11
 * profile section 4). Without `options.label` it must have exactly one member; with it, the member
 * of that label is selected (missing: `signature_label_mismatch`, twice: `signature_duplicate`).
 * Throws `signature_key_malformed`, or `unsupported_scheme` for a scheme the kit does not implement.
 * An `hwk` key's `alg` is returned in `key.jwk.alg` when sent.
 */
export function parseSignatureKey(header: string | readonly string[] | undefined, options: ParseSignatureKeyOptions = {}): ParsedSignatureKey {
  const single = typeof header === 'string' ? header : header !== undefined && header.length === 1 ? header[0]! : undefined;
  if (single !== undefined && single.length <= MAX_HEADER) {
    const scanned = scanJwtSignatureKey(single, options);
    if (scanned !== undefined) return scanned;
  }
  return parseSignatureKeyGeneral(header, options);
}

/**
 * The one `jwt`-scheme member in its canonical forms, `label=(scheme=jwt jwt="...")` and
 * `label=jwt;jwt="..."`, whose token holds only base64url characters and dots (a compact JWS),
 * read with one anchored pattern (issue 18: a new auth token's header is ~1 KB, and the general
 * RFC 8941 parser was a tenth of verifying it on first sight). Anything else, and any member not
 * accepted as it stands (another label, a scheme not accepted), is left to the general parser, so
 * results and refusals are the general parser's on every input (property-tested).
 */
const JWT_MEMBER = /^([a-z*][a-z0-9_.*-]*)=(?:\(scheme=jwt jwt="([A-Za-z0-9_.-]+)"\)|jwt;jwt="([A-Za-z0-9_.-]+)")$/;

export function scanJwtSignatureKey(value: string, options: ParseSignatureKeyOptions): ParsedSignatureKey | undefined {
  const m = JWT_MEMBER.exec(value);
  if (m === null) return undefined;
  const label = m[1]!;
  if (options.label !== undefined && options.label !== label) return undefined;
  if (options.schemes !== undefined && !options.schemes.includes('jwt')) return undefined;
  return m[2] !== undefined
    ? { label, key: { scheme: 'jwt', jwt: m[2] }, form: 'parenthesised' }
    : { label, key: { scheme: 'jwt', jwt: m[3]! }, form: 'dictionary' };
}

/** {@link parseSignatureKey} by the general parser alone (exported for the tests that hold the fast path against it). */
export function parseSignatureKeyGeneral(header: string | readonly string[] | undefined, options: ParseSignatureKeyOptions = {}): ParsedSignatureKey {
  if (header === undefined || (Array.isArray(header) && header.length === 0)) {
    throw new AAuthError('signature_missing', 'The request has no Signature-Key header');
  }
  if (Array.isArray(header) && header.length > 1) {
    throw new AAuthError('signature_key_malformed', 'Signature-Key must be sent once, with exactly one member');
  }
  const value: string = typeof header === 'string' ? header : header[0]!;
  const wanted = options.label;
  if (value.length > MAX_HEADER) throw new AAuthError('header_too_large', 'Signature-Key is larger than 16 KiB');
  const eq = value.indexOf('=');
  const parenthesised = eq > 0 && value[eq + 1] === '(';
  try {
    if (parenthesised) {
      const members = pick(parseParenthesisedDictionary(value), wanted);
      const { key: label, params } = members;
      // A repeated parameter would make the key ambiguous (which x? which id?): refuse it.
      const names = new Set<string>();
      for (const [name] of params) {
        if (names.has(name)) throw new AAuthError('signature_key_malformed', `Signature-Key repeats the parameter "${name}"`);
        names.add(name);
      }
      const scheme = text(param(params, 'scheme'));
      if (scheme === undefined) throw new AAuthError('signature_key_malformed', 'Signature-Key has no scheme parameter');
      accepted(scheme, options.schemes);
      return { label, key: toKey(scheme, params, 'parenthesised'), form: 'parenthesised' };
    }
    const { key: label, value: member } = pick(parseDictionary(value), wanted);
    if (isInnerList(member) || !(member.value instanceof Token)) {
      throw new AAuthError('signature_key_malformed', 'Signature-Key member must be a scheme token with parameters');
    }
    accepted(member.value.value, options.schemes);
    return { label, key: toKey(member.value.value, member.params, 'dictionary'), form: 'dictionary' };
  } catch (error) {
    if (error instanceof SfvError) {
      throw new AAuthError('signature_key_malformed', `Signature-Key is malformed: ${error.message}`);
    }
    throw error;
  }
}

/** -09 section 3: a scheme the verifier does not accept is unsupported_scheme, whatever its parameters. */
function accepted(scheme: string, schemes: readonly string[] | undefined): void {
  if (schemes === undefined) return;
  const name = scheme === 'jwks' ? 'jwks_uri' : scheme;
  if (!schemes.includes(name)) {
    throw new AAuthError('unsupported_scheme', `Signature-Key scheme ${JSON.stringify(scheme.slice(0, 40))} is not accepted here (${schemes.join(', ')})`, {
      details: { scheme: scheme.slice(0, 40) },
    });
  }
}

/** The one member to interpret: the only one, or the one labelled `wanted`. */
function pick<M extends { key: string }>(members: M[], wanted: string | undefined): M {
  if (wanted === undefined) {
    if (members.length !== 1) throw new AAuthError('signature_key_malformed', 'Signature-Key must have exactly one member');
    return members[0]!;
  }
  const matching = members.filter((m) => m.key === wanted);
  if (matching.length === 0) throw new AAuthError('signature_label_mismatch', `Signature-Key has no member labelled "${wanted.slice(0, 64)}"`);
  if (matching.length > 1) throw new AAuthError('signature_duplicate', `Signature-Key gives two members for label "${wanted.slice(0, 64)}"`);
  return matching[0]!;
}

function keyParams(key: SignatureKey): Array<[string, string]> {
  switch (key.scheme) {
    case 'hwk': {
      const params: Array<[string, string]> =
        key.jwk.kty === 'OKP'
          ? [['kty', 'OKP'], ['crv', key.jwk.crv], ['x', key.jwk.x]]
          : [['kty', 'EC'], ['crv', key.jwk.crv], ['x', key.jwk.x], ['y', key.jwk.y]];
      // -09 section 3.4: the alg travels with the inline key (required in -11).
      if (key.jwk.alg !== undefined) params.push(['alg', key.jwk.alg]);
      return params;
    }
    case 'jwks_uri':
      return key.dwk === undefined ? [['id', key.id], ['kid', key.kid]] : [['id', key.id], ['dwk', key.dwk], ['kid', key.kid]];
    case 'jwt':
      return [['jwt', key.jwt]];
  }
}

/**
 * Serialize a `Signature-Key` value: `sig=(scheme=jwks_uri id="..." kid="...")` by default.
 * Throws a `TypeError` for a label or value the header cannot carry.
 */
export function serializeSignatureKey(key: SignatureKey, options: SerializeSignatureKeyOptions = {}): string {
  const label = options.label ?? 'sig';
  if (typeof label !== 'string' || !/^[a-z*][a-z0-9_.*-]*$/.test(label)) {
    throw new TypeError(`options.label ${JSON.stringify(label)} is not a valid RFC 8941 key`);
  }
  if (options.form !== undefined && options.form !== 'parenthesised' && options.form !== 'dictionary') {
    throw new TypeError("options.form must be 'parenthesised' or 'dictionary'");
  }
  if (typeof key !== 'object' || key === null || !(SIGNATURE_SCHEMES as readonly string[]).includes(key.scheme)) {
    throw new TypeError(`key.scheme must be one of ${SIGNATURE_SCHEMES.join(', ')}`);
  }
  const params = keyParams(key);
  for (const [name, value] of params) {
    if (typeof value !== 'string' || value.length === 0) throw new TypeError(`Signature-Key ${key.scheme} needs a non-empty "${name}"`);
  }
  if (options.form === 'dictionary') {
    return `${label}=${key.scheme}${params.map(([k, v]) => `;${k}=${serializeString(v)}`).join('')}`;
  }
  return `${label}=(scheme=${key.scheme}${params.map(([k, v]) => ` ${k}=${serializeString(v)}`).join('')})`;
}
