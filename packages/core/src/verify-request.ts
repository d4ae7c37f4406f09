import { verifyContentDigest } from './content-digest.js';
import { AAuthError } from './errors.js';
import { type PublicKey, verifyText } from './keys.js';
import { b64AnyDecode, b64Decode } from './lib/base64.js';
import { type HeaderMap, type HttpRequest, type UrlParts, hasBody, toHeaderMap, toUrl, urlPartsOf } from './lib/request.js';
import { SfvError, Token, isInnerList, parseDictionary, serializeInnerList, type BareItem, type InnerList, type Item } from './lib/sfv.js';
import { buildSignatureBase } from './lib/component-values.js';
import type { SignatureParams } from './signature-base.js';
import { ParseMemo } from './lib/parse-memo.js';
import { scanSignature, scanSignatureInput } from './lib/signature-fields.js';
import { parseSignatureKey, type ParsedSignatureKey, type SignatureKey } from './signature-key.js';
import { ListMemo } from './lib/list-memo.js';

/** Default freshness window for `created`, in seconds (wire profile section 3). */
export const DEFAULT_MAX_SKEW = 60;
/** Default size limit of each signature header, in bytes. */
export const DEFAULT_MAX_SIGNATURE_HEADER = 16 * 1024;

export interface ParseSignatureOptions {
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Allowed distance of `created` from now, both ways, in seconds; default 60. */
  maxSkew?: number | undefined;
  /** Refuse a signature with no `created`; default true. */
  requireCreated?: boolean | undefined;
  /** Components that must be covered in addition to the profile's minimum. */
  requiredComponents?: readonly string[] | undefined;
  /** Size limit of each of the three signature headers; default 16 KiB. */
  maxHeaderBytes?: number | undefined;
}

export interface ParseSignedRequestOptions extends ParseSignatureOptions {
  /**
   * Refuse a request with a body whose signature does not cover `content-digest`; default true.
   * Set false only for legacy peers (the original Python agents never signed bodies).
   */
  requireContentDigest?: boolean | undefined;
  /**
   * The label to verify. Default: the label of the one `Signature-Key` member. With a label, a
   * multi-member `Signature-Key` is accepted and only that member is read (HTTP Signature Keys -09
   * section 3.1).
   */
  label?: string | undefined;
  /** The `Signature-Key` schemes accepted (e.g. `['jwt']` for -11); another is `unsupported_scheme`. Default: all the kit implements. */
  signatureSchemes?: readonly string[] | undefined;
}

/** A parsed, cheaply checked signature (coverage, window, digest), not yet verified with a key. */
export interface SignedRequest {
  label: string;
  /** The parsed `Signature-Key` (absent for generic RFC 9421 signatures). */
  signatureKey: SignatureKey | undefined;
  signatureKeyForm: ParsedSignatureKey['form'] | undefined;
  components: string[];
  params: SignatureParams;
  created: number | undefined;
  expires: number | undefined;
  nonce: string | undefined;
  /** Decoded signature bytes. */
  signature: Uint8Array;
  /** The signature as sent (between the colons), for replay caches. */
  signatureText: string;
  signatureBase: string;
  method: string;
  url: URL;
  headers: HeaderMap;
}

function headerValue(headers: HeaderMap, name: string, max: number): string | undefined {
  const lines = headers.get(name);
  if (!lines || lines.length === 0) return undefined;
  const value = lines.length === 1 ? lines[0]! : lines.join(', ');
  if (value.length > max) throw new AAuthError('header_too_large', `${name} is larger than ${max} bytes`);
  return value;
}

function selectMember(value: string, name: string, label: string): InnerList | BareItem {
  let members;
  try {
    members = parseDictionary(value);
  } catch (error) {
    throw new AAuthError('signature_malformed', `${name} is malformed: ${(error as SfvError).message}`);
  }
  let member: InnerList | Item | undefined;
  for (const m of members) {
    if (m.key !== label) continue;
    if (member !== undefined) throw new AAuthError('signature_duplicate', `${name} gives two values for label "${label}"`);
    member = m.value;
  }
  if (member === undefined) {
    throw new AAuthError('signature_label_mismatch', `${name} has no member labelled "${label}"`);
  }
  if (isInnerList(member)) return member;
  return member.value;
}

