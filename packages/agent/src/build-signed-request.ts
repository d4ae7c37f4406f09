import { type SignatureKey, type SigningKey, signRequest, type SignRequestOptions } from '@aauth-kit/core';
import { algOf11, toHeaderMap } from '@aauth-kit/core/internal';
import type { BuildSignedRequestOptions, RequestToSign, SignatureScheme, SignedRequestHeaders } from './types.js';

/** Headers a previous attempt may have left behind; they are replaced, never re-signed (section 3). */
export const SIGNATURE_HEADERS = ['signature', 'signature-input', 'signature-key', 'content-digest'] as const;

/** Who signs: the agent's key and how its signatures are encoded. */
export interface SignerConfig extends BuildSignedRequestOptions {
  key: SigningKey;
  /** The agent identity URL (needed for `jwks_uri`). */
  identity?: string | undefined;
  /** Clock: a function returning epoch seconds; default `() => Date.now() / 1000`. */
  now?: (() => number) | undefined;
  /** Default `'base64'`. */
  signatureEncoding?: 'base64' | 'base64url' | undefined;
  /** Default `'parenthesised'`. */
  signatureKeyForm?: 'parenthesised' | 'dictionary' | undefined;
  /** Default `'always'`; `'non-idempotent'` adds a nonce only where the wire profile requires one. */
  nonce?: 'always' | 'non-idempotent' | undefined;
}

/** The scheme used when none is asked for: `jwt` with a token, `jwks_uri` with an identity, else `hwk`. */
export function defaultScheme(identity: string | undefined, authToken?: string): SignatureScheme {
  if (authToken !== undefined) return 'jwt';
  return identity === undefined ? 'hwk' : 'jwks_uri';
}

function signatureKeyFor(
  scheme: SignatureScheme,
  identity: string | undefined,
  key: SigningKey,
  authToken: string | undefined,
  form: 'parenthesised' | 'dictionary',
): SignatureKey {
  // HTTP Signature Keys -08/-09 (the dictionary form): hwk carries the key's `alg`, jwks_uri the
  // well-known name `dwk` (draft-11 profile section 4). The parenthesised Keycloak form has neither.
  const dictionary = form === 'dictionary';
  switch (scheme) {
    case 'hwk':
      return { scheme: 'hwk', jwk: dictionary ? { ...key.jwk, alg: algOf11(key.jwk) } : key.jwk };
    case 'jwks_uri':
      if (identity === undefined) throw new TypeError('The jwks_uri scheme needs options.identity (a pseudonymous agent signs with hwk)');
      return dictionary ? { scheme: 'jwks_uri', id: identity, dwk: 'aauth-agent.json', kid: key.kid } : { scheme: 'jwks_uri', id: identity, kid: key.kid };
    case 'jwt':
      if (typeof authToken !== 'string' || authToken.length === 0) {
        throw new TypeError('The jwt scheme needs an authToken');
      }
      return { scheme: 'jwt', jwt: authToken };
    default:
      throw new TypeError(`Unknown signature scheme ${JSON.stringify(scheme)} (use hwk, jwks_uri or jwt)`);
  }
}

/** A signer resolved once (at `createAgent`): the key, the identity and the fixed `signRequest` options. */
export interface Signer {
  key: SigningKey;
  identity: string | undefined;
  options: Readonly<Omit<SignRequestOptions, 'signatureKey' | 'additionalComponents'>>;
}

/** Resolve a signer configuration once; every signature reuses it. */
export function resolveSigner(config: SignerConfig): Signer {
  return {
    key: config.key,
    identity: config.identity,
    options: {
      key: config.key,
      ...(config.now ? { now: config.now } : {}),
      // Section 3: a nonce keeps two identical requests in one second distinct; 'always' by default.
      ...(config.nonce === 'non-idempotent' ? {} : { nonce: true }),
      signatureEncoding: config.signatureEncoding ?? 'base64',
      signatureKeyForm: config.signatureKeyForm ?? 'parenthesised',
    },
  };
}

/** Sign `request` with a resolved signer (see {@link buildSignedRequest}). */
export function signWith(signer: Signer, request: RequestToSign, options: BuildSignedRequestOptions = {}): SignedRequestHeaders {
  const scheme = options.scheme ?? defaultScheme(signer.identity, options.authToken);
  const signatureKey = signatureKeyFor(scheme, signer.identity, signer.key, options.authToken, signer.options.signatureKeyForm ?? 'parenthesised');
  const headers: Record<string, string[]> = {};
  for (const [name, values] of toHeaderMap(request.headers ?? {})) {
    if (!(SIGNATURE_HEADERS as readonly string[]).includes(name)) headers[name] = values;
  }
  const body = request.body ?? undefined;
  const signed = signRequest(
    { method: request.method.toUpperCase(), url: request.url, headers, body },
    { ...signer.options, signatureKey, ...(options.additionalComponents ? { additionalComponents: options.additionalComponents } : {}) },
  );
  const out: Record<string, string> = {};
  for (const [name, values] of Object.entries(headers)) out[name] = values.join(', ');
  Object.assign(out, signed.headers);
  return { headers: out, scheme, components: signed.components };
}

/**
 * Sign a request as the agent (wire profile sections 3 and 4): returns every header to send, old
 * signature headers replaced. Pure apart from the clock and the nonce; sends nothing.
 */
export function buildSignedRequest(request: RequestToSign, config: SignerConfig): SignedRequestHeaders {
  return signWith(resolveSigner(config), request, config);
}
