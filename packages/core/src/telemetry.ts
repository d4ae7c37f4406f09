import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { isPromiseLike } from './lib/promise-like.js';

// OpenTelemetry for the kit's packages (issue 19), through `@opentelemetry/api`, an optional peer
// dependency: resolved once, lazily; without it every call here is a no-op, and with it but no
// SDK the API's own no-op tracer answers. The kit never reads a token into an attribute, and
// records a `sub` only when the application asks (`recordSubject`). Names: docs/telemetry.md.

/** Attribute names of the kit's spans (docs/telemetry.md lists which span carries which). */
export const TELEMETRY_ATTRIBUTES = {
  generation: 'aauth.generation',
  scheme: 'aauth.scheme',
  agent: 'aauth.agent',
  resource: 'aauth.resource',
  scope: 'aauth.scope',
  errorCode: 'aauth.error_code',
  tokenJti: 'aauth.token.jti',
  callId: 'aauth.call_id',
  subject: 'aauth.subject',
  authServer: 'aauth.auth_server',
  endpoint: 'aauth.endpoint',
  outcome: 'aauth.outcome',
  require: 'aauth.require',
  polls: 'aauth.interaction.polls',
  interactionStatus: 'aauth.interaction.status',
  httpMethod: 'http.request.method',
  httpStatus: 'http.response.status_code',
  url: 'url.full',
  serverAddress: 'server.address',
  scopeRequested: 'aauth.scope.requested',
  chain: 'aauth.chain',
  policyDecision: 'aauth.policy.decision',
  policyReason: 'aauth.policy.reason',
  upstreamJti: 'aauth.upstream.jti',
} as const;

export type TelemetryAttributes = Record<string, string | number | boolean | undefined>;

/** What an application may set about the kit's telemetry (`options.telemetry` of a factory). */
export interface TelemetryOptions {
  /** Emit spans when `@opentelemetry/api` is installed. Default true. */
  enabled?: boolean | undefined;
  /** Record a token's raw `sub` as `aauth.subject`. Default false: no subject is recorded. */
  recordSubject?: boolean | undefined;
}

/** One span as the kit's code sees it; a no-op one when telemetry is off. */
export interface SpanHandle {
  /** False for a no-op or non-sampled span: skip work done only for attributes (hashes, decoding). */
  readonly recording: boolean;
  set(attributes: TelemetryAttributes): void;
  event(name: string, attributes?: TelemetryAttributes): void;
  /** Mark the span failed with the kit's error code (a refusal, or an error thrown through it). */
  refuse(code: string, message?: string): void;
}

export type SpanKindName = 'client' | 'server' | 'internal';

/**
 * A received request's headers (node's `IncomingHttpHeaders`): a server span given them continues
 * the caller's trace from its W3C `traceparent`, unless a server span is already active (the
 * application's HTTP instrumentation extracted it: the kit's span is then its child).
 */
export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The tracer of one package, and what the kit's code calls. */
export interface Telemetry {
  readonly recordSubject: boolean;
  /**
   * Run `fn` inside a new active span `name` and end the span when it returns or settles; an
   * error thrown through it sets the span's status (and `aauth.error_code` for an AAuthError).
   */
  span<T>(name: string, kind: SpanKindName, attributes: TelemetryAttributes, fn: (span: SpanHandle) => T, incoming?: IncomingHeaders): T;
  /** True when a span would be started (enabled, the API installed, an SDK registered): check it before per-request work done only for tracing. */
  live(): boolean;
  /** The active span if the kit started it (a no-op handle otherwise: the application's spans are not the kit's to change). */
  active(): SpanHandle;
  /** Add the active context's W3C `traceparent` (and `tracestate`) to outgoing request headers. */
  inject(headers: Record<string, string>): void;
  /**
   * Start span `name` as a child of the active context and leave it open, for work that runs in
   * pieces the kit does not call in one function (got's hooks): `within` runs each piece with the
   * span active, `end` ends it (once).
   */
  open(name: string, kind: SpanKindName, attributes: TelemetryAttributes): OpenSpan;
}

/** A span started by {@link Telemetry.open}, ended by its `end`. */
export interface OpenSpan {
  readonly handle: SpanHandle;
  /** Run `fn` with this span as the active one: its spans are children, its requests carry its `traceparent`. */
  within<T>(fn: () => T): T;
  /** End the span; an error marks it failed (as an error thrown through `span()` does). Later calls do nothing. */
  end(error?: unknown): void;
}

