/**
 * What the browser bench's workloads share: the jobs (bench/setup.ts's, which cannot be
 * imported here: it opens libSQL files through node:fs), OPFS databases opened through
 * SQLocal and proven to be in OPFS, the raw floor's statements, medians and the JSON lines.
 */

import { createDurably, type DurablyEvent, defineJob } from 'durably'
import type { SQLocal } from 'sqlocal'
import { SQLocalKysely } from 'sqlocal/kysely'
import { commands } from 'vitest/browser'
import { z } from 'zod'

declare module 'vitest/browser' {
  interface BrowserCommands {
    report(line: Record<string, unknown>): Promise<void>
    note(text: string): Promise<void>
  }
}

export const report = (line: Record<string, unknown>) => commands.report(line)
export const note = (text: string) => commands.note(text)

export const threeStepJob = defineJob({
  name: 'three-steps',
  input: z.object({ n: z.number() }),
  run: async (step, { n }) => {
    const a = await step.run('a', () => n + 1)
    const b = await step.run('b', () => a + 1)
    return step.run('c', () => b + 1)
  },
})

export function manyStepsJob(steps: number) {
  return defineJob({
    name: 'many-steps',
    input: z.object({}),
    run: async (step) => {
      let total = 0
      for (let index = 0; index < steps; index++) total = await step.run('step', () => total + 1)
      return total
    },
  })
}

/** Epoch milliseconds at the page's timer resolution; comparable with a worker's. */
export const epoch = () => performance.timeOrigin + performance.now()

export const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const round = (value: number, digits = 3) => Number(value.toFixed(digits))

export interface OpfsDatabase {
  client: SQLocalKysely
  file: string
  /** Close the client (if durably has not) and delete the file from OPFS. */
  close(): Promise<void>
}

let counter = 0

/**
 * A fresh database file in OPFS, or an error: SQLocal falls back to memory with only a console
 * line when it cannot open OPFS (no isolation headers, or the file held by another client);
 * tests/browser/sqlocal-backend.ts retries the same way.
 */
export async function openOpfs(tag: string, processor?: () => Worker): Promise<OpfsDatabase> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const file = `durably-bench-${tag}-${Date.now().toString(36)}-${counter++}.sqlite3`
    const client = processor
      ? new SQLocalKysely({ databasePath: file, processor: processor() })
      : new SQLocalKysely(file)
    const info = await client.getDatabaseInfo()
    if (info.storageType === 'opfs') {
      return {
        client,
        file,
        async close() {
          await bounded(client.destroy())
          await removeFromOpfs(file)
        },
      }
    }
    await bounded(client.destroy())
    await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
  }
  throw new Error(`SQLocal would not open ${tag} in OPFS (it fell back to memory five times)`)
}

/** The file's size in OPFS itself: a database in memory has no file there. */
export async function opfsFileSize(file: string): Promise<number> {
  const root = await navigator.storage.getDirectory()
  const handle = await root.getFileHandle(file)
  return (await handle.getFile()).size
}

async function removeFromOpfs(file: string): Promise<void> {
  const root = await navigator.storage.getDirectory()
  for (const name of [file, `${file}-journal`, `${file}-wal`, `${file}-shm`]) {
    await root.removeEntry(name).catch(() => undefined)
  }
}

/** Closing must not hang the bench: each file has its own name, so a leftover is harmless. */
export function bounded(operation: Promise<unknown>, ms = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    operation.then(
      () => {
        clearTimeout(timer)
        resolve()
      },
      () => {
        clearTimeout(timer)
        resolve()
      },
    )
  })
}

/** The pragmas in force on a client's connection (durably set them when it migrated). */
export async function pragmas(client: SQLocal) {
  const [journal] = await client.sql<{ journal_mode: string }>('PRAGMA journal_mode')
  const [synchronous] = await client.sql<{ synchronous: number }>('PRAGMA synchronous')
  const [locking] = await client.sql<{ locking_mode: string }>('PRAGMA locking_mode')
  return {
    journal_mode: journal?.journal_mode,
    synchronous: synchronous?.synchronous,
    locking_mode: locking?.locking_mode,
  }
}

// The raw floor's statements: bench/workloads/floor.ts's, one autocommitted statement each.
export const FLOOR_SQL = {
  insertRun: `INSERT INTO durably_runs (id, job_name, payload, status, lease_generation, created_at, updated_at)
      VALUES (?, 'three-steps', ?, 'pending', 0, ?, ?)`,
  claim: `UPDATE durably_runs SET status = 'running', lease_owner = 'floor',
      lease_generation = lease_generation + 1, heartbeat_at = ?, started_at = ?, updated_at = ?
      WHERE id = ?`,
  insertStep: `INSERT INTO durably_steps (id, run_id, name, step_index, status, output, started_at, completed_at)
      VALUES (?, ?, ?, ?, 'completed', ?, ?, ?)`,
  complete: `UPDATE durably_runs SET status = 'completed', output = ?, lease_owner = NULL,
      completed_at = ?, updated_at = ? WHERE id = ?`,
  /** durably's own step write (store/sqlite-family.ts `commitStepStatement`), fenced. */
  fencedStep: `INSERT INTO durably_steps (id, run_id, name, step_index, status, output, error, started_at, completed_at)
      SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?
      WHERE EXISTS (
        SELECT 1 FROM durably_runs
        WHERE id = ? AND status = 'running' AND lease_generation = ?)`,
} as const

/** A run inserted and claimed by hand, as the floor does; returns its id. */
export async function rawClaimedRun(client: SQLocal, id: string, n = 0): Promise<string> {
  const now = new Date().toISOString()
  await client.sql(FLOOR_SQL.insertRun, id, `{"n":${n}}`, now, now)
  await client.sql(FLOOR_SQL.claim, now, now, now, id)
  return id
}

/** One run's writes by hand: insert, claim, `steps` step rows, complete. */
export async function rawRun(client: SQLocal, id: string, n: number, steps: number) {
  await rawClaimedRun(client, id, n)
  const now = new Date().toISOString()
  for (let step = 0; step < steps; step++) {
    await client.sql(
      FLOOR_SQL.insertStep,
      `${id}-${step}`,
      id,
      String(step),
      step,
      String(n + step),
      now,
      now,
    )
  }
  await client.sql(FLOOR_SQL.complete, String(n + steps), now, now, id)
}

/** durably on `db`, with library defaults; refuses to go on if it says storage is volatile. */
export async function durablyOn<
  T extends Parameters<ReturnType<typeof createDurably>['register']>[0],
>(db: OpfsDatabase, jobs: T) {
  const durably = createDurably({ dialect: db.client.dialect }).register(jobs)
  let volatile: DurablyEvent | undefined
  durably.on('storage:volatile', (event) => {
    volatile = event
  })
  await durably.migrate()
  await durably.getRuns() // a second ready(): the storage check has answered by now
  if (volatile)
    throw new Error(`durably says the database is volatile: ${JSON.stringify(volatile)}`)
  return durably
}
