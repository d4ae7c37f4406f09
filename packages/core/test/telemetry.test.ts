import * as api from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/index.js';
import { callId, createTelemetry, loadOpenTelemetry, type OtelApi } from '../src/internal.js';

// The telemetry module (issue 19): no-op without @opentelemetry/api, the API's no-op tracer
// without an SDK (no SDK is registered in this file), and the call id.

/** A recording span that writes every call made on it to `calls`. */
function recordingSpan(calls: unknown[][]) {
  return {
    isRecording: () => true,
    setAttributes: (a: unknown) => calls.push(['attributes', a]),
    addEvent: (name: string, a: unknown) => calls.push(['event', name, a]),
    setStatus: (s: unknown) => calls.push(['status', s]),
    recordException: (e: unknown) => calls.push(['exception', e]),
    end: () => calls.push(['end']),
  };
}

describe('callId', () => {
  it('is base64url(SHA-256) of the Signature header value, unpadded', () => {
    expect(callId('sig=:dGVzdA==:')).toBe('arws1-mq8MI-AuJ_rd5XpM24S5gFa8OFuI3E9r4NOjc');
    expect(callId('sig=:dGVzdA==:')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(callId('sig=:dGVzdB==:')).not.toBe(callId('sig=:dGVzdA==:'));
  });
});

describe('without @opentelemetry/api', () => {
  it('loadOpenTelemetry answers null when the module cannot be resolved, or is not the 1.x API', () => {
    expect(
      loadOpenTelemetry(() => {
        throw Object.assign(new Error("Cannot find module '@opentelemetry/api'"), { code: 'MODULE_NOT_FOUND' });
      }),
    ).toBeNull();
    expect(loadOpenTelemetry(() => ({}))).toBeNull();
    expect(loadOpenTelemetry(() => ({ trace: {}, context: {}, propagation: {} }))).toBeNull();
    // The CommonJS build the kit requires; it shares the registered globals with the ESM one.
    expect(typeof loadOpenTelemetry()?.trace.getTracer).toBe('function');
    expect(loadOpenTelemetry()?.trace.getActiveSpan()).toBe(api.trace.getActiveSpan());
  });

  it('span runs the function with a no-op span, sync and async, and passes errors through', async () => {
    const off = createTelemetry('@aauth-kit/test', '0.0.0', {}, () => null);
    expect(off.span('x', 'client', {}, (span) => [span.recording, 1])).toEqual([false, 1]);
    await expect(off.span('x', 'client', {}, async () => 2)).resolves.toBe(2);
    const error = new AAuthError('token_expired', 'no');
    await expect(off.span('x', 'client', {}, async () => Promise.reject(error))).rejects.toBe(error);
    expect(off.active().recording).toBe(false);
    const headers: Record<string, string> = {};
    off.inject(headers);
    expect(headers).toEqual({});
  });
});

describe('with the API and no SDK', () => {
  it('spans do not record and inject adds nothing (the API no-op tracer and propagator)', async () => {
    const telemetry = createTelemetry('@aauth-kit/test', '0.0.0');
    const seen = await telemetry.span('aauth.call', 'client', { 'aauth.scheme': 'jwt', 'aauth.scope': undefined }, async (span) => {
      span.set({ 'aauth.call_id': 'x' });
      span.event('aauth.retry');
      span.refuse('invalid_signature');
      const headers: Record<string, string> = {};
      telemetry.inject(headers);
      return { recording: span.recording, headers };
    });
    expect(seen).toEqual({ recording: false, headers: {} });
  });

  it('a recording span gets attributes, events, and the error code of what was thrown through it', () => {
    const calls: unknown[][] = [];
    let provider: unknown = {};
    let active: typeof span | undefined;
    const span = recordingSpan(calls);
    const noop = {};
    const fake: OtelApi = {
      ProxyTracerProvider: class {
        getDelegate = () => noop;
      },
      trace: {
        getTracerProvider: () => ({ getDelegate: () => provider }),
        getTracer: (name, version) => {
          calls.push(['tracer', name, version]);
          return { startActiveSpan: ((n: string, o: unknown, _parent: unknown, fn: (s: typeof span) => unknown) => (calls.push(['start', n, o]), fn(span))) as never };
        },
        getActiveSpan: () => active,
      },
      context: { active: () => undefined, with: (_c, fn) => fn() },
      propagation: { inject: (_c, carrier) => void (carrier.traceparent = '00-a-b-01'), extract: (c) => c },
    };
    const telemetry = createTelemetry('@aauth-kit/agent', '1.2.3', {}, () => fake);
    expect(() =>
      telemetry.span('aauth.call', 'client', { 'aauth.scope': 'a', 'aauth.resource': undefined }, (s) => {
        s.event('aauth.retry', { 'url.full': 'u' });
        throw new AAuthError('token_expired', 'expired');
      }),
    ).toThrow('expired');
    expect(calls).toEqual([
      ['tracer', '@aauth-kit/agent', '1.2.3'],
      ['start', 'aauth.call', { kind: 2, attributes: { 'aauth.scope': 'a' } }],
      ['event', 'aauth.retry', { 'url.full': 'u' }],
      ['attributes', { 'aauth.error_code': 'token_expired' }],
      ['exception', { name: 'AAuthError', message: 'expired' }],
      ['status', { code: 2, message: 'expired' }],
      ['end'],
    ]);
    // The kit started `span`: active() hands it out; the application's own spans are left alone.
    active = span;
    expect(telemetry.active().recording).toBe(true);
    active = { ...span };
    expect(telemetry.active().recording).toBe(false);
    const headers: Record<string, string> = {};
    telemetry.inject(headers);
    expect(headers).toEqual({ traceparent: '00-a-b-01' });
    // No SDK registered (the provider's delegate is the API's no-op one): no span is started.
    provider = noop;
    calls.length = 0;
    expect(telemetry.span('aauth.call', 'client', {}, (s) => s.recording)).toBe(false);
    expect(calls).toEqual([]);
  });

  it('open(): a span left open, each piece run inside its context, ended once (failed by an error)', () => {
    const calls: unknown[][] = [];
    const span = recordingSpan(calls);
    let current: unknown = 'root';
    const fake: OtelApi = {
      ProxyTracerProvider: class {
        getDelegate = () => ({});
      },
      trace: {
        getTracerProvider: () => ({ getDelegate: () => 'sdk' }),
        getTracer: () => ({
          startActiveSpan: ((n: string, o: unknown, parent: unknown, fn: (s: typeof span) => unknown) => {
            calls.push(['start', n, o, parent]);
            const before = current;
            current = `in:${n}`;
            try {
              return fn(span);
            } finally {
              current = before;
            }
          }) as never,
        }),
        getActiveSpan: () => undefined,
      },
      context: {
        active: () => current,
        with: (c, fn) => {
          const before = current;
          current = c;
          try {
            return fn();
          } finally {
            current = before;
          }
        },
      },
      propagation: { inject: () => undefined, extract: (c) => c },
    };
    const telemetry = createTelemetry('@aauth-kit/agent', '1.2.3', {}, () => fake);
    const opened = telemetry.open('aauth.call', 'client', { 'http.request.method': 'GET', 'aauth.scope': undefined });
    expect(calls).toEqual([['start', 'aauth.call', { kind: 2, attributes: { 'http.request.method': 'GET' } }, 'root']]);
    // Not ended when startActiveSpan's callback returned; each piece sees the span's context.
    expect(current).toBe('root');
    expect(opened.within(() => current)).toBe('in:aauth.call');
    expect(current).toBe('root');
    opened.handle.set({ 'http.response.status_code': 401 });
    opened.end(new AAuthError('token_expired', 'no'));
    opened.end();
    opened.end(new Error('again'));
    expect(calls.slice(1)).toEqual([
      ['attributes', { 'http.response.status_code': 401 }],
      ['attributes', { 'aauth.error_code': 'token_expired' }],
      ['exception', { name: 'AAuthError', message: 'no' }],
      ['status', { code: 2, message: 'no' }],
      ['end'],
    ]);
    // Off: a no-op that still runs the pieces.
    const off = createTelemetry('@aauth-kit/test', '0.0.0', { enabled: false }).open('x', 'client', {});
    expect(off.handle.recording).toBe(false);
    expect(off.within(() => 7)).toBe(7);
    off.end(new Error('ignored'));
  });

  it('options are checked: enabled false is off, recordSubject defaults to false', () => {
    expect(createTelemetry('a', '1', { enabled: false }, () => {
      throw new Error('not loaded when off');
    }).span('x', 'internal', {}, (s) => s.recording)).toBe(false);
    expect(createTelemetry('a', '1').recordSubject).toBe(false);
    expect(createTelemetry('a', '1', { recordSubject: true }).recordSubject).toBe(true);
    expect(() => createTelemetry('a', '1', { recordSubject: 'yes' as never })).toThrow('options.telemetry.recordSubject must be a boolean');
  });
});