// The subset of @opentelemetry/api 1.x the kit uses, typed here so the kit's declarations do not
// name a package the application may not have.
interface OtelSpan {
  isRecording(): boolean;
  setAttributes(attributes: Record<string, string | number | boolean>): unknown;
  addEvent(name: string, attributes?: Record<string, string | number | boolean>): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  recordException(exception: { name: string; message: string }): void;
  end(): void;
}
export interface OtelApi {
  trace: {
    getTracer(name: string, version?: string): {
      startActiveSpan<F extends (span: OtelSpan) => unknown>(name: string, options: { kind: number; attributes: Record<string, string | number | boolean> }, fn: F): ReturnType<F>;
      startActiveSpan<F extends (span: OtelSpan) => unknown>(name: string, options: { kind: number; attributes: Record<string, string | number | boolean> }, context: unknown, fn: F): ReturnType<F>;
    };
    getActiveSpan(): OtelSpan | undefined;
    getTracerProvider(): { getDelegate?(): unknown };
  };
  ProxyTracerProvider: new () => { getDelegate(): unknown };
  context: { active(): unknown; with<T>(context: unknown, fn: () => T): T };
  propagation: { inject(context: unknown, carrier: Record<string, string>): void; extract(context: unknown, carrier: IncomingHeaders): unknown };
}

const SPAN_KIND = { internal: 0, server: 1, client: 2 } as const;
const STATUS_ERROR = 2;

/**
 * Resolve `@opentelemetry/api` with `load` (default: this module's require); null when it is
 * absent or not the 1.x API. The kit calls it once per process.
 */
export function loadOpenTelemetry(load: (id: string) => unknown = createRequire(import.meta.url)): OtelApi | null {
  try {
    const api = load('@opentelemetry/api') as Partial<OtelApi>;
    const complete = api.trace !== undefined && api.context !== undefined && api.propagation !== undefined && typeof api.ProxyTracerProvider === 'function';
    return complete ? (api as OtelApi) : null;
  } catch {
    return null;
  }
}

/**
 * Where every 1.x copy of `@opentelemetry/api` keeps what an application registered (a tracer
 * provider, a context manager, a propagator, a logger): the API creates it on the first registration.
 */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

let loaded: OtelApi | null | undefined;
/**
 * The API, loaded once, and not before something is registered with it: until then every API
 * call answers its no-ops (no SDK: spans neither record nor change the context; no propagator: no
 * headers), which is what `null` makes the kit do. Loading the API for nothing was ~8 ms of a
 * resource's first request (issue 18, cold start).
 */
function loadOnce(): OtelApi | null {
  if (loaded !== undefined) return loaded;
  if ((globalThis as Record<symbol, unknown>)[OTEL_GLOBAL] === undefined) return null;
  return (loaded = loadOpenTelemetry());
}

/** Spans the kit started (any package): `active()` hands out only these. */
const OURS = new WeakSet<OtelSpan>();

const NOOP: SpanHandle = Object.freeze({ recording: false, set: () => undefined, event: () => undefined, refuse: () => undefined });

