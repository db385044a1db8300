/**
 * Where a durable step's time goes in the browser. One run of many steps on an OPFS database
 * whose SQLocal worker carries a stopwatch (timed-worker.ts), with the page instrumented from
 * outside durably (src/ is not touched): every statement SQLocal is asked to run (its client's
 * `exec`), the Web Lock SQLocal takes per statement, every timer set during the run, durably's
 * events. Then the same worker runs raw step inserts (plain, and durably's fenced statement)
 * for comparison. Prints `browser-breakdown-*` JSON lines.
 *
 * Per statement: page = exec called → exec returned; lock = wait for SQLocal's per-statement
 * Web Lock; worker = message received in the worker → answer posted; exec = sqlite's part of
 * it (prepare, step, finalize, with every OPFS call); transit = page − lock − worker (the two
 * postMessage hops and the page's promise plumbing). OPFS calls: sqlite-wasm's own counters,
 * each call a round trip from SQLocal's worker to the async OPFS proxy worker.
 */
import { CompiledQuery, Kysely } from 'kysely'
import type { SQLocal } from 'sqlocal'
import {
  durablyOn,
  epoch,
  FLOOR_SQL,
  manyStepsJob,
  median,
  openOpfs,
  rawClaimedRun,
  report,
  round,
  threeStepJob,
} from './support.js'
import type { WorkerEntry } from './timed-worker.js'

interface PageEntry {
  sql: string
  calledAt: number
  lockAt?: number
  returnedAt?: number
}

interface TimerEntry {
  kind: 'timeout' | 'interval'
  delay: number
  setAt: number
  firedAt?: number
}

type Exec = SQLocal['exec']

/** Wraps the client's `exec`, the Web Lock API and timers; `restore()` puts them back. */
function instrument(client: SQLocal) {
  const statements: PageEntry[] = []
  const timers: TimerEntry[] = []
  const lockRequests = new Map<string, number>()
  let lockQueries = 0
  let recording = false
  let requesting: PageEntry | undefined

  const exec: Exec = client.exec
  ;(client as { exec: Exec }).exec = async (sql, params, method, key) => {
    const entry: PageEntry = { sql, calledAt: epoch() }
    statements.push(entry)
    // SQLocal asks for its lock synchronously inside exec: the wrapper below takes `requesting`.
    requesting = entry
    try {
      return await exec(sql, params, method, key)
    } finally {
      requesting = undefined
      entry.returnedAt = epoch()
    }
  }

  const locks = navigator.locks as unknown as {
    request: (...args: unknown[]) => Promise<unknown>
    query: () => Promise<unknown>
  }
  const request = locks.request
  const query = locks.query
  locks.request = function (this: unknown, ...args: unknown[]) {
    const name = String(args[0])
    const family = name.replace(/\(.*\)$/, '').replace(/:[^:]*$/, ':…')
    if (recording) lockRequests.set(family, (lockRequests.get(family) ?? 0) + 1)
    const entry = requesting
    requesting = undefined
    const callback = args.pop() as (lock: unknown) => unknown
    const wrapped = entry
      ? (lock: unknown) => {
          entry.lockAt = epoch()
          return callback(lock)
        }
      : callback
    return request.call(this, ...args, wrapped)
  }
  locks.query = function (this: unknown) {
    if (recording) lockQueries++
    return query.call(this)
  }

  const setTimeoutOriginal = globalThis.setTimeout
  const setIntervalOriginal = globalThis.setInterval
  type SetTimer = (handler: TimerHandler, delay?: number, ...rest: unknown[]) => unknown
  const timed =
    (kind: TimerEntry['kind'], original: SetTimer) =>
    (handler: TimerHandler, delay?: number, ...rest: unknown[]) => {
      if (!recording || typeof handler !== 'function') return original(handler, delay, ...rest)
      const entry: TimerEntry = { kind, delay: delay ?? 0, setAt: epoch() }
      timers.push(entry)
      return original(
        (...args: unknown[]) => {
          entry.firedAt ??= epoch()
          ;(handler as (...a: unknown[]) => void)(...args)
        },
        delay,
        ...rest,
      )
    }
  globalThis.setTimeout = timed('timeout', setTimeoutOriginal as SetTimer) as typeof setTimeout
  globalThis.setInterval = timed('interval', setIntervalOriginal as SetTimer) as typeof setInterval

  return {
    statements,
    timers,
    lockRequests,
    lockQueries: () => lockQueries,
    record(on: boolean) {
      recording = on
    },
    restore() {
      ;(client as { exec: Exec }).exec = exec
      locks.request = request
      locks.query = query
      globalThis.setTimeout = setTimeoutOriginal
      globalThis.setInterval = setIntervalOriginal
    },
  }
}

