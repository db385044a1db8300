/**
 * The worker: claim → execute → settle, as a small state machine.
 *
 *   stopped ──start()──▶ idle ──wake()/timer──▶ polling ──▶ idle (timer armed unless full)
 *      ▲                   │                       │
 *      └──── drained ◀── stopping ◀──stop()────────┘
 *
 * - A trigger in this process calls `wake()`: the next claim starts at once. Polling every
 *   `pollingInterval` only covers work created by other processes.
 * - Up to `concurrency` runs execute at a time; when one settles, the worker claims again at
 *   once, so a queue drains back to back.
 * - One heartbeat timer renews every lease this worker holds. A renewal that finds the lease
 *   gone aborts that execution.
 * - A failing claim (database down, locked) is reported as `worker:error` and retried with
 *   exponential backoff; the loop never dies and never spins.
 * - `stop()` lets in-flight steps finish, hands their runs back at the next step boundary,
 *   and resolves once nothing is in flight and no timer is left.
 */
import { type Core, isoNow } from './core.js'
import { errorMessage } from './errors.js'
import { executeRun } from './execution.js'
import { createExecutionControl, type ExecutionControl } from './execution-control.js'
import { detectOwnerLiveness, type LivenessSnapshot } from './owner-liveness.js'
import type { ClaimedRun, Lease } from './store/store.js'

export type WorkerState = 'stopped' | 'idle' | 'polling' | 'stopping'

export interface Worker {
  readonly state: WorkerState
  readonly id: string
  start(): void
  wake(): void
  stop(): Promise<void>
  /** Claim and execute at most one run in the caller's task; `true` if one was executed. */
  processOne(): Promise<boolean>
  /** Abort the local execution of a run (it was cancelled). */
  cancelLocal(runId: string): void
  /** Runs this worker is executing right now. */
  inFlight(): readonly string[]
}

interface InFlight {
  lease: Lease
  control: ExecutionControl
}

const MAX_BACKOFF_MS = 30_000

