/**
 * `withOpenTelemetry()`: spans for runs, built on the event stream alone.
 *
 * - A run triggered (or a child `step.invoke` created) gets a zero-length PRODUCER span
 *   `trigger <job>`, child of the caller's active context; its context is stored with the run.
 *   A run triggered outside any trace still gets one trace to hold all of its executions.
 * - Each execution stretch (claim → completion, failure, suspension, cancellation) is a
 *   CONSUMER span `run <job>`; a run that sleeps a week is several short spans, never one
 *   week long. By default each is a child of the trigger span (`continueTrace: 'parent'`), so
 *   one trace shows trigger → executions → steps across processes and crashes; with
 *   `'link'` each execution starts its own trace and links to the trigger.
 * - Each `step.run` is an INTERNAL span `step <name>` under its stretch; a failing step has
 *   error status and the recorded exception.
 *
 * The engine never waits for tracing: spans are started and ended with the events'
 * timestamps, behind the one read of a run's stored context when its execution starts.
 */
import {
  type Attributes,
  type Context,
  context,
  type Link,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  type Tracer,
  type TracerProvider,
  trace,
} from '@opentelemetry/api'
import type { Durably, DurablyPlugin, PluginHooks } from '../durably.js'
import type { RunStartEvent } from '../events.js'
import { parseContext, propagationOf, serializeContext } from './carrier.js'

export const OTEL_PLUGIN = 'opentelemetry'

export interface OpenTelemetryOptions {
  /** Where spans go (default: the global tracer provider, resolved at each span). */
  tracerProvider?: TracerProvider
  /**
   * How the trigger's context is stored and read back (default: the global propagator, which
   * an SDK sets to W3C trace context). Nothing is stored when it writes nothing.
   */
  propagator?: TextMapPropagator
  /**
   * How an execution continues the trace its run was triggered in: as a child of the trigger
   * span (`'parent'`, the default: one trace per trigger) or as a new trace linking to it
   * (`'link'`: for backends that cap a trace's duration or size).
   */
  continueTrace?: 'parent' | 'link'
}

/** How an execution stretch ended; `interrupted` when the engine said nothing (see below). */
export type StretchOutcome = 'completed' | 'failed' | 'suspended' | 'cancelled' | 'interrupted'

/** The attribute names this plugin sets. */
export const SPAN_ATTRIBUTES = {
  jobName: 'durably.job.name',
  runId: 'durably.run.id',
  parentRunId: 'durably.run.parent_id',
  attempt: 'durably.run.attempt',
  runOutcome: 'durably.run.outcome',
  waitKind: 'durably.run.wait',
  stepName: 'durably.step.name',
  stepIndex: 'durably.step.index',
  stepOutcome: 'durably.step.outcome',
} as const

/** One execution of a run in this process, and its spans once they exist. */
interface Stretch {
  /** The stretch's span operations, in event order, behind the read of its stored context. */
  queue: Promise<void>
  trigger?: Context
  span?: Span
  steps: Map<number, Span>
}

/**
 * @example
 * import { withOpenTelemetry } from 'durably/otel'
 * durably.use(withOpenTelemetry())
 */