function workerLog(worker: Worker): Promise<WorkerEntry[]> {
  return new Promise((resolve) => {
    const listener = (event: MessageEvent) => {
      if (event.data?.type !== 'bench-stats') return
      worker.removeEventListener('message', listener)
      resolve(event.data.log as WorkerEntry[])
    }
    worker.addEventListener('message', listener)
    worker.postMessage({ type: 'bench-stats' })
  })
}

interface Timed {
  sql: string
  page: number
  lock: number
  worker: number
  exec: number
  transit: number
  calledAt: number
  vfs: Record<string, [number, number]>
}

/** Page entries matched with the worker's, in order (one statement in flight at a time). */
function join(page: PageEntry[], worker: WorkerEntry[]): Timed[] {
  const queries = worker.filter((entry) => entry.type === 'query')
  if (queries.length !== page.length) {
    throw new Error(`page sent ${page.length} statements, worker saw ${queries.length}`)
  }
  return page.map((entry, index) => {
    const seen = queries[index]!
    if (seen.sql !== entry.sql)
      throw new Error(`statement ${index} differs between page and worker`)
    const pageMs = (entry.returnedAt ?? Number.NaN) - entry.calledAt
    const lock = (entry.lockAt ?? entry.calledAt) - entry.calledAt
    const inWorker = (seen.repliedAt ?? Number.NaN) - seen.receivedAt
    return {
      sql: entry.sql,
      page: pageMs,
      lock,
      worker: inWorker,
      exec: (seen.execEnd ?? Number.NaN) - (seen.execStart ?? Number.NaN),
      transit: pageMs - lock - inWorker,
      calledAt: entry.calledAt,
      vfs: seen.vfs ?? {},
    }
  })
}

const kindOf = (sql: string) => sql.replace(/\s+/g, ' ').trim().slice(0, 90)

function summarize(list: Timed[]) {
  const vfsNames = new Set(list.flatMap((entry) => Object.keys(entry.vfs)))
  const vfs: Record<string, { calls: number; wait_ms: number }> = {}
  for (const name of [...vfsNames].sort()) {
    vfs[name] = {
      calls: median(list.map((entry) => entry.vfs[name]?.[0] ?? 0)),
      wait_ms: round(median(list.map((entry) => entry.vfs[name]?.[1] ?? 0))),
    }
  }
  const vfsWait = median(
    list.map((entry) => Object.values(entry.vfs).reduce((sum, [, wait]) => sum + wait, 0)),
  )
  return {
    count: list.length,
    page_ms: round(median(list.map((e) => e.page))),
    lock_ms: round(median(list.map((e) => e.lock))),
    worker_ms: round(median(list.map((e) => e.worker))),
    exec_ms: round(median(list.map((e) => e.exec))),
    opfs_wait_ms: round(vfsWait),
    transit_ms: round(median(list.map((e) => e.transit))),
    opfs_calls: vfs,
  }
}

function byKind(list: Timed[]) {
  const kinds = new Map<string, Timed[]>()
  for (const entry of list) {
    const kind = kindOf(entry.sql)
    kinds.set(kind, [...(kinds.get(kind) ?? []), entry])
  }
  return [...kinds].map(([kind, entries]) => ({ sql: kind, ...summarize(entries) }))
}

