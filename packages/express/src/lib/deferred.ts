/**
 * -11 deferred delivery of `requirement=auth-token` (AAuth -11 "Deferred Delivery", RS-36): the
 * resource answers 202 and holds the call; the agent polls the pending URL with signed GETs and,
 * on the first poll presenting a valid auth token, the held call runs and its response is the
 * poll's. The result is kept until that auth token's `exp` and replayed for the same token.
 */
import { randomBytes } from 'node:crypto';
import { IncomingMessage, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import { Socket } from 'node:net';
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
  headers: Record<string, number | string | string[] | undefined>;
  body: Buffer;
}

/** A call held until an auth token arrives. */
export interface HeldCall {
  method: string;
  /** The path and query the call was made to. */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** The key that made the call; only it may complete it. */
  thumbprint: string;
  /** The scope the route needs. */
  scope: string[];
  /** The resource token of the challenge (re-sent while pending). */
  resourceToken: string;
  /** Epoch seconds: the pending request expires (the resource token's lifetime). */
  exp: number;
  /** Once executed: the result, the auth token's `jti`, and until when it is kept. */
  result?: { response: StoredResult; jti: string; until: number };
  /** Set when a poll starts running the call: concurrent polls wait for it, and it never runs twice. */
  running?: Promise<unknown>;
}

/**
 * A bounded table of held calls by unguessable id (AAuth -11 "Pending URL Security"). One key holds
 * at most a tenth of it (`perKey`): a key over its share loses its own oldest call, so one caller
 * cannot push other agents' calls out; only a full table of many keys evicts the oldest overall.
 */
export class PendingTable {
  private readonly calls = new Map<string, HeldCall>();
  readonly perKey: number;

  constructor(
    private readonly maxEntries: number,
    private readonly now: () => number,
  ) {
    this.perKey = Math.max(1, Math.ceil(maxEntries / 10));
  }

  hold(call: HeldCall): string {
    this.sweep();
    const id = randomBytes(32).toString('base64url');
    let own = 0;
    let oldestOwn: string | undefined;
    for (const [key, held] of this.calls) {
      if (held.thumbprint !== call.thumbprint) continue;
      own++;
      oldestOwn ??= key;
    }
    if (own >= this.perKey && oldestOwn !== undefined) this.calls.delete(oldestOwn);
    else if (this.calls.size >= this.maxEntries) this.calls.delete(this.calls.keys().next().value!);
    this.calls.set(id, call);
    return id;
  }

  /** How many calls are held (for tests and metrics). */
  get size(): number {
    return this.calls.size;
  }

  get(id: string): HeldCall | undefined {
    return this.calls.get(id);
  }

  delete(id: string): void {
    this.calls.delete(id);
  }

  /** Drop what can no longer be asked for: expired and never executed, or executed and past its auth token's exp. */
  private sweep(): void {
    const now = this.now();
    for (const [id, call] of this.calls) {
      if (call.result ? call.result.until <= now : call.exp + 60 <= now) this.calls.delete(id);
    }
  }
}

/** An express app's entry point (`app.handle`), as the pending endpoint re-dispatches through it. */
export interface Dispatcher {
  handle(req: IncomingMessage, res: ServerResponse, done: (error?: unknown) => void): void;
}

/**
 * Run `call` through `app` as a fresh request carrying its original method, URL, headers and body,
 * with `req.aauth` = `info`, answering on `res`; resolves with the response it produced.
 */
export function dispatchHeld(app: Dispatcher, call: HeldCall, res: ServerResponse, info: AAuthInfo): Promise<StoredResult> {
  const req = new IncomingMessage(new Socket());
  req.method = call.method;
  req.url = call.url;
  req.headers = { ...call.headers };
  if (call.body.length > 0) req.push(call.body);
  req.push(null);
  dispatched = true;
  (req as IncomingMessage & { [HELD]?: AAuthInfo })[HELD] = info;

  const chunks: Buffer[] = [];
  const write = res.write.bind(res);
  const end = res.end.bind(res);
  const keep = (chunk: unknown, encoding?: unknown): void => {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8'));
  };
  res.write = ((chunk: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as ServerResponse['write'];
  res.end = ((chunk?: unknown, ...rest: unknown[]) => {
    keep(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse)(chunk, ...rest);
  }) as ServerResponse['end'];

  return new Promise<StoredResult>((resolve, reject) => {
    res.once('finish', () => resolve({ status: res.statusCode, headers: res.getHeaders(), body: Buffer.concat(chunks) }));
    res.once('error', reject);
    app.handle(req, res, (error?: unknown) => {
      if (res.headersSent) return;
      // Nothing answered the held call: the app's routes changed under it.
      res.statusCode = error === undefined ? 404 : 500;
      res.setHeader('Content-Type', 'application/problem+json');
      res.end(JSON.stringify({ error: error === undefined ? 'not_found' : 'server_error', detail: 'The held call found no route', status: res.statusCode }));
    });
  });
}

/** Send a stored result again (a repeated presentation of the same auth token). */
export function replayResult(res: ServerResponse, result: StoredResult): void {
  res.statusCode = result.status;
  for (const [name, value] of Object.entries(result.headers)) if (value !== undefined) res.setHeader(name, value);
  res.end(result.body);
}
