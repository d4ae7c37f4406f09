// The demo's OpenTelemetry export (issue 19, docs/telemetry.md "The demo"): with
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) set, the real SDK and the
// OTLP/HTTP exporter send one trace per run: a root span `supply-chain demo` and, under it, the
// kit's spans of every hop. Nothing is loaded when neither variable is set.
//
// The demo runs its four services in one process, so one tracer provider sees every span. Which
// service a span belongs to is decided when the run is over, from the trace itself: the auth
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

export interface DemoTracing {
  /** Run the demo under the root span `supply-chain demo` (service backend). */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Export every span with its service (`services`: a name for each service's URL and identity), then unregister the SDK. */
  finish(services: Record<string, { url: string; identity: string }>): Promise<void>;
}

/** The SDK registered globally, exporting to `url` when the run finishes (see the top of this file). */
export async function startDemoTracing(url: string): Promise<DemoTracing> {
  const api = await import('@opentelemetry/api');
  const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-http');
  const { NodeTracerProvider } = await import('@opentelemetry/sdk-trace-node');
  const { resourceFromAttributes } = await import('@opentelemetry/resources');
  const ended: ReadableSpan[] = [];
  const collector: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void ended.push(span),
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
  };
  const provider = new NodeTracerProvider({ spanProcessors: [collector] });
  provider.register();
  const exporter = new OTLPTraceExporter({ url });

  return {
    run(fn) {
      return api.trace.getTracer('aauth-kit-demo').startActiveSpan('supply-chain demo', { kind: api.SpanKind.INTERNAL }, async (span) => {
        try {
          return await fn();
        } finally {
          span.end();
        }
      });
    },
    async finish(services) {
      try {
        const byUrl = new Map<string, string>();
        for (const [name, s] of Object.entries(services)) {
          byUrl.set(s.url.replace(/\/+$/, ''), name);
          byUrl.set(s.identity.replace(/\/+$/, ''), name);
        }
        const byId = new Map(ended.map((s) => [s.spanContext().spanId, s]));
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
        const resources = new Map<string, ReturnType<typeof resourceFromAttributes>>();
        const spans = ended.map((span): ReadableSpan => {
          const service = serviceOf(span);
          let resource = resources.get(service);
          if (resource === undefined) resources.set(service, (resource = resourceFromAttributes({ 'service.name': service })));
          return {
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
            resource,
            instrumentationScope: span.instrumentationScope,
            droppedAttributesCount: span.droppedAttributesCount,
            droppedEventsCount: span.droppedEventsCount,
            droppedLinksCount: span.droppedLinksCount,
          };
        });
        if (spans.length > 0) {
          await new Promise<void>((resolve, reject) =>
            exporter.export(spans, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('the OTLP export failed')))),
          );
        }
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
