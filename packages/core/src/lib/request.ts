import { AAuthError } from '../errors.js';

/** Header input accepted everywhere: a plain record (node/express style), a fetch `Headers`, or pairs. */
export type HeadersInput =
  | Record<string, string | string[] | number | undefined>
  | Headers
  | Iterable<readonly [string, string]>;

/** A framework-neutral HTTP request, as the verifier and signer see it. */
export interface HttpRequest {
  method: string;
  /** Absolute URL as the client addressed it. */
  url: string | URL;
  headers: HeadersInput;
  /** The raw body bytes (strings are UTF-8); absent or empty means no body. */
  body?: string | Uint8Array | null | undefined;
}

/** Lower-cased header name -> field lines, in order. */
export type HeaderMap = Map<string, string[]>;

/** Normalise any header input to a lower-cased map of field lines. */
export function toHeaderMap(headers: HeadersInput): HeaderMap {
  const map: HeaderMap = new Map();
  const add = (name: string, value: string): void => {
    const key = name.toLowerCase();
    const list = map.get(key);
    if (list) list.push(value);
    else map.set(key, [value]);
  };
  if (typeof Headers !== 'undefined' && headers instanceof Headers) {
    headers.forEach((value, name) => add(name, value));
    // Headers folds repeated fields into one line joined by ", " except Set-Cookie.
    return map;
  }
  if (Symbol.iterator in (headers as object) && !isPlainRecord(headers)) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) add(name, value);
    return map;
  }
  for (const [name, value] of Object.entries(headers as Record<string, unknown>)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) add(name, String(v));
    else add(name, String(value));
  }
  return map;
}

function isPlainRecord(value: unknown): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Parse the request URL once; a non-absolute URL is a 400. */
export function toUrl(url: string | URL): URL {
  if (url instanceof URL) return url;
  try {
    return new URL(url);
  } catch {
    throw new AAuthError('invalid_request', `Not an absolute URL: ${JSON.stringify(String(url).slice(0, 200))}`);
  }
}

/** True when the request carries a non-empty body. */
export function hasBody(body: HttpRequest['body']): body is string | Uint8Array {
  return body !== undefined && body !== null && body.length > 0;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** RFC 9110 section 9.2.2: methods other than these are not idempotent and get a nonce. */
export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}
