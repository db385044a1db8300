/**
 * The event map and a typed emitter. Every event carries `type`, `timestamp` (ISO-8601) and
 * a per-instance increasing `sequence`. Listeners are isolated: one that throws is reported
 * to the error handlers and never disturbs the worker or the other listeners.
 */
import { coerceError } from './errors.js'
import type { LogLevel, Progress, WaitingFor } from './types.js'

interface EventBase {
  timestamp: string
  sequence: number
}

interface RunEventBase extends EventBase {
  runId: string
  jobName: string
}

export interface RunTriggerEvent extends RunEventBase {
  type: 'run:trigger'
  payload: unknown
}
export interface RunStartEvent extends RunEventBase {
  type: 'run:start'
  payload: unknown
  /**
   * The trace context stored with the run at trigger time (JSON text), when the claim read
   * it; absent when it did not (a tracing plugin then reads it itself).
   */
  traceContext?: string | null
}
export interface RunCompleteEvent extends RunEventBase {
  type: 'run:complete'
  output: unknown
  /** Milliseconds from this execution's start to completion. */
  duration: number
}
export interface RunFailEvent extends RunEventBase {
  type: 'run:fail'
  error: string
  failedStepName?: string
}
export interface RunCancelEvent extends RunEventBase {
  type: 'run:cancel'
}
/**
 * The run goes back to pending to be tried again: by `retry()` (no other fields), or because
 * its body threw and the job's retry policy has attempts left (`attempt` failed with `error`;
 * the next starts in `delay` ms).
 */
export interface RunRetryEvent extends RunEventBase {
  type: 'run:retry'
  attempt?: number
  delay?: number
  error?: string
}
export interface RunProgressEvent extends RunEventBase {
  type: 'run:progress'
  progress: Progress
}
/**
 * A run handed its worker back to wait (a sleep, an event, a child); it resumes with
 * `run:start` when due or woken.
 */
export interface RunWaitEvent extends RunEventBase {
  type: 'run:wait'
  waitingFor: WaitingFor
}
export interface RunDeleteEvent extends RunEventBase {
  type: 'run:delete'
}
export interface StepStartEvent extends RunEventBase {
  type: 'step:start'
  stepName: string
  stepIndex: number
}
export interface StepCompleteEvent extends RunEventBase {
  type: 'step:complete'
  stepName: string
  stepIndex: number
  output: unknown
  duration: number
}
export interface StepFailEvent extends RunEventBase {
  type: 'step:fail'
  stepName: string
  stepIndex: number
  error: string
}
/** A step's body failed `attempt` with `error`; its retry policy tries again in `delay` ms. */
export interface StepRetryEvent extends RunEventBase {
  type: 'step:retry'
  stepName: string
  stepIndex: number
  attempt: number
  delay: number
  error: string
}
/** `sendEvent` or `signal` stored an event in this process (`duplicate`: its id existed). */
export interface EventSendEvent extends EventBase {
  type: 'event:send'
  eventId: string
  event: string
  /** The run a signal is addressed to; null for an event sent to every waiting run. */
  targetRunId: string | null
  duplicate: boolean
}
/** A run's `step.waitForEvent` took an event. */
export interface EventReceiveEvent extends RunEventBase {
  type: 'event:receive'
  stepName: string
  eventId: string
  event: string
}
/** A run's `step.invoke` created its child run. */
export interface ChildStartEvent extends RunEventBase {
  type: 'child:start'
  stepName: string
  childRunId: string
  childJobName: string
}
/** A run's `step.invoke` ended: its child finished (or the wait for it timed out). */
export interface ChildFinishEvent extends RunEventBase {
  type: 'child:finish'
  stepName: string
  childRunId: string
  childJobName: string
  status: 'completed' | 'failed' | 'cancelled' | 'timed-out'
}
export interface LogWriteEvent extends RunEventBase {
  type: 'log:write'
  stepName: string | null
  level: LogLevel
  message: string
  data?: unknown
}
/** What the worker was doing when the database (or a plugin) failed it. */
export const WORKER_ERROR_CONTEXTS = [
  'claim',
  'execute',
  'heartbeat',
  'listen',
  'migrate',
  'step',
  'progress',
  'settle',
  'release',
  'replay',
  'log-persistence',
  'schedule',
  'wait',
  'retention',
  'sighting',
] as const

