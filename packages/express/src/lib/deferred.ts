/**
 * -11 deferred delivery of `requirement=auth-token` (AAuth -11 "Deferred Delivery", RS-36): the
 * resource answers 202 and holds the call; the agent polls the pending URL with signed GETs and,
 * on the first poll presenting a valid auth token, the held call runs and its response is the
 * poll's. The result is kept until that auth token's `exp` and replayed for the same token.
 */
import { randomBytes } from 'node:crypto';
import { IncomingMessage, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { showValue } from '@aauth-kit/core/internal';
import type { AAuthInfo } from '../types.js';

/** Marks a re-dispatched held call: `require()` takes its `req.aauth` from here instead of verifying. Module-private. */
export const HELD = Symbol('aauth-kit.heldCall');

let dispatched = false;

/**
 * True once a held call was dispatched in this process: until then no request carries {@link HELD},
 * and `require()` does not look for it (issue 18: a property missing on an express request is a
 * slow lookup, its object shape being new on every request).
 */
export const anyHeld = (): boolean => dispatched;

/** A response as the held call produced it. */
export interface StoredResult {
  status: number;
  /** The reason phrase the response went out with. */
  statusMessage?: string;
  headers: Record<string, number | string | string[] | undefined>;
  body: Buffer;
  /** The body was larger than the run was allowed to keep: `body` is empty, and the result is not kept for a repeat. */
  tooLarge?: true;
}

/** What a route reads of the connection a call came on: the peer's address and whether it was TLS. */
export interface Peer {
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: string | undefined;
  encrypted: boolean;
}

/** The {@link Peer} of `req`'s connection. */
export function peerOf(req: IncomingMessage): Peer {
  const socket = req.socket as (Socket & { encrypted?: boolean }) | undefined;
  return { remoteAddress: socket?.remoteAddress, remotePort: socket?.remotePort, remoteFamily: socket?.remoteFamily, encrypted: socket?.encrypted === true };
}

/** The person a held call was made for: the `ps`, `sub` and `mission_s256` of its resource token. */
export interface HeldPerson {
  ps: string;
  sub: string;
  missionS256?: string;
}

/**
 * Why an auth token may not complete a call held for `person`, or undefined when it may: its `ps`
 * and `sub` are the person's (AAuth -11 "Auth Token": `sub` copied from the resource token, `ps` the
 * person's server) and its `mission_s256` the held call's (copied from the resource token; none when
 * it had none). Another person's token would run the call as someone it was not made for.
 */
export function heldPersonMismatch(person: HeldPerson, token: { subject?: string; claims: Record<string, unknown> }): string | undefined {
  const quote = (v: unknown): string => (typeof v === 'string' ? showValue(v, 80) : 'none');
  if (token.claims.ps !== person.ps) return `The auth token's ps ${quote(token.claims.ps)} is not the person server of the held call (${quote(person.ps)})`;
  if (token.subject !== person.sub) return `The auth token's sub ${quote(token.subject)} is not the person the held call was made for (${quote(person.sub)})`;
  const mission = typeof token.claims.mission_s256 === 'string' ? token.claims.mission_s256 : undefined;
  if (mission !== person.missionS256) return `The auth token's mission_s256 ${quote(mission)} is not the held call's (${quote(person.missionS256)})`;
  return undefined;
}

/**
 * The held-call tables of the resources in this process that serve pending URLs: several resources
 * on one app share `draft11.pendingPath` unless told otherwise, and each one's pending endpoint
 * passes on an id another one holds instead of answering 404 for it.
 */
const servingTables = new Set<WeakRef<PendingTable>>();

/** Note that `table`'s pending URLs are served (by `resource.pendingEndpoint()`). */
export function servePendingTable(table: PendingTable): void {
  for (const ref of servingTables) if (ref.deref() === table) return;
  servingTables.add(new WeakRef(table));
}

/** Whether a resource other than the one of `own` holds call `id` (a table no longer used is forgotten). */
export function heldElsewhere(own: PendingTable, id: string): boolean {
  for (const ref of servingTables) {
    const table = ref.deref();
    if (table === undefined) servingTables.delete(ref);
    else if (table !== own && table.get(id) !== undefined) return true;
  }
  return false;
}

/** A call held until an auth token arrives. */
export interface HeldCall {
  method: string;
  /** The path and query the call was made to. */
  url: string;
  headers: IncomingHttpHeaders;
  /** The header field lines as received (`req.rawHeaders`). */
  rawHeaders: string[];
  /** The HTTP version of the call (`req.httpVersion`). */
  httpVersion: string;
  /** The connection the call came on, as the route would have seen it (`req.ip`, `req.protocol`). */
  peer: Peer;
  body: Buffer;
  /** The key that made the call; only it may complete it. */
  thumbprint: string;
  /** The person (and mission) the call was made for; only an auth token naming them completes it. */
  person: HeldPerson;
  /** The scope the route needs. */
  scope: string[];
  /** The resource token of the challenge (re-sent while pending). */
  resourceToken: string;
  /** Epoch seconds: the pending request expires (the resource token's lifetime). */
  exp: number;
  /** Once executed: the result, the auth token's `jti`, and until when it is kept (`dropped`: its body was too large to keep). */
  result?: { response: StoredResult; jti: string; until: number; dropped?: boolean };
  /** Set when a poll starts running the call: concurrent polls wait for it, and it never runs twice. */
  running?: Promise<unknown>;
}

/**
 * A bounded table of held calls by unguessable id (AAuth -11 "Pending URL Security"), in number
 * (`maxEntries`) and in bytes (`maxBytes`: the held bodies and the kept responses). One key holds
 * at most a tenth of either: a key over its share loses its own oldest calls, so one caller cannot
 * push other agents' calls out; only a table full of many keys' calls drops the oldest overall.
 */
export class PendingTable {
  private readonly calls = new Map<string, HeldCall>();
  readonly perKey: number;
  readonly perKeyBytes: number;
  private bytes = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {
    this.perKey = Math.max(1, Math.ceil(maxEntries / 10));
    this.perKeyBytes = Math.max(1, Math.floor(maxBytes / 10));
  }

  /** Hold `call`: its id, or undefined when it alone (body and headers) is over one key's share of the bytes. */
  hold(call: HeldCall): string | undefined {
    this.sweep();
    const size = sizeOf(call);
    if (size > this.perKeyBytes) return undefined;
    // The key's own oldest calls make room for it first (count, then bytes).
    const own = [...this.calls].filter(([, held]) => held.thumbprint === call.thumbprint);
    let ownBytes = own.reduce((n, [, held]) => n + sizeOf(held), 0);
    for (let i = 0; i < own.length && (own.length - i >= this.perKey || ownBytes + size > this.perKeyBytes); i++) {
      ownBytes -= sizeOf(own[i]![1]);
      this.delete(own[i]![0]);
    }
    this.makeRoom(size, undefined);
    const id = randomBytes(32).toString('base64url');
    this.calls.set(id, call);
    this.bytes += size;
    return id;
  }

  /**
   * Keep the result of held call `id` (AAuth -11 RS-36: a repeated presentation of the same auth
   * token is answered from it). A response body over one key's share of the bytes is not kept:
   * the call is complete, and a repeat is told so (`result.dropped`).
   */
  keepResult(id: string, result: NonNullable<HeldCall['result']>): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    const before = sizeOf(call);
    const dropped = result.response.tooLarge === true || result.response.body.length > this.perKeyBytes;
    call.result = dropped ? { ...result, response: { ...result.response, body: Buffer.alloc(0) }, dropped: true } : result;
    // The held body and headers are no longer needed once the call ran.
    call.body = Buffer.alloc(0);
    call.headers = {};
    call.rawHeaders = [];
    const after = sizeOf(call);
    this.bytes += after - before;
    this.makeRoom(0, id);
  }

  /** Drop the oldest calls (never `keep`) until `size` more bytes and one more call fit. */
  private makeRoom(size: number, keep: string | undefined): void {
    for (const [oldest] of this.calls) {
      if (this.calls.size + (keep === undefined ? 1 : 0) <= this.maxEntries && this.bytes + size <= this.maxBytes) break;
      if (oldest !== keep) this.delete(oldest);
    }
  }

  /** How many calls are held (for tests and metrics). */
  get size(): number {
    return this.calls.size;
  }

  /** The bytes held: bodies of calls waiting, responses kept (for tests and metrics). */
  get heldBytes(): number {
    return this.bytes;
  }

  get(id: string): HeldCall | undefined {
    return this.calls.get(id);
  }

  delete(id: string): void {
    const call = this.calls.get(id);
    if (call === undefined) return;
    this.bytes -= sizeOf(call);
    this.calls.delete(id);
  }

  /** Drop what can no longer be asked for: expired and never executed, or executed and past its auth token's exp. */
  private sweep(): void {
    const now = this.now();
    for (const [id, call] of this.calls) {
      if (call.result ? call.result.until <= now : call.exp + 60 <= now) this.delete(id);
    }
  }
}

