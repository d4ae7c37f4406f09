import { AAuthError } from '../errors.js';
import { ParseMemo } from './parse-memo.js';
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

/**
 * What the signature base reads of a request URL (RFC 9421 section 2.2): a WHATWG URL, or the
 * parts of a plain URL split by {@link plainUrlParts}, which are what the URL would hold.
 */
export interface UrlParts {
  readonly href: string;
  readonly protocol: string;
  readonly host: string;
  readonly pathname: string;
  readonly search: string;
}

/** ASCII classes of a plain URL: 1 a path character, 2 also a query character (no `%` in a path, no `'` in a query). */
const URL_CHAR = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128);
  const both = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&()*+,;=:@/";
  for (let i = 0; i < both.length; i++) table[both.charCodeAt(i)] = 3;
  table[39 /* ' */] = 1;
  table[37 /* % */] = 2;
  table[63 /* ? */] = 2;
  return table;
})();

/** A lower-case host name whose last label starts with a letter, or a canonical IPv4 address; then a port other than the scheme's default. */
function plainAuthority(authority: string, defaultPort: string): boolean {
  const colon = authority.indexOf(':');
  const name = colon === -1 ? authority : authority.slice(0, colon);
  if (colon !== -1) {
    const port = authority.slice(colon + 1);
    if (port.length === 0 || port.length > 5 || port === defaultPort || port.charCodeAt(0) < 49 || port.charCodeAt(0) > 57) return false;
    for (let i = 1; i < port.length; i++) if (port.charCodeAt(i) < 48 || port.charCodeAt(i) > 57) return false;
    if (Number(port) > 65535) return false;
  }
  if (name.length === 0) return false;
  let labelStart = 0;
  let labels = 0;
  let digitsOnly = true;
  for (let i = 0; i <= name.length; i++) {
    const c = i === name.length ? 46 : name.charCodeAt(i);
    if (c === 46 /* . */) {
      const length = i - labelStart;
      if (length === 0) return false;
      // A punycode label is checked by the URL parser (domain to ASCII).
      if (length >= 4 && name.startsWith('xn--', labelStart)) return false;
      // An IPv4 part: decimal, 0-255, no leading zero.
      if (digitsOnly && (length > 3 || (length > 1 && name.charCodeAt(labelStart) === 48) || Number(name.slice(labelStart, i)) > 255)) digitsOnly = false;
      labels++;
      if (i < name.length) {
        labelStart = i + 1;
      }
      continue;
    }
    const digit = c >= 48 && c <= 57;
    if (!digit && !(c >= 97 && c <= 122) && c !== 45 /* - */) return false;
    if (!digit) digitsOnly = false;
  }
  // The last label starts with a letter (so the name cannot be read as a number), or the name is a.b.c.d.
  const last = name.charCodeAt(labelStart);
  return (last >= 97 && last <= 122) || (digitsOnly && labels === 4);
}

/** A request URL as the signature base reads it: a plain URL's parts (no parse), else the parsed URL. */
export function urlPartsOf(url: string | URL): UrlParts {
  if (typeof url === 'string') {
    const parts = plainUrlParts(url);
    if (parts !== undefined) return parts;
  }
  return toUrl(url);
}

/**
 * An absolute URL split by hand when it is plain, exactly as the WHATWG parser would hold it (the
 * href unchanged), else undefined (and `new URL` decides). Plain (issue 18: a request target needs
 * no parse): `http://` or `https://`, a lower-case host name or a canonical IPv4 address, no
 * default port, a path of unreserved, sub-delimiter, `:`, `@` and `/` characters with no `.` or
 * `..` segment, and a query of those and `%`, `?` (no `'`); no user info, no fragment.
 */
export function plainUrlParts(url: string): UrlParts | undefined {
  // The text split last first: the guard hands the verifier the very string it made.
  if (lastParts !== undefined && lastParts.href === url) return lastParts;
  let parts = plainMemo.get(url, '');
  if (parts === undefined) {
    parts = splitPlainUrl(url);
    if (parts === undefined) return undefined;
    plainMemo.set(url, '', Object.freeze(parts));
  }
  lastParts = parts;
  return parts;
}

/** Plain URLs split before (frozen): a resource's paths come again and again, and the guard's text is split twice (issue 18). */
const plainMemo = new ParseMemo<UrlParts>(1024, 2048);
let lastParts: UrlParts | undefined;

/**
 * {@link plainUrlParts} of `origin` + `target`, looked up by target and origin: a target seen
 * before costs no concatenation and no lookup by the whole URL, and becomes the text split last
 * (the verifier's split of the same text is then one comparison).
 */
export function plainTargetParts(origin: string, target: string): UrlParts | undefined {
  let parts = targets.get(target, origin);
  if (parts === undefined) {
    parts = plainUrlParts(`${origin}${target}`);
    if (parts === undefined) return undefined;
    targets.set(target, origin, parts);
  }
  lastParts = parts;
  return parts;
}

/** Plain request targets seen before, by target text and origin (their split URL, frozen). */
const targets = new ParseMemo<UrlParts>(1024, 2048);

function splitPlainUrl(url: string): UrlParts | undefined {
  let start: number;
  let protocol: string;
  if (url.startsWith('http://')) {
    start = 7;
    protocol = 'http:';
  } else if (url.startsWith('https://')) {
    start = 8;
    protocol = 'https:';
  } else return undefined;
  const slash = url.indexOf('/', start);
  if (slash === -1) return undefined;
  const host = url.slice(start, slash);
  if (!plainAuthority(host, protocol === 'http:' ? '80' : '443')) return undefined;
  let query = -1;
  let segment = slash + 1;
  for (let i = slash + 1; i <= url.length; i++) {
    const c = i === url.length ? 47 : url.charCodeAt(i);
    if (query !== -1) {
      if (i < url.length && (c >= 128 || (URL_CHAR[c]! & 2) === 0)) return undefined;
      continue;
    }
    if (c === 47 /* / */ || c === 63 /* ? */) {
      // A `.` or `..` segment is removed by the parser.
      const length = i - segment;
      if ((length === 1 || length === 2) && url.charCodeAt(segment) === 46 && url.charCodeAt(i - 1) === 46) return undefined;
      if (c === 63) query = i;
      segment = i + 1;
      continue;
    }
    if (c >= 128 || (URL_CHAR[c]! & 1) === 0) return undefined;
  }
  const end = query === -1 ? url.length : query;
  return { href: url, protocol, host, pathname: url.slice(slash, end), search: query === -1 || query === url.length - 1 ? '' : url.slice(query) };
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