export type WorkerErrorContext = (typeof WORKER_ERROR_CONTEXTS)[number]

export interface WorkerErrorEvent extends EventBase {
  type: 'worker:error'
  error: string
  context: WorkerErrorContext
  runId?: string
}

/**
 * The database will not outlive the page: SQLocal stores it in memory (OPFS was unavailable,
 * typically a page served without cross-origin isolation headers) or in sessionStorage.
 * Emitted once per instance, when the schema is first ready (listen before `init()`), with one
 * `console.warn` beside it.
 */
export interface StorageVolatileEvent extends EventBase {
  type: 'storage:volatile'
  /** SQLocal's storage type: `'memory'` or `'session'`. */
  storageType: string
  /** The path SQLocal uses (`':memory:'` after its fallback), or null if it does not say. */
  databasePath: string | null
}

export interface DurablyEventMap {
  'run:trigger': RunTriggerEvent
  'run:start': RunStartEvent
  'run:complete': RunCompleteEvent
  'run:fail': RunFailEvent
  'run:cancel': RunCancelEvent
  'run:retry': RunRetryEvent
  'run:progress': RunProgressEvent
  'run:delete': RunDeleteEvent
  'run:wait': RunWaitEvent
  'step:start': StepStartEvent
  'step:complete': StepCompleteEvent
  'step:fail': StepFailEvent
  'step:retry': StepRetryEvent
  'log:write': LogWriteEvent
  'event:send': EventSendEvent
  'event:receive': EventReceiveEvent
  'child:start': ChildStartEvent
  'child:finish': ChildFinishEvent
  'worker:error': WorkerErrorEvent
  'storage:volatile': StorageVolatileEvent
}

export type EventType = keyof DurablyEventMap
export type DurablyEvent = DurablyEventMap[EventType]
export type RunEvent = Extract<DurablyEvent, { runId: string }>

/** Events about a run as a whole (what a run list shows), as opposed to its steps and logs. */
export const RUN_EVENT_TYPES = [
  'run:trigger',
  'run:start',
  'run:complete',
  'run:fail',
  'run:cancel',
  'run:retry',
  'run:progress',
  'run:delete',
  'run:wait',
] as const satisfies readonly EventType[]

/** Every event type, in one list; the compiler refuses a map entry missing from it. */
export const EVENT_TYPES = [
  ...RUN_EVENT_TYPES,
  'step:start',
  'step:complete',
  'step:fail',
  'step:retry',
  'log:write',
  'event:send',
  'event:receive',
  'child:start',
  'child:finish',
  'worker:error',
  'storage:volatile',
] as const satisfies readonly EventType[]

/** After one of these a run emits nothing more (until a `retry()`): watchers stop here. */
export const TERMINAL_EVENT_TYPES = [
  'run:complete',
  'run:fail',
  'run:cancel',
  'run:delete',
] as const satisfies readonly EventType[]

export type TerminalEvent = DurablyEventMap[(typeof TERMINAL_EVENT_TYPES)[number]]

export function isTerminalEvent(event: DurablyEvent): event is TerminalEvent {
  return (TERMINAL_EVENT_TYPES as readonly string[]).includes(event.type)
}

// A type added to the map but not to EVENT_TYPES fails to compile here.
type Unlisted = Exclude<EventType, (typeof EVENT_TYPES)[number]>
const everyEventListed: [Unlisted] extends [never] ? true : Unlisted = true
void everyEventListed

/** The input of `emit`: an event without the stamp the emitter adds. */
export type EventInput<E extends DurablyEvent = DurablyEvent> = E extends DurablyEvent
  ? Omit<E, 'timestamp' | 'sequence'>
  : never

