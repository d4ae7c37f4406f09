/**
 * A small, strict RFC 8941 (Structured Field Values) parser for the dictionaries the kit reads from
 * untrusted headers (Signature-Input, Signature, Signature-Key, AAuth-Requirement). Unlike general
 * libraries it keeps duplicate dictionary keys (wire profile section 3 refuses them for the
 * selected label), keeps the raw text of byte sequences (to accept the base64url signatures the
 * original Python agents emit) and never throws anything but `SfvError`.
 */

export class SfvError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** An RFC 8941 token (unquoted). */
export class Token {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** An RFC 8941 byte sequence; `raw` is the text between the colons. */
export class ByteSeq {
  constructor(readonly raw: string) {}
}

/**
 * An RFC 8941 decimal (section 3.3.2): apart from integers, because it is serialised with its
 * fractional part (`1.0` stays `1.0`, section 4.1.5), and a signature covers the parameters as
 * serialised (RFC 9421 `@signature-params`).
 */
export class Decimal {
  constructor(readonly value: number) {}
  toString(): string {
    const rounded = String(Math.round(this.value * 1000) / 1000);
    return rounded.includes('.') ? rounded : `${rounded}.0`;
  }
}

export type BareItem = number | string | boolean | Token | ByteSeq | Decimal;
export type Params = Array<[string, BareItem]>;
export interface Item {
  value: BareItem;
  params: Params;
}
export interface InnerList {
  items: Item[];
  params: Params;
}
export interface DictMember {
  key: string;
  value: Item | InnerList;
}

export function isInnerList(value: Item | InnerList): value is InnerList {
  return (value as InnerList).items !== undefined;
}

const MAX_LENGTH = 64 * 1024;

class Cursor {
  pos = 0;
  constructor(readonly s: string) {}
  peek(): string {
    return this.s[this.pos] ?? '';
  }
  eof(): boolean {
    return this.pos >= this.s.length;
  }
  fail(what: string): never {
    throw new SfvError(`${what} at position ${this.pos}`);
  }
  sp(): void {
    while (this.s[this.pos] === ' ') this.pos++;
  }
  ows(): void {
    while (this.s[this.pos] === ' ' || this.s[this.pos] === '\t') this.pos++;
  }
}

const isLcAlpha = (c: string): boolean => c >= 'a' && c <= 'z';
const isDigit = (c: string): boolean => c >= '0' && c <= '9';
const isAlpha = (c: string): boolean => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]$/;

function parseKey(c: Cursor): string {
  const first = c.peek();
  if (!isLcAlpha(first) && first !== '*') c.fail('Expected a key');
  const start = c.pos;
  while (!c.eof()) {
    const ch = c.peek();
    if (isLcAlpha(ch) || isDigit(ch) || ch === '_' || ch === '-' || ch === '.' || ch === '*') c.pos++;
    else break;
  }
  return c.s.slice(start, c.pos);
}

function parseString(c: Cursor): string {
  c.pos++; // opening quote
  const s = c.s;
  const start = c.pos;
  // Fast path: scan for the closing quote; only a string with escapes is rebuilt char by char.
  for (let i = start; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code === 0x22 /* " */) {
      c.pos = i + 1;
      return s.slice(start, i);
    }
    if (code === 0x5c /* \ */) break;
    if (code < 0x20 || code > 0x7e) {
      c.pos = i;
      c.fail('Non-printable character in string');
    }
  }
  let out = '';
  while (!c.eof()) {
    const ch = s[c.pos++]!;
    if (ch === '\\') {
      const next = s[c.pos++];
      if (next !== '"' && next !== '\\') c.fail('Bad escape in string');
      out += next;
    } else if (ch === '"') {
      return out;
    } else {
      const code = ch.charCodeAt(0);
      if (code < 0x20 || code > 0x7e) c.fail('Non-printable character in string');
      out += ch;
    }
  }
  return c.fail('Unterminated string');
}

function parseToken(c: Cursor): Token {
  const start = c.pos;
  c.pos++;
  while (!c.eof()) {
    const ch = c.peek();
    if (TCHAR.test(ch) || ch === ':' || ch === '/') c.pos++;
    else break;
  }
  return new Token(c.s.slice(start, c.pos));
}

