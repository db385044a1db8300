/**
 * `createDurablyHandler`: durably over HTTP on Web-standard `Request`/`Response` only, so it
 * mounts in any fetch-style server (Hono, React Router, Next.js route handlers, `node:http`
 * through an adapter). A client's mistake is answered with a 4xx and a JSON `{ error }`;
 * only the server's own trouble is a 5xx, and its body never carries internals.
 *
 * This file is the dispatch: find the route, call `onRequest`, run the route, and turn
 * whatever it throws into an answer in one place. The routes themselves are in routes.ts.
 */
import { rejectUnknownKeys } from '../errors.js'
import { pageResponse } from './dashboard/page.js'
import {
  describeError,
  type ErrorDescription,
  errorResponse,
  HttpError,
  json,
  streamError,
} from './response.js'
import {
  type JsonResult,
  type PageResult,
  ROUTES,
  type Route,
  type RouteContext,
  type StreamResult,
} from './routes.js'
import { sseResponse } from './sse.js'
import type { StreamItem } from './streams.js'
import { triggerableMatcher } from './triggerable.js'
import type { AuthorizeContext, DurablyLike, HandlerAction, StreamAction } from './types.js'

export type {
  AuthorizeContext,
  HandlerAction,
  JobDescription,
  TriggerRequest,
  TriggerResponse,
} from './types.js'

export interface DurablyHandlerOptions {
  /**
   * Called before each request is handled, SSE ones included; it may be async. As in
   * `@coji/durably` 0.6.0, use it to initialise durably lazily (`() => durably.init()`).
   * If it throws, the request is answered as a failure of the server (500, reported to
   * `onError`) unless it threw an `HttpError` or a `Response`, which are answered as they are.
   */
  onRequest?: () => Promise<void> | void
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
  /**
   * Only these jobs may be triggered over HTTP (others get 403), each named by its job name
   * (`'sync-users'`) or by its register key (`'syncUsers'`). Default: every registered job.
   */
  triggerableJobs?: readonly string[]
  /** Interval of SSE keep-alive comments in ms. Default 15000. */
  keepAliveInterval?: number
  /** Told about every unexpected error answered with a 5xx (log it here). */
  onError?: (error: unknown, request: Request) => void
  /**
   * Serve the dashboard at the base path (`GET <base>/`) and the jobs it lists
   * (`GET <base>/jobs`). One self-contained page (no CDN, nothing to build), live through the
   * SSE routes, under `authorize` and `onRequest` like every route. Default false: both
   * routes answer 404.
   * @example createDurablyHandler(durably, { dashboard: true, authorize: isAdmin })
   */
  dashboard?: boolean
  /**
   * Also send a `run:leased` frame beside each `run:start` (and after the snapshot of a run
   * that is running), on both SSE routes: the event `@coji/durably-react` 0.15's hooks read as
   * "running", where 0.6.0, and we, say `run:start`. Without it those hooks show `pending`
   * until the run ends. The extra frames carry no `id`, so resuming is unchanged. Default false.
   */
  leasedEvents?: boolean
}

export interface DurablyHandler {
  /** Route by path below `basePath`: `handle(request, '/api/durably')`. The recommended entry. */
  handle(request: Request, basePath: string): Promise<Response>
  /** POST /trigger with a `TriggerRequest` body; answers `TriggerResponse`. */
  trigger(request: Request): Promise<Response>
  /**
   * GET /subscribe?runId= : the run's events as SSE, ending after its terminal event.
   * It must answer at once, so a refusal that needs the database (authorize, unknown run)
   * arrives as a last `{ error, status }` event; `handle()` answers those with real statuses.
   */
  subscribe(request: Request): Response
  /** GET /runs?jobName=&status=&limit=&offset=&preview= */
  runs(request: Request): Promise<Response>
  /** GET /run?runId=&preview= (preview: cut payload and output to N characters) */
  run(request: Request): Promise<Response>
  /** GET /steps?runId= */
  steps(request: Request): Promise<Response>
  /** GET /logs?runId= (only with `withLogPersistence()`). */
  logs(request: Request): Promise<Response>
  /** GET /runs/subscribe?jobName= : run-level events of every run as SSE (refusals as `subscribe`). */
  runsSubscribe(request: Request): Response
  /** POST /retry?runId= */
  retry(request: Request): Promise<Response>
  /** POST /cancel?runId= */
  cancel(request: Request): Promise<Response>
  /** DELETE /run?runId= */
  delete(request: Request): Promise<Response>
  /** GET /jobs : every registered job as a `JobDescription` (with the `dashboard` option). */
  jobs(request: Request): Promise<Response>
  /** GET / : the dashboard page (with the `dashboard` option); mount it at a path ending in `/`. */
  dashboard(request: Request): Promise<Response>
  /** POST /events: `{ event, data, id? }` → `durably.sendEvent`; answers `{ id, duplicate }`. */
  events(request: Request): Promise<Response>
  /** POST /signal?runId=: `{ name, data, id? }` → `durably.signal`; answers `{ id, duplicate }`. */
  signal(request: Request): Promise<Response>
}

