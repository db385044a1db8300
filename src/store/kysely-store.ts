/**
 * The Store contract on Kysely: portable statements only. What differs between SQLite and
 * PostgreSQL is asked of the family; decoding rows is rows.ts; turning driver failures into
 * `DatabaseError`s (and retrying what may be retried) is resilient.ts, wrapped around this.
 */
import { type Kysely, type SelectQueryBuilder, sql, type UpdateObject } from 'kysely'
import { DatabaseError } from '../errors.js'
import type { Progress, Run, RunFilter, RunStatus, WaitingFor } from '../types.js'
import { TERMINAL_STATUSES } from '../types.js'
import {
  beginStepAttempt,
  endAttempt,
  listAttempts,
  readAttempts,
  recordRunAttempt,
  withAttempts,
} from './attempts.js'
import { compiledStatement, type Slots } from './compiled.js'
import { takeableEvent } from './event-match.js'
import type { SqlFamily } from './family.js'
import { completedColumns, type Fence, fencedUpdate } from './fence.js'
import { migrate } from './migrations.js'
import {
  decodeJsonText,
  type RunRowWithCount,
  rowToLog,
  rowToRecordedStep,
  rowToRun,
  rowToStep,
} from './rows.js'
import { type ClaimedRow, type Database, FREES_SLOT, NO_WAIT } from './schema.js'
import type {
  ClaimedRun,
  ClaimRequest,
  CreatedRun,
  Lease,
  NewLog,
  NewRun,
  PurgeRequest,
  Store,
} from './store.js'
import { NEVER } from './store.js'

