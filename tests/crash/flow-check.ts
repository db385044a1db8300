/**
 * Flow-control checks for the crash suite, from the journal and from the database:
 * - how many step bodies of one concurrency key were inside at any instant (journal);
 * - how many runs of one key the database held `running` at any sampled instant, and in
 *   which slots (sampled while the chaos runs);
 * - how many first starts of a throttled job fell in any window of its period;
 * - that a step body ran again only after the process that ran it before was killed.
 *
 * Journal times are `performance.timeOrigin + performance.now()` per process: wall clock at
 * process start plus a monotonic clock, all on this one machine, so processes agree to well
 * under a millisecond. Between one body of a key leaving and the next one entering (when the
 * key was full) lie at least two database writes (the run's completion freeing its slot,
 * the next claim taking it), milliseconds apart, so that agreement is enough to order them.
 */
import { Kysely } from 'kysely'
import type { Database } from '../../src/store/schema.js'
import type { DatabaseLocation } from './database.js'
import { openDialect } from './database.js'
import { type JournalEntry, readJournal } from './journal.js'

export interface BodyInterval {
  run: string
  step: string
  pid: number
  from: number
  to: number
  /** How the body ended: its `end` line, or its process's death (no `end`: or not yet). */
  ended: 'end' | 'killed'
}

/**
 * Every step body in the journal as an interval. A body without an `end` was cut short by
 * SIGKILL: it ends when its process was killed (a dead process runs nothing, whatever its
 * run's lease still says).
 */
export function bodyIntervals(
  entries: JournalEntry[],
  killedAt: Map<number, number>,
): BodyInterval[] {
  const ends = new Map<string, JournalEntry[]>()
  for (const entry of entries) {
    if (entry.ev !== 'end' || !entry.step) continue
    const key = `${entry.pid}/${entry.run}/${entry.step}`
    ends.set(key, [...(ends.get(key) ?? []), entry])
  }
  const intervals: BodyInterval[] = []
  for (const begin of entries) {
    if (begin.ev !== 'begin' || !begin.step) continue
    const end = ends
      .get(`${begin.pid}/${begin.run}/${begin.step}`)
      ?.find((entry) => entry.t >= begin.t)
    intervals.push({
      run: begin.run,
      step: begin.step,
      pid: begin.pid,
      from: begin.t,
      to: end?.t ?? killedAt.get(begin.pid) ?? Number.POSITIVE_INFINITY,
      ended: end ? 'end' : 'killed',
    })
  }
  return intervals
}

export interface Peak {
  /** Most bodies inside at once. */
  peak: number
  /** The bodies inside at the first instant the peak was reached. */
  inside: BodyInterval[]
}

/** The most intervals open at one instant (an interval ending as another begins: not both). */
export function peakOverlap(intervals: BodyInterval[]): Peak {
  const edges = intervals.flatMap((interval) => [
    { t: interval.from, delta: 1, interval },
    { t: interval.to, delta: -1, interval },
  ])
  // Ends before begins at one instant: touching intervals do not overlap.
  edges.sort((a, b) => a.t - b.t || a.delta - b.delta)
  const open = new Set<BodyInterval>()
  let best: Peak = { peak: 0, inside: [] }
  for (const edge of edges) {
    if (edge.delta > 0) open.add(edge.interval)
    else open.delete(edge.interval)
    if (open.size > best.peak) best = { peak: open.size, inside: [...open] }
  }
  return best
}

/**
 * Per key, the most step bodies of its runs inside at once, and a violation (with the bodies
 * inside at that instant) where that exceeded the limit.
 */
export function checkConcurrencyInJournal(
  entries: JournalEntry[],
  killedAt: Map<number, number>,
  keyOfRun: Map<string, string>,
  limit: number,
): { peaks: Record<string, number>; violations: string[] } {
  const byKey = new Map<string, BodyInterval[]>()
  for (const interval of bodyIntervals(entries, killedAt)) {
    const key = keyOfRun.get(interval.run)
    if (key === undefined) continue
    byKey.set(key, [...(byKey.get(key) ?? []), interval])
  }
  const peaks: Record<string, number> = {}
  const violations: string[] = []
  for (const [key, intervals] of [...byKey].sort(([a], [b]) => a.localeCompare(b))) {
    const { peak, inside } = peakOverlap(intervals)
    peaks[key] = peak
    if (peak > limit) {
      const at = Math.max(...inside.map((interval) => interval.from))
      violations.push(
        `${peak} bodies of key ${key} inside at once (limit ${limit}) at ${new Date(at).toISOString()}: ${inside
          .map(
            (i) =>
              `${i.run}/${i.step} pid ${i.pid} ${i.from.toFixed(1)}→${i.to.toFixed(1)} (${i.ended})`,
          )
          .join('; ')}`,
      )
    }
  }
  return { peaks, violations }
}

