/**
 * `durably.storage` as `@coji/durably` 0.6.0 had it: code written for that package calls
 * these methods with 0.6.0's argument shapes and reads 0.6.0's results. Ids and timestamps
 * are filled here, from the instance's generator and clock.
 *
 * Reads go through the instance's own decoding (`deps.readRun` and friends), so a run looks
 * the same here as through `durably.getRun`. Only the writes 0.6.0 allowed and our engine
 * never makes (unfenced updates, steps and logs written by hand, peeking at the queue) are
 * statements of their own. Where our schema derives a value 0.6.0 stored (`currentStepIndex`,
 * `stepCount`: both the number of completed steps), the derived value wins.
 */
import { type Kysely, sql, type UpdateObject } from 'kysely'
import { InvalidArgumentError, NotFoundError } from '../errors.js'
import { toJson } from '../serialize.js'
import {
  isRunStatus,
  isTerminal,
  type Log,
  type LogLevel,
  type Progress,
  RUN_STATUSES,
  type Run,
  type RunFilter,
  type RunStatus,
  type Step,
  type StepStatus,
} from '../types.js'
import { type Database, FREES_SLOT, NO_WAIT } from './schema.js'
import type { NewLog, NewRun } from './store.js'

export interface CreateRunInput {
  jobName: string
  payload: unknown
  idempotencyKey?: string
  concurrencyKey?: string
}

export interface UpdateRunData {
  status?: RunStatus
  /** Accepted for 0.6.0 callers; ours is derived from the completed steps, so it is ignored. */
  currentStepIndex?: number
  progress?: Progress | null
  output?: unknown
  error?: string | null
  heartbeatAt?: string
}

export interface CreateStepInput {
  runId: string
  name: string
  index: number
  status: StepStatus
  output?: unknown
  error?: string
  /** Defaults to the moment of the call, like the step's `completedAt`. */
  startedAt?: string
}

export interface CreateLogInput {
  runId: string
  stepName: string | null
  level: LogLevel
  message: string
  data?: unknown
}

/** 0.6.0's storage layer, method for method. */
export interface Storage {
  /** A new pending run, or the existing one holding the same job name and idempotency key. */
  createRun(input: CreateRunInput): Promise<Run>
  /** Several runs in one statement (all stored or none), answered in the order given. */
  batchCreateRuns(inputs: CreateRunInput[]): Promise<Run[]>
  /** Unfenced update; an unknown id changes nothing. */
  updateRun(runId: string, data: UpdateRunData): Promise<void>
  /** Removes the run with its steps and logs, whatever its status; an unknown id is a no-op. */
  deleteRun(runId: string): Promise<void>
  getRun(runId: string): Promise<Run | null>
  /** Newest first. */
  getRuns(filter?: RunFilter): Promise<Run[]>
  /**
   * The oldest pending run whose concurrency key is neither among `excludeConcurrencyKeys`
   * nor held by a running run. A peek: nothing is claimed.
   */
  getNextPendingRun(excludeConcurrencyKeys?: string[]): Promise<Run | null>
  createStep(input: CreateStepInput): Promise<Step>
  /** In execution order. */
  getSteps(runId: string): Promise<Step[]>
  /** The first completed step of that name, or null. */
  getCompletedStep(runId: string, name: string): Promise<Step | null>
  createLog(input: CreateLogInput): Promise<Log>
  /** Oldest first. */
  getLogs(runId: string): Promise<Log[]>
}

/** A row for `insertRuns`: `payload` is JSON text. */
export interface LegacyStorageDeps {
  db: Kysely<Database>
  /** Monotonic ULIDs. */
  newId: () => string
  /** The instance clock (ms). */
  now: () => number
  /** Resolves once the schema is migrated. */
  ready: () => Promise<void>
  readRun(id: string): Promise<Run | null>
  readRuns(filter: RunFilter): Promise<Run[]>
  readSteps(runId: string): Promise<Step[]>
  readLogs(runId: string): Promise<Log[]>
  /** One statement, idempotency-aware: an existing key answers with its run. */
  insertRuns(runs: NewRun[]): Promise<{ run: Run; created: boolean }[]>
  insertLog(log: NewLog): Promise<void>
}

