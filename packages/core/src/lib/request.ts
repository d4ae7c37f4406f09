import { AAuthError } from '../errors.js';
import type { HeaderMap, HeadersInput, HttpRequest } from '../http-request.js';

export type { HeaderMap, HeadersInput, HttpRequest } from '../http-request.js';

/** The field lines of a node:http request, built once by {@link fieldLinesOf}: read as they are. */
class FieldLines extends Map<string, string[]> {}

/**
 * node:http's `rawHeaders` (name, value, name, value, ...) as lower-cased name -> field lines in
 * order, exactly what `IncomingMessage.headersDistinct` holds, without building that object (issue
 * 18). {@link toHeaderMap} returns it as is, so the request's headers are read once however many
 * steps look at them; nothing may change it.
 */
export function fieldLinesOf(raw: readonly string[]): HeadersInput {
  const map = new FieldLines();
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const list = map.get(name);
    if (list) list.push(raw[i + 1]!);
    else map.set(name, [raw[i + 1]!]);
  }
  return map as unknown as HeadersInput;
}

/** Normalise any header input to a lower-cased map of field lines. */
export function toHeaderMap(headers: HeadersInput): HeaderMap {
  if (headers instanceof FieldLines) return headers;
  const map: HeaderMap = new Map();
  // A plain record (node's headersDistinct, express, literals) is never a Headers, and reading the
  // global `Headers` loads node's whole fetch (undici).
  if (isPlainRecord(headers)) return addRecord(map, headers as Record<string, unknown>);
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
  if (Symbol.iterator in (headers as object)) {
    for (const [name, value] of headers as Iterable<readonly [string, string]>) add(name, value);
    return map;
  }
  return addRecord(map, headers as Record<string, unknown>);
}

/** A record's own keys into `map`: no entry pairs built, no closure (issue 18: this runs on every request). */
function addRecord(map: HeaderMap, record: Record<string, unknown>): HeaderMap {
  const names = Object.keys(record);
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!;
    const value = record[name];
    if (value === undefined) continue;
    const key = name.toLowerCase();
    const list = map.get(key);
    if (Array.isArray(value)) {
      if (value.length === 0) continue;
      const lines = list ?? [];
      for (const v of value) lines.push(String(v));
      if (!list) map.set(key, lines);
    } else {
      const line = typeof value === 'string' ? value : String(value);
      if (list) list.push(line);
      else map.set(key, [line]);
    }
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