/**
 * A body that ran more than once must have run, every time but its last, in a process that
 * was killed: re-executions come only from kills.
 */
export function reexecutionsWithoutKill(entries: JournalEntry[], victims: Set<number>): string[] {
  const begins = new Map<string, JournalEntry[]>()
  for (const entry of entries) {
    if (entry.ev !== 'begin' || !entry.step) continue
    const key = `${entry.run}/${entry.step}`
    begins.set(key, [...(begins.get(key) ?? []), entry])
  }
  const violations: string[] = []
  for (const [key, list] of begins) {
    for (const earlier of list.slice(0, -1)) {
      if (!victims.has(earlier.pid)) {
        violations.push(`step ${key} ran again after process ${earlier.pid}, which was not killed`)
      }
    }
  }
  return violations
}

/** Bodies the kills cut short: a `begin` without an `end` in a process the chaos killed. */
export function interruptedBodies(
  entries: JournalEntry[],
  killedAt: Map<number, number>,
  victims: Set<number>,
): number {
  return bodyIntervals(entries, killedAt).filter(
    (interval) => interval.ended === 'killed' && victims.has(interval.pid),
  ).length
}

/**
 * The most first starts within any half-open window [start, start + period): the throttle
 * lets a slot's next start happen at `period` after the last, not before.
 */
export function maxStartsPerWindow(
  starts: number[],
  period: number,
): { max: number; window: number[] } {
  const sorted = [...starts].sort((a, b) => a - b)
  let best = { max: 0, window: [] as number[] }
  let last = 0
  for (let first = 0; first < sorted.length; first++) {
    last = Math.max(last, first)
    while (last + 1 < sorted.length && sorted[last + 1]! < sorted[first]! + period) last++
    const count = last - first + 1
    if (count > best.max) best = { max: count, window: sorted.slice(first, last + 1) }
  }
  return best
}

export interface RunningSample {
  /** Samples taken. */
  samples: number
  /** Per key, the most runs the database held `running` in one sample. */
  peaks: Record<string, number>
  violations: string[]
}

/**
 * Sample, until stopped, which runs the database holds `running` per concurrency key, on a
 * connection of its own (the test's observer is destroyed before the chaos returns). Each
 * sample is one statement, so one snapshot: more running runs than the limit in it, or a slot
 * at or above the limit, or two runs in one slot, would be the database's own view exceeding it.
 */
export function sampleRunning(location: DatabaseLocation, limit: number) {
  const db = new Kysely<Database>({ dialect: openDialect(location) })
  const result: RunningSample = { samples: 0, peaks: {}, violations: [] }
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const rows = await db
        .selectFrom('durably_runs')
        .select((eb) => [
          'concurrency_key',
          eb.fn.countAll<number | string>().as('running'),
          eb.fn.count<number | string>('concurrency_slot').distinct().as('slots'),
          eb.fn.max('concurrency_slot').as('top'),
        ])
        .where('status', '=', 'running')
        .where('concurrency_key', 'is not', null)
        .groupBy('concurrency_key')
        .execute()
      result.samples += 1
      for (const row of rows) {
        const key = row.concurrency_key!
        const running = Number(row.running)
        const slots = Number(row.slots)
        const top = Number(row.top)
        result.peaks[key] = Math.max(result.peaks[key] ?? 0, running)
        if (running > limit || top >= limit || slots !== running) {
          result.violations.push(
            `sample ${result.samples}: key ${key} had ${running} running runs in ${slots} slots (highest ${top}), limit ${limit}`,
          )
        }
      }
      // A short pause between samples: the point is many snapshots, not a wait for state.
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  })()
  // A failed sample is reported by stop(), not as an unhandled rejection before it.
  void loop.catch(() => {})
  return {
    async stop(): Promise<RunningSample> {
      stopped = true
      try {
        await loop
      } finally {
        await db.destroy()
      }
      return result
    },
  }
}

/**
 * A `runChaos` victim chooser: a worker with a step body inside now (a `begin` in the journal
 * without its `end`), so the kill cuts a body short and a limit is tried across a takeover;
 * any worker if none has one before a short deadline (the work may be between runs).
 */
export function busyVictim(journalFile: string) {
  return async (pids: number[], random: () => number): Promise<number> => {
    const deadline = Date.now() + 2000
    for (;;) {
      const inside = new Set(
        bodyIntervals(readJournal(journalFile), new Map())
          .filter((interval) => interval.ended === 'killed')
          .map((interval) => interval.pid),
      )
      const busy = pids.flatMap((pid, index) => (inside.has(pid) ? [index] : []))
      if (busy.length > 0) return busy[Math.floor(random() * busy.length)]!
      if (Date.now() > deadline) return Math.floor(random() * pids.length)
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }
}
