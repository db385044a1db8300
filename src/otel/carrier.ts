/**
 * A trace context as stored with a run: the W3C `traceparent`/`tracestate` carrier (and
 * whatever else the configured propagator writes, baggage say) as JSON text, so a run
 * triggered in one process continues its trace in any other, whatever SDK that one runs.
 */
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  propagation,
  ROOT_CONTEXT,
  type TextMapPropagator,
} from '@opentelemetry/api'

/** Writes a context into a carrier and reads one back. */
export interface Propagation {
  inject(context: Context, carrier: Record<string, string>): void
  extract(context: Context, carrier: Record<string, string>): Context
}

/** The given propagator, or the global one (W3C trace context once an SDK registers it). */
export function propagationOf(propagator?: TextMapPropagator): Propagation {
  if (!propagator) return propagation
  return {
    inject: (context, carrier) => propagator.inject(context, carrier, defaultTextMapSetter),
    extract: (context, carrier) => propagator.extract(context, carrier, defaultTextMapGetter),
  }
}

/** The context as JSON text, or null when there is nothing to carry (no trace, a no-op SDK). */
export function serializeContext(propagation: Propagation, context: Context): string | null {
  const carrier: Record<string, string> = {}
  propagation.inject(context, carrier)
  return Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : null
}

/** The stored context, or undefined when there is none or it cannot be read (never throws). */
export function parseContext(propagation: Propagation, text: string | null): Context | undefined {
  if (!text) return undefined
  try {
    const carrier: unknown = JSON.parse(text)
    if (!carrier || typeof carrier !== 'object' || Array.isArray(carrier)) return undefined
    const strings: Record<string, string> = {}
    for (const [key, value] of Object.entries(carrier)) {
      if (typeof value === 'string') strings[key] = value
    }
    return propagation.extract(ROOT_CONTEXT, strings)
  } catch {
    return undefined
  }
}
