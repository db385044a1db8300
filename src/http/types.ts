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
  | 'jobs'
  | 'dashboard'
  | 'events'
  | 'signal'

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

/** One registered job as `GET /jobs` describes it (a route of the dashboard). */
export interface JobDescription {
  name: string
  /** Whether `POST /trigger` accepts this job (the `triggerableJobs` option). */
  triggerable: boolean
  /**
   * The input schema as JSON Schema (zod 4's `toJSONSchema`, input side), or null when the
   * job's handle does not expose its schema or the schema has no JSON Schema form.
   */
  inputSchema: Record<string, unknown> | null
  /** The job's cron schedule with its next ticks, or null when it has none. */
  schedule: { cron: string; timezone: string; upcoming: string[] } | null
}

/** What the handler uses of a durably instance. */
export type DurablyLike = Pick<
  Durably,
  | 'jobs'
  | 'getSchedules'
  | 'getJob'
  | 'getRun'
  | 'getRuns'
  | 'getSteps'
  | 'getLogs'
  | 'retry'
  | 'cancel'
  | 'deleteRun'
  | 'sendEvent'
  | 'signal'
  | 'subscribe'
  | 'on'
  | 'hasPlugin'
>