/**
 * The text of the `Signature` member of `label` by the general parser, for a field
 * {@link scanSignature} leaves to it (exported for the tests that hold the fast path against it).
 */
export function signatureMember(sigHeader: string, label: string): string {
  const sigItem = selectMember(sigHeader, 'Signature', label);
  if (typeof sigItem !== 'object' || !('raw' in sigItem)) {
    throw new AAuthError('signature_malformed', 'Signature member must be a byte sequence');
  }
  return sigItem.raw;
}

function asInteger(value: BareItem, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new AAuthError('signature_malformed', `Signature parameter ${name} must be an integer`);
  }
  return value;
}

/** One `Signature-Input` member, parsed and checked for shape (everything that depends on its text alone). */
export interface ParsedInput {
  readonly components: readonly string[];
  readonly params: SignatureParams;
  readonly created: number | undefined;
  readonly expires: number | undefined;
  readonly nonce: string | undefined;
  /** The member serialized again: the `@signature-params` value of the signature base. */
  readonly serialized: string;
  /** True when the value is the memo's (frozen, shared): the caller copies what it hands out. */
  readonly shared?: true;
}

/**
 * Parses memoised by exact header text (issue 18; lib/parse-memo.ts): `Signature-Key` repeats on
 * every request of an agent, a `Signature-Input` member whenever the same signature parameters
 * come again. Pure functions of the text: every check that depends on the clock, the request or
 * the options runs on every request.
 */
const inputMemo = new ParseMemo<ParsedInput>(1024, 2048);
const signatureKeyMemo = new ParseMemo<ParsedSignatureKey>(4096, 1024);

/**
 * The `Signature-Input` member of `label`. A member that cannot be selected throws now; one whose
 * components or parameters are malformed comes back as `{ refused }`, thrown by the caller after
 * the `Signature` member is read, so refusals keep the order they have always had. A canonical
 * field (lib/signature-fields.ts) is scanned in one pass and its result is the caller's own; any
 * other goes through the memo and the general parser, and its result is shared (frozen).
 */
function parseInput(inputHeader: string, label: string): ParsedInput | { refused: unknown } {
  return scanSignatureInput(inputHeader, label) ?? parseInputGeneral(inputHeader, label);
}

/** {@link parseInput} by the general parser alone (exported for the tests that hold the fast path against it). */
export function parseInputGeneral(inputHeader: string, label: string): ParsedInput | { refused: unknown } {
  const known = inputMemo.get(inputHeader, label);
  if (known !== undefined) return known;
  const input = selectMember(inputHeader, 'Signature-Input', label);
  if (typeof input !== 'object' || !('items' in input)) {
    throw new AAuthError('signature_malformed', 'Signature-Input member must be an inner list');
  }
  try {
    const parsed = parseInputMember(input);
    inputMemo.set(inputHeader, label, parsed);
    return parsed;
  } catch (error) {
    return { refused: error };
  }
}

function parseInputMember(input: InnerList): ParsedInput {
  const components: string[] = [];
  for (const item of input.items) {
    if (typeof item.value !== 'string') throw new AAuthError('signature_malformed', 'Covered components must be strings');
    if (item.params.length > 0) {
      throw new AAuthError('signature_malformed', `Component parameters are not supported (${item.value})`);
    }
    components.push(item.value);
  }
  const params: SignatureParams = [];
  let created: number | undefined;
  let expires: number | undefined;
  let nonce: string | undefined;
  for (const [name, value] of input.params) {
    if (name === 'created') created = asInteger(value, name);
    else if (name === 'expires') expires = asInteger(value, name);
    else if (name === 'nonce') {
      if (typeof value !== 'string') throw new AAuthError('signature_malformed', 'Signature parameter nonce must be a string');
      nonce = value;
    }
    params.push(Object.freeze([name, value instanceof Token ? value.value : (value as string | number)]) as [string, string | number]);
  }
  return Object.freeze({
    components: Object.freeze(components),
    params: Object.freeze(params) as SignatureParams,
    created,
    expires,
    nonce,
    serialized: serializeInnerList(input),
    shared: true,
  });
}

