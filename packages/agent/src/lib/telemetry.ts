import { decodeToken } from '@aauth-kit/core';
import { callId, createTelemetry, type SpanHandle, type Telemetry, TELEMETRY_ATTRIBUTES as A, type TelemetryOptions } from '@aauth-kit/core/internal';
import type { AgentEvent } from '../types.js';
import { VERSION } from './version.js';

// The agent's spans (issue 19, docs/telemetry.md): `aauth.call` around agent.fetch,
// `aauth.sign` per signed request, `aauth.token_request` per flight to an auth or person server;
// the agent's events become span events of the span active when they happen.

/** The agent's tracer, `@aauth-kit/agent`. */
export function agentTelemetry(options: TelemetryOptions | undefined): Telemetry {
  return createTelemetry('@aauth-kit/agent', VERSION, options);
}

/**
 * Sign one request inside an `aauth.sign` span: its `aauth.call_id` goes on that span and on the
 * enclosing one (the call, or the token request); then the active context's `traceparent` is
 * added, outside the covered components, so a proxy may rewrite it (docs/telemetry.md).
 */
export function signTraced(telemetry: Telemetry, scheme: string, sign: () => Record<string, string>): Record<string, string> {
  const parent = telemetry.active();
  const headers = telemetry.span('aauth.sign', 'internal', { [A.scheme]: scheme }, (span) => {
    const signed = sign();
    const signature = signed.signature;
    if ((span.recording || parent.recording) && signature !== undefined) {
      const id = { [A.callId]: callId(signature) };
      span.set(id);
      parent.set({ ...id, [A.scheme]: scheme });
    }
    return signed;
  });
  telemetry.inject(headers);
  return headers;
}

/**
 * One request of a token flight on its `aauth.token_request` span: the first names the endpoint, a
 * later one is a poll (an event); `send` signs and sends it; the answer's status is recorded.
 * `requests` counts the requests made before this one.
 */
export async function traceTokenRequest<E extends { status?: number }>(span: SpanHandle, requests: number, url: URL, send: () => Promise<E>): Promise<E> {
  if (requests === 0) span.set({ [A.url]: `${url.origin}${url.pathname}`, [A.serverAddress]: url.hostname });
  else span.event('aauth.interaction.poll', { [A.polls]: requests });
  const event = await send();
  span.set({ [A.httpStatus]: event.status, ...(requests > 0 ? { [A.polls]: requests, [A.interactionStatus]: event.status } : {}) });
  return event;
}

/** What the span of a token request records about the token it got: its `jti`, and `sub` only when configured. */
export function recordIssued(telemetry: Telemetry, span: SpanHandle, token: string): void {
  if (!span.recording) return;
  let claims: Record<string, unknown>;
  try {
    claims = decodeToken(token).claims;
  } catch {
    return;
  }
  span.set({
    [A.outcome]: 'issued',
    [A.tokenJti]: typeof claims.jti === 'string' ? claims.jti : undefined,
    [A.subject]: telemetry.recordSubject && typeof claims.sub === 'string' ? claims.sub : undefined,
  });
}

/** The agent's events on the active span (the call, or the token request under way). */
export function traceEvent(telemetry: Telemetry, event: AgentEvent): void {
  if (event.type === 'signed') return; // the `aauth.sign` span says it
  const span = telemetry.active();
  if (!span.recording) return;
  switch (event.type) {
    case 'challenged':
      span.set({ [A.resource]: event.resource });
      span.event('aauth.challenge', { [A.require]: event.require, [A.resource]: event.resource, [A.authServer]: event.authServer, [A.scope]: event.scope });
      return;
    case 'exchanged':
      span.event(event.cached ? 'aauth.token.cached' : 'aauth.token.issued', { [A.resource]: event.resource, [A.authServer]: event.authServer, [A.scope]: event.scope });
      return;
    case 'refreshed':
      span.event('aauth.token.refreshed', { [A.resource]: event.resource, [A.authServer]: event.authServer, [A.scope]: event.scope });
      return;
    case 'refresh_failed':
      span.event('aauth.token.refresh_failed', { [A.resource]: event.resource, [A.authServer]: event.authServer, [A.errorCode]: event.code });
      return;
    case 'interaction':
      // Not the URL or the code: they let whoever reads the trace approve in the person's place.
      span.event('aauth.interaction', { [A.authServer]: event.authServer });
      return;
    case 'clarification':
      // Not the question: the person's words, which the trace has no need of.
      span.event('aauth.clarification', { [A.authServer]: event.authServer });
      return;
    case 'retried':
      span.event('aauth.retry', { [A.url]: event.url, [A.httpMethod]: event.method });
      return;
    case 'failed':
      span.refuse(event.code, event.message);
      return;
  }
}