export function createLegacyStorage(deps: LegacyStorageDeps): Storage {
  const { db } = deps
  const isoNow = () => new Date(deps.now()).toISOString()

  const insert = async (method: string, inputs: CreateRunInput[]): Promise<Run[]> => {
    const createdAt = isoNow()
    const rows = inputs.map((input, position) => {
      const where = inputs.length === 1 ? method : `${method}: item ${position}`
      checkFields(where, input, CREATE_RUN)
      return {
        id: deps.newId(),
        jobName: input.jobName,
        payload: toJson(input.payload, `${where}: payload`) ?? 'null',
        idempotencyKey: input.idempotencyKey ?? null,
        concurrencyKey: input.concurrencyKey ?? null,
        createdAt,
        availableAt: createdAt,
        waitingFor: null,
        parentRunId: null,
      }
    })
    await deps.ready()
    const results = await deps.insertRuns(rows)
    return results.map((result) => result.run)
  }

  // Steps and logs of a run that does not exist would be orphans on SQLite and a foreign-key
  // failure on PostgreSQL: one clear error on both instead.
  const requireRun = async (method: string, runId: string) => {
    const row = await db
      .selectFrom('durably_runs')
      .select('id')
      .where('id', '=', runId)
      .executeTakeFirst()
    if (!row) throw new NotFoundError(`storage.${method}: run ${runId} not found`)
  }

  return {
    async createRun(input) {
      const [run] = await insert('storage.createRun', [input])
      return run!
    },

    async batchCreateRuns(inputs) {
      if (!Array.isArray(inputs)) {
        throw new InvalidArgumentError('storage.batchCreateRuns: expected an array of runs')
      }
      return inputs.length === 0 ? [] : insert('storage.batchCreateRuns', inputs)
    },

    async updateRun(runId, data) {
      checkId('storage.updateRun', 'runId', runId)
      checkFields('storage.updateRun', data, UPDATE_RUN)
      const now = isoNow()
      const set: UpdateObject<Database, 'durably_runs'> = { updated_at: now }
      if (data.status !== undefined) {
        set.status = data.status
        // A status written by hand takes the run away from whichever worker executes it:
        // the new generation fails that execution's next fenced write, and it stops there.
        set.lease_generation = sql<number>`lease_generation + 1`
        set.lease_owner = null
        if (data.status === 'running') {
          set.started_at = sql<string>`COALESCE(started_at, ${now})`
          set.heartbeat_at = now
          set.completed_at = null
        } else if (isTerminal(data.status)) {
          set.completed_at = now
        } else {
          set.completed_at = null
          set.heartbeat_at = null
          set.available_at = sql<string>`CASE WHEN available_at <= ${now} THEN available_at ELSE ${now} END`
        }
        Object.assign(set, NO_WAIT, FREES_SLOT)
      }
      if (data.progress !== undefined)
        set.progress = data.progress === null ? null : JSON.stringify(data.progress)
      if (data.output !== undefined) set.output = toJson(data.output, 'storage.updateRun: output')
      if (data.error !== undefined) set.error = data.error
      if (data.heartbeatAt !== undefined) set.heartbeat_at = data.heartbeatAt
      await deps.ready()
      await db.updateTable('durably_runs').set(set).where('id', '=', runId).execute()
    },

    async deleteRun(runId) {
      checkId('storage.deleteRun', 'runId', runId)
      await deps.ready()
      // Steps and logs go in the same statement: a trigger on SQLite, a cascade on PostgreSQL.
      await db.deleteFrom('durably_runs').where('id', '=', runId).execute()
    },

    async getRun(runId) {
      checkId('storage.getRun', 'runId', runId)
      return deps.readRun(runId)
    },

    async getRuns(filter = {}) {
      checkFields('storage.getRuns', filter, RUN_FILTER)
      return deps.readRuns(filter)
    },

    async getNextPendingRun(excludeConcurrencyKeys = []) {
      if (
        !Array.isArray(excludeConcurrencyKeys) ||
        !excludeConcurrencyKeys.every((key) => typeof key === 'string')
      ) {
        throw new InvalidArgumentError(
          'storage.getNextPendingRun: excludeConcurrencyKeys must be an array of strings',
        )
      }
      await deps.ready()
      const row = await db
        .selectFrom('durably_runs as run')
        .select('run.id')
        .where('run.status', '=', 'pending')
        .where('run.available_at', '<=', isoNow())
        .where((eb) =>
          eb.or([
            eb('run.concurrency_key', 'is', null),
            eb.and([
              ...(excludeConcurrencyKeys.length > 0
                ? [eb('run.concurrency_key', 'not in', excludeConcurrencyKeys)]
                : []),
              // 0.6.0's worker excluded the keys of running runs itself; here the database
              // refuses a second running run per key, so such a run is never next.
              eb.not(
                eb.exists(
                  eb
                    .selectFrom('durably_runs as busy')
                    .select('busy.id')
                    .whereRef('busy.concurrency_key', '=', 'run.concurrency_key')
                    .where('busy.status', '=', 'running'),
                ),
              ),
            ]),
          ]),
        )
        .orderBy('run.available_at')
        .orderBy('run.id')
        .limit(1)
        .executeTakeFirst()
      return row ? deps.readRun(row.id) : null
    },

    async createStep(input) {
      checkFields('storage.createStep', input, CREATE_STEP)
      await deps.ready()
      await requireRun('createStep', input.runId)
      const now = isoNow()
      const id = deps.newId()
      await db
        .insertInto('durably_steps')
        .values({
          id,
          run_id: input.runId,
          name: input.name,
          step_index: input.index,
          status: input.status,
          output: toJson(input.output, 'storage.createStep: output'),
          error: input.error ?? null,
          started_at: input.startedAt ?? now,
          completed_at: now,
        })
        .execute()
      return found(await deps.readSteps(input.runId), id, 'createStep')
    },

    async getSteps(runId) {
      checkId('storage.getSteps', 'runId', runId)
      return deps.readSteps(runId)
    },

    async getCompletedStep(runId, name) {
      checkId('storage.getCompletedStep', 'runId', runId)
      checkId('storage.getCompletedStep', 'name', name)
      // Steps come in execution order: the first match is the one replay would use.
      const steps = await deps.readSteps(runId)
      return steps.find((step) => step.name === name && step.status === 'completed') ?? null
    },

    async createLog(input) {
      checkFields('storage.createLog', input, CREATE_LOG)
      await deps.ready()
      await requireRun('createLog', input.runId)
      const id = deps.newId()
      await deps.insertLog({
        id,
        runId: input.runId,
        stepName: input.stepName ?? null,
        level: input.level,
        message: input.message,
        data: toJson(input.data, 'storage.createLog: data'),
        createdAt: isoNow(),
      })
      return found(await deps.readLogs(input.runId), id, 'createLog')
    },

    async getLogs(runId) {
      checkId('storage.getLogs', 'runId', runId)
      return deps.readLogs(runId)
    },
  }
}

