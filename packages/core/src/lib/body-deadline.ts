import type { IncomingMessage, ServerResponse } from 'node:http';
import { AAuthError } from '../errors.js';

/** The default time a request has to deliver its whole body, in ms. */
export const DEFAULT_BODY_TIMEOUT_MS = 30_000;

/** True when a request announces a body (a length above 0, or chunked). */
export function announcesBody(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return true;
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0';
}

/**
 * 408 `body_timeout`: the body did not arrive within `ms`. It carries `Connection: close`, so node
 * closes the connection once the answer is out instead of waiting for the rest of a slow body.
 */
export function bodyTimeoutError(ms: number): AAuthError {
  const seconds = Math.round(ms / 100) / 10;
  return new AAuthError('body_timeout', `The request body did not arrive within ${seconds} s: send it at once, or raise the server's bodyTimeoutMs`, {
    headers: { Connection: 'close' },
  });
}

/**
 * Middleware that gives a request announcing a body `ms` to deliver it (a slow or stalled body,
 * one byte now and then, would otherwise hold its connection and the parser's buffer until
 * node's own request timeout, 300 s by default); past it `answer` sends {@link bodyTimeoutError}
 * and the connection closes. The clock stops when the body has been read, the request is gone, or
 * an answer went out.
 */
export function bodyDeadline(ms: number, answer: (res: ServerResponse, error: AAuthError) => void) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void): void => {
    if (!announcesBody(req) || req.readableEnded) {
      next();
      return;
    }
    const timer = setTimeout(() => {
      if (!res.headersSent) answer(res, bodyTimeoutError(ms));
    }, ms);
    timer.unref();
    const stop = (): void => clearTimeout(timer);
    req.once('end', stop);
    req.once('close', stop);
    res.once('finish', stop);
    next();
  };
}