/** {@link parseSignatureKey} through the memo; the result is frozen (it is shared). */
export function parseSignatureKeyMemo(header: readonly string[] | undefined, label: string | undefined, schemes: readonly string[] | undefined): ParsedSignatureKey {
  if (header === undefined || header.length !== 1) return parseSignatureKey(header, { label, schemes });
  const variant = schemes === undefined ? (label ?? '') : `${label ?? ''}\u0000${schemes.join(',')}`;
  const known = signatureKeyMemo.get(header[0]!, variant);
  if (known !== undefined) return known;
  const parsed = parseSignatureKey(header, { label, schemes });
  if (parsed.key.scheme === 'hwk') Object.freeze(parsed.key.jwk);
  Object.freeze(parsed.key);
  signatureKeyMemo.set(header[0]!, variant, Object.freeze(parsed));
  return parsed;
}

/**
 * Parse and cheaply check the signature with `label` (generic RFC 9421): components, parameters,
 * `created`/`expires` window, and the signature base. No key is involved yet.
 */
export function parseSignature(
  request: HttpRequest,
  label: string,
  options: ParseSignatureOptions = {},
  headers: HeaderMap = toHeaderMap(request.headers),
): SignedRequest {
  return parseLabelled(request.method.toUpperCase(), toUrl(request.url), label, options, options.requiredComponents, headers, false);
}

function parseLabelled(
  method: string,
  url: UrlParts,
  label: string,
  options: ParseSignatureOptions,
  requiredComponents: readonly string[] | undefined,
  headers: HeaderMap,
  digestRequired: boolean,
): SignedRequest {
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_SIGNATURE_HEADER;
  const inputHeader = headerValue(headers, 'signature-input', max);
  const sigHeader = headerValue(headers, 'signature', max);
  if (inputHeader === undefined || sigHeader === undefined) {
    throw new AAuthError('signature_missing', 'The request has no Signature-Input or no Signature header');
  }
  const input = parseInput(inputHeader, label);
  // A canonical field with a standard base64 signature in one pass, else the general parser.
  const scanned = scanSignature(sigHeader, label);
  let signature = scanned === undefined ? undefined : b64Decode(scanned);
  let signatureText: string;
  if (signature !== undefined) signatureText = scanned!;
  else {
    signatureText = signatureMember(sigHeader, label);
    signature = b64AnyDecode(signatureText);
  }
  if (!signature || signature.length === 0) {
    throw new AAuthError('signature_malformed', 'Signature is neither base64 nor base64url');
  }
  if ('refused' in input) throw input.refused;

  const { components, created, expires } = input;
  const now = options.now ? options.now() : Date.now() / 1000;
  const skew = options.maxSkew ?? DEFAULT_MAX_SKEW;
  if (created === undefined) {
    if (options.requireCreated !== false) throw new AAuthError('signature_created_missing');
  } else if (created > now + skew) {
    throw new AAuthError('signature_future', `The signature was created ${Math.round(created - now)} s in the future`);
  } else if (created < now - skew) {
    throw new AAuthError('signature_stale', `The signature was created ${Math.round(now - created)} s ago (limit ${skew} s)`);
  }
  if (expires !== undefined && expires < now) {
    throw new AAuthError('signature_expired', `The signature expired ${Math.round(now - expires)} s ago`);
  }
  if (requiredComponents !== undefined) {
    for (const required of requiredComponents) {
      if (!components.includes(required)) {
        throw new AAuthError('signature_coverage', `The signature must cover "${required}"`, { details: { component: required } });
      }
    }
  }
  if (digestRequired && !components.includes('content-digest')) {
    throw new AAuthError('digest_missing', undefined, { details: { component: 'content-digest' } });
  }

  const signatureBase = buildSignatureBase(components, method, url, headers, input.serialized);
  const fields = {
    label,
    signatureKey: undefined,
    signatureKeyForm: undefined,
    components: input.shared ? components.slice() : (components as string[]),
    params: input.shared ? input.params.slice() : (input.params as SignatureParams),
    created,
    expires,
    nonce: input.nonce,
    signature,
    signatureText,
    signatureBase,
    method,
    url: url as URL,
    headers,
  };
  return url instanceof URL ? fields : new TextUrlSignedRequest(fields, url);
}

