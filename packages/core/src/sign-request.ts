import { randomNonce } from './lib/nonce.js';
import { createContentDigest, verifyContentDigest, type DigestAlgorithm } from './content-digest.js';
import { isKitKey, scratchBytes, type SigningKey } from './keys.js';
import { b64Encode, b64uEncode } from './lib/base64.js';
import { type HeaderMap, type HttpRequest, type UrlParts, hasBody, isIdempotent, toHeaderMap, toUrl, urlPartsOf } from './lib/request.js';
import { buildSignatureBase } from './lib/component-values.js';
import { serializeSignatureParams, type SignatureParams } from './signature-base.js';
import { parseSignatureKey, serializeSignatureKey, type SignatureKey } from './signature-key.js';

export interface SignRequestOptions {
  /** The private key that signs. */
  key: SigningKey;
  /**
   * What `Signature-Key` names: a scheme object, or a ready header value. Default: `hwk` with the
   * signing key's public JWK.
   */
  signatureKey?: SignatureKey | string | false | undefined;
  /** Signature label; default `'sig'`. */
  label?: string | undefined;
  /**
   * Exact covered components. Default: the wire profile's list (section 3): `@method`,
   * `@authority`, `@path`, `@query` if the URL has a query, `content-type` and `content-digest`
   * if there is a body, then `additionalComponents`, then `signature-key`.
   */
  components?: readonly string[] | undefined;
  /** Extra components a resource demands (`additional_signature_components`). */
  additionalComponents?: readonly string[] | undefined;
  /** `created`; default: `now()`. */
  created?: number | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** `true`: always add a nonce; `false`: never; a string: that nonce. Default: only for non-idempotent methods. */
  nonce?: boolean | string | undefined;
  /**
   * Extra signature parameters after `created` and `nonce` (e.g. `keyid` for RFC test vectors).
   * Keycloak rebuilds `@signature-params` from `created` and `nonce` only: do not use with it.
   */
  extraParams?: SignatureParams | undefined;
  /** `'base64'` (RFC 8941, default) or `'base64url'` (unpadded, for the original Python agents). */
  signatureEncoding?: 'base64' | 'base64url' | undefined;
  /** Form of the emitted `Signature-Key`; default `'parenthesised'`. */
  signatureKeyForm?: 'parenthesised' | 'dictionary' | undefined;
  /** Digest algorithm when a `Content-Digest` is added; default `'sha-256'`. */
  digestAlgorithm?: DigestAlgorithm | undefined;
}

export interface SignRequestResult {
  /** Headers to add to the request (lower-case names): `signature-input`, `signature`, `signature-key`, and `content-digest` when added. */
  headers: Record<string, string>;
  /** The exact signature base that was signed. */
  signatureBase: string;
  components: string[];
  params: SignatureParams;
}

/** The wire profile's covered components for a request (section 3). */
export function defaultComponents(
  request: Pick<HttpRequest, 'url' | 'body' | 'headers'>,
  additional: readonly string[] = [],
  withSignatureKey = true,
): string[] {
  return profileComponents(toUrl(request.url), toHeaderMap(request.headers), request.body, additional, withSignatureKey);
}

function profileComponents(
  url: UrlParts,
  headers: HeaderMap,
  body: HttpRequest['body'],
  additional: readonly string[],
  withSignatureKey: boolean,
): string[] {
  const components = ['@method', '@authority', '@path'];
  if (url.search.length > 1) components.push('@query');
  if (hasBody(body)) {
    if (headers.has('content-type')) components.push('content-type');
    components.push('content-digest');
  }
  for (const c of additional) {
    const lc = c.toLowerCase();
    if (lc !== 'signature-key' && !components.includes(lc)) components.push(lc);
  }
  if (withSignatureKey) components.push('signature-key');
  return components;
}

/** The last `jwks_uri` or `jwt` Signature-Key serialized, with what it was made of. */
let lastKeyText: { scheme: string; id: unknown; dwk: unknown; kid: unknown; jwt: unknown; label: string; form: unknown; value: string } | undefined;

/**
 * `sk` serialized; the last `jwks_uri` or `jwt` value is reused while every field it was made of is
 * the same (issue 18: an agent names the same key, or presents the same token, request after
 * request). Any other value, and every first one, goes through serializeSignatureKey and its checks.
 */