export function createWorker(core: Core): Worker {
  const id = core.newId()
  const running = new Map<string, InFlight>()
  let state: WorkerState = 'stopped'
  let pollTimer: ReturnType<typeof setTimeout> | undefined
  let heartbeatTimer: ReturnType<typeof setInterval> | undefined
  let wakeRequested = false
  let consecutiveFailures = 0
  let polling: Promise<void> | undefined
  let drained: (() => void) | undefined
  const liveness = detectOwnerLiveness(core.now)
  // Held from the first claim until the worker stops: while it is, our runs are ours.
  let ownerLock: Promise<() => void> | undefined

  function transition(next: WorkerState) {
    state = next
  }
  // Read through a function: the state changes across awaits, which narrowing cannot see.
  const current = (): WorkerState => state

  function arm(delay: number) {
    clearTimeout(pollTimer)
    pollTimer = setTimeout(() => {
      pollTimer = undefined
      void poll()
    }, delay)
  }

  function wake() {
    if (state === 'idle') {
      clearTimeout(pollTimer)
      pollTimer = undefined
      void poll()
    } else if (state === 'polling') {
      wakeRequested = true
    }
  }

  async function claim(): Promise<ClaimedRun | null> {
    let snapshot: LivenessSnapshot | undefined
    if (liveness) {
      ownerLock ??= liveness.hold(id)
      await ownerLock
      snapshot = await liveness.snapshot()
    }
    const now = core.now()
    return core.store.claimNextRun({
      owner: id,
      jobNames: core.jobNames(),
      now: new Date(now).toISOString(),
      staleBefore: new Date(now - core.options.staleThreshold).toISOString(),
      ...(snapshot ? { liveness: snapshot } : {}),
    })
  }

  function releaseOwnerLock() {
    const held = ownerLock
    ownerLock = undefined
    void held?.then((release) => release())
  }

  function poll(): Promise<void> {
    if (state !== 'idle') return polling ?? Promise.resolve()
    transition('polling')
    polling = (async () => {
      let delay = core.options.pollingInterval
      try {
        do {
          wakeRequested = false
          while (running.size < core.options.concurrency && current() === 'polling') {
            await core.yieldToHost()
            if (current() !== 'polling') break
            const claimed = await claim()
            if (!claimed) break
            if (current() !== 'polling') {
              await core.store.releaseRun(claimed.lease, isoNow(core))
              break
            }
            launch(claimed)
          }
        } while (
          wakeRequested &&
          current() === 'polling' &&
          running.size < core.options.concurrency
        )
        consecutiveFailures = 0
      } catch (error) {
        consecutiveFailures += 1
        delay = backoff(core.options.pollingInterval, consecutiveFailures)
        core.emitter.emit({ type: 'worker:error', error: errorMessage(error), context: 'claim' })
      }
      polling = undefined
      if (current() === 'polling') {
        transition('idle')
        if (wakeRequested && running.size < core.options.concurrency && consecutiveFailures === 0) {
          wakeRequested = false
          queueMicrotask(wake)
        } else if (running.size < core.options.concurrency) {
          arm(delay)
        }
      } else {
        settleStopIfDrained()
      }
    })()
    return polling
  }

  function track(claimed: ClaimedRun): InFlight {
    const entry = { lease: claimed.lease, control: createExecutionControl(claimed.run.id) }
    if (state === 'stopping') entry.control.requestShutdown()
    running.set(claimed.run.id, entry)
    return entry
  }

  async function execute(claimed: ClaimedRun, entry: InFlight) {
    try {
      await executeRun(core, claimed, entry.control)
    } catch (error) {
      core.emitter.emit({
        type: 'worker:error',
        error: errorMessage(error),
        context: 'execute',
        runId: claimed.run.id,
      })
    } finally {
      running.delete(claimed.run.id)
    }
  }

  function launch(claimed: ClaimedRun) {
    const entry = track(claimed)
    void execute(claimed, entry).then(() => {
      if (state === 'stopping') settleStopIfDrained()
      else wake()
    })
  }

  async function beat() {
    const now = isoNow(core)
    for (const [runId, entry] of running) {
      try {
        if (!(await core.store.heartbeat(entry.lease, now))) entry.control.markLeaseLost()
      } catch (error) {
        core.emitter.emit({
          type: 'worker:error',
          error: errorMessage(error),
          context: 'heartbeat',
          runId,
        })
      }
    }
  }

  function startHeartbeat() {
    heartbeatTimer ??= setInterval(() => void beat(), core.options.heartbeatInterval)
  }

  function settleStopIfDrained() {
    if (state !== 'stopping' || running.size > 0 || polling) return
    clearInterval(heartbeatTimer)
    heartbeatTimer = undefined
    releaseOwnerLock()
    transition('stopped')
    drained?.()
    drained = undefined
  }

  let stopping: Promise<void> | undefined

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
      if (stopping) return stopping
      clearTimeout(pollTimer)
      pollTimer = undefined
      transition('stopping')
      for (const entry of running.values()) entry.control.requestShutdown()
      stopping = new Promise<void>((resolve) => {
        drained = resolve
        settleStopIfDrained()
      }).finally(() => {
        stopping = undefined
      })
      return stopping
    },
    async processOne() {
      const claimed = await claim()
      if (!claimed) return false
      const entry = track(claimed)
      startHeartbeat()
      try {
        await execute(claimed, entry)
      } finally {
        if (state === 'stopped' && running.size === 0) {
          clearInterval(heartbeatTimer)
          heartbeatTimer = undefined
          releaseOwnerLock()
        }
        settleStopIfDrained()
      }
      return true
    },
    cancelLocal(runId) {
      running.get(runId)?.control.cancel()
    },
    inFlight: () => [...running.keys()],
  }
}

function backoff(base: number, failures: number): number {
  const delay = Math.min(base * 2 ** Math.min(failures - 1, 16), Math.max(base, MAX_BACKOFF_MS))
  // A little jitter so processes that failed together do not retry in lockstep.
  return Math.round(delay * (0.9 + Math.random() * 0.2))
}
