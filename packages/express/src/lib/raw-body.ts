import type { IncomingMessage } from 'node:http';
import { AAuthError } from '@aauth-kit/core';
import { announcesBody, bodyTimeoutError, DEFAULT_BODY_TIMEOUT_MS } from '@aauth-kit/core/internal';

const RAW_BODY = Symbol.for('aauth-kit.rawBody');

/** True once this module stored a body read on a request. */
let stored = false;

type WithRawBody = IncomingMessage & { [RAW_BODY]?: Buffer; rawBody?: unknown };

// The unread rest of the body stays on the socket: close the connection after the 413.
function tooLarge(maxBytes: number): AAuthError {
  return new AAuthError('body_too_large', `The request body is larger than ${maxBytes} bytes`, { headers: { Connection: 'close' } });
}


/**
 * False when {@link readRawBody} would answer an empty body without reading anything (no body
 * announced, none read before): the guard then skips the call and its await (issue 18).
 */
export function hasRawBodyToRead(req: IncomingMessage): boolean {
  // The body announced first: a property missing on an express request is a slow lookup (its
  // object shape is new on every request), and none was stored before a body was read (issue 18).
  return announcesBody(req) || (stored && (req as WithRawBody)[RAW_BODY] !== undefined);
}

/**
 * Read the raw request body (up to `maxBytes`, else 413 `body_too_large`; within `timeoutMs`, else
 * 408 `body_timeout`) so its Content-Digest
 * can be checked, then put the bytes back with `unshift` before the stream ends, so a body parser
 * mounted after the middleware (express.json(), express.raw(), ...) reads them as usual.
 */
export async function readRawBody(req: IncomingMessage, maxBytes: number, timeoutMs: number = DEFAULT_BODY_TIMEOUT_MS): Promise<Buffer> {
  const r = req as WithRawBody;
  const known = r[RAW_BODY];
  if (known) return known;
  if (!announcesBody(req)) return Buffer.alloc(0);
  const declared = Number(req.headers['content-length']);
  if (req.headers['content-length'] !== undefined && Number.isFinite(declared) && declared > maxBytes) {
    throw tooLarge(maxBytes);
  }
  if (req.readableEnded || (req.complete && !req.readable)) {
    // A body parser already consumed the stream: only a raw body it kept can be checked.
    if (Buffer.isBuffer(r.rawBody)) return r.rawBody;
    // The app's misuse (mount order), not the client's: a TypeError for the app's error handler, as for a bad option.
    throw new TypeError(
      'The request body was read before the AAuth middleware: mount require() before body parsers, ' +
        'or keep the raw bytes for it with the parser\'s verify hook: express.json({ verify: (req, _res, buf) => { req.rawBody = buf; } })',
    );
  }

  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    // A stalled or dripping body is cut at timeoutMs (408, the connection closed), not held until
    // node's own request timeout (300 s by default).
    const timer = setTimeout(() => {
      cleanup();
      req.pause();
      reject(bodyTimeoutError(timeoutMs));
    }, timeoutMs);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      req.removeListener('readable', onReadable);
      req.removeListener('error', onError);
      req.removeListener('aborted', onAborted);
      req.removeListener('close', onClose);
      req.removeListener('end', onEnd);
    };
    // A zero-length chunked body can end without another 'readable' event.
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks, total));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(new AAuthError('invalid_request', 'The request body could not be read', { cause: error }));
    };
    const onAborted = (): void => onError(new Error('aborted'));
    const onClose = (): void => {
      if (!req.complete) onError(new Error('closed before the body was complete'));
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = req.read() as Buffer | null) !== null) {
        total += chunk.length;
        if (total > maxBytes) {
          cleanup();
          // Stop reading; the response closes the connection (the rest of the body is unread).
          req.pause();
          reject(tooLarge(maxBytes));
          return;
        }
        chunks.push(chunk);
      }
      if (req.complete) {
        cleanup();
        const all = Buffer.concat(chunks, total);
        // Unshifting before 'end' is emitted keeps the stream readable for the next consumer.
        if (all.length > 0) req.unshift(all);
        resolve(all);
      }
    };
    req.on('readable', onReadable);
    req.on('error', onError);
    req.on('aborted', onAborted);
    req.on('close', onClose);
    req.on('end', onEnd);
  });
  stored = true;
  r[RAW_BODY] = body;
  return body;
}