function signatureKeyText(sk: SignatureKey, label: string, form: 'parenthesised' | 'dictionary'): string {
  const fields = sk as { scheme?: unknown; id?: unknown; dwk?: unknown; kid?: unknown; jwt?: unknown };
  const last = lastKeyText;
  // Only jwks_uri and jwt values are remembered, so an equal scheme is one of those two.
  if (
    last !== undefined &&
    last.scheme === fields.scheme &&
    last.id === fields.id &&
    last.dwk === fields.dwk &&
    last.kid === fields.kid &&
    last.jwt === fields.jwt &&
    last.label === label &&
    last.form === form
  ) {
    return last.value;
  }
  const value = serializeSignatureKey(sk, { label, form });
  if (sk.scheme === 'jwks_uri' || sk.scheme === 'jwt') {
    lastKeyText = { scheme: sk.scheme, id: fields.id, dwk: fields.dwk, kid: fields.kid, jwt: fields.jwt, label, form, value };
  }
  return value;
}

/**
 * Sign a request (RFC 9421 with the AAuth profile): returns the headers to add. Pure apart from
 * the clock and the nonce's randomness; sends nothing.
 */
export function signRequest(request: HttpRequest, options: SignRequestOptions): SignRequestResult {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { key } = options;
  if (typeof key !== 'object' || key === null || typeof key.sign !== 'function') {
    throw new TypeError('options.key must be a SigningKey (generateKey, importPrivateKey or loadKeyFile)');
  }
  const label = options.label ?? 'sig';
  if (typeof label !== 'string' || !/^[a-z*][a-z0-9_.*-]*$/.test(label)) {
    throw new TypeError(`options.label ${JSON.stringify(label)} is not a valid RFC 8941 key`);
  }
  if (options.signatureEncoding !== undefined && options.signatureEncoding !== 'base64' && options.signatureEncoding !== 'base64url') {
    throw new TypeError("options.signatureEncoding must be 'base64' or 'base64url'");
  }
  const added: Record<string, string> = {};
  const headerMap = toHeaderMap(request.headers);
  // A plain URL text is split by hand (what the WHATWG parser would hold, property-tested): issue 18.
  const url = urlPartsOf(request.url);

  let signatureKeyValue: string | undefined;
  if (options.signatureKey !== false) {
    const sk = options.signatureKey ?? { scheme: 'hwk' as const, jwk: key.jwk };
    if (typeof sk === 'string') {
      // A ready value must be one a verifier accepts, under the label this signature uses (section 3).
      let parsed;
      try {
        parsed = parseSignatureKey(sk);
      } catch (error) {
        throw new TypeError(`options.signatureKey is not a valid Signature-Key value: ${(error as Error).message}`);
      }
      if (parsed.label !== label) throw new TypeError(`options.signatureKey must use the label "${label}"`);
      signatureKeyValue = sk;
    } else {
      signatureKeyValue = signatureKeyText(sk, label, options.signatureKeyForm ?? 'parenthesised');
    }
    added['signature-key'] = signatureKeyValue;
  }

  const components = options.components
    ? [...options.components]
    : profileComponents(url, headerMap, request.body, options.additionalComponents ?? [], signatureKeyValue !== undefined);

  if (components.includes('content-digest')) {
    const body = request.body ?? '';
    const existing = headerMap.get('content-digest');
    if (existing) {
      // A digest the caller set must be true; never sign a false one.
      verifyContentDigest(existing.join(', '), body);
    } else {
      added['content-digest'] = createContentDigest(body, options.digestAlgorithm);
    }
  }

  const created = options.created ?? Math.floor((options.now ?? (() => Date.now() / 1000))());
  const params: SignatureParams = [['created', created]];
  const nonce =
    typeof options.nonce === 'string'
      ? options.nonce
      : (options.nonce ?? !isIdempotent(request.method))
        ? randomNonce()
        : undefined;
  if (nonce !== undefined) params.push(['nonce', nonce]);
  if (options.extraParams) params.push(...options.extraParams);

  const signatureParams = serializeSignatureParams(components, params);
  for (const [name, value] of Object.entries(added)) headerMap.set(name, [value]);
  const signatureBase = buildSignatureBase(components, request.method.toUpperCase(), url, headerMap, signatureParams);

  // The kit's own keys sign synchronously and keep nothing: the base is written into one reused
  // buffer (as verifyText does); any other SigningKey gets bytes of its own.
  const signature = key.sign(isKitKey(key) ? scratchBytes(signatureBase) : Buffer.from(signatureBase, 'utf8'));
  const encoded =
    options.signatureEncoding === 'base64url' ? b64uEncode(signature) : b64Encode(signature);
  added['signature-input'] = `${label}=${signatureParams}`;
  added.signature = `${label}=:${encoded}:`;
  return { headers: added, signatureBase, components, params };
}
