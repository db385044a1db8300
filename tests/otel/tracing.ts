/** An SDK for the OpenTelemetry tests: in-memory spans, W3C propagation, async context. */
import { context, type Span, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { W3CTraceContextPropagator } from '@opentelemetry/core'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import type { OpenTelemetryOptions } from '../../src/otel/index.js'

/** Once per process: `context.with` is a no-op until a context manager is registered. */
export function enableAsyncContext(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable())
}

export function createTracing(exporter: SpanExporter = new InMemorySpanExporter()) {
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  const options: OpenTelemetryOptions = {
    tracerProvider: provider,
    propagator: new W3CTraceContextPropagator(),
  }
  const tracer = provider.getTracer('test')
  return {
    exporter,
    options,
    /** Run `body` inside an active span `name` (ended after), as an instrumented caller would. */
    async within<T>(name: string, body: (span: Span) => Promise<T>): Promise<T> {
      return tracer.startActiveSpan(name, async (span) => {
        try {
          return await body(span)
        } finally {
          span.end()
        }
      })
    },
  }
}

export const spanId = (span: ReadableSpan) => span.spanContext().spanId
export const traceId = (span: ReadableSpan) => span.spanContext().traceId
export const parentId = (span: ReadableSpan) => span.parentSpanContext?.spanId

export function byName(spans: readonly ReadableSpan[], name: string): ReadableSpan[] {
  return spans.filter((span) => span.name === name)
}

export { trace }
