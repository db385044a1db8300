/**
 * Rows → the shapes durably returns. A stored JSON value that cannot be read back is a
 * `Decoded` failure, never an exception: one corrupted row must not make listing
 * impossible. Public reads show the problem in the run's or step's `error` (there is
 * nowhere else for a person to see it); the engine reads `Decoded` values and fails the
 * run that needs the value, with the problem as its error.
 */
import { parseJsonText } from '../serialize.js'
import type { Log, Progress, Run, Step, WaitingFor } from '../types.js'
import type { SqlFamily } from './family.js'
import type { LogRow, RunRow, StepRow } from './schema.js'
import { type Decoded, NEVER, type NewRun, type RecordedStep } from './store.js'

export type RunRowWithCount = RunRow & { step_count?: number | string | bigint | null }

export function decodeJson(family: SqlFamily, value: unknown, subject: () => string): Decoded {
  return decode(family.readJson, value, subject)
}

/**
 * A JSON column read as its text. PostgreSQL's driver parses `json` columns, and a parsed
 * JSON `null` cannot be told from SQL NULL (no value); the text can. Replay and claims read
 * text, so a step that returned `null` replays `null`, not `undefined`.
 */
export function decodeJsonText(text: unknown, subject: () => string): Decoded {
  return decode(parseJsonText, text, subject)
}

function decode(read: (value: unknown) => unknown, value: unknown, subject: () => string): Decoded {
  try {
    return { ok: true, value: read(value) }
  } catch (error) {
    return { ok: false, problem: `${subject()} is not valid JSON (${(error as Error).message})` }
  }
}

/** The columns a run brings to its insert; every other column starts at its default. */
export type InsertedRunValues = Pick<
  RunRow,
  | 'id'
  | 'job_name'
  | 'payload'
  | 'idempotency_key'
  | 'concurrency_key'
  | 'created_at'
  | 'available_at'
  | 'wait_for'
  | 'parent_run_id'
  | 'priority'
  | 'concurrency_limit'
  | 'throttle_key'
  | 'throttle_limit'
  | 'throttle_period'
  | 'trace_context'
  | 'debounce_key'
>

export function insertedRunValues(run: NewRun): InsertedRunValues {
  return {
    id: run.id,
    job_name: run.jobName,
    payload: run.payload,
    idempotency_key: run.idempotencyKey,
    concurrency_key: run.concurrencyKey,
    created_at: run.createdAt,
    available_at: run.availableAt,
    wait_for: run.waitingFor,
    parent_run_id: run.parentRunId,
    priority: run.priority ?? null,
    concurrency_limit: run.concurrencyLimit ?? null,
    throttle_key: run.throttle?.key ?? null,
    throttle_limit: run.throttle?.limit ?? null,
    throttle_period: run.throttle?.period ?? null,
    trace_context: run.traceContext ?? null,
    debounce_key: run.debounce?.key ?? null,
  }
}

/**
 * The row an insert of `run` stores, as the database holds it right after: what the run
 * brings, the rest at its starting values. Reading it back (`RETURNING *`) cost a trigger
 * more than the insert itself on libSQL, whose client pays per column returned.
 *
 * On hot paths durably writes `Object.assign({}, base, { … })` rather than `{ ...base, … }`:
 * in Node 20's V8 each property written after a spread costs about a microsecond (this row's
 * 15 took 21 µs a trigger; assigned, 0.4 µs).
 */
export function insertedRunRow(run: NewRun): RunRow {
  return Object.assign(insertedRunValues(run), {
    status: 'pending' as const,
    progress: null,
    output: null,
    error: null,
    lease_owner: null,
    lease_generation: 0,
    heartbeat_at: null,
    wait_event: null,
    wait_correlation: null,
    started_at: null,
    completed_at: null,
    updated_at: run.createdAt,
    concurrency_slot: null,
    parked_from: null,
    attempt: null,
  })
}

export function rowToRun(row: RunRowWithCount, family: SqlFamily, stepCount?: number): Run {
  const problems: string[] = []
  const field = (value: unknown, name: string) => {
    const decoded = decodeJson(family, value, () => `Run ${row.id}: stored ${name}`)
    if (decoded.ok) return decoded.value
    problems.push(decoded.problem)
    return undefined
  }
  const payload = field(row.payload, 'payload')
  const output = field(row.output, 'output')
  const progress = field(row.progress, 'progress') as Progress | undefined
  const count = stepCount ?? Number(row.step_count ?? 0)
  return {
    id: row.id,
    jobName: row.job_name,
    status: row.status,
    // The column is NOT NULL: a value that reads back as nothing was JSON null.
    payload: payload ?? null,
    output: output ?? null,
    error: [row.error, ...problems].filter(Boolean).join('; ') || null,
    progress: progress ?? null,
    idempotencyKey: row.idempotency_key ?? null,
    concurrencyKey: row.concurrency_key ?? null,
    currentStepIndex: count,
    stepCount: count,
    availableAt: availableAtOf(row, family),
    waitingFor:
      row.status === 'pending'
        ? ((field(row.wait_for, 'wait') as WaitingFor | undefined) ?? null)
        : null,
    parentRunId: row.parent_run_id ?? null,
    attempt: Number(row.attempt ?? 0),
    heartbeatAt: row.heartbeat_at ? family.readTime(row.heartbeat_at) : null,
    startedAt: row.started_at ? family.readTime(row.started_at) : null,
    completedAt: row.completed_at ? family.readTime(row.completed_at) : null,
    createdAt: family.readTime(row.created_at),
    updatedAt: family.readTime(row.updated_at),
  }
}

/** A wait without a timeout is stored as due "never"; it has no moment to show. */
function availableAtOf(row: RunRow, family: SqlFamily): string | null {
  // A parked run is due where it was before its key filled up.
  const availableAt = row.parked_from ?? row.available_at
  if (!availableAt) return null
  const at = family.readTime(availableAt)
  return at === NEVER ? null : at
}

export function rowToStep(row: StepRow, family: SqlFamily): Step {
  const output = decodeJson(family, row.output, () => stepSubject(row))
  return {
    id: row.id,
    runId: row.run_id,
    name: row.name,
    index: Number(row.step_index),
    status: row.status,
    output: output.ok ? (output.value ?? null) : null,
    error: [row.error, output.ok ? undefined : output.problem].filter(Boolean).join('; ') || null,
    startedAt: family.readTime(row.started_at),
    completedAt: family.readTime(row.completed_at),
  }
}

/** A finished step for replay; `output` is the column's JSON text (see `decodeJsonText`). */
export function rowToRecordedStep(
  row: Pick<StepRow, 'run_id' | 'name' | 'step_index'> & { output: string | null },
): RecordedStep {
  return {
    name: row.name,
    index: Number(row.step_index),
    output: decodeJsonText(row.output, () => stepSubject(row)),
  }
}

export function rowToLog(row: LogRow, family: SqlFamily): Log {
  const data = decodeJson(family, row.data, () => `Log ${row.id}: stored data`)
  return {
    id: row.id,
    runId: row.run_id,
    stepName: row.step_name ?? null,
    level: row.level,
    message: row.message,
    data: data.ok ? (data.value ?? null) : null,
    createdAt: family.readTime(row.created_at),
  }
}

function stepSubject(row: Pick<StepRow, 'name' | 'run_id'>): string {
  return `Step "${row.name}" of run ${row.run_id}: stored output`
}
