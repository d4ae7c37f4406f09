import type { AAuthErrorCode, Challenge } from '@aauth-kit/core';
import { AAuthChallengeError } from '../aauth-challenge-error.js';

/** The most of a refusal's body the agent reads (a hostile resource must not balloon it). */
export const REFUSAL_MAX_BYTES = 64 * 1024;
/** How long the agent waits for a refusal's body (a hostile resource must not hang it). */
export const REFUSAL_TIMEOUT_MS = 3000;

/**
 * Read at most `maxBytes` of `stream` within `timeoutMs`, then cancel the rest. Never throws: a
 * transport error or the time limit keeps what arrived so far.
 */
export async function readBounded(stream: ReadableStream<Uint8Array> | null, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  if (stream === null) return new Uint8Array(0);
  let reader: ReadableStreamDefaultReader<Uint8Array>;
  try {
    reader = stream.getReader();
  } catch {
    return new Uint8Array(0); // already read or locked by someone else
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  let done = false;
  // Cancelling resolves the pending read with done: the loop ends with what it has.
  const timer = setTimeout(() => void reader.cancel().catch(() => undefined), timeoutMs);
  try {
    while (size < maxBytes) {
      const next = await reader.read();
      if (next.done) {
        done = true;
        break;
      }
      const part = next.value.byteLength > maxBytes - size ? next.value.subarray(0, maxBytes - size) : next.value;
      chunks.push(part);
      size += part.byteLength;
    }
  } catch {
    // The connection failed mid-body: keep what arrived.
  } finally {
    clearTimeout(timer);
    if (!done) await reader.cancel().catch(() => undefined);
  }
  return Buffer.concat(chunks);
}

/** A response with the same status and headers whose body is `bytes` (so callers can read it again). */
export function replayableResponse(response: Response, bytes: Uint8Array): Response {
  let copy: Response;
  try {
    copy = new Response(bytes.byteLength > 0 ? bytes : null, { status: response.status, statusText: response.statusText, headers: new Headers(response.headers) });
  } catch {
    return response; // a status Response cannot be built with (never a 401)
  }
  Object.defineProperty(copy, 'url', { value: response.url });
  Object.defineProperty(copy, 'redirected', { value: response.redirected });
  return copy;
}

/**
 * The error for a challenge the agent rejects: the resource's body is read (bounded in size and
 * time) so the message can carry the resource's own reason, and kept on the error.
 */
export async function challengeError(
  refused: { code: AAuthErrorCode; message: string; challenge: Challenge | undefined },
  response: Response,
): Promise<AAuthChallengeError> {
  const bytes = await readBounded(response.body, REFUSAL_MAX_BYTES, REFUSAL_TIMEOUT_MS);
  const body = bytes.byteLength > 0 ? new TextDecoder().decode(bytes) : undefined;
  return new AAuthChallengeError(refused.code, refused.message, { challenge: refused.challenge, response: replayableResponse(response, bytes), body });
}
