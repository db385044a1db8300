/**
 * Waiting under SIGKILL, as a mix of jobs.ts's runs (`npm run soak -- --waits` at scale,
 * waits.test.ts in CI): `sleeper` runs that start at once or with a `delay`, `waiter` runs
 * woken by an event or by a signal to that run, `parent` runs invoking a `kid`, `flaky` runs
 * whose step retries after a backoff. Half the events and signals are sent as the runs are
 * triggered (most before their run reaches its wait: kept until it does), the others one by
 * one while the chaos runs, each once its run waits, twice with one id (a webhook delivered
 * twice).
 *
 * The checks, beyond harness.ts's journal checks: every run completed once, each step recorded
 * once; and each wait waited: no step after it began (the journal's `now`: this machine's
 * clock, which durably's follows) before the wait could end: the recorded wake-up time, the delayed
 * start, the event or signal being stored, the child completing, the backoff passing. Each
 * waiter took its own event once, each parent made one child and resumed with its output,
 * each attempt number of a `flaky` step ran once, and only a designed failure was retried.
 */
import { ConflictError } from '../../src/index.js'
import type { ChaosResult, Observer } from './harness.js'
import {
  FLAKY_BACKOFF,
  FLAKY_FAILURES,
  FLAKY_STEP,
  flakyAttempt,
  GO_EVENT,
  KID_STEPS,
  PARENT_STEPS,
  SLEEPER_STEPS,
  WAITER_STEPS,
} from './jobs.js'
import type { JournalEntry } from './journal.js'

export const WAIT_KINDS = ['sleep', 'delayed', 'event', 'signal', 'invoke', 'retry'] as const
export type WaitKind = (typeof WAIT_KINDS)[number]
export type WaitMix = Record<WaitKind, number>

/** `runs` runs spread evenly over every kind. */
export function evenMix(runs: number): WaitMix {
  const mix = {} as WaitMix
  WAIT_KINDS.forEach((kind, index) => {
    mix[kind] = Math.floor((runs + WAIT_KINDS.length - 1 - index) / WAIT_KINDS.length)
  })
  return mix
}

/** Runs that end completed for a mix: each triggered run, and each parent's child. */
export const completedRuns = (mix: WaitMix) =>
  WAIT_KINDS.reduce((sum, kind) => sum + mix[kind], 0) + mix.invoke

/** Steps recorded for a mix (a sleep and a wait are steps too; a kid's two). */
const recordedSteps = (mix: WaitMix) =>
  (mix.sleep + mix.delayed) * SLEEPER_STEPS.length +
  (mix.event + mix.signal) * WAITER_STEPS.length +
  mix.invoke * (PARENT_STEPS.length + KID_STEPS.length) +
  mix.retry

export interface WaitsPlan {
  mix: WaitMix
  kindOf: Map<string, WaitKind>
  /** Delayed runs: id → the start `trigger` returned. */
  delayedUntil: Map<string, string>
  /** Sent while the chaos runs; settles with the sends that failed (empty: none). */
  sending: Promise<string[]>
}

/**
 * Send each late event or signal once its run waits for it (so every one of them is a wait
 * that began before its end), a random waiting run at a time, after a random pause (`spreadMs`
 * over all of them, on average); each twice with one id, as a retried webhook. Settles with
 * what failed, or what never got to be sent because its run never waited.
 */
async function sendLate(
  observer: Observer,
  late: Map<string, () => Promise<unknown>>,
  spreadMs: number,
  random: () => number,
): Promise<string[]> {
  const failures: string[] = []
  const meanPause = spreadMs / Math.max(1, late.size)
  const deadline = Date.now() + 2 * spreadMs + 120_000
  try {
    while (late.size > 0) {
      if (Date.now() > deadline) {
        failures.push(`${late.size} runs never waited for their event: ${[...late.keys()]}`)
        break
      }
      const waiting = await observer.db
        .selectFrom('durably_runs')
        .select('id')
        .where('status', '=', 'pending')
        .where('wait_event', '=', GO_EVENT)
        .where('id', 'in', [...late.keys()])
        .orderBy('id')
        .execute()
      if (waiting.length === 0) {
        await pauseFor(20)
        continue
      }
      const runId = waiting[Math.floor(random() * waiting.length)]!.id
      await pauseFor(random() * 2 * meanPause)
      const send = late.get(runId)!
      late.delete(runId)
      await send()
      // A finished run refuses signals: the repeat may meet the run done with the first.
      await send().catch((error: unknown) => {
        if (!(error instanceof ConflictError)) throw error
      })
    }
  } catch (error) {
    failures.push(`sending failed: ${String(error)}`)
  }
  return failures
}

const ms = (value: string | Date | null | undefined) =>
  value === null || value === undefined ? Number.NaN : new Date(value).getTime()