/** What was just written, read back through the instance's decoding. */
function found<T extends { id: string }>(rows: T[], id: string, method: string): T {
  const row = rows.find((candidate) => candidate.id === id)
  if (!row) throw new NotFoundError(`storage.${method}: ${id} was written but cannot be read back`)
  return row
}

// --- argument checks: every key known, every required one present, every value its type ---

interface Field {
  /** May be missing (undefined). */
  optional?: boolean
  /** Accepts `null` too. */
  nullable?: boolean
  is(value: unknown): boolean
  expected: string
}

const text: Field = {
  is: (value) => typeof value === 'string' && value.length > 0,
  expected: 'a non-empty string',
}
const count: Field = {
  is: (value) => typeof value === 'number' && Number.isSafeInteger(value) && value >= 0,
  expected: 'a non-negative whole number',
}
const anyValue: Field = { is: () => true, expected: 'a JSON value' }
const isoTime: Field = {
  is: (value) => typeof value === 'string' && !Number.isNaN(Date.parse(value)),
  expected: 'an ISO-8601 timestamp',
}
const oneOf = (values: readonly string[]): Field => ({
  is: (value) => values.includes(value as string),
  expected: `one of ${values.join(', ')}`,
})
const progress: Field = {
  is: (value) => {
    if (typeof value !== 'object' || value === null) return false
    const { current, total, message } = value as Record<string, unknown>
    return (
      typeof current === 'number' &&
      (total === undefined || typeof total === 'number') &&
      (message === undefined || typeof message === 'string')
    )
  },
  expected: 'an object { current: number, total?: number, message?: string }',
}