export type EventListener<T extends EventType> = (event: DurablyEventMap[T]) => void
export type ErrorHandler = (error: Error, event?: DurablyEvent) => void

export interface Emitter {
  on<T extends EventType>(type: T, listener: EventListener<T>): () => void
  /** Every event, in order; used by plugins and the run-list stream. */
  onAny(listener: (event: DurablyEvent) => void): () => void
  /** Events of one run only, found by id rather than by testing every listener. */
  onRun(runId: string, listener: (event: RunEvent) => void): () => void
  emit<E extends DurablyEvent>(event: EventInput<E>): DurablyEvent
  /** Stamp an event (timestamp, sequence) without delivering it: for replies to one reader. */
  stamp<E extends DurablyEvent>(event: EventInput<E>): E
  onError(handler: ErrorHandler): () => void
  /** Listeners currently registered (by type, or all): lets tests prove nothing leaks. */
  listenerCount(type?: EventType): number
}

export function createEmitter(now: () => number = Date.now): Emitter {
  const listeners = new Map<EventType, Set<(event: DurablyEvent) => void>>()
  const anyListeners = new Set<(event: DurablyEvent) => void>()
  const runListeners = new Map<string, Set<(event: RunEvent) => void>>()
  const errorHandlers = new Set<ErrorHandler>()
  let sequence = 0

  const reportListenerError = (error: unknown, event: DurablyEvent) => {
    const coerced = coerceError(error)
    for (const handler of errorHandlers) {
      try {
        handler(coerced, event)
      } catch {
        // An error handler that throws has nowhere left to report to.
      }
    }
  }

  const stampEvent = (input: EventInput): DurablyEvent => {
    sequence += 1
    // Not a spread: see insertedRunRow (store/rows.ts).
    return Object.assign({}, input, {
      timestamp: new Date(now()).toISOString(),
      sequence,
    }) as DurablyEvent
  }

  const deliver = (listener: (event: DurablyEvent) => void, event: DurablyEvent) => {
    try {
      listener(event)
    } catch (error) {
      reportListenerError(error, event)
    }
  }

  return {
    on(type, listener) {
      let set = listeners.get(type)
      if (!set) {
        set = new Set()
        listeners.set(type, set)
      }
      // Wrap so the same function registered twice is two subscriptions, each removable.
      const entry = (event: DurablyEvent) => listener(event as never)
      set.add(entry)
      return () => {
        set.delete(entry)
      }
    },

    onAny(listener) {
      const entry = (event: DurablyEvent) => listener(event)
      anyListeners.add(entry)
      return () => {
        anyListeners.delete(entry)
      }
    },

    onRun(runId, listener) {
      let set = runListeners.get(runId)
      if (!set) {
        set = new Set()
        runListeners.set(runId, set)
      }
      const entry = (event: RunEvent) => listener(event)
      set.add(entry)
      return () => {
        set.delete(entry)
        if (set.size === 0 && runListeners.get(runId) === set) runListeners.delete(runId)
      }
    },

    stamp: (input) => stampEvent(input) as never,

    emit(input) {
      const event = stampEvent(input)
      const typed = listeners.get(event.type)
      if (typed) for (const listener of [...typed]) deliver(listener, event)
      for (const listener of [...anyListeners]) deliver(listener, event)
      const forRun = 'runId' in event && event.runId ? runListeners.get(event.runId) : undefined
      if (forRun)
        for (const listener of [...forRun])
          deliver(listener as (event: DurablyEvent) => void, event)
      return event
    },

    onError(handler) {
      errorHandlers.add(handler)
      return () => {
        errorHandlers.delete(handler)
      }
    },

    listenerCount(type) {
      if (type) return listeners.get(type)?.size ?? 0
      let total = anyListeners.size
      for (const set of listeners.values()) total += set.size
      for (const set of runListeners.values()) total += set.size
      return total
    },
  }
}
