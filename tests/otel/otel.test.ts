/**
 * `withOpenTelemetry()` in one process: spans per execution stretch and per step, their
 * parentage and attributes, errors, sleeps as several stretches, the trigger's trace
 * continued (as parent or as link), child runs under their parent.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api'
import type { InMemorySpanExporter, ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createDurably, type Durably, defineJob } from '../../src/index.js'
import { SPAN_ATTRIBUTES, withOpenTelemetry } from '../../src/otel/index.js'
import { libsqlBackend, type TestDatabase } from '../support/backends.js'
import { waitUntil } from '../support/wait.js'
import { byName, createTracing, enableAsyncContext, parentId, spanId, traceId } from './tracing.js'

const twoSteps = defineJob({
  name: 'two-steps',
  input: z.object({ fail: z.boolean().default(false) }),
  run: async (step, { fail }) => {
    await step.run('fetch', () => 1)
    await step.run('save', () => {
      if (fail) throw new Error('disk full')
      return 2
    })
    return { ok: true }
  },
})

const sleeper = defineJob({
  name: 'sleeper',
  input: z.object({}),
  run: async (step) => {
    await step.run('before', () => 1)
    await step.sleep('nap', 30)
    await step.run('after', () => 2)
  },
})

const child = defineJob({
  name: 'child',
  input: z.object({}),
  run: async (step) => step.run('child-step', () => 'c'),
})

const parent = defineJob({
  name: 'parent',
  input: z.object({}),
  run: async (step) => {
    await step.run('prepare', () => 1)
    return step.invoke('call-child', child, {})
  },
})

describe('withOpenTelemetry()', () => {
  let database: TestDatabase
  let durably: Durably
  let tracing: ReturnType<typeof createTracing>
  let exporter: InMemorySpanExporter

  beforeAll(() => enableAsyncContext())
  beforeEach(async () => {
    database = await libsqlBackend.create()
    tracing = createTracing()
    exporter = tracing.exporter as InMemorySpanExporter
  })
  afterEach(async () => {
    await durably?.stop()
    await database.cleanup()
  })
  afterAll(() => {})

  const start = (continueTrace?: 'parent' | 'link') => {
    durably = createDurably({
      dialect: database.dialect,
      pollingInterval: 10,
      heartbeatInterval: 50,
      staleThreshold: 500,
    }).use(withOpenTelemetry({ ...tracing.options, ...(continueTrace ? { continueTrace } : {}) }))
    return durably.register({ twoSteps, sleeper, parent, child })
  }

  /** Spans once the run's last stretch span has been exported. */
  const spansWhen = (done: (spans: ReadableSpan[]) => boolean) =>
    waitUntil(() => {
      const spans = exporter.getFinishedSpans()
      return done(spans) ? spans : undefined
    })

  const finishedRun = (runId: string, outcome: string) => (spans: ReadableSpan[]) =>
    spans.some(
      (span) =>
        span.attributes[SPAN_ATTRIBUTES.runId] === runId &&
        span.attributes[SPAN_ATTRIBUTES.runOutcome] === outcome,
    )

  it('makes a stretch span per execution with a child span per step, under the trigger', async () => {
    const jobs = start()
    const run = await tracing.within('request', () => jobs.twoSteps.trigger({}))
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'completed'))

    const [request] = byName(spans, 'request')
    const [trigger] = byName(spans, 'trigger two-steps')
    const [stretch] = byName(spans, 'run two-steps')
    const steps = spans.filter((span) => span.name.startsWith('step '))
    expect(trigger!.kind).toBe(SpanKind.PRODUCER)
    expect(parentId(trigger!)).toBe(spanId(request!))
    expect(stretch!.kind).toBe(SpanKind.CONSUMER)
    expect(parentId(stretch!)).toBe(spanId(trigger!))
    expect(traceId(stretch!)).toBe(traceId(request!))
    expect(stretch!.attributes).toMatchObject({
      [SPAN_ATTRIBUTES.jobName]: 'two-steps',
      [SPAN_ATTRIBUTES.runId]: run.id,
      [SPAN_ATTRIBUTES.runOutcome]: 'completed',
    })
    expect(stretch!.status.code).toBe(SpanStatusCode.OK)
    expect(steps.map((span) => span.name)).toEqual(['step fetch', 'step save'])
    for (const [index, step] of steps.entries()) {
      expect(parentId(step)).toBe(spanId(stretch!))
      expect(step.attributes).toMatchObject({
        [SPAN_ATTRIBUTES.stepIndex]: index,
        [SPAN_ATTRIBUTES.stepOutcome]: 'completed',
      })
    }
    // What was stored is W3C trace context.
    const [row] = await database.exec('SELECT trace_context FROM durably_runs WHERE id = ?', [
      run.id,
    ])
    expect(JSON.parse(String(row!.trace_context))).toEqual({
      traceparent: `00-${traceId(trigger!)}-${spanId(trigger!)}-01`,
    })
  })

  it('marks a failing step and its run with error status and the exception', async () => {
    const jobs = start()
    const run = await jobs.twoSteps.trigger({ fail: true })
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'failed'))
    const [save] = byName(spans, 'step save')
    const [stretch] = byName(spans, 'run two-steps')
    for (const span of [save!, stretch!]) {
      expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'disk full' })
      expect(
        span.events.map((event) => [event.name, event.attributes?.['exception.message']]),
      ).toEqual([['exception', 'disk full']])
    }
    expect(save!.attributes[SPAN_ATTRIBUTES.stepOutcome]).toBe('failed')
    expect(byName(spans, 'step fetch')[0]!.status.code).toBe(SpanStatusCode.OK)
  })

  it('makes a sleeping run two short stretches in the trigger trace', async () => {
    const jobs = start()
    const run = await tracing.within('request', () => jobs.sleeper.trigger({}))
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'completed'))
    const [trigger] = byName(spans, 'trigger sleeper')
    const stretches = byName(spans, 'run sleeper')
    expect(stretches.map((span) => span.attributes[SPAN_ATTRIBUTES.runOutcome])).toEqual([
      'suspended',
      'completed',
    ])
    expect(stretches[0]!.attributes[SPAN_ATTRIBUTES.waitKind]).toBe('sleep')
    for (const stretch of stretches) {
      expect(parentId(stretch)).toBe(spanId(trigger!))
      expect(traceId(stretch)).toBe(traceId(trigger!))
    }
    expect(parentId(byName(spans, 'step before')[0]!)).toBe(spanId(stretches[0]!))
    expect(parentId(byName(spans, 'step after')[0]!)).toBe(spanId(stretches[1]!))
  })

  it("with continueTrace: 'link', starts each stretch in its own trace linked to the trigger", async () => {
    const jobs = start('link')
    const run = await tracing.within('request', () => jobs.sleeper.trigger({}))
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'completed'))
    const [trigger] = byName(spans, 'trigger sleeper')
    const stretches = byName(spans, 'run sleeper')
    expect(stretches).toHaveLength(2)
    for (const stretch of stretches) {
      expect(parentId(stretch)).toBeUndefined()
      expect(traceId(stretch)).not.toBe(traceId(trigger!))
      expect(stretch.links.map((link) => link.context.spanId)).toEqual([spanId(trigger!)])
    }
  })

  it('gives a run triggered outside any trace one trace of its own', async () => {
    const jobs = start()
    const run = await jobs.sleeper.trigger({})
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'completed'))
    const [trigger] = byName(spans, 'trigger sleeper')
    expect(parentId(trigger!)).toBeUndefined()
    expect(byName(spans, 'run sleeper').map(traceId)).toEqual([
      traceId(trigger!),
      traceId(trigger!),
    ])
  })

  it("puts a child run of step.invoke under its parent's execution", async () => {
    const jobs = start()
    const run = await tracing.within('request', () => jobs.parent.trigger({}))
    await durably.init()
    const spans = await spansWhen(finishedRun(run.id, 'completed'))
    const [first] = byName(spans, 'run parent')
    const [childTrigger] = byName(spans, 'trigger child')
    const [childStretch] = byName(spans, 'run child')
    expect(first!.attributes[SPAN_ATTRIBUTES.runOutcome]).toBe('suspended')
    expect(parentId(childTrigger!)).toBe(spanId(first!))
    expect(childTrigger!.attributes[SPAN_ATTRIBUTES.parentRunId]).toBe(run.id)
    expect(parentId(childStretch!)).toBe(spanId(childTrigger!))
    expect(new Set(spans.map(traceId)).size).toBe(1)
  })

  it('stores nothing and changes nothing without an SDK', async () => {
    durably = createDurably({ dialect: database.dialect, pollingInterval: 10 }).use(
      withOpenTelemetry(),
    )
    const jobs = durably.register({ twoSteps })
    const run = await jobs.twoSteps.trigger({})
    await durably.init()
    await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed')
    const [row] = await database.exec('SELECT trace_context FROM durably_runs WHERE id = ?', [
      run.id,
    ])
    expect(row!.trace_context).toBeNull()
  })
})
