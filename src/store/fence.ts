/**
 * The fence every write of an execution goes through: it changes the run only while the run
 * is still running under the writer's lease generation. Shared by the store's fenced writes
 * and PostgreSQL's completion that carries a claim, so what a completion writes is one list.
 */
import type { Kysely, UpdateObject } from 'kysely'
import type { Slots } from './compiled.js'
import { type Database, NO_WAIT } from './schema.js'

/** The lease a fenced write is conditioned on, as a statement's values. */
export interface Fence {
  runId: string
  generation: number
}

/** `set` on the run, fenced by its lease (values `runId`, `generation`). */
export function fencedUpdate<P extends Fence>(
  db: Kysely<Database>,
  slot: Slots<P>,
  set: UpdateObject<Database, 'durably_runs'>,
) {
  return db
    .updateTable('durably_runs')
    .set(set)
    .where('id', '=', slot('runId'))
    .where('status', '=', 'running')
    .where('lease_generation', '=', slot('generation'))
}

/** What a completion writes: the run ends `completed` with its output, waiting for nothing. */
export function completedColumns(
  output: string | null,
  now: string,
): UpdateObject<Database, 'durably_runs'> {
  return {
    status: 'completed',
    output,
    ...NO_WAIT,
    error: null,
    lease_owner: null,
    completed_at: now,
    updated_at: now,
  }
}