type AnyRoute = Route<JsonResult> | Route<StreamResult> | Route<PageResult>

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_KEEP_ALIVE_MS = 15_000

const HANDLER_OPTION_KEYS = [
  'onRequest',
  'authorize',
  'maxBodyBytes',
  'triggerableJobs',
  'keepAliveInterval',
  'onError',
  'dashboard',
  'leasedEvents',
] as const satisfies readonly (keyof DurablyHandlerOptions)[]

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
  rejectUnknownKeys(options, HANDLER_OPTION_KEYS, 'createDurablyHandler')
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
  const keepAliveInterval = options.keepAliveInterval ?? DEFAULT_KEEP_ALIVE_MS
  const mayTrigger = triggerableMatcher(durably, options.triggerableJobs)

  function describe(error: unknown, request: Request): ErrorDescription {
    const description = describeError(error)
    if (!description.exposed) options.onError?.(error, request)
    return description
  }

  async function authorize(request: Request, context: AuthorizeContext): Promise<void> {
    if (!options.authorize) return
    const verdict = await options.authorize(request, context)
    if (verdict instanceof Response) {
      throw new HttpError(verdict.status, 'Refused', { response: verdict })
    }
    if (verdict === false) throw new HttpError(403, 'Forbidden')
  }

  const contextOf = (request: Request): RouteContext => ({
    request,
    url: new URL(request.url),
    durably,
    maxBodyBytes,
    mayTrigger,
    dashboard: options.dashboard === true,
    leasedEvents: options.leasedEvents === true,
    authorize: (context) => authorize(request, context),
    streamFailure: (error) => streamError(describe(error, request)),
  })

  /** The one path from a request to its answer; every refusal and failure lands in its catch. */
  async function serve(request: Request, find: () => AnyRoute): Promise<Response> {
    try {
      await options.onRequest?.()
      const result = await find().run(contextOf(request))
      if ('events' in result) return sseResponse(result.events, keepAliveInterval)
      if ('page' in result) return pageResponse(result.page)
      return json(result.body)
    } catch (error) {
      return errorResponse(describe(error, request))
    }
  }

  /**
   * A direct stream call must return its Response at once: the query is checked now, the
   * rest (onRequest, authorize, the run's existence) inside the stream.
   */
  function streamNow(request: Request, route: Route<StreamResult>): Response {
    try {
      route.check?.(new URL(request.url))
    } catch (error) {
      return errorResponse(describe(error, request))
    }
    return sseResponse<StreamItem>((sink) => {
      let release = () => {}
      let cancelled = false
      // One catch for a refusal and for a source that fails to start alike.
      void (async () => {
        await options.onRequest?.()
        const { events } = await route.run(contextOf(request))
        if (!cancelled) release = events(sink)
      })().catch((error: unknown) => {
        sink.send(streamError(describe(error, request)))
        sink.end()
      })
      return () => {
        cancelled = true
        release()
      }
    }, keepAliveInterval)
  }

  const direct = (action: Exclude<HandlerAction, StreamAction>) => (request: Request) =>
    serve(request, () => ROUTES[action])

  return {
    handle: (request, basePath) =>
      serve(request, () => match(request, basePath, options.dashboard === true)),
    trigger: direct('trigger'),
    runs: direct('runs'),
    run: direct('run'),
    steps: direct('steps'),
    logs: direct('logs'),
    retry: direct('retry'),
    cancel: direct('cancel'),
    delete: direct('delete'),
    jobs: direct('jobs'),
    dashboard: direct('dashboard'),
    events: direct('events'),
    signal: direct('signal'),
    subscribe: (request) => streamNow(request, ROUTES.subscribe),
    runsSubscribe: (request) => streamNow(request, ROUTES.runsSubscribe),
  }
}

const ROUTES_BY_PATH = new Map<string, Map<string, AnyRoute>>()
for (const route of Object.values<AnyRoute>(ROUTES)) {
  const methods = ROUTES_BY_PATH.get(route.path) ?? new Map<string, AnyRoute>()
  methods.set(route.method, route)
  ROUTES_BY_PATH.set(route.path, methods)
}

/** The route a request asks for, or the 404/405 that answers it. */
function match(request: Request, basePath: string, dashboard: boolean): AnyRoute {
  const url = new URL(request.url)
  const pathname = url.pathname
  const base = basePath.replace(/\/+$/, '')
  // The dashboard's own links are relative to `<base>/`: send `<base>` there.
  if (dashboard && pathname === base && request.method === 'GET') {
    const location = `${base}/${url.search}`
    throw new HttpError(308, 'Permanent Redirect', {
      response: new Response(null, { status: 308, headers: { location } }),
    })
  }
  // 0.6.0's word for an unknown route; we answer it as JSON like every other refusal.
  if (!pathname.startsWith(`${base}/`)) throw new HttpError(404, 'Not Found')
  const methods = ROUTES_BY_PATH.get(pathname.slice(base.length))
  if (!methods) throw new HttpError(404, 'Not Found')
  const route = methods.get(request.method)
  if (!route) {
    const allow = [...methods.keys()].join(', ')
    throw new HttpError(405, `Method ${request.method} not allowed; use ${allow}`, {
      headers: { allow },
    })
  }
  return route
}