/**
 * How far durably's clock may be behind this machine's wall clock: on PostgreSQL it follows
 * the database's, read over a round trip (the same machine's clock here, estimated).
 */
const CLOCK_SLACK_MS = 5

const pauseFor = (ms: number) =>
  new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, ms)))

/**
 * Trigger the mix and send half its events and signals; the others follow (`sendLate`) over
 * about `spreadMs`, over which the delayed starts are spread too (naps last 50 ms to a tenth
 * of it, at most 2 s).
 */
export async function triggerWaits(
  observer: Observer,
  mix: WaitMix,
  spreadMs: number,
  random: () => number,
): Promise<WaitsPlan> {
  let n = 0
  const numbers = (count: number) => Array.from({ length: count }, () => n++)
  const napMs = () => Math.round(50 + random() * Math.min(1950, spreadMs / 10))
  const kindOf = new Map<string, WaitKind>()
  const note = <R extends { id: string }>(kind: WaitKind, runs: R[]) => {
    for (const run of runs) kindOf.set(run.id, kind)
    return runs
  }
  const { sleeper, waiter, parent, flaky } = observer.jobs
  // The longest waits first: a `flaky` run's backoffs take 3 s at least.
  note('retry', await flaky.batchTrigger(numbers(mix.retry).map((n) => ({ n }))))
  note('sleep', await sleeper.batchTrigger(numbers(mix.sleep).map((n) => ({ n, napMs: napMs() }))))
  const delays = numbers(mix.delayed).map((n) => ({
    input: { n, napMs: napMs() },
    options: { delay: Math.round(100 + random() * spreadMs) },
  }))
  const triggeredAt = Date.now()
  const delayed = note('delayed', await sleeper.batchTrigger(delays))
  // A start is the trigger's moment plus its delay: no earlier than here plus the delay, give
  // or take the millisecond PostgreSQL's clock (which durably follows) may differ by.
  const delayedUntil = new Map<string, string>()
  for (const [index, run] of delayed.entries()) {
    const asked = triggeredAt + delays[index]!.options.delay
    if (ms(run.availableAt) < asked - CLOCK_SLACK_MS) {
      throw new Error(`run ${run.id} was delayed until ${run.availableAt}, not ${asked}`)
    }
    delayedUntil.set(run.id, run.availableAt!)
  }
  const events = note('event', await waiter.batchTrigger(numbers(mix.event).map((n) => ({ n }))))
  const signals = note('signal', await waiter.batchTrigger(numbers(mix.signal).map((n) => ({ n }))))
  note('invoke', await parent.batchTrigger(numbers(mix.invoke).map((n) => ({ n }))))

  const sends = [
    ...events.map((run) => {
      const { n } = run.payload as { n: number }
      return { runId: run.id, send: () => observer.sendEvent(GO_EVENT, { n }, { id: `go-${n}` }) }
    }),
    ...signals.map((run) => {
      const { n } = run.payload as { n: number }
      return {
        runId: run.id,
        send: () => observer.signal(run.id, GO_EVENT, { n }, { id: `signal-${n}` }),
      }
    }),
  ]
  for (const { send } of sends.filter((_, index) => index % 2 === 0)) await send()
  const late = new Map(sends.filter((_, index) => index % 2 === 1).map((s) => [s.runId, s.send]))
  const sending = sendLate(observer, late, spreadMs, random)
  return {
    mix,
    kindOf,
    delayedUntil,
    sending,
  }
}

/**
 * The kill schedule: half the kills aim at the next wake-up (a sleep, a delayed start or a
 * backoff ending, read from the database), 0–10 ms after it, when a worker is claiming and
 * replaying the run; the others come after a random pause of up to 150 ms.
 */
export function killMoments() {
  const aimed = { count: 0 }
  async function pause(observer: Observer, random: () => number): Promise<void> {
    const aim = random() < 0.5
    const jitter = random()
    if (aim) {
      const [next] = await observer.db
        .selectFrom('durably_runs')
        .select('available_at')
        .where('status', '=', 'pending')
        .where('available_at', '>', new Date().toISOString())
        .orderBy('available_at')
        .limit(1)
        .execute()
      const at = next?.available_at ? new Date(next.available_at).getTime() : Number.NaN
      if (at - Date.now() < 1000) {
        aimed.count += 1
        return pauseFor(at + jitter * 10 - Date.now())
      }
    }
    await pauseFor(jitter * 150)
  }
  return { pause, aimed }
}