function parseNumber(c: Cursor): number | Decimal {
  const start = c.pos;
  if (c.peek() === '-') c.pos++;
  if (!isDigit(c.peek())) c.fail('Expected a digit');
  let dot = -1;
  while (!c.eof()) {
    const ch = c.peek();
    if (isDigit(ch)) c.pos++;
    else if (ch === '.' && dot < 0) {
      dot = c.pos;
      c.pos++;
    } else break;
  }
  const text = c.s.slice(start, c.pos);
  const intPart = dot < 0 ? text : c.s.slice(start, dot);
  if (dot < 0) {
    if (intPart.replace('-', '').length > 15) c.fail('Integer too long');
    return Number.parseInt(text, 10);
  }
  const frac = c.s.slice(dot + 1, c.pos);
  if (intPart.replace('-', '').length > 12 || frac.length === 0 || frac.length > 3) c.fail('Bad decimal');
  return new Decimal(Number.parseFloat(text));
}

const BYTE_SEQ = /[A-Za-z0-9+/=_-]*/y;

function parseByteSeq(c: Cursor): ByteSeq {
  c.pos++;
  const start = c.pos;
  // Standard base64 per RFC 8941, plus "-" and "_" so base64url values can be recognised and decoded.
  BYTE_SEQ.lastIndex = start;
  BYTE_SEQ.test(c.s);
  c.pos = BYTE_SEQ.lastIndex;
  if (c.eof()) c.fail('Unterminated byte sequence');
  if (c.peek() !== ':') c.fail('Bad character in byte sequence');
  const raw = c.s.slice(start, c.pos);
  c.pos++;
  return new ByteSeq(raw);
}

function parseBareItem(c: Cursor): BareItem {
  const ch = c.peek();
  if (ch === '"') return parseString(c);
  if (ch === ':') return parseByteSeq(c);
  if (ch === '?') {
    c.pos++;
    const v = c.s[c.pos++];
    if (v === '1') return true;
    if (v === '0') return false;
    return c.fail('Bad boolean');
  }
  if (ch === '-' || isDigit(ch)) return parseNumber(c);
  if (isAlpha(ch) || ch === '*') return parseToken(c);
  return c.fail('Expected an item');
}

function parseParams(c: Cursor): Params {
  const params: Params = [];
  while (c.peek() === ';') {
    c.pos++;
    c.sp();
    const key = parseKey(c);
    let value: BareItem = true;
    if (c.peek() === '=') {
      c.pos++;
      value = parseBareItem(c);
    }
    const existing = params.findIndex(([k]) => k === key);
    if (existing >= 0) params.splice(existing, 1);
    params.push([key, value]);
  }
  return params;
}

function parseItem(c: Cursor): Item {
  const value = parseBareItem(c);
  return { value, params: parseParams(c) };
}

function parseInnerList(c: Cursor): InnerList {
  c.pos++;
  const items: Item[] = [];
  for (;;) {
    c.sp();
    if (c.peek() === ')') {
      c.pos++;
      return { items, params: parseParams(c) };
    }
    if (c.eof()) c.fail('Unterminated inner list');
    items.push(parseItem(c));
    const next = c.peek();
    if (next !== ' ' && next !== ')') c.fail('Expected space or ) in inner list');
  }
}

function parseItemOrInnerList(c: Cursor): Item | InnerList {
  return c.peek() === '(' ? parseInnerList(c) : parseItem(c);
}

/** After a member (RFC 8941 section 4.2.2): true at the end of the field, else past the `,` and the whitespace around it. */
function endOfMembers(c: Cursor, what: string): boolean {
  c.ows();
  if (c.eof()) return true;
  if (c.peek() !== ',') c.fail(`Expected , between ${what}`);
  c.pos++;
  c.ows();
  return false;
}