export async function breakdown(steps: number): Promise<void> {
  const timedWorker = () =>
    new Worker(new URL('./timed-worker.ts', import.meta.url), { type: 'module' })
  const db = await openOpfs('breakdown', timedWorker)
  const worker = (db.client as unknown as { processor: Worker }).processor
  const probe = instrument(db.client)
  try {
    const durably = await durablyOn(db, { job: manyStepsJob(steps) })
    await durably.jobs.job.trigger({})
    const completions: number[] = []
    let started = 0
    let finishedAt = 0
    durably.on('run:start', () => {
      started = epoch()
    })
    durably.on('step:complete', () => {
      completions.push(epoch())
    })
    const finished = new Promise<void>((resolve) =>
      durably.on('run:complete', () => {
        finishedAt = epoch()
        resolve()
      }),
    )
    await workerLog(worker) // drop migration's entries
    probe.statements.length = 0
    probe.record(true)
    durably.start()
    await finished
    probe.record(false)
    await durably.stop()
    const during = join(probe.statements, await workerLog(worker)).filter(
      (entry) => entry.calledAt >= started && entry.calledAt <= finishedAt,
    )
    const timers = probe.timers.filter((t) => t.setAt >= started && t.setAt <= finishedAt)

    // Steady state: steps 3..N-1, each from the previous step:complete to its own.
    const periods: number[] = []
    const inStatements: number[] = []
    const statementsPerStep: number[] = []
    const timersPerStep: number[] = []
    for (let k = 3; k < completions.length; k++) {
      const from = completions[k - 1]!
      const to = completions[k]!
      const inside = during.filter((entry) => entry.calledAt >= from && entry.calledAt < to)
      periods.push(to - from)
      inStatements.push(inside.reduce((sum, entry) => sum + entry.page, 0))
      statementsPerStep.push(inside.length)
      timersPerStep.push(timers.filter((t) => t.setAt >= from && t.setAt < to).length)
    }
    const zeroTimers = timers.filter((t) => t.delay === 0 && t.firedAt !== undefined)
    const stepCommits = during.filter((entry) => entry.sql.includes('INSERT INTO durably_steps'))
    await report({
      workload: 'browser-breakdown-step',
      description: `one instrumented run of ${steps} steps (timed worker); steady-state steps, medians`,
      steps,
      ms_per_step_run: round((finishedAt - started) / steps),
      ms_step_period: round(median(periods)),
      ms_in_statements_per_step: round(median(inStatements)),
      ms_outside_statements_per_step: round(median(periods) - median(inStatements)),
      statements_per_step: median(statementsPerStep),
      statements_in_run: during.length,
      step_commit: summarize(stepCommits),
      timers_per_step: median(timersPerStep),
      timers_in_run: timers.length,
      timers_by_delay: Object.fromEntries(
        [...new Set(timers.map((t) => t.delay))].map((delay) => [
          delay,
          timers.filter((t) => t.delay === delay).length,
        ]),
      ),
      zero_delay_timer_fire_ms_p50: round(
        median(zeroTimers.map((t) => (t.firedAt ?? 0) - t.setAt)),
      ),
      web_lock_requests_in_run: Object.fromEntries(probe.lockRequests),
      web_lock_queries_in_run: probe.lockQueries(),
    })
    await report({
      workload: 'browser-breakdown-statements',
      description: 'every statement durably sent during the run, by kind',
      kinds: byKind(during),
    })

    // Runs of 3 steps, as the throughput workload: what durably sends per run.
    const runs = 10
    const threeSteps = await durablyOn(db, { job: threeStepJob })
    let completed = 0
    const allDone = new Promise<void>((resolve) =>
      threeSteps.on('run:complete', () => {
        if (++completed === runs) resolve()
      }),
    )
    await workerLog(worker)
    probe.statements.length = 0
    const runsStarted = epoch()
    await threeSteps.jobs.job.batchTrigger(Array.from({ length: runs }, (_, n) => ({ n })))
    threeSteps.start()
    await allDone
    const runsEnded = epoch()
    await threeSteps.stop()
    const perRun = join(probe.statements, await workerLog(worker)).filter(
      (entry) => entry.calledAt >= runsStarted && entry.calledAt <= runsEnded,
    )
    await report({
      workload: 'browser-breakdown-runs',
      description: `${runs} 3-step runs (batchTrigger, then the worker): what durably sends per run, by kind`,
      runs,
      ms_per_run: round((runsEnded - runsStarted) / runs),
      statements_per_run: round(perRun.length / runs, 2),
      ms_in_statements_per_run: round(perRun.reduce((sum, e) => sum + e.page, 0) / runs),
      kinds: byKind(perRun).map((kind) => ({ ...kind, per_run: round(kind.count / runs, 2) })),
    })

    // The same worker and file, raw: a claimed run, then plain and fenced step inserts, then
    // the fenced one through a Kysely instance on the same client (durably's path, minus durably).
    const samples = Math.min(steps, 100)
    probe.statements.length = 0
    await workerLog(worker)
    const id = await rawClaimedRun(db.client, 'raw-breakdown')
    const now = new Date().toISOString()
    const plainStart = probe.statements.length
    const t0 = performance.now()
    for (let n = 0; n < samples; n++) {
      await db.client.sql(FLOOR_SQL.insertStep, `p-${n}`, id, 'step', n, String(n), now, now)
    }
    const plainMs = (performance.now() - t0) / samples
    const fencedStart = probe.statements.length
    const t1 = performance.now()
    for (let n = 0; n < samples; n++) {
      await db.client.sql(
        FLOOR_SQL.fencedStep,
        `f-${n}`,
        id,
        'step',
        n,
        'completed',
        String(n),
        null,
        now,
        now,
        id,
        1,
      )
    }
    const fencedMs = (performance.now() - t1) / samples
    const yieldingStart = probe.statements.length
    const t2 = performance.now()
    for (let n = 0; n < samples; n++) {
      await db.client.sql(
        FLOOR_SQL.fencedStep,
        `y-${n}`,
        id,
        'step',
        n,
        'completed',
        String(n),
        null,
        now,
        now,
        id,
        1,
      )
      await new Promise((resolve) => setTimeout(resolve, 0))
    }
    const yieldingMs = (performance.now() - t2) / samples
    const kysely = new Kysely<unknown>({ dialect: db.client.dialect })
    const kyselyStart = probe.statements.length
    const t3 = performance.now()
    for (let n = 0; n < samples; n++) {
      await kysely.executeQuery(
        CompiledQuery.raw(FLOOR_SQL.fencedStep, [
          `k-${n}`,
          id,
          'step',
          n,
          'completed',
          String(n),
          null,
          now,
          now,
          id,
          1,
        ]),
      )
    }
    const kyselyMs = (performance.now() - t3) / samples
    const raw = join(probe.statements, await workerLog(worker))
    const [count] = await db.client.sql<{ n: number }>(
      `SELECT count(*) AS n FROM durably_steps WHERE run_id = ?`,
      id,
    )
    if (count?.n !== samples * 4)
      throw new Error(`raw inserts: expected ${samples * 4} rows, found ${count?.n}`)
    await report({
      workload: 'browser-breakdown-raw',
      description: `${samples} step inserts each, one after another, on the same timed worker and file`,
      plain_insert: { ms_each: round(plainMs), ...summarize(raw.slice(plainStart, fencedStart)) },
      fenced_insert: {
        ms_each: round(fencedMs),
        ...summarize(raw.slice(fencedStart, yieldingStart)),
      },
      fenced_insert_then_setTimeout_0: {
        ms_each: round(yieldingMs),
        ...summarize(raw.slice(yieldingStart, kyselyStart)),
      },
      fenced_insert_through_kysely: {
        ms_each: round(kyselyMs),
        ...summarize(raw.slice(kyselyStart)),
      },
    })
    await durably.destroy()
  } finally {
    probe.restore()
    await db.close()
  }
}

