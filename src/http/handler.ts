/**
 * `createDurablyHandler`: durably over HTTP on Web-standard `Request`/`Response` only, so it
 * mounts in any fetch-style server (Hono, React Router, Next.js route handlers, `node:http`
 * through an adapter). A client's mistake is answered with a 4xx and a JSON `{ error }`;
 * only the server's own trouble is a 5xx, and its body never carries internals.
 */
import type { Durably } from '../durably.js'
import { isDurablyError, ValidationError } from '../errors.js'
import type { DurablyEvent } from '../events.js'
import { LOG_PERSISTENCE_PLUGIN } from '../plugins/log-persistence.js'
import type { Run } from '../types.js'
import { readJsonObject } from './body.js'
import { optionalJobName, requireRunId, runFilterOf } from './query.js'
import { errorJson, HttpError, json } from './response.js'
import { type EventSource, sseResponse } from './sse.js'
import { CLIENT_CODES, STATUS_BY_CODE } from './status.js'

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

export interface AuthorizeContext {
  action: HandlerAction
  /** The job concerned: the one to trigger, the run's job, or the `jobName` filter. */
  jobName?: string
  runId?: string
}

export interface DurablyHandlerOptions {
  /**
   * Decide whether a request may proceed. Return `true` (or nothing) to allow, `false` to
   * answer 403, or a `Response` to answer with it (a 401 with `WWW-Authenticate`, say).
   * For a run id, it is called before the handler reveals whether the run exists.
   */
  authorize?: (
    request: Request,
    context: AuthorizeContext,
  ) => boolean | undefined | Response | Promise<boolean | undefined | Response>
  /** Largest accepted request body in bytes; larger ones get 413. Default 1 MiB. */
  maxBodyBytes?: number
  /** Only these jobs may be triggered over HTTP (others get 403). Default: every registered job. */
  triggerableJobs?: readonly string[]
  /** Interval of SSE keep-alive comments in ms. Default 15000. */
  keepAliveInterval?: number
  /** Told about every unexpected error answered with a 5xx (log it here). */
  onError?: (error: unknown, request: Request) => void
}

export interface DurablyHandler {
  /** Route by path below `basePath`: `handle(request, '/api/durably')`. */
  handle(request: Request, basePath: string): Promise<Response>
  /** POST /trigger with a `TriggerRequest` body; answers `TriggerResponse`. */
  trigger(request: Request): Promise<Response>
  /** GET /subscribe?runId= : the run's events as SSE, ending after its terminal event. */
  subscribe(request: Request): Response
  /** GET /runs?jobName=&status=&limit=&offset= */
  runs(request: Request): Promise<Response>
  /** GET /run?runId= */
  run(request: Request): Promise<Response>
  /** GET /steps?runId= */
  steps(request: Request): Promise<Response>
  /** GET /logs?runId= (only with `withLogPersistence()`). */
  logs(request: Request): Promise<Response>
  /** GET /runs/subscribe?jobName= : run-level events of every run as SSE. */
  runsSubscribe(request: Request): Response
  /** POST /retry?runId= */
  retry(request: Request): Promise<Response>
  /** POST /cancel?runId= */
  cancel(request: Request): Promise<Response>
  /** DELETE /run?runId= */
  delete(request: Request): Promise<Response>
}

/** The body of `POST /trigger`. */
export interface TriggerRequest {
  jobName: string
  input: Record<string, unknown>
  idempotencyKey?: string
  concurrencyKey?: string
}

/** The answer to `POST /trigger`. */
export interface TriggerResponse {
  runId: string
}

type DurablyLike = Pick<
  Durably,
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

const ROUTES: Record<string, Partial<Record<string, HandlerAction>>> = {
  '/trigger': { POST: 'trigger' },
  '/subscribe': { GET: 'subscribe' },
  '/runs': { GET: 'runs' },
  '/run': { GET: 'run', DELETE: 'delete' },
  '/steps': { GET: 'steps' },
  '/logs': { GET: 'logs' },
  '/runs/subscribe': { GET: 'runsSubscribe' },
  '/retry': { POST: 'retry' },
  '/cancel': { POST: 'cancel' },
}

const RUN_LEVEL_EVENTS = [
  'run:trigger',
  'run:start',
  'run:complete',
  'run:fail',
  'run:cancel',
  'run:retry',
  'run:progress',
  'run:delete',
] as const

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_KEEP_ALIVE_MS = 15_000

/**
 * Create the HTTP handler of a durably instance.
 *
 * @example
 * const handler = createDurablyHandler(durably, { authorize: (req) => isSignedIn(req) })
 * app.all('/api/durably/*', (c) => handler.handle(c.req.raw, '/api/durably'))
 */
