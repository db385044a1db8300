/**
 * Which stored events a waiting run may take, as one SQL condition shared by the lookup a
 * wait makes and by the suspending write's own check. `match` holds when the correlation of
 * the event's data (its values at the match's sorted keys, as a JSON array) equals the
 * correlation of the match itself: both sides go through the same SQL expression, so the
 * database's own JSON formatting decides, never JavaScript's.
 */
import { type RawBuilder, sql } from 'kysely'
import type { SqlFamily } from './family.js'
import type { EventQuery, WakeCondition } from './store.js'

/** A condition over `durably_events AS e`: events this run may take for this wait. */
export function takeableEvent(
  family: SqlFamily,
  runId: string,
  query: EventQuery,
): RawBuilder<boolean> {
  const keys = sql`${query.keys}`
  return sql<boolean>`e.name = ${query.event}
    AND (e.target_run_id IS NULL OR e.target_run_id = ${runId})
    AND e.created_at >= (SELECT waiter.created_at FROM durably_runs AS waiter WHERE waiter.id = ${runId})
    AND ${family.correlation(sql`e.data`, keys)} = ${family.correlation(sql`${query.match}`, keys)}
    AND e.id NOT IN (${family.textList(query.consumed)})`
}

/** The run-row values of a suspension on an event: what `sendEvent` finds it by. */
export function eventWaitColumns(family: SqlFamily, query: EventQuery | undefined) {
  if (!query) return { event: sql`NULL`, correlation: sql`NULL` }
  return {
    event: sql`${query.event}`,
    correlation: family.correlation(sql`${query.match}`, sql`${query.keys}`),
  }
}

/** What makes a suspending run claimable at once: the event already sent, the child done. */
export function waitSatisfied(
  family: SqlFamily,
  runId: string,
  condition: WakeCondition,
): RawBuilder<1> {
  if (condition.kind === 'child') {
    return sql<1>`SELECT 1 FROM durably_runs AS child
      WHERE child.id = ${condition.childRunId}
        AND child.status IN ('completed', 'failed', 'cancelled')`
  }
  return sql<1>`SELECT 1 FROM durably_events AS e WHERE ${takeableEvent(family, runId, condition)}`
}