export interface WaitsVerdict {
  violations: string[]
  /** Step bodies begun again after a kill, `flaky`'s attempts cut short included. */
  reexecutions: number
  /**
   * Per kind: the waits checked (a `delayed` run sleeps too; a `flaky` run has a backoff per
   * designed failure), and the least and the median time from a wait's end to the first body
   * of the step after it (how late the wake-up came: a measure of the load, not of a limit).
   */
  waited: Record<WaitKind, { waits: number; leastLateMs: number; medianLateMs: number }>
  /** Waits that had provably begun before they could end (the step before had returned). */
  waitedBeforeEnd: Record<WaitKind, number>
}

/**
 * Check the mix once every run completed (see the file's comment). `reexecutions` is the
 * journal's count for the fixed steps; `chaos.kills` bounds it with `flaky`'s attempts that
 * a kill cut short added in.
 */
export async function checkWaits(
  observer: Observer,
  plan: WaitsPlan,
  entries: JournalEntry[],
  chaos: Pick<ChaosResult, 'kills' | 'killedAt' | 'victims'>,
  reexecutions: number,
): Promise<WaitsVerdict> {
  const violations: string[] = []
  const { mix, kindOf } = plan
  const late = new Map<WaitKind, number[]>(WAIT_KINDS.map((kind) => [kind, []]))
  const waitedBeforeEnd = Object.fromEntries(WAIT_KINDS.map((kind) => [kind, 0])) as Record<
    WaitKind,
    number
  >
  const victims = new Map(chaos.victims.map((victim) => [victim.pid, victim.t]))

  const journal = new Map<string, JournalEntry[]>()
  for (const entry of entries) {
    if (!entry.step) continue
    const key = `${entry.run}/${entry.step}`
    journal.set(key, [...(journal.get(key) ?? []), entry])
  }
  const lines = (run: string, step: string, ev: JournalEntry['ev']) =>
    (journal.get(`${run}/${step}`) ?? []).filter((entry) => entry.ev === ev)

  /**
   * The wait of `run` ended at `endsAt`: no body of `next` began before it, one did begin,
   * and the wait had begun before it could end if `previous` returned before `endsAt`.
   */
  const waitedFor = (
    kind: WaitKind,
    run: string,
    next: string,
    endsAt: number,
    what: string,
    previous?: string,
  ) => {
    const begins = lines(run, next, 'begin')
    if (Number.isNaN(endsAt)) violations.push(`${kind} run ${run}: no time for ${what}`)
    if (begins.length === 0) violations.push(`${kind} run ${run}: step ${next} never began`)
    for (const begin of begins) {
      if (begin.now < endsAt) {
        violations.push(
          `${kind} run ${run}: ${next} began in ${begin.pid} at ${begin.now}, ${endsAt - begin.now} ms before ${what}`,
        )
      }
    }
    if (begins[0]) late.get(kind)!.push(Math.min(...begins.map((begin) => begin.now)) - endsAt)
    const before = previous ? lines(run, previous, 'returned')[0] : undefined
    if (before && before.now < endsAt) waitedBeforeEnd[kind] += 1
  }

  const counts = await observer.db
    .selectFrom('durably_runs')
    .select(['status', (eb) => eb.fn.countAll<number>().as('count')])
    .groupBy('status')
    .execute()
  const statuses = Object.fromEntries(counts.map((row) => [row.status, Number(row.count)]))
  if (statuses.completed !== completedRuns(mix) || Object.keys(statuses).length !== 1) {
    violations.push(
      `statuses ${JSON.stringify(statuses)}, expected ${completedRuns(mix)} completed`,
    )
  }
  const steps = await observer.db.selectFrom('durably_steps').select(['run_id', 'name']).execute()
  const distinct = new Set(steps.map((step) => `${step.run_id}/${step.name}`)).size
  if (steps.length !== recordedSteps(mix) || distinct !== steps.length) {
    violations.push(
      `${steps.length} steps recorded (${distinct} distinct), expected ${recordedSteps(mix)}`,
    )
  }
  const events = new Map(
    (await observer.db.selectFrom('durably_events').selectAll().execute()).map((event) => [
      event.id,
      event,
    ]),
  )
  if (events.size !== mix.event + mix.signal) {
    violations.push(`${events.size} events stored, expected ${mix.event + mix.signal}`)
  }

  const [BEFORE, NAP, AFTER] = SLEEPER_STEPS
  const [, GO, GO_AFTER] = WAITER_STEPS
  const [, KID, PARENT_AFTER] = PARENT_STEPS
  const runs = await observer.getRuns({ limit: completedRuns(mix) + 1 })
  let flakyCut = 0
  for (const run of runs) {
    const kind = kindOf.get(run.id)
    if (!kind) continue
    const { n } = run.payload as { n: number }
    const recorded = await observer.getSteps(run.id)
    const stepNamed = (name: string) => recorded.find((step) => step.name === name)
    const holds = (ok: boolean, what: string) => {
      if (!ok) violations.push(`${kind} run ${run.id} (n ${n}): ${what}`)
    }
    if (kind === 'sleep' || kind === 'delayed') {
      const until = (stepNamed(NAP)?.output as { until?: string } | null)?.until
      holds(typeof until === 'string', `no recorded wake-up time (${JSON.stringify(until)})`)
      waitedFor('sleep', run.id, AFTER, ms(until), `its wake-up ${until}`, BEFORE)
      if (kind === 'delayed') {
        const start = plan.delayedUntil.get(run.id)
        waitedFor('delayed', run.id, BEFORE, ms(start), `its start ${start}`)
        // A delayed start waits from the trigger: it had always begun before it could end.
        waitedBeforeEnd.delayed += 1
      }
    } else if (kind === 'event' || kind === 'signal') {
      const id = `${kind === 'event' ? 'go' : 'signal'}-${n}`
      const event = events.get(id)
      holds(run.output !== null && sameJson(run.output, { data: { n } }), 'wrong output')
      holds(sameJson(stepNamed(GO)?.output, { eventId: id, data: { n } }), `did not take ${id}`)
      holds(
        event?.target_run_id === (kind === 'signal' ? run.id : null),
        `${id} was not ${kind === 'signal' ? 'a signal to it' : 'an event'}`,
      )
      waitedFor(kind, run.id, GO_AFTER, ms(event?.created_at), `${id} was sent`, WAITER_STEPS[0])
    } else if (kind === 'invoke') {
      const children = await observer.getRuns({ parentRunId: run.id })
      holds(children.length === 1, `${children.length} children`)
      const [child] = children
      holds(sameJson(run.output, { kid: n }) && sameJson(child?.output, { kid: n }), 'outputs')
      waitedFor(
        'invoke',
        run.id,
        PARENT_AFTER,
        ms(child?.completedAt),
        `its child completed`,
        PARENT_STEPS[0],
      )
      holds(stepNamed(KID) !== undefined, 'no invoke step')
    } else {
      const output = run.output as { n: number; attempt: number } | null
      const attempts = stepNamed(FLAKY_STEP)?.attempts ?? []
      holds(
        output?.n === n && output.attempt > FLAKY_FAILURES && output.attempt === attempts.length,
        `output ${JSON.stringify(output)} after ${attempts.length} attempts`,
      )
      const returned = lines(run.id, FLAKY_STEP, 'returned')
      holds(returned.length === 1, `its step returned ${returned.length} times`)
      for (const [index, attempt] of attempts.entries()) {
        const k = attempt.attempt
        const name = flakyAttempt(k)
        const begins = lines(run.id, name, 'begin')
        holds(k === index + 1, `attempt ${k} recorded ${index + 1}th`)
        holds(begins.length <= 1, `attempt ${k} began ${begins.length} times`)
        for (const begin of begins) {
          if (returned[0] && begin.t > returned[0].t) {
            violations.push(`${kind} run ${run.id}: ${name} began after the step returned`)
          }
        }
        const next = attempts[index + 1]
        if (!next) break
        if (attempt.endedAt === null) {
          // Cut short: its process was killed during it (or before the body began).
          const pid = begins[0]?.pid
          holds(pid === undefined || victims.has(pid), `attempt ${k} unended, its process alive`)
          flakyCut += 1
          continue
        }
        holds(/fails on purpose/.test(attempt.error ?? ''), `attempt ${k} failed: ${attempt.error}`)
        const delay = FLAKY_BACKOFF.initial * FLAKY_BACKOFF.factor ** (k - 1)
        const due = ms(attempt.endedAt) + delay
        waitedFor('retry', run.id, flakyAttempt(k + 1), due, `attempt ${k}'s backoff ended`)
        waitedBeforeEnd.retry += 1
      }
    }
  }
  const checked = WAIT_KINDS.reduce((sum, kind) => sum + mix[kind], 0)
  if (kindOf.size !== checked) violations.push(`${kindOf.size} runs triggered, ${checked} planned`)
  if (reexecutions + flakyCut > chaos.kills) {
    violations.push(`${reexecutions + flakyCut} step re-executions for ${chaos.kills} kills`)
  }
  const waited = {} as WaitsVerdict['waited']
  for (const [kind, list] of late) {
    list.sort((a, b) => a - b)
    waited[kind] = {
      waits: list.length,
      leastLateMs: list[0] ?? Number.NaN,
      medianLateMs: list[Math.floor(list.length / 2)] ?? Number.NaN,
    }
  }
  return {
    violations: [...new Set(violations)],
    reexecutions: reexecutions + flakyCut,
    waited,
    waitedBeforeEnd,
  }
}

/** Equal as JSON, key order aside (PostgreSQL's `json` keeps it, SQLite's text too). */
function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b))
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(
    Object.entries(value)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, item]) => [key, sortKeys(item)]),
  )
}