const optional = (field: Field): Field => ({ ...field, optional: true })
// 0.6.0 returned absent keys as null, so code often passes a run's `null` straight back.
const optionalOrNull = (field: Field): Field => ({ ...field, optional: true, nullable: true })

const CREATE_RUN: Record<keyof CreateRunInput, Field> = {
  jobName: text,
  payload: anyValue,
  idempotencyKey: optionalOrNull(text),
  concurrencyKey: optionalOrNull(text),
}
const UPDATE_RUN: Record<keyof UpdateRunData, Field> = {
  status: optional(oneOf(RUN_STATUSES)),
  currentStepIndex: optional(count),
  progress: optionalOrNull(progress),
  output: optional(anyValue),
  error: optionalOrNull({ is: (value) => typeof value === 'string', expected: 'a string' }),
  heartbeatAt: optional(isoTime),
}
const RUN_FILTER: Record<keyof RunFilter, Field> = {
  status: optional({ is: isRunStatus, expected: `one of ${RUN_STATUSES.join(', ')}` }),
  jobName: optional(text),
  parentRunId: optional(text),
  limit: optional(count),
  offset: optional(count),
}
const STEP_STATUSES: readonly StepStatus[] = ['completed', 'failed']
const CREATE_STEP: Record<keyof CreateStepInput, Field> = {
  runId: text,
  name: text,
  index: count,
  status: oneOf(STEP_STATUSES),
  output: optional(anyValue),
  error: optionalOrNull({ is: (value) => typeof value === 'string', expected: 'a string' }),
  startedAt: optional(isoTime),
}
const LOG_LEVELS: readonly LogLevel[] = ['info', 'warn', 'error']
const CREATE_LOG: Record<keyof CreateLogInput, Field> = {
  runId: text,
  stepName: optionalOrNull(text),
  level: oneOf(LOG_LEVELS),
  message: { is: (value) => typeof value === 'string', expected: 'a string' },
  data: optional(anyValue),
}

function checkId(where: string, name: string, value: unknown): void {
  if (value === undefined || value === null)
    throw new InvalidArgumentError(`${where}: ${name} is required`)
  if (!text.is(value)) throw new InvalidArgumentError(`${where}: ${name} must be ${text.expected}`)
}

function checkFields(where: string, value: unknown, fields: Record<string, Field>): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new InvalidArgumentError(`${where}: expected an object, got ${describe(value)}`)
  }
  const record = value as Record<string, unknown>
  for (const key of Object.keys(record)) {
    if (!Object.hasOwn(fields, key)) {
      throw new InvalidArgumentError(
        `${where}: unknown key "${key}" (expected ${Object.keys(fields).join(', ')})`,
      )
    }
  }
  for (const [key, field] of Object.entries(fields)) {
    const item = record[key]
    if (item === undefined) {
      if (field.optional) continue
      throw new InvalidArgumentError(`${where}: ${key} is required`)
    }
    if (item === null && field.nullable) continue
    if (!field.is(item)) {
      throw new InvalidArgumentError(
        `${where}: ${key} must be ${field.expected}, got ${describe(item)}`,
      )
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string')
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  return typeof value === 'object' ? 'an object' : String(value)
}