export function withOpenTelemetry(options: OpenTelemetryOptions = {}): DurablyPlugin {
  const propagation = propagationOf(options.propagator)
  const tracer = (): Tracer =>
    (options.tracerProvider ?? trace.getTracerProvider()).getTracer('durably')
  const link = options.continueTrace === 'link'

  return {
    name: OTEL_PLUGIN,
    install(durably: Durably, hooks: PluginHooks) {
      const stretches = new Map<string, Stretch>()

      hooks.captureTraceContext((jobName, parentRunId) => {
        try {
          const parent = parentRunId ? stretches.get(parentRunId) : undefined
          const caller = parent?.span
            ? trace.setSpan(ROOT_CONTEXT, parent.span)
            : (parent?.trigger ?? context.active())
          const span = tracer().startSpan(
            `trigger ${jobName}`,
            {
              kind: SpanKind.PRODUCER,
              attributes: {
                [SPAN_ATTRIBUTES.jobName]: jobName,
                ...(parentRunId ? { [SPAN_ATTRIBUTES.parentRunId]: parentRunId } : {}),
              },
            },
            caller,
          )
          span.end()
          return serializeContext(propagation, trace.setSpan(caller, span))
        } catch {
          return null // tracing never stops a trigger
        }
      })

      /** Run `operation` on the run's open stretch, after the ones queued before it. */
      const enqueue = (runId: string, operation: (stretch: Stretch) => void) => {
        const stretch = stretches.get(runId)
        if (!stretch) return
        stretch.queue = stretch.queue.then(() => operation(stretch)).catch(() => undefined)
      }

      const endStretch = (
        runId: string,
        timestamp: string,
        outcome: StretchOutcome,
        more: (span: Span) => void = () => {},
      ) => {
        enqueue(runId, (stretch) => {
          const at = Date.parse(timestamp)
          for (const step of stretch.steps.values()) {
            step.setAttribute(SPAN_ATTRIBUTES.stepOutcome, outcome)
            step.end(at)
          }
          stretch.steps.clear()
          if (!stretch.span) return
          stretch.span.setAttribute(SPAN_ATTRIBUTES.runOutcome, outcome)
          more(stretch.span)
          stretch.span.end(at)
        })
        stretches.delete(runId)
      }

      const beginStretch = (event: RunStartEvent) => {
        // Still open here: the engine ended that execution without an event (its lease was
        // lost, or it was handed back at shutdown), and now the run starts again.
        if (stretches.has(event.runId)) endStretch(event.runId, event.timestamp, 'interrupted')
        const stored =
          event.traceContext !== undefined
            ? Promise.resolve(event.traceContext)
            : hooks.readTraceContext(event.runId)
        const stretch: Stretch = { queue: Promise.resolve(), steps: new Map() }
        stretch.queue = stored
          .catch(() => null)
          .then((text) => {
            const trigger = parseContext(propagation, text)
            const triggerSpan = trigger && trace.getSpanContext(trigger)
            stretch.trigger = trigger
            const attempt = (event as { attempt?: unknown }).attempt
            const attributes: Attributes = {
              [SPAN_ATTRIBUTES.jobName]: event.jobName,
              [SPAN_ATTRIBUTES.runId]: event.runId,
              ...(typeof attempt === 'number' ? { [SPAN_ATTRIBUTES.attempt]: attempt } : {}),
            }
            const links: Link[] = link && triggerSpan ? [{ context: triggerSpan }] : []
            stretch.span = tracer().startSpan(
              `run ${event.jobName}`,
              {
                kind: SpanKind.CONSUMER,
                startTime: Date.parse(event.timestamp),
                attributes,
                links,
                ...(link ? { root: true } : {}),
              },
              link ? ROOT_CONTEXT : (trigger ?? ROOT_CONTEXT),
            )
          })
          .catch(() => undefined)
        stretches.set(event.runId, stretch)
      }

      durably.on('run:start', beginStretch)
      durably.on('step:start', (event) =>
        enqueue(event.runId, (stretch) => {
          if (!stretch.span) return
          const span = tracer().startSpan(
            `step ${event.stepName}`,
            {
              kind: SpanKind.INTERNAL,
              startTime: Date.parse(event.timestamp),
              attributes: {
                [SPAN_ATTRIBUTES.jobName]: event.jobName,
                [SPAN_ATTRIBUTES.runId]: event.runId,
                [SPAN_ATTRIBUTES.stepName]: event.stepName,
                [SPAN_ATTRIBUTES.stepIndex]: event.stepIndex,
              },
            },
            trace.setSpan(ROOT_CONTEXT, stretch.span),
          )
          stretch.steps.set(event.stepIndex, span)
        }),
      )
      durably.on('step:complete', (event) =>
        enqueue(event.runId, (stretch) => {
          const span = stretch.steps.get(event.stepIndex)
          if (!span) return
          stretch.steps.delete(event.stepIndex)
          span.setAttribute(SPAN_ATTRIBUTES.stepOutcome, 'completed')
          span.setStatus({ code: SpanStatusCode.OK })
          span.end(Date.parse(event.timestamp))
        }),
      )
      durably.on('step:fail', (event) =>
        enqueue(event.runId, (stretch) => {
          const span = stretch.steps.get(event.stepIndex)
          if (!span) return
          stretch.steps.delete(event.stepIndex)
          span.setAttribute(SPAN_ATTRIBUTES.stepOutcome, 'failed')
          failed(span, event.error)
          span.end(Date.parse(event.timestamp))
        }),
      )
      durably.on('run:complete', (event) =>
        endStretch(event.runId, event.timestamp, 'completed', (span) =>
          span.setStatus({ code: SpanStatusCode.OK }),
        ),
      )
      durably.on('run:fail', (event) =>
        endStretch(event.runId, event.timestamp, 'failed', (span) => failed(span, event.error)),
      )
      durably.on('run:wait', (event) =>
        endStretch(event.runId, event.timestamp, 'suspended', (span) =>
          span.setAttribute(SPAN_ATTRIBUTES.waitKind, event.waitingFor.kind),
        ),
      )
      // Emitted for any run cancelled through this instance: only one executing here has a span.
      durably.on('run:cancel', (event) => {
        if (stretches.has(event.runId)) endStretch(event.runId, event.timestamp, 'cancelled')
      })
    },
  }
}

function failed(span: Span, message: string): void {
  span.recordException({ name: 'Error', message })
  span.setStatus({ code: SpanStatusCode.ERROR, message })
}
