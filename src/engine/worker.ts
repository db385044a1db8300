/**
 * The worker: claim → execute → settle, as a small state machine.
 *
 *   stopped ──start()──▶ idle ──wake()/timer──▶ polling ──▶ idle (timer armed unless full)
 *      ▲                   │                       │
 *      └──── drained ◀── stopping ◀──stop()────────┘
 *
 * The state changes only through the `enter…` functions below, each owning the entry
 * actions of its state (arming the timer, asking executions to stop, the one teardown).
 * - A trigger in this process calls `wake()`: the next claim starts at once. Polling every
 *   `pollingInterval` only covers work created by other processes.
 * - Up to `concurrency` runs execute at a time; when one settles, the worker claims again at
 *   once, so a queue drains back to back.
 * - One heartbeat timer renews every lease this worker holds. A renewal that finds the lease
 *   gone stops that execution.
 * - A failing claim (database down, locked) is reported as `worker:error` and retried with
 *   exponential backoff; the loop never dies and never spins.
 * - `stop()` lets in-flight steps finish, hands their runs back at the next step boundary,
 *   and resolves once nothing is in flight and no timer is left.
 */
import { backoffDelay, claimBackoff } from '../retry.js'
import type { ClaimedRun, ClaimRequest, Lease, LivenessSnapshot } from '../store/store.js'
import { createExecutionControl, type ExecutionControl } from './control.js'
import { type Core, isoNow, reportError } from './core.js'
import { executeRun, type Handoff } from './execution.js'
import { detectOwnerLiveness } from './liveness.js'

export type WorkerState = 'stopped' | 'idle' | 'polling' | 'stopping'

export interface Worker {
  readonly state: WorkerState
  readonly id: string
  start(): void
  wake(): void
  stop(): Promise<void>
  /** Claim and execute at most one run in the caller's task; `true` if one was executed. */
  processOne(): Promise<boolean>
  /** Stop the local execution of a run (it was cancelled). */
  cancelLocal(runId: string): void
}

interface InFlight {
  lease: Lease
  control: ExecutionControl
}

/** Which states each state may move to: `transition` refuses anything else. */
const EDGES: Record<WorkerState, readonly WorkerState[]> = {
  stopped: ['idle'],
  idle: ['polling', 'stopping'],
  polling: ['idle', 'stopping'],
  stopping: ['stopped'],
}

