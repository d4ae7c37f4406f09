// The demo's OpenTelemetry export (issue 19, docs/telemetry.md "The demo"): with
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, the real SDK and the
// OTLP/HTTP exporter send one trace per run: a root span `supply-chain demo` and, under it, the
// kit's spans of every hop. Nothing is loaded when neither variable is set.
//
// The demo runs its four services in one process, so one tracer provider sees every span. Which
// service a span belongs to is decided when its trace is complete, from the trace itself: the auth
// server's spans (tracer `@aauth-kit/auth-server`) are `auth-server`'s; a resource's
// `aauth.verify` is the service whose identity is its `aauth.resource`; any other span is its
// parent's service, and a root is the backend's. Each span is then exported with its service's
// resource (`service.name`), as if four processes had sent them.
import type { ReadableSpan, SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** Where spans go, from the environment; undefined when tracing is off. */
export function otlpTracesUrl(env: Record<string, string | undefined>): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces !== undefined && traces !== '') return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  // The OTLP specification: the signal's path is appended to the generic endpoint.
  return base === undefined || base === '' ? undefined : `${base.replace(/\/+$/, '')}/v1/traces`;
}

const DEMO_TRACER = 'aauth-kit-demo';

export interface DemoTracing {
  /** Name the services: a name for each service's URL and identity (before its spans are exported). */
  name(services: Record<string, { url: string; identity: string }>): void;
  /** Run the demo under the root span `supply-chain demo` (service backend). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Export the traces of every run() that has returned (their services named), and wait for the exports; the SDK stays registered. */
  flush(): Promise<void>;
  /** Export what is left, wait for every export, then unregister the SDK. */
  finish(): Promise<void>;
}

/**
 * The SDK registered globally. In services mode a trace is exported when its root span ends (the
 * backend's call: it ends after every hop it caused); the one-shot demo's trace, under `run()`'s
 * root, when `finish()` is called. Each span goes with its service's resource (see the top of
 * this file).
 */
export async function startDemoTracing(url: string, onError: (message: string) => void = () => undefined): Promise<DemoTracing> {
  const api = await import('@opentelemetry/api');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const exporter = new OTLPTraceExporter({ url });
  const byUrl = new Map<string, string>();
  const resources = new Map<string, ReturnType<typeof resourceFromAttributes>>();
  const resourceOf = (service: string) => {
    let resource = resources.get(service);
    if (resource === undefined) resources.set(service, (resource = resourceFromAttributes({ 'service.name': service })));
    return resource;
  };
  /** Spans by trace id, until the trace's root ends. */
  const traces = new Map<string, ReadableSpan[]>();
  /** Traces whose `supply-chain demo` root has ended: flush() exports them. */
  const runsEnded = new Set<string>();
  const exports = new Set<Promise<void>>();

  /** Every span of one trace with its service's resource. */
  function attributed(spans: ReadableSpan[]): ReadableSpan[] {
    const byId = new Map(spans.map((s) => [s.spanContext().spanId, s]));
    const decided = new Map<string, string>();
    const serviceOf = (span: ReadableSpan, depth = 0): string => {
      const id = span.spanContext().spanId;
      const known = decided.get(id);
      if (known !== undefined) return known;
      let service: string | undefined;
      if (span.instrumentationScope.name === '@aauth-kit/auth-server') service = 'auth-server';
      else if (span.name === 'aauth.verify') service = byUrl.get(String(span.attributes['aauth.resource'] ?? '').replace(/\/+$/, ''));
      if (service === undefined) {
        const parent = span.parentSpanContext === undefined ? undefined : byId.get(span.parentSpanContext.spanId);
        service = parent === undefined || depth > 64 ? 'backend' : serviceOf(parent, depth + 1);
      }
      decided.set(id, service);
      return service;
    };
    return spans.map(
      (span): ReadableSpan => ({
        name: span.name,
        kind: span.kind,
        spanContext: () => span.spanContext(),
        ...(span.parentSpanContext === undefined ? {} : { parentSpanContext: span.parentSpanContext }),
        startTime: span.startTime,
        endTime: span.endTime,
        status: span.status,
        attributes: span.attributes,
        links: span.links,
        events: span.events,
        duration: span.duration,
        ended: span.ended,
        resource: resourceOf(serviceOf(span)),
        instrumentationScope: span.instrumentationScope,
        droppedAttributesCount: span.droppedAttributesCount,
        droppedEventsCount: span.droppedEventsCount,
        droppedLinksCount: span.droppedLinksCount,
      }),
    );
  }

  function exportTrace(traceId: string): void {
    const spans = traces.get(traceId);
    traces.delete(traceId);
    if (spans === undefined || spans.length === 0) return;
    const done: Promise<void> = new Promise<void>((resolve) =>
      exporter.export(attributed(spans), (result) => {
        if (result.code !== 0) onError(`the OTLP export failed: ${result.error?.message ?? 'unknown error'}`);
        resolve();
      }),
    ).finally(() => exports.delete(done));
    exports.add(done);
  }

  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd(span) {
      const traceId = span.spanContext().traceId;
      let spans = traces.get(traceId);
      if (spans === undefined) traces.set(traceId, (spans = []));
      spans.push(span);
      // A root ends after every hop it caused. The demo's own root waits for finish(): its services are named when the run is over.
      if (span.parentSpanContext === undefined) {
        if (span.instrumentationScope.name !== DEMO_TRACER) exportTrace(traceId);
        else runsEnded.add(traceId);
      }
    },
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  const provider = new NodeTracerProvider({ spanProcessors: [processor] });
  provider.register();

  return {
    name(services) {
      for (const [name, s] of Object.entries(services)) {
        byUrl.set(s.url.replace(/\/+$/, ''), name);
        byUrl.set(s.identity.replace(/\/+$/, ''), name);
      }
    },
    run(fn) {
      return api.trace.getTracer(DEMO_TRACER).startActiveSpan('supply-chain demo', { kind: api.SpanKind.INTERNAL }, async (span) => {
        try {
          return await fn();
        } finally {
          span.end();
        }
      });
    },
    async flush() {
      for (const traceId of [...runsEnded]) {
        runsEnded.delete(traceId);
        exportTrace(traceId);
      }
      await Promise.all(exports);
    },
    async finish() {
      try {
        for (const traceId of [...traces.keys()]) exportTrace(traceId);
        await Promise.all(exports);
      } finally {
        await exporter.shutdown();
        await provider.shutdown();
        api.trace.disable();
        api.context.disable();
        api.propagation.disable();
      }
    },
  };
}