/**
 * The bytes a held call keeps: its body and header lines while it waits (the lines are kept twice:
 * `headers` and `rawHeaders`), its response body once it ran.
 */
export function sizeOf(call: HeldCall): number {
  let headerBytes = 0;
  for (const line of call.rawHeaders) headerBytes += 2 * line.length;
  return call.body.length + headerBytes + (call.result?.response.body.length ?? 0);
}

/** An express app's entry point (`app.handle`), as the pending endpoint re-dispatches through it. */
export interface Dispatcher {
  handle(req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void): void;
}

/**
 * Run `call` through `app` as a fresh request carrying its original method, URL, headers and body,
 * with `req.aauth` = `info`, answering on `res`; resolves with the response it produced. At most
 * `maxKeep` bytes of its body are buffered for the stored result: a larger response still goes out
 * in full, but is not kept (`tooLarge`), so a large or streamed response is not held in memory.
 */
export function dispatchHeld(app: Dispatcher, call: HeldCall, res: ServerResponse, info: AAuthInfo, maxKeep = Infinity): Promise<StoredResult> {
  // The route sees the connection of the original call (req.ip, req.protocol), not a blank one.
  const socket = new Socket();
  for (const [name, value] of Object.entries(call.peer)) Object.defineProperty(socket, name, { value, enumerable: true });
  const req = new IncomingMessage(socket);
  req.method = call.method;
  req.url = call.url;
  req.headers = { ...call.headers };
  req.rawHeaders = [...call.rawHeaders];
  req.httpVersion = call.httpVersion;
  [req.httpVersionMajor, req.httpVersionMinor] = call.httpVersion.split('.').map(Number) as [number, number];
  if (call.body.length > 0) req.push(call.body);
  req.push(null);
  dispatched = true;
  (req as IncomingMessage & { [HELD]?: AAuthInfo })[HELD] = info;

  let chunks: Buffer[] = [];
  let kept = 0;
  let tooLarge = false;
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const keep = (chunk: unknown, encoding?: unknown): void => {
    if (tooLarge || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    kept += bytes.length;
    if (kept > maxKeep) {
      tooLarge = true;
      chunks = [];
      return;
    }
    chunks.push(bytes);
  };
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as ServerResponse['write'];
  // Header fields given to writeHead() alone are written without being stored on the response
  // (getHeaders() does not list them): they are kept from the call, for a repeat to send them too.
  const written: Record<string, string | string[]> = {};
  const writeHead = res.writeHead.bind(res);
  res.writeHead = ((statusCode: number, ...rest: unknown[]) => {
    const fields = rest.find((arg) => typeof arg === 'object' && arg !== null);
    const add = (name: unknown, value: unknown): void => {
      if (value === undefined || value === null) return;
      const key = String(name).toLowerCase();
      const values = (Array.isArray(value) ? value : [value]).map(String);
      const before = written[key];
      written[key] = before === undefined ? (values.length === 1 ? values[0]! : values) : [...(Array.isArray(before) ? before : [before]), ...values];
    };
    if (Array.isArray(fields)) for (let i = 0; i + 1 < fields.length; i += 2) add(fields[i], fields[i + 1]);
    else if (fields !== undefined) for (const [name, value] of Object.entries(fields as Record<string, unknown>)) add(name, value);
    return (writeHead as (...a: unknown[]) => ServerResponse)(statusCode, ...rest);
  }) as ServerResponse['writeHead'];
  let ended: ((result: StoredResult) => void) | undefined;
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    // The response is complete once the app ends it, whether or not the poll's connection is still
    // there to carry it: a poll whose connection dropped while the call ran never sees 'finish',
    // and the agent's repeat with the same auth token is to be answered from this result.
    ended?.({ status: res.statusCode, statusMessage: res.statusMessage, headers: { ...res.getHeaders(), ...written }, ...(tooLarge ? { body: Buffer.alloc(0), tooLarge: true as const } : { body: Buffer.concat(chunks) }) });
    ended = undefined;
    return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as ServerResponse['end'];

  return new Promise<StoredResult>((resolve, reject) => {
    ended = resolve;
    res.once('error', reject);
    app.handle(req, res, (error?: unknown) => {
      if (res.headersSent) {
        // A route that failed (or gave up) after its answer began: as express's final handler does
        // without deferral, the connection is closed; the run has no result, and no poll waits on it.
        if (!res.writableEnded) {
          res.destroy();
          reject(error ?? new Error('The held call did not finish its response'));
        }
        return;
      }
      // Nothing answered the held call: the app's routes changed under it, or its route failed.
      res.statusCode = error === undefined ? 404 : 500;
      res.setHeader('Content-Type', 'application/problem+json');
      // An error no handler of the app answered is the route's failure, not a missing route.
      const detail = error === undefined ? 'The held call found no route' : 'The held call failed in the app, and no error handler answered it';
      res.end(JSON.stringify({ error: error === undefined ? 'not_found' : 'server_error', detail, status: res.statusCode }));
    });
  });
}

/** Send a stored result again (a repeated presentation of the same auth token). */
export function replayResult(res: ServerResponse, result: StoredResult): void {
  res.statusCode = result.status;
  if (result.statusMessage !== undefined) res.statusMessage = result.statusMessage;
  for (const [name, value] of Object.entries(result.headers)) if (value !== undefined) res.setHeader(name, value);
  res.end(result.body);
}