/**
 * A signed request whose URL came as plain text (issue 18): its `url` is parsed on first read
 * (the same URL on every read; assignable), as nothing on the verifier's path reads it. The other
 * members are its own, as on any signed request; a JSON copy carries `url`, a spread does not.
 */
class TextUrlSignedRequest implements SignedRequest {
  label: string;
  signatureKey: SignatureKey | undefined;
  signatureKeyForm: ParsedSignatureKey['form'] | undefined;
  components: string[];
  params: SignatureParams;
  created: number | undefined;
  expires: number | undefined;
  nonce: string | undefined;
  signature: Uint8Array;
  signatureText: string;
  signatureBase: string;
  method: string;
  headers: HeaderMap;
  #parts: UrlParts;
  #url: URL | undefined;

  constructor(fields: SignedRequest, parts: UrlParts) {
    this.label = fields.label;
    this.signatureKey = fields.signatureKey;
    this.signatureKeyForm = fields.signatureKeyForm;
    this.components = fields.components;
    this.params = fields.params;
    this.created = fields.created;
    this.expires = fields.expires;
    this.nonce = fields.nonce;
    this.signature = fields.signature;
    this.signatureText = fields.signatureText;
    this.signatureBase = fields.signatureBase;
    this.method = fields.method;
    this.headers = fields.headers;
    this.#parts = parts;
  }