export function createKyselyStore(db: Kysely<Database>, family: SqlFamily): Store {
  const toRun = (row: RunRowWithCount, stepCount?: number): Run => rowToRun(row, family, stepCount)

  function selectRuns() {
    return db
      .selectFrom('durably_runs')
      .selectAll('durably_runs')
      .select((eb) =>
        eb
          .selectFrom('durably_steps')
          .select(eb.fn.countAll().as('count'))
          .whereRef('durably_steps.run_id', '=', 'durably_runs.id')
          .where('durably_steps.status', '=', 'completed')
          .as('step_count'),
      )
  }

  async function getRun(id: string): Promise<Run | null> {
    const row = await selectRuns().where('id', '=', id).executeTakeFirst()
    return row ? toRun(row as RunRowWithCount) : null
  }

  // The fence: the write happens only while the run is still ours under this lease. Each
  // fenced write is compiled once (per `keyed`, which adds the column write that frees a slot).
  function fencedStatement<P extends object>(
    set: (slot: Slots<P & KeyedFence>) => UpdateObject<Database, 'durably_runs'>,
  ): (lease: Lease, values: P) => Promise<boolean> {
    const statement = compiledStatement<P & KeyedFence>(
      (db, slot, shape) =>
        fencedUpdate(db, slot, shape.keyed ? { ...set(slot), ...FREES_SLOT } : set(slot)).compile(),
      (values) => (values.keyed ? 'keyed' : ''),
    )
    return async (lease, values) => {
      const fence = {
        runId: lease.runId,
        generation: lease.generation,
        keyed: lease.keyed === true,
      }
      // Not a spread: see insertedRunRow (rows.ts).
      const result = await statement(db, Object.assign({}, values, fence))
      // At least one: SQLocal counts rows a trigger changed too (a waiting parent woken).
      return Number(result.numAffectedRows ?? 0n) > 0
    }
  }

  // The lease's clock: the caller's now on SQLite (a parameter), the database's on PostgreSQL.
  const heartbeat = fencedStatement<{ now: string }>((slot) => ({
    heartbeat_at: family.leaseTime(slot('now')),
  }))
  const saveProgress = fencedStatement<{ progress: string; now: string }>((slot) => ({
    progress: slot('progress'),
    updated_at: slot('now'),
  }))
  const completeRun = fencedStatement<{ output: string | null; now: string }>((slot) =>
    completedColumns(slot('output'), slot('now')),
  )
  // Where the family can carry the next claim in a completion's statement (PostgreSQL).
  const completeAndClaim = family.completeAndClaim?.bind(family)
  const failRun = fencedStatement<{ error: string; now: string }>((slot) => ({
    status: 'failed',
    error: slot('error'),
    ...NO_WAIT,
    lease_owner: null,
    completed_at: slot('now'),
    updated_at: slot('now'),
  }))
  const releaseRun = fencedStatement<{ now: string }>((slot) => ({
    status: 'pending',
    lease_owner: null,
    heartbeat_at: null,
    ...NO_WAIT,
    updated_at: slot('now'),
  }))

  async function readSteps(runId: string) {
    const rows = await db
      .selectFrom('durably_steps')
      .selectAll()
      .where('run_id', '=', runId)
      .orderBy('step_index')
      .orderBy('completed_at')
      .orderBy('id')
      .execute()
    return rows.map((row) => rowToStep(row, family))
  }

  const store: Store = {
    async migrate() {
      await family.prepare(db)
      await migrate(db, family)
    },

    databaseTime: () => family.databaseTime(db),

    async insertRuns(runs: readonly NewRun[]): Promise<CreatedRun[]> {
      const inserted = await family.insertRuns(db, runs)
      const byId = new Map(inserted.map((row) => [row.id, toRun(row, 0)]))
      if (byId.size === runs.length)
        return runs.map((run) => ({ run: byId.get(run.id)!, created: true }))
      // Some idempotency keys already existed (or repeat inside the batch): answer with the
      // run that holds each key, which is what a retrying client wants back.
      const results: CreatedRun[] = []
      for (const run of runs) {
        const fresh = byId.get(run.id)
        if (fresh) {
          results.push({ run: fresh, created: true })
          continue
        }
        const existing = run.idempotencyKey
          ? await selectRuns()
              .where('job_name', '=', run.jobName)
              .where('idempotency_key', '=', run.idempotencyKey)
              .executeTakeFirst()
          : undefined
        if (!existing) {
          throw new DatabaseError(
            `Run ${run.id} of job "${run.jobName}" was not stored and no existing run holds its key`,
          )
        }
        results.push({ run: toRun(existing as RunRowWithCount), created: false })
      }
      return results
    },

    async blockedBy(id, now, workerSeenAfter) {
      const row = await db
        .selectFrom('durably_runs')
        .select([
          'status',
          'job_name',
          'concurrency_key',
          'concurrency_limit',
          'parked_from',
          'available_at',
          'wait_for',
          'throttle_key',
          'throttle_limit',
          'started_at',
        ])
        .where('id', '=', id)
        .executeTakeFirst()
      if (row?.status !== 'pending') return null
      const key = row.concurrency_key
      const limit = Number(row.concurrency_limit ?? 1)
      const running = async () =>
        key === null
          ? 0
          : Number(
              (
                await db
                  .selectFrom('durably_runs')
                  .select((eb) => eb.fn.countAll<number>().as('count'))
                  .where('status', '=', 'running')
                  .where('concurrency_key', '=', key)
                  .executeTakeFirstOrThrow()
              ).count,
            )
      if (row.parked_from !== null && key !== null) {
        return { reason: 'concurrency', key, limit, running: await running() }
      }
      const availableAt = family.readTime(row.available_at ?? now)
      const wait = resumedWaitOf(
        typeof row.wait_for === 'string' ? row.wait_for : JSON.stringify(row.wait_for ?? null),
      )
      if (availableAt > now) {
        if (wait?.kind === 'throttle')
          return { reason: 'throttle', key: wait.key, until: availableAt }
        if (wait?.kind === 'debounce')
          return { reason: 'debounce', key: wait.key, until: availableAt }
        if (!wait || wait.kind === 'delay') return { reason: 'delay', until: availableAt }
        return {
          reason: 'wait',
          kind: wait.kind,
          until: availableAt === NEVER ? null : availableAt,
        }
      }
      if (key !== null) {
        const busy = await running()
        if (busy >= limit) return { reason: 'concurrency', key, limit, running: busy }
      }
      if (row.throttle_key !== null && row.started_at === null) {
        const slots = await db
          .selectFrom('durably_throttle_slots')
          .select(['free_at'])
          .where('throttle_key', '=', row.throttle_key)
          .where('free_at', '>', now)
          .orderBy('free_at')
          .execute()
        if (slots.length >= Number(row.throttle_limit) && slots[0]) {
          return {
            reason: 'throttle',
            key: row.throttle_key,
            until: family.readTime(slots[0].free_at),
          }
        }
      }
      const sighting = await db
        .selectFrom('durably_workers')
        .select('seen_at')
        .where('job_name', '=', row.job_name)
        .executeTakeFirst()
      const lastSeenAt = sighting ? family.readTime(sighting.seen_at) : null
      if (lastSeenAt === null || lastSeenAt < workerSeenAfter) {
        return { reason: 'no-worker', jobName: row.job_name, lastSeenAt }
      }
      return null
    },

    async sightWorkers(jobNames, now) {
      if (jobNames.length === 0) return
      await db
        .insertInto('durably_workers')
        .values(jobNames.map((jobName) => ({ job_name: jobName, seen_at: now })))
        .onConflict((conflict) =>
          conflict.column('job_name').doUpdateSet({ seen_at: (eb) => eb.ref('excluded.seen_at') }),
        )
        .execute()
    },

    async debounceRun(run: NewRun): Promise<CreatedRun> {
      const key = run.debounce?.key
      if (key === undefined) return (await store.insertRuns([run]))[0] as CreatedRun
      // Optimistic: take over the pending run of the key if it has not started, else insert.
      // A claim or another trigger in between makes the write miss, and we look again; the
      // unique index over pending debounce keys keeps two inserts from both landing.
      for (let tries = 0; tries < DEBOUNCE_TRIES; tries++) {
        const existing = await db
          .selectFrom('durably_runs')
          .select(['id', 'wait_for'])
          .where('debounce_key', '=', key)
          .where('status', '=', 'pending')
          .where('started_at', 'is', null)
          .executeTakeFirst()
        if (existing) {
          const latest = latestStartOf(existing.wait_for, family)
          const availableAt = latest !== null && latest < run.availableAt ? latest : run.availableAt
          const waitingFor: WaitingFor = {
            kind: 'debounce',
            key,
            until: availableAt,
            ...(latest !== null ? { latest } : {}),
          }
          const updated = await db
            .updateTable('durably_runs')
            .set({
              payload: run.payload,
              available_at: availableAt,
              wait_for: JSON.stringify(waitingFor),
              priority: run.priority ?? null,
              updated_at: run.createdAt,
            })
            .where('id', '=', existing.id)
            .where('status', '=', 'pending')
            .where('started_at', 'is', null)
            .returningAll()
            .executeTakeFirst()
          if (updated) return { run: toRun(updated as RunRowWithCount, 0), created: false }
          continue
        }
        const [inserted] = await family.insertRuns(db, [run])
        if (inserted) return { run: toRun(inserted as RunRowWithCount, 0), created: true }
      }
      throw new DatabaseError(
        `Debounced run of job "${run.jobName}" (key "${key}") could not be stored: its key kept changing hands`,
      )
    },

    getRun,

    async latestIdempotencyKey(jobName, prefix) {
      // A range on the unique (job_name, idempotency_key) index: ISO ticks sort as they fall.
      const row = await db
        .selectFrom('durably_runs')
        .select('idempotency_key')
        .where('job_name', '=', jobName)
        .where('idempotency_key', 'is not', null)
        .where('idempotency_key', '>=', prefix)
        .where('idempotency_key', '<', `${prefix}\uffff`)
        .orderBy('idempotency_key', 'desc')
        .limit(1)
        .executeTakeFirst()
      return row?.idempotency_key ?? null
    },

    async getRuns(filter: RunFilter = {}): Promise<Run[]> {
      let query = selectRuns() as SelectQueryBuilder<Database, 'durably_runs', RunRowWithCount>
      if (filter.status) query = query.where('status', '=', filter.status)
      if (filter.jobName) query = query.where('job_name', '=', filter.jobName)
      if (filter.parentRunId) query = query.where('parent_run_id', '=', filter.parentRunId)
      query = query.orderBy('created_at', 'desc').orderBy('id', 'desc')
      if (filter.limit !== undefined) query = query.limit(filter.limit)
      if (filter.offset !== undefined) {
        if (filter.limit === undefined) query = query.limit(family.unboundedLimit)
        query = query.offset(filter.offset)
      }
      const rows = await query.execute()
      return rows.map((row) => toRun(row))
    },

    async deleteRun(id: string) {
      // Children go with the row in the same statement: a trigger on SQLite, a cascading
      // foreign key on PostgreSQL. Deleted rows are counted from RETURNING, since some
      // drivers (SQLocal) count the trigger's deletions in the affected rows too.
      const deleted = await db
        .deleteFrom('durably_runs')
        .where('id', '=', id)
        .where('status', 'in', TERMINAL_STATUSES)
        .returning('id')
        .execute()
      return deleted.length === 1
    },

    async purgeRuns(request: PurgeRequest) {
      const statuses = (request.statuses ?? TERMINAL_STATUSES).filter((status) =>
        TERMINAL_STATUSES.includes(status),
      )
      if (statuses.length === 0 || request.limit <= 0) return 0
      let candidates = db
        .selectFrom('durably_runs')
        .select('id')
        .where('status', 'in', statuses)
        .where('updated_at', '<', request.olderThan)
        // Implied (a run is updated after it is created), and what bounds the walk of the
        // (status, created_at) index: the runs kept are never read.
        .where('created_at', '<', request.olderThan)
      if (request.jobName !== undefined)
        candidates = candidates.where('job_name', '=', request.jobName)
      // Steps, logs and attempts go with each row (a trigger on SQLite, cascading keys on
      // PostgreSQL). The status is checked again on the row deleted (PostgreSQL re-reads a row
      // changed since the subquery's snapshot: a run retried meanwhile stays); `|| ''` keeps
      // SQLite's planner from walking every finished run through the status index for it.
      const deleted = await db
        .deleteFrom('durably_runs')
        .where('id', 'in', candidates.limit(request.limit))
        .where(sql<string>`status || ''`, 'in', statuses)
        .returning('id')
        .execute()
      // Signals are addressed by id, not keyed to the row: removed after it. A crash between
      // the two leaves signals no run can take, never a run without its signals.
      if (deleted.length > 0) {
        await db
          .deleteFrom('durably_events')
          .where(
            'target_run_id',
            'in',
            deleted.map((row) => row.id),
          )
          .execute()
      }
      return deleted.length
    },

    async purgeEvents(olderThan, limit) {
      // An unfinished run created at or before the event could still take it: an index seek
      // on (status, created_at) per event.
      const unfinished = ['pending', 'running'] as const satisfies readonly RunStatus[]
      const candidates = db
        .selectFrom('durably_events as e')
        .select('e.id')
        .where('e.target_run_id', 'is', null)
        .where('e.created_at', '<', olderThan)
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('durably_runs as r')
                .select('r.id')
                .where('r.status', 'in', unfinished)
                .whereRef('r.created_at', '<=', 'e.created_at'),
            ),
          ),
        )
        .limit(limit)
      const deleted = await db
        .deleteFrom('durably_events')
        .where('id', 'in', candidates)
        .returning('id')
        .execute()
      return deleted.length
    },

    async getTraceContext(runId) {
      const row = await db
        .selectFrom('durably_runs')
        .select(sql<string | null>`CAST(trace_context AS TEXT)`.as('trace_context'))
        .where('id', '=', runId)
        .executeTakeFirst()
      return row?.trace_context ?? null
    },

    async claimNextRun(request: ClaimRequest): Promise<ClaimedRun | null> {
      const row = await family.claimNextRun(db, request)
      return row ? claimedRun(row) : null
    },

    heartbeat: (lease, now) => heartbeat(lease, { now }),

    commitStep: (lease, step) => family.commitStep(db, lease, step),

    saveProgress: (lease, progress: Progress, now) =>
      saveProgress(lease, { progress: JSON.stringify(progress), now }),

    completeRun: (lease, output, now) => completeRun(lease, { output, now }),

    ...(completeAndClaim
      ? {
          async completeRunAndClaim(lease: Lease, output: string | null, request: ClaimRequest) {
            const alone = async () => ({
              completed: await completeRun(lease, { output, now: request.now }),
              next: null,
              claimAgain: true,
            })
            // A keyed run's end wakes its parked runs, which this claim's snapshot cannot see.
            if (lease.keyed) return alone()
            const outcome = await completeAndClaim(db, lease, output, request)
            if (outcome === 'collided') return alone()
            return Object.assign({}, outcome, {
              next: outcome.next ? claimedRun(outcome.next) : null,
            })
          },
        }
      : {}),

    failRun: (lease, error, now) => failRun(lease, { error, now }),

    suspendRun: (lease, suspension) => family.suspendRun(db, lease, suspension),

    nextWakeAt: (jobNames, now) => family.nextWakeAt(db, jobNames, now),

    releaseRun: (lease, now) => releaseRun(lease, { now }),

    async findEvent(runId, query) {
      const row = await db
        .selectFrom('durably_events as e')
        .select(['e.id', 'e.name', 'e.created_at'])
        .select(sql<string>`CAST(e.data AS TEXT)`.as('data'))
        .where(takeableEvent(family, runId, query))
        .orderBy('e.created_at')
        .orderBy('e.id')
        .limit(1)
        .executeTakeFirst()
      if (!row) return null
      return {
        id: row.id,
        name: row.name,
        data: decodeJsonText(row.data, () => `Event ${row.id}: stored data`),
        sentAt: family.readTime(row.created_at),
      }
    },

    async insertEvent(event) {
      const inserted = await db
        .insertInto('durably_events')
        .values({
          id: event.id,
          name: event.name,
          data: event.data,
          target_run_id: event.targetRunId,
          created_at: event.createdAt,
        })
        .onConflict((conflict) => conflict.column('id').doNothing())
        .returning('id')
        .execute()
      return inserted.length === 1
    },

    async cancelRun(id, now) {
      const result = await db
        .updateTable('durably_runs')
        .set({
          ...FREES_SLOT,
          status: 'cancelled',
          lease_owner: null,
          ...NO_WAIT,
          completed_at: now,
          updated_at: now,
        })
        .where('id', '=', id)
        .where('status', 'in', ['pending', 'running'] as const satisfies readonly RunStatus[])
        .executeTakeFirst()
      return Number(result.numUpdatedRows) > 0 ? getRun(id) : null
    },

    async retryRun(id, now) {
      const result = await db
        .updateTable('durably_runs')
        .set({
          status: 'pending',
          error: null,
          output: null,
          lease_owner: null,
          heartbeat_at: null,
          ...NO_WAIT,
          available_at: sql`CASE WHEN available_at <= ${now} THEN available_at ELSE ${now} END`,
          // A fresh set of attempts: the policy's count starts again (earlier ones stay recorded).
          attempt: null,
          completed_at: null,
          updated_at: now,
        })
        .where('id', '=', id)
        .where('status', 'in', ['failed', 'cancelled'] as const satisfies readonly RunStatus[])
        .executeTakeFirst()
      return Number(result.numUpdatedRows) > 0 ? getRun(id) : null
    },

    async getSteps(runId) {
      const steps = await readSteps(runId)
      return withAttempts(steps, await readAttempts(db, runId), family)
    },

    async getAttempts(runId) {
      const rows = await readAttempts(db, runId)
      return rows.length === 0 ? [] : listAttempts(await readSteps(runId), rows, family)
    },

    beginStepAttempt: (lease, attempt) => beginStepAttempt(db, family, lease, attempt),

    endAttempt: (id, error, endedAt) => endAttempt(db, id, error, endedAt),

    recordRunAttempt: (attempt) => recordRunAttempt(db, attempt),

    async getRecordedSteps(runId) {
      const rows = await db
        .selectFrom('durably_steps')
        .select(['run_id', 'name', 'step_index'])
        .select(sql<string | null>`CAST(output AS TEXT)`.as('output'))
        .where('run_id', '=', runId)
        .where('status', '=', 'completed')
        .orderBy('step_index')
        .execute()
      return rows.map((row) => rowToRecordedStep(row))
    },

    async insertLog(log: NewLog) {
      await db
        .insertInto('durably_logs')
        .values({
          id: log.id,
          run_id: log.runId,
          step_name: log.stepName,
          level: log.level,
          message: log.message,
          data: log.data,
          created_at: log.createdAt,
        })
        .execute()
    },

    async getLogs(runId) {
      const rows = await db
        .selectFrom('durably_logs')
        .selectAll()
        .where('run_id', '=', runId)
        .orderBy('created_at')
        .orderBy('id')
        .execute()
      return rows.map((row) => rowToLog(row, family))
    },
  }

  return store
}

