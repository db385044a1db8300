/**
 * Every route of the handler, one entry each: where it answers, and what it does. A route
 * refuses by throwing (an `HttpError`, or a durably error the handler maps to its status);
 * it never builds an error Response itself.
 */
import { LOG_PERSISTENCE_PLUGIN } from '../plugins/log-persistence.js'
import { isTerminal, type Run } from '../types.js'
import { readJsonObject } from './body.js'
import { dashboardPage } from './dashboard/page.js'
import { describeJobs } from './jobs.js'
import { optionalJobName, previewLength, requireRunId, runFilterOf } from './query.js'
import { HttpError, type StreamError } from './response.js'
import type { EventSource } from './sse.js'
import { allRunEvents, runEvents, type StreamItem } from './streams.js'
import type {
  AuthorizeContext,
  DurablyLike,
  HandlerAction,
  StreamAction,
  TriggerResponse,
} from './types.js'

/** What a route needs of the request and of the handler's options. */
export interface RouteContext {
  request: Request
  url: URL
  durably: DurablyLike
  maxBodyBytes: number
  /** Ask the `authorize` option; throws its refusal. */
  authorize(context: AuthorizeContext): Promise<void>
  mayTrigger(jobName: string): boolean
  /** Whether the `dashboard` option is on: its page and `GET /jobs` answer only then. */
  dashboard: boolean
  /** Whether `run:leased` frames go beside `run:start` ones (the `leasedEvents` option). */
  leasedEvents: boolean
  /** Describe (and report, if it is the server's trouble) an error ending a stream. */
  streamFailure(error: unknown): StreamError
}

export type JsonResult = { body: unknown }
export type StreamResult = { events: EventSource<StreamItem> }
/** A page: the handler answers it with its own headers (a CSP naming the nonce). */
export type PageResult = { page: { html: string; nonce: string } }

export interface Route<R> {
  path: string
  method: 'GET' | 'POST' | 'DELETE'
  /**
   * Checks of the query alone, run synchronously: a direct `subscribe()` must return its
   * Response at once, and can still answer a bad parameter with a real 400.
   */
  check?: (url: URL) => void
  run(ctx: RouteContext): Promise<R>
}

export type Routes = {
  [A in HandlerAction]: Route<
    A extends StreamAction ? StreamResult : A extends 'dashboard' ? PageResult : JsonResult
  >
}

const SUCCESS = { body: { success: true } } as const

/** Read the run, ask `authorize` (before revealing whether it exists), then require it. */
async function authorizedRun(ctx: RouteContext, action: HandlerAction): Promise<Run> {
  const runId = requireRunId(ctx.url)
  const run = await ctx.durably.getRun(runId)
  await ctx.authorize({ action, runId, ...(run ? { jobName: run.jobName } : {}) })
  if (!run) throw new HttpError(404, 'Run not found')
  return run
}

async function trigger(ctx: RouteContext): Promise<JsonResult> {
  const body = await readJsonObject(ctx.request, ctx.maxBodyBytes)
  const { jobName, input, idempotencyKey, concurrencyKey, delay, runAt, priority } = body
  if (jobName === undefined || jobName === null || jobName === '') {
    throw new HttpError(400, 'jobName is required')
  }
  if (typeof jobName !== 'string') throw new HttpError(400, 'jobName must be a string')
  for (const [name, value] of Object.entries({ idempotencyKey, concurrencyKey })) {
    if (value !== undefined && typeof value !== 'string') {
      throw new HttpError(400, `${name} must be a string when given`)
    }
  }
  await ctx.authorize({ action: 'trigger', jobName })
  if (!ctx.mayTrigger(jobName)) {
    throw new HttpError(403, `Job "${jobName}" may not be triggered over HTTP`)
  }
  const job = ctx.durably.getJob(jobName)
  if (!job) throw new HttpError(404, `Job not found: ${jobName}`)
  // delay, runAt and priority are checked by trigger itself, as for a direct call: a bad
  // value is a ValidationError (400), and the rules live in one place.
  const run = await job.trigger(input, {
    ...(typeof idempotencyKey === 'string' ? { idempotencyKey } : {}),
    ...(typeof concurrencyKey === 'string' ? { concurrencyKey } : {}),
    ...(delay !== undefined ? { delay: delay as number } : {}),
    ...(runAt !== undefined ? { runAt: runAt as string } : {}),
    ...(priority !== undefined ? { priority: priority as number } : {}),
  })
  const answer: TriggerResponse = { runId: run.id }
  return { body: answer }
}

function requireDashboard(ctx: RouteContext): void {
  if (!ctx.dashboard) throw new HttpError(404, 'Not Found')
}

/**
 * `GET /runs?preview=N` (and `GET /run?runId=&preview=N`): answers that stay small whatever
 * the runs hold. `payload` and
 * `output` become their JSON text cut to N characters (`…` marks a cut), and `payloadLength`,
 * `outputLength` give the full texts' lengths, so a list row never carries a 5 MB payload.
 */
function previewOf(run: Run, length: number) {
  const cut = (value: unknown) => {
    const text = JSON.stringify(value) ?? 'null'
    return { text: text.length > length ? `${text.slice(0, length)}…` : text, length: text.length }
  }
  const payload = cut(run.payload)
  const output = run.output === null ? null : cut(run.output)
  return {
    ...run,
    payload: payload.text,
    payloadLength: payload.length,
    output: output?.text ?? null,
    outputLength: output?.length ?? 0,
  }
}

