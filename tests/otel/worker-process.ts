/**
 * A worker process for the OpenTelemetry crash test: `node --import tsx worker-process.ts`.
 * Environment: OTEL_TEST_DB (a libSQL file), OTEL_TEST_SPANS (a file each finished span is
 * appended to as one JSON line, synchronously, so a SIGKILL loses none already ended) and
 * OTEL_TEST_HANG (`1`: the step `two` never ends, so the test can kill the process mid-run).
 * Prints `ready` once it is working.
 */
import { appendFileSync } from 'node:fs'
import { type ExportResult, ExportResultCode } from '@opentelemetry/core'
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace-base'
import { createDurably } from '../../src/index.js'
import { withOpenTelemetry } from '../../src/otel/index.js'
import { openDialect } from '../crash/database.js'
import { crashResumeJob } from './jobs.js'
import { createTracing } from './tracing.js'

const spansFile = process.env.OTEL_TEST_SPANS ?? ''

export interface SpanLine {
  pid: number
  name: string
  traceId: string
  spanId: string
  parentId: string | undefined
  attributes: Record<string, unknown>
}

const fileExporter: SpanExporter = {
  export(spans: ReadableSpan[], done: (result: ExportResult) => void) {
    for (const span of spans) {
      const line: SpanLine = {
        pid: process.pid,
        name: span.name,
        traceId: span.spanContext().traceId,
        spanId: span.spanContext().spanId,
        parentId: span.parentSpanContext?.spanId,
        attributes: { ...span.attributes },
      }
      appendFileSync(spansFile, `${JSON.stringify(line)}\n`)
    }
    done({ code: ExportResultCode.SUCCESS })
  },
  shutdown: async () => {},
}

const tracing = createTracing(fileExporter)
const durably = createDurably({
  dialect: openDialect({ backend: 'libsql', file: process.env.OTEL_TEST_DB ?? '' }),
  pollingInterval: 20,
  heartbeatInterval: 100,
  staleThreshold: 500,
})
  .use(withOpenTelemetry(tracing.options))
  .register({ resumable: crashResumeJob(process.env.OTEL_TEST_HANG === '1') })
await durably.init()
console.log('ready')