/** What the engine needs of a claimed row to execute it. */
function claimedRun(row: ClaimedRow): ClaimedRun {
  return {
    run: { id: row.id, jobName: row.job_name, idempotencyKey: row.idempotency_key ?? null },
    lease: {
      runId: row.id,
      generation: Number(row.lease_generation),
      ...(row.concurrency_key !== null ? { keyed: true } : {}),
    },
    payload: decodeJsonText(row.payload, () => `Run ${row.id}: the stored payload`),
    resumedWait: resumedWaitOf(row.wait_for),
    attempt: Number(row.attempt ?? 1),
  }
}

/** The wait a claimed run was suspended in; unreadable JSON just means none to resume. */
function resumedWaitOf(text: unknown): WaitingFor | null {
  const decoded = decodeJsonText(text, () => 'wait')
  return decoded.ok && decoded.value !== null && typeof decoded.value === 'object'
    ? (decoded.value as WaitingFor)
    : null
}

/** A fenced write's values: the lease, and whether the write frees a concurrency slot. */
interface KeyedFence extends Fence {
  keyed: boolean
}

/** Rounds of look-then-write a debounced trigger tries before giving up. */
const DEBOUNCE_TRIES = 8

/** The latest start a debounced run's first trigger allowed (`maxWait`), if any. */
function latestStartOf(waitFor: unknown, family: SqlFamily): string | null {
  const decoded = typeof waitFor === 'string' ? decodeJsonText(waitFor, () => 'wait') : null
  const value = decoded ? (decoded.ok ? decoded.value : null) : family.readJson(waitFor)
  const latest = (value as { latest?: unknown } | null | undefined)?.latest
  return typeof latest === 'string' ? latest : null
}