/** A POST/DELETE on one run: authorize it, apply the action, answer `{ success: true }`. */
function runAction(
  path: string,
  method: 'POST' | 'DELETE',
  action: 'retry' | 'cancel' | 'delete',
  apply: (durably: DurablyLike, runId: string) => Promise<void>,
): Route<JsonResult> {
  return {
    path,
    method,
    async run(ctx) {
      const run = await authorizedRun(ctx, action)
      await apply(ctx.durably, run.id)
      return SUCCESS
    },
  }
}

/** The `data` and `id` of an event or signal body; the durably call checks the rest. */
function messageOf(body: Record<string, unknown>, nameKey: 'event' | 'name') {
  const { data, id } = body
  const name = body[nameKey]
  if (typeof name !== 'string' || name === '') throw new HttpError(400, `${nameKey} is required`)
  if (id !== undefined && typeof id !== 'string') {
    throw new HttpError(400, 'id must be a string when given')
  }
  return { name, data, options: id === undefined ? undefined : { id } }
}

export const ROUTES: Routes = {
  events: {
    path: '/events',
    method: 'POST',
    async run(ctx) {
      const body = await readJsonObject(ctx.request, ctx.maxBodyBytes)
      const { name, data, options } = messageOf(body, 'event')
      await ctx.authorize({ action: 'events' })
      return { body: await ctx.durably.sendEvent(name, data, options) }
    },
  },

  signal: {
    path: '/signal',
    method: 'POST',
    async run(ctx) {
      const run = await authorizedRun(ctx, 'signal')
      const body = await readJsonObject(ctx.request, ctx.maxBodyBytes)
      const { name, data, options } = messageOf(body, 'name')
      return { body: await ctx.durably.signal(run.id, name, data, options) }
    },
  },

  trigger: { path: '/trigger', method: 'POST', run: trigger },

  runs: {
    path: '/runs',
    method: 'GET',
    async run(ctx) {
      const filter = runFilterOf(ctx.url)
      await ctx.authorize({
        action: 'runs',
        ...(filter.jobName ? { jobName: filter.jobName } : {}),
      })
      const runs = await ctx.durably.getRuns(filter)
      const preview = previewLength(ctx.url)
      return { body: preview === undefined ? runs : runs.map((run) => previewOf(run, preview)) }
    },
  },

  run: {
    path: '/run',
    method: 'GET',
    async run(ctx) {
      const run = await authorizedRun(ctx, 'run')
      const preview = previewLength(ctx.url)
      return { body: preview === undefined ? run : previewOf(run, preview) }
    },
  },

  steps: {
    path: '/steps',
    method: 'GET',
    async run(ctx) {
      const run = await authorizedRun(ctx, 'steps')
      return { body: await ctx.durably.getSteps(run.id) }
    },
  },

  logs: {
    path: '/logs',
    method: 'GET',
    async run(ctx) {
      if (!ctx.durably.hasPlugin(LOG_PERSISTENCE_PLUGIN)) {
        throw new HttpError(404, 'Logs are not persisted: use withLogPersistence()')
      }
      const run = await authorizedRun(ctx, 'logs')
      return { body: await ctx.durably.getLogs(run.id) }
    },
  },

  retry: runAction('/retry', 'POST', 'retry', (durably, runId) => durably.retry(runId)),
  cancel: runAction('/cancel', 'POST', 'cancel', (durably, runId) => durably.cancel(runId)),
  delete: runAction('/run', 'DELETE', 'delete', (durably, runId) => durably.deleteRun(runId)),

  jobs: {
    path: '/jobs',
    method: 'GET',
    async run(ctx) {
      requireDashboard(ctx)
      await ctx.authorize({ action: 'jobs' })
      return { body: describeJobs(ctx.durably, ctx.mayTrigger) }
    },
  },

  dashboard: {
    path: '/',
    method: 'GET',
    async run(ctx) {
      requireDashboard(ctx)
      await ctx.authorize({ action: 'dashboard' })
      return { page: dashboardPage() }
    },
  },

  subscribe: {
    path: '/subscribe',
    method: 'GET',
    check: requireRunId,
    async run(ctx) {
      const run = await authorizedRun(ctx, 'subscribe')
      // An EventSource reconnects after every stream end. Once the run has settled, its
      // reconnection (it sends Last-Event-ID) gets 204, which tells EventSource to stop.
      if (ctx.request.headers.has('last-event-id') && isTerminal(run.status)) {
        throw new HttpError(204, '', { response: new Response(null, { status: 204 }) })
      }
      return { events: runEvents(ctx.durably, run, ctx.streamFailure, ctx.leasedEvents) }
    },
  },

  runsSubscribe: {
    path: '/runs/subscribe',
    method: 'GET',
    check: optionalJobName,
    async run(ctx) {
      const jobName = optionalJobName(ctx.url)
      await ctx.authorize({ action: 'runsSubscribe', ...(jobName ? { jobName } : {}) })
      return { events: allRunEvents(ctx.durably, jobName, ctx.leasedEvents) }
    },
  },
}