export function createDurablyHandler(
  durably: DurablyLike,
  options: DurablyHandlerOptions = {},
): DurablyHandler {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const keepAliveInterval = options.keepAliveInterval ?? DEFAULT_KEEP_ALIVE_MS
  const triggerable = options.triggerableJobs ? new Set(options.triggerableJobs) : undefined

  // Every answer goes through here: nothing a request does can escape as a thrown error.
  const guarded =
    (operation: (request: Request) => Promise<Response>) =>
    async (request: Request): Promise<Response> => {
      try {
        return await operation(request)
      } catch (error) {
        return failure(error, request)
      }
    }

  function failure(error: unknown, request: Request): Response {
    if (error instanceof HttpError) return errorJson(error)
    if (isDurablyError(error)) {
      const status = STATUS_BY_CODE[error.code]
      if (CLIENT_CODES.has(error.code)) {
        const issues = error instanceof ValidationError ? error.issues : undefined
        return errorJson(new HttpError(status, error.message, issues ? { issues } : {}))
      }
      options.onError?.(error, request)
      return errorJson(new HttpError(status, genericMessage(status)))
    }
    options.onError?.(error, request)
    return errorJson(new HttpError(500, genericMessage(500)))
  }

  async function authorize(request: Request, context: AuthorizeContext): Promise<void> {
    if (!options.authorize) return
    const verdict = await options.authorize(request, context)
    if (verdict instanceof Response) throw new AnsweredBy(verdict)
    if (verdict === false) throw new HttpError(403, 'Forbidden')
  }

  /** Read the run, ask `authorize` (before revealing whether it exists), then require it. */
  async function authorizedRun(request: Request, action: HandlerAction): Promise<Run> {
    const runId = requireRunId(new URL(request.url))
    const run = await durably.getRun(runId)
    await authorize(request, { action, runId, ...(run ? { jobName: run.jobName } : {}) })
    if (!run) throw new HttpError(404, `Run ${runId} not found`)
    return run
  }

  const withAnswers = (operation: (request: Request) => Promise<Response>) => (request: Request) =>
    guarded(async (inner) => {
      try {
        return await operation(inner)
      } catch (error) {
        if (error instanceof AnsweredBy) return error.response
        throw error
      }
    })(request)

  async function trigger(request: Request): Promise<Response> {
    const body = await readJsonObject(request, maxBodyBytes)
    const { jobName, input, idempotencyKey, concurrencyKey } = body
    if (typeof jobName !== 'string' || jobName === '') {
      throw new HttpError(400, 'jobName must be a non-empty string')
    }
    for (const [name, value] of Object.entries({ idempotencyKey, concurrencyKey })) {
      if (value !== undefined && typeof value !== 'string') {
        throw new HttpError(400, `${name} must be a string when given`)
      }
    }
    await authorize(request, { action: 'trigger', jobName })
    if (triggerable && !triggerable.has(jobName)) {
      throw new HttpError(403, `Job "${jobName}" may not be triggered over HTTP`)
    }
    const job = durably.getJob(jobName)
    if (!job) throw new HttpError(404, `Job "${jobName}" is not registered`)
    const run = await job.trigger(input, {
      ...(idempotencyKey !== undefined ? { idempotencyKey: idempotencyKey as string } : {}),
      ...(concurrencyKey !== undefined ? { concurrencyKey: concurrencyKey as string } : {}),
    })
    const answer: TriggerResponse = { runId: run.id }
    return json(answer)
  }

  async function runs(request: Request): Promise<Response> {
    const filter = runFilterOf(new URL(request.url))
    await authorize(request, {
      action: 'runs',
      ...(filter.jobName ? { jobName: filter.jobName } : {}),
    })
    return json(await durably.getRuns(filter))
  }

  const runEvents =
    (runId: string): EventSource<StreamItem> =>
    (sink) => {
      const reader = durably.subscribe(runId).getReader()
      let reading = true
      void (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read()
            if (done || !reading) break
            sink.send(value)
          }
        } catch (error) {
          if (reading) sink.send(streamError(error))
        }
        sink.end()
      })()
      return () => {
        reading = false
        void reader.cancel().catch(() => undefined)
      }
    }

  const allRunEvents =
    (jobName: string | undefined): EventSource<StreamItem> =>
    (sink) => {
      const offs = RUN_LEVEL_EVENTS.map((type) =>
        durably.on(type, (event) => {
          if (jobName === undefined || event.jobName === jobName) sink.send(event)
        }),
      )
      return () => {
        for (const off of offs) off()
      }
    }

  /**
   * A stream whose checks must wait for the database (authorize, run existence) but whose
   * Response is due at once: the checks run inside the stream, and a refusal is sent as an
   * `{ error }` event before it closes. `handle()` runs the checks first and answers
   * refusals with real statuses instead.
   */
  function deferredStream<T>(request: Request, check: () => Promise<EventSource<T>>): Response {
    return sseResponse<T | { error: string; status: number }>((sink) => {
      let release = () => {}
      let cancelled = false
      void check().then(
        (source) => {
          if (cancelled) return
          release = source(sink)
        },
        async (error: unknown) => {
          const answer = error instanceof AnsweredBy ? error.response : failure(error, request)
          const body = (await answer.json().catch(() => ({}))) as { error?: string }
          sink.send({ error: body.error ?? 'Refused', status: answer.status })
          sink.end()
        },
      )
      return () => {
        cancelled = true
        release()
      }
    }, keepAliveInterval)
  }

  const subscribeChecks = (request: Request) => async () => {
    const run = await authorizedRun(request, 'subscribe')
    return runEvents(run.id)
  }

  const runsSubscribeChecks = (request: Request) => async () => {
    const jobName = optionalJobName(new URL(request.url))
    await authorize(request, { action: 'runsSubscribe', ...(jobName ? { jobName } : {}) })
    return allRunEvents(jobName)
  }

  /** Synchronous validation of an SSE request: a missing or bad parameter is a 400 now. */
  function syncChecked(request: Request, validate: (url: URL) => void): Response | undefined {
    try {
      validate(new URL(request.url))
      return undefined
    } catch (error) {
      return failure(error, request)
    }
  }

  const handler: DurablyHandler = {
    async handle(request, basePath) {
      let action: HandlerAction
      try {
        action = route(request, basePath)
      } catch (error) {
        return failure(error, request)
      }
      if (action === 'subscribe' || action === 'runsSubscribe') {
        // Checked before the stream starts, so refusals get their status.
        return withAnswers(async (inner) => {
          const checks =
            action === 'subscribe' ? subscribeChecks(inner) : runsSubscribeChecks(inner)
          const source = await checks()
          return sseResponse(source, keepAliveInterval)
        })(request)
      }
      return handler[action](request)
    },

    trigger: withAnswers(trigger),
    runs: withAnswers(runs),
    run: withAnswers(async (request) => json(await authorizedRun(request, 'run'))),
    steps: withAnswers(async (request) => {
      const run = await authorizedRun(request, 'steps')
      return json(await durably.getSteps(run.id))
    }),
    logs: withAnswers(async (request) => {
      if (!durably.hasPlugin(LOG_PERSISTENCE_PLUGIN)) {
        throw new HttpError(404, 'Logs are not persisted: use withLogPersistence()')
      }
      const run = await authorizedRun(request, 'logs')
      return json(await durably.getLogs(run.id))
    }),
    retry: withAnswers(async (request) => {
      const run = await authorizedRun(request, 'retry')
      await durably.retry(run.id)
      return json({ success: true })
    }),
    cancel: withAnswers(async (request) => {
      const run = await authorizedRun(request, 'cancel')
      await durably.cancel(run.id)
      return json({ success: true })
    }),
    delete: withAnswers(async (request) => {
      const run = await authorizedRun(request, 'delete')
      await durably.deleteRun(run.id)
      return json({ success: true })
    }),

    subscribe(request) {
      return syncChecked(request, requireRunId) ?? deferredStream(request, subscribeChecks(request))
    },
    runsSubscribe(request) {
      return (
        syncChecked(request, optionalJobName) ??
        deferredStream(request, runsSubscribeChecks(request))
      )
    },
  }
  return handler
}