/**
 * The floor's own cost, by journal mode. OPFS's VFS has no shared memory, so durably's
 * `PRAGMA journal_mode = WAL` is refused and SQLite keeps DELETE: every write transaction
 * creates the journal file, opens a sync access handle on it, writes, closes and deletes it.
 * PERSIST (the journal's header zeroed at commit, the file kept) and TRUNCATE are as durable
 * and as safe across tabs. Set here on the connection after durably migrated (durably's
 * prepare leaves a mode it cannot change to WAL as it finds it), for raw inserts and for a
 * durably run alike, on fresh files, `passes` alternating passes.
 */
export async function journalModes(steps: number, passes: number): Promise<void> {
  const modes = ['delete', 'persist', 'truncate'] as const
  const samples = Math.min(steps, 100)
  const results = new Map<string, { raw: number[]; step: number[]; vfs: Record<string, unknown> }>()
  for (let pass = 0; pass < passes; pass++) {
    const order = pass % 2 === 0 ? modes : [...modes].reverse()
    for (const mode of order) {
      const db = await openOpfs(
        `journal-${mode}`,
        () => new Worker(new URL('./timed-worker.ts', import.meta.url), { type: 'module' }),
      )
      const worker = (db.client as unknown as { processor: Worker }).processor
      try {
        const durably = await durablyOn(db, { job: manyStepsJob(samples) })
        const [set] = await db.client.sql<{ journal_mode: string }>(`PRAGMA journal_mode = ${mode}`)
        if (set?.journal_mode !== mode)
          throw new Error(`journal_mode ${mode} refused: ${set?.journal_mode}`)
        // Raw inserts, timed by the worker's stopwatch too.
        const id = await rawClaimedRun(db.client, `journal-${mode}`)
        await workerLog(worker)
        const now = new Date().toISOString()
        const t0 = performance.now()
        for (let n = 0; n < samples; n++) {
          await db.client.sql(FLOOR_SQL.insertStep, `j-${n}`, id, 'step', n, String(n), now, now)
        }
        const rawMs = (performance.now() - t0) / samples
        const seen = (await workerLog(worker)).filter((entry) => entry.type === 'query')
        // A durably run on the same connection and mode.
        await durably.jobs.job.trigger({})
        let started = 0
        durably.on('run:start', () => {
          started = performance.now()
        })
        const finished = new Promise<number>((resolve) =>
          durably.on('run:complete', () => resolve(performance.now())),
        )
        durably.start()
        const stepMs = ((await finished) - started) / samples
        await durably.stop()
        const [after] = await db.client.sql<{ journal_mode: string }>('PRAGMA journal_mode')
        if (after?.journal_mode !== mode)
          throw new Error(`journal_mode changed to ${after?.journal_mode}`)
        const entry = results.get(mode) ?? { raw: [], step: [], vfs: {} }
        entry.raw.push(rawMs)
        entry.step.push(stepMs)
        const names = [...new Set(seen.flatMap((e) => Object.keys(e.vfs ?? {})))].sort()
        entry.vfs = Object.fromEntries(
          names.map((name) => [name, median(seen.map((e) => e.vfs?.[name]?.[0] ?? 0))]),
        )
        results.set(mode, entry)
        await durably.destroy()
      } finally {
        await db.close()
      }
    }
  }
  const base = results.get('delete')!
  for (const mode of modes) {
    const entry = results.get(mode)!
    await report({
      workload: 'browser-experiment-journal-mode',
      description: `journal_mode=${mode}: ${samples} raw step inserts, and a durably run of ${samples} steps (medians of ${passes} passes)`,
      journal_mode: mode,
      raw_insert_ms: round(median(entry.raw)),
      durably_ms_per_step: round(median(entry.step)),
      raw_vs_delete: round(median(entry.raw) / median(base.raw), 2),
      durably_vs_delete: round(median(entry.step) / median(base.step), 2),
      opfs_calls_per_raw_insert: entry.vfs,
      passes_raw_insert_ms: entry.raw.map((v) => round(v)),
      passes_durably_ms_per_step: entry.step.map((v) => round(v)),
    })
  }
}

/** OPFS's primitives in this browser, without SQLite (opfs-probe-worker.ts). */
export async function opfsProbe(): Promise<void> {
  const worker = new Worker(new URL('./opfs-probe-worker.ts', import.meta.url), { type: 'module' })
  try {
    const result = await new Promise<Record<string, number>>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data)
      worker.onerror = (event) => reject(new Error(event.message))
      worker.postMessage('go')
    })
    await report({
      workload: 'browser-opfs-primitives',
      description:
        'OPFS alone in a worker: sync access handle writes, flush, handles, a journal file life, an Atomics round trip (medians)',
      ...Object.fromEntries(Object.entries(result).map(([key, value]) => [key, round(value, 4)])),
    })
  } finally {
    worker.terminate()
  }
}