  get url(): URL {
    return (this.#url ??= new URL(this.#parts.href));
  }

  set url(value: URL) {
    this.#url = value;
  }

  toJSON(): object {
    return { ...this, url: this.url };
  }
}

const MINIMUM = ['@method', '@authority', '@path'] as const;
const MINIMUM_WITH_QUERY = ['@method', '@authority', '@path', '@query'] as const;
/** The coverage every AAuth request needs, in the order a missing one is named (no per-request array). */
const REQUIRED: readonly string[] = Object.freeze([...MINIMUM, 'signature-key']);
const REQUIRED_WITH_QUERY: readonly string[] = Object.freeze([...MINIMUM_WITH_QUERY, 'signature-key']);

/** The required lists with a caller's extra components, made once per list content. */
const requiredMemo = new ListMemo<{ plain: readonly string[]; withQuery: readonly string[] }>();
function requiredWith(extra: readonly string[], withQuery: boolean): readonly string[] {
  const known = requiredMemo.get(extra, (list) => ({
    plain: Object.freeze([...MINIMUM, ...list, 'signature-key']),
    withQuery: Object.freeze([...MINIMUM_WITH_QUERY, ...list, 'signature-key']),
  }));
  return withQuery ? known.withQuery : known.plain;
}

/**
 * Parse and cheaply check an AAuth-signed request (wire profile section 3): selects the one
 * signature labelled in `Signature-Key`, enforces the minimum coverage, `created`, the window and
 * `content-digest` (recomputed from the body). Everything here happens before any key is fetched.
 */
export function parseSignedRequest(request: HttpRequest, options: ParseSignedRequestOptions = {}): SignedRequest {
  const headers = toHeaderMap(request.headers);
  const max = options.maxHeaderBytes ?? DEFAULT_MAX_SIGNATURE_HEADER;
  const skHeader = headers.get('signature-key');
  if (!skHeader && !headers.has('signature') && !headers.has('signature-input')) {
    throw new AAuthError('signature_missing');
  }
  if (!skHeader) throw new AAuthError('signature_missing', 'The request has no Signature-Key header');
  for (let i = 0; i < skHeader.length; i++) {
    if (skHeader[i]!.length > max) throw new AAuthError('header_too_large', `Signature-Key is larger than ${max} bytes`);
  }
  const sk = parseSignatureKeyMemo(skHeader, options.label, options.signatureSchemes);

  const url = urlPartsOf(request.url);
  const withQuery = url.search.length > 1;
  const required = options.requiredComponents ? requiredWith(options.requiredComponents, withQuery) : withQuery ? REQUIRED_WITH_QUERY : REQUIRED;
  // Section 3: a body the signature does not bind (through content-digest) could be swapped in transit.
  const digestRequired = hasBody(request.body) && options.requireContentDigest !== false;

  const signed = parseLabelled(request.method.toUpperCase(), url, sk.label, options, required, headers, digestRequired);
  signed.signatureKey = sk.key;
  signed.signatureKeyForm = sk.form;

  if (signed.components.includes('content-digest')) {
    // RFC 9530: recompute from the received bytes and compare (section 3 of the wire profile).
    verifyContentDigest(headerValue(headers, 'content-digest', max)!, request.body ?? '');
  }
  return signed;
}

/** Verify the parsed signature with `key`; throws `signature_invalid` on mismatch. */
export function verifySignedRequest(signed: SignedRequest, key: PublicKey): void {
  if (!verifyText(key, signed.signatureBase, signed.signature)) throw signatureInvalid(signed);
}

/** The `signature_invalid` refusal of `signed`, naming what this side verified it for (for a caller that verified already). */
export function signatureInvalid(signed: SignedRequest): AAuthError {
  return new AAuthError('signature_invalid', `The signature does not verify with the signing key${verifiedAs(signed)}`);
}

/**
 * What this side put in the signature base for the URL: the usual cause of a good key failing is
 * a signer that addressed another host or path (127.0.0.1 for localhost, a proxy that strips a
 * prefix), and the bare "does not verify" did not say so.
 */
function verifiedAs(signed: SignedRequest): string {
  const shown: string[] = [];
  for (const name of ['@authority', '@path', '@target-uri']) {
    if (!signed.components.includes(name)) continue;
    const at = signed.signatureBase.indexOf(`"${name}": `);
    if (at === -1) continue;
    const end = signed.signatureBase.indexOf('\n', at);
    const value = signed.signatureBase.slice(at + name.length + 4, end === -1 ? undefined : end);
    shown.push(`${name} ${JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}...` : value)}`);
  }
  if (shown.length === 0) return '';
  return `; this side verified it for ${shown.join(' and ')}: if the key is right, the signer addressed another host or path (e.g. 127.0.0.1 for localhost, or through a proxy that rewrites them), and the identity must be the URL agents call`;
}

export interface VerifyRequestOptions extends ParseSignedRequestOptions {
  /** A fixed key, or a resolver from the parsed `Signature-Key` to a key (e.g. via discovery). */
  key?: PublicKey | undefined;
  resolveKey?: ((signatureKey: SignatureKey, signed: SignedRequest) => PublicKey | Promise<PublicKey>) | undefined;
}

/**
 * Parse, resolve the key and verify an AAuth-signed request in one call. A resolver error that is
 * not an `AAuthError` becomes `key_discovery_failed`; a resolver returning nothing, `key_not_found`.
 */
export async function verifyRequest(request: HttpRequest, options: VerifyRequestOptions): Promise<SignedRequest & { key: PublicKey }> {
  if (typeof options !== 'object' || options === null || (options.key === undefined && typeof options.resolveKey !== 'function')) {
    throw new TypeError('options.key or options.resolveKey is required');
  }
  const signed = parseSignedRequest(request, options);
  let key: PublicKey | undefined = options.key;
  if (key === undefined) {
    try {
      key = await options.resolveKey!(signed.signatureKey!, signed);
    } catch (error) {
      if (error instanceof AAuthError) throw error;
      throw new AAuthError('key_discovery_failed', `The signing key could not be resolved: ${(error as Error)?.message ?? String(error)}`, {
        cause: error,
      });
    }
  }
  if (!key) throw new AAuthError('key_not_found', 'The key resolver returned no key');
  verifySignedRequest(signed, key);
  return { ...signed, url: signed.url, key };
}

/** Generic RFC 9421 verification of the signature `label` with a known key (e.g. for test vectors). */
export function verifyMessageSignature(
  request: HttpRequest,
  label: string,
  key: PublicKey,
  options: ParseSignatureOptions = {},
): SignedRequest {
  const signed = parseSignature(request, label, options);
  verifySignedRequest(signed, key);
  return signed;
}
