import { createRequire } from 'node:module';
import { AAuthError } from './errors.js';
import { ListMemo } from './lib/list-memo.js';
import { type HeaderMap, type HttpRequest, toHeaderMap, toUrl } from './lib/request.js';
import { type Params, serializeParams, serializeString } from './lib/sfv.js';

type Httpbis = (typeof import('http-message-signatures'))['httpbis'];
let httpbisApi: Httpbis | undefined;
/**
 * http-message-signatures (CommonJS, 15 files with its structured-headers), loaded on the first
 * {@link createSignatureBase}: signing and verifying derive the base themselves
 * (lib/component-values.ts), so a resource's start does not load it (issue 18: cold start).
 */
function httpbis(): Httpbis {
  return (httpbisApi ??= (createRequire(import.meta.url)('http-message-signatures') as typeof import('http-message-signatures')).httpbis);
}

/** Signature parameters (RFC 9421 section 2.3), in the order they are serialized. */
export type SignatureParams = Array<[name: string, value: string | number]>;

/**
 * Serialize a signature's covered components and parameters as the `Signature-Input` member value
 * and `@signature-params` line: `("@method" "@path");created=1618884473;nonce="..."`.
 */
export function serializeSignatureParams(components: readonly string[], params: SignatureParams): string {
  // The component list as RFC 8941 strings, remembered for the next call: a signer covers the same
  // components request after request (issue 18); `created` and `nonce` change every time.
  return componentLists.get(components, serializeComponents) + serializeParams(params as Params);
}

const componentLists = new ListMemo<string>(1);
const serializeComponents = (components: readonly string[]): string => `(${components.map(serializeString).join(' ')})`;

function componentLines(
  request: { method: string; url: URL; headers: HeaderMap },
  components: readonly string[],
): string {
  // A null-prototype record: a header named "__proto__" must stay a header.
  const headers: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const [name, values] of request.headers) headers[name] = values;
  const message = { method: request.method, url: request.url, headers };
  let base: Array<[string, string[]]>;
  try {
    // http-message-signatures derives each component (RFC 9421 section 2).
    base = httpbis().createSignatureBase({ fields: components.map((c) => serializeString(c)) as string[] }, message);
  } catch (error) {
    const message = (error as Error).message;
    if (/No header/.test(message)) {
      throw new AAuthError('signature_component_missing', `A covered component is absent: ${message}`);
    }
    throw new AAuthError('signature_malformed', `Cannot derive a covered component: ${message}`);
  }
  return httpbis().formatSignatureBase(base);
}

/**
 * The RFC 9421 signature base (section 2.5) for `components` of `request`, ending with the
 * `@signature-params` line built from `signatureParams` (a serialized inner list with parameters).
 * Pure: for tests and debugging as much as for signing and verifying.
 */
export function createSignatureBase(
  request: Pick<HttpRequest, 'method' | 'url' | 'headers'>,
  components: readonly string[],
  signatureParams: string,
): string {
  const seen = new Set<string>();
  for (const c of components) {
    if (seen.has(c)) throw new AAuthError('signature_malformed', `Component ${JSON.stringify(c)} is covered twice`);
    if (c === '@signature-params') throw new AAuthError('signature_malformed', '@signature-params cannot be covered');
    if (c !== c.toLowerCase()) throw new AAuthError('signature_malformed', `Component ${JSON.stringify(c)} must be lower case`);
    seen.add(c);
  }
  const lines = componentLines(
    { method: request.method.toUpperCase(), url: toUrl(request.url), headers: toHeaderMap(request.headers) },
    components,
  );
  return `${lines.length > 0 ? `${lines}\n` : ''}"@signature-params": ${signatureParams}`;
}