/** Which action a request asks for, or the 404/405 that answers it. */
function route(request: Request, basePath: string): HandlerAction {
  let pathname: string
  try {
    pathname = new URL(request.url).pathname
  } catch {
    throw new HttpError(400, 'The request URL is not valid')
  }
  const base = basePath.replace(/\/+$/, '')
  if (!pathname.startsWith(`${base}/`)) throw new HttpError(404, 'Not found')
  const path = pathname.slice(base.length)
  const methods = Object.hasOwn(ROUTES, path) ? ROUTES[path] : undefined
  if (!methods) throw new HttpError(404, 'Not found')
  const action = Object.hasOwn(methods, request.method) ? methods[request.method] : undefined
  if (!action) {
    const allow = Object.keys(methods).join(', ')
    throw new HttpError(405, `Method ${request.method} not allowed; use ${allow}`, {
      headers: { allow },
    })
  }
  return action
}

/** `authorize` answered with its own Response: send it unchanged. */
class AnsweredBy extends Error {
  constructor(readonly response: Response) {
    super('answered by authorize')
  }
}

function genericMessage(status: number): string {
  if (status === 503) return 'Service unavailable; try again'
  if (status === 504) return 'Timed out'
  return 'Internal server error'
}

/** Sent as the last event of a stream that cannot go on, or was refused. */
interface StreamError {
  error: string
  status?: number
}

type StreamItem = DurablyEvent | StreamError

function streamError(error: unknown): StreamError {
  return {
    error: isDurablyError(error) && CLIENT_CODES.has(error.code) ? error.message : 'Stream failed',
  }
}