export function createWorker(core: Core): Worker {
  const id = core.newId()
  const running = new Map<string, InFlight>()
  let state: WorkerState = 'stopped'
  let pollTimer: ReturnType<typeof setTimeout> | undefined
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined
  let wakeRequested = false
  let consecutiveFailures = 0
  /** When the last claim looked (ms): the wake-up timer looks for what falls due after it. */
  let lastClaimAt = 0
  /** Whether runs are waiting behind the ones executing (see `handoff`). */
  let draining = false
  let afterCompletion = false
  let polling: Promise<void> | undefined
  let stopping: Promise<void> | undefined
  let drained: (() => void) | undefined
  const liveness = detectOwnerLiveness(core.now)
  // Held from the first claim until the worker stops: while it is, our runs are ours.
  let ownerLock: Promise<() => void> | undefined

  function transition(next: WorkerState) {
    if (!EDGES[state].includes(next)) {
      throw new Error(`durably worker: no transition from ${state} to ${next}`)
    }
    state = next
  }
  // Read through a function: the state changes across awaits, which narrowing cannot see.
  const current = (): WorkerState => state
  const hasRoom = () => running.size < core.options.concurrency

  function enterIdle(delay: number) {
    transition('idle')
    if (wakeRequested && hasRoom() && consecutiveFailures === 0) {
      wakeRequested = false
      queueMicrotask(wake)
    } else if (hasRoom()) {
      pollTimer = setTimeout(() => {
        pollTimer = undefined
        void enterPolling()
      }, delay)
    }
  }

  function enterPolling(): Promise<void> {
    if (state !== 'idle') return polling ?? Promise.resolve()
    clearTimeout(pollTimer)
    pollTimer = undefined
    transition('polling')
    // Cleared after an await, never inside pollOnce: a poll that finds no room finishes
    // without awaiting anything, and would clear `polling` before it was even set, leaving
    // a finished poll that stop() then waits for forever.
    const poll: Promise<void> = pollOnce().then((delay) => {
      if (polling === poll) polling = undefined
      if (current() === 'polling') enterIdle(delay)
      else enterStoppedIfDrained()
    })
    polling = poll
    return poll
  }

  function enterStopping(): Promise<void> {
    clearTimeout(pollTimer)
    pollTimer = undefined
    transition('stopping')
    for (const entry of running.values()) entry.control.stop('shutdown')
    stopping = new Promise<void>((resolve) => {
      drained = resolve
      enterStoppedIfDrained()
    }).finally(() => {
      stopping = undefined
    })
    return stopping
  }

  function enterStoppedIfDrained() {
    if (state !== 'stopping' || running.size > 0 || polling) return
    teardown()
    transition('stopped')
    drained?.()
    drained = undefined
  }

  /** What a stopped worker must not keep: its heartbeat timer and its owner lock. */
  function teardown() {
    clearInterval(heartbeatTimer)
    heartbeatTimer = undefined
    const held = ownerLock
    ownerLock = undefined
    void held?.then((release) => release())
  }

  function wake() {
    if (state === 'idle') void enterPolling()
    else if (state === 'polling') wakeRequested = true
  }

  async function claim(): Promise<ClaimedRun | null> {
    let snapshot: LivenessSnapshot | undefined
    if (liveness) {
      ownerLock ??= liveness.hold(id)
      await ownerLock
      snapshot = await liveness.snapshot()
    }
    const request = claimRequest(core.now())
    return core.store.claimNextRun(snapshot ? { ...request, liveness: snapshot } : request)
  }

  function claimRequest(now: number): ClaimRequest {
    lastClaimAt = now
    return {
      owner: id,
      jobNames: core.jobNames(),
      now: new Date(now).toISOString(),
      staleBefore: core.clockSteady()
        ? new Date(now - core.options.staleThreshold).toISOString()
        : null,
      staleThreshold: core.options.staleThreshold,
    }
  }

  /**
   * While the worker drains a backlog, each completion carries the claim of the next run
   * (where the store can): one statement instead of two. Only then: when runs come one at a
   * time, the claim would find nothing and only delay the completion. Not in browsers, whose
   * claims need the owner lock and a liveness snapshot first.
   */
  function handoff(): Handoff | undefined {
    if (!core.store.completeRunAndClaim || liveness) return undefined
    return {
      request: (now) => {
        if (!draining || consecutiveFailures > 0) return null
        if (state !== 'idle' && state !== 'polling') return null
        return claimRequest(Date.parse(now))
      },
      next: null,
      claimAgain: false,
    }
  }

  /** One poll: claim and launch while there is room; resolves with the delay to the next. */
  async function pollOnce(): Promise<number> {
    let delay = core.options.pollingInterval
    try {
      let drainedQueue = false
      do {
        wakeRequested = false
        while (hasRoom() && current() === 'polling') {
          await core.yieldToHost()
          if (current() !== 'polling') break
          const claimed = await claim()
          // A claim right after a completion that finds a run means a backlog: the next
          // completions carry the claims after them (`handoff`).
          if (afterCompletion) draining = claimed !== null
          afterCompletion = false
          if (!claimed) {
            drainedQueue = true
            break
          }
          if (current() !== 'polling') {
            await core.store.releaseRun(claimed.lease, isoNow(core))
            break
          }
          launch(claimed)
        }
      } while (wakeRequested && current() === 'polling' && hasRoom())
      if (drainedQueue && !wakeRequested) delay = await untilNextWake(delay)
      consecutiveFailures = 0
    } catch (error) {
      consecutiveFailures += 1
      delay = backoffDelay(claimBackoff(core.options.pollingInterval), consecutiveFailures)
      reportError(core, 'claim', error)
    }
    return delay
  }

  /**
   * Nothing is claimable now: sleep until the earliest run that becomes claimable later
   * (a delay or a sleep ending), if that comes before the next poll. Exact wake-ups come
   * from here; polling covers only work other processes create.
   */
  async function untilNextWake(pollDelay: number): Promise<number> {
    await core.maintain()
    // After the claim that found nothing, not after now: a run that fell due in between (a
    // loaded machine, a slow query) is found and polled for at once, not a poll interval
    // later. Runs already due at that claim were blocked (a busy key), and do not spin it.
    const after = new Date(lastClaimAt).toISOString()
    const next = await core.store.nextWakeAt(core.jobNames(), after)
    if (next === null) return pollDelay
    return Math.max(0, Math.min(pollDelay, Date.parse(next) - core.now()))
  }

  function track(claimed: ClaimedRun): InFlight {
    const entry = { lease: claimed.lease, control: createExecutionControl(claimed.run.id) }
    if (state === 'stopping') entry.control.stop('shutdown')
    running.set(claimed.run.id, entry)
    return entry
  }

  /** Executes a run; resolves with the run the completion claimed next, already tracked. */
  async function execute(
    claimed: ClaimedRun,
    entry: InFlight,
    next?: Handoff,
  ): Promise<{ claimed: ClaimedRun; entry: InFlight } | undefined> {
    try {
      await executeRun(core, claimed, entry.control, next)
    } catch (error) {
      reportError(core, 'execute', error, claimed.run.id)
    } finally {
      running.delete(claimed.run.id)
    }
    if (next) draining = next.next !== null || next.claimAgain
    // Tracked in the same turn the finished run left: its slot passes straight on.
    return next?.next ? { claimed: next.next, entry: track(next.next) } : undefined
  }

  function launch(claimed: ClaimedRun, entry = track(claimed)) {
    void execute(claimed, entry, handoff()).then(async (following) => {
      if (following && state !== 'stopping') {
        await core.yieldToHost()
        launch(following.claimed, following.entry)
      } else if (following) {
        // Claimed as the worker began to stop: handed back, not started.
        running.delete(following.claimed.run.id)
        await core.store
          .releaseRun(following.claimed.lease, isoNow(core))
          .catch((error: unknown) => reportError(core, 'release', error, following.claimed.run.id))
        enterStoppedIfDrained()
      } else if (state === 'stopping') enterStoppedIfDrained()
      else {
        afterCompletion = true
        wake()
      }
    })
  }

  async function beat() {
    const now = isoNow(core)
    for (const [runId, entry] of running) {
      try {
        if (!(await core.store.heartbeat(entry.lease, now))) entry.control.stop('lease-lost')
      } catch (error) {
        reportError(core, 'heartbeat', error, runId)
      }
    }
  }

  // A tick while the last beat is still writing is skipped: on slow storage (OPFS can take
  // 50 ms a write) overlapping beats would queue without end ahead of the runs' own writes.
  let beating = false
  function startHeartbeat() {
    heartbeatTimer ??= setInterval(() => {
      if (beating) return
      beating = true
      void beat().finally(() => {
        beating = false
      })
    }, core.options.heartbeatInterval)
  }

  return {
    get state() {
      return state
    },
    id,
    start() {
      if (state !== 'stopped') return
      transition('idle')
      startHeartbeat()
      queueMicrotask(wake)
    },
    wake,
    stop() {
      if (state === 'stopped') return Promise.resolve()
      return stopping ?? enterStopping()
    },
    async processOne() {
      const claimed = await claim()
      if (!claimed) return false
      const entry = track(claimed)
      startHeartbeat()
      try {
        await execute(claimed, entry)
      } finally {
        // Outside start()/stop(), nothing else would clear what this call set up.
        if (state === 'stopped' && running.size === 0) teardown()
        enterStoppedIfDrained()
      }
      return true
    },
    cancelLocal(runId) {
      running.get(runId)?.control.stop('cancelled')
    },
  }
}
