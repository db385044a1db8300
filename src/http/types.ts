/** The shapes the handler shares with its routes and its callers (re-exported by handler.ts). */
import type { Durably } from '../durably.js'

/** What a request asks to do; `authorize` receives it. */
export type HandlerAction =
  | 'trigger'
  | 'subscribe'
  | 'runs'
  | 'run'
  | 'steps'
  | 'logs'
  | 'runsSubscribe'
  | 'retry'
  | 'cancel'
  | 'delete'

/** The actions answered with a stream of server-sent events rather than one JSON body. */
export type StreamAction = 'subscribe' | 'runsSubscribe'

export interface AuthorizeContext {
  action: HandlerAction
  /** The job concerned: the one to trigger, the run's job, or the `jobName` filter. */
  jobName?: string
  runId?: string
}

/** The body of `POST /trigger`. */
export interface TriggerRequest {
  jobName: string
  input: Record<string, unknown>
  idempotencyKey?: string
  concurrencyKey?: string
  /** Start no sooner than this many milliseconds from now. */
  delay?: number
  /** Start no sooner than this instant (ISO-8601). */
  runAt?: string
}

/** The answer to `POST /trigger`. */
export interface TriggerResponse {
  runId: string
}

/** What the handler uses of a durably instance. */
export type DurablyLike = Pick<
  Durably,
  | 'jobs'
  | 'getJob'
  | 'getRun'
  | 'getRuns'
  | 'getSteps'
  | 'getLogs'
  | 'retry'
  | 'cancel'
  | 'deleteRun'
  | 'subscribe'
  | 'on'
  | 'hasPlugin'
>