/** Drop undefined values (OpenTelemetry ignores them with a warning). */
function defined(attributes: TelemetryAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

function handleOf(span: OtelSpan): SpanHandle {
  if (!span.isRecording()) return NOOP;
  return {
    recording: true,
    set: (attributes) => void span.setAttributes(defined(attributes)),
    event: (name, attributes) => void span.addEvent(name, attributes === undefined ? undefined : defined(attributes)),
    refuse(code, message) {
      span.setAttributes({ [TELEMETRY_ATTRIBUTES.errorCode]: code });
      span.setStatus({ code: STATUS_ERROR, message: message ?? code });
    },
  };
}

function fail(span: OtelSpan, error: unknown): void {
  const code = typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : undefined;
  const name = error instanceof Error ? error.name : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  if (code !== undefined) span.setAttributes({ [TELEMETRY_ATTRIBUTES.errorCode]: code });
  // Name and message only: the kit's messages carry no tokens (they are redacted where they quote a server).
  span.recordException({ name, message });
  span.setStatus({ code: STATUS_ERROR, message });
}

const NOOP_OPEN: OpenSpan = Object.freeze({ handle: NOOP, within: <T>(fn: () => T): T => fn(), end: () => undefined });

const OFF: Telemetry = Object.freeze({
  open: () => NOOP_OPEN,
  recordSubject: false,
  span: <T>(_name: string, _kind: SpanKindName, _attributes: TelemetryAttributes, fn: (span: SpanHandle) => T): T => fn(NOOP),
  active: () => NOOP,
  inject: () => undefined,
  live: () => false,
});

/**
 * The telemetry of one package: tracer `@aauth-kit/<pkg>` at `version`. Off (no-op) when
 * `options.enabled` is false or `@opentelemetry/api` is not installed (`resolveApi`, a seam for
 * tests, finds it).
 */
export function createTelemetry(name: string, version: string, options: TelemetryOptions = {}, resolveApi: () => OtelApi | null = loadOnce): Telemetry {
  if (typeof options !== 'object' || options === null) throw new TypeError('options.telemetry must be an object');
  for (const key of Object.keys(options)) {
    if (key !== 'enabled' && key !== 'recordSubject') throw new TypeError(`options.telemetry.${key} is not an option (enabled, recordSubject)`);
  }
  if (options.enabled !== undefined && typeof options.enabled !== 'boolean') throw new TypeError('options.telemetry.enabled must be a boolean');
  if (options.recordSubject !== undefined && typeof options.recordSubject !== 'boolean') throw new TypeError('options.telemetry.recordSubject must be a boolean');
  const recordSubject = options.recordSubject === true;
  if (options.enabled === false) return recordSubject ? { ...OFF, recordSubject } : OFF;
  let tracer: ReturnType<OtelApi['trace']['getTracer']> | undefined;
  let noopProvider: unknown;
  /** No SDK registered (the API's own no-op provider answers): a span would neither record nor change the context. */
  const idle = (api: OtelApi): boolean => {
    noopProvider ??= new api.ProxyTracerProvider().getDelegate();
    return api.trace.getTracerProvider().getDelegate?.() === noopProvider;
  };
  return {
    recordSubject,
    span(spanName, kind, attributes, fn, incoming) {
      const api = resolveApi();
      if (api === null || idle(api)) return fn(NOOP);
      tracer ??= api.trace.getTracer(name, version);
      const options = { kind: SPAN_KIND[kind], attributes: defined(attributes) };
      // A received request continues its caller's trace, unless the application's HTTP
      // instrumentation already did: its server span is active (the SDK's spans carry `kind`).
      // Any other active span is not this request's (a context that leaked into the server).
      const parent = incoming === undefined || (api.trace.getActiveSpan() as { kind?: unknown } | undefined)?.kind === SPAN_KIND.server ? api.context.active() : api.propagation.extract(api.context.active(), incoming);
      return tracer.startActiveSpan(spanName, options, parent, (span) => {
        // No SDK, or not sampled: the span records nothing and its end() does nothing, so end it
        // now and skip the promise bookkeeping; its context is still the active one inside `fn`.
        if (!span.isRecording()) {
          span.end();
          return fn(NOOP);
        }
        OURS.add(span);
        let result: ReturnType<typeof fn>;
        try {
          result = fn(handleOf(span));
        } catch (error) {
          fail(span, error);
          span.end();
          throw error;
        }
        if (!isPromiseLike(result)) {
          span.end();
          return result;
        }
        return Promise.resolve(result).then(
          (value) => {
            span.end();
            return value;
          },
          (error: unknown) => {
            fail(span, error);
            span.end();
            throw error;
          },
        ) as unknown as typeof result;
      });
    },
    active() {
      const span = resolveApi()?.trace.getActiveSpan();
      return span === undefined || !OURS.has(span) ? NOOP : handleOf(span);
    },
    live() {
      const api = resolveApi();
      return api !== null && !idle(api);
    },
    inject(headers) {
      const api = resolveApi();
      if (api !== null) api.propagation.inject(api.context.active(), headers);
    },
    open(spanName, kind, attributes) {
      const api = resolveApi();
      if (api === null || idle(api)) return NOOP_OPEN;
      tracer ??= api.trace.getTracer(name, version);
      // startActiveSpan hands over the span and, inside its callback, the context it is active in.
      let span: OtelSpan | undefined;
      let context: unknown;
      tracer.startActiveSpan(spanName, { kind: SPAN_KIND[kind], attributes: defined(attributes) }, api.context.active(), (started) => {
        span = started;
        context = api.context.active();
      });
      const opened = span!;
      // Not sampled: nothing to record, but its context still carries the trace to the requests.
      const recording = opened.isRecording();
      if (recording) OURS.add(opened);
      else opened.end();
      let ended = !recording;
      return {
        handle: recording ? handleOf(opened) : NOOP,
        within: (fn) => api.context.with(context, fn),
        end(error) {
          if (ended) return;
          ended = true;
          if (error !== undefined) fail(opened, error);
          opened.end();
        },
      };
    },
  };
}

/**
 * The call id of a signed request (issue 19): base64url(SHA-256 of its `Signature` header value),
 * the same on the agent's and the resource's side, and in other AAuth implementations' call logs.
 */
export function callId(signatureHeader: string): string {
  return createHash('sha256').update(signatureHeader, 'utf8').digest('base64url');
}
