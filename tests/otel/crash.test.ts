/**
 * A trace across a crash: a run triggered in this process (inside a traced request) starts
 * in a worker process that is SIGKILLed in its second step, and finishes in another. Every
 * span either worker exported belongs to the request's trace, and the surviving execution
 * is a child of the trigger span, as the first was.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import type { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createDurably } from '../../src/index.js'
import { SPAN_ATTRIBUTES, withOpenTelemetry } from '../../src/otel/index.js'
import { openDialect } from '../crash/database.js'
import { waitUntil } from '../support/wait.js'
import { crashResumeJob } from './jobs.js'
import { byName, createTracing, enableAsyncContext, spanId, traceId } from './tracing.js'
import type { SpanLine } from './worker-process.js'

const WORKER = join(import.meta.dirname, 'worker-process.ts')

describe('withOpenTelemetry() across a crash', () => {
  const cleanups: (() => void | Promise<void>)[] = []
  beforeAll(() => enableAsyncContext())
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
  })

  async function spawnWorker(env: Record<string, string>) {
    const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
    cleanups.push(async () => {
      child.kill('SIGKILL')
      await exited
    })
    await new Promise<void>((resolve, reject) => {
      void exited.then(() => reject(new Error('worker exited before ready')))
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line === 'ready') resolve()
      })
    })
    return { child, exited }
  }

  it('keeps the trigger trace when a SIGKILLed run finishes in another process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'durably-otel-'))
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
    const db = join(dir, 'otel.db')
    const spansFile = join(dir, 'spans.ndjson')
    const spans = () =>
      readFileSync(spansFile, { encoding: 'utf8', flag: 'a+' })
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as SpanLine)

    // This process only triggers: its worker is never started.
    const tracing = createTracing()
    const trigger = createDurably({ dialect: openDialect({ backend: 'libsql', file: db }) })
      .use(withOpenTelemetry(tracing.options))
      .register({ resumable: crashResumeJob(false) })
    cleanups.push(() => trigger.destroy())
    const run = await tracing.within('request', () => trigger.jobs.resumable.trigger({}))
    const exported = (tracing.exporter as InMemorySpanExporter).getFinishedSpans()
    const [request] = byName(exported, 'request')
    const [triggerSpan] = byName(exported, 'trigger resumable')

    const first = await spawnWorker({
      OTEL_TEST_DB: db,
      OTEL_TEST_SPANS: spansFile,
      OTEL_TEST_HANG: '1',
    })
    await waitUntil(() => spans().some((span) => span.name === 'step one'), {
      what: 'the first worker to finish step one',
    })
    first.child.kill('SIGKILL')
    await first.exited

    await spawnWorker({ OTEL_TEST_DB: db, OTEL_TEST_SPANS: spansFile, OTEL_TEST_HANG: '0' })
    await waitUntil(
      () => spans().some((span) => span.attributes[SPAN_ATTRIBUTES.runOutcome] === 'completed'),
      { what: 'the second worker to complete the run', timeout: 20_000 },
    )

    const lines = spans()
    const pids = new Set(lines.map((span) => span.pid))
    expect(pids.size).toBe(2)
    for (const span of lines) expect(span.traceId).toBe(traceId(request!))
    const [stepOne] = lines.filter((span) => span.name === 'step one')
    const [stretch] = lines.filter((span) => span.name === 'run resumable')
    // The killed execution's own span was never ended, so never exported; its step was.
    expect(stepOne!.pid).toBe(first.child.pid)
    expect(stretch!.pid).not.toBe(first.child.pid)
    expect(stretch!.parentId).toBe(spanId(triggerSpan!))
    expect(stretch!.attributes[SPAN_ATTRIBUTES.runId]).toBe(run.id)
    // Step one is replayed, not run again: only step two has a span in the second process.
    expect(lines.filter((span) => span.pid === stretch!.pid).map((span) => span.name)).toEqual([
      'step two',
      'run resumable',
    ])
  })
})