/** Parse an RFC 8941 dictionary, keeping members in order and keeping duplicates. */
export function parseDictionary(input: string): DictMember[] {
  if (input.length > MAX_LENGTH) throw new SfvError('Field value too long');
  const c = new Cursor(input);
  c.sp();
  const members: DictMember[] = [];
  if (c.eof()) return members;
  for (;;) {
    const key = parseKey(c);
    let value: Item | InnerList;
    if (c.peek() === '=') {
      c.pos++;
      value = parseItemOrInnerList(c);
    } else {
      value = { value: true, params: parseParams(c) };
    }
    members.push({ key, value });
    if (endOfMembers(c, 'dictionary members')) return members;
    if (c.eof()) c.fail('Trailing comma');
  }
}

/** Parse an RFC 8941 list (section 4.2.1): items and inner lists, in order. */
export function parseList(input: string): Array<Item | InnerList> {
  if (input.length > MAX_LENGTH) throw new SfvError('Field value too long');
  const c = new Cursor(input);
  c.sp();
  const members: Array<Item | InnerList> = [];
  if (c.eof()) return members;
  for (;;) {
    members.push(parseItemOrInnerList(c));
    if (endOfMembers(c, 'list members')) return members;
    if (c.eof()) c.fail('Trailing comma');
  }
}

/**
 * Parse the AAuth "parenthesised" Signature-Key member form: `label=(name=value name=value ...)`
 * where each value is a string or a token. Returns members in order, duplicates kept.
 */
export function parseParenthesisedDictionary(input: string): Array<{ key: string; params: Params }> {
  if (input.length > MAX_LENGTH) throw new SfvError('Field value too long');
  const c = new Cursor(input);
  c.sp();
  const out: Array<{ key: string; params: Params }> = [];
  for (;;) {
    const key = parseKey(c);
    if (c.peek() !== '=') c.fail('Expected =');
    c.pos++;
    if (c.peek() !== '(') c.fail('Expected (');
    c.pos++;
    const params: Params = [];
    for (;;) {
      c.sp();
      if (c.peek() === ')') {
        c.pos++;
        break;
      }
      if (c.eof()) c.fail('Unterminated parameter list');
      const name = parseKey(c);
      if (c.peek() !== '=') c.fail('Expected = after parameter name');
      c.pos++;
      const ch = c.peek();
      let value: BareItem;
      if (ch === '"') value = parseString(c);
      else if (isAlpha(ch) || ch === '*') value = parseToken(c);
      else if (ch === '-' || isDigit(ch)) value = parseNumber(c);
      else value = c.fail('Expected a string or token value');
      params.push([name, value]);
      const next = c.peek();
      if (next !== ' ' && next !== ')') c.fail('Expected space or ) between parameters');
    }
    out.push({ key, params });
    if (endOfMembers(c, 'members')) return out;
  }
}

/** Serialize an RFC 8941 string; a value with characters it cannot carry is caller misuse (TypeError). */
export function serializeString(value: string): string {
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
    throw new TypeError(`${JSON.stringify(String(value)).slice(0, 80)} cannot be sent as an RFC 8941 string (printable ASCII only)`);
  }
  return value.includes('"') || value.includes('\\') ? `"${value.replace(/[\\"]/g, (m) => `\\${m}`)}"` : `"${value}"`;
}

export function serializeBareItem(value: BareItem): string {
  if (typeof value === 'string') return serializeString(value);
  if (typeof value === 'boolean') return value ? '?1' : '?0';
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return String(value);
    return new Decimal(value).toString();
  }
  if (value instanceof Token) return value.value;
  if (value instanceof Decimal) return value.toString();
  return `:${value.raw}:`;
}

export function serializeParams(params: Params): string {
  let out = '';
  for (const [key, value] of params) out += value === true ? `;${key}` : `;${key}=${serializeBareItem(value)}`;
  return out;
}

export function serializeItem(item: Item): string {
  return serializeBareItem(item.value) + serializeParams(item.params);
}

export function serializeInnerList(list: InnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParams(list.params)}`;
}

/** Look a parameter up by name. */
export function param(params: Params, name: string): BareItem | undefined {
  for (const [k, v] of params) if (k === name) return v;
  return undefined;
}
